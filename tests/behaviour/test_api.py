"""The platforms' reporting API: keys, idempotent sending, status, the rejected rows, the refusals."""

import csv
import io

import pytest
from django.urls import reverse

from offsets.behaviour import services
from offsets.behaviour.models import Batch, BatchStatus
from tests.behaviour.world import gz_csv, gz_jsonl, make_platform, row
from tests.factories import make_bureau

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform():
    return make_platform()


@pytest.fixture
def token(platform):
    return services.issue_credential(platform, by=make_bureau("registry_admin"), label="ride-code app")[1]


def put(client, batch_id, body, token, content_type="text/csv", **headers):
    return client.put(
        reverse("behaviour:api_batch", args=[batch_id]),
        data=body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", **headers},
    )


def get(client, name, batch_id, token, **headers):
    return client.get(reverse(name, args=[batch_id]), headers={"Authorization": f"Bearer {token}", **headers})


def test_a_batch_is_sent_then_read(client, token, django_capture_on_commit_callbacks):
    body = gz_csv([row("r1", "user-1"), row("r2", "user-2", quantity="x")])
    with django_capture_on_commit_callbacks(execute=True):
        sent = put(client, "2026-11-29-001", body, token)
    assert sent.status_code == 202 and sent.json()["rows"] == 2
    status = get(client, "behaviour:api_batch", "2026-11-29-001", token).json()
    assert status["status"] == BatchStatus.DONE and (status["accepted"], status["rejected"]) == (1, 1)
    rejected = get(client, "behaviour:api_rejected", "2026-11-29-001", token)
    lines = list(csv.reader(io.StringIO(b"".join(rejected.streaming_content).decode())))
    assert lines[0] == ["line", "record_id", "reason", "explanation"]
    assert lines[1][:3] == ["3", "r2", "quantity"] and lines[1][3]


def test_sending_again_changes_nothing_and_other_content_is_a_conflict(client, token):
    body = gz_jsonl([row("r1", "user-1")])
    assert put(client, "b1", body, token, "application/jsonl").status_code == 202
    again = put(client, "b1", body, token, "application/jsonl")
    assert again.status_code == 200 and Batch.objects.count() == 1
    other = put(client, "b1", gz_jsonl([row("r2", "user-1")]), token, "application/jsonl")
    assert other.status_code == 409 and "b1" in other.json()["detail"]


@pytest.mark.parametrize(
    ("authorisation", "status"),
    [("", 401), ("Bearer ", 401), ("Bearer whb_000000000000_nope", 401), ("Basic dXNlcjpwYXNz", 401)],
)
def test_no_valid_key_no_access(client, token, authorisation, status):
    response = client.put(
        reverse("behaviour:api_batch", args=["b1"]),
        data=gz_csv([row("r1", "u")]),
        content_type="text/csv",
        headers={"Authorization": authorisation, "Content-Encoding": "gzip"},
    )
    assert response.status_code == status and response["WWW-Authenticate"]
    assert not Batch.objects.exists()


def test_a_revoked_key_is_refused_and_a_second_key_keeps_working(client, platform, token):
    admin = make_bureau("registry_admin")
    second, second_token = services.issue_credential(platform, by=admin, label="rotation")
    first = platform.api_credentials.exclude(pk=second.pk).get()
    services.revoke_credential(first, by=admin)
    assert put(client, "b1", gz_csv([row("r1", "u")]), token).status_code == 401
    assert put(client, "b1", gz_csv([row("r1", "u")]), second_token).status_code == 202


def test_a_platform_never_reaches_another_platforms_batch(client, token):
    other = make_platform()
    other_token = services.issue_credential(other, by=make_bureau("registry_admin"), label="x")[1]
    assert put(client, "theirs", gz_csv([row("r1", "u")]), other_token).status_code == 202
    assert get(client, "behaviour:api_batch", "theirs", token).status_code == 404
    assert get(client, "behaviour:api_rejected", "theirs", token).status_code == 404
    # The same id is simply another batch of this platform's own.
    assert put(client, "theirs", gz_csv([row("r1", "u")]), token).status_code == 202


def test_what_is_not_a_batch_is_refused_with_its_reason(client, token):
    assert put(client, "b1", gz_csv([row("r1", "u")]), token, "application/pdf").status_code == 415
    plain = client.put(
        reverse("behaviour:api_batch", args=["b1"]),
        data=b"record_id\n",
        content_type="text/csv",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert plain.status_code == 415
    assert put(client, "b1", b"not gzip at all", token).status_code == 400
    assert put(client, "bad id", gz_csv([row("r1", "u")]), token).status_code in (400, 404)
    assert (
        client.post(
            reverse("behaviour:api_batch", args=["b1"]), headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 405
    )
    assert not Batch.objects.exists()


def test_the_detail_is_in_the_language_asked_for(client, token):
    response = put(client, "b1", b"not gzip", token, **{"Accept-Language": "zh-hans"})
    assert response.status_code == 400
    assert response.json()["detail"] != str(response.json()["detail"]).encode("ascii", "ignore").decode()


def test_the_openapi_description_names_the_operations(client):
    description = client.get(reverse("behaviour:openapi")).json()
    assert description["openapi"].startswith("3.1")
    paths = description["paths"]
    assert set(paths) == {
        "/api/behaviour/v1/batches/{batch_id}",
        "/api/behaviour/v1/batches/{batch_id}/rejected",
    }
    assert set(paths["/api/behaviour/v1/batches/{batch_id}"]) >= {"put", "get"}
