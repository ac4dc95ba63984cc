"""Everything under /accounts/: Django's login and password pages, our throttled password reset, and the
second step of a login. URL names are Django's own (`login`, `password_reset`, …), without a namespace."""

from django.contrib.auth import views as auth_views
from django.urls import path

from registry import account_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("mfa/", account_views.mfa_manage, name="mfa_manage"),
    path("mfa/verify/", account_views.mfa_verify, name="mfa_verify"),
    path("mfa/enrol/", account_views.mfa_enrol, name="mfa_enrol"),
    path("mfa/recovery-codes/", account_views.mfa_recovery_codes, name="mfa_recovery_codes"),
    path(
        "mfa/recovery-codes/renew/",
        account_views.mfa_renew_recovery_codes,
        name="mfa_renew_recovery_codes",
    ),
    path("mfa/remove/", account_views.mfa_remove, name="mfa_remove"),
]
