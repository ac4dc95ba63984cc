"""On PostgreSQL, a trigger refuses UPDATE and DELETE on audit events: history is append-only.

SQLite (the embedded demo database) has no such trigger; there `verify_audit` still detects any edit.
TRUNCATE is left alone on purpose: the test runner empties tables between transactional tests with it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION registry_audit_event_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on event %', TG_OP, OLD.seq
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON registry_auditevent
    FOR EACH ROW EXECUTE FUNCTION registry_audit_event_is_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON registry_auditevent;
DROP FUNCTION IF EXISTS registry_audit_event_is_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
