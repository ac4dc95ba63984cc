"""A file that passed its checks survives a failed form, so nobody has to choose it again.

Browsers cannot fill a file input in again. When a form fails after its file passed check_upload(), the
file's bytes wait in the cache for KEEP_SECONDS under a random id; nothing ever serves them from there.
The page carries the id, signed, in a hidden input next to the file field, and the session lists the ids
it kept, so a token copied into another browser finds nothing. The next submit without a new file takes
the file back once (the entry is deleted) and the form checks it again with check_upload(), like any
upload: held bytes get through nothing a fresh upload would not. A new file replaces the kept one; an
entry nobody takes back expires with the cache.

The cache is memory, so an address keeps at most KEEPS_PER_ADDRESS_PER_HOUR files an hour and a session
at most KEEPS_PER_SESSION at once: failing sign-ups sent one after another must not fill it. Past the
limit nothing is kept, and the field says the file must be chosen again, as every file field does after
an error when its file is not kept (templates/bootstrap5/layout/field_file.html).
"""

import uuid
from dataclasses import dataclass

from django.core import signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext_lazy as _

from registry.uploads import display_name

KEEP_SECONDS = 30 * 60
KEEPS_PER_ADDRESS_PER_HOUR = 10
KEEPS_PER_SESSION = 5
SESSION_KEY = "kept_uploads"
SALT = "registry.kept-upload"
# The same words as templates/registry/includes/file_field_note.html, for pages that redirect after an
# error and so show no file field with the error.
CHOOSE_AGAIN = _("Choose the file again: for your security, files are not kept after an error.")
NO_LONGER_KEPT = _("The file you chose before is no longer kept (after 30 minutes at most). Choose it again.")


@dataclass(frozen=True)
class KeptFile:
    """What the page shows of a kept file, and the hidden input that brings it back."""

    input_name: str
    token: str
    name: str  # the user's file name, tidied, for display only
    size: int


def _cache_key(key: str) -> str:
    return f"kept-upload:{key}"


class UploadHolder:
    """The holding area as one request sees it: a form gets one from its view."""

    def __init__(self, request):
        self.request = request

    def keep(self, upload, *, input_name: str, name: str) -> KeptFile | None:
        """Hold a checked upload for the next submit; None when the limits say no."""
        counter = f"kept-uploads:address:{self.request.META.get('REMOTE_ADDR', '')}"
        cache.add(counter, 0, timeout=3600)
        if cache.incr(counter) > KEEPS_PER_ADDRESS_PER_HOUR:
            return None
        upload.seek(0)
        content = upload.read()
        upload.seek(0)
        key = uuid.uuid4().hex
        name = display_name(name)
        cache.set(_cache_key(key), {"name": name, "content": content}, timeout=KEEP_SECONDS)
        kept = [*self.request.session.get(SESSION_KEY, []), key]
        for dropped in kept[:-KEEPS_PER_SESSION]:
            cache.delete(_cache_key(dropped))
        self.request.session[SESSION_KEY] = kept[-KEEPS_PER_SESSION:]
        return KeptFile(input_name, signing.dumps(key, salt=SALT), name, len(content))

    def take(self, token: str) -> SimpleUploadedFile | None:
        """The kept file, once, unchecked (the caller checks it like any upload); None if it is gone or the
        token is not this session's."""
        key = self._key(token)
        if key is None:
            return None
        self.request.session[SESSION_KEY] = [k for k in self.request.session[SESSION_KEY] if k != key]
        held = cache.get(_cache_key(key))
        cache.delete(_cache_key(key))
        if not isinstance(held, dict):
            return None
        return SimpleUploadedFile(held["name"] or "file", held["content"])

    def discard(self, token: str) -> None:
        key = self._key(token)
        if key is not None:
            self.request.session[SESSION_KEY] = [k for k in self.request.session[SESSION_KEY] if k != key]
            cache.delete(_cache_key(key))

    def _key(self, token: str) -> str | None:
        if not token or len(token) > 200:  # ours are about 80 characters
            return None
        try:
            key = signing.loads(token, salt=SALT, max_age=KEEP_SECONDS)
        except signing.BadSignature:
            return None
        if not isinstance(key, str) or key not in self.request.session.get(SESSION_KEY, []):
            return None
        return key
