from django.urls import path

from registry import methodology_views, transparency_views, views

app_name = "registry"

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.sign_up, name="sign_up"),
    path("signup/done/", views.sign_up_done, name="sign_up_done"),
    path("signup/confirm/<str:token>/", views.confirm_email, name="confirm_email"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("language/", views.switch_language, name="switch_language"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/", views.inbox_open, name="inbox_open"),
    path("organisations/<int:pk>/licence/", views.licence_download, name="licence"),
    # Enterprise portal
    path("portal/", views.portal, name="portal"),
    path("portal/organisation/", views.organisation_detail, name="organisation"),
    path("portal/organisation/edit/", views.organisation_edit, name="organisation_edit"),
    path("portal/members/", views.members, name="members"),
    path("portal/members/invite/", views.invite, name="invite"),
    path("portal/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("portal/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("portal/members/<int:pk>/hand-over/", views.member_hand_over, name="member_hand_over"),
    # Back office
    path("office/", views.office, name="office"),
    path("office/organisations/", views.office_organisations, name="office_organisations"),
    path("office/organisations/<int:pk>/", views.office_organisation, name="office_organisation"),
    # Before the decisions' <str:decision>, which would otherwise take these two paths.
    path(
        "office/organisations/<int:pk>/kind/", views.office_organisation_kind, name="office_organisation_kind"
    ),
    path(
        "office/organisations/<int:pk>/covered-emitter/",
        views.office_organisation_covered_emitter,
        name="office_organisation_covered_emitter",
    ),
    path(
        "office/organisations/<int:pk>/<str:decision>/",
        views.office_organisation_decide,
        name="office_organisation_decide",
    ),
    path("office/audit/", views.audit_log, name="audit_log"),
    # Transparency: the public key and the signed checkpoints (ADR 0007)
    path("transparency/", transparency_views.transparency, name="transparency"),
    path("transparency/checkpoints.json", transparency_views.checkpoints_json, name="checkpoints_json"),
    path("transparency/public-key.pem", transparency_views.public_key, name="public_key"),
    path("transparency/feed/", transparency_views.CheckpointFeed(), name="checkpoint_feed"),
    path("transparency/checkpoint_verifier.py", transparency_views.verifier, name="checkpoint_verifier"),
    # The public methodology catalogue (registry.methodology_views)
    path("methodologies/", methodology_views.methodology_list, name="methodologies"),
    path("methodologies/<str:code>/", methodology_views.methodology_detail, name="methodology"),
]
