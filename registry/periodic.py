"""Runs the Celery beat schedule inside the web process, for `make run` where there is no beat.

Production runs `celery beat` and a worker; this exists so the demo portal still closes notices and
sends reminders on time on a bare machine. It reads the same BEAT_SCHEDULE, so nothing is declared twice.
"""

import logging
import threading
from datetime import datetime, timedelta

from celery.schedules import schedule as every
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger(__name__)


def _as_schedule(value):
    if isinstance(value, int | float):
        return every(timedelta(seconds=value))
    if isinstance(value, timedelta):
        return every(value)
    return value


class InProcessBeat:
    def __init__(self, entries: dict, app) -> None:
        self.app = app
        app.loader.import_default_modules()  # autodiscovery is lazy; the tasks must be registered now
        self.entries = {name: (entry, _as_schedule(entry["schedule"])) for name, entry in entries.items()}
        # A first run right at start-up, as beat does for interval jobs, catches up on overdue work.
        self.last_run: dict[str, datetime | None] = dict.fromkeys(self.entries)
        self._stop = threading.Event()

    def run_due(self) -> list[str]:
        """Run every job that is due now; return their names."""
        ran = []
        for name, (entry, sched) in self.entries.items():
            last = self.last_run[name]
            if last is not None and not sched.is_due(last).is_due:
                continue
            self.last_run[name] = timezone.now()
            try:
                self.app.tasks[entry["task"]].apply(
                    args=entry.get("args", ()), kwargs=entry.get("kwargs", {})
                )
                ran.append(name)
            except Exception:
                log.exception("periodic job %s failed", name)
        return ran

    def loop(self, tick: float = 15.0) -> None:
        while True:
            self.run_due()
            # This thread keeps its own connection; drop it when stale, as request handling does.
            close_old_connections()
            if self._stop.wait(tick):
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.loop, name="in-process-beat", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
