from django.urls import path

from offsets import views

app_name = "offsets"

urlpatterns = [
    path("notices/", views.notice_list, name="notices"),
    path("notices/feed/", views.NoticeFeed(), name="feed"),
    path("notices/<str:code>/", views.notice_detail, name="notice"),
    path("notices/<str:code>/v<int:version>.pdf", views.notice_pdf, name="notice_pdf"),
    path("notices/<str:code>/announcement.pdf", views.announcement_pdf, name="announcement_pdf"),
    path("notices/<str:code>/object/", views.object_to, name="object"),
    path(
        "notices/<str:code>/object/received/<str:receipt>/",
        views.objection_received,
        name="objection_received",
    ),
    path("verify/", views.verify, name="verify"),
    path("registry/", views.registry, name="registry"),
    path("registry/<str:code>/", views.project_page, name="project"),
    path("open-data/", views.open_data_index, name="open_data"),
    path("open-data/registry.xlsx", views.open_data_xlsx, name="open_data_xlsx"),
    path("open-data/<str:dataset>.<str:fmt>", views.open_data, name="open_data_file"),
    path("portal/account/", views.account, name="account"),
    path("certificates/<str:number>/", views.certificate_download, name="certificate"),
    path("objections/<int:pk>/answer/", views.answer_objection, name="answer_objection"),
    path("office/phases/", views.office_phases, name="office_phases"),
    path("office/phases/<str:code>/", views.office_phase, name="office_phase"),
    path("office/phases/<str:code>/<str:action>/", views.office_phase_act, name="office_phase_act"),
    path("office/objections/<int:pk>/rule/", views.rule, name="rule"),
    path("office/objections/<int:pk>/evidence/", views.objection_attachment, name="objection_attachment"),
]
