"""The platforms' reporting API (docs/api/behaviour.md; OpenAPI description: /api/behaviour/v1/openapi.json).

    PUT  /api/behaviour/v1/batches/<batch id>            the gzip body; Content-Type text/csv or
                                                        application/jsonl → 202 (new) or 200 (seen before)
    GET  /api/behaviour/v1/batches/<batch id>            its status and counts
    GET  /api/behaviour/v1/batches/<batch id>/rejected   its rejected rows with their reasons (CSV)

A platform authenticates with `Authorization: Bearer whb_<key>_<secret>` and reaches its own batches only:
another platform's batch id is simply not found. Answers are JSON with a `detail` in the language asked for
(Accept-Language), and never a page of the portal.
"""

import csv

from django.http import JsonResponse, StreamingHttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from offsets.behaviour import batches, processing, services
from offsets.behaviour.models import Batch, BatchFormat, RejectReason
from registry import exports

CONTENT_TYPES = {
    "text/csv": BatchFormat.CSV,
    "application/jsonl": BatchFormat.JSONL,
    "application/x-ndjson": BatchFormat.JSONL,
    "application/jsonlines": BatchFormat.JSONL,
}


def _problem(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status, json_dumps_params={"ensure_ascii": False})


def _credential(request):
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return services.credential_for(token.strip())


def _unauthorised() -> JsonResponse:
    response = _problem(401, _("A valid API key is needed: Authorization: Bearer whb_<key>_<secret>."))
    response["WWW-Authenticate"] = 'Bearer realm="behaviour"'
    return response


def status_of(batch: Batch) -> dict:
    return {
        "batch_id": batch.batch_id,
        "status": batch.status,
        "format": batch.format,
        "received_at": batch.received_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "rows": batch.rows,
        "accepted": batch.accepted,
        "rejected": batch.rejected,
        "grams": batch.grams,
        "sha256": batch.sha256,
        "chunks": batch.chunks,
        "chunks_done": batch.chunks_done,
        "failed_lines": processing.failed_lines(batch),
    }


@csrf_exempt
@never_cache
def batch(request, batch_id: str):
    credential = _credential(request)
    if credential is None:
        return _unauthorised()
    platform = credential.organisation
    if request.method == "PUT":
        content_type = request.content_type.lower()
        if content_type not in CONTENT_TYPES:
            return _problem(415, _("Send text/csv or application/jsonl, gzip-compressed."))
        if request.headers.get("Content-Encoding", "").lower() != "gzip":
            return _problem(415, _("The body must be gzip-compressed (Content-Encoding: gzip)."))
        try:
            received, new = batches.receive(
                platform=platform,
                batch_id=batch_id,
                stream=request,  # read block by block: the body never sits whole in memory
                fmt=CONTENT_TYPES[content_type],
                credential=credential,
            )
        except batches.BatchRefused as refused:
            return _problem(refused.status, refused.message)
        return JsonResponse(status_of(received), status=202 if new else 200)
    if request.method == "GET":
        found = _own(platform, batch_id)
        return JsonResponse(status_of(found)) if found else _not_found()
    response = _problem(405, _("Use PUT to send a batch and GET to read its status."))
    response["Allow"] = "GET, PUT"
    return response


def _own(platform, batch_id: str) -> Batch | None:
    """The platform's own batch; another platform's is not found, as one that does not exist."""
    return Batch.objects.filter(platform=platform, batch_id=batch_id).first()


def _not_found() -> JsonResponse:
    return _problem(404, _("No batch of this platform has this id."))


class _Echo:
    def write(self, value):
        return value


def rejected_rows_csv(batch: Batch) -> StreamingHttpResponse:
    """The batch's rejected rows, line by line, with the reason's code and its sentence (streamed)."""
    writer = csv.writer(_Echo())
    labels = dict(RejectReason.choices)

    def rows():
        yield writer.writerow(["line", "record_id", "reason", "explanation"])
        for line, record_id, reason in (
            batch.rejected_rows.order_by("line")
            .values_list("line", "record_id", "reason")
            .iterator(chunk_size=5000)
        ):
            yield writer.writerow(
                [line, exports.neutralise(record_id), reason, str(labels.get(reason, reason))]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch.batch_id}-rejected.csv"'
    return response


@never_cache
def rejected(request, batch_id: str):
    credential = _credential(request)
    if credential is None:
        return _unauthorised()
    if request.method != "GET":
        return _problem(405, _("Use GET."))
    found = _own(credential.organisation, batch_id)
    return rejected_rows_csv(found) if found else _not_found()


def openapi(request):
    from offsets.behaviour.openapi import description

    with translation.override("en"):
        return JsonResponse(description(request), json_dumps_params={"ensure_ascii": False, "indent": 1})
