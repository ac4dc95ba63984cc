from django.urls import path

from projects import office_views, views

app_name = "projects"

urlpatterns = [
    path("portal/cases/", views.case_list, name="cases"),
    path("portal/verification/", views.verification_list, name="verification"),
    path("portal/projects/new/", views.project_create, name="project_create"),
    path("portal/projects/<int:pk>/", views.project_detail, name="project"),
    path("portal/projects/<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("portal/projects/<int:pk>/documents/", views.project_upload, name="project_upload"),
    path("portal/projects/<int:pk>/submit/", views.project_submit, name="project_submit"),
    path("portal/projects/<int:pk>/withdraw/", views.project_withdraw, name="project_withdraw"),
    path("portal/projects/<int:pk>/declare/", views.declaration_create, name="declaration_create"),
    path("portal/declarations/<int:pk>/", views.declaration_detail, name="declaration"),
    path("portal/declarations/<int:pk>/edit/", views.declaration_edit, name="declaration_edit"),
    path("portal/declarations/<int:pk>/data/", views.declaration_data, name="declaration_data"),
    path("portal/declarations/<int:pk>/sheet/", views.declaration_sheet, name="declaration_sheet"),
    path(
        "portal/declarations/<int:pk>/template.xlsx", views.declaration_template, name="declaration_template"
    ),
    path("portal/declarations/<int:pk>/documents/", views.declaration_upload, name="declaration_upload"),
    path("portal/declarations/<int:pk>/submit/", views.declaration_submit, name="declaration_submit"),
    path("portal/declarations/<int:pk>/withdraw/", views.declaration_withdraw, name="declaration_withdraw"),
    path("documents/<int:pk>/", views.document_download, name="document"),
    path("letters/<int:pk>/", views.letter_download, name="letter"),
    path("portal/findings/<int:pk>/answer/", views.answer_finding, name="answer_finding"),
    path("portal/projects/<int:pk>/resubmit/", views.project_resubmit, name="project_resubmit"),
    path("portal/declarations/<int:pk>/resubmit/", views.declaration_resubmit, name="declaration_resubmit"),
    path("office/review/<str:kind>/<str:name>/", office_views.queue, name="office_queue"),
    path("office/case/<str:kind>/<int:pk>/", office_views.case_screen, name="office_case"),
    path("office/case/<str:kind>/<int:pk>/<str:decision>/", office_views.decide, name="office_decide"),
]
