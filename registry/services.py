"""Writes of the registry app: organisations, their members, and the bureau's verification.

Organisation status:

    pending --verify_organisation--> verified --suspend_organisation--> suspended
    pending --reject_organisation--> rejected          suspended --reinstate_organisation--> verified
    verified, rejected --update_organisation (name, identifier or legal representative changed)--> pending
    pending, verified, rejected --change_kind (registry administrator)--> pending
    (set_covered_emitter, registry administrator, enterprises only: the status stays)

The table ORGANISATIONS names the bureau's steps, who may take them and their labels; each is taken
through registry.transitions, which locks the row, checks the actor's right and the source state against
the table, records the audit event and sends its notifications after commit.
"""

import secrets
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import access, audit, identifiers
from registry.forms import ReasonForm
from registry.models import (
    Heartbeat,
    Invitation,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    OrgRole,
    User,
)
from registry.transitions import (
    Table,
    Transition,
    TransitionRefused,
    finish,
    move,
    notify_after_commit,
    start,
)

INVITATION_DAYS = 14
# Changing any of these sends a verified organisation back to the bureau for verification.
IDENTITY_FIELDS = ("name", "identifier", "legal_representative")
# What an organisation is and where it stands: never changed through the organisation's own edit, only
# by the registry administrator's audited actions (change_kind, set_covered_emitter, the decisions).
REGISTRAR_FIELDS = ("kind", "is_covered_emitter", "status", "status_reason", "verified_at")


# What other apps do when an organisation is verified: [callable(organisation, by=user)], in the same
# transaction (offsets.apps registers the opening of its holding account).
WHEN_VERIFIED: list = []


def record_heartbeat(name: str) -> Heartbeat:
    """Store that the named job ran now; idempotent, one row per name."""
    beat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"last_seen": timezone.now()})
    return beat


# --- Sign-up and e-mail confirmation ------------------------------------------------------------


# Someone signing up again with a registered identifier or e-mail address: its owner hears of it at most
# once in this many seconds (each attempt would otherwise send an e-mail a stranger can trigger).
SIGN_UP_REPEAT_NOTICE_SECONDS = 3600


@transaction.atomic
def sign_up(
    *, organisation: Organisation, email: str, full_name: str, password: str, language: str
) -> User | None:
    """New organisation (pending) and its admin user (inactive until the e-mail is confirmed).

    If the identifier or the e-mail address is registered already, nothing is created and the caller
    answers exactly as for a new sign-up: the organisation's administrators, or the account's owner, are
    told by e-mail that someone tried. Returns the new user, or None."""
    registered_user = User.objects.filter(email__iexact=email).first()
    registered_org = Organisation.objects.filter(identifier=organisation.identifier).first()
    if registered_user is None and registered_org is None:
        try:
            with transaction.atomic():  # a savepoint: an identical sign-up at the same moment may win
                return _create_sign_up(organisation, email, full_name, password, language)
        except IntegrityError:
            registered_user = User.objects.filter(email__iexact=email).first()
            registered_org = Organisation.objects.filter(identifier=organisation.identifier).first()
    make_password(password)  # the work a new account's password costs, so the answer takes as long
    _tell_owners_of_repeated_sign_up(registered_org, registered_user, email)
    return None


def _create_sign_up(organisation: Organisation, email, full_name, password, language) -> User:
    user = User.objects.create_user(
        email=email, password=password, full_name=full_name, language=language, is_active=False
    )
    organisation.status = OrganisationStatus.PENDING
    organisation.save()
    Membership.objects.create(user=user, organisation=organisation, role=OrgRole.ADMIN)
    event = audit.record(
        actor=None,
        action="organisation.signed_up",
        subject=organisation,
        after={"status": organisation.status, "admin": user.email},
    )
    notify_after_commit(event)
    return user


def _tell_owners_of_repeated_sign_up(organisation: Organisation | None, user: User | None, email: str):
    if organisation is not None and cache.add(
        f"sign-up-repeated:organisation:{organisation.pk}", 1, SIGN_UP_REPEAT_NOTICE_SECONDS
    ):
        event = audit.record(
            actor=None, action="organisation.sign_up_repeated", subject=organisation, after={"email": email}
        )
        notify_after_commit(event)
    told_as_admin = (
        organisation is not None
        and user is not None
        and Membership.objects.filter(organisation=organisation, user=user, role=OrgRole.ADMIN).exists()
    )
    if (
        user is not None
        and not told_as_admin
        and cache.add(f"sign-up-repeated:user:{user.pk}", 1, SIGN_UP_REPEAT_NOTICE_SECONDS)
    ):
        notify_after_commit(audit.record(actor=None, action="user.sign_up_repeated", subject=user))


@transaction.atomic
def confirm_email(user: User) -> User:
    """Inactive sign-up user → active. Confirming twice changes nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active or user.last_login is not None:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit.record(actor=user, action="user.email_confirmed", subject=user)
    return user


# --- Verification by the bureau -----------------------------------------------------------------


def _registrar(user, organisation: Organisation) -> None:
    access.require(access.may_verify_organisations, user)


def _enterprise(organisation: Organisation, user) -> None:
    if organisation.kind != OrganisationKind.ENTERPRISE:
        raise TransitionRefused(_("Only an enterprise can be a covered emitter."))


def _not_possible(organisation: Organisation) -> str:
    return _("%(organisation)s is %(status)s; this step is not possible now.") % {
        "organisation": organisation,
        "status": organisation.get_status_display(),
    }


def _verified_at(organisation: Organisation, before: str, to: str) -> dict:
    return {"verified_at": timezone.now()} if to == OrganisationStatus.VERIFIED else {}


def _note(form) -> dict:
    return {"note": form.cleaned_data.get("note", "")}


def _reasons(form) -> dict:
    return {"reasons": form.cleaned_data.get("note", "")}


ORGANISATIONS = Table(
    # The decisions on the organisation's office screen: one reasons form, a button each.
    Transition(
        "verify",
        {OrganisationStatus.PENDING},
        OrganisationStatus.VERIFIED,
        action="organisation.verified",
        right=_registrar,
        function="verify_organisation",
        label=gettext_lazy("Verify"),
        form=ReasonForm,
        arguments=_note,
    ),
    Transition(
        "reject",
        {OrganisationStatus.PENDING},
        OrganisationStatus.REJECTED,
        action="organisation.rejected",
        right=_registrar,
        function="reject_organisation",
        label=gettext_lazy("Reject with reasons"),
        button="btn-outline-danger",
        form=ReasonForm,
        arguments=_reasons,
    ),
    Transition(
        "suspend",
        {OrganisationStatus.VERIFIED},
        OrganisationStatus.SUSPENDED,
        action="organisation.suspended",
        right=_registrar,
        function="suspend_organisation",
        label=gettext_lazy("Suspend with reasons"),
        button="btn-outline-danger",
        form=ReasonForm,
        arguments=_reasons,
    ),
    Transition(
        "reinstate",
        {OrganisationStatus.SUSPENDED},
        OrganisationStatus.VERIFIED,
        action="organisation.reinstated",
        right=_registrar,
        function="reinstate_organisation",
        label=gettext_lazy("Reinstate"),
        form=ReasonForm,
        arguments=_note,
    ),
    # What the organisation is: the screen's own forms (kind, covered-emitter list).
    Transition(
        "change_kind",
        {OrganisationStatus.PENDING, OrganisationStatus.VERIFIED, OrganisationStatus.REJECTED},
        OrganisationStatus.PENDING,
        action="organisation.kind_changed",
        right=_registrar,
        refusal=lambda organisation: (
            _("%(organisation)s is suspended; reinstate it before changing its kind.")
            % {"organisation": organisation}
        ),
    ),
    Transition(
        "set_covered_emitter",
        OrganisationStatus.values,  # the status stays
        action="organisation.covered_emitter_changed",
        right=_registrar,
        guards=(_enterprise,),
    ),
    field="status",
    module="registry.services",
    refusal=_not_possible,
    models=("registry.organisation",),
    changes=_verified_at,
)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise TransitionRefused(_("Give the reasons for this decision."))
    return reason


@transaction.atomic
def verify_organisation(organisation: Organisation, *, by: User, note: str = "") -> Organisation:
    """pending → verified, by a registry administrator; tells the organisation's admins."""
    verified, _event = move(ORGANISATIONS, "verify", organisation, by=by, note=note, status_reason=note)
    for hook in WHEN_VERIFIED:  # offsets opens the holding account, in this transaction
        hook(verified, by=by)
    return verified


@transaction.atomic
def reject_organisation(organisation: Organisation, *, by: User, reasons: str) -> Organisation:
    """pending → rejected with reasons; the applicant may correct its details and come back."""
    locked = start(ORGANISATIONS, "reject", organisation, by=by)
    reasons = _require_reason(reasons)
    finish(ORGANISATIONS, "reject", locked, by=by, note=reasons, status_reason=reasons)
    return locked


@transaction.atomic
def suspend_organisation(organisation: Organisation, *, by: User, reasons: str) -> Organisation:
    """verified → suspended: no new submissions until reinstated."""
    locked = start(ORGANISATIONS, "suspend", organisation, by=by)
    reasons = _require_reason(reasons)
    finish(ORGANISATIONS, "suspend", locked, by=by, note=reasons, status_reason=reasons)
    return locked


@transaction.atomic
def reinstate_organisation(organisation: Organisation, *, by: User, note: str = "") -> Organisation:
    """suspended → verified."""
    locked, _event = move(ORGANISATIONS, "reinstate", organisation, by=by, note=note, status_reason=note)
    return locked


# --- What an organisation is: changed by the registry administrator only ---------------------------------


def _identifier_fits(kind: str, identifier: str) -> bool:
    validate = (
        identifiers.validate_identity_number
        if kind == OrganisationKind.HOUSEHOLD
        else identifiers.validate_credit_code
    )
    try:
        validate(identifier)
    except ValidationError:
        return False
    return True


@transaction.atomic
def change_kind(organisation: Organisation, *, kind: str, by: User, reason: str) -> Organisation:
    """pending, verified, rejected → pending with the new kind, by a registry administrator; tells the
    organisation's admins. A suspended organisation is reinstated first, so suspension is never bypassed."""
    locked = start(ORGANISATIONS, "change_kind", organisation, by=by)
    reason = _require_reason(reason)
    if kind not in OrganisationKind.values:
        raise TransitionRefused(_("Choose a kind of organisation."))
    if locked.kind == kind:
        raise TransitionRefused(
            _("%(organisation)s already is of the kind “%(kind)s”.")
            % {"organisation": locked, "kind": OrganisationKind(kind).label}
        )
    if not _identifier_fits(kind, locked.identifier):
        raise TransitionRefused(
            _(
                "The identifier of %(organisation)s does not fit the kind “%(kind)s” (a household has a "
                "resident identity number, every other kind a Unified Social Credit Code)."
            )
            % {"organisation": locked, "kind": OrganisationKind(kind).label}
        )
    before, after = {"kind": locked.kind}, {"kind": kind}
    changes = {"kind": kind, "status_reason": reason}
    if locked.is_covered_emitter and kind != OrganisationKind.ENTERPRISE:
        # Only an enterprise carries the flag (a database constraint too).
        before["is_covered_emitter"], after["is_covered_emitter"] = True, False
        changes["is_covered_emitter"] = False
    # A new kind is a new registration to check: back to verification, like a change of identity.
    finish(ORGANISATIONS, "change_kind", locked, by=by, note=reason, before=before, after=after, **changes)
    return locked


@transaction.atomic
def set_covered_emitter(organisation: Organisation, *, flag: bool, by: User, reason: str) -> Organisation:
    """Put an enterprise on the covered-emitter list or take it off, by a registry administrator; the
    status stays; tells the organisation's admins."""
    locked = start(ORGANISATIONS, "set_covered_emitter", organisation, by=by)
    reason = _require_reason(reason)
    if locked.is_covered_emitter == flag:
        message = (
            _("%(organisation)s already is a covered emitter.")
            if flag
            else _("%(organisation)s is not a covered emitter.")
        )
        raise TransitionRefused(message % {"organisation": locked})
    finish(
        ORGANISATIONS,
        "set_covered_emitter",
        locked,
        by=by,
        note=reason,
        before={"is_covered_emitter": not flag},
        after={"is_covered_emitter": flag},
        is_covered_emitter=flag,
    )
    return locked


# --- The organisation's own administration ------------------------------------------------------


def _require_org_admin(by: User, organisation: Organisation) -> Membership:
    access.require(access.is_admin_of, by, organisation)
    return access.membership_of(by)


@transaction.atomic
def update_organisation(organisation: Organisation, *, by: User, changes: dict) -> Organisation:
    """The admin edits details; a new name, identifier or legal representative goes back to verification."""
    _require_org_admin(by, organisation)
    if any(field in REGISTRAR_FIELDS for field in changes):
        raise PermissionDenied(
            _("Only a registry administrator changes the kind of an organisation or its status.")
        )
    locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if locked.status == OrganisationStatus.SUSPENDED:
        raise TransitionRefused(_("A suspended organisation cannot change its details."))
    before, after = {}, {}
    for field, value in changes.items():
        if getattr(locked, field) != value:
            before[field], after[field] = str(getattr(locked, field)), str(value)
            setattr(locked, field, value)
    if not after:
        return locked
    back_to_verification = locked.status != OrganisationStatus.PENDING and any(
        f in after for f in IDENTITY_FIELDS
    )
    if back_to_verification:
        before["status"], after["status"] = locked.status, OrganisationStatus.PENDING
        locked.status = OrganisationStatus.PENDING
        locked.status_reason = ""
    locked.save()
    event = audit.record(actor=by, action="organisation.updated", subject=locked, before=before, after=after)
    if back_to_verification:
        notify_after_commit(event)
    return locked


@transaction.atomic
def invite_member(organisation: Organisation, *, by: User, email: str, role: str) -> Invitation:
    """The admin invites someone by e-mail; the link is good for INVITATION_DAYS days."""
    _require_org_admin(by, organisation)
    email = email.strip().lower()
    if Membership.objects.filter(user__email__iexact=email).exists():
        raise TransitionRefused(_("%(email)s already belongs to an organisation.") % {"email": email})
    Invitation.objects.filter(
        organisation=organisation, email=email, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email,
        role=role,
        token=secrets.token_urlsafe(32),
        invited_by=by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    event = audit.record(
        actor=by, action="membership.invited", subject=invitation, after={"email": email, "role": role}
    )
    notify_after_commit(event)
    return invitation


@transaction.atomic
def accept_invitation(
    invitation: Invitation, *, full_name: str = "", password: str = "", language: str = "zh-hans", user=None
) -> Membership:
    """Open invitation → membership. Creates the user when the address has no account yet."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_open:
        raise TransitionRefused(_("This invitation has expired or has already been used."))
    if user is None:
        user = User.objects.filter(email__iexact=locked.email).first()
    if user is None:
        user = User.objects.create_user(
            email=locked.email, password=password, full_name=full_name, language=language
        )
    elif user.email.lower() != locked.email:
        raise TransitionRefused(_("This invitation was sent to another e-mail address."))
    if Membership.objects.filter(user=user).exists():
        raise TransitionRefused(_("%(email)s already belongs to an organisation.") % {"email": user.email})
    membership = Membership.objects.create(user=user, organisation=locked.organisation, role=locked.role)
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    audit.record(actor=user, action="membership.joined", subject=membership, after={"role": membership.role})
    return membership


def _admins_left(organisation: Organisation, *, without: Membership) -> int:
    return (
        Membership.objects.select_for_update()
        .filter(organisation=organisation, role=OrgRole.ADMIN)
        .exclude(pk=without.pk)
        .count()
    )


@transaction.atomic
def change_role(membership: Membership, *, by: User, role: str) -> Membership:
    """The admin changes a member's role; the organisation always keeps an admin."""
    _require_org_admin(by, membership.organisation)
    if role not in OrgRole.values:
        raise TransitionRefused(_("Choose a role."))
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == role:
        return locked
    if locked.role == OrgRole.ADMIN and _admins_left(locked.organisation, without=locked) == 0:
        raise TransitionRefused(_("An organisation always keeps an administrator: hand the role over first."))
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    event = audit.record(
        actor=by,
        action="membership.role_changed",
        subject=locked,
        before={"role": before},
        after={"role": role},
    )
    notify_after_commit(event)
    return locked


@transaction.atomic
def remove_member(membership: Membership, *, by: User) -> None:
    """The admin removes a member (never the last admin). The user keeps its account, without access."""
    _require_org_admin(by, membership.organisation)
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == OrgRole.ADMIN and _admins_left(locked.organisation, without=locked) == 0:
        raise TransitionRefused(_("An organisation always keeps an administrator: hand the role over first."))
    audit.record(
        actor=by,
        action="membership.removed",
        subject=locked.organisation,
        before={"member": locked.user.email, "role": locked.role},
    )
    locked.delete()


@transaction.atomic
def hand_over_admin(membership: Membership, *, by: User) -> Membership:
    """The admin makes another member admin and becomes a declarant."""
    own = _require_org_admin(by, membership.organisation)
    target = Membership.objects.select_for_update().get(pk=membership.pk)
    if target.pk == own.pk:
        raise TransitionRefused(_("Choose another member to hand the administrator role to."))
    Membership.objects.filter(pk=target.pk).update(role=OrgRole.ADMIN)
    Membership.objects.filter(pk=own.pk).update(role=OrgRole.DECLARANT)
    target.refresh_from_db()
    event = audit.record(
        actor=by,
        action="membership.admin_handed_over",
        subject=target,
        before={"admin": by.email},
        after={"admin": target.user.email},
    )
    notify_after_commit(event)
    return target
