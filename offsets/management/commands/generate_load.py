import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bench import common, load


class Command(BaseCommand):
    help = (
        "Fill a benchmark database (PostgreSQL, its name ending in _bench, _bench_load or _bench_all) "
        "quickly with consistent registry data at a chosen scale, then run verify_ledger and verify_audit; "
        "prints the time of each step. Refuses a database that holds data unless --append. "
        "See docs/performance.md."
    )

    def add_arguments(self, parser):
        scale = load.Scale()
        counts = [
            ("organisations", "organisations of every kind and status, two members each"),
            ("projects", "projects in every review stage (most filed)"),
            ("declarations", "declarations in every review stage, of the filed projects"),
            ("phases", "issuance phases: the last 7 drafting to closed, the others registered"),
            ("transfers", "transfers simulated on the ledger (completed, pending, rejected, cancelled)"),
            ("retirements", "voluntary retirements simulated on the ledger, one in 20 a cancellation"),
            ("real-operations", "transfers and retirements of each kind made through the real services"),
        ]
        for name, what in counts:
            default = getattr(scale, name.replace("-", "_"))
            parser.add_argument(f"--{name}", type=int, default=default, help=f"{what} ({default:,})")
        parser.add_argument("--seed", type=int, default=scale.seed, help=f"random seed ({scale.seed})")
        parser.add_argument("--append", action="store_true", help="add to a database that holds data already")
        parser.add_argument(
            "--checkpoint",
            action="store_true",
            help="sign a checkpoint at the end (the first walks the whole audit chain, as verify_audit does)",
        )

    def handle(self, *args, append: bool, seed: int, checkpoint: bool, **options):
        db = load.check_database()
        started = time.perf_counter()
        if not load.is_test_database(db):
            common.ensure_database(db)
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write(f"  migrate: {time.perf_counter() - started:.1f} s")
        scale = load.Scale(
            **{name: options[name] for name in ("organisations", "projects", "declarations", "phases")},
            transfers=options["transfers"],
            retirements=options["retirements"],
            real_operations=options["real_operations"],
            seed=seed,
            checkpoint=checkpoint,
        )
        self.stdout.write(f"Filling {db['NAME']}: {scale}")
        try:
            result = load.generate(scale, append=append, write=self.stdout.write)
        except load.LoadRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        rows = ", ".join(f"{count:,} {kind}" for kind, count in result["written"].items())
        self.stdout.write(f"Rows: {rows}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.perf_counter() - started:.1f} s: filled in {result['filled']:.1f} s, "
                f"verify_ledger {result['verify_ledger']:.1f} s, verify_audit {result['verify_audit']:.1f} s."
            )
        )
