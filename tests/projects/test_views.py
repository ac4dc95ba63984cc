from datetime import date
from io import BytesIO

import openpyxl
import pytest
from django.urls import reverse

from projects import services
from projects.models import Declaration, Document, MonitoringEntry, Project, Stage
from registry.models import DocumentType, OrgRole
from tests.factories import (
    admin_of,
    complete_declaration,
    file_project,
    make_bureau,
    make_declaration,
    make_member,
    make_organisation,
    make_project,
    make_pv_methodology,
    pdf_upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def declaration():
    return make_declaration()


@pytest.fixture
def document(declaration):
    return services.upload_document(
        declaration,
        by=admin_of(declaration.project.organisation),
        doc_type=DocumentType.MONITORING_REPORT,
        upload=pdf_upload("monitoring.pdf"),
    )


class TestDocumentDownload:
    def fetch(self, client, user, document):
        client.force_login(user)
        return client.get(reverse("projects:document", args=[document.pk]))

    def test_owner_declarant_and_viewer_download_as_attachment(self, client, declaration, document):
        organisation = declaration.project.organisation
        for user in [make_member(organisation, OrgRole.DECLARANT), make_member(organisation, OrgRole.VIEWER)]:
            response = self.fetch(client, user, document)
            assert response.status_code == 200
            # Named by us from the document's type, case and version, never by the uploader.
            assert response.headers["Content-Disposition"] == (
                f'attachment; filename="monitoring-report-declaration-{declaration.pk}-v1.pdf"'
            )
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Content-Type"] == "application/pdf"

    def test_stranger_organisation_gets_404(self, client, document):
        assert self.fetch(client, admin_of(make_organisation()), document).status_code == 404

    def test_assigned_verification_body_downloads_an_unassigned_one_gets_404(
        self, client, declaration, document
    ):
        assert self.fetch(client, admin_of(declaration.verification_body), document).status_code == 200
        other = make_organisation(kind="verification_body")
        assert self.fetch(client, admin_of(other), document).status_code == 404

    def test_bureau_reviewer_downloads(self, client, document):
        assert self.fetch(client, make_bureau("technical_reviewer"), document).status_code == 200

    def test_anonymous_is_sent_to_login(self, client, document):
        assert client.get(reverse("projects:document", args=[document.pk])).status_code == 302


class TestAccess:
    def test_stranger_gets_404_on_every_page_and_action(self, client, declaration):
        project = declaration.project
        client.force_login(admin_of(make_organisation()))
        for name, pk, method in [
            ("projects:project", project.pk, "get"),
            ("projects:project_edit", project.pk, "get"),
            ("projects:project_submit", project.pk, "post"),
            ("projects:declaration", declaration.pk, "get"),
            ("projects:declaration_data", declaration.pk, "post"),
            ("projects:declaration_submit", declaration.pk, "post"),
            ("projects:declaration_template", declaration.pk, "get"),
        ]:
            response = getattr(client, method)(reverse(name, args=[pk]))
            assert response.status_code == 404, name

    def test_viewer_reads_but_gets_403_on_actions(self, client):
        project = make_project()
        viewer = make_member(project.organisation, OrgRole.VIEWER)
        client.force_login(viewer)
        assert client.get(reverse("projects:project", args=[project.pk])).status_code == 200
        assert client.post(reverse("projects:project_submit", args=[project.pk])).status_code == 403
        assert client.get(reverse("projects:project_edit", args=[project.pk])).status_code == 403
        upload = client.post(
            reverse("projects:project_upload", args=[project.pk]),
            {"doc_type": "other", "file": pdf_upload()},
        )
        assert upload.status_code == 403
        project.refresh_from_db()
        assert project.stage == Stage.DRAFT

    def test_verification_body_sees_only_its_assigned_declarations(self, client, declaration):
        other = make_declaration(body=make_organisation(kind="verification_body"))
        client.force_login(admin_of(declaration.verification_body))
        page = client.get(reverse("projects:verification"))
        assert list(page.context["declarations"]) == [declaration]
        assert client.get(reverse("projects:declaration", args=[other.pk])).status_code == 404


class TestDrafting:
    def project_post(self, methodology, **overrides):
        data = {
            "methodology": methodology.pk,
            "title": "新项目",
            "site_address": "武汉市",
            "district": "xinzhou",
            "crediting_start": "2021-01-01",
            "crediting_end": "2030-12-31",
            "not_registered_elsewhere": "on",
            "outside_covered_boundary": "on",
            "points-TOTAL_FORMS": "2",
            "points-INITIAL_FORMS": "0",
            "points-MIN_NUM_FORMS": "0",
            "points-MAX_NUM_FORMS": "1000",
            "points-0-meter_number": "mtr-001",
            "points-0-capacity_kw": "450",
        }
        data.update(overrides)
        return data

    def test_drafts_a_project_with_its_meters(self, client):
        organisation = make_organisation()
        client.force_login(admin_of(organisation))
        response = client.post(reverse("projects:project_create"), self.project_post(make_pv_methodology()))
        project = Project.objects.get(organisation=organisation)
        assert response.status_code == 302 and response.url == project.get_absolute_url()
        assert list(project.connection_points.values_list("meter_number", flat=True)) == ["MTR-001"]

    def test_a_bad_form_keeps_what_was_typed_and_saves_nothing(self, client):
        client.force_login(admin_of(make_organisation()))
        data = self.project_post(make_pv_methodology(), crediting_end="2020-01-01")
        response = client.post(reverse("projects:project_create"), data, headers={"accept-language": "en"})
        assert response.status_code == 200
        assert "ends before it starts" in response.text
        assert 'value="mtr-001"' in response.text and 'value="新项目"' in response.text
        assert not Project.objects.exists()

    def test_a_meter_of_another_project_is_refused_on_the_form(self, client):
        make_project(meters=[("TAKEN-1", "100")])
        client.force_login(admin_of(make_organisation()))
        data = self.project_post(make_pv_methodology(), **{"points-0-meter_number": "taken-1"})
        response = client.post(reverse("projects:project_create"), data, headers={"accept-language": "en"})
        assert response.status_code == 200 and "TAKEN-1" in response.text
        assert Project.objects.count() == 1

    def test_monthly_form_error_keeps_the_figures(self, client, declaration):
        client.force_login(admin_of(declaration.project.organisation))
        data = {f"m_2022_{m:02d}": "100.5" for m in range(1, 13)}
        data["m_2022_05"] = "-3"
        response = client.post(reverse("projects:declaration_data", args=[declaration.pk]), data)
        assert response.status_code == 400
        assert 'value="100.5"' in response.text and 'value="-3"' in response.text
        assert set(declaration.entries.values_list("value_mwh", flat=True)) == {10}

    def test_monthly_form_saves_and_recalculates(self, client, declaration):
        client.force_login(admin_of(declaration.project.organisation))
        data = {f"m_2022_{m:02d}": "623.84" for m in range(1, 13)}
        client.post(reverse("projects:declaration_data", args=[declaration.pk]), data)
        declaration.refresh_from_db()
        assert declaration.claimed_t == 4269


def sheet(rows) -> bytes:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.append(["Month", "MWh"])
    for row in rows:
        worksheet.append(row)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class TestSpreadsheet:
    def upload(self, client, declaration, content: bytes):
        from django.core.files.uploadedfile import SimpleUploadedFile

        client.force_login(admin_of(declaration.project.organisation))
        return client.post(
            reverse("projects:declaration_sheet", args=[declaration.pk]),
            {"sheet": SimpleUploadedFile("data.xlsx", content)},
            headers={"accept-language": "en"},
        )

    def test_template_has_the_months_of_the_period(self, client):
        declaration = make_declaration(start=date(2022, 3, 1), end=date(2022, 5, 31))
        client.force_login(admin_of(declaration.project.organisation))
        response = client.get(reverse("projects:declaration_template", args=[declaration.pk]))
        workbook = openpyxl.load_workbook(BytesIO(response.content))
        months = [row[0] for row in workbook.active.iter_rows(min_row=2, max_row=4, values_only=True)]
        assert months == ["2022-03", "2022-04", "2022-05"]

    def test_a_good_sheet_replaces_the_data(self, client, declaration):
        response = self.upload(client, declaration, sheet([[f"2022-{m:02d}", 623.84] for m in range(1, 13)]))
        assert response.status_code == 302
        declaration.refresh_from_db()
        assert declaration.claimed_t == 4269

    def test_bad_cells_are_reported_by_row_and_column_and_nothing_is_saved(self, client, declaration):
        rows = [[f"2022-{m:02d}", 100] for m in range(1, 13)]
        rows[2][1] = "abc"
        rows[5][0] = "June"
        response = self.upload(client, declaration, sheet(rows))
        assert response.status_code == 400
        errors = {(e.row, e.column) for e in response.context["sheet_errors"]}
        assert {(4, "B"), (7, "A")} <= errors
        assert "nothing was saved" in response.text
        assert set(
            MonitoringEntry.objects.filter(declaration=declaration).values_list("value_mwh", flat=True)
        ) == {10}

    def test_a_file_that_is_no_workbook_is_refused(self, client, declaration):
        response = self.upload(client, declaration, b"%PDF-1.4 not a sheet")
        assert response.status_code == 400
        assert declaration.entries.count() == 12


def test_submitting_from_the_page(client):
    declaration = complete_declaration(make_declaration())
    client.force_login(admin_of(declaration.project.organisation))
    client.post(reverse("projects:declaration_submit", args=[declaration.pk]))
    declaration.refresh_from_db()
    assert declaration.stage == Stage.INTAKE


def test_case_list_shows_what_is_missing(client):
    project = make_project(docs=False)
    client.force_login(admin_of(project.organisation))
    response = client.get(reverse("projects:cases"), headers={"accept-language": "en"})
    assert "to complete before submitting" in response.text
    filed = file_project(make_project(project.organisation))
    assert filed.code in client.get(reverse("projects:cases")).text
    assert Document.objects.filter(project=filed).exists()
    assert Declaration.objects.count() == 0
