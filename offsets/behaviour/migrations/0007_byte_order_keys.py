"""The behaviour records' and persons' daily totals' text keys (record id, person) compared byte by byte on
PostgreSQL (collation "C"), not by the database's language rules (ADR 0020): their indexes are written tens
of millions of times, and only equality is ever asked of them. SQLite compares bytes already."""

from django.db import migrations

from registry.db_operations import postgres_only

KEYS = [
    ("behaviour_behaviourrecord", "record_id", 64),
    ("behaviour_behaviourrecord", "person", 65),
    ("behaviour_personday", "person", 65),
]


def _alter(collation: str) -> list[str]:
    return [
        f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "{collation}"'
        for table, column, length in KEYS
    ]


class Migration(migrations.Migration):
    dependencies = [("behaviour", "0006_person_days_without_database_foreign_keys")]

    operations = [postgres_only(_alter("C"), _alter("default"))]
