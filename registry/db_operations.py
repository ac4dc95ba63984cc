"""Migration operations that only PostgreSQL can carry out; on SQLite (the embedded default) they do nothing,
and the check commands (`verify_audit`, `verify_ledger`) and the services still enforce what the database
would have refused. Extensions come from Django's own operations (`django.contrib.postgres.operations`)."""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and is skipped on every other database."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return "Raw SQL operation (PostgreSQL only)"


def postgres_only(sql: str | list[str], reverse_sql: str | list[str]) -> PostgresOnlySQL:
    """Statements run on PostgreSQL only, each as it is: a list is never split on semicolons, so a
    function body between $$ survives. The reverse is required, so every such migration can be unapplied."""
    return PostgresOnlySQL(
        [sql] if isinstance(sql, str) else list(sql),
        [reverse_sql] if isinstance(reverse_sql, str) else list(reverse_sql),
    )


def append_only(*, table: str, trigger: str, function: str, name: str, key: str) -> PostgresOnlySQL:
    """A trigger refusing UPDATE and DELETE on `table`, naming the row by its `key` column. TRUNCATE is left
    alone on purpose: the test runner empties tables between transactional tests with it."""
    create_function = f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{name} are append-only: % refused on %', TG_OP, OLD.{key}
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql;
    """
    create_trigger = (
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}();"
    )
    return postgres_only(
        [create_function, create_trigger],
        [f"DROP TRIGGER IF EXISTS {trigger} ON {table};", f"DROP FUNCTION IF EXISTS {function}();"],
    )
