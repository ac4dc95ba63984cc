from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry.models import Heartbeat


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "registry/home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Where a login lands: bureau staff in the back office, everyone else in the enterprise portal."""
    return redirect("registry:office" if request.user.is_bureau else "registry:portal")


@login_required
def portal(request: HttpRequest) -> HttpResponse:
    return render(request, "registry/portal_home.html")


@login_required
def office(request: HttpRequest) -> HttpResponse:
    if not request.user.is_bureau:
        return permission_denied(request, None)
    return render(request, "registry/office_home.html")


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


def page_not_found(request: HttpRequest, exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors or database here: whatever failed must not fail the error page too.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)
