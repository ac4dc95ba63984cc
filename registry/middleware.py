from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from registry import mfa
from registry.caching import is_personal, used_visitor_state
from registry.params import BadInput


class TrustedProxyMiddleware:
    """Put the real client address in REMOTE_ADDR when Django runs behind a trusted reverse proxy.

    Each proxy appends the address it saw, so with N trusted proxies the client is the Nth entry from
    the right; anything further left was written by the client and is not trusted. Login throttling
    and the audit trail read REMOTE_ADDR, so they see the client, never the proxy.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        header = settings.TRUSTED_PROXY_HEADER
        self.meta_key = "HTTP_" + header.upper().replace("-", "_") if header else None
        self.count = max(settings.TRUSTED_PROXY_COUNT, 1)

    def __call__(self, request):
        if self.meta_key:
            hops = [hop.strip() for hop in request.META.get(self.meta_key, "").split(",") if hop.strip()]
            if len(hops) >= self.count:
                request.META["REMOTE_ADDR"] = hops[-self.count]
        return self.get_response(request)


class BureauSessionTimeoutMiddleware:
    """Bureau staff sessions end after BUREAU_SESSION_IDLE_SECONDS without activity (sliding)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_bureau:
            request.session.set_expiry(settings.BUREAU_SESSION_IDLE_SECONDS)
        return self.get_response(request)


class RejectNulMiddleware:
    """A NUL character in the path or the query answers the portal's 400 page before any view runs.

    No URL of the portal has one, and PostgreSQL refuses it in text, so it could only turn into a 500.
    Placed after LocaleMiddleware and AuthenticationMiddleware: the page is in the visitor's language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            raise BadInput(_("The address contains a character that is not allowed (NUL)."))
        return self.get_response(request)


class PrivateCacheControlMiddleware:
    """Every response to a logged-in visitor, or rendered with a CSRF token, says `Cache-Control: private,
    no-store`: no shared cache (a proxy, a CDN) may keep a page that holds a visitor's name or token.

    Placed after AuthenticationMiddleware and so before CsrfViewMiddleware in the response phase, where
    the flag that a token was used is still set.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_personal(request) or used_visitor_state(request, response):
            add_never_cache_headers(response)
        return response


class MFARequiredMiddleware:
    """Bureau staff, and anyone who turned two-factor login on, pass the second factor before pages answer.

    The one place that demands it, for the office, the portal and the admin alike: a session that has not
    passed it is sent to enter a code, or (bureau staff without an authenticator) to set one up. Logging in
    and out, the pages of that step, password reset, switching the language and static files stay open.
    """

    OPEN = {
        "login",
        "logout",
        "mfa_verify",
        "mfa_enrol",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "set_language",
        "registry:switch_language",
        "healthz",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not self._open(request):
            if mfa.authenticator_of(user) is not None:
                step = "mfa_verify"
            elif mfa.is_required(user):
                step = "mfa_enrol"
            else:
                return self.get_response(request)
            return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def _open(self, request) -> bool:
        if request.path.startswith(settings.STATIC_URL):  # "/static/": Django adds the script prefix
            return True
        try:
            return resolve(request.path_info).view_name in self.OPEN
        except Resolver404:
            return False
