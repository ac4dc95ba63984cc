"""The public transparency pages: the registry's public key and its signed checkpoints (ADR 0007)."""

from pathlib import Path

from django.contrib.syndication.views import Feed
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import checkpoint_verifier, checkpoints
from registry.models import Checkpoint

PAGE_CHECKPOINTS = 20
FEED_CHECKPOINTS = 50


def transparency(request: HttpRequest) -> HttpResponse:
    key = checkpoints.public_key()
    return render(
        request,
        "registry/transparency.html",
        {
            "public_key_pem": checkpoints.public_key_pem(key) if key else "",
            "fingerprint": checkpoints.fingerprint(key) if key else "",
            "checkpoints": [
                checkpoints.as_dict(c) for c in Checkpoint.objects.order_by("-number")[:PAGE_CHECKPOINTS]
            ],
            "count": Checkpoint.objects.count(),
        },
    )


def _open(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"  # public data, for anyone's own tools
    return response


def checkpoints_json(request: HttpRequest) -> JsonResponse:
    """Every checkpoint, oldest first, with the public key: the file auditors keep."""
    key = checkpoints.public_key()
    body = {
        "algorithm": "Ed25519",
        "public_key": checkpoints.public_key_pem(key) if key else None,
        "checkpoints": checkpoints.stored(),
    }
    return _open(JsonResponse(body, json_dumps_params={"ensure_ascii": False}))


def public_key(request: HttpRequest) -> HttpResponse:
    key = checkpoints.public_key()
    if key is None:
        raise Http404
    response = HttpResponse(checkpoints.public_key_pem(key), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="public-key.pem"'
    return _open(response)


def verifier(request: HttpRequest) -> FileResponse:
    """The stand-alone verifier, as it is in the portal's source."""
    return FileResponse(
        Path(checkpoint_verifier.__file__).open("rb"),
        as_attachment=True,
        filename="checkpoint_verifier.py",
        content_type="text/x-python; charset=utf-8",
    )


class CheckpointFeed(Feed):
    """Atom feed of the latest signed checkpoints; each entry holds the checkpoint as JSON."""

    feed_type = Atom1Feed
    title = gettext_lazy("Carbon Inclusion Registry: signed checkpoints")
    subtitle = gettext_lazy(
        "The audit trail's head and the ledger's totals, signed by the registry. Keep copies: they prove "
        "later that history was not rewritten."
    )

    def link(self):
        return reverse("registry:transparency")

    def items(self):
        return list(Checkpoint.objects.order_by("-number")[:FEED_CHECKPOINTS])

    def item_title(self, item):
        return _("Checkpoint %(number)s: audit event #%(seq)s, %(issued)s t issued") % {
            "number": item.number,
            "seq": item.seq,
            "issued": item.totals.get("issued", 0),
        }

    def item_description(self, item):
        return checkpoint_verifier.canonical_json(checkpoints.as_dict(item)).decode()

    def item_link(self, item):
        return reverse("registry:transparency") + f"#checkpoint-{item.number}"

    def item_guid(self, item):
        return f"checkpoint-{item.number}-{item.checkpoint_hash}"

    def item_pubdate(self, item):
        return item.created_at

    def item_updateddate(self, item):
        return item.created_at
