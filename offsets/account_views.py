"""The holder's account (登记账户) on the enterprise portal: the account page, its statement and exports,
transfers (划转), voluntary retirements (注销) and compliance offsets (抵销).

Every member of the holding organisation reads; its administrator and declarants act, its viewers get
403 on an action; another organisation's account, transfer or retirement answers 404 (offsets.access).
Each action calls one service (offsets.transfers, offsets.retirements) and shows its refusal as it is.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from offsets import access, compliance, ledger, retirements, statements, transfers
from offsets.forms import OffsetForm, RetirementForm, TransferForm
from offsets.models import (
    Account,
    BlockStatus,
    Certificate,
    CertificateKind,
    CompliancePolicy,
    Movement,
    Retirement,
    RetirementKind,
    RetirementStatus,
    Transfer,
    TransferStatus,
)
from projects.paging import keyset_page
from registry import params
from registry.access import is_member_of, require
from registry.services import TransitionRefused
from registry.uploads import PDF, attachment

PAGE_SIZE = 50

# --- Fetching ----------------------------------------------------------------------------------------


def _account(request: HttpRequest) -> Account:
    """The member's own holding account; 404 for anyone who is not a member, or before it is opened."""
    account = access.own_account(request)
    if account is None:
        raise Http404
    return account


def _require_actor(request: HttpRequest, account: Account) -> None:
    """Administrators and declarants act; a viewer (or the bureau, on a holder's form) gets 403."""
    require(access.may_move_credits, request.user, account)


def _layout(request: HttpRequest) -> str:
    return "layouts/office.html" if request.user.is_bureau else "layouts/portal.html"


def _page_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    for key in ("after", "before", "page"):
        query.pop(key, None)
    return query.urlencode()


def _keyset(request: HttpRequest, queryset, order: str):
    return keyset_page(
        queryset,
        order=order,
        size=PAGE_SIZE,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        last=request.GET.get("page") == "last",
    )


# --- The account page --------------------------------------------------------------------------------


@login_required
def account(request: HttpRequest) -> HttpResponse:
    membership = access.own_membership(request)
    holding = access.own_account(request)
    context = {"organisation": membership.organisation, "holding": holding}
    if holding is not None:
        context.update(
            can_act=access.may_move_credits(request.user, holding),
            totals=statements.totals(holding),
            # Paged in serial order: an account can hold any number of blocks (each transfer splits some).
            blocks=_keyset(
                request,
                holding.blocks.live().select_related("issuance__project", "issuance__phase"),
                "first_unit",
            ),
            block_count=holding.blocks.live().count(),
            certificates=Certificate.objects.filter(
                kind=CertificateKind.REGISTRATION, issuance__account=holding
            ).order_by("-issued_at"),
            transfers=_transfers_of(holding).filter(status=TransferStatus.PENDING),
            offsets=holding.retirements.filter(
                kind=RetirementKind.COMPLIANCE, status=RetirementStatus.PENDING
            ),
            latest_retirements=holding.retirements.exclude(status=RetirementStatus.PENDING)[:5],
        )
    return render(request, "offsets/account/account.html", context)


# --- The statement (offsets.statements) --------------------------------------------------------------


@login_required
def statement(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    return render(
        request,
        "offsets/account/statement.html",
        {
            "holding": holding,
            "statement": statements.read(holding, request.GET),
            "exports": {fmt: reverse("offsets:statement_export", args=[fmt]) for fmt in statements.FORMATS},
        },
    )


@login_required
def statement_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The statement of the period as CSV or XLSX (404 for another format): every line, formulas
    neutralised."""
    return statements.download(_account(request), request.GET, fmt)


# --- Transfers ---------------------------------------------------------------------------------------


def _transfers_of(holding: Account):
    return Transfer.objects.filter(Q(from_account=holding) | Q(to_account=holding)).select_related(
        "from_account__organisation", "to_account__organisation"
    )


DIRECTIONS = ("", "out", "in")


@login_required
def transfer_list(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    direction = request.GET.get("direction", "")
    if direction not in DIRECTIONS:
        raise params.BadInput(_("Choose the transfers sent, received, or all of them."))
    found = {
        "": _transfers_of(holding),
        "out": holding.transfers_out.select_related("to_account__organisation"),
        "in": holding.transfers_in.select_related("from_account__organisation"),
    }[direction]
    page = _keyset(request, found, "-requested_at")
    return render(
        request,
        "offsets/account/transfer_list.html",
        {
            "holding": holding,
            "page": page,
            "query": _page_query(request),
            "direction": direction,
            "can_act": access.may_move_credits(request.user, holding),
        },
    )


def _free_blocks(holding: Account):
    return (
        holding.blocks.filter(status=BlockStatus.HELD)
        .select_related("issuance__project", "issuance__phase")
        .order_by("issuance__vintage", "first_unit")
    )


@login_required
def transfer_create(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    if request.method == "POST":
        _require_actor(request, holding)
    form = TransferForm(request.POST or None, blocks=_free_blocks(holding))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            transfer = transfers.request_transfer(
                holding,
                by=request.user,
                to_number=data["to_number"],
                quantity=data["quantity"],
                block_ids=data["blocks"] or None,
                note=data["note"],
            )
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                _("Transfer %(reference)s is recorded: %(quantity)s t are reserved for it.")
                % {"reference": transfer.reference, "quantity": transfer.quantity},
            )
            return redirect(transfer)
    return render(
        request,
        "offsets/account/transfer_form.html",
        {
            "holding": holding,
            "form": form,
            "free": ledger.free_quantity(holding),
            "can_act": access.may_move_credits(request.user, holding),
        },
    )


def _serials_of(account: Account, reference: str) -> str:
    """The serials a transfer reserved or sent, or an offset reserved or retired, from its movements."""
    movement = (
        Movement.objects.filter(account=account, reference=reference)
        .exclude(serials="")
        .order_by("-at", "-pk")
        .first()
    )
    return movement.serials if movement else ""


@login_required
def transfer_detail(request: HttpRequest, reference: str) -> HttpResponse:
    transfer = access.transfer_for(request.user, reference)
    sender = transfer.from_account
    return render(
        request,
        "offsets/account/transfer_detail.html",
        {
            "transfer": transfer,
            "layout": _layout(request),
            "serials": _serials_of(sender, transfer.reference).splitlines(),
            # The requester's name is the sending organisation's business (and the bureau's).
            "sender_side": request.user.is_bureau or is_member_of(request.user, sender.organisation),
            "can_cancel": transfer.status == TransferStatus.PENDING
            and access.may_move_credits(request.user, sender),
        },
    )


@require_POST
@login_required
def transfer_cancel(request: HttpRequest, reference: str) -> HttpResponse:
    transfer = access.transfer_for(request.user, reference)
    _require_actor(request, transfer.from_account)
    try:
        transfers.cancel_transfer(transfer, by=request.user)
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The transfer is cancelled; its credits are free again."))
    return redirect(transfer)


# --- Retirements and compliance offsets -----------------------------------------------------------------


@login_required
def retirement_list(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    page = _keyset(request, holding.retirements.all(), "-requested_at")
    return render(
        request,
        "offsets/account/retirement_list.html",
        {
            "holding": holding,
            "page": page,
            "query": _page_query(request),
            "can_act": access.may_move_credits(request.user, holding),
        },
    )


@login_required
def retire(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    if request.method == "POST":
        _require_actor(request, holding)
    form = RetirementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            retirement = retirements.retire_voluntarily(
                holding,
                by=request.user,
                quantity=data["quantity"],
                beneficiary_kind=data["beneficiary_kind"],
                beneficiary=data["beneficiary"],
                purpose=data["purpose"],
            )
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                _("%(quantity)s t are retired under %(reference)s; the certificate follows shortly.")
                % {"reference": retirement.reference, "quantity": retirement.quantity},
            )
            return redirect(retirement)
    return render(
        request,
        "offsets/account/retirement_form.html",
        {
            "holding": holding,
            "form": form,
            "free": ledger.free_quantity(holding),
            "can_act": access.may_move_credits(request.user, holding),
        },
    )


def _default_year(years: list[int]) -> int | None:
    """The compliance year whose offset window is open today, else the latest with a policy."""
    today = timezone.localdate()
    open_now = CompliancePolicy.objects.filter(window_opens__lte=today, window_closes__gte=today)
    return open_now.values_list("year", flat=True).order_by("-year").first() or (years[0] if years else None)


def _standing(organisation, year: int | None) -> tuple[compliance.Standing | None, str]:
    """The emitter's standing for the year, or the rule that stops any offset, in the reader's language."""
    if year is None:
        return None, _("There is no compliance policy yet.")
    try:
        return compliance.standing(organisation, year), ""
    except compliance.RuleBroken as rule_broken:
        return None, str(rule_broken)


@login_required
def offset_request(request: HttpRequest) -> HttpResponse:
    holding = _account(request)
    organisation = holding.organisation
    if request.method == "POST":
        _require_actor(request, holding)
    years = list(CompliancePolicy.objects.order_by("-year").values_list("year", flat=True))
    year = params.year(request.GET) or _default_year(years)
    if year is not None and year not in years:
        raise Http404
    form = OffsetForm(request.POST or None, years=years, initial={"year": year})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        year = data["year"]
        try:
            retirement = retirements.request_offset(
                holding, by=request.user, year=year, quantity=data["quantity"]
            )
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                _(
                    "Offset %(reference)s of %(quantity)s t for %(year)s is recorded: the credits are "
                    "reserved until the registry administrator confirms it."
                )
                % {"reference": retirement.reference, "quantity": retirement.quantity, "year": year},
            )
            return redirect(retirement)
    standing, refusal = _standing(organisation, year)
    eligible = (
        ledger.free_quantity(holding, compliance.eligible_credits(standing.policy, organisation))
        if standing
        else None
    )
    return render(
        request,
        "offsets/account/offset_form.html",
        {
            "holding": holding,
            "form": form,
            "year": year,
            "years": years,
            "standing": standing,
            "eligible": eligible,
            "refusal": refusal,
            "is_covered_emitter": organisation.is_covered_emitter,
            "offsets": holding.retirements.filter(kind=RetirementKind.COMPLIANCE, compliance_year=year)
            if year
            else Retirement.objects.none(),
            "can_act": access.may_move_credits(request.user, holding),
        },
    )


@login_required
def retirement_detail(request: HttpRequest, reference: str) -> HttpResponse:
    retirement = access.retirement_for(request.user, reference)
    certificate = Certificate.objects.filter(retirement=retirement).first()
    return render(
        request,
        "offsets/account/retirement_detail.html",
        {
            "retirement": retirement,
            "layout": _layout(request),
            "serials": retirement.serials.splitlines(),
            "certificate": certificate if certificate and certificate.file else None,
            "can_withdraw": retirement.kind == RetirementKind.COMPLIANCE
            and retirement.status == RetirementStatus.PENDING
            and access.may_move_credits(request.user, retirement.account),
        },
    )


@require_POST
@login_required
def offset_withdraw(request: HttpRequest, reference: str) -> HttpResponse:
    retirement = access.retirement_for(request.user, reference)
    _require_actor(request, retirement.account)
    try:
        retirements.withdraw_offset(retirement, by=request.user)
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The offset request is withdrawn; its credits are free again."))
    return redirect(retirement)


@login_required
def retirement_certificate(request: HttpRequest, reference: str) -> HttpResponse:
    """The retirement certificate's PDF, once made, to the retiring organisation and the bureau's staff."""
    certificate = access.retirement_certificate_for(request.user, reference)
    return attachment(certificate.file, kind=PDF, stem=certificate.number)
