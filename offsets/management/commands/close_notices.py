from django.core.management.base import BaseCommand

from offsets.issuing import close_due_notices


class Command(BaseCommand):
    help = "Close the notices whose period has ended (what the scheduled job does), for cron."

    def handle(self, *args, **options):
        closed = close_due_notices()
        self.stdout.write(f"Closed: {', '.join(closed) if closed else 'none'}")
