from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from registry import access, audit, notifications, params, roles, services, uploads
from registry.caching import cache_for_anonymous
from registry.db_router import replica_reads
from registry.filters import AuditEventFilter, OrganisationFilter
from registry.forms import (
    AcceptInvitationForm,
    CoveredEmitterForm,
    InviteForm,
    KindForm,
    OrganisationForm,
    ReasonForm,
    RoleForm,
    SignUpForm,
)
from registry.kept_uploads import UploadHolder
from registry.models import (
    AuditEvent,
    Delivery,
    Heartbeat,
    Invitation,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    OrgRole,
    User,
)
from registry.notifications import EMAIL_CONFIRMATION_SALT

EMAIL_CONFIRMATION_MAX_AGE = 3 * 24 * 3600
AUDIT_PAGE_SIZE = 50

# --- Public ---------------------------------------------------------------------------------------


@replica_reads
@cache_for_anonymous(60)
def home(request: HttpRequest) -> HttpResponse:
    from registry.home import home_context

    return render(request, "registry/home.html", home_context())


def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None, request.FILES or None, holder=UploadHolder(request))
    if request.method == "POST" and form.is_valid():
        organisation = form.save(commit=False)
        licence = form.cleaned_data.get("business_licence")
        if licence:
            organisation.business_licence = licence
            organisation.business_licence_sha256 = form.checked_licence.sha256
        services.sign_up(
            organisation=organisation,
            email=form.cleaned_data["admin_email"],
            full_name=form.cleaned_data["admin_name"],
            password=form.cleaned_data["password1"],
            language=form.cleaned_data["language"],
        )
        return redirect("registry:sign_up_done")
    return render(request, "registry/sign_up.html", {"form": form})


def sign_up_done(request: HttpRequest) -> HttpResponse:
    return render(request, "registry/sign_up_done.html")


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        pk = TimestampSigner(salt=EMAIL_CONFIRMATION_SALT).unsign(token, max_age=EMAIL_CONFIRMATION_MAX_AGE)
    except SignatureExpired:
        return render(request, "registry/confirm_email.html", {"problem": "expired"}, status=400)
    except BadSignature:
        return render(request, "registry/confirm_email.html", {"problem": "invalid"}, status=400)
    user = get_object_or_404(User, pk=pk)
    services.confirm_email(user)
    return render(request, "registry/confirm_email.html", {"confirmed_user": user})


def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.select_related("organisation"), token=token)
    if not invitation.is_open:
        return render(request, "registry/invitation_accept.html", {"invitation": invitation, "closed": True})
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        # Someone with an account accepts while logged in as that account, so nobody else can take the seat.
        if request.user != existing:
            messages.info(
                request, _("Log in with %(email)s to accept the invitation.") % {"email": existing.email}
            )
            return redirect_to_login(request.get_full_path())
        if request.method == "POST":
            try:
                services.accept_invitation(invitation, user=existing)
            except services.TransitionRefused as error:
                messages.error(request, str(error))
                return redirect("registry:portal")
            messages.success(request, _("You have joined %(org)s.") % {"org": invitation.organisation})
            return redirect("registry:portal")
        return render(request, "registry/invitation_accept.html", {"invitation": invitation, "form": None})
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.accept_invitation(
                invitation,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
                language=form.cleaned_data["language"],
            )
        except services.TransitionRefused as error:
            messages.error(request, str(error))
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("You have joined %(org)s.") % {"org": invitation.organisation})
            return redirect("registry:portal")
    return render(request, "registry/invitation_accept.html", {"invitation": invitation, "form": form})


@require_GET
def switch_language(request: HttpRequest) -> HttpResponse:
    """Remember the chosen language in its cookie and go back. A GET link, not Django's POST set_language:
    public pages are cached, and a form with a CSRF token would serve one visitor's token to everyone.
    Switching the language changes nothing else, so it needs no token."""
    language = request.GET.get("language", "")
    target = request.GET.get("next", "/")
    # Back to a page of this site only: a path, never another host, and never a URL name to resolve.
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    if language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path="/",
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=False,
        )
    return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Where a login lands: bureau staff in the back office, everyone else in the enterprise portal."""
    return redirect("registry:office" if request.user.is_bureau else "registry:portal")


@login_required
def licence_download(request: HttpRequest, pk: int) -> FileResponse:
    """The business licence, to the organisation's members and to the bureau; anyone else gets 404."""
    organisation = access.get_visible_or_404(Organisation.objects, request.user, pk=pk)
    licence = organisation.business_licence
    # Stored under our name with the checked kind's extension; an older file under a user's name whose
    # extension is not one of ours goes out as opaque bytes, never as the type its name suggests.
    return uploads.attachment(
        licence,
        kind=uploads.kind_of_stored_name(licence.name) if licence else None,
        stem=f"business-licence-{organisation.identifier}",
    )


# --- Enterprise portal ----------------------------------------------------------------------------


@login_required
def portal(request: HttpRequest) -> HttpResponse:
    if request.user.is_bureau:
        return redirect("registry:office")
    return render(request, "registry/portal_home.html", {"membership": access.current_membership(request)})


@login_required
def organisation_detail(request: HttpRequest) -> HttpResponse:
    membership = access.own_membership(request)
    organisation = membership.organisation
    return render(
        request,
        "registry/organisation_detail.html",
        {
            "membership": membership,
            "organisation": organisation,
            "is_admin": access.is_admin_of(request.user, organisation),
            "events": audit.events_of(organisation)[:20],
        },
    )


@login_required
def organisation_edit(request: HttpRequest) -> HttpResponse:
    organisation = access.own_membership(request).organisation
    access.require(access.is_admin_of, request.user, organisation)
    form = OrganisationForm(
        request.POST or None, request.FILES or None, instance=organisation, holder=UploadHolder(request)
    )
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        licence = form.cleaned_data.get("business_licence")
        if licence:
            changes["business_licence"] = licence
            changes["business_licence_sha256"] = form.checked_licence.sha256
        # The form wrote its values onto the instance while validating; the service starts from the row.
        organisation.refresh_from_db()
        try:
            updated = services.update_organisation(organisation, by=request.user, changes=changes)
        except services.TransitionRefused as error:
            messages.error(request, str(error))
            form.keep_licence()
        else:
            if updated.status == OrganisationStatus.PENDING:
                messages.info(request, _("Saved. The changed details go to the Bureau for verification."))
            else:
                messages.success(request, _("Saved."))
            return redirect("registry:organisation")
    return render(request, "registry/organisation_form.html", {"form": form, "organisation": organisation})


@login_required
def members(request: HttpRequest) -> HttpResponse:
    membership = access.own_membership(request)
    organisation = membership.organisation
    return render(
        request,
        "registry/members.html",
        {
            "membership": membership,
            "organisation": organisation,
            "is_admin": access.is_admin_of(request.user, organisation),
            "members": organisation.memberships.select_related("user").order_by("role", "user__full_name"),
            "invitations": [i for i in organisation.invitations.order_by("-created_at")[:20] if i.is_open],
            "invite_form": InviteForm(),
            "role_choices": OrgRole.choices,
        },
    )


@require_POST
@login_required
def invite(request: HttpRequest) -> HttpResponse:
    organisation = access.own_membership(request).organisation
    access.require(access.is_admin_of, request.user, organisation)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a valid e-mail address and a role."))
    else:
        try:
            services.invite_member(
                organisation,
                by=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except services.TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]}
            )
    return redirect("registry:members")


@require_POST
@login_required
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_for(request.user, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
    else:
        try:
            services.change_role(member, by=request.user, role=form.cleaned_data["role"])
        except services.TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Role changed."))
    return redirect("registry:members")


@require_POST
@login_required
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_for(request.user, pk)
    try:
        services.remove_member(member, by=request.user)
    except services.TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Member removed."))
    return redirect("registry:members")


@require_POST
@login_required
def member_hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_for(request.user, pk)
    try:
        services.hand_over_admin(member, by=request.user)
    except services.TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(name)s is now the administrator.") % {"name": member.user})
    return redirect("registry:members")


# --- Inbox -------------------------------------------------------------------------------------------


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    entries = list(
        access.deliveries_visible_to(request.user).select_related("event").order_by("-event__seq")[:100]
    )
    # What each entry is about, in the reader's language (an organisation's English name, a declaration's
    # period in English), not as it was recorded.
    labels = notifications.subject_labels([entry.event for entry in entries])
    for entry in entries:
        entry.subject_label = labels[entry.event_id]
    # In the face the reader works in: the back office's menu for bureau staff, the portal's for the others.
    layout = "layouts/office.html" if request.user.is_bureau else "layouts/portal.html"
    return render(request, "registry/inbox.html", {"entries": entries, "layout": layout})


@login_required
def inbox_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one entry read and go to what it is about."""
    entry = get_object_or_404(access.deliveries_visible_to(request.user).select_related("event"), pk=pk)
    Delivery.objects.filter(pk=entry.pk, read_at__isnull=True).update(read_at=timezone.now())
    return redirect(notifications.link_for(entry))


# --- Back office ------------------------------------------------------------------------------------


@login_required
def office(request: HttpRequest) -> HttpResponse:
    if not request.user.is_bureau:
        raise PermissionDenied
    return render(
        request,
        "registry/office_home.html",
        {
            "roles": roles.roles_of(request.user),
            "pending_organisations": Organisation.objects.awaiting_verification().count(),
        },
    )


@permission_required("registry.view_organisation", raise_exception=True)
def office_organisations(request: HttpRequest) -> HttpResponse:
    filterset = OrganisationFilter(
        request.GET or None, queryset=Organisation.objects.order_by("status", "name")
    )
    return render(
        request,
        "registry/office_organisation_list.html",
        {"filter": filterset, "organisations": filterset.qs[:200]},
    )


@permission_required("registry.view_organisation", raise_exception=True)
def office_organisation(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = access.get_visible_or_404(Organisation.objects, request.user, pk=pk)
    return render(
        request,
        "registry/office_organisation_detail.html",
        {
            "organisation": organisation,
            "members": organisation.memberships.select_related("user"),
            "events": audit.events_of(organisation)[:50],
            "form": ReasonForm(),
            # The decisions the table offers now (verify, reject, suspend, reinstate): a button each.
            "steps": services.ORGANISATIONS.offered(organisation, request.user),
            "can_decide": access.may_verify_organisations(request.user),
            # Own id prefixes: three forms on one page each have a reasons field.
            "kind_form": KindForm(initial={"kind": organisation.kind}, auto_id="kind_%s"),
            # Only an enterprise carries the covered-emitter flag.
            "covered_emitter_form": CoveredEmitterForm(
                initial={"is_covered_emitter": organisation.is_covered_emitter}, auto_id="covered_%s"
            )
            if organisation.kind == OrganisationKind.ENTERPRISE
            else None,
        },
    )


@require_POST
@permission_required("registry.verify_organisation", raise_exception=True)
def office_organisation_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    if decision not in services.ORGANISATIONS or services.ORGANISATIONS[decision].form is None:
        raise Http404  # a step of the table without a decision form of its own (the kind has its own)
    step = services.ORGANISATIONS[decision]
    form = step.form(request.POST)
    form.is_valid()  # the reasons are optional here; the service refuses a decision that needs them
    try:
        services.ORGANISATIONS.function(decision)(organisation, by=request.user, **step.arguments(form))
    except services.TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Decision recorded; the organisation has been told."))
    return redirect("registry:office_organisation", pk=pk)


@require_POST
@permission_required("registry.verify_organisation", raise_exception=True)
def office_organisation_kind(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    form = KindForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a kind and give the reasons for the change."))
    else:
        try:
            services.change_kind(
                organisation,
                kind=form.cleaned_data["kind"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except services.TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _("Kind changed; the organisation is back in verification and has been told.")
            )
    return redirect("registry:office_organisation", pk=pk)


@require_POST
@permission_required("registry.verify_organisation", raise_exception=True)
def office_organisation_covered_emitter(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    form = CoveredEmitterForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reasons for the change."))
    else:
        try:
            services.set_covered_emitter(
                organisation,
                flag=form.cleaned_data["is_covered_emitter"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except services.TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Covered-emitter status recorded; the organisation has been told."))
    return redirect("registry:office_organisation", pk=pk)


@permission_required("registry.view_audit_log", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Newest first, keyset-paged on seq so that the thousandth page costs what the first does."""
    filterset = AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.all())
    events = filterset.qs.order_by("-seq")
    before = params.integer(request.GET, "before")
    if before is not None:
        events = events.filter(seq__lt=before)
    page = list(events[: AUDIT_PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "registry/audit_log.html",
        {
            "filter": filterset,
            "events": page[:AUDIT_PAGE_SIZE],
            "older": page[AUDIT_PAGE_SIZE - 1].seq if len(page) > AUDIT_PAGE_SIZE else None,
            "query": query.urlencode(),
        },
    )


# --- Operations -------------------------------------------------------------------------------------


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return "error"
    return "ok"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return "error"
    finally:
        client.close()
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for the load balancer: database and (when configured) Redis, plus the last worker beat."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = checks["database"] == "ok" and checks["redis"] != "error"
    body = {"status": "ok" if healthy else "error", **checks}
    if checks["database"] == "ok":
        beat = Heartbeat.objects.filter(name="worker").first()
        body["worker_last_seen"] = beat.last_seen.isoformat() if beat else None
    return JsonResponse(body, status=200 if healthy else 503)


def permission_denied(request: HttpRequest, exception) -> HttpResponse:
    return render(request, "403.html", status=403)


def bad_request(request: HttpRequest, exception) -> HttpResponse:
    from registry.params import BadInput

    # Only our own messages are shown: Django's (too many fields, a bad host) are in English and technical.
    message = str(exception) if isinstance(exception, BadInput) else ""
    return render(request, "400.html", {"message": message}, status=400)


def page_not_found(request: HttpRequest, exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors or database here: whatever failed must not fail the error page too.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)
