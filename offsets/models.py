"""Issuance phases, public notices and objections; the ledger of serially numbered credits."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.models import Organisation


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
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)

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
        ordering = ["phase", "-version"]
        constraints = [models.UniqueConstraint(fields=["phase", "version"], name="notice_versions_unique")]

    def __str__(self) -> str:
        return f"{self.phase} v{self.version}"


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
    """An organisation's holding account."""

    organisation = models.OneToOneField(Organisation, models.PROTECT, related_name="account")
    number = models.CharField(_("account number"), max_length=30, unique=True)
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("holding account")
        verbose_name_plural = _("holding accounts")

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


class CertificateKind(models.TextChoices):
    REGISTRATION = "registration", _("Registration certificate")
    RETIREMENT = "retirement", _("Retirement certificate")


class Certificate(models.Model):
    """A certificate (PDF). Its record is made with the registration; the file by a background job, once."""

    kind = models.CharField(max_length=20, choices=CertificateKind)
    number = models.CharField(_("certificate number"), max_length=30, unique=True)
    issuance = models.ForeignKey(Issuance, models.PROTECT, null=True, blank=True, related_name="certificates")
    issued_at = models.DateTimeField()
    file = models.FileField(upload_to="certificates/%Y/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["number"]

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
