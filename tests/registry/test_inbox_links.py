"""Every inbox item opens the screen where its recipient acts, never the home page: the story from a
verified organisation to registered, moved, retired and offset credits is played through the real
services, every event is delivered, and every recipient follows every item of their inbox. The inbox
itself is shown in the reader's face: the portal's menu for an enterprise, the office's for the bureau."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offsets import issuing, retirements, transfers
from offsets.models import BeneficiaryKind, Issuance
from registry import notifications
from registry import services as registry_services
from registry.models import AuditEvent, Delivery, Membership, NotificationJob, OrganisationStatus, OrgRole
from tests.factories import (
    admin_of,
    approved_declaration,
    make_member,
    make_organisation,
    phase_in_notice,
    reviewers,
)
from tests.offsets.ledger_world import covered_emitter, give, receiver

pytestmark = pytest.mark.django_db

SUBJECT_TYPES = {
    "registry.organisation",
    "registry.membership",
    "projects.project",
    "projects.declaration",
    "offsets.issuancephase",
    "offsets.objection",
    "offsets.issuance",
    "offsets.transfer",
    "offsets.retirement",
}


@pytest.fixture
def world(monkeypatch):
    """The whole story through the real services; then every event delivered (letters and certificates,
    PDFs, aside: they have their own tests)."""
    monkeypatch.setattr(notifications, "PREPARERS", {})
    people = reviewers()
    declaration = approved_declaration(people)
    applicant = declaration.organisation
    phase = phase_in_notice([declaration], people)
    objection = issuing.file_objection(
        phase,
        declaration=declaration,
        name="王五",
        organisation="",
        email="objector@example.com",
        phone="",
        reasons="发电量数据与电网结算单不一致。",
    )
    issuing.answer_objection(objection, by=admin_of(applicant), answer="结算单见附件。")
    issuing.rule_objection(objection, by=people["technical_reviewer"], upheld=False, reasons="材料充分。")
    issuing.close_notice(phase, now=timezone.now() + timedelta(days=30))
    issuing.register_phase(phase, by=people["approver"])
    account = Issuance.objects.get(declaration=declaration).account
    transfer = transfers.request_transfer(
        account, by=admin_of(applicant), to_number=receiver().number, quantity=1
    )
    transfers.confirm_transfer(transfer, by=people["registry_admin"])
    retirements.retire_voluntarily(
        account,
        by=admin_of(applicant),
        quantity=1,
        beneficiary_kind=BeneficiaryKind.EVENT,
        beneficiary="2023 马拉松",
        purpose="碳中和",
    )
    emitter, emitter_account = covered_emitter(people)
    give(people, account, emitter_account, 5)
    retirements.request_offset(emitter_account, by=admin_of(emitter), year=2022, quantity=2)
    member = make_member(applicant, OrgRole.VIEWER)
    registry_services.change_role(
        Membership.objects.get(user=member), by=admin_of(applicant), role=OrgRole.DECLARANT
    )
    make_organisation(status=OrganisationStatus.REJECTED)
    for event in AuditEvent.objects.order_by("seq"):
        notifications.deliver(event.pk)
    return {"people": people, "declaration": declaration, "objection": objection, "phase": phase}


def test_every_inbox_item_opens_a_page_its_recipient_can_use(client, world):
    entries = Delivery.objects.filter(channel=Delivery.Channel.INBOX).select_related("user", "event")
    assert {entry.event.subject_type for entry in entries} >= SUBJECT_TYPES
    lost = []
    for entry in entries.order_by("pk"):
        client.force_login(entry.user)
        opened = client.get(reverse("registry:inbox_open", args=[entry.pk]))
        assert opened.status_code == 302
        path = opened.url.split("#")[0]
        who = "bureau" if entry.user.is_bureau else "enterprise"
        if path in ("/", reverse("registry:dashboard")):
            lost.append(f"{entry.event.action} ({who}) → {opened.url}")
            continue
        status = client.get(path).status_code
        if status != 200:
            lost.append(f"{entry.event.action} ({who}) → {opened.url}: {status}")
    assert lost == []


def _link(client, user, action, subject_type=None) -> str:
    entries = Delivery.objects.filter(channel=Delivery.Channel.INBOX, user=user, event__action=action)
    if subject_type:
        entries = entries.filter(event__subject_type=subject_type)
    entry = entries.order_by("pk").first()
    assert entry is not None, f"{user} has no inbox item about {action}"
    client.force_login(user)
    return client.get(reverse("registry:inbox_open", args=[entry.pk])).url


def test_an_objection_leads_the_declarant_to_its_answer_and_the_reviewer_to_the_ruling(client, world):
    objection, declaration = world["objection"], world["declaration"]
    declarant = admin_of(declaration.organisation)
    assert _link(client, declarant, "objection.filed") == (
        f"{declaration.get_absolute_url()}#objection-{objection.pk}"
    )
    reviewer = world["people"]["technical_reviewer"]
    url = _link(client, reviewer, "objection.filed")
    assert url == f"{reverse('offsets:office_phase', args=[objection.phase.code])}#objection-{objection.pk}"
    # The anchors exist on both pages.
    client.force_login(declarant)
    assert f'id="objection-{objection.pk}"' in client.get(declaration.get_absolute_url()).text
    client.force_login(reviewer)
    assert f'id="objection-{objection.pk}"' in client.get(url.split("#")[0]).text


def test_the_objector_without_an_account_is_mailed_the_notice(world, mailoutbox):
    mailoutbox.clear()
    event = AuditEvent.objects.get(action="objection.dismissed")
    # As if never delivered: no delivery rows, and its job not done.
    notifications.Delivery.objects.filter(event=event).delete()
    NotificationJob.objects.filter(event=event).update(done_at=None)
    notifications.deliver(event.pk)
    (message,) = [m for m in mailoutbox if m.to == ["objector@example.com"]]
    assert world["phase"].get_absolute_url() in message.body


def test_an_organisation_check_leads_its_administrator_to_the_organisation_page(client, world):
    applicant = world["declaration"].organisation
    assert _link(client, admin_of(applicant), "organisation.verified") == reverse("registry:organisation")


def test_registered_credits_lead_to_the_holding_account_and_the_bureau_to_its_screens(client, world):
    declaration, people = world["declaration"], world["people"]
    assert _link(client, admin_of(declaration.organisation), "credits.issued") == reverse("offsets:account")
    phase = world["phase"]
    assert _link(client, people["approver"], "phase.submitted") == reverse(
        "offsets:office_phase", args=[phase.code]
    )
    transfer_url = _link(client, people["registry_admin"], "transfer.requested")
    assert transfer_url.startswith("/office/transfers/")
    offset_url = _link(client, people["registry_admin"], "offset.requested")
    assert offset_url.startswith("/office/offsets/")


@pytest.mark.parametrize(("bureau", "menu_link"), [(False, "projects:cases"), (True, "registry:office")])
def test_the_inbox_has_the_menu_of_its_readers_face(client, bureau, menu_link):
    from tests.factories import make_bureau

    user = make_bureau("intake_officer") if bureau else admin_of(make_organisation())
    client.force_login(user)
    response = client.get(reverse("registry:inbox"))
    assert response.status_code == 200
    html = response.text
    assert f'href="{reverse(menu_link)}"' in html
    face = "face-office" if bureau else "face-portal"
    assert f'class="{face}"' in html
    if bureau:
        assert "office-sidebar" in html
    else:
        assert "portal-band" in html
