"""Demo data of the offsets app: the article's phase 2023P01 registered (2 declarations, 4,269 t and
3,340 t, 7,609 t in all) on its historical dates, a phase in notice with an objection awaiting a ruling,
and one being assembled; then the story's end: the steel company on the covered-emitter list with its
2022 policy and record, GEM's credits transferred to it and offset for 2022, a voluntary retirement for
an event and a transfer awaiting confirmation. Everything goes through the real services."""

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from offsets import issuing
from offsets.models import IssuancePhase
from projects import demo as project_demo
from projects import workflow
from projects.models import Declaration, Project, Stage
from registry.demo import DEMO_DOMAIN
from registry.models import User


def _user(local: str) -> User:
    return User.objects.get(email=f"{local}@{DEMO_DOMAIN}")


def seed() -> None:
    seed_phases()
    seed_ledger()


@transaction.atomic
def seed_phases() -> None:
    if IssuancePhase.objects.filter(code="2023P01").exists():
        return
    registrar, approver, reviewer = _user("registrar"), _user("approver"), _user("reviewer")
    article = list(
        Declaration.objects.filter(
            stage=Stage.APPROVED, vintage=2022, project__code__in=["WH-PV-0001", "WH-PV-0002"]
        )
    )

    # 2023P01, as in the article: notice from 7 December 2023, registered on 18 December 2023.
    first = issuing.create_phase(
        code="2023P01", title_zh="2023年第一批碳普惠减排量", title_en="2023 phase 1", by=registrar
    )
    issuing.add_to_phase(first, by=registrar, declarations=article)
    issuing.submit_phase(first, by=registrar)
    issuing.approve_for_notice(first, by=approver, note="Demo: approved for notice.")
    first = issuing.publish_notice(first, by=registrar, today=date(2023, 12, 7))
    closing = timezone.make_aware(datetime(2023, 12, 16, 9, 0))
    issuing.close_notice(first, now=closing)
    issuing.register_phase(first, by=approver, now=timezone.make_aware(datetime(2023, 12, 18, 10, 0)))

    # 2023P02 in notice now, with the school's 2022 declaration approved and an objection waiting.
    pending = Declaration.objects.get(stage=Stage.APPROVAL, project__title__startswith="江汉区第一中学")
    workflow.approve(pending, by=approver, note="Demo: approved.")
    second = issuing.create_phase(
        code="2023P02", title_zh="2023年第二批碳普惠减排量", title_en="2023 phase 2", by=registrar
    )
    issuing.add_to_phase(second, by=registrar, declarations=[pending])
    issuing.submit_phase(second, by=registrar)
    issuing.approve_for_notice(second, by=approver)
    second = issuing.publish_notice(second, by=registrar)
    issuing.file_objection(
        second,
        declaration=pending,
        name="李*",
        organisation="(demo)",
        email="objector@demo.example",
        phone="",
        reasons="Demo: the school's roof was leased to another PV developer in 2022; the same panels may be "
        "declared twice.",
        source_ip="127.0.0.1",
    )

    # 2024P01 being assembled, with a new approved declaration (its factor falls back to 2022's).
    article_project = Project.objects.get(code="WH-PV-0001")
    fresh = project_demo._declare(
        article_project,
        by=_user("gem.declarant"),
        months=["300.000"] * 3,
        verifier_user=_user("verifier"),
        submit=True,
        start=date(2024, 1, 1),
        end=date(2024, 3, 31),
    )
    fresh.refresh_from_db()
    workflow.accept(fresh, by=_user("intake"))
    workflow.forward(fresh, by=reviewer, recommendation="approve", verified_t=fresh.claimed_t)
    workflow.approve(fresh, by=approver)
    third = issuing.create_phase(
        code="2024P01", title_zh="2024年第一批碳普惠减排量", title_en="2024 phase 1", by=registrar
    )
    issuing.add_to_phase(third, by=registrar, declarations=[Declaration.objects.get(pk=fresh.pk)])


# --- The story's end: credits that move and offset a covered emitter's 2022 (demo values) -------------


def _dated(moment: datetime, *rows) -> None:
    """Put a demo record and its ledger lines on the story's date (the services write them as of now)."""
    for model, filters, fields in rows:
        model.objects.filter(**filters).update(**dict.fromkeys(fields, moment))


@transaction.atomic
def seed_ledger() -> None:
    from decimal import Decimal

    from offsets import compliance, ledger, retirements, transfers
    from offsets.models import Account, Certificate, Movement, Retirement, Transfer
    from registry.models import Organisation, OrganisationStatus

    if Transfer.objects.exists():
        return
    for organisation in Organisation.objects.filter(status=OrganisationStatus.VERIFIED, account__isnull=True):
        ledger.open_account(organisation)  # the demo's organisations were made verified, not verified here
    registrar = _user("registrar")
    gem = Account.objects.get(organisation__memberships__user__email=f"gem.admin@{DEMO_DOMAIN}")
    steel = Account.objects.get(organisation__memberships__user__email=f"steel.admin@{DEMO_DOMAIN}")
    second = Account.objects.get(organisation__name="武汉市绿能光伏科技有限公司")
    emitter = steel.organisation

    # The bureau's 2022 policy (window in 2023, as in the story) and the emitter's 2022 record; a 2023
    # policy whose window is open now, so that the steel company can try an offset of its own.
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
    # 2022 (confirmed 28 December 2023); GEM retires 100 t for an event; a transfer awaits confirmation.
    transfer = transfers.request_transfer(
        gem,
        by=_user("gem.declarant"),
        to_number=steel.number,
        quantity=3000,
        note="Demo: sale agreement 2023-12.",
    )
    transfers.confirm_transfer(transfer, by=registrar)
    _dated(
        timezone.make_aware(datetime(2023, 12, 20, 15, 0)),
        (Transfer, {"pk": transfer.pk}, ["requested_at", "decided_at"]),
        (Movement, {"reference": transfer.reference}, ["at"]),
    )
    offset = retirements.request_offset(
        steel, by=_user("steel.admin"), year=2022, quantity=2000, today=date(2023, 12, 22)
    )
    retirements.confirm_offset(offset, by=registrar)
    _dated(
        timezone.make_aware(datetime(2023, 12, 28, 10, 0)),
        (Retirement, {"pk": offset.pk}, ["requested_at", "decided_at", "retired_at"]),
        (Movement, {"reference": offset.reference}, ["at"]),
        (Certificate, {"retirement": offset.pk}, ["issued_at"]),
    )
    event = retirements.retire_voluntarily(
        gem,
        by=_user("gem.declarant"),
        quantity=100,
        beneficiary_kind="event",
        beneficiary="2023武汉马拉松 (demo)",
        purpose="赛事碳中和 (demo)",
    )
    _dated(
        timezone.make_aware(datetime(2024, 4, 14, 9, 0)),
        (Retirement, {"pk": event.pk}, ["requested_at", "decided_at", "retired_at"]),
        (Movement, {"reference": event.reference}, ["at"]),
        (Certificate, {"retirement": event.pk}, ["issued_at"]),
    )
    transfers.request_transfer(
        gem,
        by=_user("gem.declarant"),
        to_number=second.number,
        quantity=500,
        note="Demo: awaiting confirmation.",
    )
