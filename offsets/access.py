"""Who may see and do what with phases, objections, accounts and certificates: the one door the views,
issuing and the templates ask (registry.access explains the two answers, 404 and 403).

Phases and notices are public once published (IssuancePhase.objects.public()); the bureau's phase screen
is for its reviewers. An objection is seen by whoever sees its declaration; its evidence only by those
who rule on objections. An account, its blocks and its certificates are seen by the holder's members
and the bureau. Four eyes: whoever assembled a phase never approves it for notice.
"""

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from offsets.models import Account, Certificate, IssuancePhase, Objection, Retirement, Transfer
from projects.models import Declaration
from registry.access import may_act_for, own_membership, rule

REVIEW_CASE = "projects.review_case"


# --- What a user may see ---------------------------------------------------------------------------


def accounts_visible_to(user):
    """The holder's members see its account; the bureau's readers of accounts see all."""
    if not user.is_authenticated:
        return Account.objects.none()
    if user.has_perm("offsets.view_any_account"):
        return Account.objects.all()
    return Account.objects.filter(organisation__memberships__user=user)


def certificates_visible_to(user):
    """A certificate, to the members of the holder at the time (the owner a registration credited, the
    organisation that retired) and the bureau's reviewers; anyone else verifies it on the public page."""
    if not user.is_authenticated:
        return Certificate.objects.none()
    if user.has_perm(REVIEW_CASE):
        return Certificate.objects.all()
    return Certificate.objects.filter(
        Q(issuance__account__organisation__memberships__user=user)
        | Q(retirement__account__organisation__memberships__user=user)
    )


def objections_visible_to(user):
    """The objections against the declarations the user may see (the declarant answers them)."""
    return Objection.objects.filter(declaration__in=Declaration.objects.visible_to(user))


def own_account(request) -> Account | None:
    """The holding account of the current member's organisation (None before it is opened); 404 for
    anyone who is not a member."""
    organisation = own_membership(request).organisation
    return accounts_visible_to(request.user).filter(organisation=organisation).first()


def certificate_for(user, number: str) -> Certificate:
    return get_object_or_404(certificates_visible_to(user).select_related("issuance__account"), number=number)


def objection_for(user, pk: int) -> Objection:
    return get_object_or_404(objections_visible_to(user).select_related("declaration"), pk=pk)


def objection_evidence_for(user, pk: int) -> Objection:
    """The objection whose evidence the user may download: for those who rule on objections; everyone
    else (the public, the enterprises, other bureau roles) gets 404, as if it did not exist."""
    if not may_rule_objections(user):
        raise Http404
    return get_object_or_404(Objection, pk=pk)


# --- What the bureau may do with a phase -------------------------------------------------------------


def may_rule_objections(user) -> bool:
    return user.has_perm("offsets.rule_objection")


def assembled(user, phase: IssuancePhase) -> bool:
    """Four eyes: whoever assembled a phase never approves it for notice, nor sends it back."""
    return phase.assembled_by_id == user.pk


# --- Transfers and retirements ---------------------------------------------------------------------

VIEW_ANY_ACCOUNT = "offsets.view_any_account"


def _own_accounts(user):
    return Account.objects.filter(organisation__memberships__user=user).values("pk")


def transfers_visible_to(user):
    """A transfer, to the members of both sides and the bureau's readers of accounts."""
    if not user.is_authenticated:
        return Transfer.objects.none()
    if user.has_perm(VIEW_ANY_ACCOUNT):
        return Transfer.objects.all()
    mine = _own_accounts(user)
    return Transfer.objects.filter(Q(from_account__in=mine) | Q(to_account__in=mine))


def retirements_visible_to(user):
    """A retirement (its beneficiary, serials, status), to the retiring organisation's members and the
    bureau's readers of accounts; the public list shows what anyone may read of it."""
    if not user.is_authenticated:
        return Retirement.objects.none()
    if user.has_perm(VIEW_ANY_ACCOUNT):
        return Retirement.objects.all()
    return Retirement.objects.filter(account__in=_own_accounts(user))


def transfer_for(user, reference: str) -> Transfer:
    return get_object_or_404(
        transfers_visible_to(user).select_related(
            "from_account__organisation", "to_account__organisation", "requested_by"
        ),
        reference=reference,
    )


def retirement_for(user, reference: str) -> Retirement:
    return get_object_or_404(
        retirements_visible_to(user).select_related("account__organisation", "requested_by"),
        reference=reference,
    )


def retirement_certificate_for(user, reference: str) -> Certificate:
    """A retirement's certificate, to the retiring organisation's members and the bureau's staff (as a
    registration certificate); anyone else verifies it on the public page."""
    if not user.is_authenticated:
        raise Http404
    certificates = Certificate.objects.select_related("retirement__account").filter(
        retirement__reference=reference
    )
    if not (user.has_perm(REVIEW_CASE) or user.has_perm(VIEW_ANY_ACCOUNT)):
        certificates = certificates.filter(retirement__account__in=_own_accounts(user))
    return get_object_or_404(certificates)


@rule(_("Only the organisation's administrator or declarants may move or retire its credits."))
def may_move_credits(user, account: Account) -> bool:
    """Administrators and declarants of the holder send, retire and offset; viewers only read."""
    return may_act_for(user, account.organisation)
