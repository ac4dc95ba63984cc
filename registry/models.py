from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in: enterprise members and bureau staff alike. Logs in with the e-mail address."""

    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    language = models.CharField(
        _("preferred language"), max_length=10, choices=Language, default=Language.ZH_HANS
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Bureau staff: reviewers, approvers and registry administrators. Their sessions time out sooner.
    is_staff = models.BooleanField(_("bureau staff"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ignoring_case"),
            models.CheckConstraint(
                name="user_language_known", condition=models.Q(language__in=Language.values)
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name

    @property
    def is_bureau(self) -> bool:
        return self.is_staff


class Heartbeat(models.Model):
    """Last time a named periodic job ran: /healthz reports it, so a dead worker or beat shows."""

    name = models.CharField(max_length=60, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


class District(models.TextChoices):
    """The city's districts and the development zones that administer their own areas."""

    JIANGAN = "jiangan", _("Jiang'an District")
    JIANGHAN = "jianghan", _("Jianghan District")
    QIAOKOU = "qiaokou", _("Qiaokou District")
    HANYANG = "hanyang", _("Hanyang District")
    WUCHANG = "wuchang", _("Wuchang District")
    QINGSHAN = "qingshan", _("Qingshan District")
    HONGSHAN = "hongshan", _("Hongshan District")
    DONGXIHU = "dongxihu", _("Dongxihu District")
    HANNAN = "hannan", _("Hannan District")
    CAIDIAN = "caidian", _("Caidian District")
    JIANGXIA = "jiangxia", _("Jiangxia District")
    HUANGPI = "huangpi", _("Huangpi District")
    XINZHOU = "xinzhou", _("Xinzhou District")
    EAST_LAKE_HIGH_TECH = "east_lake_high_tech", _("East Lake High-tech Development Zone")
    ECONOMIC_DEVELOPMENT = "economic_development", _("Economic and Technological Development Zone")
    LINKONGGANG = "linkonggang", _("Linkonggang Economic and Technological Development Zone")
    EAST_LAKE_SCENIC = "east_lake_scenic", _("East Lake Scenic Area")
    CHANGJIANG_NEW_AREA = "changjiang_new_area", _("Changjiang New Area")


class OrganisationKind(models.TextChoices):
    ENTERPRISE = "enterprise", _("Enterprise")
    PUBLIC_INSTITUTION = "public_institution", _("Public institution")
    HOUSEHOLD = "household", _("Household or individual")
    VERIFICATION_BODY = "verification_body", _("Verification body")
    PLATFORM_OPERATOR = "platform_operator", _("Platform operator")


class OrganisationStatus(models.TextChoices):
    PENDING = "pending", _("Pending verification")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")
    SUSPENDED = "suspended", _("Suspended")


class OrganisationQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.has_perm("registry.view_organisation"):
            return self
        return self.filter(memberships__user=user)

    def awaiting_verification(self):
        return self.filter(status=OrganisationStatus.PENDING).order_by("created_at")


class Organisation(models.Model):
    """An applicant (申报主体): enterprise, public body, household or verification body."""

    name = models.CharField(_("legal name (Chinese)"), max_length=200)
    name_en = models.CharField(_("legal name (English)"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=OrganisationKind)
    # Unified Social Credit Code for organisations, resident identity number for households.
    identifier = models.CharField(_("identifier"), max_length=18, unique=True)
    is_covered_emitter = models.BooleanField(
        _("covered emitter"), default=False, help_text=_("A covered emitter of the regional carbon market.")
    )
    legal_representative = models.CharField(_("legal representative"), max_length=100)
    address = models.CharField(_("address"), max_length=300)
    district = models.CharField(_("district"), max_length=30, choices=District)
    contact_name = models.CharField(_("contact person"), max_length=100)
    contact_phone = models.CharField(_("contact telephone"), max_length=40)
    contact_email = models.EmailField(_("contact e-mail"))
    business_licence = models.FileField(_("business licence"), upload_to="licences/%Y/", blank=True)
    business_licence_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=OrganisationStatus, default=OrganisationStatus.PENDING
    )
    status_reason = models.TextField(_("reasons"), blank=True)
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        permissions = [
            ("verify_organisation", _("Can verify, reject and suspend organisations")),
        ]
        constraints = [
            models.CheckConstraint(
                name="organisation_status_known", condition=models.Q(status__in=OrganisationStatus.values)
            ),
            models.CheckConstraint(
                name="organisation_kind_known", condition=models.Q(kind__in=OrganisationKind.values)
            ),
            models.CheckConstraint(
                name="only_enterprises_are_covered_emitters",
                condition=models.Q(is_covered_emitter=False) | models.Q(kind=OrganisationKind.ENTERPRISE),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_person(self) -> bool:
        return self.kind == OrganisationKind.HOUSEHOLD

    @property
    def public_name(self) -> str:
        """The Chinese name as published records keep it (notice snapshots, open data): a person's name
        is masked (张*). Pages show display_name."""
        return mask_person_name(self.name) if self.is_person else self.name

    @property
    def public_name_en(self) -> str:
        """The English name as published records keep it; "" where there is none, and for a person, whose
        masked Chinese name is the one published (张*)."""
        return "" if self.is_person else self.name_en

    @property
    def localized_name(self) -> str:
        """The legal name in the reader's language: the English one for an English reader where there is
        one. For the organisation's own people and the bureau (e-mails, inbox); public pages use
        display_name."""
        return in_reader_language(self.name, self.name_en)

    @property
    def display_name(self) -> str:
        """The name as public pages show it, in the reader's language where it has an English name; a
        person's is the masked Chinese name (张*) in either language."""
        return in_reader_language(self.public_name, self.public_name_en)

    @property
    def can_submit(self) -> bool:
        return self.status == OrganisationStatus.VERIFIED


def in_reader_language(chinese: str, english: str) -> str:
    """The English value for an English reader where there is one, else the Chinese."""
    from django.utils.translation import get_language

    return english if english and (get_language() or "").startswith("en") else chinese


def mask_person_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


class OrgRole(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    DECLARANT = "declarant", _("Declarant")
    VIEWER = "viewer", _("Viewer")


class Membership(models.Model):
    """A user's place in its one organisation, with its organisation role."""

    user = models.OneToOneField(User, models.CASCADE, related_name="membership", verbose_name=_("user"))
    organisation = models.ForeignKey(
        Organisation, models.CASCADE, related_name="memberships", verbose_name=_("organisation")
    )
    role = models.CharField(_("role"), max_length=20, choices=OrgRole, default=OrgRole.DECLARANT)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(name="membership_role_known", condition=models.Q(role__in=OrgRole.values)),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organisation} · {self.get_role_display()}"

    @property
    def can_act(self) -> bool:
        """Admins and declarants act on cases; viewers only read."""
        return self.role in {OrgRole.ADMIN, OrgRole.DECLARANT}


class Invitation(models.Model):
    """An e-mail invitation to join an organisation with a role; accepted once, through its token."""

    organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=OrgRole, default=OrgRole.DECLARANT)
    token = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class AuditEvent(models.Model):
    """One change of state or of the ledger. Never updated or deleted (a trigger refuses it on PostgreSQL).

    `hash` is the SHA-256 over `prev_hash` and a canonical serialisation of the event, so an edit or a
    deletion anywhere breaks the chain that `manage.py verify_audit` walks. Written only by registry.audit.
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    # The person is a protected reference (a user with history is deactivated, never deleted), and the
    # name is kept as it was, so renaming a user does not rewrite history.
    actor = models.ForeignKey(User, models.PROTECT, null=True, blank=True, related_name="+", editable=False)
    actor_name = models.CharField(max_length=200, blank=True, editable=False)
    action = models.CharField(max_length=60, editable=False, db_index=True)
    subject_type = models.CharField(max_length=60, editable=False)
    subject_id = models.CharField(max_length=40, editable=False)
    subject_repr = models.CharField(max_length=300, editable=False)
    before = models.JSONField(default=dict, editable=False)
    after = models.JSONField(default=dict, editable=False)
    comment = models.TextField(blank=True, editable=False)
    source_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        permissions = [("view_audit_log", _("Can read the audit log"))]
        indexes = [models.Index(fields=["subject_type", "subject_id", "seq"], name="audit_subject_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.subject_repr}"


class AuditChainHead(models.Model):
    """The single row every audit writer locks: it serialises appends, so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")
        constraints = [models.CheckConstraint(name="audit_head_is_single_row", condition=models.Q(id=1))]

    def __str__(self) -> str:
        return f"audit head #{self.last_seq}"


class Checkpoint(models.Model):
    """A signed, published statement of the audit chain's head and the ledger's totals at one moment.

    Anyone who keeps a copy can later prove that history up to `seq` was not rewritten, even by someone
    holding the database's superuser password (registry.checkpoints). Never updated or deleted (a
    trigger refuses it on PostgreSQL); each names the previous one's hash, so they form a chain too.
    """

    number = models.PositiveIntegerField(unique=True, editable=False)
    seq = models.BigIntegerField(editable=False)
    hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(editable=False)
    totals = models.JSONField(editable=False)
    prev_checkpoint_hash = models.CharField(max_length=64, editable=False)
    checkpoint_hash = models.CharField(max_length=64, unique=True, editable=False)
    signature = models.CharField(max_length=128, editable=False)  # hex: no cell starts with a formula sign

    class Meta:
        verbose_name = _("signed checkpoint")
        verbose_name_plural = _("signed checkpoints")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"checkpoint {self.number} (event #{self.seq})"


class Delivery(models.Model):
    """Delivery state of one notification (event × recipient × channel): kept apart from audit events."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        INBOX = "inbox", _("In-app inbox")

    event = models.ForeignKey(AuditEvent, models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel)
    email = models.EmailField()
    user = models.ForeignKey(User, models.CASCADE, null=True, blank=True, related_name="deliveries")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "email"], name="one_delivery_per_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.email} ({self.channel})"


class NotificationJob(models.Model):
    """That an event's people are to be told: written with the event, in its transaction, and done once
    notifications.deliver() has told them all. A job lost with a killed worker, or never sent because the
    broker was down at the commit, is still here undone: the reconciliation (registry/reconcile.py) sends
    it again."""

    event = models.OneToOneField(
        AuditEvent, models.PROTECT, primary_key=True, related_name="notification_job"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification job")
        verbose_name_plural = _("notification jobs")
        # The reconciliation's question, "undone and older than the grace period", reads only undone rows.
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(done_at=None), name="notification_jobs_undone"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({'done' if self.done_at else 'due'})"


# --- Reference data: methodologies, grid emission factors, the working-day calendar -----------------


class DocumentType(models.TextChoices):
    PROJECT_DESCRIPTION = "project_description", _("Project description")
    BUSINESS_LICENCE = "business_licence", _("Business licence")
    GRID_CONNECTION_ACCEPTANCE = "grid_connection_acceptance", _("Grid-connection acceptance")
    PROPERTY_RIGHTS = "property_rights", _("Roof or site use rights")
    MONITORING_REPORT = "monitoring_report", _("Monitoring report")
    SETTLEMENT_RECORDS = "settlement_records", _("Meter or settlement records")
    LOAD_REDUCTION_RECORDS = "load_reduction_records", _("Load reduction records")
    VERIFICATION_REPORT = "verification_report", _("Verification report")
    VERIFICATION_OPINION = "verification_opinion", _("Verification opinion")
    BEHAVIOUR_REPORT = "behaviour_report", _("Behaviour records report")
    OTHER = "other", _("Other")


# Uploaded by the verification body assigned to a declaration, not by the applicant.
VERIFICATION_DOCUMENTS = (DocumentType.VERIFICATION_REPORT, DocumentType.VERIFICATION_OPINION)


class Sector(models.TextChoices):
    ENERGY = "energy", _("Energy")
    AGRICULTURE = "agriculture", _("Agriculture")
    HOUSEHOLD = "household", _("Households and daily life")


class FactorScope(models.TextChoices):
    NATIONAL = "national", _("National grid")
    REGIONAL = "regional", _("Regional grid")
    PROVINCE = "province", _("Province")


class MethodologyStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUPERSEDED = "superseded", _("Superseded")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Methodology(models.Model):
    """A published methodology: what a declaration must carry, and how its reduction is calculated."""

    code = models.CharField(
        _("code"), max_length=4, help_text=_("Used in project codes: WH-<code>-0001."), db_index=True
    )
    version = models.CharField(_("version"), max_length=10)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    sector = models.CharField(_("sector"), max_length=20, choices=Sector)
    effective_date = models.DateField(
        _("takes effect"), help_text=_("Declarations under it may be submitted from this date.")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=MethodologyStatus, default=MethodologyStatus.ACTIVE
    )
    factor_scope = models.CharField(
        _("grid emission factor scope"), max_length=12, choices=FactorScope, blank=True
    )
    # Key of a calculator in registry.calculators; empty: the verified quantity comes from the
    # verification report and the reviewer records it.
    calculator = models.CharField(_("calculator"), max_length=30, blank=True)
    applicability_zh = models.TextField(_("applicability (Chinese)"), blank=True)
    applicability_en = models.TextField(_("applicability (English)"), blank=True)
    project_documents = models.JSONField(_("documents required of a project"), default=list)
    declaration_documents = models.JSONField(_("documents required of a declaration"), default=list)
    max_point_capacity_kw = models.DecimalField(
        _("largest capacity of one grid-connection point (kW, exclusive)"),
        max_digits=10,
        decimal_places=1,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("methodology")
        verbose_name_plural = _("methodologies")
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="methodology_code_version_unique"),
            models.CheckConstraint(
                name="methodology_status_known", condition=models.Q(status__in=MethodologyStatus.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.version} · {self.title}"

    @property
    def title(self) -> str:
        from django.utils.translation import get_language

        return self.title_en if (get_language() or "").startswith("en") and self.title_en else self.title_zh

    @property
    def applicability(self) -> str:
        from django.utils.translation import get_language

        english = (get_language() or "").startswith("en")
        return self.applicability_en if english and self.applicability_en else self.applicability_zh


class GridEmissionFactorQuerySet(models.QuerySet):
    def for_vintage(self, scope: str, year: int):
        """The factor of the vintage year, or where none is published yet, the latest one published."""
        factors = self.filter(scope=scope).order_by("-year", "-published_on")
        return factors.filter(year=year).first() or factors.filter(year__lt=year).first()


class GridEmissionFactor(models.Model):
    """A published grid emission factor. Versioned by year and scope; declarations copy the value they use."""

    year = models.PositiveSmallIntegerField(_("year"))
    scope = models.CharField(_("scope"), max_length=12, choices=FactorScope)
    value = models.DecimalField(_("value (tCO2/MWh)"), max_digits=6, decimal_places=4)
    source = models.CharField(_("source document"), max_length=300)
    published_on = models.DateField(_("published"))
    is_demo_value = models.BooleanField(_("demo value"), default=False)

    objects = GridEmissionFactorQuerySet.as_manager()

    class Meta:
        verbose_name = _("grid emission factor")
        verbose_name_plural = _("grid emission factors")
        ordering = ["-year", "scope"]
        constraints = [
            models.UniqueConstraint(fields=["year", "scope"], name="one_grid_factor_per_year_and_scope"),
            models.CheckConstraint(name="grid_factor_is_positive", condition=models.Q(value__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.get_scope_display()} {self.value}"


class CalendarDay(models.Model):
    """A registry administrator's override of the working-day calendar, for a year the library does
    not know yet or a correction: the day is a working day or a rest day, whatever the library says."""

    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'working' if self.is_working_day else 'rest'}"


class Counter(models.Model):
    """The last number given out under a name (see registry.counters)."""

    name = models.CharField(max_length=60, unique=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("counter")
        verbose_name_plural = _("counters")
        constraints = [models.CheckConstraint(name="counter_not_negative", condition=models.Q(value__gte=0))]

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"
