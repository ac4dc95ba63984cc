"""Migration operations that only PostgreSQL can carry out; on SQLite (the embedded default) they do nothing,
and the check commands (`verify_audit`, `verify_ledger`) still detect what the database would have refused."""

from django.db import migrations


def append_only(*, table: str, trigger: str, function: str, name: str, key: str) -> migrations.RunPython:
    """A trigger refusing UPDATE and DELETE on `table`, naming the row by its `key` column. TRUNCATE is left
    alone on purpose: the test runner empties tables between transactional tests with it."""
    create = f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{name} are append-only: % refused on %', TG_OP, OLD.{key}
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql;

    CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}();
    """
    drop = f"DROP TRIGGER IF EXISTS {trigger} ON {table}; DROP FUNCTION IF EXISTS {function}();"

    def run(sql):
        def operation(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)

        return operation

    return migrations.RunPython(run(create), run(drop))
