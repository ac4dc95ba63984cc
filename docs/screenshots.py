"""The README's screenshots, retaken from the demo: `make screenshots`.

What `make run` does, on a fresh SQLite file in a temporary folder (never var/db.sqlite3): migrate, load the
demo (seed_demo), serve the portal on a free port with DEBUG off and the embedded demo on. Then Chromium
(Playwright, /usr/bin/chromium) logs in as the demo people do, bureau staff with the code of the published
demo authenticator, and photographs each screen of SHOTS at 1366×768, in Chinese (the default) and, for a
few, in English. The PNGs are reduced to a palette and written to docs/screenshots/; the README shows them.

Every step waits for what it needs (the server's answer, the page's heading, the fonts), never a fixed
time. It lives in docs/ beside the pictures it makes: it measures nothing, so it is not a benchmark.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
OUT = BASE_DIR / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
COLOURS = 192  # a palette this size keeps anti-aliased Chinese text clean at about a third of the bytes


@dataclass(frozen=True)
class Shot:
    name: str  # file name without .png; English shots end in -en
    who: str | None  # a demo login's e-mail local part; None is the public
    path: str  # may name {placeholders} filled from the demo data by demo_references()
    language: str = "zh-hans"


# Grouped by login: each login logs in once (a login code works once), then switches language by cookie.
SHOTS = [
    Shot("public-home", None, "/"),
    Shot("public-home-en", None, "/", "en"),
    Shot("public-registry", None, "/registry/"),
    Shot("public-notice", None, "/notices/2023P01/"),
    Shot("public-notice-open", None, "/notices/{phase_in_notice}/"),
    Shot("public-verify", None, "/verify/?q=WHCER-C-2023-000001"),
    Shot("public-verify-en", None, "/verify/?q=WHCER-C-2023-000001", "en"),
    Shot("public-retirements", None, "/retirements/"),
    Shot("public-methodologies", None, "/methodologies/"),
    Shot("public-methodologies-en", None, "/methodologies/", "en"),
    Shot("portal-home", "gem.declarant", "/portal/"),
    Shot("portal-account", "gem.declarant", "/portal/account/"),
    Shot("portal-statement", "gem.declarant", "/portal/account/statement/"),
    Shot("portal-transfer-form", "gem.declarant", "/portal/account/transfers/new/"),
    Shot("portal-declaration", "gem.declarant", "/portal/declarations/{gem_declaration}/"),
    Shot("portal-home-en", "gem.declarant", "/portal/", "en"),
    Shot("office-queue", "reviewer", "/office/review/declarations/overdue/"),
    Shot("office-case", "approver", "/office/case/declarations/{case_in_approval}/"),
    Shot("office-case-en", "approver", "/office/case/declarations/{case_in_approval}/", "en"),
    Shot("office-phase", "registrar", "/office/phases/{phase_in_notice}/"),
    Shot("office-phase-assembling", "registrar", "/office/phases/{phase_assembling}/"),
    Shot("office-transfers", "registrar", "/office/transfers/"),
    Shot("office-transfer", "registrar", "/office/transfers/{pending_transfer}/"),
    Shot("office-offset", "registrar", "/office/offsets/{compliance_offset}/"),
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="carbon-registry-shots-") as work:
        env = demo_environment(Path(work))
        for command in (["migrate", "--noinput"], ["seed_demo"], ["collectstatic", "--noinput"]):
            manage(env, *command)
        os.environ.clear()  # this process reads the same database, for the references of demo_references()
        os.environ.update(env)
        import django

        django.setup()
        references = demo_references()
        port = free_port()
        log = Path(work) / "serve.log"
        with log.open("w") as out:
            server = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
                [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base, server, log)
            taken = photograph(base, references)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for stale in set(OUT.glob("*.png")) - set(taken):  # a shot renamed or dropped from SHOTS
        stale.unlink()
    total = sum(path.stat().st_size for path in taken)
    print(f"{len(taken)} screenshots in {OUT.relative_to(BASE_DIR)}/, {total / 1e6:.1f} MB in all.")


def demo_environment(work: Path) -> dict[str, str]:
    """`make run`'s settings (ADR 0011) on files of our own; Redis and SMTP left out, as on a fresh clone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS", "MAIL_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_EMBEDDED_DEMO": "true",
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            "PRIVATE_FILES_ROOT": str(work / "files"),
            "STATIC_ROOT": str(work / "static"),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    print("manage.py", *args, flush=True)
    result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", *args, "--verbosity", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def demo_references() -> dict[str, str]:
    """The demo objects whose keys depend on the day seed_demo ran (this year's phases, database ids)."""
    from offsets.models import (
        IssuancePhase,
        PhaseStatus,
        Retirement,
        RetirementKind,
        Transfer,
        TransferStatus,
    )
    from projects.models import Declaration, Stage
    from registry.demo import DEMO_DOMAIN

    def first(queryset):
        return queryset.order_by("pk").first()

    return {
        "phase_in_notice": IssuancePhase.objects.get(status=PhaseStatus.IN_NOTICE).code,
        "phase_assembling": IssuancePhase.objects.get(status=PhaseStatus.DRAFTING).code,
        "case_in_approval": first(Declaration.objects.filter(stage=Stage.APPROVAL)).pk,
        # GEM's newest approved declaration, in the phase being assembled: the page says where it stands.
        "gem_declaration": Declaration.objects.filter(
            project__organisation__memberships__user__email=f"gem.declarant@{DEMO_DOMAIN}",
            stage=Stage.APPROVED,
        )
        .latest("pk")
        .pk,
        "pending_transfer": Transfer.objects.get(status=TransferStatus.PENDING).reference,
        "compliance_offset": first(Retirement.objects.filter(kind=RetirementKind.COMPLIANCE)).reference,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(base: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the server answers /healthz (polled, since a process offers nothing to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"The server stopped:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310 (our own http URL)
                return
        except urllib.error.HTTPError:
            return  # it answers; a 503 only says Redis or the worker is absent
        except OSError:
            time.sleep(0.2)
    sys.exit(f"The server did not answer within {timeout} s:\n{log.read_text()}")


def photograph(base: str, references: dict[str, str]) -> list[Path]:
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    taken = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        for who in dict.fromkeys(shot.who for shot in SHOTS):
            context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", device_scale_factor=1)
            page = context.new_page()
            if who:
                log_in(page, base, who)
            for shot in (shot for shot in SHOTS if shot.who == who):
                context.add_cookies(
                    [{"name": settings.LANGUAGE_COOKIE_NAME, "value": shot.language, "url": base}]
                )
                taken.append(take(page, base + shot.path.format(**references), shot.name))
            context.close()
        browser.close()
    return taken


def log_in(page, base: str, who: str) -> None:
    """The login form, then the code page for bureau staff, as a person with the demo authenticator."""
    from playwright.sync_api import expect

    from registry.demo import DEMO_DOMAIN, DEMO_PASSWORD

    email = f"{who}@{DEMO_DOMAIN}"
    page.goto(f"{base}/accounts/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    if "/accounts/mfa/verify/" in page.url:
        page.locator("#id_code").fill(login_code())
        with page.expect_navigation():
            page.locator("main form button[type=submit]").first.click()
    expect(page.locator("header form[action='/accounts/logout/']")).to_have_count(1)


def login_code() -> str:
    """What the demo authenticator (the published demo secret) shows now. Each login logs in once, so a
    code is never used twice."""
    from base64 import b32decode

    from django_otp.oath import totp

    from registry.demo import DEMO_TOTP_SECRET

    return f"{totp(b32decode(DEMO_TOTP_SECRET)):06d}"


def take(page, url: str, name: str) -> Path:
    response = page.goto(url)
    if response is None or response.status != 200:
        sys.exit(f"{name}: {url} answered {response and response.status}")
    page.locator("main h1").first.wait_for()
    page.evaluate("document.fonts.ready.then(() => true)")
    path = OUT / f"{name}.png"
    page.screenshot(path=path, animations="disabled", caret="hide")
    compress(path)
    print(f"  {path.relative_to(BASE_DIR)}  {path.stat().st_size // 1024} kB  {url}", flush=True)
    return path


def compress(path: Path) -> None:
    """Down to a palette, losslessly packed: screens are flat colours and text."""
    from PIL import Image

    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=0)
    reduced.save(path, optimize=True)


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))  # run as `python docs/screenshots.py`, the project's modules importable
    main()
