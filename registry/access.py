"""Who may see and do what: the one door through which views, services and templates ask.

Two answers, as healthchecks' `_get_check_for_user` gives them:

- another organisation's object does not exist for the user: 404, never 403. Views fetch through a
  `*_for(user, ...)` helper of the app's access module, built on `get_visible_or_404` and the
  `visible_to(user)` of each model a user can reach (a QuerySet method or a `*_visible_to` function);
- someone who may see an object but not do this with it (a read-only member, a bureau role without the
  step) gets 403: `require(rule, ...)` raises PermissionDenied with the rule's own message.

Rules are plain functions `(user, ...) -> bool` marked with `@rule(refusal)`; each app keeps its own in
its access.py (projects.access, offsets.access), built on the ones here. The current user's membership
is looked up once per request (`current_membership`), and the rules asked during that request use it.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from registry.models import Delivery, Membership, Organisation, OrgRole

# Where the membership resolved for this request is kept: on request.user, which the authentication
# middleware loads afresh for every request, so it never outlives the request.
_RESOLVED = "_access_membership"


def rule(refusal):
    """Mark a rule `(user, ...) -> bool` with the message `require` refuses with."""

    def mark(function):
        function.refusal = refusal
        return function

    return mark


def require(rule, *args) -> None:
    """PermissionDenied (403) with the rule's message unless `rule(*args)` allows."""
    if not rule(*args):
        raise PermissionDenied(str(rule.refusal))


def get_visible_or_404(queryset, user, **lookup):
    """The object among those the user may see (`queryset.visible_to(user)`), or 404."""
    return get_object_or_404(queryset.visible_to(user), **lookup)


# --- The current membership ------------------------------------------------------------------------


def _look_up(user) -> Membership | None:
    return Membership.objects.select_related("organisation").filter(user=user).first()


def current_membership(request) -> Membership | None:
    """The requesting user's one membership with its organisation, looked up once per request; None for
    bureau staff and anonymous visitors."""
    user = request.user
    if not user.is_authenticated:
        return None
    if not hasattr(user, _RESOLVED):
        setattr(user, _RESOLVED, _look_up(user))
    return getattr(user, _RESOLVED)


def own_membership(request) -> Membership:
    """The current membership, or 404: the enterprise portal's pages exist only for members."""
    membership = current_membership(request)
    if membership is None:
        raise Http404
    return membership


def membership_of(user) -> Membership | None:
    """The user's membership: the one resolved for the current request, or (a task, a test, the shell)
    as the database holds it now."""
    if user is None or not user.is_authenticated:
        return None
    if hasattr(user, _RESOLVED):
        return getattr(user, _RESOLVED)
    return _look_up(user)


# --- Rules -----------------------------------------------------------------------------------------


def _membership_in(user, organisation: Organisation) -> Membership | None:
    membership = membership_of(user)
    if membership is None or membership.organisation_id != organisation.pk:
        return None
    return membership


def is_member_of(user, organisation: Organisation) -> bool:
    return _membership_in(user, organisation) is not None


@rule(_("Only the organisation's administrator may do this."))
def is_admin_of(user, organisation: Organisation) -> bool:
    membership = _membership_in(user, organisation)
    return membership is not None and membership.role == OrgRole.ADMIN


@rule(_("Only the organisation's administrator or declarants may do this."))
def may_act_for(user, organisation: Organisation) -> bool:
    """Administrators and declarants act for their organisation (Membership.can_act); viewers only read."""
    membership = _membership_in(user, organisation)
    return membership is not None and membership.can_act


def is_read_only_member(user, organisation: Organisation) -> bool:
    """A viewer: sees everything of its organisation, acts on nothing."""
    membership = _membership_in(user, organisation)
    return membership is not None and not membership.can_act


@rule(_("Your bureau role does not include this step."))
def has_right(user, permission: str) -> bool:
    """A bureau right, as "app_label.codename" (the roles' permissions: registry.roles)."""
    return user.has_perm(permission)


@rule(_("Only a registry administrator may do this."))
def may_verify_organisations(user) -> bool:
    return user.has_perm("registry.verify_organisation")


# --- What a user may reach -------------------------------------------------------------------------


def member_for(user, pk: int) -> Membership:
    """A member of the user's own organisation (404 for anyone else's), for its administrator (403)."""
    own = membership_of(user)
    if own is None:
        raise Http404
    member = get_object_or_404(
        Membership.objects.select_related("user"), pk=pk, organisation=own.organisation
    )
    require(is_admin_of, user, own.organisation)
    return member


def deliveries_visible_to(user):
    """A user's own inbox entries; nobody reads another's."""
    if not user.is_authenticated:
        return Delivery.objects.none()
    return Delivery.objects.filter(user=user, channel=Delivery.Channel.INBOX)
