"""The audit trail: the one writer of audit events, and the chain check.

Every event's hash is SHA-256 over the previous event's hash and a canonical serialisation of the event
(sorted keys, fixed formats). Writers lock the chain's head row, so two events never share a predecessor.
The source address comes from the request being served (set by AuditContextMiddleware); background jobs
have none. Every action name, with its label, is in registry/events.py.
"""

import hashlib
import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from registry.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
_source_ip: ContextVar[str | None] = ContextVar("audit_source_ip", default=None)
# The events held by together(), written when it ends, and what waits for them; None outside it.
_held: ContextVar[tuple[list[AuditEvent], list] | None] = ContextVar("audit_held", default=None)


class AuditContextMiddleware:
    """Remember the client address of the request being served, for the events it causes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _source_ip.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            _source_ip.reset(token)


def _plain(data: dict | None) -> dict:
    """JSON-safe and stable: what is hashed is exactly what the database gives back."""
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder, sort_keys=True))


def _normal_ip(value: str | None) -> str | None:
    """The address as the database gives it back (PostgreSQL's inet normalises IPv6), so hashes match."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def timestamp(moment) -> str:
    """UTC with microseconds, one fixed format, as hashed and signed."""
    return moment.astimezone(timezone.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The hashed fields, by attribute name.
HASHED = (
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "subject_type",
    "subject_id",
    "subject_repr",
    "before",
    "after",
    "comment",
    "source_ip",
    "prev_hash",
)


def canonical_values(values: dict) -> dict:
    """The hashed fields as plain JSON values, from an event's values of HASHED."""
    return {**values, "created_at": timestamp(values["created_at"])}


def canonical_fields(event: AuditEvent) -> dict:
    """The hashed fields, as plain JSON values (the audit chain export writes exactly these)."""
    return canonical_values({name: getattr(event, name) for name in HASHED})


def _serialised(fields: dict) -> bytes:
    # registry/checkpoint_verifier.py restates this (it runs without Django); a test keeps them equal.
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical(event: AuditEvent) -> bytes:
    return _serialised(canonical_fields(event))


def digest(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def digest_of(values: dict) -> str:
    """digest() from an event's values of HASHED, without a model instance (the chain check's loop)."""
    return hashlib.sha256(_serialised(canonical_values(values))).hexdigest()


def subject_label(subject: models.Model) -> str:
    return subject._meta.label_lower


def _lock_head() -> AuditChainHead:
    try:
        return AuditChainHead.objects.select_for_update().get(id=1)
    except AuditChainHead.DoesNotExist:  # the very first event (or a freshly flushed test database)
        AuditChainHead.objects.get_or_create(id=1)
        return AuditChainHead.objects.select_for_update().get(id=1)


def _event(*, actor, action, subject, before=None, after=None, comment="") -> AuditEvent:
    actor = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent(
        created_at=timezone.now(),
        actor=actor,
        actor_name=(actor.get_full_name() or actor.email) if actor else "",
        action=action,
        subject_type=subject_label(subject),
        subject_id=str(subject.pk),
        subject_repr=str(subject)[:300],
        before=_plain(before),
        after=_plain(after),
        comment=comment,
        source_ip=_normal_ip(_source_ip.get()),
    )


def record(
    *,
    actor,
    action: str,
    subject: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    comment: str = "",
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction."""
    return record_many(
        [
            {
                "actor": actor,
                "action": action,
                "subject": subject,
                "before": before,
                "after": after,
                "comment": comment,
            }
        ]
    )[0]


def record_many(entries: list[dict]) -> list[AuditEvent]:
    """Append several events in one go: one lock of the chain's head, one INSERT. A long transaction
    (a phase's registration) calls it last, so the head, which every audited action in the portal
    needs, stays locked only for the tail of the transaction."""
    events = [_event(**entry) for entry in entries]
    held = _held.get()
    if held is not None:  # inside together(): written, numbered and hashed when it ends
        held[0].extend(events)
        return events
    return _append(events)


def once_written(action) -> None:
    """Call `action` once the events recorded so far are in the database: now, or at the end of the
    together() being run (for what needs their ids: their notification jobs)."""
    held = _held.get()
    if held is None:
        action()
    else:
        held[1].append(action)


@contextmanager
def together():
    """Hold the events recorded inside it and append them all when it ends, in the order recorded, with
    one lock of the chain's head and one INSERT. For a short transaction that records several events
    (a retirement: the ledger's and its own), so the head, which every audited action in the registry
    waits for, is locked only for its last statements. The events returned inside it get their number,
    hash and id when it ends: what needs the id waits with once_written(). Use it inside the transaction:
    an exception inside it writes nothing."""
    if _held.get() is not None:  # already inside one: the outer one writes
        yield
        return
    token = _held.set(([], []))
    try:
        yield
        events, waiting = _held.get()
    finally:
        _held.reset(token)
    if events:
        _append(events)
    for action in waiting:
        action()


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint to pay for
def _append(events: list[AuditEvent]) -> list[AuditEvent]:
    head = _lock_head()
    seq, previous = head.last_seq, head.last_hash
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, previous
        event.hash = previous = digest(event)
    created = AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.filter(id=1).update(last_seq=seq, last_hash=previous)
    return created


def events_of(subject: models.Model):
    return AuditEvent.objects.filter(subject_type=subject_label(subject), subject_id=str(subject.pk))


@dataclass
class Break:
    seq: int
    reason: str
    rule: str = "chain"  # chain: an event altered, missing or out of line; head: the head row disagrees


FIELDS = [f.attname for f in AuditEvent._meta.concrete_fields]


def events_in_order(chunk_size: int = 5000) -> Iterator[AuditEvent]:
    """Every event by seq, in bounded memory (a server-side cursor on PostgreSQL)."""
    rows = AuditEvent.objects.order_by("seq").values_list(*FIELDS).iterator(chunk_size=chunk_size)
    for row in rows:
        yield AuditEvent(**dict(zip(FIELDS, row, strict=True)))


@dataclass
class _Walk:
    """The state of a walk along the chain: the seq and previous hash the next event must have."""

    expected_seq: int
    expected_prev: str | None  # None: the walk starts inside the chain; its first link is checked later
    first_prev: str | None = None
    checked: int = 0
    broken: Break | None = None


def _walk(walk: _Walk, *, chunk_size: int, last: int | None = None) -> Iterator[int]:
    """Check the events from walk.expected_seq (to `last`), in bounded memory; yields each checked seq and
    stops at the first break (walk.broken). It hashes the rows' values as the database gives them back,
    without an AuditEvent per row (a third of the time of a two-million-event check)."""
    events = AuditEvent.objects.filter(seq__gte=walk.expected_seq).order_by("seq")
    if last is not None:
        events = events.filter(seq__lte=last)
    for *row, stored in events.values_list(*HASHED, "hash").iterator(chunk_size=chunk_size):
        values = dict(zip(HASHED, row, strict=True))
        seq, prev = values["seq"], values["prev_hash"]
        if seq != walk.expected_seq:
            walk.broken = Break(
                walk.expected_seq, f"event #{walk.expected_seq} is missing (next found: #{seq})"
            )
            return
        if walk.checked == 0:
            walk.first_prev = prev
        if walk.expected_prev is not None and prev != walk.expected_prev:
            walk.broken = Break(seq, f"event #{seq} does not follow the previous event's hash")
            return
        if digest_of(values) != stored:
            walk.broken = Break(seq, f"event #{seq} was altered: its content no longer matches its hash")
            return
        walk.expected_prev, walk.expected_seq, walk.checked = stored, seq + 1, walk.checked + 1
        yield seq
    if last is not None and walk.expected_seq <= last:
        walk.broken = Break(walk.expected_seq, f"event #{walk.expected_seq} is missing")


def _walk_part(bounds: tuple[int, int, int]) -> _Walk:
    first, last, chunk_size = bounds
    walk = _Walk(expected_seq=first, expected_prev=None)
    for _seq in _walk(walk, chunk_size=chunk_size, last=last):
        pass
    return walk


PART_AT_LEAST = 50_000  # events per process, below which one walk is quicker


def _walk_in_parts(parts: int, chunk_size: int) -> Iterator[int | Break]:
    """The walk split by seq over `parts` processes (forked, one connection each); the links between the
    parts are checked here. Same outcome as one walk: each checked seq, or the first break."""
    import multiprocessing

    from django.db import connections

    last = AuditEvent.objects.aggregate(last=models.Max("seq"))["last"] or 0
    if last < PART_AT_LEAST * parts:  # not worth the processes: one walk
        yield from verify_chain(chunk_size)
        return
    size = -(-last // parts)
    bounds = [(first, min(first + size - 1, last), chunk_size) for first in range(1, last + 1, size)]
    connections.close_all()  # each process opens its own
    with multiprocessing.get_context("fork").Pool(len(bounds)) as pool:
        walks = pool.map(_walk_part, bounds)
    walk = _Walk(expected_seq=1, expected_prev=GENESIS)
    for (first, _last, _chunk), part in zip(bounds, walks, strict=True):
        if part.checked and part.first_prev != walk.expected_prev:
            yield Break(first, f"event #{first} does not follow the previous event's hash")
            return
        yield from range(first, first + part.checked)
        if part.broken:
            yield part.broken
            return
        walk.expected_seq, walk.expected_prev = part.expected_seq, part.expected_prev
    # What follows `last` (written meanwhile) is walked here.
    yield from _walk(walk, chunk_size=chunk_size)
    if walk.broken:
        yield walk.broken
        return
    yield from _head_problems(walk)


def verify_chain(chunk_size: int = 5000, parts: int = 1) -> Iterator[int | Break]:
    """Walk the chain in order, in bounded memory. Yields each checked seq, or the first Break and stops.
    With `parts` > 1, the chain is split over as many processes (verify_audit on a long chain).

    Inside the database alone, a tail deleted with the head moved back, or an emptied table with the
    head reset, look like a shorter history: registry.checkpoints compares with signed checkpoints."""
    if parts > 1:
        yield from _walk_in_parts(parts, chunk_size)
        return
    walk = _Walk(expected_seq=1, expected_prev=GENESIS)
    yield from _walk(walk, chunk_size=chunk_size)
    if walk.broken:
        yield walk.broken
        return
    yield from _head_problems(walk)


def _head_problems(walk: _Walk) -> Iterator[Break]:
    expected_seq, expected_prev = walk.expected_seq, walk.expected_prev
    head = AuditChainHead.objects.filter(id=1).first()
    if head is None and expected_seq > 1:
        yield Break(expected_seq - 1, "the chain's head row is missing", "head")
    elif head and head.last_seq != expected_seq - 1:
        yield Break(
            expected_seq, f"the chain ends at #{expected_seq - 1} but its head says #{head.last_seq}", "head"
        )
    elif head and head.last_hash != expected_prev:
        yield Break(
            expected_seq - 1,
            f"the head names a hash that is not event #{expected_seq - 1}'s: the head row was rewritten",
            "head",
        )
