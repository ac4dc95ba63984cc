from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.celery import BEAT_SCHEDULE, app
from registry.periodic import InProcessBeat


class Command(BaseCommand):
    help = "Serve the portal for `make run`: the development server plus the periodic jobs in-process."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        host, _, port = addrport.rpartition(":")
        self.stdout.write(self.style.SUCCESS(f"\nThe portal is at http://{host}:{port}/\n"))
        self.stdout.write(demo_logins_text())
        mailer = settings.MAILERS["default"]
        if mailer["BACKEND"] == "registry.mail.MailFolderBackend":
            self.stdout.write(f"E-mail is kept in {mailer['OPTIONS']['file_path']}, one .eml file each.\n")
        if not settings.DEBUG:
            self.stdout.write("Error pages are the portal's; `make run DJANGO_DEBUG=true` shows Django's.\n")
        if settings.RUN_PERIODIC_IN_PROCESS:
            InProcessBeat(BEAT_SCHEDULE, app).start()
            self.stdout.write("Periodic jobs run in this process (no Celery beat needed).\n")
        # No autoreloader: it would start a second process, and with it a second set of periodic jobs.
        call_command("runserver", addrport, use_reloader=False)


def demo_logins_text() -> str:
    from registry.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_logins

    logins = demo_logins()
    if not logins:
        return "No demo logins: run `manage.py seed_demo` first.\n"
    width = max(len(email) for email, _ in logins)
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {email.ljust(width)}  {role}" for email, role in logins]
    lines += [f"Bureau logins then ask for a code: authenticator secret {DEMO_TOTP_SECRET} (demo only)."]
    return "\n".join(lines) + "\n"
