"""Signed checkpoints: taking them, publishing them, checking them, and the stand-alone verifier."""

import base64
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import InternalError, ProgrammingError, connection, transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from offsets.models import Issuance
from registry import audit, checkpoints, checks
from registry import checkpoint_verifier as spec
from registry.models import AuditEvent, Checkpoint
from tests.factories import make_user, registered_phase, reviewers

pytestmark = pytest.mark.django_db

VERIFIER = Path(settings.BASE_DIR) / "registry" / "checkpoint_verifier.py"


def record_some(n: int):
    subject = make_user()
    return [
        audit.record(actor=subject, action="test.event", subject=subject, after={"n": i}) for i in range(n)
    ]


def published(client) -> dict:
    return json.loads(client.get(reverse("registry:checkpoints_json")).content)


def save(tmp_path, data, name: str = "checkpoints.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


class TestTaking:
    def test_a_checkpoint_signs_the_chains_head_with_the_registrys_key(self):
        events = record_some(3)
        checkpoint = checkpoints.take()
        assert (checkpoint.number, checkpoint.seq, checkpoint.hash) == (1, events[-1].seq, events[-1].hash)
        assert checkpoint.prev_checkpoint_hash == audit.GENESIS
        item = checkpoints.as_dict(checkpoint)
        assert spec.signature_is_valid(item, checkpoints.public_key())
        assert item["checkpoint_hash"] == spec.checkpoint_hash(item)

    def test_taking_twice_without_new_history_gives_one_checkpoint(self):
        record_some(2)
        assert checkpoints.take() is not None
        assert checkpoints.take() is None
        assert Checkpoint.objects.count() == 1

    @pytest.mark.postgres
    def test_the_database_refuses_update_and_delete_of_checkpoints(self):
        record_some(1)
        checkpoint = checkpoints.take()
        for statement in (
            "UPDATE registry_checkpoint SET signature = 'forged' WHERE id = %s",
            "DELETE FROM registry_checkpoint WHERE id = %s",
        ):
            with (
                pytest.raises((InternalError, ProgrammingError)),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement, [checkpoint.pk])
        assert Checkpoint.objects.get(pk=checkpoint.pk).signature == checkpoint.signature

    def test_checkpoints_form_a_chain(self):
        record_some(1)
        first = checkpoints.take()
        record_some(1)
        second = checkpoints.take()
        assert second.number == 2 and second.prev_checkpoint_hash == first.checkpoint_hash
        assert list(spec.check_checkpoints(checkpoints.stored(), checkpoints.public_key())) == []

    def test_nothing_is_signed_over_a_history_that_does_not_extend_the_last_checkpoint(self):
        from django.db import connection

        record_some(3)
        checkpoints.take()
        events = record_some(2)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("UPDATE registry_auditevent SET comment = 'forged' WHERE id = %s", [events[0].pk])
        with pytest.raises(checkpoints.CheckpointRefused, match=f"event #{events[0].seq}"):
            checkpoints.take()
        assert Checkpoint.objects.count() == 1

    def test_the_periodic_job_signs_once_the_interval_has_passed(self):
        record_some(1)
        start = timezone.now()
        assert checkpoints.take_if_due(now=start) is not None
        record_some(1)
        minutes = settings.CHECKPOINT_INTERVAL_MINUTES
        assert checkpoints.take_if_due(now=start + timedelta(minutes=minutes - 1)) is None
        assert checkpoints.take_if_due(now=start + timedelta(minutes=minutes)) is not None

    def test_the_periodic_job_is_in_the_beat_schedule(self):
        from config.celery import BEAT_SCHEDULE

        assert "registry.tasks.take_checkpoint_if_due" in {e["task"] for e in BEAT_SCHEDULE.values()}

    def test_registration_is_followed_by_a_checkpoint_of_the_new_totals(
        self, django_capture_on_commit_callbacks
    ):
        people = reviewers()
        with django_capture_on_commit_callbacks(execute=True):
            registered_phase(people, count=2)
        checkpoint = Checkpoint.objects.get()
        issued = sum(Issuance.objects.values_list("quantity", flat=True))
        assert checkpoint.totals == {
            "issued": issued,
            "held": issued,
            "reserved": 0,
            "retired": 0,
            "cancelled": 0,
            "accounts": 2,
        }
        assert checkpoint.seq == AuditEvent.objects.order_by("-seq").first().seq

    def test_a_failure_to_sign_never_undoes_or_breaks_a_registration(
        self, django_capture_on_commit_callbacks
    ):
        people = reviewers()
        with (
            override_settings(DEBUG=False, CHECKPOINT_SIGNING_KEY=""),
            django_capture_on_commit_callbacks(execute=True),
        ):
            registered_phase(people, count=1)
        assert Issuance.objects.count() == 1 and not Checkpoint.objects.exists()


class TestTheKey:
    def test_a_configured_key_is_used_in_base64_or_pem(self):
        from cryptography.hazmat.primitives import serialization

        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        expected = checkpoints.fingerprint(private.public_key())
        for value in (base64.b64encode(raw).decode(), pem):
            with override_settings(CHECKPOINT_SIGNING_KEY=value):
                assert checkpoints.fingerprint(checkpoints.public_key()) == expected

    def test_a_development_portal_signs_with_a_key_derived_from_its_secret_key(self):
        with override_settings(DEBUG=True, CHECKPOINT_SIGNING_KEY=""):
            first = checkpoints.fingerprint(checkpoints.public_key())
            with override_settings(SECRET_KEY="another-development-secret"):
                assert checkpoints.fingerprint(checkpoints.public_key()) != first
            assert checkpoints.fingerprint(checkpoints.public_key()) == first

    def test_production_refuses_to_sign_without_a_key(self):
        record_some(1)
        with override_settings(DEBUG=False, CHECKPOINT_SIGNING_KEY=""), pytest.raises(ImproperlyConfigured):
            checkpoints.take()
        assert not Checkpoint.objects.exists()

    def test_deploy_check_names_a_missing_or_unreadable_key(self):
        with override_settings(DEBUG=False, CHECKPOINT_SIGNING_KEY=""):
            assert [e.id for e in checks.checkpoint_key_is_set(None)] == ["registry.E002"]
        with override_settings(CHECKPOINT_SIGNING_KEY="bm90IDMyIGJ5dGVz"):
            assert [e.id for e in checks.checkpoint_key_is_readable(None)] == ["registry.E001"]
        with override_settings(DEBUG=True, CHECKPOINT_SIGNING_KEY=""):
            assert checks.checkpoint_key_is_set(None) == []


class TestPublication:
    def test_checkpoints_json_carries_the_key_and_verifiable_checkpoints(self, client):
        record_some(2)
        checkpoints.take()
        data = published(client)
        pem = client.get(reverse("registry:public_key")).content
        assert data["public_key"].encode() == pem
        kept = spec.load_checkpoints(data)
        assert [c["number"] for c in kept] == [1]
        assert list(spec.check_checkpoints(kept, spec.load_public_key(pem))) == []

    def test_the_open_data_table_holds_the_same_checkpoints(self, client):
        record_some(2)
        checkpoints.take()
        response = client.get(reverse("offsets:open_data_file", args=["checkpoints", "json"]))
        rows = spec.load_checkpoints(json.loads(response.content))
        signed = [(spec.payload(c), c["signature"]) for c in spec.load_checkpoints(published(client))]
        assert [(spec.payload(r), r["signature"]) for r in rows] == signed
        assert list(spec.check_checkpoints(rows, checkpoints.public_key())) == []
        csv = client.get(reverse("offsets:open_data_file", args=["checkpoints", "csv"]))
        assert rows[0]["signature"] in csv.content.decode("utf-8-sig")

    def test_the_transparency_page_and_feed_show_the_key_and_checkpoints(self, client):
        record_some(2)
        checkpoint = checkpoints.take()
        page = client.get(reverse("registry:transparency"))
        assert page.status_code == 200
        assert checkpoints.fingerprint(checkpoints.public_key()) in page.text
        assert f'id="checkpoint-{checkpoint.number}"' in page.text
        feed = client.get(reverse("registry:checkpoint_feed"))
        assert feed["Content-Type"].startswith("application/atom+xml")
        assert checkpoint.signature in feed.content.decode()
        verifier = client.get(reverse("registry:checkpoint_verifier"))
        assert b"".join(verifier.streaming_content) == VERIFIER.read_bytes()

    def test_without_a_key_the_public_key_is_not_found_and_the_page_says_so(self, client):
        with override_settings(DEBUG=False, CHECKPOINT_SIGNING_KEY="", ALLOWED_HOSTS=["testserver"]):
            assert client.get(reverse("registry:public_key"), secure=True).status_code == 404
            url = reverse("registry:transparency")
            page = client.get(url, secure=True, HTTP_ACCEPT_LANGUAGE="en")
            chinese = client.get(url, secure=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert page.status_code == 200 and "not configured" in page.text
        assert "尚未配置签名密钥" in chinese.text


class TestVerifyAuditAgainstCheckpoints:
    def test_an_intact_database_matches_kept_checkpoints(self, client, tmp_path, capsys):
        record_some(3)
        checkpoints.take()
        record_some(2)
        checkpoints.take()
        call_command("verify_audit", against=save(tmp_path, published(client)))
        assert "Checkpoints kept in" in (out := capsys.readouterr().out) and ": 2, all matching" in out

    def test_a_forged_checkpoint_is_rejected(self, client, tmp_path):
        record_some(3)
        checkpoints.take()
        data = published(client)
        data["checkpoints"][0]["totals"]["issued"] += 1000  # the signature stays the registry's
        with pytest.raises(CommandError, match=r"\[signature\].*checkpoint 1"):
            call_command("verify_audit", against=save(tmp_path, data))

    def test_a_checkpoint_signed_by_another_key_is_rejected(self, client, tmp_path):
        events = record_some(3)
        other = Ed25519PrivateKey.generate()
        item = {
            "number": 1,
            "seq": events[-1].seq,
            "hash": events[-1].hash,
            "created_at": audit.timestamp(timezone.now()),
            "totals": dict.fromkeys(spec.TOTALS, 0),
            "prev_checkpoint_hash": audit.GENESIS,
        }
        item["signature"] = other.sign(spec.canonical_json(spec.payload(item))).hex()
        with pytest.raises(CommandError, match=r"\[signature\]"):
            call_command("verify_audit", against=save(tmp_path, {"checkpoints": [item]}))

    def test_a_file_that_is_not_checkpoints_is_refused_with_a_message(self, tmp_path):
        path = tmp_path / "junk.json"
        path.write_text("<html>not json</html>")
        with pytest.raises(CommandError, match="not a list of checkpoints"):
            call_command("verify_audit", against=str(path))


class TestStandAloneVerifier:
    def test_its_canonical_form_agrees_with_the_portals_on_real_events(self, client):
        from tests.factories import PASSWORD

        user = make_user(full_name="张伟 O'Brien")
        client.post(
            reverse("login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="2001:db8::1"
        )
        audit.record(
            actor=user,
            action="test.event",
            subject=user,
            before={"nested": {"b": [1, 2.5, None]}, "text": '引号"和\\'},
            after={"when": timezone.now(), "emoji": "✓"},
            comment="line one\nline two",
        )
        events = list(AuditEvent.objects.order_by("seq"))
        assert len(events) >= 2 and any(e.source_ip for e in events)
        for event in events:
            assert spec.event_hash(audit.canonical_fields(event)) == event.hash

    def test_it_imports_nothing_from_django_or_the_portal(self):
        source = VERIFIER.read_text()
        for forbidden in ("import django", "from django", "from registry", "import registry"):
            assert forbidden not in source

    def run_verifier(self, tmp_path, client, *, chain: str | None = None):
        # Run from a copy in a folder of its own: nothing of the portal is importable there.
        folder = tmp_path / "auditor"
        folder.mkdir(exist_ok=True)
        shutil.copy(VERIFIER, folder / "checkpoint_verifier.py")
        (folder / "public-key.pem").write_bytes(client.get(reverse("registry:public_key")).content)
        save(folder, published(client))
        args = ["--key", "public-key.pem", "--checkpoints", "checkpoints.json"]
        if chain:
            args += ["--chain", chain]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHONPATH"))}
        return subprocess.run(
            [sys.executable, "checkpoint_verifier.py", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_it_accepts_a_good_export_and_names_a_tampered_event(self, client, tmp_path):
        events = record_some(5)
        checkpoints.take()
        export = tmp_path / "chain.jsonl"
        call_command("export_audit_chain", output=str(export))
        result = self.run_verifier(tmp_path, client, chain=str(export))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout and "matches every checkpoint" in result.stdout

        lines = export.read_text(encoding="utf-8").splitlines()
        target = events[2].seq
        tampered = [json.loads(line) for line in lines]
        tampered[target - 1]["comment"] = "quietly rewritten"
        bad = tmp_path / "tampered.jsonl"
        bad.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in tampered), encoding="utf-8")
        result = self.run_verifier(tmp_path, client, chain=str(bad))
        assert result.returncode == 1
        assert f"event #{target} was altered" in result.stderr and "[chain]" in result.stderr

    def test_it_names_a_rewrite_with_every_hash_recomputed(self, client, tmp_path):
        record_some(5)
        checkpoints.take()
        export = tmp_path / "chain.jsonl"
        call_command("export_audit_chain", output=str(export))
        events = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
        previous = events[1]["hash"]
        for event in events[2:]:  # #3 onwards rewritten, every link recomputed: only a checkpoint shows it
            event["comment"] = "rewritten"
            event["prev_hash"] = previous
            event["hash"] = previous = spec.event_hash(event)
        bad = tmp_path / "rewritten.jsonl"
        bad.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events), encoding="utf-8")
        result = self.run_verifier(tmp_path, client, chain=str(bad))
        assert result.returncode == 1
        assert "[checkpoint]" in result.stderr and f"event #{events[-1]['seq']}" in result.stderr

    def test_it_rejects_a_checkpoint_signed_by_another_key(self, client, tmp_path):
        record_some(2)
        checkpoints.take()
        result_ok = self.run_verifier(tmp_path, client)
        assert result_ok.returncode == 0, result_ok.stderr
        from cryptography.hazmat.primitives import serialization

        other = Ed25519PrivateKey.generate().public_key()
        (tmp_path / "auditor" / "public-key.pem").write_bytes(
            other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        result = subprocess.run(
            [
                sys.executable,
                "checkpoint_verifier.py",
                "--key",
                "public-key.pem",
                "--checkpoints",
                "checkpoints.json",
            ],
            cwd=tmp_path / "auditor",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1 and "[signature]" in result.stderr


class TestSharedCheckpoint:
    """take_after_commit(within=…): changes close together share one checkpoint, and a process asks the
    shared cache only now and then, not once per change."""

    @pytest.fixture
    def cache_calls(self, monkeypatch):
        from django.core.cache import cache

        calls = []
        real_add = cache.add

        def counted_add(*args, **kwargs):
            calls.append(args[0])
            return real_add(*args, **kwargs)

        monkeypatch.setattr(cache, "add", counted_add)
        return calls

    def test_the_first_change_asks_for_one_checkpoint_and_the_next_ones_share_it(
        self, cache_calls, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks() as asked:
            for _ in range(5):
                checkpoints.take_after_commit(within=5)
        assert len(asked) == 1 and cache_calls == [checkpoints.SOON_KEY]

    def test_a_checkpoint_another_process_asked_for_is_shared_without_asking_the_cache_each_time(
        self, cache_calls, django_capture_on_commit_callbacks, monkeypatch
    ):
        import time

        from django.core.cache import cache

        cache.add(checkpoints.SOON_KEY, time.time() + 5, timeout=10)  # another process asked for it
        cache_calls.clear()
        clock = [1000.0]
        monkeypatch.setattr(checkpoints.time, "monotonic", lambda: clock[0])
        with django_capture_on_commit_callbacks() as asked:
            for _ in range(20):
                checkpoints.take_after_commit(within=5)
        assert asked == [] and cache_calls == [checkpoints.SOON_KEY]  # seen due once, then trusted

        # A second later (within / 5) the process looks again: the checkpoint has run (its task deletes the
        # key), so this change asks for the next one.
        cache.delete(checkpoints.SOON_KEY)
        clock[0] += 1.0
        with django_capture_on_commit_callbacks() as asked:
            checkpoints.take_after_commit(within=5)
        assert len(asked) == 1 and cache_calls == [checkpoints.SOON_KEY] * 2

    def test_a_checkpoint_about_to_run_is_not_trusted_for_later_changes(
        self, cache_calls, django_capture_on_commit_callbacks
    ):
        """Within its last second, the due checkpoint may run before this change commits: the process asks
        again at each change, and the first after the checkpoint has run asks for the next one."""
        import time

        from django.core.cache import cache

        cache.add(checkpoints.SOON_KEY, time.time() + 0.5, timeout=10)
        cache_calls.clear()
        with django_capture_on_commit_callbacks() as asked:
            for _ in range(3):
                checkpoints.take_after_commit(within=5)
        assert asked == [] and cache_calls == [checkpoints.SOON_KEY] * 3
        cache.delete(checkpoints.SOON_KEY)  # the checkpoint's task starts
        with django_capture_on_commit_callbacks() as asked:
            checkpoints.take_after_commit(within=5)
        assert len(asked) == 1
