"""Registry-wide counters for numbers people read (letters, certificates): gap-free per name, never reused.

One row per counter, locked while a number is taken: two transactions at once get n and n + 1. A
database sequence would be faster but can skip numbers on rollback and cannot reserve a range.
"""

from django.db import transaction

from registry.models import Counter


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint to pay for
def take(name: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers of the counter; return the first."""
    Counter.objects.get_or_create(name=name)
    counter = Counter.objects.select_for_update().get(name=name)
    first = counter.value + 1
    counter.value += count
    counter.save(update_fields=["value"])
    return first
