import pytest
from django.test import override_settings
from django.urls import reverse

from registry.models import AuditEvent
from tests.factories import PASSWORD, make_bureau, make_user

pytestmark = pytest.mark.django_db

LIMIT = 5
STRANGER, OWNER, OFFICE = "203.0.113.66", "198.51.100.20", "192.0.2.10"
NEW_PASSWORD = "a-New-pass-9876"


def attempt(client, email, password="wrong-password", **extra):  # noqa: S107
    return client.post(reverse("login"), {"username": email, "password": password}, **extra)


def reset_link(mail) -> str:
    link = next(line for line in mail.body.splitlines() if "/reset/" in line)
    return link.split("testserver", 1)[1]


def reset_password(client, user, new_password, mailoutbox, **extra):
    client.post(reverse("password_reset"), {"email": user.email}, **extra)
    form_page = client.get(reset_link(mailoutbox[-1]), follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert response.status_code == 302


def test_session_key_is_rotated_at_login(client):
    user = make_user()
    client.get(reverse("login"))
    client.session.save()
    before = client.session.session_key
    attempt(client, user.email, PASSWORD)
    assert client.session.session_key != before
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logins_and_failed_logins_are_audited(client):
    user = make_user()
    attempt(client, user.email)
    attempt(client, user.email, PASSWORD)
    actions = list(
        AuditEvent.objects.filter(subject_id=str(user.pk)).order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["user.login_failed", "user.logged_in"]


def test_failures_pause_an_approver_only_from_the_address_that_failed(client):
    approver = make_bureau("approver")
    for _ in range(LIMIT + 2):
        attempt(client, approver.email, REMOTE_ADDR=STRANGER)
    # The stranger's address is paused for that account, even with the right password ...
    assert attempt(client, approver.email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 429
    assert "_auth_user_id" not in client.session
    # ... while the approver, from their own address, logs in (and goes on to the second step).
    response = attempt(client, approver.email, PASSWORD, REMOTE_ADDR=OWNER)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(approver.pk)
    assert client.get(response.url).url.startswith(reverse("mfa_verify"))


def test_a_password_reset_lifts_the_pause_from_every_address(client, mailoutbox):
    approver = make_bureau("approver")
    for _ in range(LIMIT):
        attempt(client, approver.email, REMOTE_ADDR=STRANGER)
    assert attempt(client, approver.email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 429
    reset_password(client, approver, NEW_PASSWORD, mailoutbox)
    assert attempt(client, approver.email, NEW_PASSWORD, REMOTE_ADDR=STRANGER).status_code == 302
    assert client.session["_auth_user_id"] == str(approver.pk)
    assert AuditEvent.objects.filter(action="user.password_reset", subject_id=str(approver.pk)).exists()


def test_failures_over_a_few_accounts_pause_no_other_account(client):
    for i in range(LIMIT):
        attempt(client, f"nobody{i}@example.com", REMOTE_ADDR=OFFICE)
    # A shared office address where a few people mistyped: a colleague still logs in.
    user = make_user()
    assert attempt(client, user.email, PASSWORD, REMOTE_ADDR=OFFICE).status_code == 302


def test_an_address_spraying_many_accounts_is_paused_at_its_own_looser_limit(client, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    for i in range(7):
        attempt(client, f"nobody{i}@example.com", REMOTE_ADDR=STRANGER)
    assert attempt(client, make_user().email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 302
    client.logout()
    attempt(client, "nobody7@example.com", REMOTE_ADDR=STRANGER)
    user = make_user()
    assert attempt(client, user.email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 429
    assert attempt(client, user.email, PASSWORD, REMOTE_ADDR=OWNER).status_code == 302


def test_logging_in_to_ones_own_account_does_not_reopen_spraying(client, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    own = make_user()
    for i in range(4):
        attempt(client, f"nobody{i}@example.com", REMOTE_ADDR=STRANGER)
    assert attempt(client, own.email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 302
    client.logout()
    for i in range(4, 8):
        attempt(client, f"nobody{i}@example.com", REMOTE_ADDR=STRANGER)
    assert attempt(client, make_user().email, PASSWORD, REMOTE_ADDR=STRANGER).status_code == 429


def test_lockout_counts_the_real_client_behind_the_trusted_proxy(client):
    user = make_user()
    with override_settings(TRUSTED_PROXY_HEADER="X-Forwarded-For", TRUSTED_PROXY_COUNT=1):
        for _ in range(LIMIT):
            attempt(client, user.email, REMOTE_ADDR="10.0.0.1", headers={"x-forwarded-for": "192.0.2.50"})
        # Same proxy, another client: not paused. The paused client: paused, whatever it claims on the left.
        ok = attempt(
            client, user.email, PASSWORD, REMOTE_ADDR="10.0.0.1", headers={"x-forwarded-for": "192.0.2.51"}
        )
        assert ok.status_code == 302
        client.logout()
        locked = attempt(
            client,
            user.email,
            PASSWORD,
            REMOTE_ADDR="10.0.0.1",
            headers={"x-forwarded-for": "1.2.3.4, 192.0.2.50"},
        )
        assert locked.status_code == 429


def test_lockout_page_is_translated(client):
    user = make_user()
    for _ in range(LIMIT):
        attempt(client, user.email)
    response = attempt(client, user.email, PASSWORD, headers={"accept-language": "zh-hans"})
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text


def test_password_reset_by_email(client, mailoutbox):
    user = make_user()
    client.post(reverse("password_reset"), {"email": user.email})
    assert mailoutbox[-1].to == [user.email]
    link = next(line for line in mailoutbox[-1].body.splitlines() if "/reset/" in line)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-New-pass-9876", "new_password2": "a-New-pass-9876"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-New-pass-9876")


def test_password_validators_apply(client):
    user = make_user()
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]


# --- Password reset: throttled, and the same answer whatever happened ---------------------------


def ask_reset(client, email, address="192.0.2.200"):
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)


def test_reset_mails_to_one_account_are_limited_per_hour(client, mailoutbox):
    user = make_user()
    answers = {
        (r.status_code, r.url) for r in (ask_reset(client, user.email, f"192.0.2.{i}") for i in range(10))
    }
    assert answers == {(302, reverse("password_reset_done"))}
    assert len(mailoutbox) == 3


def test_reset_requests_from_one_address_are_limited_per_hour(client, mailoutbox, settings):
    for i in range(settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR):
        ask_reset(client, f"nobody{i}@example.com", STRANGER)
    user = make_user()
    assert ask_reset(client, user.email, STRANGER).url == reverse("password_reset_done")
    assert mailoutbox == []
    ask_reset(client, user.email, OWNER)
    assert [m.to for m in mailoutbox] == [[user.email]]


def test_reset_answers_the_same_for_a_known_an_unknown_and_a_held_back_address(client, mailoutbox):
    user = make_user()
    for _ in range(3):
        ask_reset(client, user.email)
    sent = len(mailoutbox)
    known_but_held = client.post(reverse("password_reset"), {"email": user.email}, follow=True)
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert len(mailoutbox) == sent
    assert known_but_held.redirect_chain == unknown.redirect_chain
    assert known_but_held.status_code == unknown.status_code == 200
    assert known_but_held.content == unknown.content


def test_lockout_page_tells_the_owner_the_way_back_in(client):
    user = make_user()
    for _ in range(LIMIT):
        attempt(client, user.email)
    response = attempt(client, user.email, PASSWORD, headers={"accept-language": "en"})
    assert "from your network" in response.text
    assert reverse("password_reset") in response.text
