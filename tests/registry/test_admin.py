import pytest

from registry.models import Heartbeat
from tests.factories import enrol_authenticator, make_user

pytestmark = pytest.mark.django_db


def test_heartbeats_are_not_added_by_hand(client):
    """Found by tests/test_other_organisations.py: the add form (all fields read-only) saved an empty row."""
    superuser = make_user(is_staff=True, is_superuser=True)
    enrol_authenticator(superuser)
    client.force_login(superuser)
    response = client.post("/admin/registry/heartbeat/add/", {}, headers={"accept-language": "en"})
    assert response.status_code == 403
    assert not Heartbeat.objects.exists()
