from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.syndication.views import Feed
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from offsets import access, issuing, verification
from offsets.forms import ObjectionAnswerForm, ObjectionForm, PhaseForm, RulingForm, VerifyForm
from offsets.models import (
    Announcement,
    Issuance,
    IssuancePhase,
    NoticeVersion,
    Objection,
    PhaseStatus,
)
from projects.models import Declaration
from projects.paging import capped_count, page_of_request
from registry import params
from registry.caching import cache_for_anonymous
from registry.db_router import replica_reads
from registry.services import TransitionRefused
from registry.uploads import PDF, attachment, kind_of_stored_name

# --- Public ----------------------------------------------------------------------

NOTICE_PAGE = 25  # notices, a notice's list and its registered credits: rows a page (as the registry's)


@replica_reads
@cache_for_anonymous(60)
def notice_list(request: HttpRequest) -> HttpResponse:
    """Notices (every published phase) and announcements (registered ones), filtered by year and kind,
    newest first, key-paged: the years come from the database, not from reading every phase."""
    published = IssuancePhase.objects.public().filter(published_at__isnull=False)
    years = [d.year for d in published.datetimes("published_at", "year", order="DESC")]
    phases = published.select_related("announcement")
    year, kind = params.year(request.GET), request.GET.get("kind", "")
    if year is not None:
        phases = phases.filter(published_at__year=year)
    if kind == "announcement":
        phases = phases.filter(status=PhaseStatus.REGISTERED)
    elif kind == "notice":
        phases = phases.filter(status__in=[PhaseStatus.IN_NOTICE, PhaseStatus.CLOSED])
    page, query = page_of_request(request, phases, order="-published_at", size=NOTICE_PAGE)
    context = {
        "phases": page.rows,
        "page": page,
        "query": query,
        "years": years,
        "year": "" if year is None else str(year),
        "kind": kind,
    }
    return render(request, "offsets/notice_list.html", context)


def _public_phase(code: str) -> IssuancePhase:
    return get_object_or_404(IssuancePhase.objects.public(), code=code.upper())


@replica_reads
def notice_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A phase's notice: its current version's list and the registered credits, each key-paged with its
    totals from one aggregate query, so that the last page of 2,000 costs what the first does."""
    phase = _public_phase(code)
    # The snapshots' JSON stays in the database: the list comes from the version's rows.
    versions = list(phase.notice_versions.defer("snapshot"))
    current = versions[0] if versions else None
    context = {
        "phase": phase,
        "version": current,
        "versions": versions,
        "objections": phase.objections.select_related("declaration__project").order_by("filed_at"),
        "open": issuing.notice_is_open(phase),
        "deadline": issuing.notice_deadline(phase) if phase.notice_end else None,
    }
    if current is not None:
        context["rows"], context["rows_query"] = page_of_request(
            request, current.rows.all(), order="position", size=NOTICE_PAGE
        )
        context["listed"] = current.rows.aggregate(
            declarations=Count("pk"), projects=Count("project_code", distinct=True), tonnes=Sum("tonnes")
        )
    # Only what a line shows: the holder's and the account's timestamps, decoded for every line, were a
    # tenth of the page's time.
    issuances = phase.issuances.select_related("account__organisation").only(
        "serial",
        "quantity",
        "first_unit",
        *(f"account__organisation__{f}" for f in ("name", "name_en", "kind")),
    )
    context["credits"], context["credits_query"] = page_of_request(
        request, issuances, order="first_unit", size=NOTICE_PAGE, prefix="credits_"
    )
    context["registered"] = issuances.aggregate(issuances=Count("pk"), tonnes=Sum("quantity"))
    return render(request, "offsets/notice_detail.html", context)


def notice_pdf(request: HttpRequest, code: str, version: int) -> FileResponse:
    phase = _public_phase(code)
    notice = get_object_or_404(NoticeVersion, phase=phase, version=version)
    if not notice.pdf:
        from offsets import documents

        notice = documents.make_notice_pdf(notice.pk)
    return attachment(notice.pdf, kind=PDF, stem=f"notice-{phase.code}-v{notice.version}")


def announcement_pdf(request: HttpRequest, code: str) -> FileResponse:
    phase = _public_phase(code)
    announcement = get_object_or_404(Announcement, phase=phase)
    if not announcement.pdf:
        from offsets import documents

        announcement = documents.make_announcement_pdf(announcement.pk)
    return attachment(announcement.pdf, kind=PDF, stem=announcement.number)


def _throttled(request: HttpRequest) -> bool:
    """At most OBJECTIONS_PER_HOUR objections from one client address in an hour."""
    key = f"objections:{request.META.get('REMOTE_ADDR', '')}"
    cache.add(key, 0, timeout=3600)
    return cache.incr(key) > settings.OBJECTIONS_PER_HOUR


def object_to(request: HttpRequest, code: str) -> HttpResponse:
    phase = _public_phase(code)
    choices = [
        (
            e.declaration.pk,
            f"{e.declaration.project.code} · {e.declaration.project.title} · "
            f"{e.declaration.period_start:%Y-%m-%d}–{e.declaration.period_end:%Y-%m-%d}",
        )
        for e in issuing.live_entries(phase)
    ]
    if not issuing.notice_is_open(phase):
        return render(
            request,
            "offsets/objection_form.html",
            {"phase": phase, "closed": True},
            status=410 if request.method == "POST" else 200,
        )
    form = ObjectionForm(
        request.POST or None,
        request.FILES or None,
        declarations=choices,
        initial={"declaration": request.GET.get("declaration")},
    )
    if request.method == "POST" and form.is_valid():
        if _throttled(request):
            messages.error(
                request, _("Too many objections from your address in the last hour. Please try again later.")
            )
            return render(request, "offsets/objection_form.html", {"phase": phase, "form": form}, status=429)
        data = form.cleaned_data
        try:
            objection = issuing.file_objection(
                phase,
                declaration=Declaration.objects.get(pk=data["declaration"]),
                name=data["name"],
                organisation=data["organisation"],
                email=data["email"],
                phone=data["phone"],
                reasons=data["reasons"],
                attachment=data.get("attachment"),
                source_ip=request.META.get("REMOTE_ADDR"),
            )
        except ValidationError as error:
            form.add_error(None, error)
        except TransitionRefused as error:
            return render(
                request,
                "offsets/objection_form.html",
                {"phase": phase, "closed": True, "message": str(error)},
                status=410,
            )
        else:
            # Post-redirect-get: F5 on the receipt reloads it and files nothing. The receipt's address is
            # signed, so nobody can walk other objectors' receipts by changing a number in it.
            receipt = signing.dumps(objection.pk, salt=OBJECTION_RECEIPT_SALT)
            return redirect("offsets:objection_received", code=phase.code, receipt=receipt)
    return render(request, "offsets/objection_form.html", {"phase": phase, "form": form})


OBJECTION_RECEIPT_SALT = "offsets.objection-receipt"
OBJECTION_RECEIPT_MAX_AGE = 7 * 24 * 3600


@never_cache
def objection_received(request: HttpRequest, code: str, receipt: str) -> HttpResponse:
    """The objector's receipt: the reference, nothing of what they wrote; a forged or old address is 404."""
    try:
        pk = signing.loads(receipt, salt=OBJECTION_RECEIPT_SALT, max_age=OBJECTION_RECEIPT_MAX_AGE)
    except signing.BadSignature:
        raise Http404 from None
    objection = get_object_or_404(Objection.objects.select_related("phase"), pk=pk, phase__code=code.upper())
    return render(request, "offsets/objection_done.html", {"phase": objection.phase, "objection": objection})


@replica_reads
def verify(request: HttpRequest) -> HttpResponse:
    form = VerifyForm(request.GET or None)
    result = (
        verification.look_up(form.cleaned_data["q"]) if form.is_valid() and form.cleaned_data["q"] else None
    )
    return render(request, "offsets/verify.html", {"form": form, "result": result})


class NoticeFeed(Feed):
    """Atom feed of notices and announcements."""

    feed_type = Atom1Feed
    title = gettext_lazy("Carbon Inclusion Registry: notices and announcements")
    subtitle = gettext_lazy(
        "Issuance phases published for public notice, and the announcements of registered phases."
    )

    def link(self):
        return reverse("offsets:notices")

    def items(self):
        phases = IssuancePhase.objects.public().select_related("announcement")
        items = [("notice", p, p.published_at) for p in phases]
        items += [
            ("announcement", p, p.announcement.published_at) for p in phases if hasattr(p, "announcement")
        ]
        return sorted(items, key=lambda item: item[2], reverse=True)[:50]

    def item_title(self, item):
        kind, phase, _when = item
        if kind == "notice":
            return _("Public notice of issuance, phase %(code)s: %(title)s") % {
                "code": phase.code,
                "title": phase.title,
            }
        return _("Announcement of registration, phase %(code)s: %(title)s") % {
            "code": phase.code,
            "title": phase.title,
        }

    def item_description(self, item):
        kind, phase, _when = item
        if kind == "notice":
            return _("Notice from %(start)s to %(end)s.") % {
                "start": phase.notice_start,
                "end": phase.notice_end,
            }
        return _("%(tonnes)s t registered.") % {"tonnes": issuing.issued_total(phase)}

    def item_link(self, item):
        kind, phase, _when = item
        return reverse("offsets:notice", args=[phase.code]) + (
            "#announcement" if kind == "announcement" else ""
        )

    def item_guid(self, item):
        kind, phase, _when = item
        return f"{kind}-{phase.code}"

    def item_pubdate(self, item):
        return item[2]

    def item_updateddate(self, item):
        return item[2]


# --- Enterprise ----------------------------------------------------------------------


@login_required
def certificate_download(request: HttpRequest, number: str) -> FileResponse:
    """The holder's members and the bureau download the PDF; everyone else verifies it on the public page."""
    certificate = access.certificate_for(request.user, number)
    if not certificate.file:
        from offsets import documents

        certificate = documents.make_certificate(certificate.pk)
    return attachment(certificate.file, kind=PDF, stem=certificate.number)


@require_POST
@login_required
def answer_objection(request: HttpRequest, pk: int) -> HttpResponse:
    objection = access.objection_for(request.user, pk)
    form = ObjectionAnswerForm(request.POST)
    if form.is_valid():
        try:
            issuing.answer_objection(objection, by=request.user, answer=form.cleaned_data["answer"])
        except TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Your answer is recorded."))
    return redirect(objection.declaration)


# --- Back office ----------------------------------------------------------------------


@permission_required("projects.review_case", raise_exception=True)
def office_phases(request: HttpRequest) -> HttpResponse:
    form = PhaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            phase = issuing.create_phase(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("code", error)
        else:
            return redirect("offsets:office_phase", code=phase.code)
    phases = IssuancePhase.objects.order_by("-created_at")
    return render(request, "offsets/office_phases.html", {"phases": phases, "form": form})


@permission_required("projects.review_case", raise_exception=True)
def office_phase(request: HttpRequest, code: str) -> HttpResponse:
    phase = get_object_or_404(IssuancePhase, code=code)
    user = request.user
    # What the tables offer this user now: the phase's steps, and each objection's ruling.
    steps = issuing.PHASES.offered(phase, user)
    objections = list(phase.objections.select_related("declaration__project__organisation", "ruled_by"))
    for objection in objections:
        objection.steps = issuing.OBJECTIONS.offered(objection, user)
    return render(
        request,
        "offsets/office_phase.html",
        {
            "phase": phase,
            "totals": issuing.totals(phase),
            "entries": issuing.live_entries(phase),
            "eligible": issuing.eligible_declarations() if "add" in steps else [],
            "objections": objections,
            "ruling_form": RulingForm(),
            "steps": steps,
            "can_rule": access.may_rule_objections(user),  # the objectors' evidence
            "issuances": phase.issuances.select_related("project", "account__organisation"),
            "awaiting": phase.objections.filter(status="awaiting").exists(),
            "calendar_gap": issuing.notice_calendar_gap(phase),
        },
    )


# What a step of the phase reads from the posted form; the others read nothing.
POSTED = {
    "add": lambda post: {
        "declarations": list(Declaration.objects.filter(pk__in=params.ids(post, "declarations")))
    },
    "remove": lambda post: {
        "declaration": get_object_or_404(Declaration, pk=params.an_id(post, "declaration"))
    },
    "approve": lambda post: {"note": params.text(post, "note")},
    "send_back": lambda post: {"reasons": params.text(post, "note")},
}


@require_POST
@permission_required("projects.review_case", raise_exception=True)
def office_phase_act(request: HttpRequest, code: str, action: str) -> HttpResponse:
    """One step of the phase's table, posted; its function checks the right and the state again."""
    phase = get_object_or_404(IssuancePhase, code=code)
    params.text(request.POST, "note")  # a NUL answers 400, whatever the step, before anything is done
    if action not in issuing.PHASES or not issuing.PHASES[action].label:
        raise Http404
    arguments = POSTED[action](request.POST) if action in POSTED else {}
    try:
        issuing.PHASES.function(action)(phase, by=request.user, **arguments)
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Recorded."))
    return redirect("offsets:office_phase", code=phase.code)


@require_POST
@permission_required("offsets.rule_objection", raise_exception=True)
def rule(request: HttpRequest, pk: int) -> HttpResponse:
    objection = get_object_or_404(Objection.objects.select_related("phase"), pk=pk)
    form = RulingForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the ruling and give its reasons."))
    else:
        try:
            issuing.rule_objection(
                objection,
                by=request.user,
                upheld=form.cleaned_data["outcome"] == "upheld",
                reasons=form.cleaned_data["reasons"],
            )
        except TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Ruling recorded; the objector and the declarant are told."))
    return redirect("offsets:office_phase", code=objection.phase.code)


def objection_attachment(request: HttpRequest, pk: int) -> FileResponse:
    """The objector's evidence, to those who rule on objections; everyone else (the public, the
    enterprises, other bureau roles) gets 404, as if it did not exist."""
    objection = access.objection_evidence_for(request.user, pk)
    evidence = objection.attachment
    return attachment(
        evidence,
        kind=kind_of_stored_name(evidence.name) if evidence else None,
        stem=f"objection-{objection.reference}",
    )


# --- The public registry ---------------------------------------------------------------------------------

REGISTRY_SORTS = {"code": gettext_lazy("Project code"), "-filed_at": gettext_lazy("Filed, newest first")}


@replica_reads
@cache_for_anonymous(60)
def registry(request: HttpRequest) -> HttpResponse:
    """Every filed project: search by any part of a name, filters, sorting, key-paged."""
    from offsets import public
    from offsets.filters import RegistryFilter
    from registry.filter_bars import plain_fields
    from registry.models import District

    filterset = RegistryFilter(request.GET or None, queryset=public.filed_projects())
    queryset = public.search(filterset.qs, request.GET.get("q", ""))
    order = request.GET.get("sort", "code")
    if order not in REGISTRY_SORTS:
        order = "code"
    page, query = page_of_request(request, queryset, order=order, size=25)
    issued = dict(
        Issuance.objects.filter(project__in=[p.pk for p in page.rows])
        .values("project")
        .annotate(t=Sum("quantity"))
        .values_list("project", "t")
    )
    districts = {value: str(label) for value, label in District.choices}  # translated once, not per row
    # Each row's link from one reverse(): 25 reverse() calls stood high in a profile of this page.
    link = reverse("offsets:project", args=["-"]).removesuffix("-/")
    for project in page.rows:
        project.district_label = districts.get(project.district, project.district)
        project.public_url = f"{link}{quote(project.code, safe='')}/"
    return render(
        request,
        "offsets/registry.html",
        {
            "bar": plain_fields(filterset),
            "page": page,
            "query": query,
            "q": request.GET.get("q", ""),
            "sort": order,
            "sorts": [(key, str(label)) for key, label in REGISTRY_SORTS.items()],
            # Counted up to a cap: an exact count of 100,000 rows would cost more than the page itself.
            "total": capped_count(queryset, public.COUNT_CAP),
            "count_cap": public.COUNT_CAP,
            "rows": [(project, issued.get(project.pk, 0)) for project in page.rows],
        },
    )


@replica_reads
@cache_for_anonymous(60)
def project_page(request: HttpRequest, code: str) -> HttpResponse:
    from offsets import public, verification

    project = get_object_or_404(public.filed_projects(), code=code.upper())
    issuances = list(
        project.issuances.select_related("phase", "account__organisation").order_by("first_unit")
    )
    consumed = public.retired_per_issuance(issuances)
    for issuance in issuances:
        # blocks of issuance.blocks know their issuance (with its phase and project): one query per issuance.
        blocks = issuance.blocks.live().select_related("account__organisation").order_by("first_unit")
        issuance.live_blocks = list(blocks)
        issuance.status_now = verification.status_of(issuance.live_blocks)
        issuance.retired_t = consumed[issuance.pk]["retired"]
        issuance.cancelled_t = consumed[issuance.pk]["cancelled"]
    return render(
        request,
        "offsets/project_page.html",
        {
            "project": project,
            "issuances": issuances,
            "milestones": public.milestones(project),
        },
    )


@replica_reads
@cache_for_anonymous(60)
def public_retirements(request: HttpRequest) -> HttpResponse:
    """Every retirement done: who, how many, what for, which serials; by year and kind, key-paged."""
    from offsets import public
    from offsets.models import RetirementKind

    retirements = public.public_retirements()
    year, kind = params.year(request.GET), request.GET.get("kind", "")
    if kind and kind not in RetirementKind.values:
        raise params.BadInput(_("There is no such kind of retirement."))
    if year is not None:
        retirements = retirements.filter(retired_at__year=year)
    if kind:
        retirements = retirements.filter(kind=kind)
    page, query = page_of_request(request, retirements, order="-retired_at", size=25)
    # Counted with their tonnes in one query over at most COUNT_CAP + 1 rows: a count and a sum over every
    # retirement, and the distinct years of them all, grew with the table on every request. The years run
    # from the first retirement's to the last's: two ends of the (status, retired_at) index.
    counted = retirements.order_by()[: public.COUNT_CAP + 1].aggregate(
        total=Count("pk"), tonnes=Sum("quantity")
    )
    ends = public.public_retirements().aggregate(first=Min("retired_at"), last=Max("retired_at"))
    years = []
    if ends["first"] is not None:
        first, last = (timezone.localtime(ends[end]).year for end in ("first", "last"))
        years = list(range(last, first - 1, -1))
    return render(
        request,
        "offsets/public_retirements.html",
        {
            "page": page,
            "query": query,
            "years": years,
            "year": "" if year is None else str(year),
            "kind": kind,
            "kinds": RetirementKind.choices,
            "total": counted["total"],
            "tonnes": counted["tonnes"] or 0,
            "count_cap": public.COUNT_CAP,
        },
    )


@replica_reads
@cache_for_anonymous(300)
def open_data(request: HttpRequest, dataset: str, fmt: str) -> HttpResponse:
    from offsets import public

    if dataset not in public.DATASETS or fmt not in ("json", "csv"):
        raise Http404
    rows = public.DATASETS[dataset]()
    if fmt == "json":
        response = JsonResponse(
            {"dataset": dataset, "count": len(rows), "rows": rows}, json_dumps_params={"ensure_ascii": False}
        )
    else:
        response = HttpResponse(public.as_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{dataset}.csv"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


@replica_reads
@cache_for_anonymous(300)
def open_data_xlsx(request: HttpRequest) -> HttpResponse:
    from offsets import public

    response = HttpResponse(
        public.as_xlsx(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="carbon-registry.xlsx"'
    return response


def open_data_index(request: HttpRequest) -> HttpResponse:
    from offsets import public
    from registry.models import District

    datasets = list(public.DATASETS)
    return render(request, "offsets/open_data.html", {"datasets": datasets, "districts": District.choices})
