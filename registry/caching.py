"""The one page cache of the portal: whole public pages, stored and served for anonymous visitors only.

Django's `cache_page` keys a page by its URL (and language) alone: the first visitor's page, with their
name, inbox count and logout form holding their CSRF token, was served to everyone after them. Here a
request that may show something of its visitor (logged in, or carrying a session or messages cookie)
neither reads nor writes the cache, and a page whose rendering used a CSRF token or set a cookie is never
stored. Responses to such requests say `Cache-Control: private, no-store` (PrivateCacheControlMiddleware
says it for every other page too).
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.middleware.cache import CacheMiddleware
from django.utils.cache import add_never_cache_headers


def is_personal(request: HttpRequest) -> bool:
    """May a page rendered for this request show something of its visitor?"""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    return settings.SESSION_COOKIE_NAME in request.COOKIES or CookieStorage.cookie_name in request.COOKIES


def used_visitor_state(request: HttpRequest, response: HttpResponse) -> bool:
    """Did rendering put something of this visitor into the response (a CSRF token, a cookie)?"""
    return bool(request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or response.cookies)


def cache_for_anonymous(seconds: int) -> Callable:
    """Cache a public page for `seconds`, for anonymous visitors only (use instead of `cache_page`)."""

    def decorator(view: Callable) -> Callable:
        page_cache = CacheMiddleware(view, page_timeout=seconds)

        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if is_personal(request):
                response = view(request, *args, **kwargs)
                add_never_cache_headers(response)
                return response
            cached = page_cache.process_request(request)
            if cached is not None:
                return cached
            response = view(request, *args, **kwargs)
            if used_visitor_state(request, response) or is_personal(request):
                # "private" also keeps process_response below from storing it.
                add_never_cache_headers(response)
            return page_cache.process_response(request, response)

        return wrapper

    return decorator
