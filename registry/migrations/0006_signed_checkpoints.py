"""Signed checkpoints of the audit chain and the ledger (ADR 0007).

On PostgreSQL a trigger refuses UPDATE and DELETE of checkpoints, as for audit events (0002); TRUNCATE
is left alone for the test runner. A rewrite behind the trigger's back is what published copies catch.
"""

from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION registry_checkpoint_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'checkpoints are append-only: % refused on checkpoint %', TG_OP, OLD.number
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER checkpoint_append_only
    BEFORE UPDATE OR DELETE ON registry_checkpoint
    FOR EACH ROW EXECUTE FUNCTION registry_checkpoint_is_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS checkpoint_append_only ON registry_checkpoint;
DROP FUNCTION IF EXISTS registry_checkpoint_is_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0005_counter")]

    operations = [
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField(editable=False, unique=True)),
                ("seq", models.BigIntegerField(editable=False)),
                ("hash", models.CharField(editable=False, max_length=64)),
                ("created_at", models.DateTimeField(editable=False)),
                ("totals", models.JSONField(editable=False)),
                ("prev_checkpoint_hash", models.CharField(editable=False, max_length=64)),
                ("checkpoint_hash", models.CharField(editable=False, max_length=64, unique=True)),
                ("signature", models.CharField(editable=False, max_length=128)),
            ],
            options={
                "verbose_name": "signed checkpoint",
                "verbose_name_plural": "signed checkpoints",
                "ordering": ["-number"],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
