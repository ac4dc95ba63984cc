import hashlib
import re
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http.response import HttpResponseRedirectBase
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
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


class OnceOnlyMiddleware:
    """A form sent twice (a double click, a retry, F5 on a result) makes one change and shows its result.

    Every state-changing form carries a once-only token (`{% once_token %}`, a fresh one per form). The first
    POST with a token claims it with `cache.add`, atomic in Redis and in the per-process LocMem cache of the
    embedded default, and runs the view. When the view answers with a redirect, the token remembers where
    it led and the messages it queued; a later POST with the same token does not run the view again but
    goes there too. A POST that arrives while the first is still running waits for it briefly. A first POST
    that ends otherwise (a form with errors, a refusal page) frees its token: nothing was done to repeat.

    A POST without a token runs as before (logins, API clients); the services still refuse a second
    transition under their row locks. Placed after CsrfViewMiddleware (its check runs first) and after
    MessageMiddleware (so the messages of the first answer are still queued when it is recorded).
    """

    FIELD = "_once"
    TOKEN = re.compile(r"[0-9a-f]{32}")
    REMEMBER_SECONDS = 24 * 3600  # a retry or F5 the next morning still lands on the result
    RUNNING_SECONDS = 120  # a claim left by a crashed process expires; no view runs this long
    WAIT_SECONDS = 10  # how long a duplicate waits for the first answer before saying it is under way

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        key = getattr(request, "_once_key", None)
        if key is None:
            return response
        if isinstance(response, HttpResponseRedirectBase):
            # Private API of the message storage: the messages this answer queued for the next page.
            queued = getattr(request, "_messages", None)
            shown = [(m.level, str(m.message), m.extra_tags) for m in getattr(queued, "_queued_messages", [])]
            cache.set(key, {"location": response["Location"], "messages": shown}, self.REMEMBER_SECONDS)
        else:
            cache.delete(key)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or self.FIELD not in request.POST:
            return None
        token = request.POST[self.FIELD]
        if not self.TOKEN.fullmatch(token):
            raise BadInput(_("This form could not be read. Reload the page and send it again."))
        # Scoped to the browser (its CSRF secret) and to the address posted to.
        scope = f"{request.META.get('CSRF_COOKIE', '')}|{request.path}|{token}"
        key = "once:" + hashlib.sha256(scope.encode()).hexdigest()
        deadline = time.monotonic() + self.WAIT_SECONDS
        while True:
            if cache.add(key, {"location": None}, self.RUNNING_SECONDS):
                request._once_key = key
                return None
            first = cache.get(key)
            if first is not None and first["location"]:
                return self._replay(request, first)
            if time.monotonic() >= deadline:
                return self._under_way(request)
            time.sleep(0.1)

    def _replay(self, request, first: dict):
        # The first answer's messages, unless this browser still holds them (it received that answer).
        storage = messages.get_messages(request)
        pending = {(m.level, str(m.message)) for m in storage}
        storage.used = False  # only looked at: they are shown on the next page as they would have been
        messages.info(
            request, _("This form had already been sent; it was acted on once. Here is the result.")
        )
        for level, text, tags in first["messages"]:
            if (level, text) not in pending:
                messages.add_message(request, level, text, extra_tags=tags)
        return redirect(first["location"])

    def _under_way(self, request):
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = "/"
        return render(request, "once_under_way.html", {"back": back}, status=409)
