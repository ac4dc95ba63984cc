"""Receiving a platform's batch of behaviour records: the one function both doors call (the API and the
portal's upload), streaming.

The body is gzip (CSV with its header line, or JSON lines), read in blocks and never whole: each block is
hashed, inflated a megabyte at most at a time (a small bomb never becomes a large buffer), cut into lines,
and the lines are written to chunk files of BEHAVIOUR_CHUNK_ROWS rows (fewer if they are long). The
original file is kept as the batch's evidence. A batch id seen before with the same content changes
nothing; with other content it is refused. A file that is not gzip, has the wrong header, no rows or too
many is refused whole and nothing is kept: the platform mends it and sends it again under the same id.

When the batch's row is committed, one task per chunk is sent (offsets.behaviour.tasks.process_chunk): many
workers, on many machines sharing the media storage, take them at once.
"""

import hashlib
import re
import tempfile
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.behaviour.models import Batch, BatchChunk, BatchFailure, BatchFormat, BatchStatus
from registry import audit

READ_BLOCK = 256 * 1024
INFLATE_AT_MOST = 1024 * 1024
LONGEST_LINE = 1024  # a record is 100 to 300 bytes; a longer line is not one
AVERAGE_ROW_AT_MOST = 256  # bytes: the inflated batch may hold BEHAVIOUR_BATCH_MAX_ROWS rows of this size
CSV_HEADER = b"record_id,person,scenario,started_at,ended_at,quantity"
FIELDS = ("record_id", "person", "scenario", "started_at", "ended_at", "quantity")
BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch: "$" would let a final newline in


class BatchRefused(Exception):
    """The batch is refused whole, with a translated message; `status` is the HTTP status the API answers."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class _Split:
    """The chunk files being written, and what was counted."""

    rows: int = 0
    chunk_rows: int = 0
    chunk_bytes: int = 0
    header_seen: bool = False
    current: object = None  # the chunk file being written
    files: list = field(default_factory=list)  # (its first line's number, the file) of each chunk


def _lines(stream, digest) -> "iter[bytes]":
    """The body's lines, inflated from gzip block by block; raises BatchRefused if it is not gzip or cut off.
    Several gzip members one after another (concatenated files) are read as one."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False  # the current member has begun
    members = 0
    rest = b""
    while block := stream.read(READ_BLOCK):
        digest.update(block)
        data, more = block, True
        while data or more:  # `more`: the output limit was reached, zlib may hold more of it
            fed = fed or bool(data)
            try:
                out = inflater.decompress(data, INFLATE_AT_MOST)
            except zlib.error:
                raise BatchRefused(BatchFailure.NOT_GZIP.label) from None
            data, more = inflater.unconsumed_tail, len(out) == INFLATE_AT_MOST
            if inflater.eof:  # the next member, if any, starts in unused_data
                members += 1
                data = inflater.unused_data + data
                inflater, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
            if out:
                pieces = (rest + out).split(b"\n")
                rest = pieces.pop()
                if len(rest) > LONGEST_LINE:
                    raise BatchRefused(_("A line is longer than %(limit)s bytes.") % {"limit": LONGEST_LINE})
                yield from pieces
    if fed or not members:  # a member cut off, or nothing at all
        raise BatchRefused(BatchFailure.NOT_GZIP.label)
    if rest:
        yield rest


def _split(stream, fmt: str, digest) -> _Split:
    split = _Split()
    limit = settings.BEHAVIOUR_BATCH_MAX_ROWS
    per_chunk = settings.BEHAVIOUR_CHUNK_ROWS
    # A worker holds a whole chunk: rows padded to the longest line would make it four times the usual size,
    # so a chunk also ends at the bytes of its rows at the average allowed.
    most_chunk = per_chunk * AVERAGE_ROW_AT_MOST
    most_bytes, inflated = limit * AVERAGE_ROW_AT_MOST, 0
    try:
        for line in _lines(stream, digest):
            inflated += len(line) + 1
            if len(line) > LONGEST_LINE:
                raise BatchRefused(_("A line is longer than %(limit)s bytes.") % {"limit": LONGEST_LINE})
            if inflated > most_bytes:
                raise BatchRefused(
                    _("The batch is larger than %(size)s MB once decompressed.")
                    % {"size": most_bytes // 10**6},
                    status=413,
                )
            if line.endswith(b"\r"):
                line = line[:-1]
            if fmt == BatchFormat.CSV and not split.header_seen:
                if line.lstrip(b"\xef\xbb\xbf").strip() != CSV_HEADER:
                    raise BatchRefused(
                        _("%(problem)s Expected: %(header)s")
                        % {"problem": BatchFailure.HEADER.label, "header": CSV_HEADER.decode()}
                    )
                split.header_seen = True
                continue
            if split.rows >= limit:
                raise BatchRefused(
                    _("%(problem)s At most %(limit)s rows.")
                    % {"problem": BatchFailure.TOO_LARGE.label, "limit": limit},
                    status=413,
                )
            if split.current is None or split.chunk_rows >= per_chunk or split.chunk_bytes >= most_chunk:
                split.current = tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 (closed by the caller)
                # The file's line number of the chunk's first row (a CSV's header is line 1).
                split.files.append((split.rows + 1 + (fmt == BatchFormat.CSV), split.current))
                split.chunk_rows = split.chunk_bytes = 0
            split.current.write(line)
            split.current.write(b"\n")
            split.rows += 1
            split.chunk_rows += 1
            split.chunk_bytes += len(line) + 1
    except BaseException:
        for _first, handle in split.files:
            handle.close()
        raise
    if not split.rows:
        raise BatchRefused(BatchFailure.EMPTY.label, status=422)
    return split


def problem_with_id(batch_id: str) -> str | None:
    if not BATCH_ID.fullmatch(batch_id or ""):
        return _(
            "A batch id is 1 to 64 letters, digits, dots, hyphens or underscores, starting with a letter or "
            "digit."
        )
    return None


def receive(*, platform, batch_id: str, stream, fmt: str, by=None, credential=None) -> tuple[Batch, bool]:
    """Take a batch from `stream` (a file-like object giving the gzip body). Returns (the batch, whether it is
    new). The same id again: the batch as it is if the content is the same; refused (409) if not."""
    if problem := problem_with_id(batch_id):
        raise BatchRefused(problem)
    if fmt not in BatchFormat.values:
        raise BatchRefused(_("The format is CSV or JSON lines."), status=415)
    digest = hashlib.sha256()
    existing = Batch.objects.filter(platform=platform, batch_id=batch_id).first()
    if existing is not None:
        return _again(existing, stream, digest), False
    original = tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 (closed below)
    try:
        split = _split(_Copying(stream, original), fmt, digest)
        try:
            return _store(platform, batch_id, fmt, digest.hexdigest(), original, split, by, credential), True
        finally:
            for _first, handle in split.files:
                handle.close()
    finally:
        original.close()


def _again(existing: Batch, stream, digest) -> Batch:
    while block := stream.read(READ_BLOCK):
        digest.update(block)
    if digest.hexdigest() != existing.sha256:
        raise BatchRefused(
            _("The batch id %(id)s was used for another file: send new records under a new id.")
            % {"id": existing.batch_id},
            status=409,
        )
    return existing


class _Copying:
    """The stream, with each block read also written to `copy` (the original, kept as evidence)."""

    def __init__(self, stream, copy):
        self.stream, self.copy = stream, copy

    def read(self, size: int) -> bytes:
        block = self.stream.read(size)
        if block:
            self.copy.write(block)
        return block


def _store(platform, batch_id, fmt, sha256, original, split, by, credential) -> Batch:
    stamp = timezone.now()
    original.seek(0)
    name = default_storage.save(
        f"behaviour/batches/{stamp:%Y/%m}/{platform.pk}-{batch_id}.{fmt}.gz", File(original)
    )
    chunks = []
    for number, (first_line, handle) in enumerate(split.files, start=1):
        handle.seek(0)
        chunk_name = default_storage.save(
            f"behaviour/chunks/{stamp:%Y/%m}/{platform.pk}-{batch_id}-{number:05d}.{fmt}", File(handle)
        )
        chunks.append((number, first_line, chunk_name))
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                platform=platform,
                batch_id=batch_id,
                format=fmt,
                sha256=sha256,
                size=original.seek(0, 2),
                rows=split.rows,
                chunks=len(chunks),
                file=name,
                sent_by=by,
                credential=credential,
            )
            made = BatchChunk.objects.bulk_create(
                [BatchChunk(batch=batch, number=n, first_line=first, file=f) for n, first, f in chunks]
            )
            audit.record(
                actor=by,
                action="batch.received",
                subject=batch,
                after={"status": BatchStatus.RECEIVED, "rows": split.rows, "sha256": sha256},
                comment=credential.key_id if credential else "",
            )
            ids = [chunk.pk for chunk in made]
            transaction.on_commit(lambda: _send(ids), robust=True)
    except IntegrityError:
        # The same id sent twice at once: the other one is kept; this one's files go.
        default_storage.delete(name)
        for _n, _first, chunk_name in chunks:
            default_storage.delete(chunk_name)
        existing = Batch.objects.get(platform=platform, batch_id=batch_id)
        if existing.sha256 != sha256:
            raise BatchRefused(
                _("The batch id %(id)s was used for another file: send new records under a new id.")
                % {"id": batch_id},
                status=409,
            ) from None
        return existing
    return batch


def _send(chunk_ids: list[int]) -> None:
    """One task per chunk, sent to the broker in one pipelined round trip."""
    from celery import current_app, group

    from offsets.behaviour import tasks

    if current_app.conf.task_always_eager:  # the embedded default: in-process, one after the other
        for pk in chunk_ids:
            tasks.process_chunk.delay(pk)
        return
    jobs = group(tasks.process_chunk.si(pk) for pk in chunk_ids)
    with current_app.producer_or_acquire() as producer, producer.batch():
        jobs.apply_async(producer=producer)
