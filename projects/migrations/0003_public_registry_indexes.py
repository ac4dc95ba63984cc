"""Indexes of the public registry at 100,000 projects (issue 15; ADR 0014).

- Its two orders, code and filing date, are key-paged on (field, id) over filed projects: a partial index
  on each pair lets page 1, any page after a key and the last page read 26 index entries alike.
- The short-word search, PostgreSQL only: a stored generated column `search_grams`, every one- and
  two-character piece of UPPER(title) and of UPPER(code) (short_grams comes from registry's 0003), with a
  GIN index, serves one- and two-character words, which the trigram indexes of 0002 cannot. The column
  is not in the Django model (SQLite has no arrays); offsets.public.search names it on PostgreSQL only.
"""

from django.db import migrations, models

from registry.db_operations import postgres_only


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_postgresql_only"),
        ("registry", "0003_short_grams"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="project",
            index=models.Index(
                condition=models.Q(("code__isnull", False), ("stage", "approved")),
                fields=["code", "id"],
                name="project_filed_code_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="project",
            index=models.Index(
                condition=models.Q(("code__isnull", False), ("stage", "approved")),
                fields=["filed_at", "id"],
                name="project_filed_at_idx",
            ),
        ),
        postgres_only(
            "ALTER TABLE projects_project ADD COLUMN search_grams text[] GENERATED ALWAYS AS"
            ' (short_grams(UPPER("title"::text)) || short_grams(UPPER(COALESCE("code", \'\')::text))) STORED;',
            "ALTER TABLE projects_project DROP COLUMN IF EXISTS search_grams;",
        ),
        postgres_only(
            "CREATE INDEX project_search_grams_idx ON projects_project USING gin (search_grams);",
            "DROP INDEX IF EXISTS project_search_grams_idx;",
        ),
        # The planner's statistics of the new column, now rather than at the next autovacuum.
        postgres_only("ANALYZE projects_project;", "ANALYZE projects_project;"),
    ]
