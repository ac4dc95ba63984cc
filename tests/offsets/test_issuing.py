import threading
from datetime import date, datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from offsets import issuing
from offsets.models import (
    Certificate,
    Issuance,
    IssuancePhase,
    NoticeVersion,
    Objection,
    PhaseEntry,
    PhaseStatus,
    SerialBlock,
)
from projects.models import Stage
from registry.services import TransitionRefused
from tests.factories import approved_declaration, closed_phase, make_bureau, phase_in_notice, reviewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


def aware(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


class TestAssembly:
    def test_only_approved_declarations_in_no_other_phase_are_added(self, people):
        declaration = approved_declaration(people)
        phase = issuing.create_phase(
            code="2023p01", title_zh="一", title_en="one", by=people["registry_admin"]
        )
        assert phase.code == "2023P01"
        issuing.add_to_phase(phase, by=people["registry_admin"], declarations=[declaration])
        other = issuing.create_phase(
            code="2023P02", title_zh="二", title_en="two", by=people["registry_admin"]
        )
        with pytest.raises(TransitionRefused, match="no other phase"):
            issuing.add_to_phase(other, by=people["registry_admin"], declarations=[declaration])

    def test_the_database_keeps_a_declaration_in_one_live_phase(self, people):
        declaration = approved_declaration(people)
        first = issuing.create_phase(code="A1", title_zh="一", title_en="one", by=people["registry_admin"])
        second = issuing.create_phase(code="A2", title_zh="二", title_en="two", by=people["registry_admin"])
        PhaseEntry.objects.create(phase=first, declaration=declaration)
        with pytest.raises(IntegrityError), transaction.atomic():
            PhaseEntry.objects.create(phase=second, declaration=declaration)

    def test_totals_per_methodology(self, people):
        declarations = [approved_declaration(people), approved_declaration(people)]
        phase = issuing.create_phase(code="T1", title_zh="一", title_en="one", by=people["registry_admin"])
        issuing.add_to_phase(phase, by=people["registry_admin"], declarations=declarations)
        totals = issuing.totals(phase)
        assert totals["declarations"] == 2 and totals["tonnes"] == sum(d.verified_t for d in declarations)
        assert [code for code, _ in totals["per_methodology"]] == ["PV"]

    def test_the_assembler_cannot_approve_its_own_phase(self, people):
        both = make_bureau("registry_admin", "approver")
        phase = issuing.create_phase(code="F1", title_zh="一", title_en="one", by=both)
        issuing.add_to_phase(phase, by=both, declarations=[approved_declaration(people)])
        issuing.submit_phase(phase, by=both)
        with pytest.raises(TransitionRefused, match="another approver"):
            issuing.approve_for_notice(phase, by=both)
        issuing.send_back_phase(phase, by=people["approver"], reasons="Add the second declaration")
        phase.refresh_from_db()
        assert phase.status == PhaseStatus.DRAFTING and "second" in phase.status_note

    def test_only_registry_administrators_assemble(self, people):
        with pytest.raises(PermissionDenied):
            issuing.create_phase(code="X1", title_zh="一", title_en="one", by=people["approver"])


class TestNotice:
    def test_dates_across_national_day_2023_with_makeup_days(self, people):
        # Published Thu 28 Sep 2023: day 1; 29 Sep – 6 Oct off; Sat 7 and Sun 8 Oct worked.
        phase = phase_in_notice([approved_declaration(people)], people, today=date(2023, 9, 28))
        assert (phase.notice_start, phase.notice_end) == (date(2023, 9, 28), date(2023, 10, 12))

    def test_a_notice_published_on_a_holiday_starts_on_the_next_working_day(self, people):
        phase = phase_in_notice([approved_declaration(people)], people, today=date(2023, 10, 2))
        assert phase.notice_start == date(2023, 10, 7)  # the makeup Saturday
        assert phase.notice_end == date(2023, 10, 13)

    def test_objections_are_accepted_until_235959_on_the_last_day(self, people):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people, today=date(2023, 12, 7))  # ends Fri 15 Dec
        data = {
            "declaration": declaration,
            "name": "王某",
            "organisation": "",
            "email": "w@example.com",
            "phone": "",
            "reasons": "Double counting",
        }
        objection = issuing.file_objection(phase, now=aware(2023, 12, 15, 23, 59, 59), **data)
        assert objection.reference == "OBJ-2023P01-001"
        with pytest.raises(TransitionRefused, match="ended"):
            issuing.file_objection(phase, now=aware(2023, 12, 16, 0, 0, 0), **data)
        assert Objection.objects.count() == 1

    def test_an_objection_needs_a_way_to_reach_the_objector(self, people):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError):
            issuing.file_objection(
                phase, declaration=declaration, name="x", organisation="", email="", phone="", reasons="r"
            )

    def test_a_hostile_attachment_is_refused_and_nothing_stored(self, people):
        from django.core.exceptions import ValidationError

        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        with pytest.raises(ValidationError):
            issuing.file_objection(
                phase,
                declaration=declaration,
                name="x",
                organisation="",
                email="x@e.com",
                phone="",
                reasons="r",
                attachment=ContentFile(b"<script>", name="a.pdf"),
            )
        assert not Objection.objects.exists()

    def test_upheld_objection_takes_the_declaration_out_and_versions_the_notice(self, people):
        keep, contested = approved_declaration(people), approved_declaration(people)
        phase = phase_in_notice([keep, contested], people, today=date(2023, 12, 7))
        end_before = phase.notice_end
        objection = issuing.file_objection(
            phase,
            declaration=contested,
            name="x",
            organisation="",
            email="x@e.com",
            phone="",
            reasons="Panels counted twice",
            now=aware(2023, 12, 8, 10),
        )
        issuing.rule_objection(objection, by=people["technical_reviewer"], upheld=True, reasons="Confirmed")
        contested.refresh_from_db()
        phase.refresh_from_db()
        assert contested.stage == Stage.TECHNICAL and contested.verified_t is None
        assert [e.declaration for e in issuing.live_entries(phase)] == [keep]
        versions = list(NoticeVersion.objects.filter(phase=phase).order_by("version"))
        assert [v.version for v in versions] == [1, 2]
        assert len(versions[0].snapshot["rows"]) == 2 and len(versions[1].snapshot["rows"]) == 1
        assert versions[1].reason == objection.reference  # phrased by the page in the reader's language
        assert phase.notice_end == end_before  # the period does not restart

    def test_dismissed_objection_changes_nothing_but_its_status(self, people):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        objection = issuing.file_objection(
            phase, declaration=declaration, name="x", organisation="", email="x@e.com", phone="", reasons="r"
        )
        issuing.rule_objection(
            objection, by=people["technical_reviewer"], upheld=False, reasons="No evidence"
        )
        assert issuing.live_entries(phase).count() == 1
        with pytest.raises(TransitionRefused):
            issuing.rule_objection(objection, by=people["technical_reviewer"], upheld=True, reasons="again")

    def test_only_technical_reviewers_rule(self, people):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        objection = issuing.file_objection(
            phase, declaration=declaration, name="x", organisation="", email="x@e.com", phone="", reasons="r"
        )
        with pytest.raises(PermissionDenied):
            issuing.rule_objection(objection, by=people["approver"], upheld=False, reasons="no")

    def test_the_notice_closes_by_itself_after_the_last_day(self, people):
        phase = phase_in_notice([approved_declaration(people)], people, today=date(2023, 12, 7))
        assert issuing.close_due_notices(now=aware(2023, 12, 15, 23, 59, 59)) == []
        assert issuing.close_due_notices(now=aware(2023, 12, 16, 0, 0, 1)) == ["2023P01"]
        assert issuing.close_due_notices(now=aware(2023, 12, 17)) == []  # twice: nothing more
        phase.refresh_from_db()
        assert phase.status == PhaseStatus.CLOSED

    def test_close_notices_command_is_the_same_job(self, people, capsys):
        phase = phase_in_notice([approved_declaration(people)], people, today=date(2020, 1, 6))
        call_command("close_notices")
        phase.refresh_from_db()
        assert phase.status == PhaseStatus.CLOSED
        assert "2023P01" in capsys.readouterr().out


class TestRegistration:
    def test_registration_credits_serial_blocks_to_the_owners(self, people):
        declarations = [approved_declaration(people), approved_declaration(people)]
        phase = closed_phase(declarations, people)
        issuing.register_phase(phase, by=people["approver"])
        issuances = list(Issuance.objects.order_by("first_unit"))
        assert [i.quantity for i in issuances] == [d.verified_t for d in declarations]
        assert issuances[0].first_unit == 1 and issuances[1].first_unit == issuances[0].last_unit + 1
        assert issuances[0].serial == (
            f"WHCER-2023P01-{declarations[0].project.code}-2022-000000001-{issuances[0].last_unit:09d}"
        )
        assert SerialBlock.objects.count() == 2  # one row per block, never one per tonne
        assert Certificate.objects.filter(kind="registration").count() == 2
        phase.refresh_from_db()
        assert phase.status == PhaseStatus.REGISTERED and phase.announcement.number.startswith("WHCER-A-")
        call_command("verify_ledger")

    def test_a_phase_with_an_objection_awaiting_a_ruling_cannot_be_registered(self, people):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people, today=date(2023, 12, 7))
        issuing.file_objection(
            phase,
            declaration=declaration,
            name="x",
            organisation="",
            email="x@e.com",
            phone="",
            reasons="r",
            now=aware(2023, 12, 8),
        )
        issuing.close_notice(phase, now=aware(2023, 12, 16, 1))
        with pytest.raises(TransitionRefused, match="awaits a ruling"):
            issuing.register_phase(phase, by=people["approver"])
        assert not Issuance.objects.exists()

    def test_a_failure_in_the_middle_leaves_nothing(self, people, monkeypatch):
        phase = closed_phase([approved_declaration(people), approved_declaration(people)], people)

        def failing_bulk_create(*args, **kwargs):  # after the issuances and blocks were written
            raise RuntimeError("disk full")

        monkeypatch.setattr(Certificate.objects, "bulk_create", failing_bulk_create)
        with pytest.raises(RuntimeError):
            issuing.register_phase(phase, by=people["approver"])
        phase.refresh_from_db()
        assert phase.status == PhaseStatus.CLOSED
        assert (Issuance.objects.count(), SerialBlock.objects.count(), Certificate.objects.count()) == (
            0,
            0,
            0,
        )
        from registry.models import Counter

        assert not Counter.objects.filter(name="serial-units", value__gt=0).exists()
        monkeypatch.undo()
        issuing.register_phase(phase, by=people["approver"])  # and it can still be registered
        assert Issuance.objects.get(declaration=phase.entries.first().declaration).first_unit == 1

    def test_only_a_closed_phase_is_registered_and_only_by_an_approver(self, people):
        phase = phase_in_notice([approved_declaration(people)], people)
        with pytest.raises(TransitionRefused):
            issuing.register_phase(phase, by=people["approver"])
        with pytest.raises(PermissionDenied):
            issuing.register_phase(phase, by=people["registry_admin"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_registrations_at_once_give_one(people=None):
    people = reviewers()
    phase = closed_phase([approved_declaration(people)], people)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def register():
        try:
            barrier.wait(timeout=10)
            issuing.register_phase(IssuancePhase.objects.get(pk=phase.pk), by=people["approver"])
            outcomes.append("registered")
        except TransitionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused", "registered"]
    assert Issuance.objects.count() == 1 and SerialBlock.objects.count() == 1
    call_command("verify_ledger")


@pytest.mark.postgres
def test_the_database_refuses_overlapping_live_blocks(people):
    phase = closed_phase([approved_declaration(people)], people)
    issuing.register_phase(phase, by=people["approver"])
    block = SerialBlock.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SerialBlock.objects.create(
            issuance=block.issuance,
            account=block.account,
            first_unit=block.last_unit,
            last_unit=block.last_unit + 5,
        )


class TestVerifyLedger:
    def registered(self, people):
        phase = closed_phase([approved_declaration(people), approved_declaration(people)], people)
        issuing.register_phase(phase, by=people["approver"])
        return list(SerialBlock.objects.order_by("first_unit"))

    def test_catches_a_planted_gap(self, people):
        first, _second = self.registered(people)
        SerialBlock.objects.filter(pk=first.pk).update(last_unit=first.last_unit - 3)
        with pytest.raises(CommandError, match="gap"):
            call_command("verify_ledger")

    def test_catches_a_planted_overlap(self, people):
        _first, second = self.registered(people)
        # Behind the exclusion constraint's back, as a DBA could (SQLite has no such constraint; on
        # PostgreSQL it is dropped inside the test's transaction, which rolls back).
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "ALTER TABLE offsets_serialblock DROP CONSTRAINT live_serial_blocks_never_overlap"
                )
        SerialBlock.objects.create(
            issuance=second.issuance,
            account=second.account,
            first_unit=second.first_unit,
            last_unit=second.first_unit + 1,
        )
        with pytest.raises(CommandError, match="overlap"):
            call_command("verify_ledger")
