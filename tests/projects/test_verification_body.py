"""A verification body is never named on its own or a related organisation's declaration; only verified
verification bodies are offered; only the body named on a case uploads its verification report and
opinion. "Related": the same organisation, or one with the same legal representative."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from projects import services, workflow
from projects.models import Declaration, Document
from registry import services as registry_services
from registry.models import DocumentType, OrganisationStatus, OrgRole
from tests.factories import (
    admin_of,
    file_project,
    make_bureau,
    make_declaration,
    make_factor,
    make_member,
    make_organisation,
    make_project,
    make_verification_body,
    pdf_upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def registrar():
    return make_bureau("registry_admin")


def filed_project(organisation=None):
    make_factor()
    return file_project(make_project(organisation))


def declare(project, body, by=None):
    return services.create_declaration(
        project,
        by=by or admin_of(project.organisation),
        period_start=date(2022, 1, 1),
        period_end=date(2022, 12, 31),
        verification_body=body,
    )


def upload(declaration, user, doc_type=DocumentType.VERIFICATION_REPORT):
    return services.upload_document(declaration, by=user, doc_type=doc_type, upload=pdf_upload())


class TestTheChooser:
    def test_offers_only_verified_independent_bodies(self, client):
        # A verification body that declares reductions of its own project.
        own = make_verification_body()
        project = filed_project(own)
        independent = make_verification_body()
        related = make_organisation(kind="verification_body", legal_representative=own.legal_representative)
        pending = make_organisation(kind="verification_body", status=OrganisationStatus.PENDING)
        suspended = make_organisation(kind="verification_body", status=OrganisationStatus.SUSPENDED)
        enterprise = make_organisation()
        client.force_login(admin_of(own))
        response = client.get(reverse("projects:declaration_create", args=[project.pk]))
        assert response.status_code == 200
        offered = set(response.context["form"].fields["verification_body"].queryset)
        assert independent in offered
        assert offered.isdisjoint({own, related, pending, suspended, enterprise})
        select = response.text.split('name="verification_body"')[1].split("</select>")[0]
        assert f'value="{independent.pk}"' in select and f'value="{own.pk}"' not in select

    def test_names_are_compared_without_spaces_or_case(self):
        applicant = make_organisation(legal_representative="Li  Ming")
        body = make_organisation(kind="verification_body", legal_representative=" li ming ")
        assert body not in services.verification_bodies_for(applicant)

    def test_a_forged_post_naming_itself_is_refused_its_viewer_403_a_stranger_404(self, client):
        own = make_verification_body()
        project = filed_project(own)
        url = reverse("projects:declaration_create", args=[project.pk])
        data = {"period_start": "2022-01-01", "period_end": "2022-12-31", "verification_body": own.pk}
        client.force_login(admin_of(own))
        response = client.post(url, data, headers={"accept-language": "en"})
        assert response.status_code == 200
        assert response.context["form"].errors["verification_body"]
        assert not Declaration.objects.exists()
        client.force_login(make_member(own, OrgRole.VIEWER))
        assert client.post(url, data).status_code == 403
        client.force_login(admin_of(make_organisation()))
        assert client.post(url, data).status_code == 404
        assert not Declaration.objects.exists()
        # The owner's admin naming an independent body succeeds.
        body = make_verification_body()
        client.force_login(admin_of(own))
        assert client.post(url, {**data, "verification_body": body.pk}).status_code == 302
        assert Declaration.objects.get().verification_body == body


class TestTheService:
    @pytest.mark.parametrize(
        ("make_body", "message"),
        [
            (lambda own: own, "never verifies its own"),
            (
                lambda own: make_organisation(
                    kind="verification_body", legal_representative=own.legal_representative
                ),
                "same legal representative",
            ),
            (
                lambda own: make_organisation(kind="verification_body", status=OrganisationStatus.PENDING),
                "verified verification body",
            ),
            (lambda own: make_organisation(), "verified verification body"),
        ],
        ids=["itself", "same-legal-representative", "pending", "not-a-body"],
    )
    def test_create_and_update_refuse_a_body_that_may_not_verify(self, make_body, message):
        own = make_verification_body()
        project = filed_project(own)
        body = make_body(own)
        with pytest.raises(ValidationError, match=message):
            declare(project, body)
        assert not Declaration.objects.exists()
        declaration = declare(project, make_verification_body())
        with pytest.raises(ValidationError, match=message):
            services.update_declaration(
                declaration,
                by=admin_of(own),
                period_start=declaration.period_start,
                period_end=declaration.period_end,
                verification_body=body,
            )
        declaration.refresh_from_db()
        assert declaration.verification_body != body

    def test_an_enterprise_that_was_made_a_body_by_the_registrar_still_cannot_verify_itself(self, registrar):
        enterprise = make_organisation()
        project = filed_project(enterprise)
        registry_services.change_kind(enterprise, kind="verification_body", by=registrar, reason="Accredited")
        registry_services.verify_organisation(enterprise, by=registrar)
        with pytest.raises(ValidationError, match="never verifies its own"):
            declare(project, enterprise)
        assert enterprise in services.verification_bodies_for(make_organisation())

    def test_submission_is_refused_when_the_body_stopped_being_eligible(self, registrar):
        declaration = make_declaration()
        registry_services.suspend_organisation(
            declaration.verification_body, by=registrar, reasons="Accreditation lapsed"
        )
        declaration.refresh_from_db()
        assert "Choose a verified verification body." in services.submission_problems(declaration)
        with pytest.raises(registry_services.TransitionRefused, match="verified verification body"):
            workflow.submit(declaration, by=admin_of(declaration.project.organisation))


class TestVerificationUploads:
    def test_the_named_bodys_admin_uploads_its_viewer_gets_403_another_body_404(self, client):
        declaration = make_declaration()
        url = reverse("projects:declaration_upload", args=[declaration.pk])
        client.force_login(make_member(declaration.verification_body, OrgRole.VIEWER))
        response = client.post(url, {"doc_type": DocumentType.VERIFICATION_REPORT, "file": pdf_upload()})
        assert response.status_code == 403
        other = admin_of(make_verification_body())
        client.force_login(other)
        response = client.post(url, {"doc_type": DocumentType.VERIFICATION_REPORT, "file": pdf_upload()})
        assert response.status_code == 404
        with pytest.raises(PermissionDenied):
            upload(declaration, other)
        assert not Document.objects.filter(declaration=declaration).exists()
        client.force_login(admin_of(declaration.verification_body))
        response = client.post(
            url, {"doc_type": DocumentType.VERIFICATION_OPINION, "file": pdf_upload("opinion.pdf")}
        )
        assert response.status_code == 302
        assert Document.objects.filter(declaration=declaration, doc_type="verification_opinion").exists()

    def test_a_body_no_longer_verified_or_now_related_cannot_upload(self, registrar):
        declaration = make_declaration()
        body = declaration.verification_body
        registry_services.change_kind(body, kind="enterprise", by=registrar, reason="Not a verifier")
        with pytest.raises(PermissionDenied):
            upload(declaration, admin_of(body))
        # Another case whose applicant later takes its body's legal representative: now related.
        related = make_declaration()
        registry_services.update_organisation(
            related.project.organisation,
            by=admin_of(related.project.organisation),
            changes={"legal_representative": related.verification_body.legal_representative},
        )
        related.refresh_from_db()
        with pytest.raises(PermissionDenied):
            upload(related, admin_of(related.verification_body))
        assert not Document.objects.filter(doc_type="verification_report").exists()
