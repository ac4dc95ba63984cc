"""`make run`'s path on the embedded default: migrate and seed_demo on a fresh SQLite file, twice."""

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings


@pytest.mark.e2e
def test_migrate_and_seed_demo_on_sqlite(tmp_path):
    db = tmp_path / "demo.sqlite3"
    env = _environment_without("DJANGO_", "REDIS")
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
    with sqlite3.connect(db) as conn:
        _dates_follow_the_story(conn)
        _a_case_in_every_review_stage(conn)


def _environment_without(*prefixes: str) -> dict[str, str]:
    """This process's environment for a subprocess, without the variables that would steer it elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def day(stored: str) -> str:
    """The registry's own date (TIME_ZONE, Wuhan) of a datetime SQLite keeps as UTC text. Its first ten
    characters are the UTC date, a day early from 00:00 to 08:00 in Wuhan: dates the demo takes from
    timezone.localdate() (a month's end, a due date) then looked later than the times they precede."""
    return (
        datetime.fromisoformat(stored)
        .replace(tzinfo=UTC)
        .astimezone(ZoneInfo(settings.TIME_ZONE))
        .date()
        .isoformat()
    )


def _dates_follow_the_story(conn) -> None:
    """Time only moves forward through the demo, and each case's dates agree with each other."""
    # SQLite keeps datetimes as UTC text, which sorts as time does.
    times = [at for (at,) in conn.execute("SELECT created_at FROM registry_auditevent ORDER BY seq")]
    assert times == sorted(times), "an audit event is older than the one before it"
    assert day(times[-1]) <= datetime.now(ZoneInfo(settings.TIME_ZONE)).date().isoformat()

    # Projects are filed after their organisation was verified and once their methodology is in force,
    # and before any of their declarations is submitted.
    rows = conn.execute(
        """SELECT p.code, p.submitted_at, p.filed_at, o.verified_at, m.effective_date
           FROM projects_project p JOIN registry_organisation o ON o.id = p.organisation_id
           JOIN registry_methodology m ON m.id = p.methodology_id WHERE p.filed_at IS NOT NULL"""
    ).fetchall()
    assert rows
    for code, submitted, filed, verified, effective in rows:
        assert verified < submitted < filed, code
        assert day(filed) >= effective, code
        first_declared = conn.execute(
            "SELECT MIN(d.submitted_at) FROM projects_declaration d JOIN projects_project p "
            "ON p.id = d.project_id WHERE p.code = ?",
            [code],
        ).fetchone()[0]
        assert first_declared is None or filed < first_declared, code

    # A case is due after it was submitted (never "submitted today, due in 2023"), decided after it was
    # submitted, and a declaration's monitoring period is over before it is submitted.
    for table in ("projects_project", "projects_declaration"):
        for pk, submitted, due, decided in conn.execute(
            f"SELECT id, submitted_at, due_date, decided_at FROM {table}"  # noqa: S608
        ):
            assert due is None or (submitted and due >= day(submitted)), (table, pk)
            assert decided is None or decided > submitted, (table, pk)
    for pk, end, submitted in conn.execute("SELECT id, period_end, submitted_at FROM projects_declaration"):
        assert submitted is None or end < day(submitted), pk

    # The registered phase: every declaration in it was approved before the notice was published, and
    # the credits registered after the notice ended: 2023P01 on 18 December 2023, as in the article.
    for code, published, notice_end, registered in conn.execute(
        "SELECT code, published_at, notice_end, registered_at FROM offsets_issuancephase "
        "WHERE status = 'registered'"
    ):
        assert notice_end < day(registered), code
        decided = conn.execute(
            "SELECT MAX(d.decided_at) FROM offsets_phaseentry e "
            "JOIN projects_declaration d ON d.id = e.declaration_id "
            "JOIN offsets_issuancephase ph ON ph.id = e.phase_id WHERE ph.code = ?",
            [code],
        ).fetchone()[0]
        assert decided < published, code
    registered = conn.execute("SELECT registered_at FROM offsets_issuancephase WHERE code = '2023P01'")
    assert day(registered.fetchone()[0]) == "2023-12-18"


def _a_case_in_every_review_stage(conn) -> None:
    """The README's promise: a case waits in every review stage, so each role's queue shows something."""
    stages = {
        stage
        for table in ("projects_project", "projects_declaration")
        for (stage,) in conn.execute(f"SELECT DISTINCT stage FROM {table}")  # noqa: S608
    }
    assert {"intake", "technical", "expert", "approval", "returned"} <= stages
    overdue = conn.execute(
        "SELECT COUNT(*) FROM projects_declaration WHERE stage IN ('intake', 'technical') AND due_date < ?",
        [datetime.now(UTC).date().isoformat()],
    ).fetchone()[0]
    assert overdue >= 1


def _counts(db) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'django_%'"
            )
        ]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


SQLITE_RUN = ["tests/behaviour/test_processing.py", "-m", "not postgres and not e2e and not fuzz"]


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_behaviour_processing_on_sqlite():
    """The behaviour chunks' SQL has a SQLite form of its own (the totals' upsert and take-back): the
    processing tests run again on the embedded default, in a subprocess, as the suite does where no
    PostgreSQL answers (TEST_DATABASE_URL at a port nothing listens on)."""
    env = _environment_without("DJANGO_", "REDIS", "PYTEST_")
    env["TEST_DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/unreachable"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", *SQLITE_RUN],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " skipped" not in result.stdout, result.stdout[-2000:]
