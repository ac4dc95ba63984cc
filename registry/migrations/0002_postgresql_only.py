"""What only PostgreSQL can hold for this app; on SQLite every operation here does nothing.

- Audit events and signed checkpoints are append-only: a trigger refuses UPDATE and DELETE (ADR 0001,
  ADR 0007). TRUNCATE is left alone for the test runner. On SQLite, `verify_audit` detects any edit.
- The public registry search finds organisations by any part of their Chinese name: PostgreSQL's full-text
  search does not segment Chinese, so `UPPER(name) LIKE UPPER('%…%')` is served by a pg_trgm GIN index on
  UPPER(name) (offsets.public.SEARCH_SQL). The projects app indexes its own columns in its 0002.

pg_trgm is created here, by the first app that needs it; projects' 0002 depends on this migration.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from registry.db_operations import append_only, postgres_only


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        TrigramExtension(),
        append_only(
            table="registry_auditevent",
            trigger="audit_event_append_only",
            function="registry_audit_event_is_append_only",
            name="audit events",
            key="seq",
        ),
        append_only(
            table="registry_checkpoint",
            trigger="checkpoint_append_only",
            function="registry_checkpoint_is_append_only",
            name="checkpoints",
            key="number",
        ),
        postgres_only(
            "CREATE INDEX organisation_name_trgm_idx ON registry_organisation"
            ' USING gin (UPPER("name"::text) gin_trgm_ops);',
            "DROP INDEX IF EXISTS organisation_name_trgm_idx;",
        ),
    ]
