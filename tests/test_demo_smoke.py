"""`make run`'s path on the embedded default: migrate and seed_demo on a fresh SQLite file, twice."""

import os
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.e2e
def test_migrate_and_seed_demo_on_sqlite(tmp_path):
    db = tmp_path / "demo.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{db}",
        }
    )

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    manage("migrate", "--noinput")
    manage("seed_demo")
    counts_first = _counts(db)
    manage("seed_demo")  # idempotent: a second run changes nothing
    assert _counts(db) == counts_first
    assert counts_first["registry_user"] >= 1


def _counts(db) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'django_%'"
            )
        ]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
