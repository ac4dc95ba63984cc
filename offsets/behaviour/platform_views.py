"""The platform operator's pages on the portal (平台运营方): its batches (批次) and their reports, the upload
of a batch file, its months of platform aggregation (平台归集) with the close, and its API keys.

Every member of a platform operator reads; its administrator and declarants upload and close months, its
viewers get 403 on those actions. Anyone who is not a member of a platform operator, and another platform's
batch, answers 404. Each action calls one function (batches.receive, services.close_period) and shows its
refusal as it is.
"""

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from offsets.behaviour import api, batches, processing, services
from offsets.behaviour.forms import UploadForm
from offsets.behaviour.models import (
    AggregationPeriod,
    ApiCredential,
    Batch,
    BatchStatus,
    PeriodStatus,
    ScenarioDay,
)
from projects.paging import page_of_request
from registry import access
from registry.access import require
from registry.models import Organisation, OrganisationKind
from registry.transitions import TransitionRefused

PAGE_SIZE = 50
RECENT_MONTHS = 6  # the months before this one offered on the months page, besides those with a period
REJECTED_SHOWN = 20  # the first rejected rows shown on a batch's page; the download has them all


# --- Fetching ----------------------------------------------------------------------------------------


def _platform(request: HttpRequest) -> tuple[Organisation, bool]:
    """The member's own platform operator and whether the member may act for it; 404 for anyone else."""
    membership = access.current_membership(request)
    if membership is None or membership.organisation.kind != OrganisationKind.PLATFORM_OPERATOR:
        raise Http404
    return membership.organisation, access.may_act_for(request.user, membership.organisation)


def _batch(request: HttpRequest, platform: Organisation, batch_id: str) -> Batch:
    """The platform's own batch (through the one door); another platform's is not found."""
    return get_object_or_404(
        Batch.objects.visible_to(request.user)
        .filter(platform=platform)
        .select_related("sent_by", "credential"),
        batch_id=batch_id,
    )


def _month(raw: str) -> date:
    """A month written YYYY-MM, as its first day; 404 for anything else (it came from no link of ours)."""
    year, separator, month = raw.partition("-")
    if not (separator and len(year) == 4 and len(month) == 2 and (year + month).isascii()):
        raise Http404
    if not (year.isdigit() and month.isdigit() and 2000 <= int(year) <= 2100 and 1 <= int(month) <= 12):
        raise Http404
    return date(int(year), int(month), 1)


# --- Batches ---------------------------------------------------------------------------------------


@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    platform, can_act = _platform(request)
    page, query = page_of_request(
        request,
        Batch.objects.visible_to(request.user).filter(platform=platform),
        order="-received_at",
        size=PAGE_SIZE,
    )
    return render(
        request,
        "behaviour/platform/batch_list.html",
        {"platform": platform, "can_act": can_act, "page": page, "query": query, "active": "batches"},
    )


@login_required
def batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    platform, can_act = _platform(request)
    batch = _batch(request, platform, batch_id)
    return render(
        request,
        "behaviour/platform/batch_detail.html",
        {
            "platform": platform,
            "can_act": can_act,
            "batch": batch,
            "in_progress": batch.status in (BatchStatus.RECEIVED, BatchStatus.PROCESSING),
            "failed_lines": processing.failed_lines(batch),
            "rejected_rows": batch.rejected_rows.order_by("line")[:REJECTED_SHOWN],
            "rejected_shown": REJECTED_SHOWN,
            "active": "batches",
        },
    )


@login_required
def batch_rejected(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Every rejected row of the batch with its reason, as CSV (streamed; the API's own report)."""
    platform, _can_act = _platform(request)
    return api.rejected_rows_csv(_batch(request, platform, batch_id))


@login_required
def batch_original(request: HttpRequest, batch_id: str) -> FileResponse:
    """The file as the platform sent it (gzip), kept as the batch's evidence, under a name we build."""
    platform, _can_act = _platform(request)
    batch = _batch(request, platform, batch_id)
    if not batch.file:
        raise Http404
    try:
        handle = batch.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{batch.batch_id}.{batch.format}.gz",  # the id is letters, digits, . - _ only
        content_type="application/gzip",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """A batch file sent from the portal: received as the API receives it (streamed from the uploaded file,
    never read whole); a refused file is shown with its reason and nothing is kept."""
    platform, _can_act = _platform(request)
    require(access.may_act_for, request.user, platform)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if not platform.can_submit:
            form.add_error(None, _("Your organisation is not verified: it cannot send batches."))
        else:
            try:
                batch, new = batches.receive(
                    platform=platform,
                    batch_id=form.cleaned_data["batch_id"],
                    stream=form.cleaned_data["file"],
                    fmt=form.cleaned_data["format"],
                    by=request.user,
                )
            except batches.BatchRefused as refused:
                form.add_error(None, refused.message)
            else:
                said = {"id": batch.batch_id, "rows": f"{batch.rows:,}"}
                if new:
                    messages.success(
                        request, _("Batch %(id)s received: %(rows)s rows. It is being checked.") % said
                    )
                else:
                    messages.info(
                        request,
                        _("Batch %(id)s had been received already with this file; nothing changed.") % said,
                    )
                return redirect("behaviour:platform_batch", batch_id=batch.batch_id)
    return render(
        request,
        "behaviour/platform/upload.html",
        {"platform": platform, "form": form, "active": "batches"},
        status=400 if form.is_bound and form.errors else 200,
    )


# --- Months of platform aggregation ----------------------------------------------------------------


def _months_shown(periods: dict) -> list[date]:
    this_month = timezone.localdate().replace(day=1)
    months, month = {this_month}, this_month
    for _step in range(RECENT_MONTHS):
        month = (month - timedelta(days=1)).replace(day=1)
        months.add(month)
    return sorted(months | set(periods), reverse=True)


@login_required
def months(request: HttpRequest) -> HttpResponse:
    """This month, the last few and every month with a period: what was reported, the split of a closed
    month and the declaration it filed, and the close of an ended one (with what stands in its way)."""
    platform, can_act = _platform(request)
    periods = {
        period.month: period
        for period in AggregationPeriod.objects.filter(platform=platform).select_related(
            "declaration", "close_requested_by"
        )
    }
    shown = _months_shown(periods)
    reported = {
        row["month"]: row
        for row in ScenarioDay.objects.filter(platform=platform, day__gte=shown[-1])
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(records=Sum("records"), grams=Sum("grams"))
        .order_by()
    }
    this_month = timezone.localdate().replace(day=1)
    rows = []
    for month in shown:
        period = periods.get(month)
        status = period.status if period is not None else PeriodStatus.OPEN
        ended = month < this_month
        rows.append(
            {
                "month": month,
                "key": f"{month:%Y-%m}",
                "period": period if status == PeriodStatus.CLOSED else None,
                "closing": period if status == PeriodStatus.CLOSING else None,
                "failed": period.close_problem if status == PeriodStatus.OPEN and period else "",
                "ended": ended,
                "records": (reported.get(month) or {}).get("records") or 0,
                "grams": (reported.get(month) or {}).get("grams") or 0,
                "problems": services.close_problems(platform, month)
                if ended and status == PeriodStatus.OPEN and can_act
                else [],
            }
        )
    return render(
        request,
        "behaviour/platform/months.html",
        {"platform": platform, "can_act": can_act, "rows": rows, "active": "months"},
    )


@require_POST
@login_required
def close_month(request: HttpRequest, month: str) -> HttpResponse:
    platform, _can_act = _platform(request)
    first = _month(month)
    require(access.may_act_for, request.user, platform)
    try:
        period = services.close_period(platform, first, by=request.user)
    except (TransitionRefused, PermissionDenied) as refused:
        messages.error(request, str(refused))
        return redirect("behaviour:platform_months")
    period.refresh_from_db()  # done already where tasks run in the web process (make run)
    said = {
        "month": f"{first:%Y-%m}",
        "tonnes": f"{period.declared_t:,}",
        "carried": f"{period.carried_out_g:,}",
    }
    if period.status == PeriodStatus.CLOSING:
        messages.success(
            request,
            _(
                "The close of %(month)s has begun. It takes a few minutes for a large month: this page shows "
                "its result when it is done, and you will be told by e-mail."
            )
            % said,
        )
    elif period.status == PeriodStatus.OPEN:
        messages.error(
            request,
            _("%(month)s could not be closed: %(problem)s") % {**said, "problem": period.close_problem},
        )
    elif period.declaration_id:
        messages.success(
            request,
            _(
                "%(month)s closed: %(tonnes)s t filed as a draft declaration; submit it for review. "
                "%(carried)s g carried to the next month."
            )
            % said,
        )
    else:
        messages.success(
            request,
            _("%(month)s closed: less than a tonne to declare; %(carried)s g carried to the next month.")
            % said,
        )
    return redirect("behaviour:platform_months")


# --- The API -----------------------------------------------------------------------------------------


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The reporting API's description and the platform's keys: ids, labels and dates, never a secret."""
    platform, can_act = _platform(request)
    return render(
        request,
        "behaviour/platform/api.html",
        {
            "platform": platform,
            "can_act": can_act,
            "credentials": ApiCredential.objects.filter(organisation=platform).order_by("-created_at", "-pk"),
            "openapi_url": request.build_absolute_uri(reverse("behaviour:openapi")),
            # The batch's address with its id left as the OpenAPI description writes it.
            "batch_url": request.build_absolute_uri(reverse("behaviour:api_batch", args=["0"]))[:-1]
            + "{batch_id}",
            "active": "api",
        },
    )
