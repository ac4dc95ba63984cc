import json
from contextlib import nullcontext

from django.core.management.base import BaseCommand

from registry.audit import canonical_fields, events_in_order


class Command(BaseCommand):
    help = (
        "Write the audit chain as JSON lines, one event per line with its hashed fields and hash, for "
        "registry/checkpoint_verifier.py. It holds personal data (names, addresses): hand it only to "
        "an authorised auditor."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write; default: standard output.")
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows read per database round trip.")

    def handle(self, *args, output: str | None, chunk_size: int, **options):
        count = 0
        with open(output, "w", encoding="utf-8") if output else nullcontext(self.stdout) as stream:
            for event in events_in_order(chunk_size):
                line = {**canonical_fields(event), "hash": event.hash}
                stream.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
                count += 1
        if output:
            self.stdout.write(self.style.SUCCESS(f"{count} events written to {output}."))
