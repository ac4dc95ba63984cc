from importlib import import_module

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.demo import DEMO_TOTP_SECRET, story_clock

# Each app's demo builds on the previous ones'. Imported by name: registry must not import the apps
# that depend on it.
DEMO_MODULES = ["registry.demo", "projects.demo", "offsets.demo", "offsets.behaviour.demo"]


class Command(BaseCommand):
    help = (
        "Load the demo data (idempotent). Creates logins with a known password: refused with DEBUG off, "
        "unless in the embedded demo (DJANGO_EMBEDDED_DEMO)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never on a real registry)."
        )

    def handle(self, *args, force: bool, **options):
        if not (settings.DEBUG or settings.EMBEDDED_DEMO or force):
            raise CommandError(
                "seed_demo creates logins with a known password and is refused with DEBUG off "
                "outside the embedded demo (DJANGO_EMBEDDED_DEMO). "
                "Use --force only on a throw-away demonstration server."
            )
        # Every app's history (2023 on), then every app's present (the last weeks): time only moves on.
        modules = [import_module(name) for name in DEMO_MODULES]
        with story_clock() as clock:
            for module in modules:
                module.seed_history(clock)
            for module in modules:
                module.seed_present(clock)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(
            f"Demo bureau logins ask for a code after the password: add the secret {DEMO_TOTP_SECRET} to an "
            f"authenticator app (demo only), or run `oathtool --totp -b {DEMO_TOTP_SECRET}`.\n"
        )
