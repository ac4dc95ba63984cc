"""Residents' low-carbon behaviour (个人低碳行为): scenarios and their factors, platform operators' batches of
behaviour records, the records themselves (partitioned by day on PostgreSQL), their daily totals, the
platforms' monthly aggregation (平台归集) and the residents' personal carbon accounts (个人碳账户) in grams.

Quantities are integers: a record's quantity in thousandths of its unit, a factor in milligrams of CO2e per
unit, reductions in grams. docs/decisions/0017-behaviour-records.md gives the rules.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from registry.models import Organisation, OrganisationKind, User, in_reader_language

GRAMS_PER_TONNE = 1_000_000
# The app's PostgreSQL advisory locks, (class, key): a day's records (the day's ordinal; -1: making
# partitions), every month's close (0; closes credit many accounts, one at a time) and one month's close
# (the period's id: a copy of a close under way returns at once).
LOCK_DAYS = 0x42454841  # "BEHA"
LOCK_CLOSES = LOCK_DAYS + 1
LOCK_CLOSE = LOCK_DAYS + 2


class Category(models.TextChoices):
    TRAVEL = "travel", _("Green travel")
    CONSUMPTION = "consumption", _("Green consumption")


class Unit(models.TextChoices):
    PASSENGER_KM = "passenger_km", _("passenger-kilometre")
    KM = "km", _("kilometre")
    TRIP = "trip", _("trip")
    ORDER = "order", _("order")
    ITEM = "item", _("item")


class Scenario(models.Model):
    """A behaviour methodology's scenario: metro rides, shared-bicycle trips, orders without tableware."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60)
    category = models.CharField(_("category"), max_length=12, choices=Category)
    unit = models.CharField(_("unit"), max_length=12, choices=Unit)
    methodology = models.CharField(_("methodology"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("behaviour scenario")
        verbose_name_plural = _("behaviour scenarios")
        ordering = ["category", "code"]
        constraints = [
            models.CheckConstraint(name="scenario_unit_known", condition=Q(unit__in=Unit.values)),
            models.CheckConstraint(name="scenario_category_known", condition=Q(category__in=Category.values)),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return in_reader_language(self.name_zh, self.name_en)


class KeyField(models.CharField):
    """Text that is only ever compared for equality (a platform's record id, a person's key): compared byte by
    byte on PostgreSQL (collation "C"), not by the database's language rules (ADR 0020). SQLite compares
    bytes already."""

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class ScenarioFactorQuerySet(models.QuerySet):
    def valid_on(self, day):
        return self.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day), valid_from__lte=day)


class ScenarioFactor(models.Model):
    """A scenario's factor for a validity period, with its plausibility limits. Records are quantified with
    the factor valid on their day; a new period is a new row, so what was credited never changes."""

    scenario = models.ForeignKey(Scenario, models.PROTECT, related_name="factors", verbose_name=_("scenario"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    milligrams_per_unit = models.PositiveIntegerField(_("factor (mg CO2e per unit)"))
    max_quantity_milli = models.PositiveBigIntegerField(
        _("largest quantity of one record (thousandths of the unit)")
    )
    max_records_per_day = models.PositiveSmallIntegerField(
        _("most records of one person in a day"), validators=[MinValueValidator(1)]
    )
    source = models.CharField(_("source document"), max_length=300)
    is_demo_value = models.BooleanField(_("demo value"), default=False)

    objects = ScenarioFactorQuerySet.as_manager()

    class Meta:
        verbose_name = _("behaviour factor")
        verbose_name_plural = _("behaviour factors")
        ordering = ["scenario", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "valid_from"], name="one_factor_per_scenario_start"),
            models.CheckConstraint(name="behaviour_factor_positive", condition=Q(milligrams_per_unit__gt=0)),
            models.CheckConstraint(name="behaviour_limit_positive", condition=Q(max_quantity_milli__gt=0)),
            # A person makes at least one such record a day: with none, every record would be taken back.
            models.CheckConstraint(
                name="behaviour_day_limit_positive", condition=Q(max_records_per_day__gt=0)
            ),
            models.CheckConstraint(
                name="behaviour_factor_period_in_order",
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} {self.valid_from}: {self.grams_per_unit} g"

    @property
    def grams_per_unit(self) -> str:
        return f"{self.milligrams_per_unit / 1000:.3f}"

    @property
    def max_quantity(self) -> str:
        return f"{self.max_quantity_milli / 1000:g}"


class PlatformAgreement(models.Model):
    """What the bureau agreed with a platform operator: the scenarios it reports and its aggregation
    threshold (grams per person and calendar month; beyond it, the person's own account is credited)."""

    organisation = models.OneToOneField(
        Organisation,
        models.PROTECT,
        related_name="platform_agreement",
        limit_choices_to={"kind": OrganisationKind.PLATFORM_OPERATOR},
        verbose_name=_("platform operator"),
    )
    scenarios = models.ManyToManyField(Scenario, related_name="+", verbose_name=_("scenarios"))
    threshold_g = models.PositiveBigIntegerField(_("aggregation threshold (g per person and month)"))
    agreed_on = models.DateField(_("agreed"))

    class Meta:
        verbose_name = _("platform agreement")
        verbose_name_plural = _("platform agreements")

    def __str__(self) -> str:
        return str(self.organisation)


class ApiCredential(models.Model):
    """A platform's key to the reporting API. The secret is shown once, when issued; only its SHA-256 is
    kept (it is 256 random bits: no password hashing needed). Rotation: issue a second, move, revoke."""

    organisation = models.ForeignKey(
        Organisation, models.PROTECT, related_name="api_credentials", verbose_name=_("platform operator")
    )
    key_id = models.CharField(_("key"), max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    label = models.CharField(_("label"), max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("issued"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API credential")
        verbose_name_plural = _("API credentials")
        ordering = ["organisation", "-created_at"]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.label})"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class BatchFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    JSONL = "jsonl", _("JSON lines")


class BatchStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSING = "processing", _("Processing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BatchFailure(models.TextChoices):
    NOT_GZIP = "not_gzip", _("The file is not gzip-compressed, or it is cut off.")
    HEADER = "header", _("The first line is not the expected header.")
    TOO_LARGE = "too_large", _("The batch has more rows than one batch may have.")
    EMPTY = "empty", _("The batch has no rows.")


class BatchQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The bureau's reviewers see every platform's; a platform's members their own."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("projects.review_case"):
            return self
        return self.filter(platform__memberships__user=user)


class Batch(models.Model):
    """One file of behaviour records a platform sent: by the API or uploaded in the portal. Its id is the
    platform's: the same id sent again with the same content changes nothing."""

    platform = models.ForeignKey(
        Organisation, models.PROTECT, related_name="behaviour_batches", verbose_name=_("platform operator")
    )
    batch_id = models.CharField(_("batch id"), max_length=64)
    format = models.CharField(_("format"), max_length=8, choices=BatchFormat)
    status = models.CharField(_("status"), max_length=12, choices=BatchStatus, default=BatchStatus.RECEIVED)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes, compressed)"))
    rows = models.PositiveBigIntegerField(_("rows"), default=0)
    chunks = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    accepted = models.PositiveBigIntegerField(_("accepted"), default=0)
    rejected = models.PositiveBigIntegerField(_("rejected"), default=0)
    grams = models.PositiveBigIntegerField(_("reduction (g)"), default=0)
    file = models.FileField(upload_to="behaviour/batches/%Y/%m/", max_length=200)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The days its accepted-looking rows fall on: which months' reports name it.
    first_day = models.DateField(_("first day"), null=True, blank=True)
    last_day = models.DateField(_("last day"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    credential = models.ForeignKey(ApiCredential, models.PROTECT, null=True, blank=True, related_name="+")

    objects = BatchQuerySet.as_manager()

    class Meta:
        verbose_name = _("behaviour batch")
        verbose_name_plural = _("behaviour batches")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "batch_id"], name="one_batch_per_platform_id"),
            models.CheckConstraint(name="batch_status_known", condition=Q(status__in=BatchStatus.values)),
            models.CheckConstraint(name="batch_chunks_in_order", condition=Q(chunks_done__lte=F("chunks"))),
        ]
        indexes = [models.Index(fields=["platform", "-received_at", "-id"], name="batch_platform_recent_idx")]

    def __str__(self) -> str:
        return self.batch_id


class BatchChunk(models.Model):
    """A slice of a batch's rows, written when the batch is received, processed by one task in one
    transaction (any worker, on any machine that sees the media storage)."""

    batch = models.ForeignKey(Batch, models.CASCADE, related_name="chunk_rows")
    number = models.PositiveIntegerField()
    first_line = models.PositiveBigIntegerField()
    file = models.FileField(upload_to="behaviour/chunks/%Y/%m/", max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Deliveries of its task, counted before each: past BEHAVIOUR_CHUNK_ATTEMPTS the chunk is given up
    # (processing.give_up), its batch failed, and the reconciliation sends it no more.
    attempts = models.PositiveSmallIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("batch chunk")
        verbose_name_plural = _("batch chunks")
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="one_chunk_per_number")]
        indexes = [
            models.Index(fields=["created_at"], condition=Q(done_at__isnull=True), name="chunk_owed_idx")
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.number}"


class RejectReason(models.TextChoices):
    FIELDS = "fields", _("The row does not have the six fields of the format.")
    RECORD_ID = (
        "record_id",
        _("The record id is missing, longer than 64 characters or has control characters."),
    )
    PERSON = "person", _("The person is missing, longer than 64 characters or has control characters.")
    UNKNOWN_ACCOUNT = "unknown_account", _("No personal carbon account has this number.")
    SCENARIO = "scenario", _("The scenario is unknown or not agreed with this platform.")
    TIME = (
        "time",
        _(
            "A time is not an ISO 8601 date and time with its UTC offset (at most ±14:00), or it ends before "
            "it starts."
        ),
    )
    FUTURE = "future", _("The behaviour is in the future.")
    TOO_OLD = "too_old", _("The behaviour is older than the reporting window.")
    PERIOD_CLOSED = "period_closed", _("The platform's aggregation for that month is closed.")
    NO_FACTOR = "no_factor", _("No factor of the scenario is valid on that day.")
    QUANTITY = "quantity", _("The quantity is not a positive number with at most three decimals.")
    IMPLAUSIBLE = "implausible", _("The quantity is larger than one record of the scenario can be.")
    TOO_MANY = (
        "too_many",
        _("More records of the scenario for the person on that day than a person can make."),
    )
    REPEATED = "repeated", _("The record id appears earlier in the same batch.")
    DUPLICATE = "duplicate", _("The platform has already reported this record.")
    OTHER_PLATFORM = (
        "other_platform",
        _(
            "Another platform has already reported the same behaviour (same person and scenario, overlapping "
            "time)."
        ),
    )


class RejectedRow(models.Model):
    # No index of its own: the unique constraint (batch, line) starts with it.
    batch = models.ForeignKey(Batch, models.CASCADE, related_name="rejected_rows", db_index=False)
    line = models.PositiveBigIntegerField(_("line"))
    record_id = models.CharField(_("record id"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=RejectReason)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        constraints = [models.UniqueConstraint(fields=["batch", "line"], name="one_rejection_per_line")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line} {self.reason}"


class PersonalAccountQuerySet(models.QuerySet):
    def owned_by(self, user):
        """The one door to accounts: a person reaches only their own; anyone else, none."""
        return self.filter(user=user) if user.is_authenticated else self.none()


class PersonalAccount(models.Model):
    """A resident's personal carbon account: grams, not serial credits. The identity number is kept only as
    a keyed hash (one account per person) and a masked display."""

    number = models.CharField(_("account number"), max_length=12, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="personal_account", verbose_name=_("user")
    )
    identity_hash = models.CharField(max_length=64, unique=True)
    identity_masked = models.CharField(_("identity number"), max_length=18)
    balance_g = models.BigIntegerField(_("balance (g)"), default=0)
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)

    objects = PersonalAccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("personal carbon account")
        verbose_name_plural = _("personal carbon accounts")
        constraints = [
            models.CheckConstraint(name="personal_balance_not_negative", condition=Q(balance_g__gte=0))
        ]

    def __str__(self) -> str:
        return self.number


def account_key(number: str) -> str:
    """A personal carbon account's person key in the records and the persons' daily totals: the same on every
    platform, which is what lets the cross-platform rule find one person's records."""
    return "A" + number


def pseudonym_key(pseudonym: str) -> str:
    """A platform's pseudonym's person key: never equal to an account's, never matched across platforms."""
    return "P" + pseudonym


class BehaviourRecord(models.Model):
    """One behaviour a platform reported and the registry accepted, quantified. On PostgreSQL the table is
    partitioned by day (migration 0002; offsets.behaviour.partitions keeps the partitions); its key is the
    day, the platform and the platform's record id, which is what makes a record accepted once."""

    pk = models.CompositePrimaryKey("day", "platform_id", "record_id")
    day = models.DateField()
    platform = models.ForeignKey(Organisation, models.DO_NOTHING, related_name="+", db_constraint=False)
    record_id = KeyField(max_length=64)
    batch = models.ForeignKey(Batch, models.DO_NOTHING, related_name="+", db_constraint=False)
    account = models.ForeignKey(
        PersonalAccount, models.DO_NOTHING, null=True, related_name="+", db_constraint=False
    )
    person = KeyField(max_length=65)  # "A" + account number, or "P" + the platform's pseudonym
    scenario = models.ForeignKey(Scenario, models.DO_NOTHING, related_name="+", db_constraint=False)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    quantity_milli = models.BigIntegerField()
    grams = models.BigIntegerField()

    class Meta:
        verbose_name = _("behaviour record")
        verbose_name_plural = _("behaviour records")
        indexes = [
            # A person's day as a platform reported it, for the `too_many` check's count: the persons' daily
            # totals while the day is open (ADR 0021). It answers the cross-platform rule's question too (an
            # account holder's key is the same on every platform) and a resident's page (ADR 0023). The
            # person first: with the platform and day first, the planner, blind to a day's partition filled
            # since its last ANALYZE, took it for the duplicate check's probe, and read the platform's whole
            # day for each row.
            models.Index(fields=["person", "scenario", "platform", "day"], name="record_person_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.platform_id} {self.record_id}"


class PersonDay(models.Model):
    """A person's accepted records and grams of one scenario on one day, as one platform reported them, for
    the days summed already (`SummedDay`): a day is summed from its records once, when no record can be
    reported for it any more; until then the records themselves are its totals (ADR 0021, `totals.py`)."""

    day = models.DateField(_("day"))
    # Without their own indexes: the unique constraint below starts with the platform, and the account's
    # partial index serves every question about an account (a day's sum writes millions of them: each
    # index more is paid that often). Without the database's foreign
    # keys too, as the records: only a day's sum (totals.py) writes these rows, from the records' ids, and a
    # foreign key's check per row and key cost more than the row itself (ADR 0019). PROTECT still
    # stands in Django.
    platform = models.ForeignKey(
        Organisation, models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    scenario = models.ForeignKey(
        Scenario,
        models.PROTECT,
        related_name="+",
        verbose_name=_("scenario"),
        db_index=False,
        db_constraint=False,
    )
    person = KeyField(max_length=65)
    account = models.ForeignKey(
        PersonalAccount, models.PROTECT, null=True, related_name="days", db_index=False, db_constraint=False
    )
    records = models.PositiveIntegerField(_("records"))
    grams = models.PositiveBigIntegerField(_("reduction (g)"))

    class Meta:
        verbose_name = _("person's daily total")
        verbose_name_plural = _("persons' daily totals")
        constraints = [
            # Platform and day first: it is also the index of a month's close (a platform's days).
            models.UniqueConstraint(
                fields=["platform", "day", "scenario", "person"], name="one_total_per_person_day"
            )
        ]
        indexes = [
            models.Index(
                fields=["account", "-day"], condition=Q(account__isnull=False), name="personday_account_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.person} {self.grams} g"


class SummedDay(models.Model):
    """A day whose records were summed into the persons' daily totals (`PersonDay`), after its reporting
    window closed; the days are summed in order, so the latest of them divides the stored totals from the
    records' (ADR 0021)."""

    day = models.DateField(_("day"), primary_key=True)
    summed_at = models.DateTimeField(_("summed"), auto_now_add=True)
    person_days = models.PositiveBigIntegerField(_("persons' daily totals"))

    class Meta:
        verbose_name = _("summed day")
        verbose_name_plural = _("summed days")

    def __str__(self) -> str:
        return str(self.day)


class ScenarioDay(models.Model):
    """The public aggregate: a platform's accepted records and grams of one scenario on one day."""

    day = models.DateField(_("day"))
    platform = models.ForeignKey(Organisation, models.PROTECT, related_name="+")
    scenario = models.ForeignKey(Scenario, models.PROTECT, related_name="+")
    records = models.PositiveBigIntegerField(_("records"))
    grams = models.PositiveBigIntegerField(_("reduction (g)"))

    class Meta:
        verbose_name = _("scenario's daily total")
        verbose_name_plural = _("scenarios' daily totals")
        constraints = [
            models.UniqueConstraint(fields=["day", "platform", "scenario"], name="one_total_per_scenario_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.platform_id} {self.scenario_id} {self.grams} g"


class PeriodStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSING = "closing", _("Being closed")
    CLOSED = "closed", _("Closed and declared")


class AggregationPeriod(models.Model):
    """A platform's calendar month of aggregation. Closing it splits each person's grams by the threshold
    (the platform's share, the person's own account's excess), and files the platform's whole tonnes as a
    declaration; the remainder below a tonne carries to the next month. A platform's declarant asks for the
    close; a worker then does it (it reads the whole month's records: minutes at a city's scale, ADR 0022)."""

    platform = models.ForeignKey(Organisation, models.PROTECT, related_name="aggregation_periods")
    month = models.DateField(_("month"))  # its first day
    status = models.CharField(_("status"), max_length=8, choices=PeriodStatus, default=PeriodStatus.OPEN)
    persons = models.PositiveIntegerField(_("persons"), default=0)
    total_g = models.PositiveBigIntegerField(_("reported (g)"), default=0)
    platform_g = models.PositiveBigIntegerField(_("aggregated by the platform (g)"), default=0)
    personal_g = models.PositiveBigIntegerField(_("credited to personal accounts (g)"), default=0)
    unassigned_g = models.PositiveBigIntegerField(
        _("beyond the threshold, no personal account (g)"), default=0
    )
    carried_in_g = models.PositiveBigIntegerField(_("carried from the month before (g)"), default=0)
    carried_out_g = models.PositiveBigIntegerField(_("carried to the next month (g)"), default=0)
    declared_t = models.PositiveIntegerField(_("declared (t)"), default=0)
    threshold_g = models.PositiveBigIntegerField(_("threshold (g per person)"), default=0)
    declaration = models.OneToOneField(
        "projects.Declaration", models.PROTECT, null=True, blank=True, related_name="aggregation"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    close_requested_by = models.ForeignKey(
        User, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("close asked for by")
    )
    close_requested_at = models.DateTimeField(_("close asked for"), null=True, blank=True)
    # Why the last close asked for could not be done (the month is open again); empty once one is done.
    close_problem = models.TextField(_("why the last close failed"), blank=True)

    class Meta:
        verbose_name = _("aggregation period")
        verbose_name_plural = _("aggregation periods")
        ordering = ["platform", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "month"], name="one_period_per_platform_month"),
            models.CheckConstraint(name="period_status_known", condition=Q(status__in=PeriodStatus.values)),
            models.CheckConstraint(
                name="period_split_adds_up",
                condition=Q(total_g=F("platform_g") + F("personal_g") + F("unassigned_g")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.month:%Y-%m}"


class GramEntryKind(models.TextChoices):
    AGGREGATION = "aggregation", _("Beyond the platform's threshold")
    DONATION = "donation", _("Donation")


class GramEntry(models.Model):
    """A movement of a personal account's grams: credited at a platform's period close, donated."""

    account = models.ForeignKey(PersonalAccount, models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=12, choices=GramEntryKind)
    grams = models.BigIntegerField(_("grams"))
    period = models.ForeignKey(AggregationPeriod, models.PROTECT, null=True, blank=True, related_name="+")
    donation = models.OneToOneField("Donation", models.PROTECT, null=True, blank=True, related_name="entry")
    created_at = models.DateTimeField(_("date"), auto_now_add=True)

    class Meta:
        verbose_name = _("personal account entry")
        verbose_name_plural = _("personal account entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period"], name="one_credit_per_period"),
            models.CheckConstraint(name="gram_entry_not_zero", condition=~Q(grams=0)),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.grams:+} g"


class DonationEvent(models.Model):
    """An event the bureau lists for residents' donations of grams (a marathon's carbon neutrality)."""

    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    opens_on = models.DateField(_("open from"))
    closes_on = models.DateField(_("open until"))
    target_g = models.PositiveBigIntegerField(_("target (g)"))
    donated_g = models.PositiveBigIntegerField(_("donated (g)"), default=0)

    class Meta:
        verbose_name = _("donation event")
        verbose_name_plural = _("donation events")
        ordering = ["-opens_on"]
        constraints = [
            models.CheckConstraint(name="event_dates_in_order", condition=Q(closes_on__gte=F("opens_on")))
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return in_reader_language(self.name_zh, self.name_en)

    @property
    def description(self) -> str:
        english = (get_language() or "").startswith("en")
        return self.description_en if english and self.description_en else self.description_zh


class Donation(models.Model):
    """Grams a resident gave to an event, with its electronic certificate (WHCER-D-<year>-…)."""

    number = models.CharField(_("certificate number"), max_length=24, unique=True)
    account = models.ForeignKey(PersonalAccount, models.PROTECT, related_name="donations")
    event = models.ForeignKey(
        DonationEvent, models.PROTECT, related_name="donations", verbose_name=_("event")
    )
    grams = models.PositiveBigIntegerField(_("grams"))
    donated_at = models.DateTimeField(_("donated"), auto_now_add=True)
    file = models.FileField(upload_to="donations/%Y/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("donation")
        verbose_name_plural = _("donations")
        ordering = ["-donated_at", "-id"]
        constraints = [models.CheckConstraint(name="donation_positive", condition=Q(grams__gt=0))]

    def __str__(self) -> str:
        return self.number
