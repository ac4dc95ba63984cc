from django.contrib import admin
from django.urls import include, path

from registry import views as registry_views

urlpatterns = [
    path("healthz", registry_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("registry.account_urls")),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("projects.urls")),
    path("", include("offsets.urls")),
    path("", include("offsets.behaviour.urls")),
]

handler400 = "registry.views.bad_request"
handler403 = "registry.views.permission_denied"
handler404 = "registry.views.page_not_found"
handler500 = "registry.views.server_error"
