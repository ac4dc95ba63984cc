"""What an organisation is (its kind, the covered-emitter flag) changes only by the registry administrator's
audited action; the organisation's own edit form and the sign-up form cannot claim it."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from projects.services import verification_bodies_for
from registry import services
from registry.forms import OrganisationForm, SignUpForm
from registry.models import AuditEvent, Organisation, OrganisationKind, OrganisationStatus
from tests.factories import (
    admin_of,
    identity_number,
    make_bureau,
    make_organisation,
    organisation_data,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation():
    return make_organisation()


@pytest.fixture
def registrar():
    return make_bureau("registry_admin")


def edit_post(organisation, **overrides) -> dict:
    data = {
        f: getattr(organisation, f)
        for f in [
            "name",
            "name_en",
            "identifier",
            "legal_representative",
            "address",
            "district",
            "contact_name",
            "contact_phone",
            "contact_email",
        ]
    }
    data.update(overrides)
    return data


def events(organisation, action):
    return AuditEvent.objects.filter(subject_id=str(organisation.pk), action=action)


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


class TestTheOrganisationsOwnForms:
    def test_the_edit_form_has_neither_kind_nor_covered_emitter(self, organisation):
        fields = OrganisationForm(instance=organisation).fields
        assert "kind" not in fields and "is_covered_emitter" not in fields

    def test_sign_up_chooses_the_kind_but_never_the_covered_emitter_flag(self):
        fields = SignUpForm().fields
        assert "kind" in fields and "is_covered_emitter" not in fields

    def test_an_admin_posting_kind_and_covered_emitter_changes_neither(self, client, organisation):
        client.force_login(admin_of(organisation))
        response = client.post(
            reverse("registry:organisation_edit"),
            edit_post(organisation, kind="verification_body", is_covered_emitter="on", contact_name="王六"),
        )
        assert response.status_code == 302
        organisation.refresh_from_db()
        assert organisation.contact_name == "王六"  # the allowed change went through
        assert organisation.kind == OrganisationKind.ENTERPRISE
        assert organisation.is_covered_emitter is False
        assert organisation.status == OrganisationStatus.VERIFIED
        # ... so it is offered to nobody as a verification body, itself included.
        assert organisation not in verification_bodies_for(make_organisation())
        assert organisation not in verification_bodies_for(organisation)

    def test_a_household_edit_still_validates_its_identity_number(self, client):
        household = make_organisation(kind="household", identifier=identity_number())
        client.force_login(admin_of(household))
        response = client.post(
            reverse("registry:organisation_edit"),
            edit_post(household, identifier=" " + household.identifier.lower() + " "),
        )
        assert response.status_code == 302

    def test_sign_up_claiming_covered_emitter_registers_an_ordinary_enterprise(self, client):
        data = organisation_data()
        data.update(
            is_covered_emitter="on",
            admin_name="新管理员",
            admin_email="claimant@example.com",
            language="en",
            password1="long-enough-Pass-42",
            password2="long-enough-Pass-42",
        )
        response = client.post(reverse("registry:sign_up"), data)
        assert response.status_code == 302
        organisation = Organisation.objects.get(identifier=data["identifier"])
        assert organisation.is_covered_emitter is False
        assert organisation.status == OrganisationStatus.PENDING

    def test_the_service_refuses_what_only_the_registrar_changes(self, organisation):
        for changes in ({"kind": "verification_body"}, {"is_covered_emitter": True}, {"status": "verified"}):
            with pytest.raises(PermissionDenied):
                services.update_organisation(organisation, by=admin_of(organisation), changes=changes)
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.is_covered_emitter) == (OrganisationKind.ENTERPRISE, False)
        assert not events(organisation, "organisation.updated").exists()


class TestChangeKind:
    def test_a_new_kind_goes_back_to_verification_audited_and_told(
        self, organisation, registrar, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.change_kind(
                organisation, kind="verification_body", by=registrar, reason="Accredited as verifier"
            )
        organisation.refresh_from_db()
        assert organisation.kind == OrganisationKind.VERIFICATION_BODY
        assert organisation.status == OrganisationStatus.PENDING
        event = events(organisation, "organisation.kind_changed").get()
        assert event.actor == registrar and event.comment == "Accredited as verifier"
        assert event.before == {"kind": "enterprise", "status": "verified"}
        assert event.after == {"kind": "verification_body", "status": "pending"}
        assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]
        assert "Accredited as verifier" in mailoutbox[0].body
        # Pending: not offered as a verification body until verified again.
        assert organisation not in verification_bodies_for(make_organisation())

    @pytest.mark.parametrize("role", ["intake_officer", "technical_reviewer", "approver", "expert"])
    def test_only_a_registry_administrator_changes_it(self, organisation, role):
        for actor in (make_bureau(role), admin_of(organisation)):
            with pytest.raises(PermissionDenied):
                services.change_kind(organisation, kind="verification_body", by=actor, reason="Because")
        organisation.refresh_from_db()
        assert organisation.kind == OrganisationKind.ENTERPRISE
        assert not events(organisation, "organisation.kind_changed").exists()

    @pytest.mark.parametrize(
        ("kind", "reason", "message"),
        [
            ("verification_body", "  ", "Give the reasons"),
            ("enterprise", "Same", "already is"),
            ("household", "Wrong", "does not fit"),
            ("nonsense", "Bad", "Choose a kind"),
        ],
    )
    def test_refusals_explain_and_change_nothing(self, organisation, registrar, kind, reason, message):
        with pytest.raises(services.TransitionRefused, match=message):
            services.change_kind(organisation, kind=kind, by=registrar, reason=reason)
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.status) == ("enterprise", "verified")
        assert not events(organisation, "organisation.kind_changed").exists()

    def test_a_suspended_organisation_is_reinstated_first(self, registrar):
        organisation = make_organisation(status=OrganisationStatus.SUSPENDED)
        with pytest.raises(services.TransitionRefused, match="suspended"):
            services.change_kind(organisation, kind="public_institution", by=registrar, reason="Reorganised")
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.SUSPENDED

    def test_leaving_enterprise_drops_the_covered_emitter_flag(self, organisation, registrar):
        services.set_covered_emitter(organisation, flag=True, by=registrar, reason="On the 2023 list")
        services.change_kind(organisation, kind="public_institution", by=registrar, reason="Reorganised")
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.is_covered_emitter) == ("public_institution", False)
        assert events(organisation, "organisation.kind_changed").get().after["is_covered_emitter"] is False


class TestSetCoveredEmitter:
    def test_the_registrar_lists_an_enterprise_audited_and_told(
        self, organisation, registrar, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.set_covered_emitter(organisation, flag=True, by=registrar, reason="On the 2023 list")
        organisation.refresh_from_db()
        assert organisation.is_covered_emitter is True
        assert organisation.status == OrganisationStatus.VERIFIED  # the status stays
        event = events(organisation, "organisation.covered_emitter_changed").get()
        assert (event.before, event.after) == ({"is_covered_emitter": False}, {"is_covered_emitter": True})
        assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]
        assert "covered emitter" in mailoutbox[0].subject

    def test_only_enterprises_and_only_the_registrar(self, registrar):
        school = make_organisation(kind="public_institution")
        with pytest.raises(services.TransitionRefused, match="Only an enterprise"):
            services.set_covered_emitter(school, flag=True, by=registrar, reason="List")
        enterprise = make_organisation()
        for actor in (make_bureau("approver"), admin_of(enterprise)):
            with pytest.raises(PermissionDenied):
                services.set_covered_emitter(enterprise, flag=True, by=actor, reason="List")
        with pytest.raises(services.TransitionRefused, match="Give the reasons"):
            services.set_covered_emitter(enterprise, flag=True, by=registrar, reason="")
        assert not Organisation.objects.filter(is_covered_emitter=True).exists()
        assert not AuditEvent.objects.filter(action="organisation.covered_emitter_changed").exists()


class TestOfficeScreen:
    def test_the_registrar_sees_the_forms_other_roles_do_not(self, client, organisation, registrar):
        url = reverse("registry:office_organisation", args=[organisation.pk])
        client.force_login(registrar)
        page = client.get(url).text
        assert reverse("registry:office_organisation_kind", args=[organisation.pk]) in page
        assert reverse("registry:office_organisation_covered_emitter", args=[organisation.pk]) in page
        client.force_login(make_bureau("technical_reviewer"))
        page = client.get(url).text
        assert reverse("registry:office_organisation_kind", args=[organisation.pk]) not in page

    def test_the_registrar_changes_the_kind_from_the_screen(self, client, organisation, registrar):
        client.force_login(registrar)
        response = client.post(
            reverse("registry:office_organisation_kind", args=[organisation.pk]),
            {"kind": "verification_body", "reason": "Accredited"},
            headers={"accept-language": "en"},
        )
        assert response.status_code == 302
        assert "back in verification" in texts(response)[0]
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.status) == ("verification_body", "pending")

    def test_the_registrar_sets_the_covered_emitter_flag_from_the_screen(
        self, client, organisation, registrar
    ):
        client.force_login(registrar)
        url = reverse("registry:office_organisation_covered_emitter", args=[organisation.pk])
        response = client.post(url, {"is_covered_emitter": "on", "reason": "On the list"})
        assert response.status_code == 302
        organisation.refresh_from_db()
        assert organisation.is_covered_emitter is True
        client.post(url, {"reason": "Off the list"})
        organisation.refresh_from_db()
        assert organisation.is_covered_emitter is False

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"kind": "verification_body", "reason": ""}, "give the reasons"),
            ({"kind": "nonsense", "reason": "x"}, "Choose a kind"),
            ({"kind": "household", "reason": "x"}, "does not fit"),
        ],
    )
    def test_bad_input_answers_a_message_and_changes_nothing(
        self, client, organisation, registrar, data, message
    ):
        client.force_login(registrar)
        response = client.post(
            reverse("registry:office_organisation_kind", args=[organisation.pk]),
            data,
            headers={"accept-language": "en"},
        )
        assert response.status_code == 302
        assert message in texts(response)[0]
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.status) == ("enterprise", "verified")

    def test_other_bureau_roles_and_enterprise_users_get_403(self, client, organisation):
        for user in (make_bureau("technical_reviewer"), make_bureau("approver"), admin_of(organisation)):
            client.force_login(user)
            for name, data in [
                ("registry:office_organisation_kind", {"kind": "verification_body", "reason": "x"}),
                ("registry:office_organisation_covered_emitter", {"is_covered_emitter": "on", "reason": "x"}),
            ]:
                assert client.post(reverse(name, args=[organisation.pk]), data).status_code == 403
        organisation.refresh_from_db()
        assert (organisation.kind, organisation.is_covered_emitter) == ("enterprise", False)

    def test_an_unknown_organisation_is_404(self, client, registrar):
        client.force_login(registrar)
        url = reverse("registry:office_organisation_kind", args=[999999])
        assert client.post(url, {"kind": "enterprise", "reason": "x"}).status_code == 404
