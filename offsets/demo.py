"""Demo data of the offsets app, on the story's dates (registry/demo.py). The history: the article's phase
2023P01 (2 declarations, 4,269 t and 3,340 t, 7,609 t in all), assembled and approved on 6 December 2023,
in notice from 7 December and registered on 18 December 2023; then the story's end: the steel company on
the covered-emitter list with its 2022 policy and record, GEM's credits transferred to it on 20 December and
offset for 2022 on 28 December 2023, and a voluntary retirement for an event in April 2024. The present: a
phase of this year in notice since today, with an objection awaiting a ruling, one being assembled, and a
transfer awaiting confirmation. Everything goes through the real services."""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from offsets import compliance, issuing, ledger, retirements, transfers
from offsets.models import Account, IssuancePhase
from projects import workflow
from projects.models import Declaration, Stage
from registry.demo import DEMO_DOMAIN
from registry.models import Organisation, OrganisationStatus, User


def _user(local: str) -> User:
    return User.objects.get(email=f"{local}@{DEMO_DOMAIN}")


def _account(admin_local: str) -> Account:
    return Account.objects.get(organisation__memberships__user__email=f"{admin_local}@{DEMO_DOMAIN}")


def seed_history(clock) -> None:
    if IssuancePhase.objects.filter(code="2023P01").exists():
        return
    seed_article_phase(clock)
    seed_story_end(clock)


def seed_present(clock) -> None:
    if IssuancePhase.objects.exclude(code="2023P01").exists():
        return
    seed_current_phases(clock)


def seed() -> None:
    """The history and the present of this app's demo, for a caller that seeds one app at a time."""
    from registry.demo import story_clock

    with story_clock() as clock:
        seed_history(clock)
        seed_present(clock)


@transaction.atomic
def seed_article_phase(clock) -> None:
    """2023P01, as in the article: notice from 7 December 2023, registered on 18 December 2023."""
    registrar, approver = _user("registrar"), _user("approver")
    article = list(
        Declaration.objects.filter(
            stage=Stage.APPROVED, vintage=2022, project__code__in=["WH-PV-0001", "WH-PV-0002"]
        )
    )
    clock.set(datetime(2023, 12, 6, 10, 0))
    first = issuing.create_phase(
        code="2023P01", title_zh="2023年第一批碳普惠减排量", title_en="2023 phase 1", by=registrar
    )
    issuing.add_to_phase(first, by=registrar, declarations=article)
    issuing.submit_phase(first, by=registrar)
    clock.set(datetime(2023, 12, 6, 15, 0))
    issuing.approve_for_notice(first, by=approver, note="Demo: approved for notice.")
    clock.set(datetime(2023, 12, 7, 9, 0))
    first = issuing.publish_notice(first, by=registrar)
    clock.set(datetime(2023, 12, 16, 9, 0))  # the scheduled job, the morning after the last notice day
    issuing.close_notice(first)
    clock.set(datetime(2023, 12, 18, 10, 0))
    issuing.register_phase(first, by=approver)


@transaction.atomic
def seed_story_end(clock) -> None:
    """Credits that move and offset a covered emitter's 2022 (demo values)."""
    for organisation in Organisation.objects.filter(status=OrganisationStatus.VERIFIED, account__isnull=True):
        ledger.open_account(organisation)  # verified before the ledger app opened accounts on verification
    registrar = _user("registrar")
    gem, steel = _account("gem.admin"), _account("steel.admin")
    emitter = steel.organisation

    # The bureau's 2022 policy (window in 2023, as in the story) and the emitter's 2022 record; a 2023
    # policy whose window is open now, so that the steel company can try an offset of its own.
    clock.set(datetime(2023, 12, 19, 10, 0))
    for year, opens, closes in (
        (2022, date(2023, 1, 1), date(2023, 12, 31)),
        (2023, date(2024, 1, 1), date(2027, 6, 30)),
    ):
        compliance.save_policy(
            by=registrar,
            year=year,
            first_vintage=year - 2,
            last_vintage=year,
            conversion=Decimal("1"),
            cap_basis="allowance",
            cap_percent=Decimal("10"),
            window_opens=opens,
            window_closes=closes,
        )
        compliance.save_record(
            by=registrar,
            organisation=emitter,
            year=year,
            verified_emissions_t=1_210_000,
            allowance_t=1_150_000,
        )
    compliance.add_installation(
        by=registrar, organisation=emitter, name="青山厂区1号高炉", address="武汉市青山区"
    )

    # GEM transfers 3,000 t to the steel company (confirmed 20 December 2023), which offsets 2,000 t for
    # 2022 (confirmed 28 December 2023); GEM retires 100 t for an event (April 2024).
    clock.set(datetime(2023, 12, 20, 14, 0))
    transfer = transfers.request_transfer(
        gem,
        by=_user("gem.declarant"),
        to_number=steel.number,
        quantity=3000,
        note="Demo: sale agreement 2023-12.",
    )
    clock.set(datetime(2023, 12, 20, 15, 0))
    transfers.confirm_transfer(transfer, by=registrar)
    clock.set(datetime(2023, 12, 22, 10, 0))
    offset = retirements.request_offset(steel, by=_user("steel.admin"), year=2022, quantity=2000)
    clock.set(datetime(2023, 12, 28, 10, 0))
    retirements.confirm_offset(offset, by=registrar)
    clock.set(datetime(2024, 4, 14, 9, 0))
    retirements.retire_voluntarily(
        gem,
        by=_user("gem.declarant"),
        quantity=100,
        beneficiary_kind="event",
        beneficiary="2024武汉马拉松 (demo)",
        purpose="赛事碳中和 (demo)",
    )


@transaction.atomic
def seed_current_phases(clock) -> None:
    """This year's first phase in notice since today, with the school's declaration approved two days ago
    and an objection filed; the second being assembled with GEM's approved quarter; a transfer to confirm."""
    registrar, approver = _user("registrar"), _user("approver")
    year = timezone.localtime(clock.real_now()).year
    clock.days_ago(2, 10)
    school_year = Declaration.objects.get(stage=Stage.APPROVAL, project__title__startswith="江汉区第一中学")
    workflow.approve(school_year, by=approver, note="Demo: approved.")
    clock.days_ago(1, 10)
    current = issuing.create_phase(
        code=f"{year}P01", title_zh=f"{year}年第一批碳普惠减排量", title_en=f"{year} phase 1", by=registrar
    )
    issuing.add_to_phase(current, by=registrar, declarations=[school_year])
    issuing.submit_phase(current, by=registrar)
    clock.days_ago(1, 15)
    issuing.approve_for_notice(current, by=approver)

    clock.today()
    current = issuing.publish_notice(current, by=registrar)
    issuing.file_objection(
        current,
        declaration=school_year,
        name="李*",
        organisation="武汉市某小区业主委员会 (demo)",
        email="objector@demo.example",
        phone="",
        reasons="Demo: the school's roof was leased to another PV developer; the same panels may be "
        "declared twice.",
        source_ip="127.0.0.1",
    )
    # Being assembled: GEM's approved quarter (its factor fell back to the latest published one).
    assembling = issuing.create_phase(
        code=f"{year}P02", title_zh=f"{year}年第二批碳普惠减排量", title_en=f"{year} phase 2", by=registrar
    )
    issuing.add_to_phase(assembling, by=registrar, declarations=list(issuing.eligible_declarations()))

    transfers.request_transfer(
        _account("gem.admin"),
        by=_user("gem.declarant"),
        to_number=_account("second.admin").number,
        quantity=500,
        note="Demo: awaiting confirmation.",
    )
