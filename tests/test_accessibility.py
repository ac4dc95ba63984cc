"""Accessibility in real Chromium (issue 13): no axe-core violation of any impact on any page of the three
faces, in both languages, and every control reachable and usable by keyboard alone.

axe-core is vendored from the npm registry under static/vendor/axe-core-<version>/ (README, "Map of the
code") and injected here only, by the browser context: no template loads it.

Which pages: the demo world (seed_demo, what `make run` shows: a case in every review stage, phases in each
state, transfers, retirements, compliance records) is walked by one person per kind of login. Each walk
checks its starting pages, then follows every link of the portal, checking one page per kind (its URL
pattern and the names of its query parameters), so a page linked from anywhere is checked the day it
exists, without editing this file. A GET route that no walk reaches fails the test: add a starting page in
walks(), or say in NOT_WALKED why it is not a page (a POST action, a file) or where else it is checked.
"""

import re
from collections import deque
from dataclasses import dataclass, field
from importlib import import_module
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.test import Client, RequestFactory
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect

from offsets.behaviour.models import Batch, DonationEvent, PlatformAgreement
from offsets.models import IssuancePhase, Objection, Retirement, RetirementKind, Transfer, TransferStatus
from offsets.views import OBJECTION_RECEIPT_SALT
from projects.models import Declaration, Project, Stage
from registry import services as registry_services
from registry.demo import DEMO_DOMAIN, DEMO_PASSWORD
from registry.management.commands.seed_demo import DEMO_MODULES
from registry.models import Organisation, User
from registry.views import server_error
from tests.factories import totp_code
from tests.urls_walk import discover_routes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

(AXE,) = (settings.BASE_DIR / "static" / "vendor").glob("axe-core-*/axe.min.js")

# All of axe's rules but the experimental ones: WCAG 2.x A and AA, and the best practices (landmarks,
# heading order, one main, region).
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.flatMap((v) => v.nodes.map((n) =>
    `${v.id} (${v.impact}): ${v.help} at ${n.target.join(" ")}: ${n.failureSummary.replace(/\\s+/g, " ")}`));
}"""

# What a mouse reaches that Tab must reach too. With no script of our own, the controls are native ones and
# Bootstrap's toggles; a control taken out of the Tab order, or a toggle on an element Tab skips, is caught.
KEYBOARD = """() => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const name = (el) => el.outerHTML.slice(0, 120);
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], " +
    "[role=link], [role=tab], [role=menuitem], [data-bs-toggle]";
  const problems = [];
  for (const el of document.querySelectorAll(controls)) {
    if (el.matches(":disabled") || el.closest("[inert]") || !shown(el)) continue;
    if (el.tabIndex < 0) problems.push(`keyboard: Tab never reaches ${name(el)}`);
  }
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (el.tabIndex > 0) problems.push(`keyboard: a positive tabindex reorders Tab at ${name(el)}`);
  }
  return problems;
}"""

# The page's main form: the first one in main that asks for something.
FORM = "main form[method=post]:has(input:not([type=hidden]), select, textarea)"

LINKS = "() => Array.from(document.querySelectorAll('a[href]'), (a) => a.href)"

# Routes not followed: they change the session (log out, the language) rather than show a page.
NOT_FOLLOWED = {"logout", "set_language", "registry:switch_language"}

# GET routes no walk reaches, and why that is right.
NOT_WALKED = {
    "healthz": "JSON for monitoring, not a page",
    "registry:licence": "a file (an organisation's business licence)",
    "offsets:objection_attachment": "a file (an objector's evidence)",
    "projects:declaration_template": "a file (XLSX)",
    "registry:invite": "a POST action (its form is on registry:members)",
    "projects:project_upload": "a POST action (its form is on the project's page)",
    "projects:declaration_upload": "a POST action (its form is on the declaration's page)",
    "projects:declaration_data": "a POST action (its form is on the declaration's page)",
    "projects:declaration_sheet": "a POST action (its form is on the declaration's page)",
    "logout": "a POST action",
    "set_language": "a POST action (the GET language links are registry:switch_language)",
    "registry:switch_language": "a redirect that sets the language cookie",
    "mfa_verify": "the login's code page: checked in test_every_flow_by_keyboard_alone",
    "mfa_recovery_codes": "shown once after setting up an authenticator: checked in the keyboard test",
    "mfa_renew_recovery_codes": "a POST action",
    "mfa_remove": "a POST action",
    "registry:member_role": "a POST action",
    "registry:member_remove": "a POST action",
    "registry:member_hand_over": "a POST action",
    "registry:office_organisation_kind": "a POST action",
    "registry:office_organisation_covered_emitter": "a POST action",
    "registry:office_organisation_decide": "a POST action",
    "projects:project_submit": "a POST action",
    "projects:project_withdraw": "a POST action",
    "projects:project_resubmit": "a POST action",
    "projects:declaration_submit": "a POST action",
    "projects:declaration_withdraw": "a POST action",
    "projects:declaration_resubmit": "a POST action",
    "projects:answer_finding": "a POST action",
    "projects:office_decide": "a POST action",
    "offsets:transfer_cancel": "a POST action",
    "offsets:offset_withdraw": "a POST action",
    "offsets:answer_objection": "a POST action",
    "offsets:office_phase_act": "a POST action",
    "offsets:rule": "a POST action",
    "offsets:office_transfer_decide": "a POST action",
    "offsets:office_offset_decide": "a POST action",
    "offsets:office_account_cancel": "a POST action",
    "offsets:office_link_boundary": "a POST action",
    "behaviour:api_batch": "the platforms' API (JSON), not a page",
    "behaviour:api_rejected": "the platforms' API (CSV), not a page",
    "behaviour:openapi": "the API's description (JSON), not a page",
    "behaviour:platform_batch_rejected": "a file (CSV of a batch's rejected rows)",
    "behaviour:platform_batch_original": "a file (a batch as sent)",
    "behaviour:donation_certificate": "a file (PDF)",
    "behaviour:platform_close_month": "a POST action (its form is on behaviour:platform_months)",
    "behaviour:office_platform_agreement": "a POST action (its form is on behaviour:office_platform)",
    "behaviour:office_platform_issue_key": "a POST action (its form is on behaviour:office_platform)",
    "behaviour:office_platform_new_key": "behaviour:office_platform with a new key's token, or a redirect",
    "behaviour:office_platform_revoke_key": "a POST action (its form is on behaviour:office_platform)",
    "behaviour:my_account": "a redirect to the resident's own account page",
}


@dataclass
class Walk:
    who: str | None  # a demo login's e-mail local part; None walks as the public
    starts: list[str]  # always checked, whatever was checked before
    # Pages checked, then checked again after sending a form of theirs empty (URL: the form's CSS selector).
    send_empty: dict[str, str] = field(default_factory=dict)


def walks() -> list[Walk]:
    """The starting pages, in the demo world: each face's home, and a page in each state that links alone
    would reach only once (a case in every review stage, a phase in every state, pending and decided
    transfers), plus pages reached from e-mails (tokens) and the error pages."""
    gem = Organisation.objects.get(memberships__user__email=f"gem.admin@{DEMO_DOMAIN}")
    admin = User.objects.get(email=f"gem.admin@{DEMO_DOMAIN}")
    invitation = registry_services.invite_member(gem, by=admin, email=f"new@{DEMO_DOMAIN}", role="viewer")
    uid, token = urlsafe_base64_encode(force_bytes(admin.pk)), default_token_generator.make_token(admin)
    in_each_stage = {
        kind: [case for stage in Stage if (case := model.objects.filter(stage=stage).order_by("pk").first())]
        for kind, model in (("declarations", Declaration), ("projects", Project))
    }
    gem_cases = [
        f"/portal/{kind}/{case.pk}/"
        for kind, cases in (
            ("declarations", Declaration.objects.filter(project__organisation=gem)),
            ("projects", Project.objects.filter(organisation=gem)),
        )
        for stage in Stage
        if (case := cases.filter(stage=stage).order_by("pk").first())
    ]
    objection = Objection.objects.select_related("phase").order_by("pk").first()
    receipt = signing.dumps(objection.pk, salt=OBJECTION_RECEIPT_SALT)
    transfers = {transfer.status: transfer for transfer in Transfer.objects.order_by("-pk")}.values()
    return [
        Walk(
            None,
            [
                "/",
                "/signup/done/",
                "/residents/signup/done/",
                "/signup/confirm/not-a-token/",
                "/accounts/password_reset/done/",
                f"/accounts/reset/{uid}/{token}/",
                "/accounts/reset/done/",
                f"/invitation/{invitation.token}/",
                "/transparency/",
                "/verify/?q=WHCER-C-2023-000001",
                "/verify/?q=WHCER-X-0000-000000",
                *(f"/notices/{phase.code}/" for phase in IssuancePhase.objects.exclude(notice_start=None)),
                f"/notices/{objection.phase.code}/object/received/{receipt}/",
                "/no-such-page/",  # the 404 page
                "/registry/?q=%00",  # the 400 page
            ],
            send_empty={
                "/accounts/login/": FORM,
                "/signup/": FORM,
                "/residents/signup/": FORM,
                "/accounts/password_reset/": FORM,
                f"/notices/{objection.phase.code}/object/": FORM,
            },
        ),
        Walk(
            "gem.admin",
            ["/portal/", "/inbox/", "/accounts/password_change/done/", *gem_cases],
            send_empty={
                "/portal/projects/new/": FORM,
                "/portal/account/transfers/new/": FORM,
                "/portal/account/retire/": FORM,
                "/portal/members/": "main form[action$='/invite/']",
            },
        ),
        Walk("gem.viewer", ["/portal/"]),
        # Residents' behaviour: a platform operator, a resident, the pages of one without an account.
        Walk(
            "travel.admin",
            [
                "/portal/platform/",
                "/portal/platform/months/",
                "/portal/platform/api/",
                *(
                    f"/portal/platform/batches/{b.batch_id}/"
                    for b in Batch.objects.filter(
                        platform__memberships__user__email=f"travel.admin@{DEMO_DOMAIN}"
                    )[:1]
                ),
            ],
            send_empty={"/portal/platform/upload/": FORM},
        ),
        Walk(
            "resident",
            [
                "/residents/account/",
                "/residents/events/",
                *(f"/residents/events/{event.pk}/donate/" for event in DonationEvent.objects.all()[:1]),
            ],
        ),
        Walk("gem.declarant", ["/residents/account/open/"]),
        Walk("steel.admin", ["/portal/"], send_empty={"/portal/account/offset/": FORM}),
        Walk("verifier", ["/portal/", "/portal/verification/"]),
        Walk("pending.admin", ["/portal/"]),
        Walk("household", ["/portal/"]),
        Walk(
            "admin",
            [
                "/office/",
                "/inbox/",
                *(
                    f"/office/case/{kind}/{case.pk}/"
                    for kind, cases in in_each_stage.items()
                    for case in cases
                ),
                *(f"/office/phases/{phase.code}/" for phase in IssuancePhase.objects.all()),
                *(f"/office/transfers/{transfer.reference}/" for transfer in transfers),
                *(
                    f"/office/offsets/{r.reference}/"
                    for r in Retirement.objects.filter(kind=RetirementKind.COMPLIANCE)
                ),
                "/office/organisations/?status=pending",
                "/office/platforms/",
                *(
                    f"/office/platforms/{agreement.organisation_id}/"
                    for agreement in PlatformAgreement.objects.all()
                ),
            ],
        ),
        # The 403 page: a technical reviewer does not confirm transfers.
        Walk("reviewer", ["/office/", "/office/review/declarations/mine/", "/office/transfers/"]),
    ]


class Walker:
    """Checks pages in one language; remembers which kinds of page it checked and what it found."""

    def __init__(self, browser: Browser, base: str, language: str):
        self.browser, self.base, self.language = browser, base, language
        self.checked: set[tuple] = set()
        self.reached: set[str] = set()  # URL names, of pages and of files
        self.problems: list[str] = []

    def context(self, who: str | None) -> BrowserContext:
        context = self.browser.new_context(locale="en-GB" if self.language == "en" else "zh-CN")
        # An init script is the page's own code for the CSP: nothing of axe reaches a template.
        context.add_init_script(path=str(AXE))
        cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": self.language, "url": self.base}]
        if who:
            client = Client()
            client.force_login(User.objects.get(email=f"{who}@{DEMO_DOMAIN}"))
            session = client.cookies[settings.SESSION_COOKIE_NAME].value
            cookies.append({"name": settings.SESSION_COOKIE_NAME, "value": session, "url": self.base})
        context.add_cookies(cookies)
        return context

    def check(self, page: Page, label: str) -> None:
        for problem in page.evaluate(RUN_AXE) + page.evaluate(KEYBOARD):
            self.problems.append(f"{self.language} {label}: {problem}")

    def walk(self, walk: Walk) -> None:
        context = self.context(walk.who)
        page = context.new_page()
        queue = deque((url, True) for url in dict.fromkeys([*walk.starts, *walk.send_empty]))
        while queue:
            url, start = queue.popleft()
            parts = urlsplit(urljoin(self.base, url))
            if parts.scheme not in ("http", "https") or parts.netloc != urlsplit(self.base).netloc:
                continue  # another site, an e-mail address
            if parts.path.startswith(("/admin/", "/static/")):  # Django's admin is not one of our faces
                continue
            try:
                match = resolve(parts.path)
            except Resolver404:
                name, kind = "", (parts.path,)
            else:
                name = match.view_name
                kind = (
                    match.route,
                    tuple(sorted(key.split("=")[0] for key in parts.query.split("&") if key)),
                )
            if name in NOT_FOLLOWED or (kind in self.checked and not start):
                continue
            self.checked.add(kind)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            label = f"{walk.who or 'public'} {target}"
            try:
                response = page.goto(self.base + target)
            except Error as error:
                if "Download is starting" not in error.message:
                    raise
                self.reached.add(name)
                continue
            self.reached.add(name)
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            if response.status >= 400 and not start:
                self.problems.append(f"{self.language} {label}: a link answers {response.status}")
            self.check(page, label)
            if form := walk.send_empty.get(target):
                self.send_empty(page, label, form)
            queue.extend((link, False) for link in page.evaluate(LINKS))
        context.close()

    def check_server_error_page(self) -> None:
        """No link leads to the 500 page: the handler's answer is served in place of a page and checked."""
        with translation.override(self.language):
            response = server_error(RequestFactory().get("/"))
        context = self.context(None)
        page = context.new_page()
        page.route(
            self.base + "/server-error/",
            lambda route: route.fulfill(
                status=500, body=response.content, content_type="text/html; charset=utf-8"
            ),
        )
        page.goto(self.base + "/server-error/")
        self.check(page, "public (the 500 page)")
        context.close()

    def send_empty(self, page: Page, label: str, selector: str) -> None:
        """The form sent as it is, browser validation aside: the errors, and how they are tied to their
        fields, are checked too."""
        form = page.locator(selector).first
        form.evaluate("(form) => form.setAttribute('novalidate', '')")
        with page.expect_navigation():
            form.locator("[type=submit]").first.click()
        expect(
            page.locator("main .invalid-feedback, main .alert-danger, main .errorlist").first
        ).to_be_visible()
        self.check(page, f"{label} (sent empty)")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_accessibility_violation_on_any_page(browser: Browser, live_server, language):
    templates = (settings.BASE_DIR / "templates").rglob("*.html")
    assert [path for path in templates if "axe-core" in path.read_text()] == [], "axe is for tests only"
    for module in DEMO_MODULES:
        import_module(module).seed()
    walker = Walker(browser, live_server.url, language)
    for walk in walks():
        walker.walk(walk)
    walker.check_server_error_page()

    assert walker.problems == [], "\n".join(walker.problems)
    routes = {route.name for route in discover_routes() if route.name and not route.name.startswith("admin:")}
    unreached = sorted(routes - walker.reached - set(NOT_WALKED))
    assert unreached == [], f"No walk reaches {unreached}: add a start to walks() or a reason to NOT_WALKED."


# --- Keyboard alone --------------------------------------------------------------------------------------

FOCUSED = "() => (document.activeElement || document.body).outerHTML.slice(0, 100)"


def tab_to(page: Page, selector: str, limit: int = 200) -> None:
    """Press Tab, as a keyboard user does, until the focus is on the element; fail naming where Tab went."""
    passed = []
    for _ in range(limit):
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
        passed.append(page.evaluate(FOCUSED))
    pytest.fail(f"Tab never reaches {selector} on {page.url}; it went through:\n" + "\n".join(passed))


def press_enter(page: Page) -> None:
    """Enter on a link or in a form, and wait for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def log_in_by_keyboard(page: Page, who: str) -> None:
    tab_to(page, "header a[href^='/accounts/login/']")
    press_enter(page)
    tab_to(page, "#id_username")
    page.keyboard.type(f"{who}@{DEMO_DOMAIN}")
    tab_to(page, "#id_password")
    page.keyboard.type(DEMO_PASSWORD)
    press_enter(page)


@pytest.mark.timeout(180)
def test_every_flow_by_keyboard_alone(browser: Browser, live_server):
    """The public verifies a certificate; the registry administrator logs in with the code and confirms a
    transfer; a declarant opens the portal's menus, retires credits and sets up two-factor login: Tab,
    typing and Enter only. The pages only these flows reach (the code page, the recovery codes) get axe
    too."""
    for module in DEMO_MODULES:
        import_module(module).seed()
    walker = Walker(browser, live_server.url, "zh-hans")
    context = walker.context(None)
    page = context.new_page()

    # The skip link is the first stop and takes the focus to the content.
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    tab_to(page, "header a[href='/verify/']")
    press_enter(page)
    tab_to(page, "#id_q")
    page.keyboard.type("WHCER-C-2023-000001")
    press_enter(page)
    expect(page.locator("main .alert-success")).to_be_visible()

    # The registry administrator: password, then the code, then a pending transfer confirmed.
    log_in_by_keyboard(page, "registrar")
    expect(page).to_have_url(re.compile(r"/accounts/mfa/verify/"))
    walker.check(page, "registrar (the code page)")
    tab_to(page, "#id_code")
    page.keyboard.type(totp_code(User.objects.get(email=f"registrar@{DEMO_DOMAIN}")))
    press_enter(page)
    pending = Transfer.objects.get(status=TransferStatus.PENDING)
    tab_to(page, ".office-sidebar a[href='/office/transfers/']")
    press_enter(page)
    tab_to(page, f"main a[href='/office/transfers/{pending.reference}/']")
    press_enter(page)
    tab_to(page, ".transfer-confirm button[type=submit]")
    press_enter(page)
    pending.refresh_from_db()
    assert pending.status == TransferStatus.COMPLETED
    # Log out through the account menu.
    tab_to(page, "header .site-account")
    page.keyboard.press("Enter")
    tab_to(page, "header form[action='/accounts/logout/'] button")
    press_enter(page)

    # A declarant: the organisation menu, then a retirement, then two-factor login set up.
    log_in_by_keyboard(page, "gem.declarant")
    tab_to(page, "header .site-nav .dropdown-toggle")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    expect(page.locator("header a[href='/portal/organisation/']")).to_be_focused()
    press_enter(page)
    tab_to(page, "header a[href='/portal/account/']")
    press_enter(page)
    tab_to(page, "main a[href='/portal/account/retire/']")
    press_enter(page)
    tab_to(page, "#id_quantity")
    page.keyboard.type("5")
    tab_to(page, "#id_beneficiary_kind")
    page.keyboard.press("ArrowDown")  # an event
    tab_to(page, "#id_beneficiary")
    page.keyboard.type("Keyboard marathon")
    tab_to(page, "#id_purpose")
    page.keyboard.type("Retired by keyboard alone.")
    tab_to(page, ".retirement-form button[type=submit]")
    press_enter(page)
    retirement = Retirement.objects.get(beneficiary="Keyboard marathon")
    assert (retirement.quantity, retirement.beneficiary_kind) == (5, "event")

    tab_to(page, "header .site-account")
    page.keyboard.press("Enter")
    tab_to(page, "header a[href='/accounts/mfa/']")
    press_enter(page)
    tab_to(page, "main a[href^='/accounts/mfa/enrol/']")
    press_enter(page)
    declarant = User.objects.get(email=f"gem.declarant@{DEMO_DOMAIN}")
    device = TOTPDevice.objects.get(user=declarant, confirmed=False)
    tab_to(page, "#id_code")
    page.keyboard.type(f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}")
    press_enter(page)
    expect(page).to_have_url(re.compile(r"/accounts/mfa/recovery-codes/"))
    walker.check(page, "gem.declarant (recovery codes)")

    assert walker.problems == [], "\n".join(walker.problems)
    context.close()
