"""Issuance phases, public notices and objections; the ledger of serially numbered credits: accounts,
blocks, movements, transfers and retirements; compliance policies, records and boundaries."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.models import Organisation, in_reader_language, mask_person_name


class PhaseStatus(models.TextChoices):
    DRAFTING = "drafting", _("Being assembled")
    SUBMITTED = "submitted", _("Awaiting approval for notice")
    APPROVED = "approved", _("Approved for notice")
    IN_NOTICE = "in_notice", _("In public notice")
    CLOSED = "closed", _("Notice closed")
    REGISTERED = "registered", pgettext_lazy("phase status", "Registered")


# A phase is public once its notice is published: in notice, its notice closed, or registered.
PUBLIC_PHASE_STATUSES = (PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED, PhaseStatus.REGISTERED)


class IssuancePhaseQuerySet(models.QuerySet):
    def public(self):
        """The phases anyone may read: those whose notice has been published."""
        return self.filter(status__in=PUBLIC_PHASE_STATUSES)


# A phase code is a path segment of its notice's URL and a field of every serial (WHCER-<code>-…, split
# on hyphens): upper-case letters and digits only. The form upper-cases what is typed.
PHASE_CODE_PATTERN = r"^[0-9A-Z]+\Z"
PHASE_CODE_RULE = _("A phase code has only letters and digits, for example 2023P01.")


class IssuancePhase(models.Model):
    """A batch (批次) of approved declarations, published for notice and then registered together."""

    code = models.CharField(
        _("phase code"),
        max_length=20,
        unique=True,
        help_text=_("For example 2023P01."),
        validators=[RegexValidator(PHASE_CODE_PATTERN, PHASE_CODE_RULE)],
    )
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    status = models.CharField(_("status"), max_length=20, choices=PhaseStatus, default=PhaseStatus.DRAFTING)
    status_note = models.TextField(_("note"), blank=True)
    assembled_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notice_start = models.DateField(_("notice from"), null=True, blank=True)
    notice_end = models.DateField(_("notice until"), null=True, blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    closed_at = models.DateTimeField(_("notice closed"), null=True, blank=True)
    registered_at = models.DateTimeField(pgettext_lazy("phase", "registered"), null=True, blank=True)

    objects = IssuancePhaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("issuance phase")
        verbose_name_plural = _("issuance phases")
        ordering = ["-created_at"]
        permissions = [
            ("assemble_phase", _("Can assemble and publish issuance phases")),
            ("approve_phase", _("Can approve issuance phases for notice")),
            ("register_phase", _("Can register issuance phases")),
            ("rule_objection", _("Can rule on objections")),
        ]
        constraints = [
            models.CheckConstraint(name="phase_status_known", condition=Q(status__in=PhaseStatus.values)),
            models.CheckConstraint(
                name="phase_code_is_letters_and_digits",
                condition=Q(code__regex=PHASE_CODE_PATTERN),
                violation_error_message=PHASE_CODE_RULE,
            ),
            models.CheckConstraint(
                name="a_notice_ends_after_it_starts",
                condition=Q(notice_end__isnull=True) | Q(notice_end__gte=models.F("notice_start")),
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("offsets:notice", args=[self.code])

    @property
    def title(self) -> str:
        from django.utils.translation import get_language

        return self.title_en if (get_language() or "").startswith("en") and self.title_en else self.title_zh

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_PHASE_STATUSES


class PhaseEntryQuerySet(models.QuerySet):
    def live(self):
        """Entries still in their phase: not taken out by an upheld objection or while assembling."""
        return self.filter(removed_at__isnull=True)


class PhaseEntry(models.Model):
    """A declaration's place in a phase. An upheld objection takes it out (removed_at), never deletes it."""

    phase = models.ForeignKey(IssuancePhase, models.PROTECT, related_name="entries")
    declaration = models.ForeignKey("projects.Declaration", models.PROTECT, related_name="phase_entries")
    added_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True)

    objects = PhaseEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("phase entry")
        verbose_name_plural = _("phase entries")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["declaration"],
                condition=Q(removed_at__isnull=True),
                name="a_declaration_is_in_one_live_phase",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phase} · {self.declaration_id}"


class NoticeVersion(models.Model):
    """One published version of a phase's notice: its list and totals as they stood, and its PDF."""

    phase = models.ForeignKey(IssuancePhase, models.PROTECT, related_name="notice_versions")
    version = models.PositiveSmallIntegerField()
    published_at = models.DateTimeField(auto_now_add=True)
    # The reference of the upheld objection that made this version (empty for the first): phrased by the
    # page and the PDF in their own languages, never stored as text in someone's language.
    reason = models.CharField(max_length=40, blank=True)
    snapshot = models.JSONField(default=dict)
    pdf = models.FileField(upload_to="notices/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("notice version")
        verbose_name_plural = _("notice versions")
        ordering = ["phase", "-version"]
        constraints = [models.UniqueConstraint(fields=["phase", "version"], name="notice_versions_unique")]

    def __str__(self) -> str:
        return f"{self.phase} v{self.version}"


class NoticeRow(models.Model):
    """One declaration of a notice version's list, as it stood when published: the snapshot's row, kept
    also as a table row so that the notice page reads its list a page at a time, by key. The snapshot's
    JSON, which the PDF reads, can only be read whole (2,000 rows: about 600 KB to decode per request).
    Written once, with its version (offsets.issuing), and never changed."""

    version = models.ForeignKey(NoticeVersion, models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()  # 1, 2, …: the order of the snapshot's list
    declaration = models.ForeignKey("projects.Declaration", models.PROTECT, related_name="+")
    project_code = models.TextField()
    project_title = models.TextField()
    owner = models.TextField()  # public_name: a person's name masked
    owner_en = models.TextField(blank=True)
    methodology = models.TextField()  # its code
    period_start = models.DateField()
    period_end = models.DateField()
    vintage = models.PositiveSmallIntegerField()
    tonnes = models.PositiveIntegerField(null=True)

    class Meta:
        verbose_name = _("notice row")
        verbose_name_plural = _("notice rows")
        ordering = ["version", "position"]
        constraints = [models.UniqueConstraint(fields=["version", "position"], name="notice_rows_unique")]

    def __str__(self) -> str:
        return f"{self.version} #{self.position}"

    @property
    def owner_name(self) -> str:
        """The owner in the reader's language, as the in_reader_language filter gives a snapshot's row."""
        return in_reader_language(self.owner, self.owner_en)


class ObjectionStatus(models.TextChoices):
    AWAITING = "awaiting", _("Awaiting a ruling")
    DISMISSED = "dismissed", _("Dismissed")
    UPHELD = "upheld", _("Upheld")


class Objection(models.Model):
    """An objection (异议) filed by anyone against a declaration in notice; ruled by a technical reviewer."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    phase = models.ForeignKey(IssuancePhase, models.PROTECT, related_name="objections")
    declaration = models.ForeignKey("projects.Declaration", models.PROTECT, related_name="objections")
    name = models.CharField(_("your name"), max_length=100)
    organisation = models.CharField(_("your organisation"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("telephone"), max_length=40, blank=True)
    reasons = models.TextField(_("reasons"))
    attachment = models.FileField(upload_to="objections/%Y/", blank=True)
    attachment_sha256 = models.CharField(max_length=64, blank=True)
    filed_at = models.DateTimeField(auto_now_add=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ObjectionStatus, default=ObjectionStatus.AWAITING)
    answer = models.TextField(_("the declarant's answer"), blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ruling = models.TextField(_("ruling"), blank=True)
    ruled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    ruled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("objection")
        verbose_name_plural = _("objections")
        ordering = ["filed_at"]
        constraints = [
            models.CheckConstraint(
                name="objection_status_known", condition=Q(status__in=ObjectionStatus.values)
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Account(models.Model):
    """An organisation's holding account (登记账户), opened when the organisation is verified."""

    organisation = models.OneToOneField(Organisation, models.PROTECT, related_name="account")
    number = models.CharField(_("account number"), max_length=30, unique=True)
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("holding account")
        verbose_name_plural = _("holding accounts")
        permissions = [
            ("view_any_account", _("Can read any holding account and its statement")),
            ("confirm_transfer", _("Can confirm or reject transfers")),
            ("confirm_offset", _("Can confirm or reject compliance offsets")),
            ("cancel_credits", _("Can cancel credits to correct the ledger")),
            ("keep_compliance", _("Can keep compliance policies, records and boundaries")),
            ("link_boundary", _("Can link a project to a covered emitter's boundary")),
        ]

    def __str__(self) -> str:
        return self.number


class Issuance(models.Model):
    """A declaration registered in a phase: its quantity as one contiguous range of unit numbers."""

    declaration = models.OneToOneField("projects.Declaration", models.PROTECT, related_name="issuance")
    phase = models.ForeignKey(IssuancePhase, models.PROTECT, related_name="issuances")
    project = models.ForeignKey("projects.Project", models.PROTECT, related_name="issuances")
    account = models.ForeignKey(Account, models.PROTECT, related_name="issuances")
    vintage = models.PositiveSmallIntegerField(_("vintage"))
    quantity = models.PositiveIntegerField(_("quantity (t)"))
    first_unit = models.BigIntegerField()
    last_unit = models.BigIntegerField()
    serial = models.CharField(_("serial"), max_length=120, unique=True)
    registered_at = models.DateTimeField()

    class Meta:
        verbose_name = _("issuance")
        verbose_name_plural = _("issuances")
        ordering = ["first_unit"]
        constraints = [
            models.CheckConstraint(
                name="issuance_range_matches_quantity",
                condition=Q(last_unit=models.F("first_unit") + models.F("quantity") - 1),
            ),
            models.CheckConstraint(name="issuance_units_positive", condition=Q(first_unit__gte=1)),
        ]

    def __str__(self) -> str:
        return self.serial


class BlockStatus(models.TextChoices):
    HELD = "held", _("Held")
    RESERVED = "reserved", _("Reserved")
    RETIRED = "retired", _("Retired")
    CANCELLED = "cancelled", _("Cancelled")
    SPLIT = "split", _("Split")


# A split block's units live on in its children; every other block holds its units now.
LIVE_BLOCK_STATUSES = tuple(s for s in BlockStatus.values if s != BlockStatus.SPLIT)


class SerialBlockQuerySet(models.QuerySet):
    def live(self):
        """The blocks that hold units now: all but split ones (the exclusion constraint's own condition)."""
        return self.exclude(status=BlockStatus.SPLIT)


class SerialBlock(models.Model):
    """A contiguous range of units of one issuance, in one account, in one status. Live blocks (all
    but split ones) never overlap: a PostgreSQL exclusion constraint (migration 0002) and verify_ledger."""

    issuance = models.ForeignKey(Issuance, models.PROTECT, related_name="blocks")
    account = models.ForeignKey(Account, models.PROTECT, related_name="blocks")
    parent = models.ForeignKey("self", models.PROTECT, null=True, blank=True, related_name="children")
    first_unit = models.BigIntegerField()
    last_unit = models.BigIntegerField()
    status = models.CharField(_("status"), max_length=12, choices=BlockStatus, default=BlockStatus.HELD)
    status_reference = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SerialBlockQuerySet.as_manager()

    class Meta:
        verbose_name = _("serial block")
        verbose_name_plural = _("serial blocks")
        ordering = ["first_unit"]
        indexes = [models.Index(fields=["account", "status"], name="block_account_status_idx")]
        constraints = [
            models.CheckConstraint(name="block_status_known", condition=Q(status__in=BlockStatus.values)),
            models.CheckConstraint(
                name="block_range_in_order", condition=Q(last_unit__gte=models.F("first_unit"))
            ),
        ]

    def __str__(self) -> str:
        return self.serial

    @property
    def quantity(self) -> int:
        return self.last_unit - self.first_unit + 1

    @property
    def serial(self) -> str:
        from offsets.serials import format_serial

        issuance = self.issuance
        return format_serial(
            issuance.phase.code, issuance.project.code, issuance.vintage, self.first_unit, self.last_unit
        )


class MovementKind(models.TextChoices):
    ISSUED = "issued", _("Issued")
    RECEIVED = "received", _("Received")
    SENT = "sent", _("Sent")
    RESERVED = "reserved", _("Reserved")
    RELEASED = "released", _("Released")
    RETIRED = "retired", _("Retired")
    CANCELLED = "cancelled", _("Cancelled")


# How each movement changes an account's holding (held + reserved); a reservation only changes which
# part of the holding is free.
MOVEMENT_SIGN = {
    MovementKind.ISSUED: 1,
    MovementKind.RECEIVED: 1,
    MovementKind.SENT: -1,
    MovementKind.RESERVED: 0,
    MovementKind.RELEASED: 0,
    MovementKind.RETIRED: -1,
    MovementKind.CANCELLED: -1,
}


class Movement(models.Model):
    """One change of an account's blocks, written by offsets.ledger in the transaction that made it.
    A transfer writes two: sent on the sender's statement, received on the receiver's."""

    account = models.ForeignKey(Account, models.PROTECT, related_name="movements")
    kind = models.CharField(_("movement"), max_length=12, choices=MovementKind)
    counterparty = models.ForeignKey(Account, models.PROTECT, null=True, blank=True, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity (t)"))
    # The serial ranges moved, as [[first unit, last unit], ...], in unit order.
    ranges = models.JSONField(default=list)
    serials = models.TextField(_("serials"), blank=True)
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    at = models.DateTimeField(_("date"), db_index=True)

    class Meta:
        verbose_name = _("movement")
        verbose_name_plural = _("movements")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["account", "at", "id"], name="movement_statement_idx")]
        constraints = [
            models.CheckConstraint(name="movement_kind_known", condition=Q(kind__in=MovementKind.values)),
            models.CheckConstraint(name="movement_moves_something", condition=Q(quantity__gte=1)),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {self.quantity}"

    @property
    def effect(self) -> int:
        return MOVEMENT_SIGN[self.kind] * self.quantity


class TransferStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting confirmation")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", pgettext_lazy("transfer status", "Cancelled")


class Transfer(models.Model):
    """A transfer (划转) of credits to another verified organisation's account."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    from_account = models.ForeignKey(Account, models.PROTECT, related_name="transfers_out")
    to_account = models.ForeignKey(Account, models.PROTECT, related_name="transfers_in")
    quantity = models.PositiveIntegerField(_("quantity (t)"))
    status = models.CharField(
        _("status"), max_length=12, choices=TransferStatus, default=TransferStatus.PENDING
    )
    note = models.TextField(_("note"), blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reasons = models.TextField(_("reasons"), blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="transfer_status_known", condition=Q(status__in=TransferStatus.values)
            ),
            models.CheckConstraint(name="transfer_moves_something", condition=Q(quantity__gte=1)),
            models.CheckConstraint(
                name="transfer_to_another_account", condition=~Q(to_account=models.F("from_account"))
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("offsets:transfer", args=[self.reference])


class RetirementKind(models.TextChoices):
    VOLUNTARY = "voluntary", _("Voluntary retirement")
    COMPLIANCE = "compliance", _("Compliance offset")
    CANCELLATION = "cancellation", _("Cancellation")


class RetirementStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting confirmation")
    RETIRED = "retired", _("Retired")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class BeneficiaryKind(models.TextChoices):
    ORGANISATION = "organisation", _("An organisation")
    EVENT = "event", _("An event")
    PERSON = "person", _("A person")


class Retirement(models.Model):
    """A retirement (注销): credits consumed for good. A compliance offset (抵销) waits, reserved, for the
    registry administrator's confirmation; a voluntary retirement and a cancellation are final at once."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=RetirementKind)
    account = models.ForeignKey(Account, models.PROTECT, related_name="retirements")
    quantity = models.PositiveIntegerField(_("quantity (t)"))
    status = models.CharField(_("status"), max_length=12, choices=RetirementStatus)
    beneficiary_kind = models.CharField(_("beneficiary"), max_length=12, choices=BeneficiaryKind, blank=True)
    beneficiary = models.CharField(_("beneficiary's name"), max_length=200, blank=True)
    purpose = models.TextField(_("purpose"), blank=True)
    compliance_year = models.PositiveSmallIntegerField(_("compliance year"), null=True, blank=True)
    # The serial ranges consumed (or reserved while pending), as offsets.ledger wrote them.
    ranges = models.JSONField(default=list)
    serials = models.TextField(_("serials"), blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reasons = models.TextField(_("reasons"), blank=True)

    class Meta:
        verbose_name = _("retirement")
        verbose_name_plural = _("retirements")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "retired_at"], name="retirement_public_idx")]
        constraints = [
            models.CheckConstraint(name="retirement_kind_known", condition=Q(kind__in=RetirementKind.values)),
            models.CheckConstraint(
                name="retirement_status_known", condition=Q(status__in=RetirementStatus.values)
            ),
            models.CheckConstraint(name="retirement_retires_something", condition=Q(quantity__gte=1)),
            models.CheckConstraint(
                name="an_offset_names_its_compliance_year",
                condition=~Q(kind=RetirementKind.COMPLIANCE) | Q(compliance_year__isnull=False),
            ),
            models.CheckConstraint(
                name="a_retired_retirement_is_dated",
                condition=~Q(status=RetirementStatus.RETIRED) | Q(retired_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("offsets:retirement", args=[self.reference])

    @property
    def public_beneficiary(self) -> str:
        """The beneficiary as anyone may read it: a person's name masked (张*)."""
        if self.beneficiary_kind == BeneficiaryKind.PERSON:
            return mask_person_name(self.beneficiary)
        return self.beneficiary


class CapBasis(models.TextChoices):
    EMISSIONS = "emissions", _("verified emissions")
    ALLOWANCE = "allowance", _("allowance")


class CompliancePolicy(models.Model):
    """What a covered emitter may offset for one compliance year (履约年度)."""

    year = models.PositiveSmallIntegerField(_("compliance year"), unique=True)
    first_vintage = models.PositiveSmallIntegerField(_("earliest eligible vintage"))
    last_vintage = models.PositiveSmallIntegerField(_("latest eligible vintage"))
    conversion = models.DecimalField(
        _("allowance per credit (t)"),
        max_digits=6,
        decimal_places=3,
        default=1,
        help_text=_("1 t of credits offsets this many tonnes of allowance."),
    )
    cap_basis = models.CharField(_("cap as a share of"), max_length=12, choices=CapBasis)
    cap_percent = models.DecimalField(_("cap (%)"), max_digits=5, decimal_places=2)
    window_opens = models.DateField(_("requests accepted from"))
    window_closes = models.DateField(_("requests accepted until"))

    class Meta:
        verbose_name = _("compliance policy")
        verbose_name_plural = _("compliance policies")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                name="policy_vintages_in_order", condition=Q(last_vintage__gte=models.F("first_vintage"))
            ),
            models.CheckConstraint(
                name="policy_window_in_order", condition=Q(window_closes__gte=models.F("window_opens"))
            ),
            models.CheckConstraint(
                name="policy_cap_is_a_share", condition=Q(cap_percent__gt=0) & Q(cap_percent__lte=100)
            ),
            models.CheckConstraint(name="policy_conversion_positive", condition=Q(conversion__gt=0)),
            models.CheckConstraint(name="policy_cap_basis_known", condition=Q(cap_basis__in=CapBasis.values)),
        ]

    def __str__(self) -> str:
        return str(self.year)


class ComplianceRecord(models.Model):
    """A covered emitter's compliance year: its verified emissions, allowance and the offsets it used."""

    organisation = models.ForeignKey(Organisation, models.PROTECT, related_name="compliance_records")
    year = models.PositiveSmallIntegerField(_("compliance year"))
    verified_emissions_t = models.PositiveBigIntegerField(_("verified emissions (t)"))
    allowance_t = models.PositiveBigIntegerField(_("allowance (t)"))
    # Kept by offsets.retirements under this row's lock: tonnes of allowance offset by confirmed
    # offsets, and reserved by offsets awaiting confirmation. verify_ledger recomputes both.
    offsets_used_t = models.DecimalField(_("offsets used (t)"), max_digits=15, decimal_places=3, default=0)
    offsets_pending_t = models.DecimalField(
        _("offsets awaiting confirmation (t)"), max_digits=15, decimal_places=3, default=0
    )

    class Meta:
        verbose_name = _("compliance record")
        verbose_name_plural = _("compliance records")
        ordering = ["-year", "organisation"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "year"], name="one_compliance_record_per_year"),
            models.CheckConstraint(
                name="offsets_never_negative",
                condition=Q(offsets_used_t__gte=0) & Q(offsets_pending_t__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.year}"


class Installation(models.Model):
    """A site or installation inside a covered emitter's compliance boundary."""

    organisation = models.ForeignKey(Organisation, models.PROTECT, related_name="installations")
    name = models.CharField(_("installation or site"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("installation")
        verbose_name_plural = _("installations")
        ordering = ["organisation", "name"]

    def __str__(self) -> str:
        return self.name


class BoundaryLink(models.Model):
    """A project that lies inside a covered emitter's boundary: its credits never offset that emitter."""

    project = models.OneToOneField("projects.Project", models.PROTECT, related_name="boundary_link")
    emitter = models.ForeignKey(Organisation, models.PROTECT, related_name="projects_in_boundary")
    installation = models.ForeignKey(Installation, models.PROTECT, null=True, blank=True, related_name="+")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    linked_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("project inside a boundary")
        verbose_name_plural = _("projects inside boundaries")

    def __str__(self) -> str:
        return f"{self.project_id} → {self.emitter_id}"


class CertificateKind(models.TextChoices):
    REGISTRATION = "registration", _("Registration certificate")
    RETIREMENT = "retirement", _("Retirement certificate")


class Certificate(models.Model):
    """A certificate (PDF). Its record is made with the registration; the file by a background job, once."""

    kind = models.CharField(max_length=20, choices=CertificateKind)
    number = models.CharField(_("certificate number"), max_length=30, unique=True)
    issuance = models.ForeignKey(Issuance, models.PROTECT, null=True, blank=True, related_name="certificates")
    retirement = models.OneToOneField(
        "Retirement", models.PROTECT, null=True, blank=True, related_name="certificate"
    )
    issued_at = models.DateTimeField()
    file = models.FileField(upload_to="certificates/%Y/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["number"]
        # The reconciliation asks every minute for the certificates still without their file
        # (offsets/reconcile.py): it reads those few, not the whole table.
        indexes = [models.Index(fields=["issued_at"], condition=Q(file=""), name="certificates_without_file")]
        constraints = [
            models.CheckConstraint(
                name="a_certificate_certifies_one_record",
                condition=(
                    Q(kind=CertificateKind.REGISTRATION, issuance__isnull=False, retirement__isnull=True)
                    | Q(kind=CertificateKind.RETIREMENT, issuance__isnull=True, retirement__isnull=False)
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Announcement(models.Model):
    """The public announcement (公告) of a registered phase."""

    phase = models.OneToOneField(IssuancePhase, models.PROTECT, related_name="announcement")
    number = models.CharField(max_length=30, unique=True)
    published_at = models.DateTimeField()
    pdf = models.FileField(upload_to="announcements/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")

    def __str__(self) -> str:
        return self.number
