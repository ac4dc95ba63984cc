"""Two-factor login (django-otp): an authenticator app (TOTP) and single-use recovery codes.

Required for bureau staff (any bureau role, staff or superuser); enterprise users may turn it on, and are
then asked too. registry.middleware.MFARequiredMiddleware enforces it; the session remembers the device
that passed (django_otp.login), so a removed or reset device ends that session's verification too.

    none --pending_authenticator--> pending --confirm_enrolment (right code)--> enrolled, 10 recovery codes
    enrolled --renew_recovery_codes--> enrolled, 10 new recovery codes
    enrolled --remove_mfa (an enterprise user, their own)--> none
    enrolled --reset_mfa (a registry administrator, someone else's)--> none

Wrong codes slow down per device (django-otp's throttling: 1, 2, 4, 8 … seconds between tries).
"""

from base64 import b32encode

import django_otp
import segno
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import audit, roles
from registry.models import User
from registry.services import TransitionRefused

RECOVERY_CODES = 10


class Throttled(TransitionRefused):
    """Too many wrong codes in a row: the device accepts none until the pause is over."""


def is_required(user: User) -> bool:
    """Bureau staff must use a second factor: any bureau role, the staff flag or superuser."""
    return user.is_staff or user.is_superuser or user.groups.filter(name__in=roles.BUREAU_ROLES).exists()


def authenticator_of(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def pending_authenticator(user: User) -> TOTPDevice:
    """The authenticator being set up: the same secret until it is confirmed, so a reload keeps the scan."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def secret_of(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_data_uri(device: TOTPDevice) -> str:
    # An SVG data URI: the Content Security Policy allows data: images, and nothing leaves the portal.
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def _normal_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _check_not_paused(device) -> None:
    allowed, info = device.verify_is_allowed()
    if not allowed:
        until = timezone.localtime((info or {}).get("locked_until") or timezone.now())
        raise Throttled(
            _("Too many wrong codes in a row. Wait until %(time)s, then try again.")
            % {"time": formats.time_format(until, "H:i:s")}
        )


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def confirm_enrolment(device: TOTPDevice, code: str) -> list[str] | None:
    """Pending → enrolled if the code is right: replaces any earlier authenticator and recovery codes,
    records the event and returns the new recovery codes (shown once). A wrong code returns None."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if device.confirmed:
        raise TransitionRefused(_("This authenticator is already set up."))
    _check_not_paused(device)
    if not device.verify_token(_normal_code(code)):
        return None
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(device.user)
    audit.record(actor=device.user, action="user.mfa_enrolled", subject=device.user)
    return codes


def verify(user: User, code: str):
    """The second step of a login: a code from the authenticator app, or a recovery code (used up).

    Returns the device that accepted the code, or None. Raises Throttled while wrong codes pause it."""
    code = _normal_code(code)
    if len(code) == 6 and code.isdigit():
        device = authenticator_of(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return None
    _check_not_paused(device)
    with transaction.atomic():
        accepted = django_otp.verify_token(user, device.persistent_id, code)
        if isinstance(accepted, StaticDevice):
            audit.record(
                actor=user,
                action="user.mfa_recovery_code_used",
                subject=user,
                after={"recovery_codes_left": accepted.token_set.count()},
            )
    return accepted


@transaction.atomic
def renew_recovery_codes(user: User) -> list[str]:
    """Enrolled → enrolled with 10 new recovery codes; the old ones stop working."""
    if authenticator_of(user) is None:
        raise TransitionRefused(_("Set up an authenticator app first."))
    codes = _new_recovery_codes(user)
    audit.record(actor=user, action="user.mfa_recovery_codes_renewed", subject=user)
    return codes


def _delete_devices(user: User) -> int:
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    return removed


@transaction.atomic
def remove_mfa(user: User) -> None:
    """Enrolled → none, by the user. Bureau staff cannot: a registry administrator resets theirs."""
    if is_required(user):
        raise TransitionRefused(_("Bureau staff must keep two-factor login."))
    if _delete_devices(user):
        audit.record(actor=user, action="user.mfa_removed", subject=user)


@transaction.atomic
def reset_mfa(user: User, *, by: User) -> None:
    """Enrolled → none, by a registry administrator for someone who lost their authenticator and codes.

    The person sets up a new authenticator at their next login; sessions verified with the old one lose
    their verification at once. Nobody resets their own: a second administrator must."""
    if not by.has_perm("otp_totp.delete_totpdevice"):
        raise TransitionRefused(_("Only a registry administrator may reset two-factor login."))
    if by.pk == user.pk:
        raise TransitionRefused(_("Another registry administrator must reset your own two-factor login."))
    if _delete_devices(user):
        audit.record(actor=by, action="user.mfa_reset", subject=user)
