"""Every write of the behaviour app that matters, one function each: a platform's API credentials and
agreement (the registry administrator), a platform's period close and declaration (the platform), a
resident's personal account and donations (the resident). Receiving and processing batches: batches.py
and processing.py.

    credential:  issued ──revoke──▶ revoked
    period:      open ──close_period──▶ closing ──settle_period (a worker)──▶ closed (the threshold split;
                 whole tonnes declared, the rest carried), or ──▶ open again with the reason it could not be
    account:     open_personal_account; donate (grams out, a certificate)
"""

import csv
import hashlib
import hmac
import io
import secrets
from calendar import monthrange
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from offsets.behaviour import totals
from offsets.behaviour.accounts import identity_hash, make_account_number, mask_identity
from offsets.behaviour.models import (
    GRAMS_PER_TONNE,
    LOCK_CLOSE,
    LOCK_CLOSES,
    AggregationPeriod,
    ApiCredential,
    BatchStatus,
    Donation,
    DonationEvent,
    GramEntry,
    GramEntryKind,
    PeriodStatus,
    PersonalAccount,
    PlatformAgreement,
    account_key,
)
from projects.models import Declaration, Project
from registry import access, audit, counters, identifiers
from registry.models import DocumentType, Organisation, OrganisationKind, OrganisationStatus, User
from registry.transitions import TransitionRefused, notify_after_commit

TOKEN_PREFIX = "whb"  # noqa: S105 (the tokens' prefix, not a secret)
AGGREGATION_METHODOLOGY = "PA"  # the methodology of platforms' aggregation projects (registry demo data)


# --- Platforms: credentials and agreement (the registry administrator) --------------------------------


def _require_registry_admin(by: User) -> None:
    if not access.may_verify_organisations(by):
        raise PermissionDenied(_("Only the registry administrator may do this."))


def _require_platform(organisation: Organisation) -> None:
    if organisation.kind != OrganisationKind.PLATFORM_OPERATOR:
        raise TransitionRefused(
            _("%(organisation)s is not a platform operator.") % {"organisation": organisation}
        )
    if organisation.status != OrganisationStatus.VERIFIED:
        raise TransitionRefused(_("%(organisation)s is not verified.") % {"organisation": organisation})


@transaction.atomic
def issue_credential(
    platform: Organisation, *, by: User, label: str, known: tuple[str, str] | None = None
) -> tuple[ApiCredential, str]:
    """A new API key for the platform; returns it and the token, shown once. The platform's other keys stay
    valid, so a key is rotated without downtime: issue, move the clients, revoke the old one. `known` (key,
    secret) is for the embedded demo's published key only."""
    _require_registry_admin(by)
    platform = Organisation.objects.select_for_update().get(pk=platform.pk)
    _require_platform(platform)
    label = (label or "").strip()[:100]
    if not label:
        raise ValidationError(_("Give the key a label (where it is used)."))
    key_id, secret = known or (secrets.token_hex(6), secrets.token_urlsafe(32))
    credential = ApiCredential.objects.create(
        organisation=platform, key_id=key_id, secret_sha256=_sha256(secret), label=label, created_by=by
    )
    audit.record(
        actor=by,
        action="platform.credential_issued",
        subject=platform,
        after={"key": key_id, "label": label},
    )
    return credential, f"{TOKEN_PREFIX}_{key_id}_{secret}"


@transaction.atomic
def revoke_credential(credential: ApiCredential, *, by: User) -> ApiCredential:
    _require_registry_admin(by)
    locked = ApiCredential.objects.select_for_update().get(pk=credential.pk)
    if locked.revoked_at is not None:
        raise TransitionRefused(_("This key is revoked already."))
    locked.revoked_at, locked.revoked_by = timezone.now(), by
    locked.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(
        actor=by,
        action="platform.credential_revoked",
        subject=locked.organisation,
        after={"key": locked.key_id, "label": locked.label},
    )
    return locked


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_for(token: str) -> ApiCredential | None:
    """The live credential the bearer token is, or None. Compared in constant time."""
    prefix, _sep, rest = (token or "").partition("_")
    key_id, _sep, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(key_id) != 12 or not secret or len(secret) > 100:
        return None
    credential = (
        ApiCredential.objects.select_related("organisation").filter(key_id=key_id, revoked_at=None).first()
    )
    if credential is None or not hmac.compare_digest(credential.secret_sha256, _sha256(secret)):
        return None
    if credential.organisation.status != OrganisationStatus.VERIFIED:
        return None
    now = timezone.now()
    if credential.last_used_at is None or now - credential.last_used_at > timedelta(minutes=1):
        ApiCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
    return credential


@transaction.atomic
def set_agreement(platform: Organisation, *, by: User, threshold_g: int, scenarios, agreed_on: date):
    """What the bureau agreed with the platform: its scenarios and its threshold per person and month."""
    _require_registry_admin(by)
    platform = Organisation.objects.select_for_update().get(pk=platform.pk)
    _require_platform(platform)
    if threshold_g is None or threshold_g < 0:
        raise ValidationError(_("The threshold is a whole number of grams, zero or more."))
    agreement, _created = PlatformAgreement.objects.update_or_create(
        organisation=platform, defaults={"threshold_g": threshold_g, "agreed_on": agreed_on}
    )
    agreement.scenarios.set(scenarios)
    audit.record(
        actor=by,
        action="platform.agreement_set",
        subject=platform,
        after={
            "threshold_g": threshold_g,
            "scenarios": sorted(s.code for s in scenarios),
            "agreed_on": agreed_on.isoformat(),
        },
    )
    return agreement


# --- A platform's month: the threshold split and the declaration ------------------------------------------


def month_end(month: date) -> date:
    return month.replace(day=monthrange(month.year, month.month)[1])


def aggregation_project(platform: Organisation) -> Project | None:
    """The platform's filed aggregation project, under which its months are declared."""
    return (
        Project.objects.filter(
            organisation=platform, methodology__code=AGGREGATION_METHODOLOGY, code__isnull=False
        )
        .order_by("pk")
        .first()
    )


# The platform's persons' daily totals of the month (totals.py: summed days and records alike), summed per
# person once into a temporary table: the split and the personal accounts' entries both read it, so the
# month's records (100 M and more at a city's scale) are read once. A person with an account is one key
# ("A" + the account number), so a person's total with an account is that account's.
MONTH_DAYS = totals.person_days_sql("platform_id = %(platform)s AND day >= %(first)s AND day <= %(last)s")
MONTH_PERSONS = [
    "DROP TABLE IF EXISTS month_persons",
    "CREATE TEMP TABLE month_persons (person varchar(65), account_id bigint, total bigint)",
    f"""INSERT INTO month_persons (person, account_id, total)
    SELECT person, MAX(account_id), SUM(grams) FROM ({MONTH_DAYS}) month_days GROUP BY person""",  # noqa: S608
]
SPLIT = """
    SELECT COUNT(*), COALESCE(SUM(total), 0),
           COALESCE(SUM(CASE WHEN total > %(t)s THEN %(t)s ELSE total END), 0),
           COALESCE(SUM(CASE WHEN total > %(t)s AND account_id IS NOT NULL THEN total - %(t)s ELSE 0 END), 0)
    FROM month_persons
"""
CREDIT_ENTRIES = """
    INSERT INTO behaviour_gramentry (account_id, kind, grams, period_id, created_at)
    SELECT account_id, 'aggregation', total - %(t)s, %(period)s, %(now)s FROM month_persons
    WHERE account_id IS NOT NULL AND total > %(t)s
"""
CREDIT_BALANCES = """
    UPDATE behaviour_personalaccount SET balance_g = balance_g + (
        SELECT e.grams FROM behaviour_gramentry e
        WHERE e.period_id = %(period)s AND e.account_id = behaviour_personalaccount.id)
    WHERE id IN (SELECT account_id FROM behaviour_gramentry WHERE period_id = %(period)s)
"""


def close_problems(platform: Organisation, month: date, *, batches: bool = True) -> list[str]:
    """What stands in the way of the month's close; `batches`: also batches still being processed (when the
    close is asked for; once it is, a batch's rows of the month are refused)."""
    problems = []
    if not platform.can_submit:  # suspended: its grams credit no account and its tonnes file no declaration
        problems.append(_("Your organisation is not verified: it cannot close months."))
    if month >= timezone.localdate().replace(day=1):
        problems.append(_("A month can be closed once it has ended."))
    if aggregation_project(platform) is None:
        problems.append(_("The platform has no filed aggregation project to declare under."))
    if not PlatformAgreement.objects.filter(organisation=platform).exists():
        problems.append(_("The bureau has not recorded an agreement with this platform yet."))
    if (
        batches
        and platform.behaviour_batches.exclude(status__in=[BatchStatus.DONE, BatchStatus.FAILED]).exists()
    ):
        problems.append(_("Some batches are still being processed; close the month when they are done."))
    return problems


@transaction.atomic
def close_period(platform: Organisation, month: date, *, by: User) -> AggregationPeriod:
    """A platform's declarant asks for the month's close: the month stops taking records at once (a chunk
    after this sees it closing, processing._hold_periods) and a worker does the close (settle_period) after
    the commit. It reads the whole month's records, minutes at a city's scale: no web request waits for it
    (ADR 0022)."""
    if not access.may_act_for(by, platform):
        raise PermissionDenied(_("Only the platform's declarants may close its months."))
    month = month.replace(day=1)
    problems = close_problems(platform, month)
    if problems:
        raise TransitionRefused(" ".join(problems))
    AggregationPeriod.objects.get_or_create(platform=platform, month=month)
    # Locked: a chunk of this month still in a transaction holds it shared, so the close waits for it, and a
    # chunk after the close finds it closing (processing._hold_periods).
    period = AggregationPeriod.objects.select_for_update().get(platform=platform, month=month)
    if period.status == PeriodStatus.CLOSING:
        raise TransitionRefused(_("The close of %(month)s is under way.") % {"month": f"{month:%Y-%m}"})
    if period.status != PeriodStatus.OPEN:
        raise TransitionRefused(_("%(month)s is closed already.") % {"month": f"{month:%Y-%m}"})
    period.status, period.close_problem = PeriodStatus.CLOSING, ""
    period.close_requested_by, period.close_requested_at = by, timezone.now()
    period.save(update_fields=["status", "close_problem", "close_requested_by", "close_requested_at"])
    audit.record(
        actor=by,
        action="platform.period_closing",
        subject=period,
        before={"status": PeriodStatus.OPEN},
        after={"status": PeriodStatus.CLOSING, "month": f"{month:%Y-%m}"},
    )
    transaction.on_commit(lambda: _send_settle(period.pk), robust=True)
    return period


def _send_settle(period_pk: int) -> None:
    from offsets.behaviour.tasks import settle_period as task

    task.delay(period_pk)


def settle_period(period_pk: int) -> AggregationPeriod | None:
    """The close asked for, done by a worker (tasks.settle_period): each person's grams of the month split by
    the threshold (up to it the platform's, beyond it the person's own account's, or unassigned for a
    pseudonym), and the platform's whole tonnes, with the remainder carried from the month before, filed as
    a draft declaration with the month's report; the remainder below a tonne carries to the next month. The
    platform then submits it for review. What stands in its way now (the declarant no longer the platform's,
    the platform suspended, the declaration's own rules) opens the month again, with the reason. None if
    there was nothing to do: the month not closing (done already), or its close under way in another
    worker (the reconciliation sends a long one again)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_CLOSE, period_pk])
                if not cursor.fetchone()[0]:
                    return None
        period = (
            AggregationPeriod.objects.select_for_update(of=("self",))
            .select_related("platform", "close_requested_by")
            .filter(pk=period_pk, status=PeriodStatus.CLOSING)
            .first()
        )
        if period is None:
            return None
        by = period.close_requested_by
        try:  # what stands in its way said in the language of the declarant who asked for the close
            with translation.override(by.language or settings.LANGUAGE_CODE), transaction.atomic():
                _settle(period, by=by)
        except (TransitionRefused, PermissionDenied, ValidationError) as refused:
            reason = " ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)
            period.refresh_from_db()
            period.status, period.close_problem = PeriodStatus.OPEN, reason
            period.save(update_fields=["status", "close_problem"])
            event = audit.record(
                actor=by,
                action="platform.period_close_failed",
                subject=period,
                before={"status": PeriodStatus.CLOSING},
                after={"status": PeriodStatus.OPEN, "month": f"{period.month:%Y-%m}", "reason": reason},
            )
        else:
            event = audit.record(
                actor=by,
                action="platform.period_closed",
                subject=period,
                before={"status": PeriodStatus.CLOSING},
                after={
                    "status": PeriodStatus.CLOSED,
                    "month": f"{period.month:%Y-%m}",
                    "persons": period.persons,
                    "total_g": period.total_g,
                    "platform_g": period.platform_g,
                    "personal_g": period.personal_g,
                    "carried_in_g": period.carried_in_g,
                    "carried_out_g": period.carried_out_g,
                    "declared_t": period.declared_t,
                    "declaration": period.declaration_id,
                },
            )
        notify_after_commit(event)
    return period


def _settle(period: AggregationPeriod, *, by: User) -> None:
    platform = period.platform
    if not access.may_act_for(by, platform):
        raise PermissionDenied(_("Only the platform's declarants may close its months."))
    problems = close_problems(platform, period.month, batches=False)
    if problems:
        raise TransitionRefused(" ".join(problems))
    if connection.vendor == "postgresql":  # closes credit many accounts: one at a time, never a deadlock
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [LOCK_CLOSES])
    threshold = platform.platform_agreement.threshold_g
    params = {
        "t": threshold,
        "platform": platform.pk,
        "first": period.month,
        "last": month_end(period.month),
        "period": period.pk,
        "summed": totals.summed_through(),
    }
    with connection.cursor() as cursor:
        for statement in MONTH_PERSONS:
            cursor.execute(statement, params)
        cursor.execute(SPLIT, params)
        persons, total, platform_g, personal_g = map(int, cursor.fetchone())  # SUM gives decimals
        cursor.execute(CREDIT_ENTRIES, {**params, "now": timezone.now()})
        cursor.execute(CREDIT_BALANCES, params)
        cursor.execute("DROP TABLE month_persons")
    # The remainder carried by the platform's last close, whichever month it was: a month closed after a later
    # one must not take the carry that the later one took already (each remainder is carried once).
    before = (
        AggregationPeriod.objects.filter(platform=platform, status=PeriodStatus.CLOSED)
        .order_by("-closed_at", "-pk")
        .first()
    )
    carried_in = before.carried_out_g if before else 0
    declared_t, carried_out = divmod(carried_in + platform_g, GRAMS_PER_TONNE)
    period.status, period.closed_at = PeriodStatus.CLOSED, timezone.now()
    period.persons, period.total_g, period.platform_g, period.personal_g = (
        persons,
        total,
        platform_g,
        personal_g,
    )
    period.unassigned_g = total - platform_g - personal_g
    period.carried_in_g, period.carried_out_g, period.declared_t = carried_in, carried_out, declared_t
    period.threshold_g = threshold
    if declared_t:
        period.declaration = _declare(platform, period, by=by)
    period.save()


def _declare(platform: Organisation, period: AggregationPeriod, *, by: User) -> Declaration:
    from projects import services as cases

    project = aggregation_project(platform)
    declaration = cases.create_declaration(
        project, by=by, period_start=period.month, period_end=month_end(period.month), verification_body=None
    )
    cases.set_claimed_quantity(declaration, by=by, claimed_t=period.declared_t)
    report = ContentFile(month_report(platform, period).encode("utf-8-sig"), name="report.csv")
    cases.attach_generated_document(
        declaration, by=by, doc_type=DocumentType.BEHAVIOUR_REPORT, content=report, name=f"{period}.csv"
    )
    return Declaration.objects.get(pk=declaration.pk)


def month_report(platform: Organisation, period: AggregationPeriod) -> str:
    """The declaration's evidence: the month's accepted records and grams by day and scenario, the batches
    and the split (CSV, in the bureau's terms, both languages in the header)."""
    from django.db.models import Sum

    from offsets.behaviour.models import Batch, ScenarioDay

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["日期 day", "场景 scenario", "记录数 records", "减排量（克）grams"])
    rows = (
        ScenarioDay.objects.filter(platform=platform, day__gte=period.month, day__lte=month_end(period.month))
        .values_list("day", "scenario__code")
        .annotate(r=Sum("records"), g=Sum("grams"))
        .order_by("day", "scenario__code")
    )
    for day, scenario, records, grams in rows:
        writer.writerow([day.isoformat(), scenario, records, grams])
    writer.writerow([])
    writer.writerow(
        [
            "批次 batch",
            "接收时间 received",
            "行数 rows",
            "接受 accepted",
            "拒绝 rejected",
            "克 grams",
            "SHA-256",
        ]
    )
    batches = Batch.objects.filter(
        platform=platform,
        status=BatchStatus.DONE,
        first_day__lte=month_end(period.month),
        last_day__gte=period.month,
    ).order_by("received_at")
    for batch in batches:
        writer.writerow(
            [
                batch.batch_id,
                batch.received_at.isoformat(),
                batch.rows,
                batch.accepted,
                batch.rejected,
                batch.grams,
                batch.sha256,
            ]
        )
    writer.writerow([])
    for label, value in (
        ("人数 persons", period.persons),
        ("阈值（克/人）threshold (g per person)", period.threshold_g),
        ("合计（克）total (g)", period.total_g),
        ("平台归集（克）aggregated by the platform (g)", period.platform_g),
        ("计入个人碳账户（克）credited to personal accounts (g)", period.personal_g),
        ("超出阈值且无个人账户（克）beyond the threshold, no account (g)", period.unassigned_g),
        ("上月结转（克）carried in (g)", period.carried_in_g),
        ("申报（吨）declared (t)", period.declared_t),
        ("结转下月（克）carried out (g)", period.carried_out_g),
    ):
        writer.writerow([label, value])
    return out.getvalue()


# --- Residents: personal carbon accounts and donations --------------------------------------------------


@transaction.atomic
def open_personal_account(user: User, *, identity_number: str) -> PersonalAccount:
    """The user's personal carbon account, for the person of this identity number (one account each)."""
    number = identifiers.validate_identity_number(identity_number)  # ValidationError with its message
    if PersonalAccount.objects.filter(user=user).exists():
        raise TransitionRefused(_("You have a personal carbon account already."))
    digest = identity_hash(number)
    if PersonalAccount.objects.filter(identity_hash=digest).exists():
        raise TransitionRefused(
            _(
                "A personal carbon account is open already for this identity number. If it is not yours, "
                "tell the bureau."
            )
        )
    try:
        with transaction.atomic():
            account = PersonalAccount.objects.create(
                number=make_account_number(counters.take("personal_account")),
                user=user,
                identity_hash=digest,
                identity_masked=mask_identity(number),
            )
    except IntegrityError:  # the same person, or user, at the same moment
        raise TransitionRefused(
            _("A personal carbon account is open already for this identity number.")
        ) from None
    audit.record(
        actor=user,
        action="resident.account_opened",
        subject=account,
        after={"number": account.number, "identity": account.identity_masked},
    )
    return account


def donation_problems(account: PersonalAccount, event: DonationEvent, grams) -> list[str]:
    problems = []
    today = timezone.localdate()
    if not event.opens_on <= today <= event.closes_on:
        problems.append(
            _("This event takes donations from %(from)s to %(until)s.")
            % {"from": event.opens_on.isoformat(), "until": event.closes_on.isoformat()}
        )
    if not isinstance(grams, int) or grams <= 0:
        problems.append(_("Donate a whole number of grams, one or more."))
    elif grams > account.balance_g:
        problems.append(
            _("You can donate at most %(balance)s g, your balance.") % {"balance": f"{account.balance_g:,}"}
        )
    return problems


@transaction.atomic
def donate(account: PersonalAccount, event: DonationEvent, *, grams: int, by: User) -> Donation:
    """Grams from the resident's account to a listed event, with its certificate made after commit."""
    if account.user_id != by.pk:
        raise PermissionDenied
    locked = PersonalAccount.objects.select_for_update().get(pk=account.pk)
    event = DonationEvent.objects.select_for_update().get(pk=event.pk)
    problems = donation_problems(locked, event, grams)
    if problems:
        raise TransitionRefused(" ".join(problems))
    year = timezone.localdate().year
    donation = Donation.objects.create(
        number=f"WHCER-D-{year}-{counters.take(f'donation-{year}'):06d}",
        account=locked,
        event=event,
        grams=grams,
    )
    GramEntry.objects.create(account=locked, kind=GramEntryKind.DONATION, grams=-grams, donation=donation)
    PersonalAccount.objects.filter(pk=locked.pk).update(balance_g=F("balance_g") - grams)
    DonationEvent.objects.filter(pk=event.pk).update(donated_g=F("donated_g") + grams)
    audit.record(
        actor=by,
        action="resident.donated",
        subject=locked,
        after={"donation": donation.number, "event": event.pk, "grams": grams},
    )
    transaction.on_commit(lambda: _make_certificate(donation.pk), robust=True)
    return donation


def _make_certificate(donation_id: int) -> None:
    from offsets.behaviour import tasks

    tasks.make_donation_certificate.delay(donation_id)


ACCOUNT_DAYS = f"""
    SELECT d.day, s.code, s.name_zh, s.name_en, SUM(d.records), SUM(d.grams)
    FROM ({totals.person_days_sql("account_id = %(account)s AND person = %(person)s")}) d
    JOIN behaviour_scenario s ON s.id = d.scenario_id
    GROUP BY d.day, s.code, s.name_zh, s.name_en ORDER BY d.day DESC, s.code LIMIT %(most)s
"""  # noqa: S608 (our own statements)
DAY_COLUMNS = ("day", "scenario__code", "scenario__name_zh", "scenario__name_en", "records", "grams")


def account_days_params(account: PersonalAccount, most: int) -> dict:
    """ACCOUNT_DAYS's parameters. The person key as well as the account: the records' index of a person's
    day starts with it (ADR 0023)."""
    return {
        "account": account.pk,
        "person": account_key(account.number),
        "most": most,
        "summed": totals.summed_through(),
    }


def person_days(account: PersonalAccount, most: int) -> list[dict]:
    """The person's accepted behaviour by day and scenario (all platforms together), newest first: at most
    `most` rows."""
    with connection.cursor() as cursor:
        cursor.execute(ACCOUNT_DAYS, account_days_params(account, most))
        return [dict(zip(DAY_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


@transaction.atomic
def sign_up_resident(
    *, email: str, full_name: str, password: str, language: str, identity_number: str
) -> PersonalAccount | None:
    """A member of the public registers as a resident: an inactive user (active once the e-mail address is
    confirmed, registry.services.confirm_email) and the personal account, opened now, so the identity number
    is checked while the person is on the page and never kept in clear until a confirmation; the
    confirmation e-mail goes after commit. A registered e-mail address gets the same answer as a new
    sign-up: nothing is created and its owner is told, as at an organisation's sign-up. A refused identity
    number (ValidationError, TransitionRefused) creates nothing either. Returns the new account, or None."""
    from registry import services as registry_services
    from registry.transitions import notify_after_commit

    identifiers.validate_identity_number(identity_number)  # its message, before anything is written
    registered = User.objects.filter(email__iexact=email).first()
    if registered is None:
        try:
            with transaction.atomic():  # a savepoint: an identical sign-up at the same moment may win
                user = User.objects.create_user(
                    email=email, password=password, full_name=full_name, language=language, is_active=False
                )
        except IntegrityError:
            registered = User.objects.filter(email__iexact=email).first()
    if registered is not None:
        make_password(password)  # the work a new account's password costs, so the answer takes as long
        registry_services._tell_owners_of_repeated_sign_up(None, registered, email)
        return None
    account = open_personal_account(user, identity_number=identity_number)  # a refusal undoes the user too
    event = audit.record(
        actor=None, action="resident.signed_up", subject=account, after={"email": user.email}
    )
    notify_after_commit(event)
    return account
