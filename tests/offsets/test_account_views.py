"""The holder's account pages: the account, its statement and exports, transfers, voluntary retirements
and compliance offsets, as each member role, as a stranger and as the bureau (offsets.account_views)."""

import csv
import io
import zipfile
from datetime import datetime

import openpyxl
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from offsets import retirements, transfers
from offsets.models import (
    BlockStatus,
    Certificate,
    ComplianceRecord,
    Movement,
    MovementKind,
    Retirement,
    RetirementStatus,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from registry.exports import FORMULA_STARTS
from registry.models import OrganisationStatus, OrgRole
from tests.factories import PDF, admin_of, make_member, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, fund, give, holder_account, receiver

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
# An organisation name that a spreadsheet program would run as a formula (as in test_open_data_formulas).
HOSTILE_NAME = "-2+3+cmd|' /C calc'!A0"


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def holding(people):
    """A verified holder with one registered issuance of 68 t (vintage 2022)."""
    return holder_account(people)


@pytest.fixture
def members(holding):
    organisation = holding.organisation
    return {
        "admin": admin_of(organisation),
        "declarant": make_member(organisation, OrgRole.DECLARANT),
        "viewer": make_member(organisation, OrgRole.VIEWER),
    }


@pytest.fixture
def stranger():
    return admin_of(make_organisation())


def tonnes(account, status=BlockStatus.HELD) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=status))


def snapshot() -> tuple:
    """What an action could change: movements, transfers, retirements, and every block's status."""
    return (
        Movement.objects.count(),
        Transfer.objects.count(),
        Retirement.objects.count(),
        sorted(SerialBlock.objects.values_list("pk", "status")),
    )


def ask_transfer(holding, to, quantity=5):
    return transfers.request_transfer(
        holding, by=admin_of(holding.organisation), to_number=to.number, quantity=quantity
    )


def retire(holding, quantity=3, beneficiary_kind="event", beneficiary="Wuhan Marathon 2024"):
    return retirements.retire_voluntarily(
        holding,
        by=admin_of(holding.organisation),
        quantity=quantity,
        beneficiary_kind=beneficiary_kind,
        beneficiary=beneficiary,
        purpose="Carbon neutral event",
    )


def at(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


# --- Reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "declarant", "viewer"])
def test_every_member_reads_the_account_its_statement_and_lists(role, holding, members, client):
    client.force_login(members[role])
    transfer = ask_transfer(holding, receiver())
    retirement = retire(holding)
    page = client.get(reverse("offsets:account"), headers=EN)
    assert page.status_code == 200
    assert holding.number in page.text
    block = SerialBlock.objects.live().get(account=holding, status=BlockStatus.HELD)
    assert block.serial in page.text and transfer.reference in page.text
    totals = page.context["totals"]
    assert totals["by_status"] == [60, 5, 3, 0] and totals["rows"] == [(2022, [60, 5, 3, 0], 68)]
    for name in ("statement", "transfers", "retirements", "transfer_create", "retire", "offset_request"):
        assert client.get(reverse(f"offsets:{name}"), headers=EN).status_code == 200, name
    assert transfer.reference in client.get(reverse("offsets:transfers")).text
    assert retirement.reference in client.get(reverse("offsets:retirements")).text
    detail = client.get(transfer.get_absolute_url(), headers=EN)
    assert detail.status_code == 200
    assert ("Cancel the transfer" in detail.text) == (role != "viewer")
    assert client.get(retirement.get_absolute_url()).status_code == 200
    form = client.get(reverse("offsets:transfer_create"), headers=EN)
    assert ("Request the transfer" in form.text) == (role != "viewer")


def test_the_viewer_is_offered_no_action(holding, members, client):
    client.force_login(members["viewer"])
    transfer = ask_transfer(holding, receiver())
    assert "Cancel the transfer" not in client.get(transfer.get_absolute_url(), headers=EN).text
    account = client.get(reverse("offsets:account"), headers=EN).text
    assert reverse("offsets:transfer_create") not in account and reverse("offsets:retire") not in account


def test_the_portal_home_shows_the_account_number(holding, members, client):
    client.force_login(members["viewer"])
    page = client.get(reverse("registry:portal"))
    assert holding.number in page.text and reverse("offsets:account") in page.text


def test_the_account_page_pages_its_blocks_in_serial_order(holding, members, people, client, monkeypatch):
    from offsets import account_views, ledger

    monkeypatch.setattr(account_views, "PAGE_SIZE", 2)
    for n in range(3):  # each reservation splits the held block: 3 reserved blocks and 1 held
        ledger.reserve(holding, 1, reference=f"R-{n}", by=people["registry_admin"])
    client.force_login(members["viewer"])
    first = client.get(reverse("offsets:account"), headers=EN)
    blocks = first.context["blocks"]
    assert first.context["block_count"] == 4 and "4 serial blocks in this account" in first.text
    assert len(blocks.rows) == 2 and blocks.next_key and blocks.rows[0].first_unit < blocks.rows[1].first_unit
    second = client.get(reverse("offsets:account"), {"after": blocks.next_key}).context["blocks"]
    assert [b.status for b in second.rows] == [BlockStatus.RESERVED, BlockStatus.HELD] and second.is_last
    assert client.get(reverse("offsets:account"), {"after": "nonsense"}).status_code == 400


def test_an_organisation_not_yet_verified_has_no_account_yet(client):
    pending = make_organisation(status=OrganisationStatus.PENDING)
    client.force_login(admin_of(pending))
    page = client.get(reverse("offsets:account"), headers=EN)
    assert page.status_code == 200 and "no holding account yet" in page.text
    assert client.get(reverse("offsets:statement")).status_code == 404


def test_the_receiver_sees_the_transfer_but_not_who_asked_nor_can_it_cancel(holding, client):
    target = receiver()
    requester = make_member(holding.organisation, OrgRole.DECLARANT, full_name="Requester Li")
    transfer = transfers.request_transfer(holding, by=requester, to_number=target.number, quantity=5)
    client.force_login(requester)
    assert "Requester Li" in client.get(transfer.get_absolute_url()).text
    client.force_login(admin_of(target.organisation))
    page = client.get(transfer.get_absolute_url(), headers=EN)
    assert page.status_code == 200 and holding.number in page.text
    assert "Cancel the transfer" not in page.text and "Requester Li" not in page.text
    assert client.post(reverse("offsets:transfer_cancel", args=[transfer.reference])).status_code == 403
    assert Transfer.objects.get().status == TransferStatus.PENDING


def test_the_registry_administrator_reads_any_transfer_and_retirement(holding, people, client):
    transfer, retirement = ask_transfer(holding, receiver()), retire(holding)
    client.force_login(people["registry_admin"])
    assert client.get(transfer.get_absolute_url()).status_code == 200
    assert client.get(retirement.get_absolute_url()).status_code == 200
    # Other bureau roles do not read accounts.
    client.force_login(people["technical_reviewer"])
    assert client.get(transfer.get_absolute_url()).status_code == 404


# --- Strangers and viewers ---------------------------------------------------------------------------


def test_a_stranger_gets_404_on_every_object_of_the_account(holding, stranger, client):
    transfer, retirement = ask_transfer(holding, receiver()), retire(holding)
    certificate = Certificate.objects.get(retirement=retirement)
    certificate.file.save("r.pdf", ContentFile(PDF))
    before = snapshot()
    client.force_login(stranger)
    for url in (
        transfer.get_absolute_url(),
        retirement.get_absolute_url(),
        reverse("offsets:retirement_certificate", args=[retirement.reference]),
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("offsets:transfer_cancel", args=[transfer.reference]),
        reverse("offsets:offset_withdraw", args=[retirement.reference]),
    ):
        assert client.post(url).status_code == 404, url
    # Its own account page shows its own (empty) account, nothing of the holder's.
    page = client.get(reverse("offsets:account"))
    assert holding.number not in page.text and transfer.reference not in page.text
    assert snapshot() == before


def test_a_visitor_who_is_not_a_member_is_sent_to_log_in_or_gets_404(holding, people, client):
    assert client.get(reverse("offsets:account")).status_code == 302  # to the login page
    client.force_login(people["technical_reviewer"])
    assert client.get(reverse("offsets:account")).status_code == 404


def test_a_viewer_gets_403_on_every_action_and_nothing_changes(holding, members, client):
    emitter_bits = {"year": "2022", "quantity": "1"}
    transfer, target = ask_transfer(holding, receiver()), receiver()
    before = snapshot()
    client.force_login(members["viewer"])
    posts = [
        (reverse("offsets:transfer_create"), {"to_number": target.number, "quantity": "1"}),
        (
            reverse("offsets:retire"),
            {"quantity": "1", "beneficiary_kind": "event", "beneficiary": "X", "purpose": "Y"},
        ),
        (reverse("offsets:offset_request"), emitter_bits),
        (reverse("offsets:transfer_cancel", args=[transfer.reference]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert snapshot() == before


# --- Transfers ---------------------------------------------------------------------------------------


def test_a_declarant_requests_a_transfer_then_cancels_it(holding, members, client):
    target = receiver()
    client.force_login(members["declarant"])
    response = client.post(
        reverse("offsets:transfer_create"),
        {"to_number": f" {target.number.lower()} ", "quantity": "7", "note": "For the steel company"},
        headers=EN,
    )
    transfer = Transfer.objects.get()
    assert response.status_code == 302 and response.url == transfer.get_absolute_url()
    assert transfer.reference.startswith("WHCER-T-") and transfer.to_account == target
    assert (transfer.quantity, transfer.status) == (7, TransferStatus.PENDING)
    assert tonnes(holding, BlockStatus.RESERVED) == 7
    page = client.get(response.url, headers=EN)
    reserved = SerialBlock.objects.get(account=holding, status=BlockStatus.RESERVED)
    assert "Awaiting confirmation" in page.text and reserved.serial in page.text
    assert f"{transfer.reference} is recorded" in page.text

    response = client.post(reverse("offsets:transfer_cancel", args=[transfer.reference]), headers=EN)
    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED and tonnes(holding) == 68
    # A second cancel is refused with the service's message and changes nothing.
    before = snapshot()
    response = client.post(reverse("offsets:transfer_cancel", args=[transfer.reference]), headers=EN)
    assert "this step is not possible now" in client.get(response.url, headers=EN).text
    assert snapshot() == before


def test_a_transfer_from_a_named_block(holding, members, people, client):
    ask_transfer(holding, receiver(), quantity=10)  # splits the issued block: 10 reserved, 58 held
    held = SerialBlock.objects.get(account=holding, status=BlockStatus.HELD)
    client.force_login(members["admin"])
    response = client.post(
        reverse("offsets:transfer_create"),
        {"to_number": receiver().number, "quantity": "4", "blocks": [str(held.pk)]},
    )
    assert response.status_code == 302
    reserved = SerialBlock.objects.filter(account=holding, status=BlockStatus.RESERVED).order_by("first_unit")
    assert [(b.first_unit, b.quantity) for b in reserved][-1] == (held.first_unit, 4)


def test_a_block_that_is_not_free_in_the_account_cannot_be_named(holding, members, client):
    transfer = ask_transfer(holding, receiver(), quantity=10)
    reserved = SerialBlock.objects.get(account=holding, status=BlockStatus.RESERVED)
    before = snapshot()
    client.force_login(members["admin"])
    for block in (str(reserved.pk), "999999999", "x"):
        response = client.post(
            reverse("offsets:transfer_create"),
            {"to_number": receiver().number, "quantity": "1", "blocks": [block]},
            headers=EN,
        )
        assert response.status_code == 200 and "Select a valid choice" in response.text
    assert snapshot()[:2] == (before[0], before[1]) and transfer.status == TransferStatus.PENDING


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "greater than or equal to 1"),
        ("-1", "greater than or equal to 1"),
        (str(10**12), "less than or equal to"),
        ("ten", "whole number of tonnes"),
        ("1.5", "whole number of tonnes"),
        ("", "This field is required"),
        ("69", "Not enough credits: 68 t free to use, 69 t asked."),
    ],
)
def test_a_bad_quantity_shows_a_message_and_changes_nothing(quantity, message, holding, members, client):
    target = receiver()
    before = snapshot()
    client.force_login(members["admin"])
    forms = [
        (reverse("offsets:transfer_create"), {"to_number": target.number}),
        (
            reverse("offsets:retire"),
            {"beneficiary_kind": "event", "beneficiary": "Wuhan Marathon", "purpose": "Neutrality"},
        ),
    ]
    for url, data in forms:
        response = client.post(url, {**data, "quantity": quantity}, headers=EN)
        assert response.status_code == 200, url
        assert message in response.text, url
    assert snapshot() == before


@pytest.mark.parametrize(
    ("to_number", "message"),
    [
        ("WHA-99999999", "There is no verified organisation&#x27;s account WHA-99999999."),
        ("", "This field is required"),
        ("X" * 31, "at most 30 characters"),
    ],
)
def test_an_unknown_account_shows_a_message_and_changes_nothing(to_number, message, holding, members, client):
    before = snapshot()
    client.force_login(members["admin"])
    response = client.post(
        reverse("offsets:transfer_create"), {"to_number": to_number, "quantity": "1"}, headers=EN
    )
    assert response.status_code == 200 and message in response.text
    assert snapshot() == before


def test_a_transfer_to_a_suspended_organisation_or_to_itself_is_refused(holding, members, client):
    suspended = receiver()
    suspended.organisation.status = OrganisationStatus.SUSPENDED
    suspended.organisation.save(update_fields=["status"])
    before = snapshot()
    client.force_login(members["admin"])
    for number, message in (
        (suspended.number, "There is no verified organisation"),
        (holding.number, "cannot be transferred to the account they are in"),
    ):
        response = client.post(
            reverse("offsets:transfer_create"), {"to_number": number, "quantity": "1"}, headers=EN
        )
        assert message in response.text
    assert snapshot() == before


# --- Voluntary retirements ---------------------------------------------------------------------------


def test_a_voluntary_retirement_and_its_certificate(holding, members, people, stranger, client):
    client.force_login(members["declarant"])
    response = client.post(
        reverse("offsets:retire"),
        {"quantity": "12", "beneficiary_kind": "person", "beneficiary": "张伟", "purpose": "Our wedding"},
        headers=EN,
    )
    retirement = Retirement.objects.get()
    assert response.status_code == 302 and response.url == retirement.get_absolute_url()
    assert (retirement.status, retirement.quantity, retirement.beneficiary) == (
        RetirementStatus.RETIRED,
        12,
        "张伟",
    )
    assert tonnes(holding, BlockStatus.RETIRED) == 12
    page = client.get(response.url, headers=EN)
    assert retirement.reference in page.text and retirement.serials in page.text
    assert "shown in public as 张*" in page.text
    download = reverse("offsets:retirement_certificate", args=[retirement.reference])
    # No link, and no file, until the background job has made the PDF.
    assert download not in page.text and client.get(download).status_code == 404
    certificate = Certificate.objects.get(retirement=retirement)
    certificate.file.save("made.pdf", ContentFile(PDF))
    assert download in client.get(response.url).text
    for user in (members["viewer"], people["technical_reviewer"], people["registry_admin"]):
        client.force_login(user)
        pdf = client.get(download)
        assert pdf.status_code == 200, user
        assert pdf["Content-Disposition"].startswith("attachment")
        assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    client.force_login(stranger)
    assert client.get(download).status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"beneficiary_kind": "robot"}, "Select a valid choice"),
        ({"beneficiary": "   "}, "This field is required"),
        ({"beneficiary": "x" * 201}, "at most 200 characters"),
        ({"purpose": ""}, "This field is required"),
        ({"purpose": "p" * 2001}, "at most 2000 characters"),
    ],
)
def test_a_retirement_without_a_proper_beneficiary_or_purpose_changes_nothing(
    data, message, holding, members, client
):
    before = snapshot()
    client.force_login(members["admin"])
    body = {
        "quantity": "1",
        "beneficiary_kind": "event",
        "beneficiary": "Wuhan Marathon",
        "purpose": "Neutrality",
        **data,
    }
    response = client.post(reverse("offsets:retire"), body, headers=EN)
    assert response.status_code == 200 and message in response.text
    assert snapshot() == before


def test_a_suspended_holder_cannot_retire(holding, members, client):
    organisation = holding.organisation
    organisation.status = OrganisationStatus.SUSPENDED
    organisation.save(update_fields=["status"])
    before = snapshot()
    client.force_login(members["admin"])
    response = client.post(
        reverse("offsets:retire"),
        {"quantity": "1", "beneficiary_kind": "event", "beneficiary": "A", "purpose": "B"},
        headers=EN,
    )
    assert response.status_code == 200 and "it cannot retire credits now" in response.text
    assert snapshot() == before


# --- Compliance offsets ------------------------------------------------------------------------------


@pytest.fixture
def emitter(people):
    """A covered emitter (cap 100 t: 10 % of 1,000 t verified emissions) holding 136 t of vintage 2022."""
    _organisation, account = covered_emitter(people)
    fund(people, account, 100)
    return account


def test_a_covered_emitter_sees_its_standing_requests_and_withdraws_an_offset(emitter, client):
    client.force_login(admin_of(emitter.organisation))
    page = client.get(reverse("offsets:offset_request"), headers=EN)
    assert page.status_code == 200
    standing = page.context["standing"]
    assert (standing.cap, standing.used, standing.pending, standing.headroom) == (100, 0, 0, 100)
    assert page.context["eligible"] == 136 and "Headroom" in page.text

    response = client.post(reverse("offsets:offset_request"), {"year": "2022", "quantity": "40"}, headers=EN)
    offset = Retirement.objects.get()
    assert response.status_code == 302 and response.url == offset.get_absolute_url()
    assert (offset.status, offset.compliance_year, offset.quantity) == (RetirementStatus.PENDING, 2022, 40)
    assert tonnes(emitter, BlockStatus.RESERVED) == 40
    page = client.get(reverse("offsets:offset_request"), headers=EN)
    assert (page.context["standing"].pending, page.context["standing"].headroom) == (40, 60)

    detail = client.get(offset.get_absolute_url(), headers=EN)
    assert "Withdraw the offset request" in detail.text and offset.serials.splitlines()[0] in detail.text
    response = client.post(reverse("offsets:offset_withdraw", args=[offset.reference]))
    offset.refresh_from_db()
    assert offset.status == RetirementStatus.WITHDRAWN and tonnes(emitter, BlockStatus.RESERVED) == 0
    assert ComplianceRecord.objects.get(organisation=emitter.organisation).offsets_pending_t == 0


def test_an_offset_above_the_cap_names_the_rule_and_changes_nothing(emitter, client):
    client.force_login(admin_of(emitter.organisation))
    before = snapshot()
    response = client.post(reverse("offsets:offset_request"), {"year": "2022", "quantity": "101"}, headers=EN)
    assert response.status_code == 200
    assert "Cap rule: the cap for 2022 is 100 t" in response.text and "headroom 100 t" in response.text
    assert snapshot() == before
    assert ComplianceRecord.objects.get(organisation=emitter.organisation).offsets_pending_t == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"year": "2019", "quantity": "1"}, "Select a valid choice"),
        ({"year": "二〇二二", "quantity": "1"}, "Select a valid choice"),
        ({"year": "2022", "quantity": "0"}, "greater than or equal to 1"),
        ({"year": "2022", "quantity": str(10**12)}, "less than or equal to"),
        ({"year": "2022", "quantity": "many"}, "whole number of tonnes"),
    ],
)
def test_a_bad_offset_request_shows_a_message_and_changes_nothing(data, message, emitter, client):
    client.force_login(admin_of(emitter.organisation))
    before = snapshot()
    response = client.post(reverse("offsets:offset_request"), data, headers=EN)
    assert response.status_code == 200 and message in response.text
    assert snapshot() == before


def test_an_enterprise_not_on_the_list_is_told_it_cannot_offset(holding, members, people, client):
    covered_emitter(people)  # a 2022 policy exists
    client.force_login(members["admin"])
    before = snapshot()
    page = client.get(reverse("offsets:offset_request"), headers=EN)
    assert "Only a covered emitter on the Bureau" in page.text and "Request the offset" not in page.text
    response = client.post(reverse("offsets:offset_request"), {"year": "2022", "quantity": "1"}, headers=EN)
    assert "Only a covered emitter on the Bureau" in response.text
    assert snapshot() == before


def test_an_unknown_or_unreadable_year_in_the_address(emitter, client):
    client.force_login(admin_of(emitter.organisation))
    assert client.get(reverse("offsets:offset_request"), {"year": "1999"}).status_code == 404
    response = client.get(reverse("offsets:offset_request"), {"year": "20x2"}, headers=EN)
    assert response.status_code == 400 and "year of four digits" in response.text


# --- The statement -----------------------------------------------------------------------------------


@pytest.fixture
def dated(holding, people):
    """Issued 2023-12-20 (68 t), 10 t sent 2024-03-01 to an organisation with a formula for a name,
    3 t retired 2024-06-01."""
    target = receiver()
    target.organisation.name = HOSTILE_NAME
    target.organisation.save(update_fields=["name"])
    transfer = give(people, holding, target, 10)
    retirement = retire(holding)
    moves = Movement.objects.filter(account=holding)
    moves.filter(kind=MovementKind.ISSUED).update(at=at(2023, 12, 20, 10))
    moves.filter(reference=transfer.reference).update(at=at(2024, 3, 1, 9))
    moves.filter(reference=retirement.reference).update(at=at(2024, 6, 1, 9))
    return {"transfer": transfer, "retirement": retirement, "target": target}


def statement_rows(client, **period) -> list:
    response = client.get(reverse("offsets:statement"), period, headers=EN)
    assert response.status_code == 200
    return [(m.kind, m.quantity, m.balance) for m in response.context["statement"].page.rows]


def test_the_statement_runs_the_balance_of_the_holding(holding, members, dated, client):
    client.force_login(members["viewer"])
    assert statement_rows(client) == [
        (MovementKind.ISSUED, 68, 68),
        (MovementKind.RESERVED, 10, 68),
        (MovementKind.SENT, 10, 58),
        (MovementKind.RETIRED, 3, 55),
    ]
    page = client.get(reverse("offsets:statement"), headers=EN)
    assert dated["target"].number in page.text and dated["transfer"].get_absolute_url() in page.text


def test_the_period_filter(holding, members, dated, client):
    client.force_login(members["admin"])
    assert statement_rows(client, to="2023-12-31") == [(MovementKind.ISSUED, 68, 68)]
    assert statement_rows(client, **{"from": "2024-01-01"}) == [
        (MovementKind.RESERVED, 10, 68),
        (MovementKind.SENT, 10, 58),
        (MovementKind.RETIRED, 3, 55),
    ]
    # A period in the middle: its balance still counts what came before it.
    assert statement_rows(client, **{"from": "2024-06-01", "to": "2024-06-01"}) == [
        (MovementKind.RETIRED, 3, 55)
    ]
    page = client.get(reverse("offsets:statement"), {"from": "2024-04-01", "to": "2024-12-31"}, headers=EN)
    assert page.context["statement"].opening == 58 and page.context["statement"].closing == 55
    assert statement_rows(client, **{"from": "2025-01-01"}) == []


@pytest.mark.parametrize(
    "period",
    [
        {"from": "2024-13-01"},
        {"from": "2024-02-30"},
        {"to": "yesterday"},
        {"to": "２０２４-01-01"},
        {"from": "20240101"},
        {"from": "2024-06-01", "to": "2024-01-01"},
    ],
)
def test_a_bad_period_answers_400_with_a_message(period, holding, members, client):
    client.force_login(members["admin"])
    for name in ("offsets:statement",):
        response = client.get(reverse(name), period, headers=EN)
        assert response.status_code == 400
        assert "date" in response.text or "period starts after it ends" in response.text
    for fmt in ("csv", "xlsx"):
        assert client.get(reverse("offsets:statement_export", args=[fmt]), period).status_code == 400


def test_the_statement_is_paged_and_the_balance_runs_across_pages(holding, members, people, client):
    from offsets import ledger

    for n in range(26):  # 52 movements after the issue: two pages of 50, then 3
        ledger.reserve(holding, 1, reference=f"R-{n}", by=people["registry_admin"])
        ledger.release(holding, reference=f"R-{n}", by=people["registry_admin"])
    retire(holding, quantity=2)
    client.force_login(members["admin"])
    first = client.get(reverse("offsets:statement"))
    page = first.context["statement"].page
    assert len(page.rows) == 50 and page.next_key
    second = client.get(reverse("offsets:statement"), {"after": page.next_key}).context["statement"].page
    assert [(m.kind, m.balance) for m in second.rows][-1] == (MovementKind.RETIRED, 66)
    assert len(second.rows) == 4 and second.is_last
    assert client.get(reverse("offsets:statement"), {"after": "nonsense"}).status_code == 400


def test_the_csv_export_holds_every_movement_and_neutralises_formulas(holding, members, dated, client):
    client.force_login(members["viewer"])
    response = client.get(reverse("offsets:statement_export", args=["csv"]), headers=EN)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    assert {"private", "no-store"} <= {part.strip() for part in response["Cache-Control"].split(",")}
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["Movement"], r["Quantity (t)"], r["Balance (t)"]) for r in rows] == [
        ("Issued", "68", "68"),
        ("Reserved", "10", "68"),
        ("Sent", "10", "58"),
        ("Retired", "3", "55"),
    ]
    sent = rows[2]
    assert sent["Counterparty"] == "'" + HOSTILE_NAME
    assert sent["Counterparty account"] == dated["target"].number
    assert sent["Reference"] == dated["transfer"].reference and sent["Date"].startswith("2024-03-01")
    assert dated["retirement"].serials in rows[3]["Serials"]
    for row in rows:
        for value in row.values():  # text never starts a formula; numbers (-10) stay numbers
            assert value.lstrip("-").isdigit() or not value.startswith(FORMULA_STARTS), value

    within = client.get(reverse("offsets:statement_export", args=["csv"]), {"from": "2024-04-01"}, headers=EN)
    rows = list(csv.DictReader(io.StringIO(within.content.decode("utf-8-sig"))))
    assert [(r["Movement"], r["Balance (t)"]) for r in rows] == [("Opening balance", "58"), ("Retired", "55")]


def test_the_xlsx_export_writes_text_as_strings_never_formulas(holding, members, dated, client):
    client.force_login(members["admin"])
    response = client.get(reverse("offsets:statement_export", args=["xlsx"]), headers=EN)
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    header = [cell.value for cell in sheet[1]]
    rows = [list(row) for row in sheet.iter_rows(min_row=2)]
    assert [row[header.index("Movement")].value for row in rows] == ["Issued", "Reserved", "Sent", "Retired"]
    counterparty = rows[2][header.index("Counterparty")]
    assert counterparty.value == "'" + HOSTILE_NAME and counterparty.data_type == "s"
    assert [row[header.index("Balance (t)")].value for row in rows] == [68, 68, 58, 55]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def test_an_export_in_another_format_is_404(holding, members, client):
    client.force_login(members["admin"])
    assert client.get(reverse("offsets:statement_export", args=["pdf"])).status_code == 404


def test_the_transfer_list_filters_by_direction(holding, members, people, client):
    sent = ask_transfer(holding, receiver())
    other = holder_account(people, code="2023P02")
    received = ask_transfer(other, holding)
    client.force_login(members["viewer"])

    def listed(direction):
        page = client.get(reverse("offsets:transfers"), {"direction": direction} if direction else {})
        return [t.reference for t in page.context["page"].rows]

    assert listed("") == [received.reference, sent.reference]
    assert listed("out") == [sent.reference] and listed("in") == [received.reference]
    assert client.get(reverse("offsets:transfers"), {"direction": "sideways"}).status_code == 400
