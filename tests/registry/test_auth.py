import pytest
from django.test import override_settings
from django.urls import reverse

from registry.models import AuditEvent
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LIMIT = 5


def attempt(client, email, password="wrong-password", **extra):  # noqa: S107
    return client.post(reverse("login"), {"username": email, "password": password}, **extra)


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


def test_an_account_is_locked_after_repeated_failures_from_many_addresses(client):
    user = make_user()
    for i in range(LIMIT):
        attempt(client, user.email, REMOTE_ADDR=f"203.0.113.{i + 1}")
    response = attempt(client, user.email, PASSWORD, REMOTE_ADDR="203.0.113.99")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_failures_across_accounts(client):
    for i in range(LIMIT):
        attempt(client, f"nobody{i}@example.com", REMOTE_ADDR="198.51.100.7")
    user = make_user()
    assert attempt(client, user.email, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 429
    assert attempt(client, user.email, PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_lockout_counts_the_real_client_behind_the_trusted_proxy(client):
    with override_settings(TRUSTED_PROXY_HEADER="X-Forwarded-For", TRUSTED_PROXY_COUNT=1):
        for i in range(LIMIT):
            attempt(
                client,
                f"nobody{i}@example.com",
                REMOTE_ADDR="10.0.0.1",
                headers={"x-forwarded-for": "192.0.2.50"},
            )
        user = make_user()
        # Same proxy, another client: not locked. The locked client: locked, whatever it claims on the left.
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
