"""What only PostgreSQL can hold for this app; on SQLite every operation here does nothing.

- A project's live monitoring periods never overlap (withdrawn and rejected declarations aside): an
  exclusion constraint over daterange(period_start, period_end, '[]'), with btree_gist for the project's
  `=`. On SQLite (and on PostgreSQL too, for a readable message) projects.services.period_problems enforces
  the same rule.
- The public registry search finds projects by any part of their Chinese title or their code: pg_trgm GIN
  indexes on UPPER(title) and UPPER(code) serve `UPPER(col) LIKE UPPER('%…%')` (offsets.public.SEARCH_SQL).
  pg_trgm itself is created by registry's 0002.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from registry.db_operations import postgres_only


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("registry", "0002_postgresql_only"),
    ]

    operations = [
        BtreeGistExtension(),
        postgres_only(
            """
            ALTER TABLE projects_declaration ADD CONSTRAINT monitoring_periods_of_a_project_never_overlap
                EXCLUDE USING gist (
                    project_id WITH =,
                    daterange(period_start, period_end, '[]') WITH &&
                ) WHERE (stage NOT IN ('withdrawn', 'rejected'));
            """,
            "ALTER TABLE projects_declaration"
            " DROP CONSTRAINT IF EXISTS monitoring_periods_of_a_project_never_overlap;",
        ),
        postgres_only(
            "CREATE INDEX project_title_trgm_idx ON projects_project"
            ' USING gin (UPPER("title"::text) gin_trgm_ops);',
            "DROP INDEX IF EXISTS project_title_trgm_idx;",
        ),
        postgres_only(
            "CREATE INDEX project_code_trgm_idx ON projects_project"
            ' USING gin (UPPER("code"::text) gin_trgm_ops);',
            "DROP INDEX IF EXISTS project_code_trgm_idx;",
        ),
    ]
