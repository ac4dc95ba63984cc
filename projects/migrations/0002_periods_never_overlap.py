"""PostgreSQL only: a project's live monitoring periods never overlap (withdrawn and rejected aside).

An exclusion constraint over daterange(period_start, period_end, '[]') with btree_gist for the project.
SQLite cannot express it (migrate would fail "near EXCLUDE"); there projects.services.period_problems
enforces the same rule, as it does on PostgreSQL for a readable message.
"""

from django.db import migrations

CREATE = """
ALTER TABLE projects_declaration ADD CONSTRAINT monitoring_periods_of_a_project_never_overlap
    EXCLUDE USING gist (
        project_id WITH =,
        daterange(period_start, period_end, '[]') WITH &&
    ) WHERE (stage NOT IN ('withdrawn', 'rejected'));
"""
DROP = "ALTER TABLE projects_declaration DROP CONSTRAINT IF EXISTS monitoring_periods_of_a_project_never_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist;", params=None)
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
