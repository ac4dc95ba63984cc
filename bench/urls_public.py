"""The portal's URLs plus /bench/bare/: a bare Django view through the full middleware stack, the
baseline of bench/public_load.py."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

import config.urls
from config.urls import handler403, handler404, handler500  # noqa: F401


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("bench/bare/", bare), *config.urls.urlpatterns]
