"""The embedded default's mailer: each message kept as an .eml file, and one line on the console.

Without MAIL_HOST (`make run`), e-mail goes nowhere: a person reads it instead. Django's console backend
prints whole messages (megabytes of base64 once certificates are attached) and its file backend appends
every message of a connection to one .log file that no mail client opens. This one writes each message,
attachments included, to its own file under `file_path` (a mail client opens it), and prints one line:

    2026-11-24 15:30:12  mail to gem.admin@demo.example  "…"  var/mail/20261124-153012-1a2b3c4d.eml

The file is named by the message's Date and Message-ID: the same message sent twice is kept once (and
printed once). The folder is MAIL_FOLDER (default var/mail).
"""

import hashlib
import os
import secrets
import sys
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class MailFolderBackend(BaseEmailBackend):
    def __init__(self, fail_silently=False, *, file_path, **kwargs):
        super().__init__(**kwargs)
        self.fail_silently = fail_silently
        self.folder = Path(file_path).resolve()

    def send_messages(self, email_messages):
        sent = 0
        for message in email_messages:
            try:
                self._keep(message)
            except Exception:
                if not self.fail_silently:
                    raise
            else:
                sent += 1
        return sent

    def _keep(self, message) -> None:
        now = timezone.localtime()
        self.folder.mkdir(parents=True, exist_ok=True)
        kept = message.message()
        # Named by the message's own Date and Message-ID: a notification sent again after a worker died
        # between sending and recording it carries the same two (registry.notifications), and is kept once,
        # as a mail client shows it once. Any other message has a new Message-ID, so a name of its own.
        date = kept["Date"].datetime
        date = timezone.localtime(date) if timezone.is_aware(date) else date
        digest = hashlib.sha256(str(kept["Message-ID"]).encode()).hexdigest()[:8]
        path = self.folder / f"{date:%Y%m%d-%H%M%S}-{digest}.eml"
        # Written whole under a temporary name, then linked to its own: a reader (or a second send) never
        # finds half a message, and a kept message is never overwritten.
        partial = self.folder / f".{path.name}.{secrets.token_hex(4)}.partial"
        try:
            partial.write_bytes(kept.as_bytes())
            os.link(partial, path)
        except FileExistsError:
            return
        finally:
            partial.unlink(missing_ok=True)
        attachments = len(message.attachments)
        line = "  ".join(
            [
                f"{now:%Y-%m-%d %H:%M:%S}",
                f"mail to {', '.join(message.recipients())}",
                f'"{message.subject}"',
                _shown(path) + (f" ({attachments} attached)" if attachments else ""),
            ]
        )
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        # One write per line, so lines of mails sent at once never interleave; a terminal that cannot show
        # the subject's characters must not lose the mail.
        sys.stdout.write(line.encode(encoding, "replace").decode(encoding) + "\n")
        sys.stdout.flush()


def _shown(path: Path) -> str:
    """The path relative to the working directory when it lies below it (var/mail/…), else in full."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
