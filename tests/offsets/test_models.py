"""The domain's reads: a public phase, a live phase entry, a live serial block."""

from datetime import date

import pytest
from django.core.management import call_command
from django.utils import timezone

from offsets import ledger_checks
from offsets.models import BlockStatus, IssuancePhase, PhaseEntry, PhaseStatus, SerialBlock
from tests.factories import (
    file_project,
    make_bureau,
    make_declaration,
    make_project,
    registered_phase,
    reviewers,
)

pytestmark = pytest.mark.django_db


def test_public_phases_are_those_whose_notice_was_published():
    assembler = make_bureau("registry_admin")
    for n, status in enumerate(PhaseStatus.values):
        IssuancePhase.objects.create(
            code=f"2023P{n:02d}", title_zh="批次", title_en="Phase", status=status, assembled_by=assembler
        )
    public = set(IssuancePhase.objects.public().values_list("status", flat=True))
    assert public == {PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED, PhaseStatus.REGISTERED}
    assert {p.status for p in IssuancePhase.objects.all() if p.is_public} == public


def test_live_phase_entries_leave_out_those_taken_out_of_their_phase():
    project = file_project(make_project())
    kept = make_declaration(project)
    taken_out = make_declaration(project, start=date(2023, 1, 1), end=date(2023, 12, 31))
    phase = IssuancePhase.objects.create(
        code="2023P01", title_zh="批次", title_en="Phase", assembled_by=make_bureau("registry_admin")
    )
    live = PhaseEntry.objects.create(phase=phase, declaration=kept)
    PhaseEntry.objects.create(
        phase=phase, declaration=taken_out, removed_at=timezone.now(), removed_reason="x"
    )
    assert list(PhaseEntry.objects.live()) == [live]
    assert list(phase.entries.live()) == [live]


def test_live_blocks_leave_out_split_ones_whose_units_live_on_in_their_children():
    registered_phase(reviewers(), count=1)
    parent = SerialBlock.objects.get()
    middle = parent.first_unit + parent.quantity // 2
    SerialBlock.objects.filter(pk=parent.pk).update(status=BlockStatus.SPLIT)
    children = [
        SerialBlock.objects.create(
            issuance=parent.issuance,
            account=parent.account,
            parent=parent,
            first_unit=first,
            last_unit=last,
            status=status,
        )
        for first, last, status in [
            (parent.first_unit, middle - 1, BlockStatus.HELD),
            (middle, parent.last_unit, BlockStatus.HELD),
        ]
    ]
    assert list(SerialBlock.objects.live()) == children
    assert list(parent.issuance.blocks.live()) == children
    call_command("verify_ledger")  # the split is whole: the children cover the parent's units
    totals = ledger_checks.totals()
    assert totals["held"] + totals["reserved"] == parent.quantity  # the parent's units counted once
