"""Login hooks: throttling that a stranger cannot turn against an account's owner, throttled password-reset
e-mail, and the audit of logins.

Failed logins (django-axes) are counted twice: per account *and* address, and per address over all
accounts. Only the first pauses an account, and only from the address that failed, so someone who knows an
approver's e-mail address can pause it from their own address but never from the approver's; the owner
also lifts every pause on the account at once by resetting the password. The second limit is looser and
stops one address from spraying passwords over many accounts.
"""

import hashlib

from axes.handlers.database import AxesDatabaseHandler
from axes.utils import reset as reset_axes_attempts
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.db.models import Sum
from django.dispatch import receiver
from django.shortcuts import render

from registry import audit
from registry.models import User


def client_ip(request) -> str:
    # TrustedProxyMiddleware has already put the client's address here when behind a trusted proxy.
    return request.META.get("REMOTE_ADDR", "")


def normal_username(username: str) -> str:
    return (username or "").strip().lower()


def attempted_username(request, credentials) -> str:
    # axes stores it in a 255-character column: a longer name (no e-mail address is) would be a 500.
    return normal_username((credentials or {}).get("username") or request.POST.get("username", ""))[:255]


def locked_out(request, original_response=None, credentials=None):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


class LoginThrottle(AxesDatabaseHandler):
    """django-axes with two limits instead of one.

    AXES_LOCKOUT_PARAMETERS lists the account-and-address pair first and the address alone second; axes
    compares a single number with AXES_FAILURE_LIMIT, so the address's count is shifted to stand as far
    from that limit as it stands from its own, looser LOGIN_ADDRESS_FAILURE_LIMIT.
    """

    def get_failures(self, request, credentials=None) -> int:
        pair, address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        looser_by = settings.LOGIN_ADDRESS_FAILURE_LIMIT - settings.AXES_FAILURE_LIMIT
        return max(pair, address - looser_by)

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A successful login clears its own account's failures from this address, never the address's
        # count over other accounts: else logging in to one's own account now and then would reopen spraying.
        pair = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair.delete()
        return count


def password_was_reset(user: User) -> None:
    """After a reset by e-mail link: forget the account's failed logins from every address (the owner proved
    they read its mail, so no pause a stranger caused stands in their way) and record the event."""
    reset_axes_attempts(username=normal_username(user.email))
    audit.record(actor=user, action="user.password_reset", subject=user)


def _over_limit(key: str, limit: int) -> bool:
    # A fixed one-hour window from the first request; works the same on LocMem and Redis.
    cache.add(key, 0, timeout=3600)
    return cache.incr(key) > limit


def password_reset_allowed(request, email: str) -> bool:
    """Whether a reset e-mail may go out now: counts the request against its address and its account.

    Unknown addresses are counted like known ones, so the answer and the work done never tell them apart.
    """
    digest = hashlib.sha256(normal_username(email).encode()).hexdigest()
    address_over = _over_limit(
        f"password-reset:address:{client_ip(request)}", settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR
    )
    account_over = _over_limit(
        f"password-reset:account:{digest}", settings.PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR
    )
    return not (address_over or account_over)


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
