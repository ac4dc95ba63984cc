"""On PostgreSQL, a trigger refuses UPDATE and DELETE on audit events: history is append-only.

SQLite (the embedded demo database) has no such trigger; there `verify_audit` still detects any edit.
TRUNCATE is left alone on purpose: the test runner empties tables between transactional tests with it.
"""

from django.db import migrations

from registry.db_operations import append_only


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [
        append_only(
            table="registry_auditevent",
            trigger="audit_event_append_only",
            function="registry_audit_event_is_append_only",
            name="audit events",
            key="seq",
        )
    ]
