"""An attacker's pass over the holder's and the bureau's ledger screens: another organisation's objects
answer 404, a viewer 403, an enterprise user never reaches an office screen; forged and hostile POSTs are
refused without a 500 and without a change."""

import pytest
from django.urls import reverse

from offsets import ledger, retirements, transfers
from offsets.models import Movement, Retirement, SerialBlock, Transfer
from registry.models import OrganisationStatus, OrgRole
from tests.factories import admin_of, make_member, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, holder_account, receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def world(people):
    a = holder_account(people)
    b = holder_account(people, code="2023P02")
    return people, a, b


def _state():
    return (
        Movement.objects.count(),
        Transfer.objects.count(),
        Retirement.objects.count(),
        sorted(SerialBlock.objects.values_list("pk", "status", "account_id")),
    )


def test_other_organisation_objects_are_404(client, world):
    _people, a, b = world
    t = transfers.request_transfer(b, by=admin_of(b.organisation), to_number=receiver().number, quantity=3)
    r = retirements.retire_voluntarily(
        b,
        by=admin_of(b.organisation),
        quantity=2,
        beneficiary_kind="organisation",
        beneficiary="X",
        purpose="Y",
    )
    client.force_login(admin_of(a.organisation))
    before = _state()
    for name in ("offsets:transfer", "offsets:retirement", "offsets:retirement_certificate"):
        assert (
            client.get(reverse(name, args=[t.reference if "transfer" in name else r.reference])).status_code
            == 404
        )
    assert client.post(reverse("offsets:transfer_cancel", args=[t.reference])).status_code == 404
    assert client.post(reverse("offsets:offset_withdraw", args=[r.reference])).status_code == 404
    assert client.get(reverse("offsets:certificate", args=[r.reference])).status_code == 404
    assert _state() == before


def test_enterprise_user_never_reaches_office_screens(client, world):
    _people, a, b = world
    t = transfers.request_transfer(b, by=admin_of(b.organisation), to_number=a.number, quantity=3)
    client.force_login(admin_of(b.organisation))
    urls = [
        reverse("offsets:office_transfers"),
        reverse("offsets:office_transfer", args=[t.reference]),
        reverse("offsets:office_offsets"),
        reverse("offsets:office_accounts"),
        reverse("offsets:office_account", args=[b.number]),
        reverse("offsets:office_account_statement", args=[b.number, "csv"]),
        reverse("offsets:office_policies"),
        reverse("offsets:office_records"),
    ]
    for url in urls:
        assert client.get(url).status_code in (403, 404), url
    assert (
        client.post(reverse("offsets:office_transfer_decide", args=[t.reference, "confirm"])).status_code
        == 403
    )
    assert (
        client.post(
            reverse("offsets:office_account_cancel", args=[b.number]), {"quantity": 1, "reasons": "x"}
        ).status_code
        == 403
    )
    t.refresh_from_db()
    assert t.status == "pending"


@pytest.mark.parametrize("role", ["intake_officer", "technical_reviewer", "expert", "approver"])
def test_other_bureau_roles_cannot_decide(client, world, role):
    people, a, b = world
    t = transfers.request_transfer(b, by=admin_of(b.organisation), to_number=a.number, quantity=3)
    client.force_login(people[role])
    assert (
        client.post(reverse("offsets:office_transfer_decide", args=[t.reference, "confirm"])).status_code
        == 403
    )
    assert (
        client.post(
            reverse("offsets:office_transfer_decide", args=[t.reference, "reject"]), {"reasons": "no"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("offsets:office_account_cancel", args=[b.number]), {"quantity": 1, "reasons": "x"}
        ).status_code
        == 403
    )
    assert client.post(reverse("offsets:office_policies"), {"year": 2030}).status_code == 403
    # The holder's own transfer-cancel URL is for the sending organisation only.
    assert client.post(reverse("offsets:transfer_cancel", args=[t.reference])).status_code in (403, 404)
    t.refresh_from_db()
    assert t.status == "pending"


def test_viewer_gets_403_on_every_action(client, world):
    _people, a, b = world
    t = transfers.request_transfer(a, by=admin_of(a.organisation), to_number=b.number, quantity=3)
    client.force_login(make_member(a.organisation, OrgRole.VIEWER))
    before = _state()
    assert (
        client.post(reverse("offsets:transfer_create"), {"to_number": b.number, "quantity": 1}).status_code
        == 403
    )
    assert (
        client.post(
            reverse("offsets:retire"),
            {"quantity": 1, "beneficiary_kind": "organisation", "beneficiary": "x", "purpose": "y"},
        ).status_code
        == 403
    )
    assert client.post(reverse("offsets:offset_request"), {"year": 2022, "quantity": 1}).status_code in (
        403,
        404,
    )
    assert client.post(reverse("offsets:transfer_cancel", args=[t.reference])).status_code == 403
    assert _state() == before


def test_forged_transfer_posts(client, world):
    _people, a, b = world
    client.force_login(admin_of(a.organisation))
    other_block = SerialBlock.objects.filter(account=b).first()
    unverified = ledger.open_account(make_organisation(status=OrganisationStatus.PENDING))
    suspended = ledger.open_account(make_organisation(status=OrganisationStatus.SUSPENDED))
    before = _state()
    url = reverse("offsets:transfer_create")
    cases = [
        {"to_number": b.number, "quantity": 1, "blocks": [other_block.pk]},
        {"to_number": b.number, "quantity": 1, "blocks": ["abc"]},
        {"to_number": b.number, "quantity": 1, "blocks": ["99999999999999999999999"]},
        {"to_number": b.number, "quantity": 0},
        {"to_number": b.number, "quantity": -5},
        {"to_number": b.number, "quantity": "9" * 40},
        {"to_number": b.number, "quantity": "1e3"},
        {"to_number": a.number, "quantity": 1},
        {"to_number": unverified.number, "quantity": 1},
        {"to_number": suspended.number.lower(), "quantity": 1},
        {"to_number": "WHA-99999999", "quantity": 1},
        {"to_number": "WHA\x00", "quantity": 1},
        {"to_number": b.number, "quantity": 1, "note": "a\x00b"},
        {"to_number": "x" * 5000, "quantity": 1},
    ]
    for data in cases:
        response = client.post(url, data)
        assert response.status_code in (200, 400), (data, response.status_code)
    assert _state() == before


def test_forged_retirement_posts(client, world):
    _people, a, _b = world
    client.force_login(admin_of(a.organisation))
    before = _state()
    url = reverse("offsets:retire")
    base = {"quantity": 1, "beneficiary_kind": "organisation", "beneficiary": "B", "purpose": "P"}
    for override in (
        {"beneficiary": "x" * 201},
        {"beneficiary": "a\x00b"},
        {"purpose": "x" * 2001},
        {"beneficiary": "   "},
        {"beneficiary_kind": "robot"},
        {"quantity": 10**12},
        {"quantity": 0},
    ):
        response = client.post(url, {**base, **override})
        assert response.status_code in (200, 400), (override, response.status_code)
    assert _state() == before


def test_offset_year_out_of_range(client, people):
    emitter, _account = covered_emitter(people)
    client.force_login(admin_of(emitter))
    before = _state()
    url = reverse("offsets:offset_request")
    for query in ("?year=1900", "?year=abc", "?year=99999999999", "?year=2022%00"):
        assert client.get(url + query).status_code in (400, 404), query
    for data in ({"year": 1900, "quantity": 1}, {"year": "x", "quantity": 1}, {"year": 2022, "quantity": -1}):
        assert client.post(url, data).status_code in (200, 400, 404), data
    assert _state() == before


def test_policy_year_out_of_range_is_404(client, people):
    client.force_login(people["registry_admin"])
    assert client.get(reverse("offsets:office_policy", args=[99999999999999])).status_code == 404
    assert client.get(reverse("offsets:office_record", args=[99999999999999])).status_code == 404
    assert client.get(reverse("offsets:office_boundary", args=[99999999999999])).status_code == 404


def test_odd_references_are_404(client, world):
    _people, a, _b = world
    client.force_login(admin_of(a.organisation))
    for ref in ("x" * 3000, "WHCER-T-2023-%25", "..%2F..%2Fetc"):
        assert client.get(f"/portal/account/transfers/{ref}/").status_code in (404, 400)
        assert client.get(f"/portal/account/retirements/{ref}/").status_code in (404, 400)


def test_control_characters_in_purpose_do_not_break_public_xlsx(client, world):
    """A retirement's beneficiary or purpose with a control character (ESC, vertical tab) is refused or
    written safely: the public workbook never answers 500 because of one holder's text."""
    _people, a, _b = world
    member = admin_of(a.organisation)
    client.force_login(member)
    client.post(
        reverse("offsets:retire"),
        {"quantity": 1, "beneficiary_kind": "organisation", "beneficiary": "B\x1bX", "purpose": "P\x0bQ"},
    )
    client.logout()
    assert client.get(reverse("offsets:open_data_xlsx")).status_code == 200
    assert client.get(reverse("offsets:open_data_file", args=["retirements", "csv"])).status_code == 200


def test_set_cell_drops_control_characters_before_neutralising():
    import openpyxl

    from registry.exports import set_cell

    cell = openpyxl.Workbook().active["A1"]
    set_cell(cell, '\x1b=HYPERLINK("https://evil.example")')
    assert cell.value == '\'=HYPERLINK("https://evil.example")'
    assert cell.data_type == "s"


def test_control_characters_are_refused_at_input_with_a_message():
    from offsets.forms import RetirementForm

    form = RetirementForm(
        data={
            "quantity": "1",
            "beneficiary_kind": "event",
            "beneficiary": "B\x1bX",
            "purpose": "line one\nline two",
        }
    )
    assert not form.is_valid()
    assert "beneficiary" in form.errors and "purpose" not in form.errors  # line breaks stay allowed
