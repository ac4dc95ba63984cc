"""A small world for the ledger's tests: a holder with registered credits, a receiver, a covered emitter
with its 2022 policy and record, and the bureau's people."""

from datetime import date
from decimal import Decimal

from offsets import compliance, ledger
from offsets.models import Issuance
from registry.services import set_covered_emitter
from tests.factories import admin_of, make_organisation, registered_phase


def holder_account(people, count: int = 1, *, code: str = "2023P01"):
    """The account of the first organisation of a newly registered phase (vintage 2022)."""
    registered_phase(people, count=count, code=code)
    return Issuance.objects.filter(phase__code=code).order_by("first_unit").first().account


def covered_emitter(
    people, *, year: int = 2022, emissions: int = 1000, percent: str = "10", basis="emissions"
):
    """A verified enterprise on the covered-emitter list, its account, the year's policy and record."""
    emitter = make_organisation()
    set_covered_emitter(emitter, flag=True, by=people["registry_admin"], reason="On the list.")
    emitter.refresh_from_db()
    compliance.save_policy(
        by=people["registry_admin"],
        year=year,
        first_vintage=year - 2,
        last_vintage=year,
        conversion=Decimal("1"),
        cap_basis=basis,
        cap_percent=Decimal(percent),
        window_opens=date(2000, 1, 1),
        window_closes=date(2099, 12, 31),
    )
    compliance.save_record(
        by=people["registry_admin"],
        organisation=emitter,
        year=year,
        verified_emissions_t=emissions,
        allowance_t=emissions * 2,
    )
    return emitter, ledger.open_account(emitter)


def give(people, source, target, quantity: int):
    """Move `quantity` from one account to another through a confirmed transfer."""
    from offsets import transfers

    transfer = transfers.request_transfer(
        source, by=admin_of(source.organisation), to_number=target.number, quantity=quantity
    )
    return transfers.confirm_transfer(transfer, by=people["registry_admin"])


def receiver():
    return ledger.open_account(make_organisation())


def fund(people, target, at_least: int, *, code: str = "2023P90", vintage: int = 2022) -> int:
    """Register a phase whose credits (of `vintage`) all move to `target` until it holds `at_least` t more.
    Returns the tonnes given."""
    given, count = 0, 0
    while given < at_least:
        count += 1
        registered_phase(people, count=1, code=f"{code}{count}")
        issuance = Issuance.objects.get(phase__code=f"{code}{count}")
        Issuance.objects.filter(pk=issuance.pk).update(vintage=vintage)
        give(people, issuance.account, target, issuance.quantity)
        given += issuance.quantity
    return given
