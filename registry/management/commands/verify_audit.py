from django.core.management.base import BaseCommand, CommandError

from registry.audit import Break, verify_chain


class Command(BaseCommand):
    help = "Walk the audit chain; exit non-zero naming the first event that was altered, removed or forked."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows read per database round trip.")

    def handle(self, *args, chunk_size: int, **options):
        checked = 0
        for outcome in verify_chain(chunk_size=chunk_size):
            if isinstance(outcome, Break):
                raise CommandError(f"Audit chain broken at event #{outcome.seq}: {outcome.reason}")
            checked += 1
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} events."))
