"""Random sequences of ledger operations over three accounts, checked after every step (issue 12).

A Hypothesis state machine drives the real services: registering one of a few closed phases (issue),
requesting transfers (first in, first out or from named blocks), confirming, rejecting and cancelling
them, voluntary retirements, cancellations by the registry administrator, and compliance offsets by one
of the three, a covered emitter (request, confirm, reject, withdraw). It keeps its own model of what each
account should hold, reserve, retire and cancel, and of the emitter's compliance record. After every
step: verify_ledger's check finds nothing, the accounts' blocks are the model's figures, and every
refusal it predicted was raised and changed nothing.

The world (people, three accounts with credits of a registered phase, closed phases to register, the
compliance policy) is made once per module; each example runs in a savepoint rolled back at its end.
The everyday profile runs a few short examples; the `fuzz` marker runs many longer ones.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from offsets import compliance, issuing, ledger, ledger_checks, retirements, transfers
from offsets.models import (
    Account,
    BeneficiaryKind,
    BlockStatus,
    CapBasis,
    ComplianceRecord,
    Issuance,
    IssuancePhase,
    Retirement,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from registry import services
from registry.services import TransitionRefused
from tests.factories import admin_of, approved_declaration, closed_phase, registered_phase, reviewers

pytestmark = pytest.mark.django_db

# Everyday: a failure is reported as found, not shrunk (shrinking steps that cost 50-100 ms each takes
# minutes, past the suite's 120 s timeout, whose interruption Hypothesis would then report as a flaky
# failure). Deep: shrunk to a minimal sequence, with a timeout to match.
EVERYDAY = {
    "max_examples": 6,
    "stateful_step_count": 20,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
}
DEEP = {"max_examples": 60, "stateful_step_count": 40}
YEAR = 2022  # the compliance year the emitter (the first account) offsets
CAP = 40  # 10 % of its verified emissions of 400 t
QUANTITIES = st.integers(min_value=1, max_value=90)  # a holding starts at 68 t: some asks are too many


@dataclass
class World:
    people: dict
    accounts: list[Account]
    holders: list  # the admin of each account's organisation
    phases: list[int]  # closed phases, one declaration each, ready to register
    start: dict[int, dict[str, int]] = field(default_factory=dict)  # holdings at the start of an example


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once, inside a transaction rolled back after the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        people = reviewers()
        registered_phase(people, count=3)
        issuances = list(Issuance.objects.order_by("first_unit").select_related("account__organisation"))
        accounts = [i.account for i in issuances]
        phases = []
        # Later vintages (2023, 2024) and a unit order that is not the vintage order: first in, first out
        # takes the oldest vintage first, whatever its units.
        for n, (owner, vintage) in enumerate([(0, 2024), (1, 2023), (2, 2023), (0, 2023)], start=2):
            declaration = approved_declaration(
                people,
                project=issuances[owner].project,
                start=date(vintage, 1, 1),
                end=date(vintage, 12, 31),
            )
            phases.append(closed_phase([declaration], people, code=f"2024P{n:02d}").pk)
        registrar = people["registry_admin"]
        emitter = services.set_covered_emitter(
            accounts[0].organisation, flag=True, by=registrar, reason="On the list"
        )
        accounts[0].organisation = emitter
        today = timezone.localdate()
        compliance.save_policy(
            by=registrar,
            year=YEAR,
            first_vintage=2022,
            last_vintage=2024,
            conversion=Decimal("1"),
            cap_basis=CapBasis.EMISSIONS,
            cap_percent=Decimal("10"),
            window_opens=today - timedelta(days=30),
            window_closes=today + timedelta(days=30),
        )
        compliance.save_record(
            by=registrar, organisation=emitter, year=YEAR, verified_emissions_t=CAP * 10, allowance_t=1000
        )
        assert list(ledger_checks.check()) == []
        world = World(
            people=people,
            accounts=accounts,
            holders=[admin_of(a.organisation) for a in accounts],
            phases=phases,
            start={a.pk: ledger.holdings(a) for a in accounts},
        )
        yield world
        transaction.set_rollback(True)


class LedgerMachine(RuleBasedStateMachine):
    world: World  # set by the test before it runs the machine

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        world = self.world
        self.accounts, self.holders = world.accounts, world.holders
        self.registrar, self.approver = world.people["registry_admin"], world.people["approver"]
        self.model = {pk: dict(held) for pk, held in world.start.items()}
        self.unregistered = list(world.phases)
        self.transfers: dict[int, tuple[int, int, int]] = {}  # pending: pk -> (from, to, quantity)
        self.offsets: dict[int, int] = {}  # pending: pk -> quantity
        self.closed: list[tuple[str, int]] = []  # transfers and offsets no longer pending
        self.used = self.pending = 0  # the emitter's compliance record, in tonnes

    def teardown(self):
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    # --- helpers ---

    def pk(self, index: int) -> int:
        return self.accounts[index].pk

    def account(self, index: int) -> Account:
        return Account.objects.select_related("organisation").get(pk=self.pk(index))

    def draw_quantity(self, data, index: int, *, named: bool):
        """(quantity, block ids or None, free t to take from): from the whole holding or named blocks."""
        if not named:
            return data.draw(QUANTITIES, label="quantity"), None, self.model[self.pk(index)]["held"]
        held = list(
            SerialBlock.objects.filter(account_id=self.pk(index), status=BlockStatus.HELD).order_by("pk")
        )
        if not held:
            return data.draw(QUANTITIES, label="quantity"), None, 0
        blocks = data.draw(st.lists(st.sampled_from(held), min_size=1, unique=True), label="named blocks")
        free = sum(b.quantity for b in blocks)
        quantity = data.draw(st.integers(min_value=1, max_value=free + 3), label="quantity")
        return quantity, [b.pk for b in blocks], free

    def move(self, pk: int, **changes) -> None:
        holding = self.model[pk]
        for status, tonnes in changes.items():
            holding[status] += tonnes

    # --- rules ---

    @precondition(lambda self: self.unregistered)
    @rule(data=st.data())
    def issue(self, data):
        pk = data.draw(st.sampled_from(self.unregistered), label="phase")
        self.unregistered.remove(pk)
        event("issue")
        phase = issuing.register_phase(IssuancePhase.objects.get(pk=pk), by=self.approver)
        for issuance in phase.issuances.all():
            self.move(issuance.account_id, held=issuance.quantity)

    @initialize(source=st.integers(0, 2), step=st.integers(1, 2), quantity=st.integers(1, 68))
    def start_with_a_pending_transfer(self, source, step, quantity):
        """Every example has a transfer to decide (each account starts with 68 t)."""
        self.transfer(source, (source + step) % 3, quantity, None, self.model[self.pk(source)]["held"])

    # `target` is a keyword of rule(): the receiving account is `step` accounts after the source (0: the
    # source itself, refused).
    @rule(
        source=st.integers(0, 2), step=st.sampled_from([1, 2, 1, 2, 0]), named=st.booleans(), data=st.data()
    )
    def request_transfer(self, source, step, named, data):
        quantity, block_ids, free = self.draw_quantity(data, source, named=named)
        self.transfer(source, (source + step) % 3, quantity, block_ids, free)

    def transfer(self, source: int, to: int, quantity: int, block_ids, free: int) -> None:
        def call():
            return transfers.request_transfer(
                self.account(source),
                by=self.holders[source],
                to_number=self.accounts[to].number,
                quantity=quantity,
                block_ids=block_ids,
            )

        if source == to:
            event("transfer: refused, same account")
            with pytest.raises(TransitionRefused, match="cannot be transferred to the account they are in"):
                call()
        elif quantity > free:
            event("transfer: refused, not enough")
            with pytest.raises(ledger.LedgerRefused):
                call()
        else:
            event(f"transfer: requested{' from named blocks' if block_ids else ''}")
            transfer = call()
            assert transfer.status == TransferStatus.PENDING and transfer.quantity == quantity
            self.transfers[transfer.pk] = (self.pk(source), self.pk(to), quantity)
            self.move(self.pk(source), held=-quantity, reserved=quantity)

    def pending_transfer(self, data, decision: str) -> tuple[Transfer, int, int, int]:
        pk = data.draw(st.sampled_from(sorted(self.transfers)), label="transfer")
        event(f"transfer: {decision}")
        self.closed.append(("transfer", pk))
        return Transfer.objects.get(pk=pk), *self.transfers.pop(pk)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def confirm_transfer(self, data):
        transfer, source, to, quantity = self.pending_transfer(data, "confirmed")
        transfers.confirm_transfer(transfer, by=self.registrar)
        self.move(source, reserved=-quantity)
        self.move(to, held=quantity)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def reject_transfer(self, data):
        transfer, source, _to, quantity = self.pending_transfer(data, "rejected")
        transfers.reject_transfer(transfer, by=self.registrar, reasons="Not in order")
        self.move(source, reserved=-quantity, held=quantity)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def cancel_transfer(self, data):
        transfer, source, _to, quantity = self.pending_transfer(data, "cancelled")
        holder = self.holders[[a.pk for a in self.accounts].index(source)]
        transfers.cancel_transfer(transfer, by=holder)
        self.move(source, reserved=-quantity, held=quantity)

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def act_on_something_closed(self, data):
        """A second decision on a transfer or offset that is no longer pending is refused."""
        kind, pk = data.draw(st.sampled_from(self.closed), label="closed")
        event(f"{kind}: decided twice, refused")
        if kind == "transfer":
            with pytest.raises(TransitionRefused, match="this step is not possible now"):
                transfers.confirm_transfer(Transfer.objects.get(pk=pk), by=self.registrar)
        else:
            with pytest.raises(TransitionRefused, match="this step is not possible now"):
                retirements.confirm_offset(Retirement.objects.get(pk=pk), by=self.registrar)

    @rule(source=st.integers(0, 2), named=st.booleans(), data=st.data())
    def retire(self, source, named, data):
        quantity, block_ids, free = self.draw_quantity(data, source, named=named)

        def call():
            return retirements.retire_voluntarily(
                self.account(source),
                by=self.holders[source],
                quantity=quantity,
                beneficiary_kind=BeneficiaryKind.PERSON,
                beneficiary="张三",
                purpose="A carbon-neutral wedding",
                block_ids=block_ids,
            )

        if quantity > free:
            event("retirement: refused, not enough")
            with pytest.raises(ledger.LedgerRefused):
                call()
        else:
            event(f"retirement: made{' from named blocks' if block_ids else ''}")
            retirement = call()
            assert retirement.quantity == quantity and len(retirement.reference) == len("WHCER-R-2026-000001")
            self.move(self.pk(source), held=-quantity, retired=quantity)

    @rule(source=st.integers(0, 2), quantity=QUANTITIES)
    def cancel_credits(self, source, quantity):
        def call():
            return retirements.cancel_credits(
                self.account(source), by=self.registrar, quantity=quantity, reasons="Entered twice"
            )

        if quantity > self.model[self.pk(source)]["held"]:
            event("cancellation: refused, not enough")
            with pytest.raises(ledger.LedgerRefused):
                call()
        else:
            event("cancellation: made")
            call()
            self.move(self.pk(source), held=-quantity, cancelled=quantity)

    @rule(quantity=st.integers(1, 30))
    def request_offset(self, quantity):
        def call():
            return retirements.request_offset(
                self.account(0), by=self.holders[0], year=YEAR, quantity=quantity
            )

        if self.used + self.pending + quantity > CAP:
            event("offset: refused, cap")
            with pytest.raises(compliance.RuleBroken) as refused:
                call()
            assert refused.value.rule == "cap"
        elif quantity > self.model[self.pk(0)]["held"]:
            event("offset: refused, not enough")
            with pytest.raises(compliance.RuleBroken) as refused:
                call()
            assert refused.value.rule == "eligible_credits"
        else:
            event("offset: requested")
            retirement = call()
            self.offsets[retirement.pk] = quantity
            self.pending += quantity
            self.move(self.pk(0), held=-quantity, reserved=quantity)

    def pending_offset(self, data, decision: str) -> tuple[Retirement, int]:
        pk = data.draw(st.sampled_from(sorted(self.offsets)), label="offset")
        event(f"offset: {decision}")
        self.closed.append(("offset", pk))
        quantity = self.offsets.pop(pk)
        self.pending -= quantity
        return Retirement.objects.get(pk=pk), quantity

    @precondition(lambda self: self.offsets)
    @rule(data=st.data())
    def confirm_offset(self, data):
        retirement, quantity = self.pending_offset(data, "confirmed")
        retirements.confirm_offset(retirement, by=self.registrar)
        self.used += quantity
        self.move(self.pk(0), reserved=-quantity, retired=quantity)

    @precondition(lambda self: self.offsets)
    @rule(data=st.data())
    def reject_offset(self, data):
        retirement, quantity = self.pending_offset(data, "rejected")
        retirements.reject_offset(retirement, by=self.registrar, reasons="Wrong year")
        self.move(self.pk(0), reserved=-quantity, held=quantity)

    @precondition(lambda self: self.offsets)
    @rule(data=st.data())
    def withdraw_offset(self, data):
        retirement, quantity = self.pending_offset(data, "withdrawn")
        retirements.withdraw_offset(retirement, by=self.holders[0])
        self.move(self.pk(0), reserved=-quantity, held=quantity)

    # --- after every step ---

    @invariant()
    def the_ledger_verifies(self):
        assert [str(v) for v in ledger_checks.check()] == []

    @invariant()
    def the_accounts_hold_what_the_model_says(self):
        for account in self.accounts:
            assert ledger.holdings(account) == self.model[account.pk], account.number
        assert set(
            Transfer.objects.filter(status=TransferStatus.PENDING).values_list("pk", flat=True)
        ) == set(self.transfers)
        record = ComplianceRecord.objects.get(organisation=self.accounts[0].organisation, year=YEAR)
        assert (record.offsets_used_t, record.offsets_pending_t) == (self.used, self.pending)
        assert record.offsets_used_t + record.offsets_pending_t <= CAP


def run(world, profile: dict) -> None:
    LedgerMachine.world = world
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            **profile,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            print_blob=False,
        ),
    )


def test_random_ledger_operations_keep_every_invariant(world):
    run(world, EVERYDAY)


@pytest.mark.fuzz
@pytest.mark.timeout(1200)
def test_random_ledger_operations_keep_every_invariant_deep(world):
    run(world, DEEP)
