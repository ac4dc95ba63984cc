"""What only PostgreSQL can hold for this app; on SQLite every operation here does nothing.

Live serial blocks (every status but split) never overlap, across the whole registry: an exclusion
constraint on int8range(first_unit, last_unit, '[]'). A range's && has GiST support of its own, so this one
needs no extension (btree_gist, for the scalar `=` of projects' constraint, is created by projects' 0002).
On SQLite, and on PostgreSQL too, registration takes units only from the locked counter, offsets.ledger
only cuts blocks it has locked, and verify_ledger checks the invariant.
"""

from django.db import migrations

from registry.db_operations import postgres_only


class Migration(migrations.Migration):
    dependencies = [("offsets", "0001_initial")]

    operations = [
        postgres_only(
            """
            ALTER TABLE offsets_serialblock ADD CONSTRAINT live_serial_blocks_never_overlap
                EXCLUDE USING gist (int8range(first_unit, last_unit, '[]') WITH &&) WHERE (status <> 'split');
            """,
            "ALTER TABLE offsets_serialblock DROP CONSTRAINT IF EXISTS live_serial_blocks_never_overlap;",
        ),
    ]
