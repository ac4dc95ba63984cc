"""The bureau's screen for platform operators (平台运营方), for the registry administrator: each platform's
aggregation agreement (平台归集 threshold and scenarios) and its API keys, issued and revoked.

HTTP only. Anonymous visitors are sent to log in; anyone but the registry administrator gets 403 before any
platform is fetched. Each change is one call of offsets.behaviour.services, which checks the right again and
records the audit event. A new key's token is shown on the page the issuing POST redirects to (so a double
click issues one key), from the cache, for two minutes and to that session only; never from the database,
the session or a message: the registry keeps only its SHA-256.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from offsets.behaviour import services
from offsets.behaviour.forms import AgreementForm, CredentialForm
from offsets.behaviour.models import AggregationPeriod, ApiCredential, Batch, PlatformAgreement
from registry import access
from registry.models import Organisation, OrganisationKind
from registry.transitions import TransitionRefused

RECENT_BATCHES = 10
RECENT_PERIODS = 12


def registry_admin_only(view):
    """Log in first; then the registry administrator only (403 for anyone else)."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        access.require(access.may_verify_organisations, request.user)
        return view(request, *args, **kwargs)

    return guarded


def form_action(view):
    """A form's POST address: a GET of it (the address bar after the form came back with its errors, then
    Enter or a reload) goes to the platform's page instead of an empty 405."""

    @wraps(view)
    def checked(request: HttpRequest, pk: int, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return redirect("behaviour:office_platform", pk=pk)
        return view(request, pk, *args, **kwargs)

    return checked


def _refusal(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def _platform(pk: int) -> Organisation:
    return get_object_or_404(Organisation, pk=pk, kind=OrganisationKind.PLATFORM_OPERATOR)


@registry_admin_only
def platform_list(request: HttpRequest) -> HttpResponse:
    latest = Batch.objects.filter(platform=OuterRef("pk")).order_by("-received_at").values("received_at")[:1]
    platforms = (
        Organisation.objects.filter(kind=OrganisationKind.PLATFORM_OPERATOR)
        .select_related("platform_agreement")
        .annotate(
            live_keys=Count("api_credentials", filter=Q(api_credentials__revoked_at=None)),
            last_batch=Subquery(latest),
        )
        .order_by("name")
    )
    return render(request, "behaviour/office/platform_list.html", {"platforms": platforms})


def _page(
    request: HttpRequest,
    platform: Organisation,
    *,
    agreement_form: AgreementForm | None = None,
    key_form: CredentialForm | None = None,
    token: str = "",
    new_credential: ApiCredential | None = None,
    status: int = 200,
) -> HttpResponse:
    agreement = PlatformAgreement.objects.filter(organisation=platform).first()
    if agreement_form is None:
        initial = (
            {
                "threshold_g": agreement.threshold_g,
                "scenarios": list(agreement.scenarios.all()),
                "agreed_on": agreement.agreed_on,
            }
            if agreement
            else {}
        )
        agreement_form = AgreementForm(initial=initial, auto_id="agreement_%s")
    return render(
        request,
        "behaviour/office/platform_detail.html",
        {
            "platform": platform,
            "agreement": agreement,
            "agreed_scenario_names": [s.name for s in agreement.scenarios.order_by("category", "code")]
            if agreement
            else [],
            "agreement_form": agreement_form,
            "key_form": key_form or CredentialForm(auto_id="key_%s"),
            "credentials": ApiCredential.objects.filter(organisation=platform)
            .select_related("created_by", "revoked_by")
            .order_by("-created_at", "-pk"),
            "token": token,
            "new_credential": new_credential,
            "batches": Batch.objects.filter(platform=platform).order_by("-received_at", "-pk")[
                :RECENT_BATCHES
            ],
            "periods": AggregationPeriod.objects.filter(platform=platform)
            .select_related("declaration")
            .order_by("-month")[:RECENT_PERIODS],
        },
        status=status,
    )


@registry_admin_only
def platform_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _platform(pk))


@form_action
@registry_admin_only
def agreement(request: HttpRequest, pk: int) -> HttpResponse:
    platform = _platform(pk)
    form = AgreementForm(request.POST, auto_id="agreement_%s")
    if not form.is_valid():
        return _page(request, platform, agreement_form=form, status=400)
    try:
        services.set_agreement(
            platform,
            by=request.user,
            threshold_g=form.cleaned_data["threshold_g"],
            scenarios=list(form.cleaned_data["scenarios"]),
            agreed_on=form.cleaned_data["agreed_on"],
        )
    except (TransitionRefused, ValidationError) as refused:
        messages.error(request, _refusal(refused))
    else:
        messages.success(request, _("The agreement with %(platform)s is recorded.") % {"platform": platform})
    return redirect("behaviour:office_platform", pk=platform.pk)


NEW_TOKEN_SECONDS = 120  # how long a new key's token can be shown


def _waiting_token(request: HttpRequest, key_id: str) -> str:
    """Where a new key's token waits: the cache (never the database), for this session and key only."""
    return f"behaviour:new-token:{request.session.session_key}:{key_id}"


@form_action
@registry_admin_only
def issue_key(request: HttpRequest, pk: int) -> HttpResponse:
    """A new key, then a redirect to the page that shows its token. The answer to the POST is a redirect so
    that the form's once-only token (registry.middleware.OnceOnlyMiddleware) makes a double click issue one
    key, the second click landing where the first led. The token waits in the cache for that page, for this
    session only and NEW_TOKEN_SECONDS at most; the registry keeps only its hash."""
    platform = _platform(pk)
    form = CredentialForm(request.POST, auto_id="key_%s")
    if not form.is_valid():
        return _page(request, platform, key_form=form, status=400)
    try:
        credential, token = services.issue_credential(
            platform, by=request.user, label=form.cleaned_data["label"]
        )
    except (TransitionRefused, ValidationError) as refused:
        messages.error(request, _refusal(refused))
        return redirect("behaviour:office_platform", pk=platform.pk)
    cache.set(_waiting_token(request, credential.key_id), token, NEW_TOKEN_SECONDS)
    return redirect("behaviour:office_platform_new_key", pk=platform.pk, key_id=credential.key_id)


@registry_admin_only
def new_key(request: HttpRequest, pk: int, key_id: str) -> HttpResponse:
    """The token of the key just issued (no-store), for NEW_TOKEN_SECONDS after it was issued and to the
    session that issued it; later or elsewhere only a note that it cannot be shown again. Not taken away at
    the first showing: with a double click, the browser drops the answer to the first click's redirect, which
    would have shown it, and shows the second's."""
    platform = _platform(pk)
    credential = get_object_or_404(ApiCredential, organisation=platform, key_id=key_id)
    token = cache.get(_waiting_token(request, key_id))
    if token:
        response = _page(request, platform, token=token, new_credential=credential)
    else:
        messages.info(
            request,
            _(
                "The token of key %(key)s was shown once, when it was issued, and cannot be shown again. If "
                "it was not given to the platform, revoke the key and issue another."
            )
            % {"key": key_id},
        )
        response = redirect("behaviour:office_platform", pk=platform.pk)
    add_never_cache_headers(response)
    return response


@require_POST
@registry_admin_only
def revoke_key(request: HttpRequest, pk: int, key_id: str) -> HttpResponse:
    platform = _platform(pk)
    credential = get_object_or_404(ApiCredential, organisation=platform, key_id=key_id)
    try:
        services.revoke_credential(credential, by=request.user)
    except TransitionRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request, _("Key %(key)s revoked: it no longer opens the API.") % {"key": credential.key_id}
        )
    return redirect("behaviour:office_platform", pk=platform.pk)
