from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry import demo


class Command(BaseCommand):
    help = "Load the demo data (idempotent). Creates logins with a known password: refused with DEBUG off."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never on a real registry)."
        )

    def handle(self, *args, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates logins with a known password and is refused with DEBUG off. "
                "Use --force only on a throw-away demonstration server."
            )
        demo.seed()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
