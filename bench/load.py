"""Load data for the benchmarks: what `manage.py generate_load` writes (docs/performance.md, "Load data").

It fills a PostgreSQL database of its own (a name ending in `_bench` or `_bench_load`; or the test
database during a test run) with a registry as the portal would have made it, at a chosen scale, fast:

- organisations of every kind and status, an administrator and a declarant each, the bureau's staff,
  a holding account per verified organisation;
- projects and declarations in every stage of the review, each with the audit events of the steps that
  brought it there (created, submitted, accepted, expert opinions asked, forwarded, returned, approved,
  rejected, withdrawn), their findings and expert opinions where a step makes them;
- issuance phases in every status: most registered (notice versions, announcement, issuances, serial
  blocks, `issued` movements, registration certificates), the last few drafting, submitted, approved,
  in notice and closed;
- transfers (completed, pending, rejected, cancelled), voluntary retirements and cancellations, with the
  blocks they split, move, reserve, release and retire, their movements, retirement certificates and
  audit events, simulated in memory exactly as offsets.ledger writes them;
- then a few transfers, retirements and a cancellation through the real services (offsets.transfers,
  offsets.retirements), and with --checkpoint a signed checkpoint (registry.checkpoints.take).

Rows are written with COPY and their own primary keys (no round trip per row); the counters the
portal numbers from (units, project codes, certificates, references) end where the data ends. The
audit events are sorted by time and chained with registry.audit.digest, continuing the chain's head.
Dates: finished work lies in 2021-2026 at fixed dates; open cases, recent phases and pending transfers
lie in the weeks before the fill (due dates count calendar days, 7 for 5 working days).

Not made: uploaded documents, monitoring data, letters and PDF files (certificates and notices have
their records, no file); compliance policies, records and offsets. The background jobs the real
services ask for after commit (e-mails, PDFs, checkpoints) go to an in-memory queue that nothing reads.
"""

import bisect
import random
import time
from collections import Counter as Tally
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from psycopg import sql
from psycopg.types.json import Jsonb

from bench import common
from offsets import issuing, ledger
from offsets.models import (
    Account,
    Announcement,
    BeneficiaryKind,
    BlockStatus,
    Certificate,
    CertificateKind,
    Issuance,
    IssuancePhase,
    Movement,
    MovementKind,
    NoticeRow,
    NoticeVersion,
    PhaseEntry,
    PhaseStatus,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from offsets.serials import UNIT_DIGITS, format_serial
from projects.models import (
    DEAD_STAGES,
    REVIEW_STAGES,
    Declaration,
    ExpertOpinion,
    Finding,
    GridConnectionPoint,
    Project,
    Stage,
)
from registry import audit, counters, roles
from registry.events import LABELS
from registry.identifiers import make_credit_code, make_identity_number
from registry.models import (
    AuditChainHead,
    AuditEvent,
    Counter,
    District,
    Language,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    OrgRole,
    User,
)

SUFFIXES = ("_bench", "_bench_load", "_bench_all")  # _bench_all: make bench (bench/run.py)
CHUNK = 50_000  # audit events built, hashed and written per round
HISTORY_START = date(2021, 1, 4)  # the first organisation signs up
CREDITING_START, CREDITING_END = date(2021, 1, 1), date(2030, 12, 31)
PERIOD_OFFSETS = 12  # project p's declarations start at quarter p mod 12 of its crediting period
MAX_UNIT = 10**UNIT_DIGITS - 1  # serials have 9-digit units

ORGANISATION_KINDS = {
    OrganisationKind.ENTERPRISE: 85,
    OrganisationKind.PUBLIC_INSTITUTION: 5,
    OrganisationKind.HOUSEHOLD: 8,
    OrganisationKind.VERIFICATION_BODY: 2,
}
ORGANISATION_STATUSES = {
    OrganisationStatus.VERIFIED: 94,
    OrganisationStatus.PENDING: 3,
    OrganisationStatus.REJECTED: 1.5,
    OrganisationStatus.SUSPENDED: 1.5,
}
PROJECT_STAGES = {
    Stage.APPROVED: 90,
    Stage.DRAFT: 2,
    Stage.INTAKE: 2,
    Stage.TECHNICAL: 2,
    Stage.EXPERT: 0.5,
    Stage.APPROVAL: 1,
    Stage.RETURNED: 1,
    Stage.REJECTED: 0.75,
    Stage.WITHDRAWN: 0.75,
}
DECLARATION_STAGES = {
    Stage.APPROVED: 60,
    Stage.DRAFT: 4,
    Stage.INTAKE: 5,
    Stage.TECHNICAL: 14,
    Stage.EXPERT: 3,
    Stage.APPROVAL: 5,
    Stage.RETURNED: 4,
    Stage.REJECTED: 2.5,
    Stage.WITHDRAWN: 2.5,
}
REGISTERED_SHARE = 0.85  # of the approved declarations: registered in a phase; the rest approved lately
# The phases that are not registered yet, newest last; every other phase is registered.
RECENT_PHASES = [
    PhaseStatus.CLOSED,
    PhaseStatus.CLOSED,
    PhaseStatus.IN_NOTICE,
    PhaseStatus.IN_NOTICE,
    PhaseStatus.APPROVED,
    PhaseStatus.SUBMITTED,
    PhaseStatus.DRAFTING,
]
RECENT_PHASE_ENTRIES = 200
TRANSFER_OUTCOMES = {
    TransferStatus.COMPLETED: 90,
    TransferStatus.PENDING: 4,
    TransferStatus.REJECTED: 3,
    TransferStatus.CANCELLED: 3,
}
CANCELLATION_EVERY = 20  # one retirement in 20 is a cancellation by the registry administrator

# The review steps: the audit action, the stage left and the stage reached (projects.transitions.CASES).
STEPS = {
    "submit": ("case.submitted", Stage.DRAFT, Stage.INTAKE),
    "accept": ("case.accepted", Stage.INTAKE, Stage.TECHNICAL),
    "request_opinions": ("case.opinions_requested", Stage.TECHNICAL, Stage.EXPERT),
    "forward": ("case.forwarded", Stage.TECHNICAL, Stage.APPROVAL),
    "return": ("case.returned", Stage.TECHNICAL, Stage.RETURNED),
    "approve": ("case.approved", Stage.APPROVAL, Stage.APPROVED),
    "reject": ("case.rejected", Stage.APPROVAL, Stage.REJECTED),
    "withdraw": ("case.withdrawn", Stage.DRAFT, Stage.WITHDRAWN),
}
PATHS = {
    Stage.DRAFT: [],
    Stage.INTAKE: ["submit"],
    Stage.TECHNICAL: ["submit", "accept"],
    Stage.EXPERT: ["submit", "accept", "request_opinions"],
    Stage.APPROVAL: ["submit", "accept", "forward"],
    Stage.RETURNED: ["submit", "accept", "return"],
    Stage.APPROVED: ["submit", "accept", "forward", "approve"],
    Stage.REJECTED: ["submit", "accept", "forward", "reject"],
    Stage.WITHDRAWN: ["withdraw"],
}
# Days between one step and the next (random within the range).
STEP_DAYS = {
    "submit": (1, 5),
    "accept": (1, 5),
    "request_opinions": (3, 10),
    "forward": (5, 15),
    "return": (3, 10),
    "approve": (2, 8),
    "reject": (2, 8),
    "withdraw": (1, 20),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡"
GIVEN_NAMES = ["建国", "秀英", "伟", "芳", "敏", "静", "丽", "强", "磊", "军"]
BENEFICIARIES = {
    BeneficiaryKind.ORGANISATION: "武汉绿色会展有限公司",
    BeneficiaryKind.EVENT: "2025年武汉马拉松",
    BeneficiaryKind.PERSON: "张三",
}


class LoadRefused(Exception):
    """The fill cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Scale:
    """How much to make. The defaults are issue 15's."""

    organisations: int = 5_000
    projects: int = 100_000
    declarations: int = 300_000
    phases: int = 200
    transfers: int = 5_000
    retirements: int = 10_000
    real_operations: int = 5  # of each kind, through the real services
    seed: int = 42
    # Sign a checkpoint at the end (registry.checkpoints.take): the first one walks the whole chain, as
    # long as verify_audit does; the portal's hourly job signs one anyway.
    checkpoint: bool = False


# --- The database ---------------------------------------------------------------------------------


def is_test_database(db: dict) -> bool:
    """The database the test runner made for this run (its NAME is then its TEST NAME)."""
    return bool(db.get("NAME")) and db.get("NAME") == (db.get("TEST") or {}).get("NAME")


def check_database() -> dict:
    """The default database's settings; exits unless it is a PostgreSQL bench database or this test
    run's database: the fill must never reach a real registry."""
    db = settings.DATABASES["default"]
    if is_test_database(db) and connection.vendor == "postgresql":
        return db
    return common.bench_database(SUFFIXES)


def holds_data() -> bool:
    return Organisation.objects.exists() or Project.objects.exists() or AuditEvent.objects.exists()


class Ids:
    """The next primary key of each table: rows are written with their ids, so relations need no round
    trip; the sequences are moved past them at the end."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.next: dict[type, int] = {}

    def take(self, model: type[models.Model], count: int = 1) -> int:
        if model not in self.next:
            table = sql.Identifier(model._meta.db_table)
            self.cursor.execute(sql.SQL("SELECT COALESCE(MAX(id), 0) FROM {}").format(table))
            self.next[model] = self.cursor.fetchone()[0] + 1
        first = self.next[model]
        self.next[model] += count
        return first

    def sync_sequences(self) -> None:
        for model, following in self.next.items():
            if following > 1:
                self.cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                    [model._meta.db_table, following - 1],
                )


def copy(cursor, model: type[models.Model], objects) -> int:
    """COPY unsaved model instances (ids set) into the model's table; returns the rows written. No
    save(), no pre_save: auto_now fields are written as given."""
    concrete = model._meta.concrete_fields
    convert = []
    for field in concrete:
        if isinstance(field, models.JSONField):
            convert.append(Jsonb)
        elif isinstance(field, models.FileField):
            convert.append(lambda value: value.name or "")
        else:
            convert.append(None)
    attnames = [f.attname for f in concrete]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in concrete)
    )
    written = 0
    with cursor.copy(statement) as out:
        for obj in objects:
            row = [getattr(obj, name) for name in attnames]
            for i, change in enumerate(convert):
                if change is not None:
                    row[i] = change(row[i])
            out.write_row(row)
            written += 1
    return written


class Numbers:
    """The registry's counters (registry.counters), taken here without a round trip per number and
    written back at the end: the portal goes on numbering where the data ends. The references of
    transfers and retirements come from a PostgreSQL sequence per name (counters.take_unique), made at
    its first use after the counter row's value: where it exists already, it is read and moved too."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.values: dict[str, int] = {}

    def _sequence(self, name: str) -> str | None:
        sequence = counters.sequence_name(name)
        self.cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [sequence])
        return sequence if self.cursor.fetchone()[0] else None

    def take(self, name: str, count: int = 1) -> int:
        if name not in self.values:
            value = Counter.objects.filter(name=name).values_list("value", flat=True).first() or 0
            sequence = self._sequence(name)
            if sequence:
                self.cursor.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(sequence))
                )
                last, called = self.cursor.fetchone()
                value = max(value, last if called else last - 1)
            self.values[name] = value
        first = self.values[name] + 1
        self.values[name] += count
        return first

    def save(self) -> None:
        for name, value in self.values.items():
            Counter.objects.update_or_create(name=name, defaults={"value": value})
            sequence = self._sequence(name)
            if sequence and value:
                self.cursor.execute("SELECT setval(%s, %s)", [sequence, value])


# --- Small helpers --------------------------------------------------------------------------------


def local(day: date, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return timezone.make_aware(
        datetime(day.year, day.month, day.day, hour, minute, second), timezone.get_default_timezone()
    )


def quarter(k: int) -> tuple[date, date]:
    """The k-th quarter of the crediting period: its first and last day."""
    year, index = CREDITING_START.year + k // 4, k % 4
    start = date(year, 3 * index + 1, 1)
    following = date(year + (index == 3), (3 * index + 3) % 12 + 1, 1)
    return start, following - timedelta(days=1)


def pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def due_after(moment: datetime, stage: str) -> date | None:
    """A review stage's time limit from the day it is entered: working days as calendar days × 7/5."""
    days = settings.REVIEW_WORKING_DAYS.get(stage)
    return (timezone.localtime(moment).date() + timedelta(days=days * 7 // 5)) if days else None


def repr_of(obj) -> str:
    return str(obj)[:300]


class Block:
    """A serial block being simulated; written as a SerialBlock row once the simulation ends."""

    __slots__ = ("account", "created", "first", "issuance", "last", "parent", "pk", "reference", "status")

    def __init__(self, pk, issuance, account, parent, first, last, status, reference, created):
        self.pk, self.issuance, self.account, self.parent = pk, issuance, account, parent
        self.first, self.last, self.status, self.reference = first, last, status, reference
        self.created = created

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    @property
    def key(self) -> tuple:
        """offsets.ledger._take's order: the oldest vintage first, then the lowest unit."""
        return (self.issuance.vintage, self.first)

    @property
    def serial(self) -> str:
        i = self.issuance
        return format_serial(i.phase.code, i.project.code, i.vintage, self.first, self.last)


# --- The fill ---------------------------------------------------------------------------------------


class Fill:
    """One fill: everything is built in memory per kind and written with COPY, in one transaction."""

    def __init__(self, scale: Scale, cursor, step):
        self.scale, self.cursor, self.step = scale, cursor, step
        self.rng = random.Random(scale.seed)
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.ids = Ids(cursor)
        self.numbers = Numbers(cursor)
        # (when, actor, action, subject type, subject id, subject repr, before, after, comment)
        self.events: list[tuple] = []
        self.written = Tally()

    def event(self, when, actor, action, subject, *, before=None, after=None, comment="", label=None):
        """An audit event as registry.audit.record would make it; `before`/`after` are plain JSON
        values already (dates as ISO strings), as registry.audit._plain would leave them."""
        self.events.append(
            (
                when,
                actor,
                action,
                label or audit.subject_label(subject),
                str(subject.pk),
                repr_of(subject),
                before or {},
                after or {},
                comment,
            )
        )

    def write(self, model, objects) -> None:
        self.written[model._meta.label] += copy(self.cursor, model, objects)

    # --- People --------------------------------------------------------------------------------

    def bureau(self) -> None:
        """The bureau's staff (kept across appends): the registry administrator, an approver, an intake
        officer, technical reviewers and experts."""
        from django.contrib.auth.models import Group

        def staff(local_part: str, name: str, role: str) -> User:
            user, created = User.objects.get_or_create(
                email=f"{local_part}@example.com", defaults={"full_name": name, "is_staff": True}
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get(name=role))
            return user

        self.registrar = staff("load-registrar", "Load Registrar", roles.REGISTRY_ADMIN)
        self.approver = staff("load-approver", "Load Approver", roles.APPROVER)
        self.intake = [staff("load-intake", "Load Intake Officer", roles.INTAKE_OFFICER)]
        self.reviewers = [
            staff(f"load-reviewer{n}", f"Load Reviewer {n}", roles.TECHNICAL_REVIEWER) for n in range(1, 5)
        ]
        self.experts = [staff(f"load-expert{n}", f"Load Expert {n}", roles.EXPERT) for n in range(1, 3)]

    def organisations(self) -> None:
        rng, count = self.rng, self.scale.organisations
        first = self.ids.take(Organisation, count)
        span = 365  # sign-ups over the registry's first year
        organisations, users, memberships, accounts = [], [], [], []
        self.members: dict[int, tuple[User, User]] = {}  # organisation id -> (administrator, declarant)
        self.accounts: dict[int, Account] = {}  # organisation id -> account
        first_user = self.ids.take(User, 2 * count)
        first_membership = self.ids.take(Membership, 2 * count)
        for n in range(count):
            pk = first + n
            kind, status = pick(rng, ORGANISATION_KINDS), pick(rng, ORGANISATION_STATUSES)
            if status == OrganisationStatus.PENDING:  # a recent sign-up, not decided yet
                signed_up = local(self.today - timedelta(days=rng.randint(1, 30)), rng.randint(8, 20))
            else:
                signed_up = local(HISTORY_START + timedelta(days=n * span // count), rng.randint(8, 20))
            if kind == OrganisationKind.HOUSEHOLD:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
                name_en, identifier = "", make_identity_number(f"4201021980{pk:07d}")
            else:
                prefix = "12" if kind == OrganisationKind.PUBLIC_INSTITUTION else "91"
                trade = "负载核查机构" if kind == OrganisationKind.VERIFICATION_BODY else "负载企业"
                name = f"{trade}{pk}有限公司"
                name_en = f"Load Organisation {pk} Co., Ltd."
                identifier = make_credit_code(f"{prefix}420100LD{pk:07d}")
            decided = signed_up + timedelta(days=rng.randint(2, 10), hours=rng.randint(0, 5))
            organisation = Organisation(
                id=pk,
                name=name,
                name_en=name_en,
                kind=kind,
                identifier=identifier,
                is_covered_emitter=kind == OrganisationKind.ENTERPRISE and rng.random() < 0.03,
                legal_representative=name if kind == OrganisationKind.HOUSEHOLD else "张三",
                address=f"武汉市负载路{pk}号",
                district=rng.choice(District.values),
                contact_name="李四",
                contact_phone="027-12345678",
                contact_email=f"load-org{pk}@example.com",
                status=status,
                status_reason="",
                created_at=signed_up,
                verified_at=decided
                if status in (OrganisationStatus.VERIFIED, OrganisationStatus.SUSPENDED)
                else None,
            )
            organisations.append(organisation)
            pair = []
            for m, role in enumerate((OrgRole.ADMIN, OrgRole.DECLARANT)):
                user = User(
                    id=first_user + 2 * n + m,
                    email=f"load-org{pk}-{role}@example.com",
                    full_name=f"Load {role.label} {pk}",
                    language=Language.EN if (n + m) % 3 == 0 else Language.ZH_HANS,
                    password=f"!load-unusable-{pk}-{m}",  # "!" starts an unusable password
                    is_active=True,
                    date_joined=signed_up,
                )
                users.append(user)
                memberships.append(
                    Membership(
                        id=first_membership + 2 * n + m,
                        user_id=user.pk,
                        organisation_id=pk,
                        role=role,
                        joined_at=signed_up,
                    )
                )
                pair.append(user)
            self.members[pk] = (pair[0], pair[1])
            self.event(
                signed_up,
                None,
                "organisation.signed_up",
                organisation,
                after={"status": OrganisationStatus.PENDING.value, "admin": pair[0].email},
            )
            if status == OrganisationStatus.PENDING:
                continue
            if status == OrganisationStatus.REJECTED:
                organisation.status_reason = "营业执照与名称不符。"
                self.event(
                    decided,
                    self.registrar,
                    "organisation.rejected",
                    organisation,
                    before={"status": OrganisationStatus.PENDING.value},
                    after={"status": OrganisationStatus.REJECTED.value},
                    comment=organisation.status_reason,
                )
                continue
            self.event(
                decided,
                self.registrar,
                "organisation.verified",
                organisation,
                before={"status": OrganisationStatus.PENDING.value},
                after={"status": OrganisationStatus.VERIFIED.value},
            )
            account = Account(
                id=self.ids.take(Account),
                organisation_id=pk,
                number=ledger.account_number(organisation),
                opened_at=decided,
            )
            accounts.append(account)
            self.accounts[pk] = account
            self.event(decided, self.registrar, "account.opened", account, after={"number": account.number})
            if status == OrganisationStatus.SUSPENDED:
                organisation.status_reason = "未按期提交年度报告。"
                self.event(
                    decided + timedelta(days=rng.randint(100, 300)),
                    self.registrar,
                    "organisation.suspended",
                    organisation,
                    before={"status": OrganisationStatus.VERIFIED.value},
                    after={"status": OrganisationStatus.SUSPENDED.value},
                    comment=organisation.status_reason,
                )
        self.organisations_by_id = {o.pk: o for o in organisations}
        self.write(Organisation, organisations)
        self.write(User, users)
        self.write(Membership, memberships)
        self.write(Account, accounts)
        verified = [o for o in organisations if o.status == OrganisationStatus.VERIFIED]
        # Projects belong to verified applicants; households have few.
        self.owners = [o for o in verified if o.kind != OrganisationKind.VERIFICATION_BODY]
        self.owner_weights = [1 if o.kind == OrganisationKind.HOUSEHOLD else 20 for o in self.owners]
        self.verified_accounts = [self.accounts[o.pk] for o in verified]
        if not self.owners:
            raise LoadRefused("No verified organisation to own projects: ask for more organisations.")

    # --- Review cases ----------------------------------------------------------------------------

    def case_history(
        self, case, created: datetime, created_event: tuple, path: list[str], *, verified_t=None
    ):
        """The events of the steps that brought `case` to its stage, from its creation; sets the stage's
        fields on the case. Returns the time of its last step."""
        rng = self.rng
        declarant = self.members[self.owner_of(case)][1]
        action, after = created_event
        self.event(created, declarant, action, case, after=after)
        moment, stage, due = created, Stage.DRAFT, None
        reviewer = rng.choice(self.reviewers)
        for name in path:
            action, left, reached = STEPS[name]
            low, high = STEP_DAYS[name]
            moment = moment + timedelta(days=rng.randint(low, high), minutes=rng.randint(0, 600))
            actor = {
                "submit": declarant,
                "withdraw": declarant,
                "accept": self.intake[0],
                "approve": self.approver,
                "reject": self.approver,
            }.get(name, reviewer)
            if name == "submit":
                case.submitted_at = moment
            due = due_after(moment, reached)
            after = {"stage": reached.value, "due_date": due.isoformat() if due else None}
            comment = ""
            if name == "forward":
                case.technical_reviewer = reviewer
                after.update(
                    recommendation="reject" if "reject" in path else "approve", verified_t=verified_t
                )
                if verified_t is not None:
                    case.verified_t = verified_t
            elif name == "return":
                case.returned_from = Stage.TECHNICAL
                left_days = max(1, (case.due_date - moment.date()).days * 5 // 7) if case.due_date else None
                case.days_left_when_returned = left_days
                after.update(round=1, findings=1)
                self.findings.append((case, moment, reviewer))
            elif name == "request_opinions":
                expert = rng.choice(self.experts)
                after["experts"] = [expert.email]
                self.opinions.append((case, moment, reviewer, expert))
            elif name == "reject":
                comment = "减排量核算依据不足。"
            if name == "approve" and isinstance(case, Project):
                code = self.methodology.code  # projects.workflow._next_project_code
                case.code = f"WH-{code}-{self.numbers.take(f'project-code-{code}'):04d}"
                case.filed_at = moment
            if name in ("approve", "reject"):
                case.decided_at = moment
            case.stage, case.due_date = reached, due
            self.event(
                moment, actor, action, case, before={"stage": left.value}, after=after, comment=comment
            )
            stage = reached
        if stage in REVIEW_STAGES and rng.random() < 0.5:
            assignee = {
                Stage.INTAKE: self.intake[0],
                Stage.TECHNICAL: reviewer,
                Stage.EXPERT: reviewer,
                Stage.APPROVAL: self.approver,
            }[stage]
            moment = moment + timedelta(hours=rng.randint(1, 48))
            case.assignee = assignee
            self.event(
                moment,
                assignee,
                "case.assigned",
                case,
                before={"assignee": None},
                after={"assignee": assignee.email},
            )
        case.created_at, case.updated_at = created, moment
        return moment

    def recently(self, path: list[str], weeks_ago: int = 0) -> datetime:
        """A creation time such that every step of `path` (and an assignment) lies in the month before
        today, `weeks_ago` weeks earlier still."""
        days = sum(STEP_DAYS[name][1] + 1 for name in path) + 3 + 7 * weeks_ago
        return self.now - timedelta(days=days + self.rng.randint(0, 30), minutes=self.rng.randint(0, 600))

    def owner_of(self, case) -> int:
        return case.organisation_id if isinstance(case, Project) else case.project.organisation_id

    def case_records(self) -> None:
        """The findings of returned cases and the opinions asked in expert review."""
        findings = [
            Finding(
                id=self.ids.take(Finding),
                **{case.kind: case},
                round=1,
                number=1,
                stage=Stage.TECHNICAL,
                text="请补充并网验收材料。",
                raised_by=reviewer,
                raised_at=moment,
            )
            for case, moment, reviewer in self.findings
        ]
        opinions = [
            ExpertOpinion(
                id=self.ids.take(ExpertOpinion),
                **{case.kind: case},
                expert=expert,
                requested_by=reviewer,
                requested_at=moment,
                question="请评估监测数据的可靠性。",
            )
            for case, moment, reviewer, expert in self.opinions
        ]
        self.write(Finding, findings)
        self.write(ExpertOpinion, opinions)
        self.findings, self.opinions = [], []

    def projects(self) -> None:
        rng, count = self.rng, self.scale.projects
        self.methodology = common.bench_methodology()
        self.findings, self.opinions = [], []
        first = self.ids.take(Project, count)
        first_point = self.ids.take(GridConnectionPoint, count)
        owners = rng.choices(self.owners, weights=self.owner_weights, k=count)
        projects, points = [], []
        for n in range(count):
            pk, owner = first + n, owners[n]
            stage = pick(rng, PROJECT_STAGES)
            capacity = Decimal(rng.randint(50, 59_990)) / 10
            project = Project(
                id=pk,
                organisation=owner,
                methodology=self.methodology,
                title=f"{owner.get_district_display()}屋顶分布式光伏项目{pk}",
                site_address=f"武汉市负载路{pk}号",
                district=owner.district,
                capacity_kw=capacity,
                commissioning_date=date(2020, 1, 1) + timedelta(days=rng.randint(0, 360)),
                crediting_start=CREDITING_START,
                crediting_end=CREDITING_END,
                not_registered_elsewhere=True,
                outside_covered_boundary=True,
                created_by=self.members[owner.pk][1],
            )
            if stage in DEAD_STAGES or stage == Stage.APPROVED:  # finished: history
                earliest = max(owner.verified_at, local(date(2021, 1, 10)))
                spread = max((local(date(2022, 6, 30)) - earliest).days, 1)
                created = earliest + timedelta(days=rng.randint(1, spread), minutes=rng.randint(0, 600))
            else:  # open: the last weeks
                created = self.recently(PATHS[stage])
            self.case_history(
                project,
                created,
                ("project.created", {"title": project.title}),
                PATHS[stage],
            )
            projects.append(project)
            points.append(
                GridConnectionPoint(
                    id=first_point + n,
                    project_id=pk,
                    meter_number=f"LD{pk:010d}",
                    capacity_kw=capacity,
                    live=stage not in DEAD_STAGES,
                )
            )
        self.write(Project, projects)
        self.write(GridConnectionPoint, points)
        self.case_records()
        self.filed = [p for p in projects if p.stage == Stage.APPROVED]
        if not self.filed and self.scale.declarations:
            raise LoadRefused("No filed project to declare reductions for: ask for more projects.")

    def declarations(self) -> None:
        """Declaration j is of filed project j mod F, for its quarter (p mod 12) + j div F: periods of one
        project never overlap. Approved ones are mostly old (registered later) and some recent."""
        rng, count = self.rng, self.scale.declarations
        filed = self.filed
        quarters = PERIOD_OFFSETS + (count - 1) // max(len(filed), 1)
        if count and quarter(quarters - 1)[1] > self.today - timedelta(days=120):
            raise LoadRefused(
                f"{count:,} declarations of {len(filed):,} filed projects reach periods that have not ended: "
                "ask for fewer declarations or more projects."
            )
        first = self.ids.take(Declaration, count)
        self.approved_old, self.approved_recent = [], []
        for chunk in range(0, count, CHUNK):
            batch = []
            for j in range(chunk, min(chunk + CHUNK, count)):
                project = filed[j % len(filed)]
                start, end = quarter(project.pk % PERIOD_OFFSETS + j // len(filed))
                stage = pick(rng, DECLARATION_STAGES)
                path = PATHS[stage]
                claimed = rng.randint(10, 3_000)
                declaration = Declaration(
                    id=first + j,
                    project=project,
                    period_start=start,
                    period_end=end,
                    vintage=start.year,  # Declaration.save() sets it; COPY does not call it
                    claimed_t=claimed,
                    created_by=self.members[project.organisation_id][1],
                )
                old = stage in DEAD_STAGES or (stage == Stage.APPROVED and rng.random() < REGISTERED_SHARE)
                if old:
                    earliest = max(local(end + timedelta(days=1)), project.filed_at)
                    created = earliest + timedelta(days=rng.randint(3, 20), minutes=rng.randint(0, 600))
                elif stage == Stage.APPROVED:  # approved 7 to 11 weeks ago: before the recent phases
                    created = self.recently(path, weeks_ago=7)
                else:
                    created = self.recently(path)
                verified = claimed - rng.randint(0, claimed // 10)
                last = self.case_history(
                    declaration,
                    created,
                    ("declaration.created", {"period": [start.isoformat(), end.isoformat()]}),
                    path,
                    verified_t=verified if "forward" in path else None,
                )
                if stage == Stage.APPROVED:
                    (self.approved_old if old else self.approved_recent).append((last, declaration))
                batch.append(declaration)
            self.write(Declaration, batch)
        self.case_records()

    # --- Phases and registration ----------------------------------------------------------------------

    def phases(self) -> None:
        count = self.scale.phases
        recent = RECENT_PHASES[len(RECENT_PHASES) - min(len(RECENT_PHASES), max(count - 1, 0)) :]
        registered = count - len(recent)
        first = self.ids.take(IssuancePhase, count)
        self.phase_rows, self.entries, self.issuances, self.blocks = [], [], [], []
        self.movements, self.certificates, self.announcements = [], [], []
        self.unit = self.numbers.take("serial-units", 0)  # the next unit; the counter is set at the end
        old = sorted(self.approved_old, key=lambda item: item[0])
        if len(old) < registered:
            raise LoadRefused(
                f"{len(old):,} approved declarations for {registered} registered phases: "
                "ask for fewer phases or more declarations."
            )
        published = None
        for n in range(registered):
            chunk = old[n * len(old) // registered : (n + 1) * len(old) // registered]
            latest = chunk[-1][0].date() if chunk else HISTORY_START
            # Created 6 days before publication, after its declarations' approval; a week between phases.
            publish_on = max(latest + timedelta(days=8), (published or latest) + timedelta(days=7))
            published = publish_on
            self.registered_phase(first + n, publish_on, [d for _when, d in chunk])
        if registered and published >= self.today - timedelta(days=40):
            raise LoadRefused(
                f"The {registered} registered phases run up to {published}: too close to today. "
                "Ask for fewer phases or fewer declarations."
            )
        self.last_registration = max(
            (p.registered_at for p in self.phase_rows), default=self.now - timedelta(days=400)
        )
        pool = [d for _when, d in sorted(self.approved_recent, key=lambda item: item[1].pk)]
        for n, status in enumerate(recent):
            taken, pool = pool[:RECENT_PHASE_ENTRIES], pool[RECENT_PHASE_ENTRIES:]
            self.recent_phase(first + registered + n, status, len(recent) - n, taken)
        if self.unit - 1 > MAX_UNIT:
            raise LoadRefused(f"Units past {MAX_UNIT:,} do not fit a serial: ask for fewer declarations.")
        self.numbers.values["serial-units"] = self.unit - 1
        self.write(IssuancePhase, self.phase_rows)
        self.write(PhaseEntry, self.entries)
        self.write(Announcement, self.announcements)
        self.write(Issuance, self.issuances)

    def phase_created(self, phase, created: datetime) -> None:
        self.event(created, self.registrar, "phase.created", phase, after={"code": phase.code})

    def add_entries(self, phase, when: datetime, declarations: list) -> None:
        pks = sorted(d.pk for d in declarations)
        first = self.ids.take(PhaseEntry, len(pks))
        self.entries += [
            PhaseEntry(id=first + n, phase_id=phase.pk, declaration_id=pk, added_at=when)
            for n, pk in enumerate(pks)
        ]
        self.event(when, self.registrar, "phase.declarations_added", phase, after={"declarations": pks})

    def registered_phase(self, pk: int, publish_on: date, declarations: list) -> None:
        """A phase taken to registration as offsets.issuing does it, at historical dates."""
        rng = self.rng
        notice_start, notice_end = issuing.notice_dates(publish_on)
        created = local(publish_on - timedelta(days=6), 9, rng.randint(0, 59))
        published_at = local(publish_on, 9)
        closed_at = local(notice_end + timedelta(days=1), 0, 5)
        registered_at = local(notice_end + timedelta(days=3), 10, rng.randint(0, 59))
        year = timezone.localtime(registered_at).year
        phase = IssuancePhase(
            id=pk,
            code=f"{year}P{pk:04d}",
            title_zh=f"{year}年第{pk}批碳普惠减排量",
            title_en=f"Carbon inclusion reductions, {year} phase {pk}",
            status=PhaseStatus.REGISTERED,
            assembled_by=self.registrar,
            approved_by=self.approver,
            registered_by=self.approver,
            created_at=created,
            notice_start=notice_start,
            notice_end=notice_end,
            published_at=published_at,
            closed_at=closed_at,
            registered_at=registered_at,
        )
        self.phase_rows.append(phase)
        self.phase_created(phase, created)
        self.add_entries(phase, created + timedelta(hours=1), declarations)
        self.phase_steps_after_assembly(phase, created, published_at, closed_at)
        first_certificate = self.numbers.take(f"certificate-registration-{year}", len(declarations))
        first_issuance = self.ids.take(Issuance, len(declarations))
        issued = []
        for n, declaration in enumerate(sorted(declarations, key=lambda d: d.pk)):
            project, quantity = declaration.project, declaration.verified_t
            account = self.accounts[project.organisation_id]
            first, last = self.unit, self.unit + quantity - 1
            self.unit = last + 1
            issuance = Issuance(
                id=first_issuance + n,
                declaration_id=declaration.pk,
                phase=phase,
                project=project,
                account=account,
                vintage=declaration.vintage,
                quantity=quantity,
                first_unit=first,
                last_unit=last,
                serial=format_serial(phase.code, project.code, declaration.vintage, first, last),
                registered_at=registered_at,
            )
            issued.append(issuance)
            self.issue(issuance)
            self.certificates.append(
                Certificate(
                    id=self.ids.take(Certificate),
                    kind=CertificateKind.REGISTRATION,
                    number=f"WHCER-C-{year}-{first_certificate + n:06d}",
                    issuance_id=issuance.pk,
                    issued_at=registered_at,
                )
            )
        self.issuances += issued
        self.announcements.append(
            Announcement(
                id=self.ids.take(Announcement),
                phase_id=phase.pk,
                number=f"WHCER-A-{year}-{self.numbers.take(f'announcement-{year}'):03d}",
                published_at=registered_at,
            )
        )
        for issuance in issued:
            self.event(
                registered_at,
                self.approver,
                "credits.issued",
                issuance,
                after={
                    "serial": issuance.serial,
                    "quantity": issuance.quantity,
                    "account": issuance.account.number,
                    "owner": issuance.account.organisation_id,
                    "first_unit": issuance.first_unit,
                    "last_unit": issuance.last_unit,
                },
            )
        self.event(
            registered_at,
            self.approver,
            "phase.registered",
            phase,
            before={"status": PhaseStatus.CLOSED.value},
            after={"status": PhaseStatus.REGISTERED.value},
        )

    def phase_steps_after_assembly(self, phase, created, published_at, closed_at=None, until=None) -> None:
        """submitted, approved, published and (with closed_at) closed, as far as `until` (a status)."""
        order = [
            (
                created + timedelta(days=1),
                self.registrar,
                "phase.submitted",
                PhaseStatus.DRAFTING,
                PhaseStatus.SUBMITTED,
            ),
            (
                created + timedelta(days=2),
                self.approver,
                "phase.approved",
                PhaseStatus.SUBMITTED,
                PhaseStatus.APPROVED,
            ),
            (published_at, self.registrar, "phase.published", PhaseStatus.APPROVED, PhaseStatus.IN_NOTICE),
            (closed_at, None, "phase.notice_closed", PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED),
        ]
        for when, actor, action, was, now in order:
            if now == PhaseStatus.CLOSED and closed_at is None:
                break
            self.event(when, actor, action, phase, before={"status": was.value}, after={"status": now.value})
            if now == until:
                break

    def recent_phase(self, pk: int, status: str, days_ago: int, declarations: list) -> None:
        """A phase of the last weeks, not registered yet: drafting, submitted, approved, in notice or
        closed, with the approved declarations it holds."""
        rng = self.rng
        if status == PhaseStatus.CLOSED:
            publish_on = self.today - timedelta(days=18 + 2 * days_ago)
        elif status == PhaseStatus.IN_NOTICE:
            publish_on = self.today - timedelta(days=days_ago)
        else:
            publish_on = None
        created = (
            local(publish_on - timedelta(days=6), 9, rng.randint(0, 59))
            if publish_on
            else self.now - timedelta(days=3 * days_ago, minutes=rng.randint(0, 600))
        )
        year = timezone.localtime(created).year
        phase = IssuancePhase(
            id=pk,
            code=f"{year}P{pk:04d}",
            title_zh=f"{year}年第{pk}批碳普惠减排量",
            title_en=f"Carbon inclusion reductions, {year} phase {pk}",
            status=status,
            assembled_by=self.registrar,
            approved_by=self.approver
            if status != PhaseStatus.DRAFTING and status != PhaseStatus.SUBMITTED
            else None,
            created_at=created,
        )
        closed_at = None
        if publish_on:
            phase.notice_start, phase.notice_end = issuing.notice_dates(publish_on)
            phase.published_at = local(publish_on, 9)
            if status == PhaseStatus.CLOSED:
                closed_at = phase.closed_at = local(phase.notice_end + timedelta(days=1), 0, 5)
        self.phase_rows.append(phase)
        self.phase_created(phase, created)
        self.add_entries(phase, created + timedelta(hours=1), declarations)
        if status != PhaseStatus.DRAFTING:
            self.phase_steps_after_assembly(phase, created, phase.published_at, closed_at, until=status)

    def issue(self, issuance: Issuance) -> None:
        """offsets.ledger.issue: a held block and an `issued` movement."""
        block = Block(
            self.ids.take(SerialBlock),
            issuance,
            issuance.account,
            None,
            issuance.first_unit,
            issuance.last_unit,
            BlockStatus.HELD,
            "",
            issuance.registered_at,
        )
        self.blocks.append(block)
        self.movements.append(
            Movement(
                id=self.ids.take(Movement),
                account=issuance.account,
                kind=MovementKind.ISSUED,
                quantity=issuance.quantity,
                ranges=[[issuance.first_unit, issuance.last_unit]],
                serials=issuance.serial,
                reference=issuance.serial,
                at=issuance.registered_at,
            )
        )

    def notices(self) -> None:
        """A first notice version of every published phase: its snapshot as offsets.issuing makes it."""
        versions = [
            NoticeVersion(
                id=self.ids.take(NoticeVersion),
                phase=phase,
                version=1,
                published_at=phase.published_at,
                reason="",
                snapshot=issuing._snapshot(phase),
            )
            for phase in self.phase_rows
            if phase.published_at is not None
        ]
        self.write(NoticeVersion, versions)
        # Each version's rows, as offsets.issuing writes them with it: what the notice page pages through.
        rows = [row for version in versions for row in issuing.notice_rows(version)]
        first = self.ids.take(NoticeRow, len(rows))
        for offset, row in enumerate(rows):
            row.id = first + offset
        self.write(NoticeRow, rows)

    # --- Transfers and retirements ----------------------------------------------------------------------

    def ledger_operations(self) -> None:
        """Transfers and retirements simulated on the blocks in memory, exactly as offsets.ledger,
        offsets.transfers and offsets.retirements write them, between the last registration and today."""
        rng = self.rng
        self.held: dict[int, list] = defaultdict(list)  # account id -> held blocks in ledger._take's order
        self.free: dict[int, int] = defaultdict(int)
        for block in self.blocks:
            self.hold(block)
        self.transfers, self.retirements = [], []
        self.senders = [a for a in self.verified_accounts if self.free[a.pk]]
        self.sender_ids = {a.pk for a in self.senders}
        kinds = ["transfer"] * self.scale.transfers + ["retirement"] * self.scale.retirements
        rng.shuffle(kinds)
        start = self.last_registration + timedelta(days=1)
        span = max((self.now - timedelta(days=1) - start).total_seconds(), 1)
        moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in kinds)
        done = Tally()
        for kind, moment in zip(kinds, moments, strict=True):
            account = self.sender()
            if account is None:
                break
            if kind == "transfer" and len(self.verified_accounts) > 1:
                self.transfer(account, moment)
            else:
                self.retirement(account, moment, cancellation=done["retirement"] % CANCELLATION_EVERY == 0)
            done[kind] += 1
        blocks = [
            SerialBlock(
                id=b.pk,
                issuance_id=b.issuance.pk,
                account_id=b.account.pk,
                parent_id=b.parent.pk if b.parent else None,
                first_unit=b.first,
                last_unit=b.last,
                status=b.status,
                status_reference=b.reference,
                created_at=b.created,
            )
            for b in sorted(self.blocks, key=lambda b: b.pk)
        ]
        self.write(SerialBlock, blocks)
        self.write(Movement, self.movements)
        self.write(Transfer, self.transfers)
        self.write(Retirement, self.retirements)
        self.write(Certificate, self.certificates)

    def sender(self):
        """A random account holding free credits (accounts found empty leave the list)."""
        while self.senders:
            i = self.rng.randrange(len(self.senders))
            if self.free[self.senders[i].pk]:
                return self.senders[i]
            self.sender_ids.discard(self.senders[i].pk)
            self.senders[i] = self.senders[-1]
            self.senders.pop()
        return None

    def hold(self, block: Block) -> None:
        bisect.insort(self.held[block.account.pk], block, key=lambda b: b.key)
        self.free[block.account.pk] += block.quantity

    def child(
        self, parent: Block, account, first: int, last: int, status: str, reference: str, when
    ) -> Block:
        block = Block(
            self.ids.take(SerialBlock), parent.issuance, account, parent, first, last, status, reference, when
        )
        self.blocks.append(block)
        return block

    def take(self, account, quantity: int, when) -> list[Block]:
        """offsets.ledger._take: held blocks first in, first out, the last one split (head, tail)."""
        held, taken, remaining = self.held[account.pk], [], quantity
        while remaining:
            block = held[0]
            if block.quantity <= remaining:
                taken.append(held.pop(0))
                remaining -= block.quantity
            else:
                block.status = BlockStatus.SPLIT
                cut = block.first + remaining - 1
                head = self.child(block, account, block.first, cut, BlockStatus.HELD, block.reference, when)
                held[0] = self.child(
                    block, account, cut + 1, block.last, BlockStatus.HELD, block.reference, when
                )
                taken.append(head)
                remaining = 0
        self.free[account.pk] -= quantity
        return taken

    def movement(self, account, kind, blocks, *, reference, when, counterparty=None) -> Movement:
        """offsets.ledger._movement."""
        ordered = sorted(blocks, key=lambda b: b.first)
        movement = Movement(
            id=self.ids.take(Movement),
            account=account,
            kind=kind,
            counterparty=counterparty,
            quantity=sum(b.quantity for b in ordered),
            ranges=[[b.first, b.last] for b in ordered],
            serials="\n".join(b.serial for b in ordered),
            reference=reference,
            at=when,
        )
        self.movements.append(movement)
        return movement

    def ledger_event(self, when, actor, action, account, movement, **after) -> None:
        """offsets.ledger._record."""
        self.event(
            when,
            actor,
            action,
            account,
            after={
                "reference": movement.reference,
                "quantity": movement.quantity,
                "ranges": movement.ranges,
                **after,
            },
        )

    def reference(self, prefix: str, when) -> str:
        """offsets.transfers.new_reference, as of `when`."""
        year = timezone.localtime(when).year
        return f"WHCER-{prefix}-{year}-{self.numbers.take(f'{prefix.lower()}-reference-{year}'):06d}"

    def transfer(self, account, when) -> None:
        rng = self.rng
        owner = account.organisation_id
        declarant = self.members[owner][1]
        receiver = rng.choice(self.verified_accounts)
        while receiver.pk == account.pk:
            receiver = rng.choice(self.verified_accounts)
        quantity = rng.randint(1, min(self.free[account.pk], 3_000))
        outcome = pick(rng, TRANSFER_OUTCOMES)
        if outcome == TransferStatus.PENDING and when < self.now - timedelta(days=30):
            outcome = TransferStatus.COMPLETED  # only recent requests still wait
        taken = self.take(account, quantity, when)
        reference = self.reference("T", when)
        for block in taken:
            block.status, block.reference = BlockStatus.RESERVED, reference
        reserved = self.movement(account, MovementKind.RESERVED, taken, reference=reference, when=when)
        self.ledger_event(when, declarant, "credits.reserved", account, reserved)
        transfer = Transfer(
            id=self.ids.take(Transfer),
            reference=reference,
            from_account=account,
            to_account=receiver,
            quantity=quantity,
            status=TransferStatus.PENDING,
            note="",
            requested_by=declarant,
            requested_at=when,
        )
        self.transfers.append(transfer)
        self.event(
            when,
            declarant,
            "transfer.requested",
            transfer,
            after={
                "status": TransferStatus.PENDING.value,
                "quantity": quantity,
                "to": receiver.number,
                "ranges": reserved.ranges,
            },
        )
        if outcome == TransferStatus.PENDING:
            return
        decided = when + timedelta(seconds=rng.randint(60, 1_800))
        by = declarant if outcome == TransferStatus.CANCELLED else self.registrar
        if outcome == TransferStatus.COMPLETED:  # offsets.ledger.move
            moved = []
            for block in sorted(taken, key=lambda b: b.first):
                block.status = BlockStatus.SPLIT
                moved.append(
                    self.child(block, receiver, block.first, block.last, BlockStatus.HELD, "", decided)
                )
            sent = self.movement(
                account, MovementKind.SENT, moved, reference=reference, when=decided, counterparty=receiver
            )
            self.movement(
                receiver,
                MovementKind.RECEIVED,
                moved,
                reference=reference,
                when=decided,
                counterparty=account,
            )
            for block in moved:
                self.hold(block)
            if receiver.pk not in self.sender_ids:
                self.senders.append(receiver)
                self.sender_ids.add(receiver.pk)
            self.ledger_event(decided, by, "credits.transferred", account, sent, to=receiver.number)
            action, reasons = "transfer.confirmed", ""
        else:  # offsets.ledger.release
            for block in taken:
                block.status, block.reference = BlockStatus.HELD, ""
                self.hold(block)
            released = self.movement(account, MovementKind.RELEASED, taken, reference=reference, when=decided)
            self.ledger_event(decided, by, "credits.released", account, released)
            rejected = outcome == TransferStatus.REJECTED
            action = "transfer.rejected" if rejected else "transfer.cancelled"
            reasons = "受让方信息有误。" if rejected else ""
        transfer.status, transfer.decided_by, transfer.decided_at, transfer.reasons = (
            outcome,
            by,
            decided,
            reasons,
        )
        self.event(
            decided,
            by,
            action,
            transfer,
            before={"status": TransferStatus.PENDING.value},
            after={"status": outcome.value},
            comment=reasons,
        )

    def retirement(self, account, when, *, cancellation: bool) -> None:
        """A voluntary retirement by the holder, or a cancellation by the registry administrator."""
        rng = self.rng
        quantity = rng.randint(1, min(self.free[account.pk], 500))
        taken = self.take(account, quantity, when)
        reference = self.reference("R", when)
        status, kind, action = (
            (BlockStatus.CANCELLED, MovementKind.CANCELLED, "credits.cancelled")
            if cancellation
            else (BlockStatus.RETIRED, MovementKind.RETIRED, "credits.retired")
        )
        for block in taken:
            block.status, block.reference = status, reference
        by = self.registrar if cancellation else self.members[account.organisation_id][1]
        movement = self.movement(account, kind, taken, reference=reference, when=when)
        self.ledger_event(when, by, action, account, movement)
        beneficiary_kind = "" if cancellation else pick(rng, dict.fromkeys(BENEFICIARIES, 1))
        retirement = Retirement(
            id=self.ids.take(Retirement),
            reference=reference,
            kind=RetirementKind.CANCELLATION if cancellation else RetirementKind.VOLUNTARY,
            account=account,
            quantity=quantity,
            status=RetirementStatus.RETIRED,
            beneficiary_kind=beneficiary_kind,
            beneficiary=BENEFICIARIES.get(beneficiary_kind, ""),
            purpose="" if cancellation else "抵消活动碳排放",
            reasons="更正登记错误。" if cancellation else "",
            ranges=movement.ranges,
            serials=movement.serials,
            requested_by=by,
            requested_at=when,
            decided_by=by,
            decided_at=when,
            retired_at=when,
        )
        self.retirements.append(retirement)
        if not cancellation:
            self.certificates.append(
                Certificate(
                    id=self.ids.take(Certificate),
                    kind=CertificateKind.RETIREMENT,
                    number=reference,
                    retirement_id=retirement.pk,
                    issued_at=when,
                )
            )
        self.event(
            when,
            by,
            "retirement.made",
            retirement,
            after={
                "status": RetirementStatus.RETIRED.value,
                "kind": retirement.kind.value,
                "quantity": quantity,
                "ranges": movement.ranges,
            },
            comment=retirement.purpose or retirement.reasons,
        )

    # --- The audit chain --------------------------------------------------------------------------------

    def audit_chain(self) -> None:
        """Every event in time order, appended to the chain after its head, hashed with
        registry.audit.digest; the head row moved to the last one."""
        unknown = {e[2] for e in self.events} - set(LABELS)
        if unknown:
            raise LoadRefused(f"Actions without a label in registry/events.py: {sorted(unknown)}")
        self.events.sort(key=lambda e: e[0])
        AuditChainHead.objects.get_or_create(id=1)
        head = AuditChainHead.objects.select_for_update().get(id=1)
        seq, previous = head.last_seq, head.last_hash
        first = self.ids.take(AuditEvent, len(self.events))
        names = {}
        for start in range(0, len(self.events), CHUNK):
            batch = []
            for (
                when,
                actor,
                action,
                subject_type,
                subject_id,
                subject_repr,
                before,
                after,
                comment,
            ) in self.events[start : start + CHUNK]:
                seq += 1
                if actor is not None and actor.pk not in names:
                    names[actor.pk] = actor.get_full_name() or actor.email
                event = AuditEvent(
                    id=first + seq - head.last_seq - 1,
                    seq=seq,
                    created_at=when,
                    actor_id=actor.pk if actor else None,
                    actor_name=names[actor.pk] if actor else "",
                    action=action,
                    subject_type=subject_type,
                    subject_id=subject_id,
                    subject_repr=subject_repr,
                    before=before,
                    after=after,
                    comment=comment,
                    source_ip=None,
                    prev_hash=previous,
                )
                event.hash = previous = audit.digest(event)
                batch.append(event)
            self.write(AuditEvent, batch)
        AuditChainHead.objects.filter(id=1).update(last_seq=seq, last_hash=previous)
        self.events = []

    # --- Everything -----------------------------------------------------------------------------------

    def run(self) -> None:
        with self.step("organisations, people and accounts"):
            self.bureau()
            self.organisations()
        with self.step("projects"):
            self.projects()
        with self.step("declarations"):
            self.declarations()
        with self.step("phases, issuances and blocks"):
            self.phases()
        with self.step("transfers and retirements"):
            self.ledger_operations()
        with self.step("notice versions"):
            self.notices()
        with self.step("audit chain"):
            self.audit_chain()
            self.numbers.save()
            self.ids.sync_sequences()


# --- Through the real services ----------------------------------------------------------------------


@contextmanager
def background_jobs_dropped():
    """The jobs the real services ask for after commit (e-mails, certificate PDFs, checkpoints) go to an
    in-memory queue that nothing reads: the fill makes no files and sends no mail."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, "memory://"
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved


def real_operations(count: int) -> Tally:
    """`count` transfers confirmed, one left pending, `count` voluntary retirements and one cancellation,
    through offsets.transfers and offsets.retirements, on accounts holding free credits."""
    from offsets import retirements, transfers

    done = Tally()
    if count < 1:
        return done
    registrar = User.objects.get(email="load-registrar@example.com")
    holders = list(
        Account.objects.filter(
            organisation__status=OrganisationStatus.VERIFIED, blocks__status=BlockStatus.HELD
        )
        .distinct()
        .order_by("pk")
        .select_related("organisation")[: 2 * count + 3]
    )
    receivers = list(
        Account.objects.filter(organisation__status=OrganisationStatus.VERIFIED).order_by("-pk")[:2]
    )
    declarants = {
        m.organisation_id: m.user
        for m in Membership.objects.filter(
            organisation__in=[a.organisation_id for a in holders], role=OrgRole.DECLARANT
        ).select_related("user")
    }
    for n, account in enumerate(holders):
        by = declarants[account.organisation_id]
        free = ledger.free_quantity(account)
        receiver = receivers[0] if receivers[0].pk != account.pk else receivers[1]
        quantity = min(free, 7 + n)
        if n <= count:  # the last of them stays pending
            transfer = transfers.request_transfer(
                account, by=by, to_number=receiver.number, quantity=quantity
            )
            if n < count:
                transfers.confirm_transfer(transfer, by=registrar)
                done["transfers confirmed"] += 1
            else:
                done["transfers pending"] += 1
        elif n <= 2 * count:
            retirements.retire_voluntarily(
                account,
                by=by,
                quantity=quantity,
                beneficiary_kind=BeneficiaryKind.ORGANISATION,
                beneficiary=account.organisation.name,
                purpose="负载测试：经由真实服务注销",
            )
            done["voluntary retirements"] += 1
        else:
            retirements.cancel_credits(
                account, by=registrar, quantity=1, reasons="负载测试：经由真实服务更正"
            )
            done["cancellations"] += 1
            break
    return done


# --- The command's entry point ----------------------------------------------------------------------


class Timer:
    """Wall time of each step, and this process's CPU time in it (the rest is PostgreSQL, or waiting for
    a core on a shared machine)."""

    def __init__(self, write):
        self.write, self.times = write, []

    @contextmanager
    def __call__(self, name: str):
        started, cpu = time.perf_counter(), time.process_time()
        yield
        took = time.perf_counter() - started
        self.times.append((name, took))
        self.write(f"  {name}: {took:.1f} s (Python CPU {time.process_time() - cpu:.1f} s)")


def generate(scale: Scale, *, append: bool, write) -> dict:
    """Fill the database (see the module's docstring); returns the rows written by kind and the times."""
    from django.core.management import call_command

    if holds_data() and not append:
        raise LoadRefused(
            "The database holds data already (organisations, projects or audit events): "
            "pass --append to add to it, or use an empty database."
        )
    for field in fields(scale):
        if field.type is int and getattr(scale, field.name) < 0:
            raise LoadRefused(f"--{field.name.replace('_', '-')} cannot be negative.")
    started = time.perf_counter()
    timer = Timer(write)
    with transaction.atomic(), connection.cursor() as cursor:
        fill = Fill(scale, cursor.cursor, timer)
        fill.run()
    written = fill.written
    with timer("through the real services"), background_jobs_dropped():
        written.update(real_operations(scale.real_operations))
    if scale.checkpoint:
        from registry import checkpoints

        with timer("signed checkpoint"):
            checkpoints.take()
    with (
        timer("VACUUM ANALYZE" if not connection.in_atomic_block else "ANALYZE"),
        connection.cursor() as cursor,
    ):
        # VACUUM also sets the visibility map, as autovacuum soon would: plans are then stable. It cannot
        # run inside a transaction (a test's): ANALYZE alone there.
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
    filled = time.perf_counter() - started
    write(f"Filled in {filled:.1f} s.")
    verifications = {}
    for command in ("verify_ledger", "verify_audit"):
        with timer(command):
            call_command(command, stdout=_Lines(write), stderr=_Lines(write))
        verifications[command] = timer.times[-1][1]
    return {"written": dict(written), "times": dict(timer.times), "filled": filled, **verifications}


class _Lines:
    """A stream for call_command that hands each line to `write`."""

    def __init__(self, write):
        self.write_line = write

    def write(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.write_line(f"    {line}")

    def flush(self) -> None:
        pass
