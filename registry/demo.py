"""The demo data of `manage.py seed_demo`: known logins, for demonstration only.

Each builder is idempotent (looked up by natural keys), so running the command twice changes nothing.
Identifiers are valid by their check characters but invented: they are demo values, as are contacts
and addresses the article does not give.

Dates follow the story. Each app's demo has a history, on the article's dates (organisations verified in
November 2023, the PV projects filed once their methodology took effect on 30 November 2023, phase
2023P01 registered on 18 December 2023, the credits used after), and a present, in the weeks before
today (the open cases, a phase in notice). The services write them through a StoryClock, which sets the
time they read; seed_demo runs every history, then every present, so time only moves forward.
"""

from base64 import b32decode
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import roles, services
from registry.identifiers import make_credit_code, make_identity_number
from registry.models import (
    District,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    OrgRole,
    User,
)

DEMO_PASSWORD = "demo-pass-2023"  # noqa: S105 (a published demo password, refused with DEBUG off)
DEMO_DOMAIN = "demo.example"
# Published like the password, demo only: every demo bureau login has an authenticator with this secret,
# so the office can be tried with any authenticator app, or `oathtool --totp -b SECRET`. Never for real.
DEMO_TOTP_SECRET = "MNQXEYTPNYWXEZLHNFZXI4TZFVSGK3LP"  # noqa: S105 (base32 of b"carbon-registry-demo")

# (e-mail local part, name, bureau roles, what the login is for)
BUREAU = [
    ("admin", "系统管理员 (demo)", [], "superuser: Django admin"),
    ("intake", "王形审 (demo)", [roles.INTAKE_OFFICER], "intake officer"),
    ("reviewer", "李技审 (demo)", [roles.TECHNICAL_REVIEWER], "technical reviewer"),
    ("reviewer2", "赵技审 (demo)", [roles.TECHNICAL_REVIEWER], "second technical reviewer"),
    ("expert", "陈专家 (demo)", [roles.EXPERT], "expert"),
    ("approver", "刘审批 (demo)", [roles.APPROVER], "approver"),
    ("registrar", "周登记 (demo)", [roles.REGISTRY_ADMIN], "registry administrator"),
]

# (key, kind, name, name_en, first 17 characters of the identifier, district, covered emitter, status)
ORGANISATIONS = [
    (
        "gem",
        OrganisationKind.ENTERPRISE,
        "格林美（武汉）城市矿山产业集团有限公司",
        "GEM (Wuhan) Urban Mining Industry Group Co., Ltd.",
        "91420117MA4K00001",
        District.XINZHOU,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "second",
        OrganisationKind.ENTERPRISE,
        "武汉市绿能光伏科技有限公司",
        "Wuhan Green Energy PV Technology Co., Ltd. (demo)",
        "91420100MA4K00002",
        District.EAST_LAKE_HIGH_TECH,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "steel",
        OrganisationKind.ENTERPRISE,
        "武汉青山钢铁有限公司",
        "Wuhan Qingshan Steel Co., Ltd. (demo)",
        "91420107MA4K00003",
        District.QINGSHAN,
        True,
        OrganisationStatus.VERIFIED,
    ),
    (
        "farm",
        OrganisationKind.ENTERPRISE,
        "武汉黄陂生态养殖专业合作社",
        "Huangpi Ecological Poultry Cooperative (demo)",
        "93420116MA4K00004",
        District.HUANGPI,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "pending",
        OrganisationKind.ENTERPRISE,
        "武汉新洲屋顶光伏有限公司",
        "Xinzhou Rooftop Solar Co., Ltd. (demo)",
        "91420117MA4K00005",
        District.XINZHOU,
        False,
        OrganisationStatus.PENDING,
    ),
    (
        "school",
        OrganisationKind.PUBLIC_INSTITUTION,
        "武汉市江汉区第一中学",
        "Jianghan No. 1 Middle School (demo)",
        "12420103MB0000006",
        District.JIANGHAN,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "household",
        OrganisationKind.HOUSEHOLD,
        "张伟",
        "",
        "42010219800101001",
        District.JIANGAN,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "verifier",
        OrganisationKind.VERIFICATION_BODY,
        "湖北碳核查技术服务有限公司",
        "Hubei Carbon Verification Services Co., Ltd. (demo)",
        "91420100MA4K00007",
        District.WUCHANG,
        False,
        OrganisationStatus.VERIFIED,
    ),
    # Platform operators reporting residents' behaviour (offsets/behaviour/demo.py): invented, demo values.
    (
        "travel",
        OrganisationKind.PLATFORM_OPERATOR,
        "武汉智行出行科技有限公司",
        "Wuhan Smart Travel Technology Co., Ltd. (demo)",
        "91420100MA4K00008",
        District.JIANGHAN,
        False,
        OrganisationStatus.VERIFIED,
    ),
    (
        "payment",
        OrganisationKind.PLATFORM_OPERATOR,
        "楚天数字支付服务有限公司",
        "Chutian Digital Payment Services Co., Ltd. (demo)",
        "91420100MA4K00009",
        District.WUCHANG,
        False,
        OrganisationStatus.VERIFIED,
    ),
]

# (e-mail local part, name, organisation key, role, what the login is for)
ENTERPRISE = [
    ("gem.admin", "格林美管理员 (demo)", "gem", OrgRole.ADMIN, "GEM: organisation admin"),
    ("gem.declarant", "格林美申报员 (demo)", "gem", OrgRole.DECLARANT, "GEM: declarant"),
    ("gem.viewer", "格林美查看员 (demo)", "gem", OrgRole.VIEWER, "GEM: viewer"),
    ("second.admin", "绿能管理员 (demo)", "second", OrgRole.ADMIN, "second enterprise: admin"),
    ("steel.admin", "青山钢铁管理员 (demo)", "steel", OrgRole.ADMIN, "covered emitter: admin"),
    ("farm.admin", "合作社管理员 (demo)", "farm", OrgRole.ADMIN, "poultry farm: admin"),
    (
        "pending.admin",
        "新洲光伏管理员 (demo)",
        "pending",
        OrgRole.ADMIN,
        "organisation awaiting verification",
    ),
    ("school.admin", "江汉一中管理员 (demo)", "school", OrgRole.ADMIN, "public institution: admin"),
    ("household", "张伟", "household", OrgRole.ADMIN, "household"),
    ("verifier", "核查员 (demo)", "verifier", OrgRole.ADMIN, "verification body"),
    (
        "travel.admin",
        "智行出行管理员 (demo)",
        "travel",
        OrgRole.ADMIN,
        "platform operator (ride code): admin",
    ),
    (
        "payment.admin",
        "楚天支付管理员 (demo)",
        "payment",
        OrgRole.ADMIN,
        "platform operator (payment): admin",
    ),
]

# Residents with personal carbon accounts (offsets/behaviour/demo.py): (e-mail local part, name, the first 17
# digits of an invented identity number, what the login is for).
RESIDENTS = [
    ("resident", "陈晓华", "42010219900315002", "resident: personal carbon account"),
    ("resident2", "刘一鸣", "42010619851120003", "resident: personal carbon account"),
    ("resident3", "黄思琪", "42011119950702004", "resident: personal carbon account"),
]


class StoryClock:
    """The time the demo's story is at. While it runs (story_clock), django.utils.timezone.now, and so
    every timestamp, audit event, reference number and deadline the services write, reads this clock: it
    stands at the moment last set and moves on with the real time from there, so events keep their order."""

    def __init__(self, real_now):
        self.real_now = real_now
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self.real_now() + self.offset

    def set(self, moment: datetime) -> None:
        """Move the story to `moment` (naive: Beijing time)."""
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        self.offset = moment - self.real_now()

    def days_ago(self, days: int, hour: int = 9, minute: int = 0) -> None:
        """Move the story to `days` before the real today, at hour:minute Beijing time."""
        day = timezone.localtime(self.real_now()).date() - timedelta(days=days)
        self.set(datetime(day.year, day.month, day.day, hour, minute))

    def today(self) -> None:
        """Back to the real time."""
        self.offset = timedelta(0)


@contextmanager
def story_clock():
    """A StoryClock for the services to read for the time being; the real clock again afterwards."""
    before = timezone.now
    outer = getattr(before, "__self__", None)  # already in a story (seed_demo's): the same real clock
    clock = StoryClock(outer.real_now if isinstance(outer, StoryClock) else before)
    timezone.now = clock.now
    try:
        yield clock
    finally:
        timezone.now = before


def demo_logins() -> list[tuple[str, str]]:
    wanted = [(f"{local}@{DEMO_DOMAIN}", what) for local, _, _, what in BUREAU]
    wanted += [(f"{local}@{DEMO_DOMAIN}", what) for local, _, _, _, what in ENTERPRISE]
    wanted += [(f"{local}@{DEMO_DOMAIN}", what) for local, _, _, what in RESIDENTS]
    existing = set(User.objects.filter(email__in=[e for e, _ in wanted]).values_list("email", flat=True))
    return [(email, what) for email, what in wanted if email in existing]


def _user(local: str, name: str, **fields) -> User:
    user, created = User.objects.get_or_create(
        # date_joined's default is the real clock's (Django took timezone.now itself): the story's here.
        email=f"{local}@{DEMO_DOMAIN}",
        defaults={"full_name": name, "date_joined": timezone.now(), **fields},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def _identifier(kind: str, first17: str) -> str:
    return make_identity_number(first17) if kind == OrganisationKind.HOUSEHOLD else make_credit_code(first17)


# Where the demo's people come in: the bureau's logins and the applicants verified in November 2023, two
# weeks before the PV methodology took effect; the organisation awaiting verification signed up lately.
HISTORY_STARTS = datetime(2023, 11, 13, 9, 0)
VERIFIED_ON = datetime(2023, 11, 15, 10, 0)
MEMBERS_JOINED_ON = datetime(2023, 11, 16, 9, 30)
NEWCOMER_DAYS_AGO = 62


@transaction.atomic
def seed_people(clock: StoryClock, *, statuses=(OrganisationStatus.VERIFIED,)) -> dict[str, Organisation]:
    """The bureau's logins, and the organisations of the given statuses with their members."""
    for local, name, role_names, _ in BUREAU:
        user = _user(local, name, is_staff=True, is_superuser=(local == "admin"))
        user.groups.add(*Group.objects.filter(name__in=role_names))
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            key = b32decode(DEMO_TOTP_SECRET).hex()
            TOTPDevice.objects.create(user=user, name="demo authenticator", key=key, confirmed=True)
    registrar = User.objects.get(email=f"registrar@{DEMO_DOMAIN}")

    organisations = {}
    for key, kind, name, name_en, first17, district, covered, status in ORGANISATIONS:
        if status not in statuses:
            continue
        identifier = _identifier(kind, first17)
        organisation = Organisation.objects.filter(identifier=identifier).first()
        if organisation is None:
            organisation = Organisation(
                kind=kind,
                name=name,
                name_en=name_en,
                identifier=identifier,
                district=district,
                is_covered_emitter=covered,
                # The verification body has its own: one sharing the applicants' would be related to them.
                legal_representative={
                    OrganisationKind.HOUSEHOLD: name,
                    OrganisationKind.VERIFICATION_BODY: "王五 (demo)",
                }.get(kind, "张三 (demo)"),
                address=f"{District(district).label} (demo address)",
                contact_name="联系人 (demo)",
                contact_phone="027-0000-0000",
                contact_email=f"contact.{key}@{DEMO_DOMAIN}",
            )
            admin_local, admin_name = next(
                (e[0], e[1]) for e in ENTERPRISE if e[2] == key and e[3] == OrgRole.ADMIN
            )
            # Through the real sign-up and verification, so the audit trail of the demo is real too.
            admin = services.sign_up(
                organisation=organisation,
                email=f"{admin_local}@{DEMO_DOMAIN}",
                full_name=admin_name,
                password=DEMO_PASSWORD,
                language="zh-hans",
            )
            services.confirm_email(admin)
        organisations[key] = organisation
    if OrganisationStatus.VERIFIED in statuses:
        clock.set(VERIFIED_ON)
        for organisation in organisations.values():
            if organisation.status == OrganisationStatus.PENDING:
                services.verify_organisation(organisation, by=registrar, note="Demo: documents complete.")
        clock.set(MEMBERS_JOINED_ON)

    for local, name, key, role, _ in ENTERPRISE:
        email = f"{local}@{DEMO_DOMAIN}"
        if key not in organisations or Membership.objects.filter(user__email=email).exists():
            continue
        admin = Membership.objects.get(organisation=organisations[key], role=OrgRole.ADMIN).user
        invitation = services.invite_member(organisations[key], by=admin, email=email, role=role)
        services.accept_invitation(invitation, full_name=name, password=DEMO_PASSWORD, language="zh-hans")
    return organisations


def seed_history(clock: StoryClock) -> None:
    clock.set(HISTORY_STARTS)
    seed_people(clock)


def seed_present(clock: StoryClock) -> None:
    clock.days_ago(NEWCOMER_DAYS_AGO, hour=15)
    seed_people(clock, statuses=(OrganisationStatus.PENDING,))


def seed() -> None:
    """The history and the present of this app's demo, for a caller that seeds one app at a time."""
    with story_clock() as clock:
        seed_history(clock)
        seed_present(clock)
