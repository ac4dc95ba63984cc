"""Registry-wide counters for numbers people read (letters, certificates, retirements, transfers).

take(): gap-free per name, never reused. One row per counter, locked from the number's taking until the
caller's transaction ends: two transactions at once get n and n + 1, one after the other. For numbers
taken once per long operation (a phase's serial units and certificates, letters, objections), where a
range must be reserved at once or a gap would be a question to answer.

take_unique(): unique and increasing per name, without waiting for anyone: on PostgreSQL a sequence, so a
number taken by a transaction that then fails is not given again (a gap). For the references of
retirements and transfers, taken by every account's operations at once: with take(), all of them would
queue on one row for the rest of their transactions (decision 0013).
"""

import re

from django.db import connection, transaction

from registry.models import Counter

# The sequences this process has seen committed (made by anyone): no need to ask for them again.
_sequences: set[str] = set()


def sequence_name(name: str) -> str:
    return "counter_" + re.sub(r"[^a-z0-9]+", "_", name.lower()) + "_seq"


def take_unique(name: str) -> int:
    """The next number of the counter `name`, unique and increasing; never waits for another transaction.

    PostgreSQL: the sequence for the name, made at its first use, starting after the counter row's value
    (numbers taken before with take() go on). Elsewhere (the embedded SQLite demo, whose writers queue
    anyway), take()."""
    if connection.vendor != "postgresql":
        return take(name)
    sequence = sequence_name(name)
    with connection.cursor() as cursor:
        if sequence not in _sequences:
            # Two first uses at once would both try to make it: the second waits for the first's end.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [sequence])
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [sequence])
            if not cursor.fetchone()[0]:
                start = (Counter.objects.filter(name=name).values_list("value", flat=True).first() or 0) + 1
                quoted = connection.ops.quote_name(sequence)  # [a-z0-9_] only: sequence_name()
                cursor.execute(f"CREATE SEQUENCE {quoted} START WITH {int(start)}")
            # Known once committed: a rolled-back first use leaves no sequence behind.
            transaction.on_commit(lambda: _sequences.add(sequence))
        cursor.execute("SELECT nextval(%s)", [sequence])
        return cursor.fetchone()[0]


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint to pay for
def take(name: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers of the counter; return the first.

    One statement in the common case: the UPDATE locks the row until the caller's transaction ends and
    returns the new value (PostgreSQL and SQLite both know RETURNING). A counter's first use creates
    its row first."""
    table = connection.ops.quote_name(Counter._meta.db_table)
    update = f"UPDATE {table} SET value = value + %s WHERE name = %s RETURNING value"  # noqa: S608 (our table)
    with connection.cursor() as cursor:
        cursor.execute(update, [count, name])
        row = cursor.fetchone()
        if row is None:
            Counter.objects.get_or_create(name=name)
            cursor.execute(update, [count, name])
            row = cursor.fetchone()
    return row[0] - count + 1
