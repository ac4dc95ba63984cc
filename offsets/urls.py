from django.urls import path

from offsets import account_views, views
from offsets import office_ledger_views as ledger_office

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
    path("retirements/", views.public_retirements, name="public_retirements"),
    path("registry/", views.registry, name="registry"),
    path("registry/<str:code>/", views.project_page, name="project"),
    path("open-data/", views.open_data_index, name="open_data"),
    path("open-data/registry.xlsx", views.open_data_xlsx, name="open_data_xlsx"),
    path("open-data/<str:dataset>.<str:fmt>", views.open_data, name="open_data_file"),
    # The holder's account (offsets.account_views)
    path("portal/account/", account_views.account, name="account"),
    path("portal/account/statement/", account_views.statement, name="statement"),
    path("portal/account/statement.<str:fmt>", account_views.statement_export, name="statement_export"),
    path("portal/account/transfers/", account_views.transfer_list, name="transfers"),
    path("portal/account/transfers/new/", account_views.transfer_create, name="transfer_create"),
    path("portal/account/transfers/<str:reference>/", account_views.transfer_detail, name="transfer"),
    path(
        "portal/account/transfers/<str:reference>/cancel/",
        account_views.transfer_cancel,
        name="transfer_cancel",
    ),
    path("portal/account/retirements/", account_views.retirement_list, name="retirements"),
    path("portal/account/retire/", account_views.retire, name="retire"),
    path("portal/account/offset/", account_views.offset_request, name="offset_request"),
    path("portal/account/retirements/<str:reference>/", account_views.retirement_detail, name="retirement"),
    path(
        "portal/account/retirements/<str:reference>/withdraw/",
        account_views.offset_withdraw,
        name="offset_withdraw",
    ),
    path(
        "portal/account/retirements/<str:reference>/certificate.pdf",
        account_views.retirement_certificate,
        name="retirement_certificate",
    ),
    path("certificates/<str:number>/", views.certificate_download, name="certificate"),
    path("objections/<int:pk>/answer/", views.answer_objection, name="answer_objection"),
    path("office/phases/", views.office_phases, name="office_phases"),
    path("office/phases/<str:code>/", views.office_phase, name="office_phase"),
    path("office/phases/<str:code>/<str:action>/", views.office_phase_act, name="office_phase_act"),
    path("office/objections/<int:pk>/rule/", views.rule, name="rule"),
    path("office/objections/<int:pk>/evidence/", views.objection_attachment, name="objection_attachment"),
    # The bureau's ledger screens (offsets.office_ledger_views)
    path("office/transfers/", ledger_office.transfer_list, name="office_transfers"),
    path("office/transfers/<str:reference>/", ledger_office.transfer_detail, name="office_transfer"),
    path(
        "office/transfers/<str:reference>/<str:decision>/",
        ledger_office.transfer_decide,
        name="office_transfer_decide",
    ),
    path("office/offsets/", ledger_office.offset_list, name="office_offsets"),
    path("office/offsets/<str:reference>/", ledger_office.offset_detail, name="office_offset"),
    path(
        "office/offsets/<str:reference>/<str:decision>/",
        ledger_office.offset_decide,
        name="office_offset_decide",
    ),
    path("office/accounts/", ledger_office.account_list, name="office_accounts"),
    path("office/accounts/<str:number>/", ledger_office.account_detail, name="office_account"),
    path("office/accounts/<str:number>/cancel/", ledger_office.account_cancel, name="office_account_cancel"),
    path(
        "office/accounts/<str:number>/statement.<str:fmt>",
        ledger_office.account_statement,
        name="office_account_statement",
    ),
    path("office/compliance/policies/", ledger_office.policy_list, name="office_policies"),
    path("office/compliance/policies/<int:year>/", ledger_office.policy_edit, name="office_policy"),
    path("office/compliance/records/", ledger_office.record_list, name="office_records"),
    path("office/compliance/records/<int:pk>/", ledger_office.record_edit, name="office_record"),
    path("office/compliance/emitters/<int:pk>/", ledger_office.boundary, name="office_boundary"),
    path("office/projects/<int:pk>/boundary/", ledger_office.link_boundary, name="office_link_boundary"),
]
