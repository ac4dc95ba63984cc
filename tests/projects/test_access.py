"""projects.access: who sees a case's documents, findings and letters, and four eyes asked in one place
by the workflow and the case screen alike."""

import pytest
from django.urls import reverse

from projects import access, letters, workflow
from projects.models import Stage
from registry.models import AuditEvent, OrgRole
from registry.services import TransitionRefused
from tests.factories import (
    admin_of,
    complete_declaration,
    make_bureau,
    make_declaration,
    make_member,
    make_organisation,
    make_project,
    reviewers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def returned():
    """A declaration returned at intake with one finding, its letter made, and its documents."""
    people = reviewers()
    declaration = complete_declaration(make_declaration())
    workflow.submit(declaration, by=admin_of(declaration.organisation))
    workflow.return_case(declaration, by=people["intake_officer"], findings=["Meter photo missing."])
    letter = letters.ensure_letter(AuditEvent.objects.filter(action="case.returned").latest("seq"))
    return {
        "declaration": declaration,
        "document": declaration.documents.first(),
        "finding": declaration.findings.get(),
        "letter": letter,
    }


def _sees(user, world) -> tuple[bool, bool, bool]:
    return (
        access.documents_visible_to(user).filter(pk=world["document"].pk).exists(),
        access.findings_visible_to(user).filter(pk=world["finding"].pk).exists(),
        access.letters_visible_to(user).filter(pk=world["letter"].pk).exists(),
    )


class TestWhoSeesTheRecordsOfACase:
    def test_the_applicants_viewer_and_the_bureau_see_all(self, returned):
        organisation = returned["declaration"].organisation
        assert _sees(make_member(organisation, OrgRole.VIEWER), returned) == (True, True, True)
        assert _sees(make_bureau("intake_officer"), returned) == (True, True, True)

    def test_the_verification_body_sees_the_documents_and_findings_but_not_the_letters(
        self, client, returned
    ):
        verifier = admin_of(returned["declaration"].verification_body)
        assert _sees(verifier, returned) == (True, True, False)
        client.force_login(verifier)
        assert client.get(reverse("projects:letter", args=[returned["letter"].pk])).status_code == 404
        page = client.get(reverse("projects:declaration", args=[returned["declaration"].pk]))
        assert page.status_code == 200
        assert returned["letter"].number not in page.content.decode()

    def test_another_organisation_sees_nothing(self, client, returned):
        stranger = admin_of(make_organisation())
        assert _sees(stranger, returned) == (False, False, False)
        client.force_login(stranger)
        for name, pk in [
            ("projects:document", returned["document"].pk),
            ("projects:letter", returned["letter"].pk),
        ]:
            assert client.get(reverse(name, args=[pk])).status_code == 404


class TestTheApplicantsRights:
    def test_the_declaration_page_offers_actions_to_the_declarant_not_to_the_viewer(self, client):
        declaration = make_declaration()
        organisation = declaration.organisation
        for role, can_act in [(OrgRole.DECLARANT, True), (OrgRole.VIEWER, False)]:
            client.force_login(make_member(organisation, role))
            page = client.get(reverse("projects:declaration", args=[declaration.pk]))
            assert page.context["can_act"] is can_act
            assert page.context["is_verifier"] is False
        client.force_login(admin_of(declaration.verification_body))
        page = client.get(reverse("projects:declaration", args=[declaration.pk]))
        assert (page.context["can_act"], page.context["is_verifier"]) == (False, True)


class TestFourEyes:
    @pytest.fixture
    def at_approval(self):
        """A project forwarded to approval by someone who is both technical reviewer and approver."""
        people = reviewers()
        both = make_bureau("technical_reviewer", "approver")
        project = make_project()
        workflow.submit(project, by=admin_of(project.organisation))
        workflow.accept(project, by=people["intake_officer"])
        project = workflow.forward(project, by=both, recommendation="approve")
        assert project.stage == Stage.APPROVAL
        return project, both, people["approver"]

    def test_the_screen_and_the_workflow_agree_the_technical_reviewer_does_not_decide(self, at_approval):
        project, both, approver = at_approval
        candidates = access.colleagues(project, access.STAGE_PERMISSION[Stage.APPROVAL])
        assert approver in candidates and both not in candidates
        with pytest.raises(TransitionRefused):
            workflow.approve(project, by=both)
        assert workflow.approve(project, by=approver).stage == Stage.APPROVED

    def test_the_case_screen_offers_the_decision_to_the_other_approver_only(self, client, at_approval):
        project, both, approver = at_approval
        url = reverse("projects:office_case", args=["projects", project.pk])
        approve = reverse("projects:office_decide", args=["projects", project.pk, "approve"])
        client.force_login(both)
        assert approve not in client.get(url).content.decode()
        client.force_login(approver)
        assert approve in client.get(url).content.decode()
