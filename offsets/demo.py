"""Demo data of the offsets app: the article's phase 2023P01 registered (2 declarations, 4,269 t and
3,340 t, 7,609 t in all) on its historical dates, a phase in notice with an objection awaiting a ruling,
and one being assembled. Everything goes through the real issuing."""

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


@transaction.atomic
def seed() -> None:
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
