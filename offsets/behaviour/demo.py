"""Demo data of residents' low-carbon behaviour (invented; every figure a demo value). The history: the
behaviour scenarios with demo factors from September 2024, the two platform operators' agreements and their
aggregation projects filed. The present: three residents with personal carbon accounts; the ride-code
platform's records of five days last month and of the last days, the payment platform's of the same people
(some the same rides: counted once) and its own scenarios; the ride-code platform's last month closed, its
whole tonnes declared and in technical review; a marathon listed for donations, and a resident's donation.
Everything goes through the real services (batches are received and processed as the API's are)."""

import gzip
import io
import random
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from offsets.behaviour import batches, processing, services
from offsets.behaviour.models import (
    BatchChunk,
    DonationEvent,
    PersonalAccount,
    PlatformAgreement,
)
from offsets.behaviour.reference import ensure_aggregation_methodology, ensure_scenarios
from projects import workflow
from projects.demo import _file_project, _user
from registry.demo import DEMO_DOMAIN, DEMO_PASSWORD, RESIDENTS
from registry.identifiers import make_identity_number
from registry.models import District, Organisation, User

TRAVEL, PAYMENT = "91420100MA4K00008", "91420100MA4K00009"
# The ride-code platform's published demo API key (never for real): see README, "Trying the API".
DEMO_API_KEY = ("demotravel01", "demo-key-not-for-production")
PSEUDONYMS = 250  # users of each platform without a personal account


def _platform(prefix: str) -> Organisation:
    return Organisation.objects.get(identifier__startswith=prefix)


def seed_history(clock) -> None:
    ensure_scenarios()
    if PlatformAgreement.objects.exists():
        return
    seed_platforms(clock)


def seed_present(clock) -> None:
    if PersonalAccount.objects.exists():
        return
    seed_behaviour(clock)


def seed() -> None:
    """The history and the present of this app's demo, for a caller that seeds one app at a time."""
    from registry.demo import story_clock

    with story_clock() as clock:
        seed_history(clock)
        seed_present(clock)


@transaction.atomic
def seed_platforms(clock) -> None:
    """September 2024: the agreements, the API keys and the aggregation projects, filed."""
    scenarios = ensure_scenarios()
    methodology = ensure_aggregation_methodology()
    registrar, intake, approver = _user("registrar"), _user("intake"), _user("approver")
    travel, payment = _platform(TRAVEL), _platform(PAYMENT)
    clock.set(datetime(2024, 9, 10, 10, 0))
    services.set_agreement(
        travel,
        by=registrar,
        threshold_g=5_000,
        scenarios=[scenarios[c] for c in ("metro", "bus")],
        agreed_on=date(2024, 9, 10),
    )
    services.set_agreement(
        payment,
        by=registrar,
        threshold_g=2_000,
        scenarios=[scenarios[c] for c in ("metro", "bicycle", "no_tableware")],
        agreed_on=date(2024, 9, 10),
    )
    services.issue_credential(travel, by=registrar, label="demo: ride-code app", known=DEMO_API_KEY)
    services.issue_credential(payment, by=registrar, label="demo: payment app")
    clock.set(datetime(2024, 9, 12, 9, 0))
    projects = []
    for platform, title, district in (
        (travel, "智行出行乘车码用户低碳出行归集", District.JIANGHAN),
        (payment, "楚天支付用户低碳行为归集", District.WUCHANG),
    ):
        admin = platform.memberships.get(role="admin").user
        project = _file_project(
            platform,
            methodology,
            by=admin,
            title=f"{title} (demo)",
            site=f"{District(district).label} (demo address)",
            district=district,
            meters=[],
            capacity=None,
        )
        workflow.submit(project, by=admin)
        projects.append(project)
    clock.set(datetime(2024, 9, 13, 10, 0))
    for project in projects:
        workflow.accept(project, by=intake, note="Demo: complete.")
        workflow.forward(project, by=_user("reviewer"), recommendation="approve", note="Demo: eligible.")
        workflow.approve(project, by=approver, note="Demo: filed.")


def _residents() -> list:
    accounts = []
    for local, name, first17, _what in RESIDENTS:
        user, created = User.objects.get_or_create(
            email=f"{local}@{DEMO_DOMAIN}",
            defaults={"full_name": name, "language": "zh-hans", "date_joined": timezone.now()},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        accounts.append(services.open_personal_account(user, identity_number=make_identity_number(first17)))
    return accounts


def _at(day: date, hour: int, minute: int) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def _csv(rows) -> bytes:
    lines = ["record_id,person,scenario,started_at,ended_at,quantity"]
    lines += [",".join(str(value) for value in r) for r in rows]
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6)


def _rides(platform_key: str, day: date, people, rng, scenario="metro", hours=(8, 18)) -> list:
    rows = []
    for person in people:
        for trip, hour in enumerate(hours):
            start = _at(day, hour, rng.randrange(0, 50))
            km = f"{rng.uniform(4, 25):.1f}"
            end = start + timedelta(minutes=int(float(km) * 2.5) + 5)
            rows.append(
                [
                    f"{platform_key}-{scenario}-{day:%Y%m%d}-{person}-{trip}",
                    person,
                    scenario,
                    start.isoformat(),
                    end.isoformat(),
                    km,
                ]
            )
    return rows


def _send(platform, batch_id: str, rows) -> None:
    """Received as the API receives it; its chunks processed here if no worker took them (idempotent)."""
    batch, _new = batches.receive(
        platform=platform, batch_id=batch_id, stream=io.BytesIO(_csv(rows)), fmt="csv"
    )
    for chunk in BatchChunk.objects.filter(batch=batch, done_at=None):
        processing.process_chunk(chunk.pk)


def seed_behaviour(clock) -> None:
    travel, payment = _platform(TRAVEL), _platform(PAYMENT)
    rng = random.Random(2024)
    today = timezone.localdate()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    # Today, after every other app's present: the platforms send last month's records and the last days'
    # now (all within the reporting window), and the clock only moves on.
    clock.today()
    accounts = _residents()
    numbers = [account.number for account in accounts]
    travel_people = numbers + [f"zx{n:05d}" for n in range(PSEUDONYMS)]
    payment_people = numbers + [f"ct-{n:06d}" for n in range(PSEUDONYMS)]

    # Last month: five days of rides, a batch a day from each platform.
    for n in range(5):
        day = last_month + timedelta(days=9 + n)
        residents_rides = _rides("zx", day, numbers, rng, hours=(7, 12, 18, 21))  # they ride more
        travel_rows = residents_rides + _rides("zx", day, travel_people[3:], rng)
        _send(travel, f"{day:%Y%m%d}-metro", travel_rows + _rides("zx", day, travel_people[:40], rng, "bus"))
        payment_rows = _rides("ct", day, payment_people[3:], rng, "bicycle")
        # The payment app also reports the residents' metro rides the ride-code app reported: counted once.
        payment_rows += [["ct-" + r[0], *r[1:]] for r in residents_rides[::2]]
        payment_rows += [
            [
                f"ct-{day:%Y%m%d}-order-{k}",
                payment_people[k],
                "no_tableware",
                _at(day, 12, k % 60).isoformat(),
                "",
                "1",
            ]
            for k in range(60)
        ]
        # And a ride no bicycle makes (95 km), which the rejected rows' report names.
        ride = _at(day, 15, 0)
        payment_rows.append(
            [
                f"ct-{day:%Y%m%d}-odd",
                payment_people[5],
                "bicycle",
                ride.isoformat(),
                (ride + timedelta(hours=5)).isoformat(),
                "95",
            ]
        )
        _send(payment, f"{day:%Y%m%d}", payment_rows)

    # Last month closed by the ride-code platform: its whole tonnes declared, submitted and in review.
    travel_admin = travel.memberships.get(role="admin").user
    period = services.close_period(travel, last_month, by=travel_admin)
    # Done here rather than left to a worker (where tasks run in the web process, it is done already).
    services.settle_period(period.pk)
    period.refresh_from_db()
    if period.declaration is not None:
        declaration = workflow.submit(period.declaration, by=travel_admin)
        workflow.accept(declaration, by=_user("intake"), note="Demo: complete.")

    # This month so far: the last two days (not before the month began).
    for back in (2, 1):
        day = today - timedelta(days=back)
        if day < today.replace(day=1):
            continue
        _send(travel, f"{day:%Y%m%d}-metro", _rides("zx", day, travel_people[:80], rng))
        _send(payment, f"{day:%Y%m%d}", _rides("ct", day, payment_people[3:60], rng, "bicycle"))

    # A marathon's carbon neutrality, listed for donations; the first resident gives 1,000 g.
    event = DonationEvent.objects.create(
        name_zh="武汉马拉松碳中和 (demo)",
        name_en="Wuhan Marathon carbon neutrality (demo)",
        description_zh="为马拉松赛事的碳中和捐赠个人碳账户中的减排量（演示）。",
        description_en=(
            "Donate grams of your personal carbon account to the marathon's carbon neutrality (demo)."
        ),
        opens_on=today - timedelta(days=30),
        closes_on=today + timedelta(days=60),
        target_g=5_000_000,
    )
    resident = PersonalAccount.objects.get(pk=accounts[0].pk)
    if resident.balance_g >= 1_000:
        services.donate(resident, event, grams=1_000, by=resident.user)
