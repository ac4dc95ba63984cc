"""Signed checkpoints of the audit chain and the ledger (ADR 0007, docs/transparency.md).

A checkpoint states the audit chain's head (seq and hash) and the ledger's totals as of that head,
chained to the previous checkpoint and signed with the registry's Ed25519 key. Checkpoints are
published (the transparency page, its JSON and feed, open data). The hash chain makes any edit visible
from inside the database; what it cannot show alone is a shorter history (the tail deleted and the head
moved back, or everything emptied) or a rewrite with every hash recomputed. A checkpoint that someone
kept outside shows both: the database must still hold the event it signed, with the hash it signed.

The signed form and the checks of signatures are those of registry/checkpoint_verifier.py, which
auditors run without the portal.
"""

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from registry import audit
from registry import checkpoint_verifier as spec
from registry.models import AuditChainHead, AuditEvent, Checkpoint

Problem = spec.Problem

# The ledger lives in offsets, which registry does not import: offsets registers its totals here in
# AppConfig.ready(), as it registers its home page figures (registry.home.HOME_PROVIDERS).
TOTALS_PROVIDERS: list[Callable[[], dict]] = []

_DEV_KEY_CONTEXT = b"carbon-registry development checkpoint key\x00"


class CheckpointRefused(Exception):
    """The database's history does not extend the last signed checkpoint: nothing is signed."""


# --- The key --------------------------------------------------------------------------------------


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """CHECKPOINT_SIGNING_KEY: base64 of 32 raw bytes, or an Ed25519 private key in PEM."""
    text = text.strip().replace("\\n", "\n")  # a PEM key squeezed onto one line of an env file
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured("CHECKPOINT_SIGNING_KEY is not a readable PEM private key.") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("CHECKPOINT_SIGNING_KEY must be an Ed25519 key.")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ImproperlyConfigured("CHECKPOINT_SIGNING_KEY is neither base64 nor PEM.") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured("CHECKPOINT_SIGNING_KEY must be base64 of exactly 32 bytes.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    if settings.CHECKPOINT_SIGNING_KEY.strip():
        return parse_private_key(settings.CHECKPOINT_SIGNING_KEY)
    if settings.DEBUG or settings.EMBEDDED_DEMO:
        # Development only: anyone who knows SECRET_KEY can sign with it. Refused in production.
        seed = hashlib.sha256(_DEV_KEY_CONTEXT + settings.SECRET_KEY.encode()).digest()
        return Ed25519PrivateKey.from_private_bytes(seed)
    raise ImproperlyConfigured("CHECKPOINT_SIGNING_KEY is not set: checkpoints cannot be signed.")


def public_key() -> Ed25519PublicKey | None:
    """The key checkpoints are checked with; None when the portal has none (production, not set)."""
    try:
        return signing_key().public_key()
    except ImproperlyConfigured:
        return None


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, for reading aloud or printing next to the published key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# --- Taking a checkpoint --------------------------------------------------------------------------


def ledger_totals() -> dict:
    totals = dict.fromkeys(spec.TOTALS, 0)
    for provider in TOTALS_PROVIDERS:
        totals.update(provider())
    return totals


def as_dict(checkpoint: Checkpoint) -> dict:
    """The published form: what is signed, its hash and the signature (hex)."""
    signed = spec.payload(
        {
            "number": checkpoint.number,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "created_at": audit.timestamp(checkpoint.created_at),
            "totals": checkpoint.totals,
            "prev_checkpoint_hash": checkpoint.prev_checkpoint_hash,
        }
    )
    return {**signed, "checkpoint_hash": checkpoint.checkpoint_hash, "signature": checkpoint.signature}


def _extension_problem(from_seq: int, from_hash: str, to_seq: int, to_hash: str) -> str | None:
    """Why events from_seq+1 … to_seq do not extend from_hash into to_hash, or None if they do."""
    expected_seq, expected_prev = from_seq + 1, from_hash
    events = AuditEvent.objects.filter(seq__gt=from_seq, seq__lte=to_seq).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return f"event #{expected_seq} is missing"
        if event.prev_hash != expected_prev or audit.digest(event) != event.hash:
            return f"event #{event.seq} does not extend the signed history"
        expected_seq, expected_prev = expected_seq + 1, event.hash
    if (expected_seq - 1, expected_prev) != (to_seq, to_hash):
        return f"the chain's head (#{to_seq}) is not where its events end (#{expected_seq - 1})"
    return None


def take(*, now=None) -> Checkpoint | None:
    """Sign the chain's head and the ledger's totals as of it. Nothing when the head has not moved since
    the last checkpoint, so running it twice gives one checkpoint. Refuses to sign a history that does
    not extend the last signed one."""
    key = signing_key()  # before any lock: a portal without a key fails here, loudly
    head = AuditChainHead.objects.filter(id=1).first()
    latest = Checkpoint.objects.order_by("-number").first()
    if head is None or head.last_seq == 0 or (latest and latest.seq >= head.last_seq):
        return None
    # Most of the walk happens before the lock, so audit writers wait only for the last few events.
    start = (latest.seq, latest.hash) if latest else (0, audit.GENESIS)
    problem = _extension_problem(*start, head.last_seq, head.last_hash)
    if problem:
        raise CheckpointRefused(problem)
    with transaction.atomic():
        # Every change of the ledger appends its audit events in its own transaction, holding the head's
        # lock until it commits: with the lock held here, the totals below are exactly those as of the
        # head we sign. Two takers at once queue here; the second finds nothing new.
        locked = AuditChainHead.objects.select_for_update().get(id=1)
        latest = Checkpoint.objects.order_by("-number").first()
        if latest and latest.seq >= locked.last_seq:
            return None
        problem = _extension_problem(head.last_seq, head.last_hash, locked.last_seq, locked.last_hash)
        if problem:
            raise CheckpointRefused(problem)
        checkpoint = Checkpoint(
            number=latest.number + 1 if latest else 1,
            seq=locked.last_seq,
            hash=locked.last_hash,
            created_at=now or timezone.now(),
            totals=ledger_totals(),
            prev_checkpoint_hash=latest.checkpoint_hash if latest else audit.GENESIS,
        )
        body = spec.canonical_json(spec.payload(as_dict(checkpoint)))
        checkpoint.checkpoint_hash = hashlib.sha256(body).hexdigest()
        checkpoint.signature = key.sign(body).hex()
        checkpoint.save()
    return checkpoint


def take_if_due(*, now=None) -> Checkpoint | None:
    """The periodic job: a checkpoint once the last one is CHECKPOINT_INTERVAL_MINUTES old."""
    now = now or timezone.now()
    last = Checkpoint.objects.aggregate(at=Max("created_at"))["at"]
    if last and now - last < timedelta(minutes=settings.CHECKPOINT_INTERVAL_MINUTES):
        return None
    return take(now=now)


SOON_KEY = "checkpoint:due-soon"
# Until when (time.monotonic()) a checkpoint this process asked for will cover its next changes: no need to
# ask the shared cache again before then.
_asked_until = 0.0


def take_after_commit(*, within: int = 0) -> None:
    """After a registration or retirement: a checkpoint once the caller's transaction commits. `robust`:
    a failure to sign is logged and never turns the committed action into an error page.

    With `within` (seconds), many changes share one checkpoint taken within that time (retirements: one
    signature per change would serialise them all on the chain's head). The periodic checkpoint still
    covers anything a shared one missed at its edge."""
    from django.core.cache import cache

    from registry import tasks

    global _asked_until
    if not within:
        transaction.on_commit(tasks.take_checkpoint.delay, robust=True)
    elif time.monotonic() < _asked_until:
        return  # this process asked for one less than within / 2 ago: it runs after this change commits
    elif cache.add(SOON_KEY, time.time() + within, timeout=within * 2):  # the value: when it runs
        # Asked `within` seconds ahead; changes of the next within / 2 seconds commit long before it runs.
        _asked_until = time.monotonic() + within / 2
        transaction.on_commit(lambda: tasks.take_checkpoint.apply_async(countdown=within), robust=True)
    else:
        # Another process asked: its checkpoint runs at the time the key holds and covers the changes
        # committed before then. Until a second before that time, and for at most within / 5 seconds, this
        # process does not ask the cache again (a round trip per change spared); closer to it, it asks.
        due = cache.get(SOON_KEY)
        if isinstance(due, float):
            _asked_until = time.monotonic() + max(0.0, min(within / 5, due - time.time() - 1.0))


# --- Checking the database against checkpoints ----------------------------------------------------


def stored() -> list[dict]:
    return [as_dict(c) for c in Checkpoint.objects.order_by("number").iterator(chunk_size=2000)]


def _issued_at(seqs: list[int]) -> dict[int, int]:
    """Tonnes issued by the audit chain's registration events up to each seq."""
    wanted, totals, issued = sorted(set(seqs)), {}, 0
    events = (
        AuditEvent.objects.filter(action=spec.ISSUE_ACTION, seq__lte=wanted[-1] if wanted else 0)
        .order_by("seq")
        .values_list("seq", "after")
        .iterator(chunk_size=5000)
    )
    for seq, after in events:
        while wanted and wanted[0] < seq:
            totals[wanted.pop(0)] = issued
        issued += int((after or {}).get("quantity", 0))
    for seq in wanted:
        totals[seq] = issued
    return totals


def check(checkpoints: list[dict], key: Ed25519PublicKey, *, published: bool) -> Iterator[Problem]:
    """The database against checkpoints (the stored ones, or copies someone kept): their signatures and
    chain; the event each signed, still there with the hash it signed; the tonnes issued up to it; and
    today's totals never below a checkpoint's. Stops at the first problem."""
    for problem in spec.check_checkpoints(checkpoints, key):
        yield problem
        return
    if not checkpoints:
        return
    hashes: dict[int, str] = {}
    seqs = sorted({int(c["seq"]) for c in checkpoints})
    for start in range(0, len(seqs), 1000):
        part = seqs[start : start + 1000]
        hashes.update(AuditEvent.objects.filter(seq__in=part).values_list("seq", "hash"))
    chain_end = AuditEvent.objects.aggregate(end=Max("seq"))["end"] or 0
    issued = _issued_at(seqs)
    kept = dict(Checkpoint.objects.values_list("number", "checkpoint_hash")) if published else {}
    for checkpoint in checkpoints:
        number, seq = int(checkpoint["number"]), int(checkpoint["seq"])
        if seq not in hashes:
            yield Problem(
                "checkpoint",
                f"checkpoint {number} signed event #{seq}, but the database's chain ends at #{chain_end}: "
                "events were deleted",
            )
            return
        if hashes[seq] != checkpoint["hash"]:
            yield Problem(
                "checkpoint",
                f"event #{seq} differs from what checkpoint {number} signed: history up to it was rewritten",
            )
            return
        if issued[seq] != int(checkpoint["totals"]["issued"]):
            yield Problem(
                "totals",
                f"checkpoint {number} signed {checkpoint['totals']['issued']} t issued, but the audit "
                f"events up to #{seq} record {issued[seq]} t",
            )
            return
    # History first (above): it is what matters. Then the checkpoint table, which a forger also edits.
    for checkpoint in checkpoints if published else []:
        number = int(checkpoint["number"])
        if kept.get(number) != spec.checkpoint_hash(checkpoint):
            state = "missing from" if number not in kept else "different in"
            yield Problem("checkpoint", f"checkpoint {number} was published but is {state} the database")
            return
    latest, now = spec.payload(checkpoints[-1]), ledger_totals()
    for name in ("issued", "retired", "cancelled"):
        if now[name] < latest["totals"][name]:
            yield Problem(
                "totals",
                f"the ledger now has {now[name]} t {name}, less than checkpoint {latest['number']} signed "
                f"({latest['totals'][name]} t)",
            )
            return


# --- Open data ------------------------------------------------------------------------------------


def open_data_rows() -> list[dict]:
    """One flat row per checkpoint (the stand-alone verifier reads the JSON form of these rows too)."""
    rows = []
    for item in stored():
        totals = item.pop("totals")
        signature = item.pop("signature")
        rows.append({**item, **totals, "signature": signature})
    return rows
