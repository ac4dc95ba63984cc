"""The bureau's ledger screens: transfers and compliance offsets to confirm, any account and its statement,
cancellations, and the compliance policies, records and boundaries.

HTTP only. Each screen is gated by the bureau right it serves, before any object is fetched (a stranger is
refused alike whether the object exists or not); each change is one call of offsets.transfers,
retirements or compliance, which check the right and the state again under their locks and refuse with
a translated message that is shown as it is.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import F, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from offsets import access, compliance, retirements, statements, transfers
from offsets.models import (
    Account,
    BlockStatus,
    BoundaryLink,
    CompliancePolicy,
    ComplianceRecord,
    Movement,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from offsets.office_forms import (
    FIRST_YEAR,
    LAST_YEAR,
    BoundaryLinkForm,
    CancellationForm,
    InstallationForm,
    NewRecordForm,
    PolicyForm,
    ReasonsForm,
    RecordForm,
)
from projects.models import Project
from registry import audit, params
from registry.access import get_visible_or_404
from registry.models import Organisation
from registry.services import TransitionRefused

CONFIRM_TRANSFER = "offsets.confirm_transfer"
CONFIRM_OFFSET = "offsets.confirm_offset"
VIEW_ANY_ACCOUNT = "offsets.view_any_account"
CANCEL = "offsets.cancel_credits"
KEEP = "offsets.keep_compliance"
LINK = "offsets.link_boundary"

RECENT = 50  # decided transfers and offsets shown under the ones awaiting a decision
ACCOUNTS_SHOWN = 200
BLOCKS_SHOWN = 200
SUMMED = (BlockStatus.HELD, BlockStatus.RESERVED, BlockStatus.RETIRED)  # the account list's columns


def _form_errors(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


# --- Transfers ---------------------------------------------------------------------------------------


def _transfers(user):
    return access.transfers_visible_to(user).select_related(
        "from_account__organisation", "to_account__organisation", "requested_by", "decided_by"
    )


@permission_required(CONFIRM_TRANSFER, raise_exception=True)
def transfer_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "offsets/office/transfer_list.html",
        {
            "pending": _transfers(request.user)
            .filter(status=TransferStatus.PENDING)
            .order_by("requested_at", "pk"),
            "decided": _transfers(request.user)
            .exclude(status=TransferStatus.PENDING)
            .order_by("-decided_at", "-pk")[:RECENT],
        },
    )


def _transfer_page(request: HttpRequest, transfer: Transfer, reject_form: ReasonsForm) -> HttpResponse:
    pending = transfer.status == TransferStatus.PENDING
    reserved = (
        SerialBlock.objects.filter(
            account=transfer.from_account, status=BlockStatus.RESERVED, status_reference=transfer.reference
        ).select_related("issuance__phase", "issuance__project")
        if pending
        else []
    )
    return render(
        request,
        "offsets/office/transfer_detail.html",
        {
            "transfer": transfer,
            "pending": pending,
            "reserved": reserved,
            "movements": Movement.objects.filter(reference=transfer.reference).select_related("account"),
            "reject_form": reject_form,
            "events": audit.events_of(transfer).order_by("-seq")[:50],
        },
        status=400 if reject_form.is_bound else 200,
    )


@permission_required(CONFIRM_TRANSFER, raise_exception=True)
def transfer_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return _transfer_page(
        request, get_object_or_404(_transfers(request.user), reference=reference), ReasonsForm()
    )


def _decide(request, obj, decision: str, *, confirm, reject, page, said: dict, back: str) -> HttpResponse:
    """Confirm, or reject with reasons, through the workflow's own functions (they check the state and
    the right again); a refusal is shown as it is, a bad reason re-renders the page."""
    try:
        if decision == "confirm":
            confirm(obj, by=request.user)
        else:
            form = ReasonsForm(request.POST)
            if not form.is_valid():
                return page(request, obj, form)
            reject(obj, by=request.user, reasons=form.cleaned_data["reasons"])
        messages.success(request, said[decision])
    except TransitionRefused as error:
        messages.error(request, str(error))
    return redirect(back, reference=obj.reference)


@require_POST
@permission_required(CONFIRM_TRANSFER, raise_exception=True)
def transfer_decide(request: HttpRequest, reference: str, decision: str) -> HttpResponse:
    if decision not in ("confirm", "reject"):
        raise Http404
    said = {"reference": reference}
    return _decide(
        request,
        get_object_or_404(_transfers(request.user), reference=reference),
        decision,
        confirm=transfers.confirm_transfer,
        reject=transfers.reject_transfer,
        page=_transfer_page,
        said={
            "confirm": _("Transfer %(reference)s confirmed.") % said,
            "reject": _("Transfer %(reference)s rejected.") % said,
        },
        back="offsets:office_transfer",
    )


# --- Compliance offsets ----------------------------------------------------------------------------


def _offsets(user):
    return (
        access.retirements_visible_to(user)
        .filter(kind=RetirementKind.COMPLIANCE)
        .select_related("account__organisation", "requested_by", "decided_by")
    )


@permission_required(CONFIRM_OFFSET, raise_exception=True)
def offset_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "offsets/office/offset_list.html",
        {
            "pending": _offsets(request.user)
            .filter(status=RetirementStatus.PENDING)
            .order_by("requested_at", "pk"),
            "decided": _offsets(request.user)
            .exclude(status=RetirementStatus.PENDING)
            .order_by("-decided_at", "-pk")[:RECENT],
        },
    )


def _checks(offset: Retirement, standing, blocks) -> list[str]:
    """What the confirmation would refuse now, read without locks (confirm_offset checks again under them)."""
    problems = []
    try:
        compliance.check_blocks(standing.policy, offset.account.organisation, blocks)
    except compliance.RuleBroken as broken:
        problems.append(str(broken))
    try:
        compliance.check_cap(standing, offset.quantity, already_counted=True)
    except compliance.RuleBroken as broken:
        problems.append(str(broken))
    return problems


def _offset_page(request: HttpRequest, offset: Retirement, reject_form: ReasonsForm) -> HttpResponse:
    pending = offset.status == RetirementStatus.PENDING
    emitter = offset.account.organisation
    standing, standing_refused, problems = None, "", []
    blocks = list(
        SerialBlock.objects.filter(account=offset.account, status_reference=offset.reference)
        .exclude(status=BlockStatus.SPLIT)
        .select_related("issuance__phase", "issuance__project")
    )
    try:
        standing = compliance.standing(emitter, offset.compliance_year)
    except compliance.RuleBroken as broken:
        standing_refused = str(broken)
    if pending and standing is not None:
        problems = _checks(offset, standing, blocks)
    return render(
        request,
        "offsets/office/offset_detail.html",
        {
            "offset": offset,
            "emitter": emitter,
            "pending": pending,
            "standing": standing,
            "standing_refused": standing_refused,
            "problems": problems,
            "blocks": blocks,
            "reject_form": reject_form,
            "events": audit.events_of(offset).order_by("-seq")[:50],
        },
        status=400 if reject_form.is_bound else 200,
    )


@permission_required(CONFIRM_OFFSET, raise_exception=True)
def offset_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return _offset_page(
        request, get_object_or_404(_offsets(request.user), reference=reference), ReasonsForm()
    )


@require_POST
@permission_required(CONFIRM_OFFSET, raise_exception=True)
def offset_decide(request: HttpRequest, reference: str, decision: str) -> HttpResponse:
    """Confirm (the year's rules are checked again, a refusal names its rule), or reject with reasons."""
    if decision not in ("confirm", "reject"):
        raise Http404
    said = {"reference": reference}
    return _decide(
        request,
        get_object_or_404(_offsets(request.user), reference=reference),
        decision,
        confirm=retirements.confirm_offset,
        reject=retirements.reject_offset,
        page=_offset_page,
        said={
            "confirm": _("Compliance offset %(reference)s confirmed: the credits are retired.") % said,
            "reject": _("Compliance offset %(reference)s rejected.") % said,
        },
        back="offsets:office_offset",
    )


# --- Accounts ----------------------------------------------------------------------------------------


@permission_required(VIEW_ANY_ACCOUNT, raise_exception=True)
def account_list(request: HttpRequest) -> HttpResponse:
    query = params.text(request.GET, "q").strip()[:100]
    accounts = access.accounts_visible_to(request.user).select_related("organisation")
    if query:
        accounts = accounts.filter(
            Q(number__icontains=query)
            | Q(organisation__name__icontains=query)
            | Q(organisation__name_en__icontains=query)
            | Q(organisation__identifier__icontains=query)
        )
    units = F("blocks__last_unit") - F("blocks__first_unit") + 1
    accounts = accounts.annotate(
        **{status: Sum(units, filter=Q(blocks__status=status)) for status in SUMMED}
    ).order_by("number")
    shown = list(accounts[: ACCOUNTS_SHOWN + 1])
    return render(
        request,
        "offsets/office/account_list.html",
        {"accounts": shown[:ACCOUNTS_SHOWN], "more": len(shown) > ACCOUNTS_SHOWN, "q": query},
    )


def _account(request: HttpRequest, number: str) -> Account:
    return get_object_or_404(
        access.accounts_visible_to(request.user).select_related("organisation"), number=number
    )


def _held_blocks(account: Account):
    return (
        SerialBlock.objects.filter(account=account, status=BlockStatus.HELD)
        .select_related("issuance__phase", "issuance__project")
        .order_by("issuance__vintage", "first_unit")[:BLOCKS_SHOWN]
    )


def _account_page(
    request: HttpRequest, account: Account, cancel_form: CancellationForm | None
) -> HttpResponse:
    live = SerialBlock.objects.live().filter(account=account)
    if cancel_form is None and request.user.has_perm(CANCEL):
        cancel_form = CancellationForm(blocks=_held_blocks(account))
    return render(
        request,
        "offsets/office/account_detail.html",
        {
            "account": account,
            "organisation": account.organisation,
            "totals": statements.totals(account),
            "blocks": live.select_related("issuance__phase", "issuance__project").order_by(
                "issuance__vintage", "first_unit"
            )[:BLOCKS_SHOWN],
            "transfers": _transfers(request.user)
            .filter(Q(from_account=account) | Q(to_account=account), status=TransferStatus.PENDING)
            .order_by("requested_at"),
            "retirements": account.retirements.select_related("requested_by").order_by(
                "-requested_at", "-pk"
            )[:RECENT],
            "statement": statements.read(account, request.GET),
            "exports": {
                fmt: reverse("offsets:office_account_statement", args=[account.number, fmt])
                for fmt in statements.FORMATS
            },
            "cancel_form": cancel_form,
        },
        status=400 if cancel_form is not None and cancel_form.is_bound else 200,
    )


@permission_required(VIEW_ANY_ACCOUNT, raise_exception=True)
def account_detail(request: HttpRequest, number: str) -> HttpResponse:
    return _account_page(request, _account(request, number), None)


@permission_required(VIEW_ANY_ACCOUNT, raise_exception=True)
def account_statement(request: HttpRequest, number: str, fmt: str) -> HttpResponse:
    """Any account's statement of the period as CSV or XLSX, for the registry administrator."""
    return statements.download(_account(request, number), request.GET, fmt)


@require_POST
@permission_required(CANCEL, raise_exception=True)
def account_cancel(request: HttpRequest, number: str) -> HttpResponse:
    """Cancel credits of the account, with reasons: the ledger's only correction."""
    account = _account(request, number)
    form = CancellationForm(request.POST, blocks=_held_blocks(account))
    if not form.is_valid():
        return _account_page(request, account, form)
    data = form.cleaned_data
    try:
        retirement = retirements.cancel_credits(
            account,
            by=request.user,
            quantity=data["quantity"],
            reasons=data["reasons"],
            block_ids=data["blocks"] or None,
        )
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("%(quantity)s t cancelled under %(reference)s.")
            % {"quantity": retirement.quantity, "reference": retirement.reference},
        )
    return redirect("offsets:office_account", number=account.number)


# --- Compliance policies -----------------------------------------------------------------------------


def _save_policy(request: HttpRequest, form: PolicyForm, year: int) -> CompliancePolicy | None:
    try:
        return compliance.save_policy(by=request.user, year=year, **form.policy_values())
    except ValidationError as error:
        form.add_error(None, error)
    except TransitionRefused as error:
        form.add_error(None, str(error))
    return None


@permission_required(KEEP, raise_exception=True)
def policy_list(request: HttpRequest) -> HttpResponse:
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        year = form.cleaned_data["year"]
        if CompliancePolicy.objects.filter(year=year).exists():
            form.add_error("year", _("There is a policy for %(year)s already: edit it.") % {"year": year})
        elif _save_policy(request, form, year) is not None:
            messages.success(request, _("The compliance policy for %(year)s is saved.") % {"year": year})
            return redirect("offsets:office_policies")
    return render(
        request,
        "offsets/office/policy_list.html",
        {"policies": CompliancePolicy.objects.order_by("-year"), "form": form},
        status=400 if form.errors else 200,
    )


def _policy(year: int) -> CompliancePolicy:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Http404
    return get_object_or_404(CompliancePolicy, year=year)


@permission_required(KEEP, raise_exception=True)
def policy_edit(request: HttpRequest, year: int) -> HttpResponse:
    policy = _policy(year)
    initial = {name: getattr(policy, name) for name in PolicyForm.base_fields}
    form = PolicyForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid() and _save_policy(request, form, policy.year) is not None:
        messages.success(request, _("The compliance policy for %(year)s is saved.") % {"year": policy.year})
        return redirect("offsets:office_policies")
    return render(
        request,
        "offsets/office/policy_form.html",
        {"policy": policy, "form": form},
        status=400 if form.errors else 200,
    )


# --- Compliance records ------------------------------------------------------------------------------


@permission_required(KEEP, raise_exception=True)
def record_list(request: HttpRequest) -> HttpResponse:
    """The covered emitters' records for one compliance year (the latest policy's by default)."""
    year = params.year(request.GET)
    if year is None:
        latest = CompliancePolicy.objects.order_by("-year").values_list("year", flat=True).first()
        year = latest or timezone.localdate().year
    form = NewRecordForm(request.POST or None, initial={"year": year})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        existing = ComplianceRecord.objects.filter(
            organisation=data["organisation"], year=data["year"]
        ).first()
        if existing is not None:
            form.add_error(
                "year",
                _("%(organisation)s has a record for %(year)s already: edit it.")
                % {"organisation": data["organisation"], "year": data["year"]},
            )
        else:
            try:
                compliance.save_record(
                    by=request.user,
                    organisation=data["organisation"],
                    year=data["year"],
                    verified_emissions_t=data["verified_emissions_t"],
                    allowance_t=data["allowance_t"],
                )
            except TransitionRefused as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("The compliance record is saved."))
                return redirect(f"{reverse('offsets:office_records')}?year={data['year']}")
    policy = CompliancePolicy.objects.filter(year=year).first()
    records = {
        r.organisation_id: r
        for r in ComplianceRecord.objects.filter(year=year).select_related("organisation")
    }
    # The emitters on the list now, and any taken off it since that still have a record for the year.
    listed = Q(is_covered_emitter=True) | Q(pk__in=list(records))
    emitters = Organisation.objects.filter(listed).order_by("name")
    rows = []
    for emitter in emitters:
        record = records.get(emitter.pk)
        standing = compliance.Standing(policy, record) if policy and record else None
        rows.append({"emitter": emitter, "record": record, "standing": standing})
    return render(
        request,
        "offsets/office/record_list.html",
        {
            "year": year,
            "policy": policy,
            "rows": rows,
            "years": CompliancePolicy.objects.order_by("-year").values_list("year", flat=True),
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@permission_required(KEEP, raise_exception=True)
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(ComplianceRecord.objects.select_related("organisation"), pk=pk)
    form = RecordForm(
        request.POST or None,
        initial={"verified_emissions_t": record.verified_emissions_t, "allowance_t": record.allowance_t},
    )
    if request.method == "POST" and form.is_valid():
        try:
            compliance.save_record(
                by=request.user,
                organisation=record.organisation,
                year=record.year,
                verified_emissions_t=form.cleaned_data["verified_emissions_t"],
                allowance_t=form.cleaned_data["allowance_t"],
            )
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("The compliance record is saved."))
            return redirect(f"{reverse('offsets:office_records')}?year={record.year}")
    policy = CompliancePolicy.objects.filter(year=record.year).first()
    return render(
        request,
        "offsets/office/record_form.html",
        {
            "record": record,
            "standing": compliance.Standing(policy, record) if policy else None,
            "form": form,
        },
        status=400 if form.errors else 200,
    )


# --- Boundaries --------------------------------------------------------------------------------------


@permission_required(KEEP, raise_exception=True)
def boundary(request: HttpRequest, pk: int) -> HttpResponse:
    """A covered emitter's compliance boundary: its installations and the projects linked inside it."""
    organisation = get_visible_or_404(Organisation.objects, request.user, pk=pk)
    form = InstallationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            compliance.add_installation(
                by=request.user,
                organisation=organisation,
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
            )
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("The installation is added to the boundary."))
            return redirect("offsets:office_boundary", pk=organisation.pk)
    return render(
        request,
        "offsets/office/boundary.html",
        {
            "organisation": organisation,
            "installations": organisation.installations.all(),
            "links": BoundaryLink.objects.filter(emitter=organisation).select_related(
                "project", "installation"
            ),
            "records": organisation.compliance_records.order_by("-year"),
            "form": form,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@permission_required(LINK, raise_exception=True)
def link_boundary(request: HttpRequest, pk: int) -> HttpResponse:
    """The technical reviewer links a project to the covered emitter whose boundary it lies in (or none)."""
    project = get_visible_or_404(Project.objects, request.user, pk=pk)
    back = params.text(request.POST, "next")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = ""
    back = back or reverse("projects:office_case", args=["projects", project.pk])
    form = BoundaryLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form is incomplete: %(errors)s") % {"errors": _form_errors(form)})
        return redirect(back)
    emitter = form.cleaned_data["emitter"]
    try:
        compliance.link_project(
            by=request.user, project=project, emitter=emitter, installation=form.cleaned_data["installation"]
        )
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        if emitter is None:
            messages.success(request, _("Recorded: the project lies inside no covered emitter's boundary."))
        else:
            messages.success(
                request,
                _(
                    "Recorded: the project lies inside the boundary of %(emitter)s; "
                    "its credits never count for that emitter."
                )
                % {"emitter": emitter},
            )
    return redirect(back)
