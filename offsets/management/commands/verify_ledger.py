from django.core.management.base import BaseCommand, CommandError

from offsets.ledger_checks import check
from offsets.models import Issuance, SerialBlock


class Command(BaseCommand):
    help = (
        "Check every invariant of the ledger, and the ledger against the unit counter and the audit trail; "
        "exit non-zero naming each broken rule and its first violation."
    )

    def handle(self, *args, **options):
        violations = list(check())
        if violations:
            raise CommandError("\n".join(f"Ledger violation: {violation}" for violation in violations))
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger intact: {Issuance.objects.count()} issuances, {SerialBlock.objects.count()} blocks."
            )
        )
