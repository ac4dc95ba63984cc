"""The pages under /accounts/ that are ours: the password reset with throttled e-mail and lifted login
pauses, and the second step of a login (registry.mfa): set up an authenticator, enter a code, see the
recovery codes once, renew them, turn two-factor login off (enterprise users only)."""

from urllib.parse import urlencode

import django_otp
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from registry import auth, mfa
from registry.forms import OTPCodeForm
from registry.services import TransitionRefused

# The recovery codes just made, kept in the session only until the page that shows them once.
NEW_RECOVERY_CODES = "mfa_new_recovery_codes"

# --- Password reset -------------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Sends the link within the hourly limits only. The answer is the same page whether the account
    exists, the link was sent or a limit held it back, so it tells nobody who is registered."""

    def form_valid(self, form):
        if auth.password_reset_allowed(self.request, form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        auth.password_was_reset(form.user)
        return response


# --- Two-factor login -----------------------------------------------------------------------------


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next", "")
    # A path of this site only: redirect() would try "0" or "NaN" as a URL name and fail with a 500.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url("registry:dashboard")


def _with_next(name: str, request: HttpRequest) -> str:
    return f"{reverse(name)}?{urlencode({'next': _next_url(request)})}"


def _passed(request: HttpRequest, device) -> None:
    django_otp.login(request, device)
    # A new session key once the login is complete: a key seen before the second step is worth nothing.
    request.session.cycle_key()


@never_cache
@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if mfa.authenticator_of(user) is None:
        return redirect(_with_next("mfa_enrol", request) if mfa.is_required(user) else _next_url(request))
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.verify(user, form.cleaned_data["code"])
        except mfa.Throttled as refusal:
            form.add_error("code", str(refusal))
        else:
            if device is not None:
                _passed(request, device)
                return redirect(_next_url(request))
            form.add_error(
                "code",
                _("This code is not right. Check the clock of your phone, or use a recovery code instead."),
            )
    return render(request, "registration/mfa_verify.html", {"form": form, "next": _next_url(request)})


@never_cache
@login_required
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app; a verified session may also replace its authenticator (a new phone)."""
    user = request.user
    if mfa.authenticator_of(user) is not None and not user.is_verified():
        return redirect(_with_next("mfa_verify", request))
    device = mfa.pending_authenticator(user)
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa.confirm_enrolment(device, form.cleaned_data["code"])
        except TransitionRefused as refusal:
            form.add_error("code", str(refusal))
        else:
            if codes is not None:
                _passed(request, device)
                request.session[NEW_RECOVERY_CODES] = codes
                return redirect(_with_next("mfa_recovery_codes", request))
            form.add_error(
                "code", _("This code is not right. Check that your phone's clock is correct and try again.")
            )
    return render(
        request,
        "registration/mfa_enrol.html",
        {
            "form": form,
            "next": _next_url(request),
            "qr": mfa.qr_data_uri(device),
            "secret": mfa.secret_of(device),
            "required": mfa.is_required(user),
        },
    )


@never_cache
@login_required
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    codes = request.session.pop(NEW_RECOVERY_CODES, None)
    if not codes:
        return redirect("mfa_manage")
    return render(
        request, "registration/mfa_recovery_codes.html", {"codes": codes, "next": _next_url(request)}
    )


@never_cache
@login_required
def mfa_manage(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "registration/mfa_manage.html",
        {
            "authenticator": mfa.authenticator_of(user),
            "codes_left": mfa.recovery_codes_left(user),
            "required": mfa.is_required(user),
        },
    )


@require_POST
@login_required
def mfa_renew_recovery_codes(request: HttpRequest) -> HttpResponse:
    try:
        request.session[NEW_RECOVERY_CODES] = mfa.renew_recovery_codes(request.user)
    except TransitionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("mfa_manage")
    return redirect("mfa_recovery_codes")


@require_POST
@login_required
def mfa_remove(request: HttpRequest) -> HttpResponse:
    try:
        mfa.remove_mfa(request.user)
    except TransitionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Two-factor login is off. You log in with your password alone."))
    return redirect("mfa_manage")
