"""offsets.access: objections answered by the declarant only, certificates seen by the holder and the
bureau, and four eyes on a phase asked in one place by issuing and the phase screen."""

import pytest
from django.urls import reverse

from offsets import access, issuing
from offsets.models import Certificate, Objection
from registry.models import OrgRole
from registry.services import TransitionRefused
from tests.factories import (
    admin_of,
    approved_declaration,
    closed_phase,
    make_bureau,
    make_member,
    make_organisation,
    phase_in_notice,
    reviewers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def objection(people):
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    return issuing.file_objection(
        phase,
        declaration=declaration,
        name="王五",
        organisation="",
        email="wang@example.com",
        phone="",
        reasons="The meter was replaced in March.",
    )


class TestObjections:
    def answer(self, client, user, objection):
        client.force_login(user)
        url = reverse("offsets:answer_objection", args=[objection.pk])
        return client.post(url, {"answer": "The new meter is in the report."})

    def test_the_declarant_answers_its_viewer_and_verifier_get_403_a_stranger_404(self, client, objection):
        declaration = objection.declaration
        organisation = declaration.organisation
        assert self.answer(client, make_member(organisation, OrgRole.VIEWER), objection).status_code == 403
        assert self.answer(client, admin_of(declaration.verification_body), objection).status_code == 403
        assert self.answer(client, admin_of(make_organisation()), objection).status_code == 404
        assert Objection.objects.get().answer == ""
        assert self.answer(client, make_member(organisation, OrgRole.DECLARANT), objection).status_code == 302
        assert Objection.objects.get().answer == "The new meter is in the report."

    def test_only_those_who_rule_see_the_evidence(self, objection, people):
        assert access.objections_visible_to(admin_of(objection.declaration.organisation)).exists()
        assert not access.objections_visible_to(admin_of(make_organisation())).exists()
        assert access.may_rule_objections(people["technical_reviewer"])
        assert not access.may_rule_objections(people["intake_officer"])


class TestCertificates:
    def test_the_holder_and_the_bureau_see_the_certificate_the_verifier_does_not(self, people):
        declaration = approved_declaration(people)
        issuing.register_phase(closed_phase([declaration], people), by=people["approver"])
        certificate = Certificate.objects.get()
        holder = declaration.organisation

        def sees(user) -> bool:
            return access.certificates_visible_to(user).filter(pk=certificate.pk).exists()

        assert sees(make_member(holder, OrgRole.VIEWER))
        assert sees(people["intake_officer"])
        assert not sees(admin_of(declaration.verification_body))
        assert not sees(admin_of(make_organisation()))


class TestFourEyesOnAPhase:
    def test_whoever_assembled_a_phase_is_not_offered_its_approval_nor_may_give_it(self, client, people):
        both = make_bureau("registry_admin", "approver")
        phase = issuing.create_phase(code="2023P09", title_zh="测试批次", title_en="Test phase", by=both)
        issuing.add_to_phase(phase, by=both, declarations=[approved_declaration(people)])
        phase = issuing.submit_phase(phase, by=both)
        assert access.assembled(both, phase) and not access.assembled(people["approver"], phase)
        url = reverse("offsets:office_phase", args=[phase.code])
        approve = reverse("offsets:office_phase_act", args=[phase.code, "approve"])
        client.force_login(both)
        assert approve not in client.get(url).content.decode()
        client.force_login(people["approver"])
        assert approve in client.get(url).content.decode()
        with pytest.raises(TransitionRefused):
            issuing.approve_for_notice(phase, by=both)
        assert issuing.approve_for_notice(phase, by=people["approver"]).approved_by == people["approver"]
