import pytest

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
