"""manage.py generate_load (bench/load.py): a small fill is consistent: the ledger and the audit chain
verify, every review stage and phase status is there, and the counts are those asked."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from offsets import ledger_checks
from offsets.models import (
    Issuance,
    IssuancePhase,
    NoticeVersion,
    PhaseStatus,
    Retirement,
    RetirementKind,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from projects.models import Declaration, Project, Stage
from registry.audit import Break, verify_chain
from registry.models import AuditEvent, Counter, Organisation, OrganisationKind
from tests.factories import make_organisation

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SMALL = {
    "organisations": 20,
    "projects": 100,
    "declarations": 400,
    "phases": 10,
    "transfers": 30,
    "retirements": 40,
    "real-operations": 2,
}


def generate_load(*extra: str, **counts) -> str:
    out = StringIO()
    arguments = [f"--{name}={value}" for name, value in {**SMALL, **counts}.items()]
    call_command("generate_load", *arguments, *extra, stdout=out)
    return out.getvalue()


def chain_breaks() -> list[Break]:
    return [outcome for outcome in verify_chain() if isinstance(outcome, Break)]


def test_it_fills_consistent_data_at_the_scale_asked():
    out = generate_load()

    assert "Ledger intact" in out and "Audit chain intact" in out
    assert list(ledger_checks.check()) == []
    assert chain_breaks() == []
    assert Organisation.objects.count() == 20
    assert Project.objects.count() == 100
    assert Declaration.objects.count() == 400
    assert IssuancePhase.objects.count() == 10
    assert set(Declaration.objects.values_list("stage", flat=True)) == set(Stage.values)
    assert set(IssuancePhase.objects.values_list("status", flat=True)) == set(PhaseStatus.values)
    # 30 simulated, then 2 confirmed and 1 left pending through the real services.
    assert Transfer.objects.count() == 33
    assert Transfer.objects.filter(status=TransferStatus.PENDING).exists()
    assert Transfer.objects.filter(status=TransferStatus.COMPLETED).count() >= 2
    # 40 simulated (one in 20 a cancellation), then 2 voluntary and 1 cancellation through the services.
    assert Retirement.objects.count() == 43
    assert Retirement.objects.filter(kind=RetirementKind.CANCELLATION).count() == 3
    # Blocks were split, moved and retired; each issuance was registered with its event.
    assert SerialBlock.objects.filter(parent__isnull=False).exists()
    assert Issuance.objects.count() == AuditEvent.objects.filter(action="credits.issued").count() > 0
    # Every published notice version has the rows its page pages through, one per row of its snapshot.
    versions = list(NoticeVersion.objects.all())
    assert versions and all(v.rows.count() == len(v.snapshot["rows"]) for v in versions)
    # The portal numbers on from where the fill ends.
    last_unit = Issuance.objects.order_by("-last_unit").values_list("last_unit", flat=True).first()
    assert Counter.objects.get(name="serial-units").value == last_unit


def test_append_adds_to_a_filled_database_which_still_verifies():
    generate_load(organisations=10, projects=40, declarations=80, phases=3, transfers=5, retirements=5)
    events = AuditEvent.objects.count()

    generate_load(
        "--append",
        "--seed=7",
        organisations=10,
        projects=40,
        declarations=80,
        phases=3,
        transfers=5,
        retirements=5,
    )

    assert Organisation.objects.count() == 20
    assert Declaration.objects.count() == 160
    assert IssuancePhase.objects.count() == 6
    assert AuditEvent.objects.count() > 2 * events - 100
    assert list(ledger_checks.check()) == []
    assert chain_breaks() == []


def test_it_refuses_a_database_that_holds_data_without_append():
    make_organisation(kind=OrganisationKind.ENTERPRISE)

    with pytest.raises(CommandError, match="--append"):
        generate_load()

    assert Project.objects.count() == 0


def test_it_refuses_a_database_not_named_for_benchmarks(monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "NAME", "carbon_registry")

    with pytest.raises(SystemExit, match="Refusing to run"):
        generate_load()

    assert Organisation.objects.count() == 0
