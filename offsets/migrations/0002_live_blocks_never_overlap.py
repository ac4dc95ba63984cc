"""PostgreSQL only: live serial blocks (every status but split) never overlap, across the whole registry.

An exclusion constraint on int8range(first_unit, last_unit, '[]'); SQLite cannot express it, and there
(and on PostgreSQL too) the ledger services take units only from the locked counter and verify_ledger
checks the invariant.
"""

from django.db import migrations

CREATE = """
ALTER TABLE offsets_serialblock ADD CONSTRAINT live_serial_blocks_never_overlap
    EXCLUDE USING gist (int8range(first_unit, last_unit, '[]') WITH &&) WHERE (status <> 'split');
"""
DROP = "ALTER TABLE offsets_serialblock DROP CONSTRAINT IF EXISTS live_serial_blocks_never_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist;", params=None)
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("offsets", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
