from django.urls import path

from offsets.behaviour import api, office_views, platform_views, public, resident_views

app_name = "behaviour"

urlpatterns = [
    path("api/behaviour/v1/openapi.json", api.openapi, name="openapi"),
    path("api/behaviour/v1/batches/<str:batch_id>", api.batch, name="api_batch"),
    path("api/behaviour/v1/batches/<str:batch_id>/rejected", api.rejected, name="api_rejected"),
    # The platform operator's pages (platform_views)
    path("portal/platform/", platform_views.batch_list, name="platform_batches"),
    path("portal/platform/upload/", platform_views.upload, name="platform_upload"),
    path("portal/platform/batches/<str:batch_id>/", platform_views.batch_detail, name="platform_batch"),
    path(
        "portal/platform/batches/<str:batch_id>/rejected.csv",
        platform_views.batch_rejected,
        name="platform_batch_rejected",
    ),
    path(
        "portal/platform/batches/<str:batch_id>/original.gz",
        platform_views.batch_original,
        name="platform_batch_original",
    ),
    path("portal/platform/months/", platform_views.months, name="platform_months"),
    path(
        "portal/platform/months/<str:month>/close/", platform_views.close_month, name="platform_close_month"
    ),
    path("portal/platform/api/", platform_views.api_keys, name="platform_api"),
    # The bureau's platform screen (office_views)
    path("office/platforms/", office_views.platform_list, name="office_platforms"),
    path("office/platforms/<int:pk>/", office_views.platform_detail, name="office_platform"),
    path("office/platforms/<int:pk>/agreement/", office_views.agreement, name="office_platform_agreement"),
    path("office/platforms/<int:pk>/keys/", office_views.issue_key, name="office_platform_issue_key"),
    path(
        "office/platforms/<int:pk>/keys/<str:key_id>/issued/",
        office_views.new_key,
        name="office_platform_new_key",
    ),
    path(
        "office/platforms/<int:pk>/keys/<str:key_id>/revoke/",
        office_views.revoke_key,
        name="office_platform_revoke_key",
    ),
    # The resident's pages (resident_views)
    path("residents/signup/", resident_views.sign_up, name="sign_up"),
    path("residents/signup/done/", resident_views.sign_up_done, name="sign_up_done"),
    path("residents/account/", resident_views.my_account, name="my_account"),
    path("residents/account/open/", resident_views.open_account, name="open_account"),
    path("residents/accounts/<str:number>/", resident_views.account, name="account"),
    path("residents/events/", resident_views.events, name="events"),
    path("residents/events/<int:pk>/donate/", resident_views.donate, name="donate"),
    path(
        "residents/donations/<str:number>.pdf",
        resident_views.donation_certificate,
        name="donation_certificate",
    ),
    # Public aggregates (public)
    path("behaviour/", public.totals_page, name="public_totals"),
    path("behaviour/totals.csv", public.totals_csv, name="public_totals_csv"),
]
