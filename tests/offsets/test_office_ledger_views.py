"""The bureau's ledger screens (offsets.office_ledger_views): transfers and compliance offsets to confirm,
accounts and statements, cancellations, compliance policies, records and boundaries, and the boundary
link on the case screen. Each screen as the registry administrator, as another bureau role (403) and as
an enterprise user (403, whether the object exists or not)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from offsets import compliance, ledger_checks, retirements, transfers
from offsets.models import (
    BlockStatus,
    BoundaryLink,
    CompliancePolicy,
    ComplianceRecord,
    Installation,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
    TransferStatus,
)
from registry.models import AuditEvent
from tests.factories import admin_of, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, give, holder_account, receiver

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


@pytest.fixture
def emitter(people, source):
    """A covered emitter (cap 10 % of 1,000 t of emissions: 100 t) holding 60 t of 2022 credits."""
    organisation, account = covered_emitter(people)
    give(people, source, account, 60)
    return organisation, account


def held(account) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=BlockStatus.HELD))


def reserved(account) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=BlockStatus.RESERVED))


def as_user(client, user):
    client.force_login(user)
    return client


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def a_transfer(source, quantity=5):
    return transfers.request_transfer(
        source, by=admin_of(source.organisation), to_number=receiver().number, quantity=quantity
    )


def an_offset(emitter, quantity=30, year=2022):
    organisation, account = emitter
    return retirements.request_offset(account, by=admin_of(organisation), year=year, quantity=quantity)


POLICY = {
    "year": "2023",
    "first_vintage": "2021",
    "last_vintage": "2023",
    "conversion": "1",
    "cap_basis": "emissions",
    "cap_percent": "10",
    "window_opens": "2024-01-01",
    "window_closes": "2024-06-30",
}


# --- Who may see each screen ------------------------------------------------------------------------


@pytest.fixture
def screens(people, source, emitter):
    """Every screen of the module, by GET, with the right it needs."""
    organisation, _account = emitter
    transfer = a_transfer(source)
    offset = an_offset(emitter)
    record = ComplianceRecord.objects.get(organisation=organisation, year=2022)
    return [
        (reverse("offsets:office_transfers"), "confirm_transfer"),
        (reverse("offsets:office_transfer", args=[transfer.reference]), "confirm_transfer"),
        (reverse("offsets:office_offsets"), "confirm_offset"),
        (reverse("offsets:office_offset", args=[offset.reference]), "confirm_offset"),
        (reverse("offsets:office_accounts"), "view_any_account"),
        (reverse("offsets:office_account", args=[source.number]), "view_any_account"),
        (reverse("offsets:office_account_statement", args=[source.number, "csv"]), "view_any_account"),
        (reverse("offsets:office_account_statement", args=[source.number, "xlsx"]), "view_any_account"),
        (reverse("offsets:office_policies"), "keep_compliance"),
        (reverse("offsets:office_policy", args=[2022]), "keep_compliance"),
        (reverse("offsets:office_records"), "keep_compliance"),
        (reverse("offsets:office_record", args=[record.pk]), "keep_compliance"),
        (reverse("offsets:office_boundary", args=[organisation.pk]), "keep_compliance"),
    ]


def test_the_registry_administrator_reaches_every_screen(client, people, screens):
    as_user(client, people["registry_admin"])
    for url, _right in screens:
        response = client.get(url, headers=EN)
        assert response.status_code == 200, url


@pytest.mark.parametrize("role", ["intake_officer", "technical_reviewer", "expert", "approver"])
def test_other_bureau_roles_are_refused_every_screen(client, people, screens, role):
    as_user(client, people[role])
    for url, _right in screens:
        assert client.get(url).status_code == 403, url


def test_an_enterprise_user_is_refused_alike_whether_the_object_exists_or_not(
    client, people, source, screens
):
    """Its own account and transfer included: the office is the bureau's. A 403 for both, so the answer
    says nothing about another organisation's objects."""
    as_user(client, admin_of(source.organisation))
    for url, _right in screens:
        assert client.get(url).status_code == 403, url
    for missing in (
        reverse("offsets:office_transfer", args=["WHCER-T-2099-999999"]),
        reverse("offsets:office_account", args=["WHA-99999999"]),
        reverse("offsets:office_record", args=[2147483000]),
    ):
        assert client.get(missing).status_code == 403
    seq = last_seq()
    transfer_url = screens[1][0]
    assert client.post(transfer_url + "confirm/").status_code == 403
    assert last_seq() == seq


def test_the_office_navigation_shows_the_ledger_to_the_registry_administrator_only(client, people):
    as_user(client, people["registry_admin"])
    page = client.get(reverse("registry:office"), headers=EN).content.decode()
    for name in (
        "office_transfers",
        "office_offsets",
        "office_accounts",
        "office_policies",
        "office_records",
    ):
        assert reverse(f"offsets:{name}") in page
    as_user(client, people["approver"])
    page = client.get(reverse("registry:office"), headers=EN).content.decode()
    assert reverse("offsets:office_transfers") not in page and "office-ledger-nav" not in page


# --- Transfers ----------------------------------------------------------------------------------------


def test_a_pending_transfer_is_listed_with_its_reserved_serials_and_confirmed(client, people, source):
    transfer = a_transfer(source, 5)
    block = SerialBlock.objects.get(status=BlockStatus.RESERVED, status_reference=transfer.reference)
    as_user(client, people["registry_admin"])
    listing = client.get(reverse("offsets:office_transfers"), headers=EN).content.decode()
    assert transfer.reference in listing
    page = client.get(
        reverse("offsets:office_transfer", args=[transfer.reference]), headers=EN
    ).content.decode()
    assert (
        block.serial in page and transfer.from_account.number in page and transfer.to_account.number in page
    )
    response = client.post(
        reverse("offsets:office_transfer_decide", args=[transfer.reference, "confirm"]),
        headers=EN,
        follow=True,
    )
    assert f"Transfer {transfer.reference} confirmed." in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.COMPLETED and held(transfer.to_account) == 5
    assert "transfer-confirm" not in response.content.decode()  # decided: no decision forms any more
    assert list(ledger_checks.check()) == []


def test_a_rejection_needs_reasons_and_releases_the_reservation(client, people, source):
    transfer = a_transfer(source, 5)
    url = reverse("offsets:office_transfer_decide", args=[transfer.reference, "reject"])
    as_user(client, people["registry_admin"])
    seq = last_seq()
    response = client.post(url, {"reasons": "   "}, headers=EN)
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PENDING and reserved(source) == 5 and last_seq() == seq
    client.post(url, {"reasons": "The receiver's account is wrong."}, headers=EN)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REJECTED and reserved(source) == 0
    assert transfer.reasons == "The receiver's account is wrong."
    listing = client.get(reverse("offsets:office_transfers"), headers=EN).content.decode()
    assert transfer.reference in listing and "Rejected" in listing


def test_a_decided_transfer_cannot_be_decided_again_and_the_refusal_is_shown(client, people, source):
    transfer = a_transfer(source, 5)
    transfers.cancel_transfer(transfer, by=admin_of(source.organisation))
    as_user(client, people["registry_admin"])
    response = client.post(
        reverse("offsets:office_transfer_decide", args=[transfer.reference, "confirm"]),
        headers=EN,
        follow=True,
    )
    assert "this step is not possible now" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED


def test_an_unknown_decision_or_transfer_is_not_found(client, people, source):
    transfer = a_transfer(source)
    as_user(client, people["registry_admin"])
    assert (
        client.post(
            reverse("offsets:office_transfer_decide", args=[transfer.reference, "approve"])
        ).status_code
        == 404
    )
    assert client.get(reverse("offsets:office_transfer", args=["WHCER-T-2099-999999"])).status_code == 404
    assert (
        client.get(
            reverse("offsets:office_transfer_decide", args=[transfer.reference, "confirm"])
        ).status_code
        == 405
    )


# --- Compliance offsets -----------------------------------------------------------------------------


def test_an_offset_shows_the_emitters_standing_and_policy_and_is_confirmed(client, people, emitter):
    organisation, account = emitter
    offset = an_offset(emitter, 30)
    as_user(client, people["registry_admin"])
    assert offset.reference in client.get(reverse("offsets:office_offsets"), headers=EN).content.decode()
    page = client.get(reverse("offsets:office_offset", args=[offset.reference]), headers=EN).content.decode()
    # Cap 100 t (10 % of 1,000 t), nothing used, 30 t awaiting, 70 t of headroom; vintages 2020–2022.
    assert '<dd class="col-sm-7 standing-cap"><strong>100 t</strong>' in page
    assert '<dd class="col-sm-7 standing-pending">30 t</dd>' in page
    assert '<dd class="col-sm-7 standing-headroom"><strong>70 t</strong>' in page
    assert "2020 – 2022" in page and "offset-problems" not in page
    client.post(reverse("offsets:office_offset_decide", args=[offset.reference, "confirm"]), headers=EN)
    offset.refresh_from_db()
    record = ComplianceRecord.objects.get(organisation=organisation, year=2022)
    assert offset.status == RetirementStatus.RETIRED and offset.decided_by == people["registry_admin"]
    assert (record.offsets_used_t, record.offsets_pending_t) == (Decimal(30), Decimal(0))
    assert reserved(account) == 0 and list(ledger_checks.check()) == []


def test_a_cap_refusal_at_confirmation_is_shown_and_changes_nothing(client, people, emitter):
    organisation, account = emitter
    offset = an_offset(emitter, 30)
    policy = CompliancePolicy.objects.get(year=2022)
    # The policy tightened after the request: a cap of 2 % of 1,000 t is 20 t, below the 30 t asked.
    compliance.save_policy(by=people["registry_admin"], year=2022, cap_percent=Decimal("2"))
    as_user(client, people["registry_admin"])
    page = client.get(reverse("offsets:office_offset", args=[offset.reference]), headers=EN).content.decode()
    assert "offset-problems" in page and "Cap rule" in page  # said before anyone clicks
    seq = last_seq()
    response = client.post(
        reverse("offsets:office_offset_decide", args=[offset.reference, "confirm"]), headers=EN, follow=True
    )
    text = response.content.decode()
    assert "Cap rule: the cap for 2022 is 20 t" in text and "asked 30 t" in text
    offset.refresh_from_db()
    record = ComplianceRecord.objects.get(organisation=organisation, year=2022)
    assert offset.status == RetirementStatus.PENDING and reserved(account) == 30
    assert (record.offsets_used_t, record.offsets_pending_t) == (Decimal(0), Decimal(30))
    assert last_seq() == seq and policy.pk == CompliancePolicy.objects.get(year=2022).pk


def test_an_offset_is_rejected_with_reasons_and_its_credits_released(client, people, emitter):
    organisation, account = emitter
    offset = an_offset(emitter, 30)
    url = reverse("offsets:office_offset_decide", args=[offset.reference, "reject"])
    as_user(client, people["registry_admin"])
    assert client.post(url, {"reasons": ""}, headers=EN).status_code == 400
    assert Retirement.objects.get(pk=offset.pk).status == RetirementStatus.PENDING
    client.post(url, {"reasons": "Surrender already made."}, headers=EN)
    offset.refresh_from_db()
    record = ComplianceRecord.objects.get(organisation=organisation, year=2022)
    assert offset.status == RetirementStatus.REJECTED and reserved(account) == 0
    assert record.offsets_pending_t == 0
    page = client.get(reverse("offsets:office_offset", args=[offset.reference]), headers=EN).content.decode()
    assert offset.serials.splitlines()[0] in page and "offset-confirm" not in page  # what it had asked for


def test_an_offset_whose_policy_is_gone_still_shows_why(client, people, emitter):
    offset = an_offset(emitter, 10)
    ComplianceRecord.objects.filter(organisation=emitter[0]).delete()
    as_user(client, people["registry_admin"])
    page = client.get(reverse("offsets:office_offset", args=[offset.reference]), headers=EN).content.decode()
    assert "There is no compliance record of" in page


# --- Accounts and the statement ----------------------------------------------------------------------


def test_accounts_are_found_by_number_or_organisation(client, people, source):
    other = receiver()
    as_user(client, people["registry_admin"])
    url = reverse("offsets:office_accounts")
    page = client.get(url, {"q": source.number.lower()}, headers=EN).content.decode()
    assert source.number in page and other.number not in page
    page = client.get(url, {"q": other.organisation.name[2:]}, headers=EN).content.decode()
    assert other.number in page and source.number not in page
    assert client.get(url, {"q": "x\x00"}).status_code == 400


def test_the_statement_shows_every_movement_with_the_running_balance(client, people, source):
    start = held(source)
    transfer = a_transfer(source, 5)
    transfers.reject_transfer(transfer, by=people["registry_admin"], reasons="Wrong account.")
    give(people, source, receiver(), 7)
    as_user(client, people["registry_admin"])
    response = client.get(reverse("offsets:office_account", args=[source.number]), headers=EN)
    page = response.content.decode()
    rows = response.context["statement"].page.rows
    assert [row.kind for row in rows] == ["issued", "reserved", "released", "reserved", "sent"]
    assert [row.balance for row in rows] == [start, start, start, start, start - 7]
    assert transfer.reference in page and "Released" in page
    # A period after every movement: nothing in it, and the holding before it is the holding now.
    later = client.get(
        reverse("offsets:office_account", args=[source.number]), {"from": "2099-01-01"}, headers=EN
    )
    assert later.context["statement"].page.rows == [] and later.context["statement"].opening == start - 7
    # A period that cannot be read answers 400 with the reason, as on the holder's statement.
    wrong = client.get(
        reverse("offsets:office_account", args=[source.number]),
        {"from": "2024-02-01", "to": "2024-01-01"},
        headers=EN,
    )
    assert wrong.status_code == 400 and "The period starts after it ends" in wrong.content.decode()


# --- Cancellation ------------------------------------------------------------------------------------


def test_the_registry_administrator_cancels_credits_with_reasons(client, people, source):
    before = held(source)
    as_user(client, people["registry_admin"])
    page = client.get(reverse("offsets:office_account", args=[source.number]), headers=EN).content.decode()
    assert "cancel-form" in page
    response = client.post(
        reverse("offsets:office_account_cancel", args=[source.number]),
        {"quantity": "3", "reasons": "Double counted with another scheme."},
        headers=EN,
        follow=True,
    )
    cancellation = Retirement.objects.get(kind=RetirementKind.CANCELLATION)
    assert f"3 t cancelled under {cancellation.reference}." in response.content.decode()
    assert cancellation.reasons == "Double counted with another scheme." and held(source) == before - 3
    assert list(ledger_checks.check()) == []


def test_a_cancellation_from_a_named_block(client, people, source):
    block = SerialBlock.objects.get(account=source, status=BlockStatus.HELD)
    as_user(client, people["registry_admin"])
    client.post(
        reverse("offsets:office_account_cancel", args=[source.number]),
        {"quantity": "2", "reasons": "Error.", "blocks": [str(block.pk)]},
    )
    cancelled = SerialBlock.objects.get(status=BlockStatus.CANCELLED)
    assert cancelled.parent == block and cancelled.first_unit == block.first_unit and cancelled.quantity == 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"quantity": "-1", "reasons": "Error."}, "The quantity must be at least 1 t."),
        ({"quantity": "0", "reasons": "Error."}, "The quantity must be at least 1 t."),
        ({"quantity": "99999999999999", "reasons": "Error."}, "The quantity may not exceed 1000000000 t."),
        ({"quantity": "1.5", "reasons": "Error."}, "Enter a whole number."),
        ({"quantity": "2", "reasons": ""}, "This field is required."),
        ({"quantity": "2", "reasons": "Error.", "blocks": ["2147483000"]}, "Select a valid choice."),
    ],
)
def test_bad_cancellations_are_refused_with_a_message_and_change_nothing(
    client, people, source, data, message
):
    as_user(client, people["registry_admin"])
    before, seq = held(source), last_seq()
    response = client.post(reverse("offsets:office_account_cancel", args=[source.number]), data, headers=EN)
    assert response.status_code == 400 and message in response.content.decode()
    assert held(source) == before and last_seq() == seq and not Retirement.objects.exists()


def test_cancelling_more_than_is_free_shows_the_ledgers_refusal(client, people, source):
    before = held(source)
    as_user(client, people["registry_admin"])
    response = client.post(
        reverse("offsets:office_account_cancel", args=[source.number]),
        {"quantity": str(before + 1), "reasons": "Error."},
        headers=EN,
        follow=True,
    )
    assert "Not enough credits" in response.content.decode()
    assert held(source) == before and not Retirement.objects.exists()


def test_only_the_registry_administrator_cancels(client, people, source):
    before = held(source)
    for who in (people["approver"], admin_of(source.organisation)):
        as_user(client, who)
        response = client.post(
            reverse("offsets:office_account_cancel", args=[source.number]), {"quantity": "1", "reasons": "x"}
        )
        assert response.status_code == 403
    assert held(source) == before


# --- Compliance policies -----------------------------------------------------------------------------


def test_a_policy_is_created_and_edited(client, people):
    as_user(client, people["registry_admin"])
    url = reverse("offsets:office_policies")
    response = client.post(url, POLICY, headers=EN)
    assert response.status_code == 302
    policy = CompliancePolicy.objects.get(year=2023)
    assert (policy.first_vintage, policy.last_vintage, policy.cap_percent) == (2021, 2023, Decimal(10))
    assert policy.window_closes == date(2024, 6, 30)
    assert AuditEvent.objects.filter(action="compliance.policy_saved").count() == 1
    # The same year again is refused: it is edited, not created twice.
    again = client.post(url, {**POLICY, "cap_percent": "20"}, headers=EN)
    assert again.status_code == 400 and "There is a policy for 2023 already" in again.content.decode()
    edit = reverse("offsets:office_policy", args=[2023])
    assert 'value="10.00"' in client.get(edit, headers=EN).content.decode()
    client.post(edit, {**POLICY, "year": "1999", "cap_percent": "12.5", "cap_basis": "allowance"})
    policy.refresh_from_db()
    assert (policy.year, policy.cap_percent, policy.cap_basis) == (2023, Decimal("12.5"), "allowance")
    assert not CompliancePolicy.objects.filter(year=1999).exists()  # the year of a policy is fixed


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cap_percent": "0"}, "The cap is a share: more than 0 % and at most 100 %."),
        ({"cap_percent": "101"}, "The cap is a share: more than 0 % and at most 100 %."),
        ({"cap_percent": "-5"}, "The cap is a share: more than 0 % and at most 100 %."),
        ({"window_closes": "2023-12-31"}, "The window closes before it opens."),
        ({"last_vintage": "2020"}, "The latest eligible vintage comes before the earliest."),
        ({"conversion": "0"}, "The conversion must be more than 0."),
        ({"conversion": "99999999"}, "Ensure that there are no more than"),
        ({"year": "99999"}, "Give a year up to 2100."),
        ({"year": "-2023"}, "Give a year from 2000 on."),
        ({"window_opens": "2024-02-30"}, "Enter a valid date."),
        ({"cap_basis": "turnover"}, "Select a valid choice."),
    ],
)
def test_bad_policies_are_refused_with_a_message_and_save_nothing(client, people, change, message):
    as_user(client, people["registry_admin"])
    response = client.post(reverse("offsets:office_policies"), {**POLICY, **change}, headers=EN)
    assert response.status_code == 400 and message in response.content.decode()
    assert not CompliancePolicy.objects.exists()


def test_a_bad_edit_leaves_the_policy_as_it_was(client, people):
    as_user(client, people["registry_admin"])
    client.post(reverse("offsets:office_policies"), POLICY)
    response = client.post(
        reverse("offsets:office_policy", args=[2023]), {**POLICY, "cap_percent": "101"}, headers=EN
    )
    assert response.status_code == 400
    assert CompliancePolicy.objects.get(year=2023).cap_percent == Decimal(10)
    assert client.get(reverse("offsets:office_policy", args=[1500])).status_code == 404
    assert client.get(reverse("offsets:office_policy", args=[2030])).status_code == 404


# --- Compliance records ------------------------------------------------------------------------------


def test_records_are_listed_per_year_created_and_edited(client, people, emitter):
    organisation, _account = emitter
    other = make_organisation()
    from registry.services import set_covered_emitter

    set_covered_emitter(other, flag=True, by=people["registry_admin"], reason="On the list.")
    as_user(client, people["registry_admin"])
    url = reverse("offsets:office_records")
    page = client.get(url, {"year": "2022"}, headers=EN).content.decode()
    assert organisation.name in page and other.name in page and "No record for this year yet." in page
    response = client.post(
        url,
        {"organisation": other.pk, "year": "2022", "verified_emissions_t": "5000", "allowance_t": "4000"},
        headers=EN,
    )
    assert response.status_code == 302
    record = ComplianceRecord.objects.get(organisation=other, year=2022)
    assert (record.verified_emissions_t, record.allowance_t) == (5000, 4000)
    again = client.post(
        url,
        {"organisation": other.pk, "year": "2022", "verified_emissions_t": "1", "allowance_t": "1"},
        headers=EN,
    )
    assert again.status_code == 400 and "has a record for 2022 already" in again.content.decode()
    client.post(
        reverse("offsets:office_record", args=[record.pk]),
        {"verified_emissions_t": "6000", "allowance_t": "4000"},
    )
    record.refresh_from_db()
    assert record.verified_emissions_t == 6000
    # The cap follows the record: 10 % of 6,000 t.
    page = client.get(reverse("offsets:office_record", args=[record.pk]), headers=EN).content.decode()
    assert "<strong>600 t</strong>" in page


@pytest.mark.parametrize(
    "change, message",
    [
        ({"verified_emissions_t": "-1"}, "Give a number of tonnes, 0 or more."),
        ({"allowance_t": "10000000000000"}, "The figure may not exceed 1000000000000 t."),
        ({"year": "20222"}, "Give a year up to 2100."),
        ({"organisation": "not-covered"}, "Select a valid choice."),
    ],
)
def test_bad_records_are_refused_with_a_message(client, people, emitter, change, message):
    organisation, _account = emitter
    stranger = make_organisation()  # an enterprise not on the covered-emitter list
    data = {
        "organisation": organisation.pk,
        "year": "2023",
        "verified_emissions_t": "10",
        "allowance_t": "10",
    }
    data.update(change)
    if data["organisation"] == "not-covered":
        data["organisation"] = stranger.pk
    as_user(client, people["registry_admin"])
    response = client.post(reverse("offsets:office_records"), data, headers=EN)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ComplianceRecord.objects.filter(year__in=[2023, 20222]).exists()


def test_a_bad_year_in_the_address_is_a_bad_request(client, people):
    as_user(client, people["registry_admin"])
    assert client.get(reverse("offsets:office_records"), {"year": "２０２２"}).status_code == 400


# --- Boundaries ----------------------------------------------------------------------------------------


def test_installations_are_added_to_a_boundary(client, people, emitter):
    organisation, _account = emitter
    url = reverse("offsets:office_boundary", args=[organisation.pk])
    as_user(client, people["registry_admin"])
    assert client.post(url, {"name": "  ", "address": ""}, headers=EN).status_code == 400
    assert client.post(url, {"name": "x" * 201}, headers=EN).status_code == 400
    assert not Installation.objects.exists()
    response = client.post(
        url, {"name": "No. 2 blast furnace", "address": "Qingshan"}, headers=EN, follow=True
    )
    assert "No. 2 blast furnace" in response.content.decode()
    assert Installation.objects.get().organisation == organisation


def test_a_household_has_no_boundary(client, people):
    from tests.factories import identity_number

    household = make_organisation(kind="household", name="张伟", identifier=identity_number())
    as_user(client, people["registry_admin"])
    response = client.post(
        reverse("offsets:office_boundary", args=[household.pk]), {"name": "Home"}, headers=EN
    )
    assert (
        response.status_code == 400
        and "Only an enterprise has a compliance boundary." in response.content.decode()
    )
    assert not Installation.objects.exists()


# --- The boundary link on the case screen --------------------------------------------------------------


def test_the_technical_reviewer_links_a_project_from_the_case_screen(client, people, source, emitter):
    organisation, _account = emitter
    installation = compliance.add_installation(
        by=people["registry_admin"], organisation=organisation, name="Plant"
    )
    project = source.issuances.get().project
    case = reverse("projects:office_case", args=["projects", project.pk])
    as_user(client, people["intake_officer"])
    page = client.get(case, headers=EN).content.decode()
    assert "Not linked to any covered emitter's boundary." in page and "boundary-link-form" not in page
    as_user(client, people["technical_reviewer"])
    assert "boundary-link-form" in client.get(case, headers=EN).content.decode()
    response = client.post(
        reverse("offsets:office_link_boundary", args=[project.pk]),
        {"emitter": organisation.pk, "installation": installation.pk, "next": case},
        headers=EN,
        follow=True,
    )
    assert response.redirect_chain[-1][0] == case
    link = BoundaryLink.objects.get(project=project)
    assert (link.emitter, link.installation, link.linked_by) == (
        organisation,
        installation,
        people["technical_reviewer"],
    )
    assert "This project lies inside the compliance boundary of" in response.content.decode()
    # And out again: no emitter.
    client.post(reverse("offsets:office_link_boundary", args=[project.pk]), {"emitter": ""})
    assert not BoundaryLink.objects.filter(project=project).exists()


def test_a_link_to_another_emitters_installation_or_elsewhere_is_refused(client, people, source, emitter):
    organisation, _account = emitter
    other, _ = covered_emitter(people, year=2023)
    elsewhere = compliance.add_installation(
        by=people["registry_admin"], organisation=other, name="Other plant"
    )
    project = source.issuances.get().project
    as_user(client, people["technical_reviewer"])
    response = client.post(
        reverse("offsets:office_link_boundary", args=[project.pk]),
        {"emitter": organisation.pk, "installation": elsewhere.pk, "next": "https://evil.example/"},
        headers=EN,
    )
    assert response.url == reverse("projects:office_case", args=["projects", project.pk])  # never off-site
    messages = client.get(response.url, headers=EN).content.decode()
    assert "That installation is not inside this emitter&#x27;s boundary." in messages
    assert not BoundaryLink.objects.exists()


def test_only_the_technical_reviewer_links(client, people, source, emitter):
    project = source.issuances.get().project
    for who in (people["registry_admin"], people["approver"], admin_of(source.organisation)):
        as_user(client, who)
        response = client.post(
            reverse("offsets:office_link_boundary", args=[project.pk]), {"emitter": emitter[0].pk}
        )
        assert response.status_code == 403
    assert not BoundaryLink.objects.exists()
