"""The second step of a login in the browser tests: bureau users (make_bureau sets up an authenticator for
each) type the code their app shows, as a person would."""

from playwright.sync_api import Page, expect

from registry.models import User
from tests.factories import totp_code


def type_login_code(page: Page, email: str) -> None:
    """Call right after the password was sent. Does nothing for a user without an authenticator."""
    user = User.objects.get(email=email)
    if not user.totpdevice_set.filter(confirmed=True).exists():
        return
    code = page.locator("#id_code")
    code.fill(totp_code(user))  # waits for the code page
    page.locator("main form button[type=submit]").first.click()
    expect(code).to_have_count(0)  # the code was accepted and the next page is there
