"""Residents' low-carbon behaviour as the public sees it: aggregates only, read from the daily totals per
platform and scenario (ScenarioDay), never from a person's records, days or account.

- the home page's section: each scenario's records and reduction over the last 30 days, and how many
  platform operators (平台运营方) reported them (registered in HOME_PROVIDERS by BehaviourConfig.ready);
- /behaviour/: one month's totals per day, scenario and platform, and the same as CSV (formula-safe cells).

Both pages are public and cached for anonymous visitors like the other public pages (registry.caching).
"""

import re
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.behaviour.models import GRAMS_PER_TONNE, Scenario, ScenarioDay
from registry import exports
from registry.caching import cache_for_anonymous
from registry.db_router import replica_reads
from registry.params import BadInput

LAST_DAYS = 30
MONTHS_LISTED = 36
MONTH = re.compile(r"[0-9]{4}-[0-9]{2}\Z", re.ASCII)
CSV_FIELDS = ("day", "scenario", "scenario_zh", "scenario_en", "platform", "platform_en", "records", "grams")


def _kg(grams: int) -> Decimal:
    return Decimal(grams) / 1000


def _tonnes(grams: int) -> Decimal:
    return Decimal(grams) / GRAMS_PER_TONNE


# --- The home page's section -----------------------------------------------------------------------------


def recent_totals(today: date | None = None) -> dict | None:
    """Each scenario's records and grams over the last LAST_DAYS days (today included) and the number of
    platforms that reported them; None while there is nothing to show."""
    today = today or timezone.localdate()
    since = today - timedelta(days=LAST_DAYS - 1)
    days = ScenarioDay.objects.filter(day__gte=since, day__lte=today)
    per_scenario = list(
        days.values("scenario").annotate(records=Sum("records"), grams=Sum("grams")).order_by("scenario")
    )
    if not per_scenario:
        return None
    scenarios = Scenario.objects.in_bulk([row["scenario"] for row in per_scenario])
    rows = sorted(
        (
            {
                "scenario": scenarios[row["scenario"]],
                "records": row["records"],
                "grams": row["grams"],
                "kg": _kg(row["grams"]),
                "tonnes": _tonnes(row["grams"]),
            }
            for row in per_scenario
        ),
        key=lambda row: (row["scenario"].category, row["scenario"].code),
    )
    grams = sum(row["grams"] for row in rows)
    return {
        "since": since,
        "until": today,
        "days": LAST_DAYS,
        "rows": rows,
        "records": sum(row["records"] for row in rows),
        "grams": grams,
        "tonnes": _tonnes(grams),
        "platforms": days.values("platform").distinct().count(),
    }


def home_context() -> dict:
    return {"behaviour_totals": recent_totals()}


# --- One month's totals per day, scenario and platform ------------------------------------------------


def _month_of(request: HttpRequest) -> date:
    """The month asked for (`month=YYYY-MM`), or else the latest with totals (this month if none)."""
    raw = request.GET.get("month", "")
    if raw:
        if not MONTH.match(raw) or not 1 <= int(raw[5:]) <= 12 or not 2000 <= int(raw[:4]) <= 2100:
            raise BadInput(
                _("The month in the address is not valid: write it as year-month, such as 2024-10.")
            )
        return date(int(raw[:4]), int(raw[5:]), 1)
    latest = ScenarioDay.objects.aggregate(latest=Max("day"))["latest"]
    return (latest or timezone.localdate()).replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def month_totals(month: date):
    return (
        ScenarioDay.objects.filter(day__gte=month, day__lt=_next_month(month))
        .select_related("scenario", "platform")
        .order_by("day", "scenario__category", "scenario__code", "platform__name", "platform_id")
    )


def open_data_rows() -> list[dict]:
    """The open-data table `behaviour` (offsets.public.DATASETS): every day's totals per scenario and platform
    over the retention period, oldest first; no person, no account."""
    since = timezone.localdate() - timedelta(days=settings.BEHAVIOUR_RETENTION_DAYS)
    totals = (
        ScenarioDay.objects.filter(day__gte=since)
        .select_related("scenario", "platform")
        .order_by("day", "scenario__category", "scenario__code", "platform__name", "platform_id")
    )
    return _rows(totals)


def month_rows(month: date) -> list[dict]:
    """The open-data rows of a month: day, scenario, platform, records, grams (no person, no account)."""
    return _rows(month_totals(month))


def _rows(totals) -> list[dict]:
    return [
        {
            "day": total.day.isoformat(),
            "scenario": total.scenario.code,
            "scenario_zh": total.scenario.name_zh,
            "scenario_en": total.scenario.name_en,
            "platform": total.platform.public_name,
            "platform_en": total.platform.public_name_en,
            "records": total.records,
            "grams": total.grams,
        }
        for total in totals
    ]


@replica_reads
@cache_for_anonymous(300)
def totals_page(request: HttpRequest) -> HttpResponse:
    month = _month_of(request)
    totals = list(month_totals(month))
    per_scenario: dict[int, dict] = {}
    for total in totals:
        entry = per_scenario.setdefault(
            total.scenario_id, {"scenario": total.scenario, "records": 0, "grams": 0}
        )
        entry["records"] += total.records
        entry["grams"] += total.grams
    summary = sorted(per_scenario.values(), key=lambda e: (e["scenario"].category, e["scenario"].code))
    for entry in summary:
        entry["kg"] = _kg(entry["grams"])
    grams = sum(total.grams for total in totals)
    return render(
        request,
        "behaviour/public/totals.html",
        {
            "month": month,
            "month_key": f"{month:%Y-%m}",
            "months": [
                f"{m:%Y-%m}" for m in ScenarioDay.objects.dates("day", "month", order="DESC")[:MONTHS_LISTED]
            ],
            "rows": [{"total": total, "kg": _kg(total.grams)} for total in totals],
            "summary": summary,
            "records": sum(total.records for total in totals),
            "kg": _kg(grams),
            "platforms": len({total.platform_id for total in totals}),
            "recent": recent_totals(),
        },
    )


@replica_reads
@cache_for_anonymous(300)
def totals_csv(request: HttpRequest) -> HttpResponse:
    """The page's month as CSV: UTF-8 with a byte-order mark, one header row, every cell formula-safe."""
    month = _month_of(request)
    rows = month_rows(month)
    # An empty month is still a readable file: the header alone.
    text = exports.csv_text(rows) if rows else "\ufeff" + ",".join(CSV_FIELDS) + "\r\n"
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="behaviour-{month:%Y-%m}.csv"'
    response["Access-Control-Allow-Origin"] = "*"
    return response
