"""PostgreSQL only: trigram indexes so the public registry finds Chinese names by any part of them.

PostgreSQL's full-text search does not segment Chinese; `icontains` (UPPER(col) LIKE UPPER('%…%')) with a
pg_trgm GIN index on UPPER(col) is served by the index. SQLite scans, which is fine for the demo.
"""

from django.db import migrations

INDEXES = [
    ("projects_project", "title", "project_title_trgm_idx"),
    ("projects_project", "code", "project_code_trgm_idx"),
    ("registry_organisation", "name", "organisation_name_trgm_idx"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm;", params=None)
    for table, column, name in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER("{column}"::text) gin_trgm_ops);',
            params=None,
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, _column, name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name};", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("offsets", "0002_live_blocks_never_overlap"),
        ("projects", "0004_remove_declaration_declaration_mine_idx_and_more")]
    operations = [migrations.RunPython(forwards, backwards)]
