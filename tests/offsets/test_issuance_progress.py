"""While its declaration is in the issuance, the enterprise sees where the case is (waiting for a phase,
in a phase, in notice until a date, objection filed, notice closed, registered with serial and
certificate), with links, on the declaration page, its project's page and its case list, not only
"Approved"."""

from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from offsets import issuing
from offsets.models import Certificate, Issuance
from offsets.progress import progress_of, progress_of_many
from registry.models import OrgRole
from tests.factories import (
    admin_of,
    approved_declaration,
    make_declaration,
    make_member,
    phase_in_notice,
    reviewers,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def declaration(people):
    return approved_declaration(people)


def section(client, declaration, user=None) -> str:
    """The declaration page's issuance section, as the applicant's administrator (or `user`) reads it."""
    client.force_login(user or admin_of(declaration.organisation))
    response = client.get(declaration.get_absolute_url(), headers=EN)
    assert response.status_code == 200
    html = unescape(response.text)
    if 'id="issuance-progress-title"' not in html:
        return ""
    return html.split('id="issuance-progress-title"')[1].split("</section>")[0]


def case_row(client, declaration) -> str:
    client.force_login(admin_of(declaration.organisation))
    response = client.get(reverse("projects:cases"), headers=EN)
    assert response.status_code == 200
    table = unescape(response.text).split('id="declarations-title"')[1].split("</table>")[0]
    (row,) = [r for r in table.split("<tr>") if declaration.get_absolute_url() in r]
    return row


def file_objection(phase, declaration):
    return issuing.file_objection(
        phase,
        declaration=declaration,
        name="王五",
        organisation="",
        email="objector@example.com",
        phone="",
        reasons="发电量数据与电网结算单不一致。",
    )


def test_a_case_that_is_not_approved_shows_no_issuance(client):
    declaration = make_declaration()
    assert section(client, declaration) == ""
    assert progress_of(declaration, admin_of(declaration.organisation)) is None


def test_approved_and_waiting_for_a_phase(client, declaration):
    text = section(client, declaration)
    assert "Approved, awaiting an issuance phase" in text
    assert "you are told when the notice is published" in text
    assert "Approved, awaiting an issuance phase" in case_row(client, declaration)


def test_in_a_phase_being_prepared(client, people, declaration):
    phase = issuing.create_phase(
        code="2023P01", title_zh="测试批次", title_en="Test", by=people["registry_admin"]
    )
    issuing.add_to_phase(phase, by=people["registry_admin"], declarations=[declaration])
    text = section(client, declaration)
    assert "In issuance phase 2023P01" in text
    # Not public yet: no link to a notice that nobody may read.
    assert phase.get_absolute_url() not in text


def test_in_notice_until_its_last_day_with_a_link_to_the_notice(client, people, declaration):
    phase = phase_in_notice([declaration], people)
    end = phase.notice_end.isoformat()
    text = section(client, declaration)
    assert f"In public notice until {end}" in text
    assert f"from {phase.notice_start.isoformat()} until {end}" in text
    assert f'href="{phase.get_absolute_url()}"' in text
    row = case_row(client, declaration)
    assert f"In public notice until {end}" in row
    assert f'href="{phase.get_absolute_url()}"' in row
    # The status column no longer says only "Approved".
    assert ">Approved<" not in row


def test_an_objection_is_shown_with_a_link_to_where_the_declarant_answers(client, people, declaration):
    phase = phase_in_notice([declaration], people)
    objection = file_objection(phase, declaration)
    text = section(client, declaration)
    assert "Objection filed, awaiting a ruling" in text
    assert f"Objection {objection.reference} awaits the Bureau's ruling" in text
    anchor = f"{declaration.get_absolute_url()}#objection-{objection.pk}"
    assert f'href="{anchor}"' in text
    assert "Objection filed, awaiting a ruling" in case_row(client, declaration)
    issuing.rule_objection(objection, by=people["technical_reviewer"], upheld=False, reasons="材料充分。")
    text = section(client, declaration)
    assert "awaiting a ruling" not in text
    assert f"Objection {objection.reference} (Dismissed)" in text


def test_notice_closed_awaiting_registration(client, people, declaration):
    phase = phase_in_notice([declaration], people)
    issuing.close_notice(phase, now=timezone.now() + timedelta(days=30))
    text = section(client, declaration)
    assert "Notice closed, awaiting registration" in text
    assert f"ran until {phase.notice_end.isoformat()} and has closed" in text


def test_registered_with_serial_certificate_announcement_and_account(client, people, declaration):
    phase = phase_in_notice([declaration], people)
    issuing.close_notice(phase, now=timezone.now() + timedelta(days=30))
    issuing.register_phase(phase, by=people["approver"])
    issuance = Issuance.objects.get(declaration=declaration)
    certificate = Certificate.objects.get(issuance=issuance)
    text = section(client, declaration)
    assert f"Registered in phase {phase.code}" in text
    assert issuance.serial in text and certificate.number in text
    assert f'href="{reverse("offsets:certificate", args=[certificate.number])}"' in text
    assert f'href="{reverse("offsets:account")}"' in text
    assert f'href="{phase.get_absolute_url()}"' in text
    row = case_row(client, declaration)
    assert f"Registered in phase {phase.code}" in row and issuance.serial in row
    # A viewer of the owner reads the same, and may follow the certificate link.
    viewer = make_member(declaration.organisation, OrgRole.VIEWER)
    assert certificate.number in section(client, declaration, viewer)


def test_the_verification_body_sees_the_progress_but_not_the_owners_certificate_or_account(
    client, people, declaration
):
    phase = phase_in_notice([declaration], people)
    issuing.close_notice(phase, now=timezone.now() + timedelta(days=30))
    issuing.register_phase(phase, by=people["approver"])
    certificate = Certificate.objects.get(issuance__declaration=declaration)
    text = section(client, declaration, admin_of(declaration.verification_body))
    assert f"Registered in phase {phase.code}" in text
    assert reverse("offsets:certificate", args=[certificate.number]) not in text
    assert reverse("offsets:account") not in text


def test_the_projects_page_lists_its_declarations_with_their_progress(client, people, declaration):
    phase = phase_in_notice([declaration], people)
    client.force_login(admin_of(declaration.organisation))
    response = client.get(declaration.project.get_absolute_url(), headers=EN)
    assert f"In public notice until {phase.notice_end.isoformat()}" in unescape(response.text)


def test_a_list_costs_the_same_few_queries_whatever_its_length(people, django_assert_num_queries):
    declarations = [approved_declaration(people) for _ in range(3)]
    phase = phase_in_notice(declarations[:2], people)
    file_objection(phase, declarations[0])
    user = admin_of(declarations[0].organisation)
    with django_assert_num_queries(6):
        progress = progress_of_many(declarations, user)
    assert [progress[d.pk].label for d in declarations] == [
        "Objection filed, awaiting a ruling",
        f"In public notice until {phase.notice_end.isoformat()}",
        "Approved, awaiting an issuance phase",
    ]


def test_projects_never_imports_offsets_at_module_level():
    root = Path(__file__).resolve().parents[2] / "projects"
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not line.startswith(("from offsets", "import offsets")), f"{path.name}: {line}"
