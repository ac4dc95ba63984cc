from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.test import override_settings

from projects import services, workflow
from projects.models import Declaration, Document, GridConnectionPoint, Stage
from registry.models import DocumentType, OrganisationStatus, OrgRole
from registry.services import TransitionRefused
from tests.factories import (
    PDF,
    admin_of,
    complete_declaration,
    file_project,
    make_declaration,
    make_factor,
    make_member,
    make_organisation,
    make_project,
    make_pv_methodology,
    pdf_upload,
)
from tests.hostile_files import valid_pdf

pytestmark = pytest.mark.django_db


class TestMeters:
    def test_a_meter_belongs_to_one_live_project(self):
        make_project(meters=[("SHARED-1", "100")])
        with pytest.raises(ValidationError, match="SHARED-1"):
            make_project(meters=[("SHARED-1", "100")])

    def test_the_same_meter_twice_in_one_project_is_refused(self):
        with pytest.raises(ValidationError, match="DUP-1"):
            make_project(meters=[("DUP-1", "100"), ("DUP-1", "200")])

    def test_a_withdrawn_project_frees_its_meter(self):
        first = make_project(meters=[("FREE-1", "100")])
        workflow.withdraw(first, by=admin_of(first.organisation))
        make_project(meters=[("FREE-1", "100")])
        assert GridConnectionPoint.objects.filter(meter_number="FREE-1", live=True).count() == 1

    def test_the_database_refuses_a_second_live_claim_too(self):
        first = make_project(meters=[("DB-1", "100")])
        second = make_project(meters=[("DB-2", "100")])
        with pytest.raises(IntegrityError), transaction.atomic():
            GridConnectionPoint.objects.create(project=second, meter_number="DB-1", capacity_kw=1)
        assert first.connection_points.get().meter_number == "DB-1"


class TestApplicability:
    def test_a_point_of_6_mw_or_more_is_named(self):
        project = make_project(meters=[("BIG-1", "6000"), ("OK-1", "5999.9")])
        problems = services.applicability_problems(project)
        assert any("BIG-1" in p and "6 MW" in p for p in problems)
        assert not any("OK-1" in p for p in problems)

    def test_the_statements_are_required(self):
        project = make_project(not_registered_elsewhere=False, outside_covered_boundary=False)
        problems = " ".join(services.applicability_problems(project))
        assert "no other scheme" in problems and "compliance boundary" in problems

    def test_submission_lists_every_problem_and_changes_nothing(self):
        project = make_project(meters=[("BIG-2", "7000")], docs=False)
        with pytest.raises(TransitionRefused) as refused:
            workflow.submit(project, by=admin_of(project.organisation))
        message = str(refused.value)
        assert "BIG-2" in message and "Project description" in message
        project.refresh_from_db()
        assert project.stage == Stage.DRAFT

    def test_an_unverified_organisation_cannot_submit(self):
        project = make_project(make_organisation(status=OrganisationStatus.PENDING))
        with pytest.raises(TransitionRefused, match="verified organisation"):
            workflow.submit(project, by=admin_of(project.organisation))

    def test_a_methodology_not_yet_in_force_refuses_submission(self):
        methodology = make_pv_methodology(code="FU", effective_date=date(2099, 1, 1))
        project = make_project(methodology=methodology)
        with pytest.raises(TransitionRefused, match="2099-01-01"):
            workflow.submit(project, by=admin_of(project.organisation))

    def test_a_viewer_cannot_draft(self):
        organisation = make_organisation()
        with pytest.raises(PermissionDenied):
            make_project(organisation, by=make_member(organisation, OrgRole.VIEWER))

    def test_filing_gives_the_public_code_per_methodology(self):
        first = file_project(make_project())
        second = file_project(make_project())
        assert (first.code, second.code) == ("WH-PV-0001", "WH-PV-0002")
        assert first.filed_at is not None


class TestPeriods:
    def test_a_period_lies_in_one_calendar_year(self):
        project = file_project(make_project())
        with pytest.raises(ValidationError, match="one calendar year"):
            make_declaration(project, start=date(2022, 12, 1), end=date(2023, 1, 31))

    def test_a_period_lies_inside_the_crediting_period(self):
        project = file_project(make_project(crediting_start=date(2022, 7, 1)))
        with pytest.raises(ValidationError, match="crediting period"):
            make_declaration(project, start=date(2022, 1, 1), end=date(2022, 12, 31))

    def test_periods_of_a_project_never_overlap(self):
        project = file_project(make_project())
        make_declaration(project, start=date(2022, 1, 1), end=date(2022, 6, 30))
        with pytest.raises(ValidationError, match="overlaps"):
            make_declaration(project, start=date(2022, 6, 30), end=date(2022, 12, 31))
        make_declaration(project, start=date(2022, 7, 1), end=date(2022, 12, 31))

    def test_a_withdrawn_declaration_frees_its_period(self):
        project = file_project(make_project())
        first = make_declaration(project)
        workflow.withdraw(first, by=admin_of(project.organisation))
        assert make_declaration(project).stage == Stage.DRAFT

    def test_only_a_filed_project_takes_declarations(self):
        with pytest.raises(TransitionRefused, match="filed project"):
            make_declaration(make_project())

    @pytest.mark.postgres
    def test_the_database_refuses_overlapping_periods_behind_the_services_back(self):
        declaration = make_declaration()
        with pytest.raises(IntegrityError), transaction.atomic():
            Declaration.objects.create(
                project=declaration.project,
                period_start=date(2022, 3, 1),
                period_end=date(2022, 3, 31),
                created_by=declaration.created_by,
            )
        # A dead declaration may overlap.
        Declaration.objects.create(
            project=declaration.project,
            period_start=date(2022, 3, 1),
            period_end=date(2022, 3, 31),
            created_by=declaration.created_by,
            stage=Stage.WITHDRAWN,
        )


class TestMonitoringAndCalculation:
    def test_the_calculation_and_factor_are_stored(self):
        declaration = make_declaration(months={date(2022, m, 1): Decimal("623.84") for m in range(1, 13)})
        assert declaration.activity_mwh == Decimal("7486.08")
        assert declaration.claimed_t == 4269  # 7486.08 × 0.5703 = 4269.31…
        assert (declaration.factor_year, declaration.factor_value, declaration.factor_note) == (
            2022,
            Decimal("0.5703"),
            "",
        )

    def test_the_stored_factor_is_never_looked_up_again(self):
        declaration = make_declaration()
        factor = declaration.factor
        Declaration.objects.filter(pk=declaration.pk).update()  # nothing changes by itself
        type(factor).objects.filter(pk=factor.pk).update(value=Decimal("0.9999"))
        declaration.refresh_from_db()
        calculation = services.calculation_of(declaration)
        assert declaration.factor_value == Decimal("0.5703") and calculation.factor == Decimal("0.5703")

    def test_without_a_factor_for_the_vintage_the_latest_is_used_and_said(self):
        make_factor(2021, "0.5810")
        project = file_project(make_project(crediting_end=date(2035, 1, 1)))
        declaration = make_declaration(project, start=date(2024, 1, 1), end=date(2024, 3, 31))
        assert declaration.factor_year == 2022
        assert "2024" in declaration.factor_note and "2022" in declaration.factor_note
        from django.utils import translation

        with translation.override("zh-hans"):  # said in the reader's language, not stored in the writer's
            assert "2024" in declaration.factor_note and "因子" in declaration.factor_note

    def test_every_month_of_the_period_is_required(self):
        declaration = make_declaration()
        with pytest.raises(ValidationError):
            services.save_monitoring_data(
                declaration,
                by=admin_of(declaration.project.organisation),
                values={date(2022, 1, 1): Decimal(1)},
            )
        assert declaration.entries.count() == 12

    def test_submitting_a_complete_declaration(self):
        declaration = complete_declaration(make_declaration())
        submitted = workflow.submit(declaration, by=admin_of(declaration.project.organisation))
        assert submitted.stage == Stage.INTAKE and submitted.submitted_at

    def test_submission_needs_the_verification_report(self):
        declaration = make_declaration()
        services.upload_document(
            declaration,
            by=admin_of(declaration.project.organisation),
            doc_type=DocumentType.MONITORING_REPORT,
            upload=pdf_upload(),
        )
        with pytest.raises(TransitionRefused, match="Verification report"):
            workflow.submit(declaration, by=admin_of(declaration.project.organisation))


class TestUploads:
    @pytest.fixture
    def project(self):
        return make_project(docs=False)

    def upload(self, project, content: bytes, name: str = "doc.pdf"):
        return services.upload_document(
            project,
            by=admin_of(project.organisation),
            doc_type=DocumentType.PROJECT_DESCRIPTION,
            upload=ContentFile(content, name=name),
        )

    @pytest.mark.parametrize(
        ("content", "name"),
        [
            (b"MZ\x90\x00\x03\x00\x00\x00 this is a Windows executable", "report.pdf"),
            (b"<html><script>alert(1)</script></html>", "report.pdf"),
            (b"", "empty.pdf"),
            (b"PK\x03\x04 not really a zip", "sheet.xlsx"),
        ],
    )
    def test_hostile_or_empty_files_are_refused_and_nothing_is_stored(self, project, content, name):
        with pytest.raises(ValidationError):
            self.upload(project, content, name)
        assert not Document.objects.exists()

    def test_one_byte_over_the_limit_is_refused(self, project):
        with override_settings(UPLOAD_MAX_BYTES=len(PDF) - 1), pytest.raises(ValidationError, match="limit"):
            self.upload(project, PDF)
        with override_settings(UPLOAD_MAX_BYTES=len(PDF)):
            self.upload(project, PDF)
        assert Document.objects.count() == 1

    def test_a_new_upload_is_a_new_version_and_the_old_one_stays(self, project):
        import hashlib

        first = self.upload(project, PDF)
        second = self.upload(project, valid_pdf(b"second version"))
        assert (first.version, second.version) == (1, 2)
        assert first.sha256 == hashlib.sha256(PDF).hexdigest()
        assert services.latest_documents(project)[DocumentType.PROJECT_DESCRIPTION] == second
        assert first.file.read() == PDF

    def test_the_users_file_name_never_reaches_the_storage_path(self, project):
        document = self.upload(project, PDF, name="../../etc/passwd.pdf")
        assert ".." not in document.file.name and "passwd" not in document.file.name
        assert document.original_name == "passwd.pdf" or "passwd" in document.original_name

    def test_the_applicant_cannot_upload_once_submitted(self):
        project = make_project()
        workflow.submit(project, by=admin_of(project.organisation))
        with pytest.raises(PermissionDenied):
            self.upload(project, PDF)

    def test_only_the_assigned_verification_body_uploads_the_report(self):
        declaration = make_declaration()
        applicant = admin_of(declaration.project.organisation)
        with pytest.raises(PermissionDenied):
            services.upload_document(
                declaration, by=applicant, doc_type=DocumentType.VERIFICATION_REPORT, upload=pdf_upload()
            )
        other_body = make_organisation(kind="verification_body")
        with pytest.raises(PermissionDenied):
            services.upload_document(
                declaration,
                by=admin_of(other_body),
                doc_type=DocumentType.VERIFICATION_REPORT,
                upload=pdf_upload(),
            )
        services.upload_document(
            declaration,
            by=admin_of(declaration.verification_body),
            doc_type=DocumentType.VERIFICATION_REPORT,
            upload=pdf_upload(),
        )
