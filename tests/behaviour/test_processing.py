"""Behaviour batches through the checks (each with its reason), the de-duplications, quantification and the
daily totals; re-sending; the refusals of a whole file."""

import gzip
import io
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from offsets.behaviour import batches, processing, totals
from offsets.behaviour.accounts import make_account_number
from offsets.behaviour.models import (
    Batch,
    BatchChunk,
    BatchStatus,
    BehaviourRecord,
    PersonalAccount,
    PersonDay,
    RejectedRow,
    Scenario,
    ScenarioDay,
    ScenarioFactor,
)
from tests.behaviour.world import (
    HEADER,
    gz_csv,
    make_platform,
    make_resident,
    person_day,
    person_days,
    recent,
    row,
    send,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Send a batch and run its chunk tasks, as the workers would after the commit."""

    def sending(platform, batch_id, rows, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            batch, new = send(platform, batch_id, rows, **kwargs)
        batch.refresh_from_db()
        return batch, new

    return sending


def reasons(batch) -> dict:
    return dict(RejectedRow.objects.filter(batch=batch).values_list("record_id", "reason"))


def test_a_batch_is_checked_quantified_and_totalled(run):
    platform = make_platform()
    account = make_resident()
    rows = [
        row("r1", account.number, quantity="10.5"),
        row("r2", "user-77", "bicycle", start=recent(1, 9), quantity="3"),
        row("r3", account.number, "no_such_scenario"),
    ]
    batch, new = run(platform, "b-1", rows)
    assert new and batch.status == BatchStatus.DONE and batch.finished_at
    assert (batch.rows, batch.accepted, batch.rejected) == (3, 2, 1)
    # 10.5 passenger-km × 45 g = 472 g (472.5 rounded down); 3 km × 50 g = 150 g
    assert batch.grams == 472 + 150
    assert BehaviourRecord.objects.count() == 2
    assert person_day(account=account)["grams"] == 472
    assert person_day(person="Puser-77")["records"] == 1
    assert sum(ScenarioDay.objects.values_list("grams", flat=True)) == 622
    # The file's own line numbers: the header is line 1.
    assert list(RejectedRow.objects.values_list("line", "reason")) == [(4, "scenario")]


def test_every_check_rejects_with_its_reason(run):
    platform = make_platform(codes=("metro", "bus", "no_tableware"))
    account = make_resident()
    now = timezone.localtime()
    rows = [
        ["short", "row"],
        ["", account.number, "metro", recent().isoformat(), "", "1"],
        ["x" * 65, account.number, "metro", recent().isoformat(), "", "1"],
        ["p1", "", "metro", recent().isoformat(), "", "1"],
        ["p2", "bad\x07person", "metro", recent().isoformat(), "", "1"],
        row("a1", make_account_number(999_999)),  # well formed, no such account
        row("s1", account.number, "bicycle"),  # a scenario not agreed with this platform
        ["t1", account.number, "metro", "yesterday", "", "1"],
        ["t2", account.number, "metro", "2026-11-29T08:00:00", "", "1"],  # no UTC offset
        [
            "t3",
            account.number,
            "metro",
            recent(1, 9).isoformat(),
            recent(1, 8).isoformat(),
            "1",
        ],  # ends first
        row("f1", account.number, start=now + timedelta(hours=2)),
        row("o1", account.number, start=now - timedelta(days=90)),
        row("q1", account.number, quantity="0"),
        row("q2", account.number, quantity="-3"),
        row("q3", account.number, quantity="1.2345"),
        row("q4", account.number, quantity="1e3"),
        row("q5", account.number, quantity="81"),  # the longest metro ride is 80 passenger-km
        row("d1", "user-1", "no_tableware", minutes=None, quantity="1"),
        row("d1", "user-1", "no_tableware", start=recent(1, 12), minutes=None, quantity="1"),
    ]
    batch, _new = run(platform, "checks", rows)
    got = reasons(batch)
    assert got == {
        "": "record_id",
        "short": "fields",
        "x" * 64: "record_id",
        "p1": "person",
        "p2": "person",
        "a1": "unknown_account",
        "s1": "scenario",
        "t1": "time",
        "t2": "time",
        "t3": "time",
        "f1": "future",
        "o1": "too_old",
        "q1": "quantity",
        "q2": "quantity",
        "q3": "quantity",
        "q4": "quantity",
        "q5": "implausible",
        "d1": "repeated",
    }
    assert batch.accepted == 1 and batch.rejected == len(rows) - 1
    assert RejectedRow.objects.filter(batch=batch).count() == len(rows) - 1


def test_more_records_a_day_than_a_person_can_make_are_rejected(run):
    platform = make_platform()
    # Twelve metro rides a day at most: fourteen in two batches, the last two go.
    first = [row(f"m{n}", "user-9", start=recent(1, 6, n)) for n in range(10)]
    second = [row(f"m{n}", "user-9", start=recent(1, 7, n)) for n in range(10, 14)]
    run(platform, "day-1", first)
    batch, _new = run(platform, "day-2", second)
    assert reasons(batch) == {"m12": "too_many", "m13": "too_many"}
    assert person_day(person="Puser-9")["records"] == 12


def test_beyond_the_limit_in_one_chunk_the_latest_rows_go_and_the_total_keeps_the_rest(run):
    platform = make_platform()
    account = make_resident()
    # Fifteen rides in one file, in no particular order, with two other people's: the three latest go.
    mine = [row(f"m{n}", account.number, start=recent(1, 6, n), quantity=str(n + 1)) for n in range(15)]
    others = [row("o1", "user-1"), row("o2", "user-2", "bus")]
    batch, _new = run(platform, "one-file", mine[7:] + others + mine[:7])
    assert reasons(batch) == {"m12": "too_many", "m13": "too_many", "m14": "too_many"}
    day = person_day(account=account)
    kept = BehaviourRecord.objects.filter(account=account)
    assert day["records"] == kept.count() == 12
    assert day["grams"] == sum(kept.values_list("grams", flat=True)) == sum((n + 1) * 45 for n in range(12))
    assert batch.grams == sum(ScenarioDay.objects.values_list("grams", flat=True))


def test_rows_rejected_by_an_earlier_check_do_not_count_towards_the_day_limit(run):
    ride_code, payment = make_platform(), make_platform()
    account = make_resident()
    run(ride_code, "rc", [row("rc-1", account.number, start=recent(1, 6, 0), minutes=1)])
    run(payment, "old", [row("m0", account.number, start=recent(1, 7, 0), minutes=1)])
    # Thirteen more from the payment app: its own m0 again, the ride-code app's ride, eleven new ones. The
    # stored m0 and the eleven new make twelve, the limit; the two rejected do not count, so none is too many.
    again = row("m0", account.number, start=recent(1, 7, 0), minutes=1)
    seen = row("m-rc", account.number, start=recent(1, 6, 0), minutes=1)
    new = [row(f"m{n}", account.number, start=recent(1, 8, n), minutes=1) for n in range(1, 12)]
    batch, _new = run(payment, "more", [again, seen, *new])
    assert reasons(batch) == {"m0": "duplicate", "m-rc": "other_platform"}
    assert person_day(account=account, platform=payment)["records"] == 12
    # One more is one too many.
    batch, _new = run(payment, "last", [row("m12", account.number, start=recent(1, 9), minutes=1)])
    assert reasons(batch) == {"m12": "too_many"}


def test_a_day_limit_below_one_is_refused():
    make_platform()  # and the scenarios with their factors
    factor = ScenarioFactor.objects.filter(scenario__code="metro").first()
    factor.max_records_per_day = 0
    with pytest.raises(ValidationError) as refused:
        factor.full_clean()
    assert "max_records_per_day" in refused.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        factor.save()
    factor.refresh_from_db()
    assert factor.max_records_per_day > 0


def test_a_total_at_the_limit_takes_no_more_and_keeps_what_it_had(run):
    platform = make_platform()
    run(platform, "full", [row(f"m{n}", "user-9", start=recent(1, 6, n)) for n in range(12)])
    before = person_day(person="Puser-9")
    batch, _new = run(platform, "more", [row("m99", "user-9", start=recent(1, 5)), row("o1", "user-1")])
    assert reasons(batch) == {"m99": "too_many"}  # earlier in the day, but reported after the day was full
    after = person_day(person="Puser-9")
    assert (after["records"], after["grams"]) == (before["records"], before["grams"]) == (12, 12 * 472)
    assert (batch.accepted, batch.rejected) == (1, 1)


def test_times_are_read_in_any_iso_form_and_stored_as_the_same_moment(run):
    platform = make_platform()
    start = recent(1, 9)
    forms = {
        "usual": start.isoformat(),  # 2026-11-29T09:00:00+08:00
        "space": start.isoformat(sep=" "),
        "utc": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "fraction": (start + timedelta(microseconds=250_000)).isoformat(),
        "west": start.astimezone(timezone.get_fixed_timezone(-12 * 60)).isoformat(),
        "nepal": start.astimezone(timezone.get_fixed_timezone(timedelta(hours=5, minutes=45))).isoformat(),
        "other_separator": start.isoformat().replace("T", "t"),  # Python reads it; written out anew
    }
    rows = [[f"r-{name}", f"user-{name}", "metro", text, "", "1"] for name, text in forms.items()]
    batch, _new = run(platform, "forms", rows)
    assert reasons(batch) == {}
    stored = dict(BehaviourRecord.objects.values_list("record_id", "started_at"))
    assert stored.pop("r-fraction") == start + timedelta(microseconds=250_000)
    assert stored == {f"r-{name}": start for name in forms if name != "fraction"}


def test_an_offset_no_clock_uses_is_a_bad_time_and_the_rest_of_the_chunk_counts(run):
    platform = make_platform()
    day = recent(1, 9).strftime("%Y-%m-%dT%H:%M:%S")
    rows = [
        ["r1", "user-1", "metro", day + "+08:00", "", "1"],
        ["r2", "user-2", "metro", day + "+20:00", "", "1"],  # Python reads it, PostgreSQL refuses it
        ["r3", "user-3", "metro", day + "-14:30", "", "1"],
        ["r4", "user-4", "metro", day + "+14:00", "", "1"],
        ["r5", "user-5", "metro", day + "+08:00", day + "+23:59:59.999999", "1"],
        ["r6", "user-6", "metro", day + "+08:60", "", "1"],  # Python: +09:00; the usual shape, not as written
        ["r7", "user-7", "metro", day + "+08:00:00.5", "", "1"],  # seconds and a fraction: written in UTC
    ]
    batch, _new = run(platform, "offsets", rows)
    assert batch.status == BatchStatus.DONE
    assert reasons(batch) == {"r2": "time", "r3": "time", "r5": "time"}
    assert set(BehaviourRecord.objects.values_list("record_id", flat=True)) == {"r1", "r4", "r6", "r7"}


def test_an_account_or_scenario_with_daily_totals_is_still_protected_from_deletion(run):
    # The totals carry no database foreign keys (ADR 0019): Django's PROTECT is what keeps them whole.
    platform = make_platform()
    account = make_resident()
    run(platform, "b-1", [row("r1", account.number)])
    totals.sum_day(recent().date())  # the day's totals stored (ADR 0021)
    day = PersonDay.objects.get(account=account)
    with pytest.raises(ProtectedError) as refused:
        account.delete()
    assert day in refused.value.protected_objects
    with pytest.raises(ProtectedError) as refused:
        Scenario.objects.get(code="metro").delete()
    assert day in refused.value.protected_objects
    assert PersonalAccount.objects.filter(pk=account.pk).exists()


def test_a_record_the_platform_reported_before_is_a_duplicate(run):
    platform = make_platform()
    run(platform, "first", [row("r1", "user-1")])
    batch, _new = run(platform, "second", [row("r1", "user-1"), row("r2", "user-1", start=recent(1, 10))])
    assert reasons(batch) == {"r1": "duplicate"}
    assert BehaviourRecord.objects.count() == 2
    assert person_day(person="Puser-1")["records"] == 2


def test_the_same_behaviour_from_two_platforms_counts_once(run):
    ride_code, payment = make_platform(), make_platform()
    account = make_resident()
    start = recent(1, 8)
    run(ride_code, "rc", [row("rc-1", account.number, start=start, minutes=30)])
    # The payment app's record of the same ride: its times differ by less than a minute at each end.
    same = row("pay-1", account.number, start=start + timedelta(seconds=40), minutes=30)
    later = row("pay-2", account.number, start=start + timedelta(hours=2), minutes=30)  # another ride
    other_scenario = row("pay-3", account.number, "bus", start=start, minutes=30)
    batch, _new = run(payment, "pay", [same, later, other_scenario])
    assert reasons(batch) == {"pay-1": "other_platform"}
    assert batch.accepted == 2
    # The person's grams count the ride once.
    metro = person_days(account=account, scenario=Scenario.objects.get(code="metro"))
    assert sum(day["records"] for day in metro) == 2


def test_pseudonyms_of_two_platforms_are_never_matched(run):
    """A pseudonym is the platform's own: the same string on two platforms is two people."""
    first, second = make_platform(), make_platform()
    start = recent(1, 8)
    run(first, "a", [row("r", "user-1", start=start)])
    batch, _new = run(second, "b", [row("r", "user-1", start=start)])
    assert batch.accepted == 1 and not reasons(batch)


def test_the_same_batch_again_changes_nothing(run):
    platform = make_platform()
    rows = [row("r1", "user-1"), row("r2", "user-2")]
    first, new = run(platform, "again", rows)
    again, new_again = run(platform, "again", rows)
    assert new and not new_again and again.pk == first.pk
    assert Batch.objects.count() == 1 and BehaviourRecord.objects.count() == 2
    assert sum(ScenarioDay.objects.values_list("records", flat=True)) == 2


def test_the_same_id_with_other_content_is_refused(run):
    platform = make_platform()
    run(platform, "again", [row("r1", "user-1")])
    with pytest.raises(batches.BatchRefused) as refused:
        run(platform, "again", [row("r9", "user-1")])
    assert refused.value.status == 409
    assert BehaviourRecord.objects.count() == 1


def test_two_platforms_may_use_the_same_batch_id(run):
    first, second = make_platform(), make_platform()
    run(first, "2026-11-29", [row("r1", "user-1")])
    batch, new = run(second, "2026-11-29", [row("r1", "user-1")])
    assert new and batch.accepted == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"record_id,person\n", 400),  # not gzip
        (
            gzip.compress(b"record_id,person,scenario,started_at,ended_at,quantity\nr1,u1,metro", mtime=0)[
                :-6
            ],
            400,
        ),  # cut off
        (gzip.compress(b"id,who,what,when,until,how much\nr1,u,metro,x,,1\n", mtime=0), 400),  # wrong header
        (gzip.compress((HEADER + "\n").encode(), mtime=0), 422),  # no rows
        (b"", 400),
    ],
    # A gzip header carries its time: made at collection, the bytes differ between xdist workers, whose
    # collections must match, so the cases are named and compressed with mtime=0.
    ids=["not-gzip", "cut-off", "wrong-header", "no-rows", "empty"],
)
def test_a_file_that_is_not_a_batch_is_refused_whole(run, body, status):
    platform = make_platform()
    with pytest.raises(batches.BatchRefused) as refused:
        run(platform, "bad", [], body=body)
    assert refused.value.status == status and refused.value.message
    assert not Batch.objects.exists() and not BatchChunk.objects.exists()


def test_too_many_rows_are_refused(run, settings):
    settings.BEHAVIOUR_BATCH_MAX_ROWS = 3
    platform = make_platform()
    with pytest.raises(batches.BatchRefused) as refused:
        run(platform, "big", [row(f"r{n}", "user-1", start=recent(1, 5, n)) for n in range(4)])
    assert refused.value.status == 413 and not Batch.objects.exists()


def test_a_bad_batch_id_is_refused(run):
    platform = make_platform()
    for bad in ("", "-starts-with-dash", "a" * 65, "has space", "../../etc", "x\x00"):
        with pytest.raises(batches.BatchRefused):
            run(platform, bad, [row("r1", "user-1")])
    assert not Batch.objects.exists()


def test_json_lines_are_read_like_csv(run):
    platform = make_platform()
    account = make_resident()
    batch, _new = run(
        platform, "jsonl", [row("j1", account.number), row("j2", "u-2", quantity="abc")], fmt="jsonl"
    )
    assert (batch.accepted, batch.rejected) == (1, 1)
    assert reasons(batch) == {"j2": "quantity"}


def test_json_lines_that_are_not_objects_are_rejected(run):
    platform = make_platform()
    body = gzip.compress(b'[1, 2]\n{"record_id": "r1"}\nnot json\n')
    batch, _new = run(platform, "junk", [], fmt="jsonl", body=body)
    assert batch.rejected == 3 and set(reasons(batch).values()) == {"fields", "person"}


def test_a_big_batch_is_cut_into_chunks_processed_apart(run, settings):
    settings.BEHAVIOUR_CHUNK_ROWS = 4
    platform = make_platform()
    rows = [row(f"r{n}", f"user-{n}", start=recent(1, 6, n)) for n in range(10)]
    rows.append(row("r3", "user-3", start=recent(1, 6, 3)))  # in another chunk: a duplicate there
    batch, _new = run(platform, "chunks", rows)
    assert batch.chunks == 3 and batch.chunks_done == 3 and batch.status == BatchStatus.DONE
    assert (batch.accepted, batch.rejected) == (10, 1)
    assert reasons(batch) == {"r3": "duplicate"}
    assert RejectedRow.objects.get(batch=batch).line == 12


def test_long_rows_make_smaller_chunks_so_a_worker_never_holds_four_times_a_chunk(run, settings):
    # Rows padded to near the longest line: a chunk ends at its rows' bytes at the average allowed (here
    # 4 rows x 256 bytes), not only at its row count.
    settings.BEHAVIOUR_CHUNK_ROWS = 4
    platform = make_platform()
    padded = [row(f"long-{n}-" + "x" * 600, f"user-{n}") for n in range(6)]
    batch, _new = run(platform, "padded", [*padded, row("short", "user-9")])
    assert batch.chunks == 4 and batch.status == BatchStatus.DONE
    starts = BatchChunk.objects.filter(batch=batch).order_by("number").values_list("first_line", flat=True)
    assert list(starts) == [2, 4, 6, 8]
    assert (batch.accepted, batch.rejected) == (1, 6)
    assert set(reasons(batch).values()) == {"record_id"}


def test_a_chunk_sent_again_is_processed_once(run):
    platform = make_platform()
    batch, _new = run(platform, "once", [row("r1", "user-1")])
    chunk = BatchChunk.objects.get(batch=batch)
    assert processing.process_chunk(chunk.pk) is False
    batch.refresh_from_db()
    assert batch.accepted == 1 and batch.chunks_done == 1


def test_the_body_is_read_in_blocks_never_whole(django_capture_on_commit_callbacks):
    """A million-row batch never sits whole in memory: every read asks for a bounded block."""
    platform = make_platform()
    body = gz_csv([row(f"r{n}", "user-1", start=recent(1, 5, n % 60)) for n in range(2000)])

    class Watched(io.BytesIO):
        sizes = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    stream = Watched(body)
    with django_capture_on_commit_callbacks(execute=True):
        batches.receive(platform=platform, batch_id="watched", stream=stream, fmt="csv")
    assert stream.sizes and all(0 < size <= batches.READ_BLOCK for size in stream.sizes)


def test_a_gzip_bomb_is_inflated_a_block_at_a_time():
    """Hundreds of megabytes of zeros in a small file: cut into lines a megabyte at most at a time, and
    refused for its line length before it grows."""
    platform = make_platform()
    bomb = gzip.compress(HEADER.encode() + b"\n" + b"0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(batches.BatchRefused):
        batches.receive(platform=platform, batch_id="bomb", stream=io.BytesIO(bomb), fmt="csv")
    assert not Batch.objects.exists()


def test_any_character_in_a_record_id_is_stored_as_sent_or_rejected_without_harm(run):
    platform = make_platform()
    rows = [
        row("back\\slash", "user-1"),  # accepted as it is
        ["tab\there", "user-1", "metro", recent(1, 9).isoformat(), "", "1"],
        ["nul\x00here", "user-1", "metro", recent(1, 10).isoformat(), "", "1"],
        ["slash\\\x07", "user-1", "metro", recent(1, 11).isoformat(), "", "1"],
    ]
    batch, _new = run(platform, "odd", rows)
    assert batch.accepted == 1 and BehaviourRecord.objects.get().record_id == "back\\slash"
    assert reasons(batch) == {"tab\there": "record_id", "nulhere": "record_id", "slash\\\x07": "record_id"}
