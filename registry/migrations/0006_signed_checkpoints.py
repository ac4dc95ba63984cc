"""Signed checkpoints of the audit chain and the ledger (ADR 0007).

On PostgreSQL a trigger refuses UPDATE and DELETE of checkpoints, as for audit events (0002); TRUNCATE
is left alone for the test runner. A rewrite behind the trigger's back is what published copies catch.
"""

from django.db import migrations, models

from registry.db_operations import append_only


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
        append_only(
            table="registry_checkpoint",
            trigger="checkpoint_append_only",
            function="registry_checkpoint_is_append_only",
            name="checkpoints",
            key="number",
        ),
    ]
