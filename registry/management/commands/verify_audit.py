import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Max

from registry import checkpoint_verifier, checkpoints
from registry.audit import Break, verify_chain
from registry.models import AuditEvent

MAX_DOWNLOAD = 200 * 1024 * 1024


class Command(BaseCommand):
    help = (
        "Walk the audit chain and check it against the signed checkpoints stored in the database and, "
        "with --against, against checkpoints someone kept (a saved checkpoints.json, or its URL). Exits "
        "non-zero naming the rule and the first event that was altered, removed or rewritten."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows read per database round trip.")
        parser.add_argument(
            "--processes",
            type=int,
            default=min(os.cpu_count() or 1, 4),
            help="Processes that walk parts of a long chain at once (default: the cores, at most 4); "
            "a chain under 50,000 events per process is walked by one.",
        )
        parser.add_argument(
            "--against",
            metavar="FILE_OR_URL",
            help="A saved copy of /transparency/checkpoints.json (or the open-data checkpoints.json), "
            "or its http(s) address, fetched only when given here.",
        )
        parser.add_argument(
            "--key", metavar="PEM_FILE", help="The registry's public key; default: the portal's own key."
        )

    def handle(self, *args, chunk_size: int, processes: int, against: str | None, key: str | None, **options):
        checked = 0
        for outcome in verify_chain(chunk_size=chunk_size, parts=max(processes, 1)):
            if isinstance(outcome, Break):
                raise CommandError(
                    f"Audit check failed [{outcome.rule}] at event #{outcome.seq}: {outcome.reason}"
                )
            checked += 1
        public_key = self._public_key(key)
        report = [f"Audit chain intact: {checked} events."]
        stored = checkpoints.stored()
        if public_key is None:
            self.stderr.write(
                "No checkpoint key configured: stored checkpoints were not checked (use --key)."
            )
        elif stored:
            self._fail_on(checkpoints.check(stored, public_key, published=False), "stored")
            report.append(f"Checkpoints stored in the database: {len(stored)}, all matching.")
        if against:
            if public_key is None:
                raise CommandError("No public key to check the checkpoints with: pass --key public-key.pem.")
            kept = self._load(against)
            self._fail_on(checkpoints.check(kept, public_key, published=True), "kept")
            latest = f", the latest signing event #{kept[-1]['seq']}" if kept else ""
            report.append(f"Checkpoints kept in {against}: {len(kept)}, all matching{latest}.")
        self._sequence_hint()
        self.stdout.write(self.style.SUCCESS(" ".join(report)))

    def _fail_on(self, problems, which: str) -> None:
        for problem in problems:
            where = "stored in the database" if which == "stored" else "kept outside"
            raise CommandError(
                f"Audit check failed [{problem.rule}] against the checkpoints {where}: {problem.detail}"
            )

    def _public_key(self, path: str | None):
        if not path:
            return checkpoints.public_key()
        try:
            return checkpoint_verifier.load_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the public key {path}: {exc}") from exc

    def _load(self, source: str) -> list[dict]:
        try:
            if source.startswith(("https://", "http://")):
                with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (http(s) only)
                    raw = response.read(MAX_DOWNLOAD + 1)
                if len(raw) > MAX_DOWNLOAD:
                    raise CommandError(f"{source} is larger than {MAX_DOWNLOAD} bytes.")
            else:
                raw = Path(source).read_bytes()
            return checkpoint_verifier.load_checkpoints(json.loads(raw))
        except (OSError, urllib.error.URLError) as exc:
            raise CommandError(f"Cannot read {source}: {exc}") from exc
        except ValueError as exc:  # not JSON, or not checkpoints
            raise CommandError(f"{source} is not a list of checkpoints: {exc}") from exc

    def _sequence_hint(self) -> None:
        """Ids handed out past the last event: rolled-back transactions do that, and so does a deleted
        tail. A hint to compare with published checkpoints, never a verdict."""
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('registry_auditevent', 'id')")
            (sequence,) = cursor.fetchone()
            if not sequence:
                return
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (a name from the catalogue)
            last_value, is_called = cursor.fetchone()
        handed_out = last_value if is_called else 0
        highest = AuditEvent.objects.aggregate(top=Max("id"))["top"] or 0
        if handed_out > highest:
            self.stderr.write(
                f"Note: the events' id sequence has handed out ids up to {handed_out}, the highest event "
                f"id is {highest}. Rolled-back transactions skip ids; a deleted tail would look the same. "
                "Compare with published checkpoints (--against)."
            )
