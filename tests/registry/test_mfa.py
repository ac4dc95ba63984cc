"""Two-factor login: required for every bureau role before the office or the admin answers, optional for
enterprise users; TOTP with single-use recovery codes; wrong codes throttled; every change audited."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import mfa, roles
from registry.models import AuditEvent
from registry.services import TransitionRefused
from tests.factories import PASSWORD, admin_of, make_bureau, make_organisation, make_user, totp_code

pytestmark = pytest.mark.django_db

OFFICE, ADMIN = reverse("registry:office"), reverse("admin:index")


@pytest.fixture(autouse=True)
def in_english(client):
    """The messages asserted below are the English ones; the Chinese catalogue is checked elsewhere."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def log_in_with_password(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def enter(client, code, next_url=""):
    return client.post(reverse("mfa_verify"), {"code": code, "next": next_url})


def asked_for(response, step: str) -> bool:
    return response.status_code == 302 and response.url.startswith(reverse(step))


def actions_about(user) -> list[str]:
    events = AuditEvent.objects.filter(subject_type="registry.user", subject_id=str(user.pk))
    return [a for a in events.order_by("seq").values_list("action", flat=True) if a.startswith("user.mfa")]


def pending_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


# --- Who must use it -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", roles.BUREAU_ROLES)
def test_every_bureau_role_requires_it(role):
    user = make_user()
    user.groups.add(Group.objects.get(name=role))
    assert mfa.is_required(user)


def test_enterprise_users_are_not_required_to_use_it():
    assert not mfa.is_required(admin_of(make_organisation()))


@pytest.mark.parametrize("path", [OFFICE, ADMIN, reverse("registry:dashboard")])
def test_a_bureau_user_without_an_authenticator_must_set_one_up_first(client, path):
    user = make_user(is_staff=True)
    log_in_with_password(client, user)
    assert asked_for(client.get(path), "mfa_enrol")


@pytest.mark.parametrize("path", [OFFICE, ADMIN, reverse("registry:office_organisations")])
def test_a_password_alone_opens_neither_the_office_nor_the_admin(client, path):
    approver = make_bureau("registry_admin")
    log_in_with_password(client, approver)
    response = client.get(path)
    assert asked_for(response, "mfa_verify")
    assert f"next={path.replace('/', '%2F')}" in response.url


def test_the_login_and_code_pages_stay_open_before_the_code(client):
    log_in_with_password(client, make_bureau("approver"))
    assert client.get(reverse("mfa_verify")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


# --- Entering a code -----------------------------------------------------------------------------


def test_the_right_code_opens_the_office_and_the_admin(client):
    registrar = make_bureau("registry_admin")
    log_in_with_password(client, registrar)
    before = client.session.session_key
    response = enter(client, totp_code(registrar), OFFICE)
    assert response.status_code == 302
    assert response.url == OFFICE
    assert client.session.session_key != before
    assert client.get(OFFICE).status_code == 200
    assert client.get(ADMIN).status_code == 200


def test_a_wrong_code_is_refused_with_a_message(client):
    approver = make_bureau("approver")
    log_in_with_password(client, approver)
    right = totp_code(approver)
    response = enter(client, f"{(int(right) + 1) % 1000000:06d}")
    assert response.status_code == 200
    assert "not right" in response.text
    assert asked_for(client.get(OFFICE), "mfa_verify")


def test_wrong_codes_pause_the_authenticator(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 600  # the first pause lasts ten minutes: no race with the clock
    approver = make_bureau("approver")
    log_in_with_password(client, approver)
    right = totp_code(approver)
    enter(client, f"{(int(right) + 1) % 1000000:06d}")
    response = enter(client, right)
    assert "Too many wrong codes" in response.text
    assert asked_for(client.get(OFFICE), "mfa_verify")


def test_next_never_leads_off_the_portal(client):
    approver = make_bureau("approver")
    log_in_with_password(client, approver)
    response = enter(client, totp_code(approver), "https://evil.example/")
    assert response.url == reverse("registry:dashboard")


def test_a_recovery_code_works_once_and_is_audited(client):
    approver = make_bureau("approver")
    codes = mfa.renew_recovery_codes(approver)
    log_in_with_password(client, approver)
    assert enter(client, codes[0].upper(), OFFICE).url == OFFICE
    assert client.get(OFFICE).status_code == 200
    client.logout()
    log_in_with_password(client, approver)
    assert enter(client, codes[0]).status_code == 200
    assert asked_for(client.get(OFFICE), "mfa_verify")
    assert actions_about(approver) == ["user.mfa_recovery_codes_renewed", "user.mfa_recovery_code_used"]
    event = AuditEvent.objects.get(action="user.mfa_recovery_code_used")
    assert event.after == {"recovery_codes_left": 9}


# --- Setting it up -------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_confirms_a_code_and_shows_ten_recovery_codes_once(client):
    user = make_user(is_staff=True)
    log_in_with_password(client, user)
    page = client.get(reverse("mfa_enrol"))
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.text
    assert page.context["secret"].replace(" ", "") in page.text.replace(" ", "")
    response = client.post(reverse("mfa_enrol"), {"code": pending_code(user), "next": OFFICE})
    assert asked_for(response, "mfa_recovery_codes")
    shown = client.get(response.url)
    codes = shown.context["codes"]
    assert len(codes) == mfa.RECOVERY_CODES == 10
    assert all(code in shown.text for code in codes)
    assert asked_for(client.get(reverse("mfa_recovery_codes")), "mfa_manage")  # shown once only
    assert client.get(OFFICE).status_code == 200
    assert actions_about(user) == ["user.mfa_enrolled"]


def test_a_wrong_code_sets_nothing_up(client):
    user = make_user(is_staff=True)
    log_in_with_password(client, user)
    client.get(reverse("mfa_enrol"))
    right = pending_code(user)
    response = client.post(reverse("mfa_enrol"), {"code": f"{(int(right) + 1) % 1000000:06d}"})
    assert response.status_code == 200
    assert mfa.authenticator_of(user) is None
    assert asked_for(client.get(OFFICE), "mfa_enrol")


def test_a_password_alone_cannot_replace_an_existing_authenticator(client):
    approver = make_bureau("approver")
    log_in_with_password(client, approver)
    assert asked_for(client.get(reverse("mfa_enrol")), "mfa_verify")
    assert not TOTPDevice.objects.filter(user=approver, confirmed=False).exists()


def test_an_enterprise_user_may_turn_it_on_and_is_then_asked(client):
    member = admin_of(make_organisation())
    client.force_login(member)
    assert client.get(reverse("registry:portal")).status_code == 200
    client.get(reverse("mfa_enrol"))
    client.post(reverse("mfa_enrol"), {"code": pending_code(member)})
    client.logout()
    log_in_with_password(client, member)
    assert asked_for(client.get(reverse("registry:portal")), "mfa_verify")


def test_an_enterprise_user_may_turn_it_off_and_bureau_staff_may_not(client):
    member = admin_of(make_organisation())
    device = mfa.pending_authenticator(member)
    mfa.confirm_enrolment(device, pending_code(member))
    client.force_login(member)
    assert reverse("mfa_remove") in client.get(reverse("mfa_manage")).text
    assert client.post(reverse("mfa_remove")).status_code == 302
    assert mfa.authenticator_of(member) is None
    assert "user.mfa_removed" in actions_about(member)

    approver = make_bureau("approver")
    client.force_login(approver)
    page = client.get(reverse("mfa_manage"))
    assert "Make new recovery codes" in page.text
    assert reverse("mfa_remove") not in page.text
    client.post(reverse("mfa_remove"))
    assert mfa.authenticator_of(approver) is not None
    with pytest.raises(TransitionRefused):
        mfa.remove_mfa(approver)


# --- Reset by a registry administrator ------------------------------------------------------------


def test_a_registry_admin_resets_a_staff_members_mfa_in_the_admin(client):
    registrar = make_bureau("registry_admin")
    approver = make_bureau("approver")
    mfa.renew_recovery_codes(approver)
    approvers_session = client.__class__()
    approvers_session.force_login(approver)
    assert approvers_session.get(OFFICE).status_code == 200

    client.force_login(registrar)
    response = client.post(
        reverse("admin:registry_user_changelist"), {"action": "reset_mfa", "_selected_action": [approver.pk]}
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=approver).exists()
    assert not StaticDevice.objects.filter(user=approver).exists()
    event = AuditEvent.objects.get(action="user.mfa_reset")
    assert (event.actor, event.subject_id) == (registrar, str(approver.pk))
    # The approver's session verified with the old authenticator is verified no more.
    assert asked_for(approvers_session.get(OFFICE), "mfa_enrol")


def test_only_a_registry_admin_may_reset_and_never_their_own(client):
    registrar = make_bureau("registry_admin")
    approver = make_bureau("approver")
    with pytest.raises(TransitionRefused):
        mfa.reset_mfa(registrar, by=approver)
    with pytest.raises(TransitionRefused):
        mfa.reset_mfa(registrar, by=registrar)
    client.force_login(approver)
    client.post(
        reverse("admin:registry_user_changelist"), {"action": "reset_mfa", "_selected_action": [registrar.pk]}
    )
    assert mfa.authenticator_of(registrar) is not None
    assert not AuditEvent.objects.filter(action="user.mfa_reset").exists()
