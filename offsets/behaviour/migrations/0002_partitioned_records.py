"""Behaviour records in a table partitioned by day, on PostgreSQL; on SQLite the plain table of 0001 stays.

The records come by the million a day and are kept for the reporting window and the de-duplication only
(their daily totals stay): a day is one partition, created ahead of time and detached and dropped after
the retention period (offsets.behaviour.partitions), so old data leaves without a DELETE or a VACUUM.
The table is empty when this runs, so it is dropped and made again, partitioned, with the same columns.
"""

from django.db import migrations

from registry.db_operations import postgres_only

COLUMNS = """
    day date NOT NULL,
    platform_id bigint NOT NULL,
    record_id varchar(64) NOT NULL,
    batch_id bigint NOT NULL,
    account_id bigint NULL,
    person varchar(65) NOT NULL,
    scenario_id bigint NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone NOT NULL,
    quantity_milli bigint NOT NULL,
    grams bigint NOT NULL,
    PRIMARY KEY (day, platform_id, record_id)
"""
INDEX = (
    "CREATE INDEX record_person_time_idx ON behaviour_behaviourrecord (account_id, scenario_id, started_at) "
    "WHERE account_id IS NOT NULL"
)


class Migration(migrations.Migration):
    dependencies = [("behaviour", "0001_initial")]

    operations = [
        postgres_only(
            [
                "DROP TABLE behaviour_behaviourrecord",
                f"CREATE TABLE behaviour_behaviourrecord ({COLUMNS}) PARTITION BY RANGE (day)",
                INDEX,
            ],
            [
                "DROP TABLE behaviour_behaviourrecord",
                f"CREATE TABLE behaviour_behaviourrecord ({COLUMNS})",
                INDEX,
            ],
        ),
    ]
