"""The short-word search (ADR 0014), PostgreSQL only; on SQLite every operation here does nothing.

A trigram index cannot serve a search for a one- or two-character word (光伏, 江岸, 光): such a pattern has
no trigram inside it, and PostgreSQL reads every row. `short_grams(text)` returns every distinct substring
of one and two characters of a text. A stored generated column `name_grams` holds short_grams(UPPER(name))
of each organisation, with a GIN index: `name_grams @> ARRAY[UPPER('光伏')]` is true exactly when the name
contains 光伏, is served by the index, and costs a row no function call when PostgreSQL checks it. The
column is not in the Django model (SQLite has no arrays): offsets.public.search names it only on
PostgreSQL. The projects app adds its own column in its 0003.
"""

from django.db import migrations

from registry.db_operations import postgres_only

SHORT_GRAMS = """
CREATE OR REPLACE FUNCTION short_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT ARRAY(
            SELECT DISTINCT substr(t, i, n)
            FROM generate_series(1, char_length(t)) AS i, generate_series(1, 2) AS n
        )
    $$;
"""


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_postgresql_only")]

    operations = [
        postgres_only(SHORT_GRAMS, "DROP FUNCTION IF EXISTS short_grams(text);"),
        postgres_only(
            "ALTER TABLE registry_organisation ADD COLUMN name_grams text[]"
            ' GENERATED ALWAYS AS (short_grams(UPPER("name"::text))) STORED;',
            "ALTER TABLE registry_organisation DROP COLUMN IF EXISTS name_grams;",
        ),
        postgres_only(
            "CREATE INDEX organisation_name_grams_idx ON registry_organisation USING gin (name_grams);",
            "DROP INDEX IF EXISTS organisation_name_grams_idx;",
        ),
        # The planner's statistics of the new column, now rather than at the next autovacuum.
        postgres_only("ANALYZE registry_organisation;", "ANALYZE registry_organisation;"),
    ]
