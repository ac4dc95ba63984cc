"""registry.db_operations, and the PostgreSQL-only objects that each app's 0002 migration adds."""

from types import SimpleNamespace

import pytest
from django.db import connection

from registry.db_operations import append_only, postgres_only


class RecordingEditor:
    """Just enough of a schema editor: a connection's vendor, and the statements it was asked to run."""

    def __init__(self, vendor: str):
        self.connection = SimpleNamespace(vendor=vendor, alias="default")
        self.executed: list[str] = []

    def execute(self, sql, params=()):
        self.executed.append(sql)


@pytest.mark.parametrize("vendor", ["sqlite", "mysql", "oracle"])
def test_postgres_only_does_nothing_on_other_databases(vendor):
    operation = postgres_only("CREATE INDEX some_idx ON some_table (a);", "DROP INDEX some_idx;")
    editor = RecordingEditor(vendor)

    operation.database_forwards("registry", editor, None, None)
    operation.database_backwards("registry", editor, None, None)

    assert editor.executed == []


def test_postgres_only_runs_each_statement_whole_on_postgresql_and_can_be_unapplied():
    operation = append_only(
        table="some_table", trigger="some_trigger", function="some_fn", name="rows", key="id"
    )
    editor = RecordingEditor("postgresql")

    operation.database_forwards("registry", editor, None, None)
    # The function body holds semicolons between $$: it must reach PostgreSQL as one statement.
    function, trigger = editor.executed
    assert function.count(";") > 1 and "RAISE EXCEPTION" in function and "LANGUAGE plpgsql" in function
    assert trigger.startswith("CREATE TRIGGER some_trigger BEFORE UPDATE OR DELETE ON some_table")

    operation.database_backwards("registry", editor, None, None)
    assert editor.executed[2:] == [
        "DROP TRIGGER IF EXISTS some_trigger ON some_table;",
        "DROP FUNCTION IF EXISTS some_fn();",
    ]


def _names(sql: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.django_db
def test_migrate_leaves_every_postgresql_only_object_in_place():
    assert {"btree_gist", "pg_trgm"} <= _names("SELECT extname FROM pg_extension")
    assert _names("SELECT conname FROM pg_constraint WHERE contype = 'x'") == {
        "monitoring_periods_of_a_project_never_overlap",
        "live_serial_blocks_never_overlap",
    }
    assert _names("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'") == {
        "organisation_name_trgm_idx",
        "project_title_trgm_idx",
        "project_code_trgm_idx",
    }
    assert _names("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal") >= {
        "audit_event_append_only",
        "checkpoint_append_only",
    }
