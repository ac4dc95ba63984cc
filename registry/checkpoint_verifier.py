#!/usr/bin/env python3
"""Stand-alone verifier of the registry's signed checkpoints and of an exported audit chain.

Runs with plain Python 3.10+ and the `cryptography` package, without Django or the portal:

    python checkpoint_verifier.py --key public-key.pem --checkpoints checkpoints.json [--chain chain.jsonl]

- public-key.pem: the registry's Ed25519 public key, published at /transparency/public-key.pem;
- checkpoints.json: a saved copy of /transparency/checkpoints.json (or of the open-data dataset
  /open-data/checkpoints.json); several saved copies can be merged into one list;
- chain.jsonl: an export of the audit chain (`manage.py export_audit_chain`), one event per line.

It checks every checkpoint's signature, that the checkpoints form one chain, and, given an export,
recomputes every event's hash, every link, and compares the chain with every checkpoint. It prints
"OK" and exits 0, or names the first problem and exits 1. docs/transparency.md explains its use.

The portal imports this module for the checkpoint format (it imports nothing from the portal); the
audit event's canonical form below restates registry/audit.py's `canonical`, and a test keeps the two
equal on real events.
"""

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

GENESIS = "0" * 64
TOTALS = ("issued", "held", "reserved", "retired", "cancelled", "accounts")
# The audit action that records a registration, with the issued quantity in its `after`.
ISSUE_ACTION = "credits.issued"
EVENT_FIELDS = (
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


def canonical_json(value) -> bytes:
    """Sorted keys, no spaces, UTF-8 text as it is: the one serialisation that is hashed and signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- Audit events ---------------------------------------------------------------------------------


def event_hash(event: dict) -> str:
    """SHA-256 over the event's canonical fields (`created_at` already as 2024-01-31T08:00:00.000000Z)."""
    return hashlib.sha256(canonical_json({name: event[name] for name in EVENT_FIELDS})).hexdigest()


# --- Checkpoints ----------------------------------------------------------------------------------


class FormatError(ValueError):
    """A file is not a checkpoint list or an audit chain export."""


def payload(checkpoint: dict) -> dict:
    """What is signed: the head of the audit chain and the ledger's totals when it was taken."""
    return {
        "number": int(checkpoint["number"]),
        "seq": int(checkpoint["seq"]),
        "hash": str(checkpoint["hash"]),
        "created_at": str(checkpoint["created_at"]),
        "totals": {name: int(checkpoint["totals"][name]) for name in TOTALS},
        "prev_checkpoint_hash": str(checkpoint["prev_checkpoint_hash"]),
    }


def checkpoint_hash(checkpoint: dict) -> str:
    return hashlib.sha256(canonical_json(payload(checkpoint))).hexdigest()


def _nested(item: dict) -> dict:
    """A checkpoint from the JSON feed (totals nested) or from the open-data table (totals flat)."""
    if "totals" not in item:
        item = {**item, "totals": {name: item.get(name) for name in TOTALS}}
    return item


def load_checkpoints(data) -> list[dict]:
    """Checkpoints from a parsed checkpoints.json, open-data JSON, or a plain list; ordered by number."""
    if isinstance(data, dict):
        data = data.get("checkpoints", data.get("rows"))
    if not isinstance(data, list):
        raise FormatError("expected a list of checkpoints, or an object with 'checkpoints' or 'rows'")
    checkpoints = {}
    for item in data:
        if not isinstance(item, dict):
            raise FormatError("every checkpoint must be a JSON object")
        item = _nested(item)
        try:
            payload(item)
            str(item["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"a checkpoint lacks a field or has a malformed one ({exc})") from exc
        checkpoints.setdefault(int(item["number"]), item)  # merged copies repeat checkpoints
    return [checkpoints[number] for number in sorted(checkpoints)]


def load_public_key(pem: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise FormatError("the public key is not an Ed25519 key")
    return key


def signature_is_valid(checkpoint: dict, public_key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(bytes.fromhex(checkpoint["signature"]), canonical_json(payload(checkpoint)))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass
class Problem:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.detail}"


def check_checkpoints(checkpoints: list[dict], public_key) -> Iterator[Problem]:
    """Every signature, and the chain of checkpoints: each names its predecessor's hash; seq and the
    issued and retired totals never go back."""
    previous = None
    for checkpoint in checkpoints:
        number = int(checkpoint["number"])
        if not signature_is_valid(checkpoint, public_key):
            yield Problem(
                "signature",
                f"checkpoint {number}: its signature does not match its content under this public key "
                "(altered, forged, or signed by another key)",
            )
            return
        follows = previous is not None and int(previous["number"]) == number - 1
        if follows and checkpoint["prev_checkpoint_hash"] != checkpoint_hash(previous):
            yield Problem(
                "checkpoint-chain", f"checkpoint {number} does not name checkpoint {number - 1} before it"
            )
            return
        if previous is not None:
            before, now = payload(previous), payload(checkpoint)
            if now["seq"] < before["seq"]:
                yield Problem(
                    "checkpoint-chain",
                    f"checkpoint {number} signs event #{now['seq']}, before checkpoint "
                    f"{before['number']}'s #{before['seq']}",
                )
                return
            for name in ("issued", "retired", "cancelled"):
                if now["totals"][name] < before["totals"][name]:
                    yield Problem(
                        "totals", f"checkpoint {number}: {name} went down from checkpoint {before['number']}"
                    )
                    return
        if number == 1 and checkpoint["prev_checkpoint_hash"] != GENESIS:
            yield Problem("checkpoint-chain", "checkpoint 1 names a predecessor")
            return
        previous = checkpoint


def check_chain(events: Iterable[dict], checkpoints: list[dict]) -> Iterator[Problem]:
    """Recompute every hash and link of an exported chain, and compare it with every checkpoint."""
    at_seq: dict[int, list[dict]] = {}
    for checkpoint in checkpoints:
        at_seq.setdefault(int(checkpoint["seq"]), []).append(checkpoint)
    expected_seq, expected_prev, issued = 1, GENESIS, 0
    for event in events:
        try:
            seq = int(event["seq"])
            computed = event_hash(event)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"an exported event lacks a field or has a malformed one ({exc})") from exc
        if seq != expected_seq:
            yield Problem("chain", f"event #{expected_seq} is missing (next found: #{seq})")
            return
        if event["prev_hash"] != expected_prev:
            yield Problem("chain", f"event #{seq} does not follow the previous event's hash")
            return
        if computed != event.get("hash"):
            yield Problem("chain", f"event #{seq} was altered: its content no longer matches its hash")
            return
        if event["action"] == ISSUE_ACTION:
            issued += int((event.get("after") or {}).get("quantity", 0))
        for checkpoint in at_seq.pop(seq, []):
            if checkpoint["hash"] != computed:
                yield Problem(
                    "checkpoint",
                    f"event #{seq} differs from what checkpoint {checkpoint['number']} signed: "
                    "history up to it was rewritten",
                )
                return
            if int(checkpoint["totals"]["issued"]) != issued:
                yield Problem(
                    "totals",
                    f"checkpoint {checkpoint['number']} signed {checkpoint['totals']['issued']} t issued, "
                    f"but the events up to #{seq} record {issued} t",
                )
                return
        expected_seq, expected_prev = seq + 1, computed
    for seq in sorted(at_seq):
        numbers = ", ".join(str(c["number"]) for c in at_seq[seq])
        yield Problem(
            "checkpoint",
            f"the chain ends at #{expected_seq - 1}, but checkpoint {numbers} signed event #{seq}: "
            "events were deleted",
        )
        return


def read_jsonl(lines: Iterable[str]) -> Iterator[dict]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise FormatError(f"line {number} of the chain export is not JSON ({exc.msg})") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True, help="the registry's public key (PEM)")
    parser.add_argument("--checkpoints", required=True, help="saved checkpoints.json")
    parser.add_argument("--chain", help="audit chain export (JSON lines), optional")
    args = parser.parse_args(argv)
    try:
        with open(args.key, "rb") as file:
            public_key = load_public_key(file.read())
        with open(args.checkpoints, encoding="utf-8") as file:
            checkpoints = load_checkpoints(json.load(file))
        problems = list(check_checkpoints(checkpoints, public_key))
        if not problems and args.chain:
            with open(args.chain, encoding="utf-8") as file:
                problems = list(check_chain(read_jsonl(file), checkpoints))
    except (OSError, ValueError) as exc:  # FormatError and JSON errors are ValueErrors
        print(f"Cannot verify: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(f"FAILED {problems[0]}", file=sys.stderr)
        return 1
    latest = checkpoints[-1] if checkpoints else None
    summary = f"checkpoints: {len(checkpoints)}, signatures and chain valid"
    if latest:
        summary += f"; the latest (#{latest['number']}) signs event #{latest['seq']}"
    if args.chain:
        summary += "; the exported chain matches every checkpoint"
    print(f"OK: {summary}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
