"""Login hooks: throttling (django-axes) sees the real client and a normalised e-mail; logins are audited."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.shortcuts import render

from registry import audit
from registry.models import User


def client_ip(request) -> str:
    # TrustedProxyMiddleware has already put the client's address here when behind a trusted proxy.
    return request.META.get("REMOTE_ADDR", "")


def attempted_username(request, credentials) -> str:
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return username.strip().lower()


def locked_out(request, original_response=None, credentials=None):
    return render(request, "registration/locked_out.html", status=429)


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit.record(actor=user, action="user.logged_in", subject=user)


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request=None, **kwargs):
    # The attempt is recorded against the account it named, when there is one; unknown names leave no trace
    # beyond the throttle's own counter (recording them would let anyone fill the trail).
    username = (credentials or {}).get("username", "")
    user = User.objects.filter(email__iexact=username.strip()).first() if username else None
    if user is not None:
        audit.record(actor=None, action="user.login_failed", subject=user)
