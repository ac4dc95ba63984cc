from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from registry.models import District, DocumentType, Organisation, OrganisationKind


class Stage(models.TextChoices):
    DRAFT = "draft", _("Draft")
    INTAKE = "intake", _("Intake")
    TECHNICAL = "technical", _("Technical review")
    EXPERT = "expert", _("Expert review")
    APPROVAL = "approval", _("Approval")
    RETURNED = "returned", _("Returned for revision")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", pgettext_lazy("case stage", "Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# Stages in which the applicant may still edit the case and its documents.
EDITABLE_STAGES = (Stage.DRAFT, Stage.RETURNED)
# Stages in which the bureau has the case and a deadline runs.
REVIEW_STAGES = (Stage.INTAKE, Stage.TECHNICAL, Stage.EXPERT, Stage.APPROVAL)
# The public registry's rows (offsets.public.filed_projects), as its partial indexes' condition.
FILED = Q(stage=Stage.APPROVED, code__isnull=False)
# Stages of a case that no longer counts: its meters and periods are free for another case.
DEAD_STAGES = (Stage.REJECTED, Stage.WITHDRAWN)


class ReviewCase(models.Model):
    """What projects and declarations share: the staged review, written once (projects.workflow)."""

    stage = models.CharField(_("stage"), max_length=20, choices=Stage, default=Stage.DRAFT, db_index=True)
    # The stage that returned the case: resubmission goes back to it.
    returned_from = models.CharField(max_length=20, choices=Stage, blank=True)
    technical_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField(_("due"), null=True, blank=True)
    # The working days that were left when the case was returned: the clock stops while the applicant
    # revises, and resumes with these on resubmission.
    days_left_when_returned = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_editable(self) -> bool:
        return self.stage in EDITABLE_STAGES

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return (
            self.due_date is not None and self.stage in REVIEW_STAGES and self.due_date < timezone.localdate()
        )

    @property
    def kind(self) -> str:
        """The model's name, "project" or "declaration": also the field by which its records point at it."""
        return self._meta.model_name

    @property
    def is_project(self) -> bool:
        return self.kind == "project"

    @property
    def is_declaration(self) -> bool:
        return self.kind == "declaration"


class CaseQuerySet(models.QuerySet):
    organisation_path = "organisation"

    def visible_to(self, user):
        """The one door views use: bureau reviewers see every case, members see their organisation's."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("projects.review_case"):
            return self
        return self.filter(**{f"{self.organisation_path}__memberships__user": user})

    def live(self):
        return self.exclude(stage__in=DEAD_STAGES)


class Project(ReviewCase):
    """A project of one organisation under one methodology; filed (public code) once approved."""

    organisation = models.ForeignKey(
        Organisation, models.PROTECT, related_name="projects", verbose_name=_("organisation")
    )
    methodology = models.ForeignKey(
        "registry.Methodology", models.PROTECT, related_name="projects", verbose_name=_("methodology")
    )
    code = models.CharField(_("project code"), max_length=20, unique=True, null=True, blank=True)
    title = models.CharField(_("title"), max_length=200)
    site_address = models.CharField(_("site address"), max_length=300)
    district = models.CharField(_("district"), max_length=30, choices=District)
    latitude = models.DecimalField(_("latitude"), max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=8, decimal_places=5, null=True, blank=True)
    capacity_kw = models.DecimalField(
        _("installed capacity (kW)"), max_digits=10, decimal_places=1, null=True, blank=True
    )
    commissioning_date = models.DateField(_("commissioning date"), null=True, blank=True)
    crediting_start = models.DateField(_("crediting period from"))
    crediting_end = models.DateField(_("crediting period until"))
    description = models.TextField(_("description"), blank=True)
    not_registered_elsewhere = models.BooleanField(
        _("The project is registered in no other scheme (CCER, VCS, another city's carbon inclusion)."),
        default=False,
    )
    outside_covered_boundary = models.BooleanField(
        _("The project lies inside no covered emitter's compliance boundary."), default=False
    )
    filed_at = models.DateTimeField(_("filed"), null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stage", "due_date", "id"], name="project_queue_due_idx"),
            models.Index(fields=["stage", "submitted_at", "id"], name="project_submitted_idx"),
            models.Index(
                fields=["due_date", "id"], condition=Q(stage__in=REVIEW_STAGES), name="project_review_due_idx"
            ),
            # The public registry's two orders (offsets.views.REGISTRY_SORTS), key-paged on (field, id).
            models.Index(fields=["code", "id"], condition=FILED, name="project_filed_code_idx"),
            models.Index(fields=["filed_at", "id"], condition=FILED, name="project_filed_at_idx"),
        ]
        permissions = [
            ("review_case", _("Can see every project and declaration")),
            ("act_intake", _("Can accept or return cases at intake")),
            ("act_technical", _("Can review cases technically")),
            ("act_expert", _("Can record expert opinions")),
            ("act_approval", _("Can approve or reject cases")),
        ]
        constraints = [
            models.CheckConstraint(name="project_stage_known", condition=Q(stage__in=Stage.values)),
            models.CheckConstraint(
                name="project_crediting_period_in_order",
                condition=Q(crediting_end__gte=models.F("crediting_start")),
            ),
            models.CheckConstraint(
                name="filed_projects_have_a_code", condition=~Q(stage=Stage.APPROVED) | Q(code__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}" if self.code else self.title

    def get_absolute_url(self) -> str:
        return reverse("projects:project", args=[self.pk])

    @property
    def project(self) -> "Project":
        """The project a case is about: a declaration's project, or, here, the project itself."""
        return self

    @property
    def is_filed(self) -> bool:
        return self.stage == Stage.APPROVED

    @property
    def status_label(self) -> str:
        return _("Filed") if self.is_filed else self.get_stage_display()


class GridConnectionPoint(models.Model):
    """A metered grid-connection point. A meter belongs to one live project only (no double counting)."""

    project = models.ForeignKey(Project, models.CASCADE, related_name="connection_points")
    meter_number = models.CharField(_("meter number"), max_length=40)
    capacity_kw = models.DecimalField(_("capacity (kW)"), max_digits=10, decimal_places=1)
    # Mirrors "the project is live" (not rejected or withdrawn), kept by the workflow, so that the
    # database itself can refuse a second live claim on one meter.
    live = models.BooleanField(default=True, editable=False)

    class Meta:
        verbose_name = _("grid-connection point")
        verbose_name_plural = _("grid-connection points")
        constraints = [
            models.UniqueConstraint(
                fields=["meter_number"], condition=Q(live=True), name="a_meter_belongs_to_one_live_project"
            ),
            models.CheckConstraint(name="connection_point_capacity_positive", condition=Q(capacity_kw__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.meter_number} ({self.capacity_kw} kW)"


class DeclarationQuerySet(CaseQuerySet):
    organisation_path = "project__organisation"

    def visible_to(self, user):
        """Reviewers see all; members their organisation's; a verification body the ones assigned to it."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("projects.review_case"):
            return self
        return self.filter(
            Q(project__organisation__memberships__user=user) | Q(verification_body__memberships__user=user)
        ).distinct()


class Declaration(ReviewCase):
    """A claim of the reductions of one project for one monitoring period within one calendar year."""

    project = models.ForeignKey(
        Project, models.PROTECT, related_name="declarations", verbose_name=_("project")
    )
    period_start = models.DateField(_("monitoring period from"))
    period_end = models.DateField(_("monitoring period until"))
    vintage = models.PositiveSmallIntegerField(_("vintage"), editable=False)
    verification_body = models.ForeignKey(
        Organisation,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_declarations",
        limit_choices_to={"kind": OrganisationKind.VERIFICATION_BODY},
        verbose_name=_("verification body"),
    )
    # The calculation as last made, with the factor it used: stored, never looked up again later.
    activity_mwh = models.DecimalField(
        _("activity (MWh)"), max_digits=14, decimal_places=3, null=True, blank=True
    )
    factor = models.ForeignKey(
        "registry.GridEmissionFactor", models.PROTECT, null=True, blank=True, related_name="+"
    )
    factor_value = models.DecimalField(
        _("grid emission factor"), max_digits=6, decimal_places=4, null=True, blank=True
    )
    factor_year = models.PositiveSmallIntegerField(_("factor year"), null=True, blank=True)
    claimed_t = models.PositiveIntegerField(_("claimed (t)"), default=0)
    verified_t = models.PositiveIntegerField(_("verified (t)"), null=True, blank=True)

    objects = DeclarationQuerySet.as_manager()

    class Meta:
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stage", "due_date", "id"], name="declaration_due_idx"),
            models.Index(fields=["stage", "submitted_at", "id"], name="declaration_submitted_idx"),
            models.Index(fields=["stage", "claimed_t", "id"], name="declaration_claimed_idx"),
            # The overdue and "mine" queues span the four review stages: partial indexes give them due order.
            models.Index(
                fields=["due_date", "id"],
                condition=Q(stage__in=REVIEW_STAGES),
                name="declaration_review_due_idx",
            ),
            models.Index(
                fields=["assignee", "due_date", "id"],
                condition=Q(stage__in=REVIEW_STAGES),
                name="declaration_mine_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(name="declaration_stage_known", condition=Q(stage__in=Stage.values)),
            models.CheckConstraint(
                name="monitoring_period_in_order", condition=Q(period_end__gte=models.F("period_start"))
            ),
            models.CheckConstraint(
                name="verified_never_above_claim",
                condition=Q(verified_t__isnull=True) | Q(verified_t__lte=models.F("claimed_t")),
            ),
            # On PostgreSQL also: periods of one project never overlap, dead declarations aside (an
            # exclusion constraint added by migration 0002; the service checks the same rule).
        ]

    def __str__(self) -> str:
        return _("%(project)s, %(start)s to %(end)s") % {
            "project": self.project.code or self.project.title,
            "start": self.period_start.isoformat(),
            "end": self.period_end.isoformat(),
        }

    def save(self, *args, **kwargs):
        self.vintage = self.period_start.year
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("projects:declaration", args=[self.pk])

    @property
    def organisation(self) -> Organisation:
        """The applicant: the organisation of the declaration's project, as `project.organisation` is."""
        return self.project.organisation

    @property
    def factor_note(self) -> str:
        """In the reader's language: that the factor used is not its vintage's own, and whose it is."""
        if self.factor_year is None or self.factor_year == self.vintage:
            return ""
        message = gettext(
            "No factor is published for %(vintage)s yet; the latest published one, of %(year)s, is used."
        )
        return message % {
            "vintage": self.vintage,
            "year": self.factor_year,
        }


class MonitoringEntry(models.Model):
    """One figure of a declaration's monitoring data: a month's MWh, or the period's single figure."""

    declaration = models.ForeignKey(Declaration, models.CASCADE, related_name="entries")
    month = models.DateField(_("month"), null=True, blank=True)
    value_mwh = models.DecimalField(_("MWh"), max_digits=12, decimal_places=3)

    class Meta:
        verbose_name = _("monitoring entry")
        verbose_name_plural = _("monitoring entries")
        ordering = ["month"]
        constraints = [
            models.UniqueConstraint(fields=["declaration", "month"], name="one_entry_per_month"),
            models.CheckConstraint(name="monitoring_value_not_negative", condition=Q(value_mwh__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.value_mwh}" if self.month else str(self.value_mwh)


class Document(models.Model):
    """One version of an uploaded document of a project or a declaration. A new upload is a new version."""

    project = models.ForeignKey(Project, models.PROTECT, null=True, blank=True, related_name="documents")
    declaration = models.ForeignKey(
        Declaration, models.PROTECT, null=True, blank=True, related_name="documents"
    )
    doc_type = models.CharField(_("document type"), max_length=40, choices=DocumentType)
    version = models.PositiveIntegerField(_("version"))
    file = models.FileField(upload_to="documents/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["doc_type", "-version"]
        constraints = [
            models.CheckConstraint(
                name="document_belongs_to_exactly_one_case",
                condition=Q(project__isnull=False, declaration__isnull=True)
                | Q(project__isnull=True, declaration__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["project", "doc_type", "version"], name="project_document_version_unique"
            ),
            models.UniqueConstraint(
                fields=["declaration", "doc_type", "version"], name="declaration_document_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_doc_type_display()} v{self.version}"

    @property
    def case(self):
        return self.project or self.declaration


class CaseRecord(models.Model):
    """Something kept about one case (a project or a declaration): exactly one of the two is set."""

    project = models.ForeignKey(Project, models.CASCADE, null=True, blank=True, related_name="%(class)ss")
    declaration = models.ForeignKey(
        Declaration, models.CASCADE, null=True, blank=True, related_name="%(class)ss"
    )

    class Meta:
        abstract = True

    @property
    def case(self):
        return self.project or self.declaration

    @staticmethod
    def of(case) -> dict:
        """Filter or create keywords for the records of a case."""
        return {case.kind: case}


def _one_case(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        name=name,
        condition=Q(project__isnull=False, declaration__isnull=True)
        | Q(project__isnull=True, declaration__isnull=False),
    )


class Finding(CaseRecord):
    """A numbered finding of one review round, and the applicant's answer to it."""

    round = models.PositiveSmallIntegerField(_("round"))
    number = models.PositiveSmallIntegerField(_("number"))
    stage = models.CharField(_("stage"), max_length=20, choices=Stage)
    text = models.TextField(_("finding"))
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(auto_now_add=True)
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["round", "number"]
        constraints = [
            _one_case("finding_belongs_to_exactly_one_case"),
            models.UniqueConstraint(
                fields=["project", "round", "number"], name="project_finding_numbers_unique"
            ),
            models.UniqueConstraint(
                fields=["declaration", "round", "number"], name="declaration_finding_numbers_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.round}.{self.number}"


class ExpertOpinion(CaseRecord):
    """An opinion asked of an expert by the technical reviewer; experts advise, they decide nothing."""

    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("expert")
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    question = models.TextField(_("question"), blank=True)
    opinion = models.TextField(_("opinion"), blank=True)
    given_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("expert opinion")
        verbose_name_plural = _("expert opinions")
        ordering = ["requested_at"]
        constraints = [_one_case("opinion_belongs_to_exactly_one_case")]

    def __str__(self) -> str:
        return f"{self.expert} · {self.case}"


class Conflict(CaseRecord):
    """A reviewer's or expert's declared conflict of interest: never assigned to the case again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="conflicts")
    reason = models.TextField(_("reason"))
    declared_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("conflict of interest")
        verbose_name_plural = _("conflicts of interest")
        constraints = [
            _one_case("conflict_belongs_to_exactly_one_case"),
            models.UniqueConstraint(fields=["project", "user"], name="one_conflict_per_project_and_user"),
            models.UniqueConstraint(
                fields=["declaration", "user"], name="one_conflict_per_declaration_and_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.case}"


class LetterKind(models.TextChoices):
    ACCEPTANCE = "acceptance", _("Notice of acceptance")
    RETURN = "return", _("Notice of return for revision")
    APPROVAL = "approval", _("Notice of approval")
    REJECTION = "rejection", _("Notice of rejection")


class Letter(CaseRecord):
    """A formal letter of the bureau (PDF, bilingual, numbered), made once per deciding event."""

    kind = models.CharField(_("letter"), max_length=20, choices=LetterKind)
    number = models.CharField(_("number"), max_length=30, unique=True)
    event = models.OneToOneField("registry.AuditEvent", models.PROTECT, related_name="letter")
    file = models.FileField(upload_to="letters/%Y/")
    sha256 = models.CharField("SHA-256", max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("letter")
        verbose_name_plural = _("letters")
        ordering = ["-created_at"]
        constraints = [_one_case("letter_belongs_to_exactly_one_case")]

    def __str__(self) -> str:
        return f"{self.number} {self.get_kind_display()}"


class Reminder(CaseRecord):
    """That the overdue reminder of a case went out on a day: one per case, stage and day."""

    stage = models.CharField(max_length=20, choices=Stage)
    sent_on = models.DateField()

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            _one_case("reminder_belongs_to_exactly_one_case"),
            models.UniqueConstraint(
                fields=["project", "stage", "sent_on"], name="one_project_reminder_a_day"
            ),
            models.UniqueConstraint(
                fields=["declaration", "stage", "sent_on"], name="one_declaration_reminder_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} {self.sent_on}"
