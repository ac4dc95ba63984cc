import pytest

from offsets.behaviour import services
from tests.behaviour.world import send


@pytest.fixture
def processed(django_capture_on_commit_callbacks):
    """Send a batch and run its chunk tasks, as the workers would after the commit; returns the batch."""

    def sending(platform, batch_id, rows):
        with django_capture_on_commit_callbacks(execute=True):
            batch, _new = send(platform, batch_id, rows)
        batch.refresh_from_db()
        return batch

    return sending


@pytest.fixture
def closed(django_capture_on_commit_callbacks):
    """Ask for a month's close and run its task, as a worker would after the commit; returns the period."""

    def closing(platform, month, by):
        with django_capture_on_commit_callbacks(execute=True):
            period = services.close_period(platform, month, by=by)
        period.refresh_from_db()
        return period

    return closing
