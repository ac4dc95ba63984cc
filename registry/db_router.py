"""Reads of the public pages from a PostgreSQL streaming replica, when one is configured (ADR 0015).

The rule, in one place: a request reads from the "replica" database only when all of these hold, and
from the primary ("default") otherwise:

- its method is GET or HEAD;
- its view is a public page, marked with `@replica_reads`;
- the visitor is anonymous and carries nothing of their own (no session, no messages cookie: the same
  test that keeps them out of the page cache, registry.caching.is_personal);
- the visitor has not sent a form in the last REPLICA_PIN_SECONDS (the cookie every POST sets), so
  whoever just wrote reads their own write, whatever the replica's lag;
- no transaction is open on the primary.

Every write goes to the primary, and so does everything outside a request (Celery tasks, commands,
migrations). settings.py installs the router and the middleware only when REPLICA_DATABASE_URL is set.
"""

from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

from registry.caching import is_personal

PRIMARY, REPLICA = "default", "replica"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Set on the answer to every POST (PUT, DELETE …); while the browser sends it back, it reads the primary.
PIN_COOKIE = "primary_reads"

_replica_allowed: ContextVar[bool] = ContextVar("replica_allowed", default=False)


def replica_reads(view: Callable) -> Callable:
    """Mark a public page whose reads an anonymous visitor may be served from the replica."""
    view.replica_reads = True
    return view


def may_read_replica(request: HttpRequest, view: Callable) -> bool:
    return (
        request.method in SAFE_METHODS
        and getattr(view, "replica_reads", False)
        and PIN_COOKIE not in request.COOKIES
        and not is_personal(request)
    )


class PrimaryReplicaRouter:
    """Writes, and reads outside a marked public page of an anonymous visitor, go to the primary."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _replica_allowed.get()
            and REPLICA in settings.DATABASES
            # Inside a transaction on the primary a read must see what that transaction wrote.
            and not connections[PRIMARY].in_atomic_block
        ):
            return REPLICA
        return PRIMARY

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the primary's rows: an object read from one may point at one from the other.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # The replica follows the primary's WAL, schema included; it cannot be migrated itself.
        return False if db == REPLICA else None


class ReplicaReadsMiddleware:
    """Opens the replica to the view when `may_read_replica` says so, and pins the browser to the
    primary for REPLICA_PIN_SECONDS after every form it sends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        finally:
            token = getattr(request, "_replica_token", None)
            if token is not None:
                _replica_allowed.reset(token)
        if request.method not in SAFE_METHODS:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.REPLICA_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        if may_read_replica(request, view_func):
            request._replica_token = _replica_allowed.set(True)
