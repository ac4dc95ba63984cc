"""Issuance phases, notices, objections and registration: every write of the offsets app.

    drafting --submit_phase--> submitted --approve_for_notice--> approved --publish_notice--> in_notice
    submitted --send_back_phase--> drafting
    in_notice --close_notice (the clock, by a scheduled job)--> closed --register_phase--> registered

Objections: awaiting --rule_objection--> dismissed | upheld (the declaration leaves the phase, goes back
to technical review, and the notice gets a new version; the period does not restart).

The tables PHASES and OBJECTIONS below name every step, who may take it and its label; each function
takes its step through registry.transitions (lock, check against the table, change, audit event,
notification after commit), and the phase screen lists and dispatches what the tables offer.

Registration is one transaction: every remaining declaration becomes an issuance with one serial block
taken from the registry-wide unit counter (one locked row), credited to its owner's holding account.
Certificates, the announcement's PDF and the owners' e-mails follow from background jobs, each once.
"""

from datetime import date, datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from offsets import ledger
from offsets.access import assembled
from offsets.models import (
    Account,
    Announcement,
    Certificate,
    CertificateKind,
    Issuance,
    IssuancePhase,
    NoticeRow,
    NoticeVersion,
    Objection,
    ObjectionStatus,
    PhaseEntry,
    PhaseStatus,
)
from offsets.serials import format_serial
from projects import workflow as case_workflow
from projects.access import may_act_on
from projects.models import Declaration, Stage
from registry import audit, checkpoints, counters
from registry.access import has_right, require
from registry.models import Organisation, User
from registry.services import notify_after_commit
from registry.transitions import (
    Table,
    Transition,
    TransitionRefused,
    finish,
    lock,
    move,
    notify_many_after_commit,
    start,
)
from registry.uploads import check_upload, storage_name
from registry.workdays import add_working_days, years_without_calendar


def _require(user, permission: str) -> None:
    require(has_right, user, permission)


def _bureau(permission: str):
    def right(user, obj) -> None:
        _require(user, permission)

    return right


def _not_the_assembler(phase: IssuancePhase, by: User) -> None:
    if assembled(by, phase):
        raise TransitionRefused(_("You assembled this phase; another approver must decide on it."))


def _declarant(user, objection: Objection) -> None:
    require(may_act_on, user, objection.declaration)


def _phase_refusal(message: str):
    def refusal(phase: IssuancePhase) -> str:
        return message % {"code": phase.code, "status": phase.get_status_display()}

    return refusal


ASSEMBLE, APPROVE = "offsets.assemble_phase", "offsets.approve_phase"
REGISTER, RULE = "offsets.register_phase", "offsets.rule_objection"
DANGER = "btn-outline-danger"

PHASES = Table(
    Transition(
        "add",
        {PhaseStatus.DRAFTING},
        action="phase.declarations_added",
        right=_bureau(ASSEMBLE),
        refusal=lambda phase: _("Declarations are added while the phase is being assembled."),
        notify=False,
        function="add_to_phase",
        label=pgettext_lazy("issuance phase", "Add"),
    ),
    Transition(
        "remove",
        {PhaseStatus.DRAFTING},
        action="phase.declaration_removed",
        right=_bureau(ASSEMBLE),
        refusal=lambda phase: _("Declarations are removed while the phase is being assembled."),
        notify=False,
        function="remove_from_phase",
        label=gettext_lazy("Remove"),
        button=DANGER,
    ),
    Transition(
        "submit",
        {PhaseStatus.DRAFTING},
        PhaseStatus.SUBMITTED,
        action="phase.submitted",
        right=_bureau(ASSEMBLE),
        function="submit_phase",
        label=gettext_lazy("Submit for approval"),
    ),
    Transition(
        "approve",
        {PhaseStatus.SUBMITTED},
        PhaseStatus.APPROVED,
        action="phase.approved",
        right=_bureau(APPROVE),
        guards=(_not_the_assembler,),
        function="approve_for_notice",
        label=gettext_lazy("Approve for notice"),
    ),
    Transition(
        "send_back",
        {PhaseStatus.SUBMITTED},
        PhaseStatus.DRAFTING,
        action="phase.sent_back",
        right=_bureau(APPROVE),
        guards=(_not_the_assembler,),
        function="send_back_phase",
        label=gettext_lazy("Send back"),
        button=DANGER,
    ),
    Transition(
        "publish",
        {PhaseStatus.APPROVED},
        PhaseStatus.IN_NOTICE,
        action="phase.published",
        right=_bureau(ASSEMBLE),
        function="publish_notice",
        label=gettext_lazy("Publish the notice"),
    ),
    # By the clock (a scheduled job), never offered.
    Transition(
        "close",
        {PhaseStatus.IN_NOTICE},
        PhaseStatus.CLOSED,
        action="phase.notice_closed",
        function="close_notice",
    ),
    Transition(
        "register",
        {PhaseStatus.CLOSED},
        PhaseStatus.REGISTERED,
        action="phase.registered",
        right=_bureau(REGISTER),
        refusal=_phase_refusal(
            gettext_lazy(
                "Phase %(code)s is “%(status)s”; only a phase whose notice has closed can be registered."
            )
        ),
        function="register_phase",
        label=gettext_lazy("Register the phase"),
    ),
    field="status",
    module="offsets.issuing",
    refusal=_phase_refusal(gettext_lazy("Phase %(code)s is “%(status)s”; this step is not possible now.")),
    models=("offsets.issuancephase",),
)

OBJECTIONS = Table(
    Transition(
        "answer",
        {ObjectionStatus.AWAITING},
        action="objection.answered",
        right=_declarant,
        refusal=lambda objection: _("This objection has been ruled on."),
        notify=False,
        function="answer_objection",
        label=gettext_lazy("Send the answer"),
    ),
    Transition(
        "dismiss",
        {ObjectionStatus.AWAITING},
        ObjectionStatus.DISMISSED,
        action="objection.dismissed",
        right=_bureau(RULE),
        function="rule_objection",
        label=gettext_lazy("Dismiss"),
    ),
    Transition(
        "uphold",
        {ObjectionStatus.AWAITING},
        ObjectionStatus.UPHELD,
        action="objection.upheld",
        right=_bureau(RULE),
        function="rule_objection",
        label=gettext_lazy("Uphold"),
    ),
    field="status",
    module="offsets.issuing",
    refusal=lambda objection: _("This objection has been ruled on already."),
    models=("offsets.objection",),
)


# --- Assembling ----------------------------------------------------------------------


def eligible_declarations():
    """Approved declarations that no live phase holds and that are not registered yet."""
    return (
        Declaration.objects.filter(stage=Stage.APPROVED, issuance__isnull=True)
        .exclude(pk__in=PhaseEntry.objects.live().values("declaration"))
        .select_related("project__organisation", "project__methodology")
    )


@transaction.atomic
def create_phase(*, code: str, title_zh: str, title_en: str, by: User) -> IssuancePhase:
    """A new phase, being assembled by a registry administrator."""
    _require(by, "offsets.assemble_phase")
    code = code.strip().upper()
    exists = ValidationError(_("A phase with the code %(code)s exists already.") % {"code": code})
    if IssuancePhase.objects.filter(code=code).exists():
        raise exists
    try:
        with transaction.atomic():
            phase = IssuancePhase.objects.create(
                code=code, title_zh=title_zh, title_en=title_en, assembled_by=by
            )
    except IntegrityError as error:  # the same code created at the same moment (two tabs, a retry)
        raise exists from error
    audit.record(actor=by, action="phase.created", subject=phase, after={"code": code})
    return phase


@transaction.atomic
def add_to_phase(phase: IssuancePhase, *, by: User, declarations) -> int:
    """Add approved declarations to a phase being assembled; each may be in one live phase only."""
    locked = start(PHASES, "add", phase, by=by)
    eligible = set(
        eligible_declarations().filter(pk__in=[d.pk for d in declarations]).values_list("pk", flat=True)
    )
    refused = [d for d in declarations if d.pk not in eligible]
    if refused:
        raise TransitionRefused(
            _("Only approved declarations that are in no other phase can be added: %(cases)s.")
            % {"cases": ", ".join(str(d) for d in refused)}
        )
    try:
        with transaction.atomic():
            PhaseEntry.objects.bulk_create(
                PhaseEntry(phase=locked, declaration_id=pk) for pk in sorted(eligible)
            )
    except IntegrityError as error:  # a concurrent assembly took one of them
        raise TransitionRefused(_("One of these declarations was just added to another phase.")) from error
    finish(PHASES, "add", locked, by=by, after={"declarations": sorted(eligible)})
    return len(eligible)


@transaction.atomic
def remove_from_phase(phase: IssuancePhase, *, by: User, declaration: Declaration) -> None:
    locked = start(PHASES, "remove", phase, by=by)
    updated = (
        PhaseEntry.objects.live()
        .filter(phase=locked, declaration=declaration)
        .update(removed_at=timezone.now(), removed_reason="removed while assembling")
    )
    if updated:
        finish(PHASES, "remove", locked, by=by, after={"declaration": declaration.pk})


def live_entries(phase: IssuancePhase):
    return phase.entries.live().select_related(
        "declaration__project__organisation", "declaration__project__methodology"
    )


def totals(phase: IssuancePhase) -> dict:
    """Declarations, projects and tonnes of the phase, in all and per methodology."""
    entries = list(live_entries(phase))
    per_methodology: dict[str, dict] = {}
    for entry in entries:
        declaration = entry.declaration
        row = per_methodology.setdefault(
            declaration.project.methodology.code,
            {"declarations": 0, "tonnes": 0, "methodology": declaration.project.methodology},
        )
        row["declarations"] += 1
        row["tonnes"] += declaration.verified_t or 0
    return {
        "declarations": len(entries),
        "projects": len({e.declaration.project_id for e in entries}),
        "tonnes": sum(e.declaration.verified_t or 0 for e in entries),
        "per_methodology": sorted(per_methodology.items()),
    }


@transaction.atomic
def submit_phase(phase: IssuancePhase, *, by: User) -> IssuancePhase:
    """drafting → submitted: the registry administrator asks an approver to approve it for notice."""
    locked = start(PHASES, "submit", phase, by=by)
    if not live_entries(locked).exists():
        raise TransitionRefused(_("Add at least one approved declaration first."))
    finish(PHASES, "submit", locked, by=by)
    return locked


@transaction.atomic
def approve_for_notice(phase: IssuancePhase, *, by: User, note: str = "") -> IssuancePhase:
    """submitted → approved, by an approver who did not assemble it."""
    phase, _event = move(PHASES, "approve", phase, by=by, note=note, approved_by=by)
    return phase


@transaction.atomic
def send_back_phase(phase: IssuancePhase, *, by: User, reasons: str) -> IssuancePhase:
    """submitted → drafting, with the approver's reasons."""
    locked = start(PHASES, "send_back", phase, by=by)
    if not reasons.strip():
        raise TransitionRefused(_("Give the reasons for sending the phase back."))
    finish(PHASES, "send_back", locked, by=by, note=reasons, status_note=reasons)
    return locked


# --- The notice ----------------------------------------------------------------------


def notice_dates(published_on) -> tuple:
    """Day 1 is the publication day if it is a working day (else the next one); the end is the Nth."""
    days = settings.NOTICE_WORKING_DAYS
    return add_working_days(published_on, 1), add_working_days(published_on, days)


def notice_calendar_gap(phase: IssuancePhase, today=None) -> dict | None:
    """Where a phase's notice period runs into a year without an official working-day calendar (public
    holidays unknown, so New Year's Day counts as a working day): its end date and those years, for the
    warning on the phase screen. Before publication, the period it would have if published `today`."""
    if phase.status in {PhaseStatus.DRAFTING, PhaseStatus.SUBMITTED, PhaseStatus.APPROVED}:
        start = today or timezone.localdate()
        end = notice_dates(start)[1]
    elif phase.status in {PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED} and phase.notice_end:
        start, end = phase.notice_start, phase.notice_end
    else:
        return None
    years = years_without_calendar(start, end)
    if not years:
        return None
    return {"end": end, "years": ", ".join(str(year) for year in years), "published": phase.is_public}


def notice_deadline(phase: IssuancePhase) -> datetime:
    """Objections are accepted until 23:59:59 Asia/Shanghai on the end date."""
    return timezone.make_aware(
        datetime.combine(phase.notice_end, time(23, 59, 59)), timezone.get_default_timezone()
    )


def notice_is_open(phase: IssuancePhase, now=None) -> bool:
    now = now or timezone.now()
    return (
        phase.status == PhaseStatus.IN_NOTICE
        and phase.notice_end is not None
        and now <= notice_deadline(phase)
    )


def _snapshot(phase: IssuancePhase) -> dict:
    rows = []
    for entry in live_entries(phase):
        declaration = entry.declaration
        project = declaration.project
        rows.append(
            {
                "declaration": declaration.pk,
                "project_code": project.code,
                "project_title": project.title,
                "owner": project.organisation.public_name,
                "owner_en": project.organisation.public_name_en,
                "methodology": project.methodology.code,
                "period": [declaration.period_start.isoformat(), declaration.period_end.isoformat()],
                "vintage": declaration.vintage,
                "tonnes": declaration.verified_t,
            }
        )
    return {
        "rows": rows,
        "projects": len({r["project_code"] for r in rows}),
        "tonnes": sum(r["tonnes"] or 0 for r in rows),
    }


def notice_rows(version: NoticeVersion) -> list[NoticeRow]:
    """The rows of a version's list, from its snapshot, in its order: what the notice page pages through."""
    return [
        NoticeRow(
            version=version,
            position=position,
            declaration_id=row["declaration"],
            project_code=row["project_code"],
            project_title=row["project_title"],
            owner=row["owner"],
            owner_en=row.get("owner_en") or "",
            methodology=row["methodology"],
            period_start=date.fromisoformat(row["period"][0]),
            period_end=date.fromisoformat(row["period"][1]),
            vintage=row["vintage"],
            tonnes=row["tonnes"],
        )
        for position, row in enumerate(version.snapshot["rows"], start=1)
    ]


def _new_notice_version(phase: IssuancePhase, reason: str = "") -> NoticeVersion:
    number = (phase.notice_versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
    version = NoticeVersion.objects.create(
        phase=phase, version=number, reason=reason, snapshot=_snapshot(phase)
    )
    NoticeRow.objects.bulk_create(notice_rows(version), batch_size=1000)
    from offsets import tasks

    # robust: a failed send is logged, not an error page; the reconciliation makes the PDF later.
    transaction.on_commit(lambda: tasks.make_notice_pdf.delay(version.pk), robust=True)
    return version


@transaction.atomic
def publish_notice(phase: IssuancePhase, *, by: User, today=None) -> IssuancePhase:
    """approved → in notice for NOTICE_WORKING_DAYS working days, by a registry administrator.
    `today` is for the demo's historical phase; the portal always publishes as of today."""
    first, last = notice_dates(today or timezone.localdate())
    published_at = (
        timezone.now()
        if today is None
        else timezone.make_aware(datetime.combine(today, time(9, 0)), timezone.get_default_timezone())
    )
    phase, _event = move(
        PHASES, "publish", phase, by=by, notice_start=first, notice_end=last, published_at=published_at
    )
    _new_notice_version(phase)
    return phase


@transaction.atomic
def close_notice(phase: IssuancePhase, *, now=None) -> IssuancePhase | None:
    """in notice → closed once its last day has passed (by the clock). Safe to call any time, twice."""
    now = now or timezone.now()
    locked = lock(phase)
    if locked.status != PhaseStatus.IN_NOTICE or now <= notice_deadline(locked):
        return None
    locked, _event = move(PHASES, "close", locked, by=None, closed_at=now)
    return locked


def close_due_notices(now=None) -> list[str]:
    """Close every notice whose period has ended; return their codes. The scheduled job and the command."""
    closed = []
    for phase in IssuancePhase.objects.filter(
        status=PhaseStatus.IN_NOTICE, notice_end__lt=timezone.localdate(now)
    ):
        if close_notice(phase, now=now):
            closed.append(phase.code)
    return closed


# --- Objections ----------------------------------------------------------------------


@transaction.atomic
def file_objection(
    phase: IssuancePhase,
    *,
    declaration: Declaration,
    name: str,
    organisation: str,
    email: str,
    phone: str,
    reasons: str,
    attachment=None,
    source_ip: str | None = None,
    now=None,
) -> Objection:
    """Anyone objects to a declaration of a phase in notice, until 23:59:59 on the end date."""
    locked = IssuancePhase.objects.select_for_update().get(pk=phase.pk)
    if not notice_is_open(locked, now):
        raise TransitionRefused(
            _("The notice period of %(code)s has ended; objections are no longer accepted.")
            % {"code": locked.code}
        )
    if not live_entries(locked).filter(declaration=declaration).exists():
        raise TransitionRefused(_("This declaration is not in the notice."))
    if not (email or phone):
        raise ValidationError(_("Give an e-mail address or a telephone number, so the Bureau can reach you."))
    checked = check_upload(attachment) if attachment else None
    number = counters.take(f"objection-{locked.code}")
    objection = Objection(
        reference=f"OBJ-{locked.code}-{number:03d}",
        phase=locked,
        declaration=declaration,
        name=name,
        organisation=organisation,
        email=email,
        phone=phone,
        reasons=reasons,
        source_ip=source_ip,
    )
    if checked:
        # Stored under a random name of ours with the checked kind's extension, never the objector's.
        attachment.name = storage_name(checked)
        objection.attachment, objection.attachment_sha256 = attachment, checked.sha256
    objection.save()
    event = audit.record(
        actor=None,
        action="objection.filed",
        subject=objection,
        after={"declaration": declaration.pk, "phase": locked.code},
    )
    notify_after_commit(event)
    return objection


@transaction.atomic
def answer_objection(objection: Objection, *, by: User, answer: str) -> Objection:
    """The declarant answers an objection against its declaration while it awaits a ruling."""
    locked = start(OBJECTIONS, "answer", objection, by=by)
    if not answer.strip():
        raise TransitionRefused(_("Write your answer."))
    finish(OBJECTIONS, "answer", locked, by=by, answer=answer.strip(), answered_at=timezone.now())
    return locked


@transaction.atomic
def rule_objection(objection: Objection, *, by: User, upheld: bool, reasons: str) -> Objection:
    """A technical reviewer rules. Upheld: the declaration leaves the phase and goes back to technical
    review, and the notice shows a new version; its period does not restart."""
    step = "uphold" if upheld else "dismiss"
    locked = start(OBJECTIONS, step, objection, by=by)
    if not reasons.strip():
        raise TransitionRefused(_("Give the reasons for the ruling."))
    phase = lock(locked.phase)
    if phase.status not in (PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED):
        raise TransitionRefused(_("Objections are ruled on before the phase is registered."))
    reasons = reasons.strip()
    finish(
        OBJECTIONS, step, locked, by=by, note=reasons, ruling=reasons, ruled_by=by, ruled_at=timezone.now()
    )
    if upheld:
        entry = (
            PhaseEntry.objects.live()
            .select_for_update()
            .filter(phase=phase, declaration=locked.declaration)
            .first()
        )
        if entry is not None:
            entry.removed_at, entry.removed_reason = timezone.now(), locked.reference
            entry.save(update_fields=["removed_at", "removed_reason"])
            case_workflow.reopen_after_objection(
                locked.declaration,
                by=by,
                note=_("Objection %(reference)s upheld: %(reasons)s")
                % {"reference": locked.reference, "reasons": locked.ruling},
            )
            # Only the reference is stored; the notice page and its PDF phrase it in their languages.
            _new_notice_version(phase, reason=locked.reference)
    return locked


# --- Registration ----------------------------------------------------------------------


def account_of(organisation: Organisation) -> Account:
    """The owner's holding account (opened at verification; opened now for one verified before accounts)."""
    return ledger.open_account(organisation)


@transaction.atomic
def register_phase(phase: IssuancePhase, *, by: User, now=None) -> IssuancePhase:
    """closed → registered, in one transaction: serial blocks credited to the owners' accounts.
    `now` is for the demo's historical phase; the portal always registers as of now.

    Rows are written in bulk and the audit events last, in one append: the chain's head row, which every
    audited action needs, is locked only for the tail of the transaction (measured: docs/performance.md).
    """
    locked = start(PHASES, "register", phase, by=by)  # the table's right and state
    if locked.objections.filter(status=ObjectionStatus.AWAITING).exists():
        raise TransitionRefused(_("An objection awaits a ruling: the phase cannot be registered yet."))
    entries = list(live_entries(locked))
    if not entries:
        raise TransitionRefused(_("The phase holds no declaration."))
    declarations = list(
        Declaration.objects.select_for_update(of=("self",))
        .filter(pk__in=[e.declaration_id for e in entries])
        .select_related("project__organisation")
        .order_by("pk")
    )
    now = now or timezone.now()
    year = timezone.localtime(now).year
    accounts = {}
    for declaration in declarations:
        organisation = declaration.project.organisation
        if organisation.pk not in accounts:
            accounts[organisation.pk] = account_of(organisation)
    # One lock on the registry-wide unit counter reserves the whole phase's range at once.
    next_unit = counters.take("serial-units", sum(d.verified_t for d in declarations))
    first_certificate = counters.take(f"certificate-registration-{year}", len(declarations))
    issuances = []
    for declaration in declarations:
        project, quantity = declaration.project, declaration.verified_t
        first, last = next_unit, next_unit + quantity - 1
        next_unit = last + 1
        issuances.append(
            Issuance(
                declaration=declaration,
                phase=locked,
                project=project,
                account=accounts[project.organisation_id],
                vintage=declaration.vintage,
                quantity=quantity,
                first_unit=first,
                last_unit=last,
                registered_at=now,
                serial=format_serial(locked.code, project.code, declaration.vintage, first, last),
            )
        )
    issuances = Issuance.objects.bulk_create(issuances)
    ledger.issue(issuances)  # a held block and an `issued` movement per issuance
    Certificate.objects.bulk_create(
        Certificate(
            kind=CertificateKind.REGISTRATION,
            issuance=i,
            issued_at=now,
            number=f"WHCER-C-{year}-{first_certificate + n:06d}",
        )
        for n, i in enumerate(issuances)
    )
    announcement = Announcement.objects.create(
        phase=locked, published_at=now, number=f"WHCER-A-{year}-{counters.take(f'announcement-{year}'):03d}"
    )
    locked.status, locked.registered_at, locked.registered_by = PhaseStatus.REGISTERED, now, by
    locked.save(update_fields=["status", "registered_at", "registered_by"])
    events = audit.record_many(
        [
            *(
                {
                    "actor": by,
                    "action": "credits.issued",
                    "subject": i,
                    # What verify_ledger cross-checks the issuance and its block against, for good.
                    "after": {
                        "serial": i.serial,
                        "quantity": i.quantity,
                        "account": i.account.number,
                        "owner": i.account.organisation_id,
                        "first_unit": i.first_unit,
                        "last_unit": i.last_unit,
                    },
                }
                for i in issuances
            ),
            {
                "actor": by,
                "action": "phase.registered",
                "subject": locked,
                "before": {"status": PhaseStatus.CLOSED},
                "after": {"status": PhaseStatus.REGISTERED},
            },
        ]
    )
    # The owners' e-mails with their certificates, made by the same jobs.
    notify_many_after_commit(events)
    from offsets import tasks

    transaction.on_commit(lambda: tasks.make_announcement_pdf.delay(announcement.pk), robust=True)
    checkpoints.take_after_commit()  # the new totals, signed and published
    return locked


def issued_total(phase: IssuancePhase) -> int:
    return phase.issuances.aggregate(t=Sum("quantity"))["t"] or 0
