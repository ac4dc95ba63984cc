from django.core.management.base import BaseCommand, CommandError

from offsets.ledger import check
from offsets.models import Issuance, SerialBlock


class Command(BaseCommand):
    help = "Check every invariant of the ledger; exit non-zero naming the first violation."

    def handle(self, *args, **options):
        for violation in check():
            raise CommandError(f"Ledger violation: {violation}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger intact: {Issuance.objects.count()} issuances, {SerialBlock.objects.count()} blocks."
            )
        )
