"""Three people, as in healthchecks: the owner organisation's member acts, its viewer gets 403 on
actions, a stranger organisation's user gets 404; bureau screens need their role."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.models import (
    AuditEvent,
    Invitation,
    Membership,
    Organisation,
    OrganisationStatus,
    OrgRole,
    User,
)
from tests.factories import (
    PASSWORD,
    admin_of,
    credit_code,
    make_bureau,
    make_member,
    make_organisation,
    organisation_data,
)

pytestmark = pytest.mark.django_db

from tests.factories import PDF  # noqa: E402  (a real PDF: uploads are parsed)


@pytest.fixture
def organisation():
    return make_organisation()


@pytest.fixture
def admin(organisation):
    return admin_of(organisation)


@pytest.fixture
def viewer(organisation):
    return make_member(organisation, OrgRole.VIEWER)


@pytest.fixture
def declarant(organisation):
    return make_member(organisation, OrgRole.DECLARANT)


@pytest.fixture
def stranger():
    return admin_of(make_organisation())


def signup_post(**overrides):
    data = organisation_data()
    data.update(
        admin_name="新管理员",
        admin_email="founder@example.com",
        language="en",
        password1="long-enough-Pass-42",
        password2="long-enough-Pass-42",
    )
    data.update(overrides)
    return data


class TestSignUp:
    def test_signs_up_with_a_licence(self, client, mailoutbox, django_capture_on_commit_callbacks):
        data = signup_post(business_licence=SimpleUploadedFile("licence.pdf", PDF))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("registry:sign_up"), data)
        assert response.status_code == 302
        organisation = Organisation.objects.get(identifier=data["identifier"])
        assert organisation.status == OrganisationStatus.PENDING
        assert len(organisation.business_licence_sha256) == 64
        assert mailoutbox[-1].to == ["founder@example.com"]

    def test_lower_case_identifier_with_spaces_is_normalised(self, client):
        code = credit_code()
        spaced = f"  {code[:6]} {code[6:]}  ".lower()
        client.post(reverse("registry:sign_up"), signup_post(identifier=spaced))
        assert Organisation.objects.filter(identifier=code).exists()

    @pytest.mark.parametrize(
        ("overrides", "field", "english"),
        [
            ({"identifier": "91420100MA0000001X"}, "identifier", "check character"),
            ({"identifier": "9142010"}, "identifier", "18 characters"),
            (
                {"kind": "household", "identifier": "91420100MA00000013"},
                "identifier",
                "resident identity number",
            ),
            ({"password2": "something-else-99"}, "password2", "differ"),
            ({"password1": "123", "password2": "123"}, "password1", "too short"),
        ],
    )
    def test_bad_input_is_explained_and_saves_nothing(self, client, overrides, field, english):
        response = client.post(
            reverse("registry:sign_up"), signup_post(**overrides), headers={"accept-language": "en"}
        )
        assert response.status_code == 200
        assert english in " ".join(response.context["form"].errors[field])
        assert not User.objects.filter(email="founder@example.com").exists()
        assert not AuditEvent.objects.filter(
            action="organisation.signed_up", subject_repr__startswith="测试企业"
        ).exists()

    def test_an_identifier_is_registered_once_only(self, client, organisation):
        response = client.post(
            reverse("registry:sign_up"),
            signup_post(identifier=organisation.identifier.lower()),
            headers={"accept-language": "en"},
        )
        # Without saying so, which would tell anyone what is registered (tests/registry/test_sign_up.py).
        assert response.status_code == 302
        assert Organisation.objects.filter(identifier=organisation.identifier).count() == 1

    def test_a_renamed_executable_is_refused_as_licence(self, client):
        data = signup_post(business_licence=SimpleUploadedFile("licence.pdf", b"MZ\x90\x00 not a pdf"))
        response = client.post(reverse("registry:sign_up"), data)
        assert response.status_code == 200
        assert "business_licence" in response.context["form"].errors
        assert not Organisation.objects.filter(identifier=data["identifier"]).exists()

    def test_email_confirmation_link_activates_the_account(
        self, client, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("registry:sign_up"), signup_post())
        link = next(line for line in mailoutbox[-1].body.splitlines() if "/signup/confirm/" in line)
        response = client.get(link.replace("http://127.0.0.1:8000", ""))
        assert response.status_code == 200
        assert User.objects.get(email="founder@example.com").is_active

    def test_a_forged_confirmation_link_is_refused(self, client):
        assert client.get(reverse("registry:confirm_email", args=["1:forged"])).status_code == 400


class TestPortalAccess:
    def test_members_read_their_organisation(self, client, viewer, organisation):
        client.force_login(viewer)
        response = client.get(reverse("registry:organisation"))
        assert response.status_code == 200
        assert organisation.identifier in response.text

    def test_admin_edits_declarant_and_viewer_get_403(self, client, admin, declarant, viewer):
        for user, status in [(admin, 200), (declarant, 403), (viewer, 403)]:
            client.force_login(user)
            assert client.get(reverse("registry:organisation_edit")).status_code == status

    def test_viewer_gets_403_on_every_member_action(self, client, viewer, declarant):
        client.force_login(viewer)
        pk = declarant.membership.pk
        for url, data in [
            (reverse("registry:invite"), {"email": "x@example.com", "role": "viewer"}),
            (reverse("registry:member_role", args=[pk]), {"role": "viewer"}),
            (reverse("registry:member_remove", args=[pk]), {}),
            (reverse("registry:member_hand_over", args=[pk]), {}),
        ]:
            assert client.post(url, data).status_code == 403, url
        assert not Invitation.objects.exists()

    def test_stranger_gets_404_on_another_organisations_members(self, client, stranger, declarant):
        client.force_login(stranger)
        pk = declarant.membership.pk
        for url in ["member_role", "member_remove", "member_hand_over"]:
            assert client.post(reverse(f"registry:{url}", args=[pk]), {"role": "viewer"}).status_code == 404
        assert Membership.objects.filter(pk=pk).exists()

    def test_licence_is_downloadable_by_members_and_bureau_only(self, client, organisation, viewer, stranger):
        from django.core.files.base import ContentFile

        organisation.business_licence.save("licence.pdf", ContentFile(PDF))
        url = reverse("registry:licence", args=[organisation.pk])
        client.force_login(viewer)
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == PDF
        client.force_login(stranger)
        assert client.get(url).status_code == 404
        for role in ("registry_admin", "intake_officer"):  # every bureau role that sees the office screen
            client.force_login(make_bureau(role))
            assert client.get(url).status_code == 200
        client.logout()
        assert client.get(url).status_code == 302

    def test_admin_edit_of_the_name_goes_back_to_verification(self, client, admin, organisation):
        client.force_login(admin)
        data = {
            f: getattr(organisation, f)
            for f in [
                "kind",
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
        data["name"] = "改名后有限公司"
        response = client.post(reverse("registry:organisation_edit"), data)
        assert response.status_code == 302
        organisation.refresh_from_db()
        assert (organisation.name, organisation.status) == ("改名后有限公司", OrganisationStatus.PENDING)

    def test_invite_and_accept_through_the_pages(self, client, admin, organisation, mailoutbox):
        client.force_login(admin)
        client.post(reverse("registry:invite"), {"email": "joiner@example.com", "role": "declarant"})
        invitation = Invitation.objects.get(email="joiner@example.com")
        client.logout()
        url = reverse("registry:accept_invitation", args=[invitation.token])
        response = client.post(
            url,
            {
                "full_name": "Joiner",
                "language": "en",
                "password1": "long-enough-Pass-42",
                "password2": "long-enough-Pass-42",
            },
        )
        assert response.status_code == 302
        assert Membership.objects.get(user__email="joiner@example.com").role == OrgRole.DECLARANT
        assert client.get(url).context["closed"] is True


class TestOffice:
    def test_enterprise_users_get_403_in_the_office(self, client, admin):
        client.force_login(admin)
        for name in ["registry:office", "registry:office_organisations", "registry:audit_log"]:
            assert client.get(reverse(name)).status_code == 403, name

    def test_bureau_user_page_lists_its_roles(self, client):
        client.force_login(make_bureau("approver", "expert"))
        response = client.get(reverse("registry:office"), headers={"accept-language": "en"})
        assert "Expert" in response.text and "Approver" in response.text

    def test_registry_admin_verifies_from_the_screen(self, client, mailoutbox):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        client.force_login(make_bureau("registry_admin"))
        assert (
            organisation.name in client.get(reverse("registry:office_organisations") + "?status=pending").text
        )
        response = client.post(
            reverse("registry:office_organisation_decide", args=[organisation.pk, "verify"])
        )
        assert response.status_code == 302
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.VERIFIED

    def test_rejection_without_reasons_is_refused_with_a_message(self, client):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        client.force_login(make_bureau("registry_admin"))
        url = reverse("registry:office_organisation_decide", args=[organisation.pk, "reject"])
        response = client.post(url, {"note": ""}, follow=True, headers={"accept-language": "en"})
        assert "Give the reasons" in response.text
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.PENDING

    def test_other_bureau_roles_cannot_decide(self, client):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        client.force_login(make_bureau("technical_reviewer"))
        url = reverse("registry:office_organisation_decide", args=[organisation.pk, "verify"])
        assert client.post(url).status_code == 403
        assert client.get(reverse("registry:office_organisation", args=[organisation.pk])).status_code == 200

    def test_unknown_decision_is_404(self, client, organisation):
        client.force_login(make_bureau("registry_admin"))
        url = reverse("registry:office_organisation_decide", args=[organisation.pk, "delete"])
        assert client.post(url).status_code == 404

    def test_audit_log_filters_and_pages_by_seq(self, client, organisation):
        client.force_login(make_bureau("approver"))
        response = client.get(reverse("registry:audit_log"), {"action": "organisation.verified"})
        events = response.context["events"]
        assert [e.action for e in events] == ["organisation.verified"]
        assert response.context["older"] is None

    def test_audit_log_keyset_paging(self, client, organisation):
        from registry import audit, views

        for _ in range(views.AUDIT_PAGE_SIZE + 3):
            audit.record(actor=None, action="test.bulk", subject=organisation)
        client.force_login(make_bureau("approver"))
        first = client.get(reverse("registry:audit_log"), {"action": "test.bulk"})
        assert len(first.context["events"]) == views.AUDIT_PAGE_SIZE
        older = first.context["older"]
        second = client.get(reverse("registry:audit_log"), {"action": "test.bulk", "before": older})
        assert len(second.context["events"]) == 3
        assert all(e.seq < older for e in second.context["events"])


def test_login_page_posts_with_the_email(client, admin):
    response = client.post(reverse("login"), {"username": admin.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
