"""Covered emitters' compliance: the policy of each compliance year (履约年度), each emitter's record for
the year, its boundary (installations) and the projects inside it, and the rules an offset must pass.

Kept by the registry administrator (policies, records, installations); a project is linked to the
boundary it lies in by a technical reviewer. Every change is audited. The rules are checked when an
offset is requested and again when it is confirmed (offsets.retirements), each refusal naming its rule
and the figures, in the reader's language.
"""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import localize
from django.utils.translation import gettext as _

from offsets.models import BoundaryLink, CapBasis, CompliancePolicy, ComplianceRecord, Installation
from registry import audit
from registry.access import has_right, require
from registry.models import Organisation, OrganisationKind, User
from registry.services import TransitionRefused

KEEP = "offsets.keep_compliance"
LINK = "offsets.link_boundary"


class RuleBroken(TransitionRefused):
    """An offset that breaks a rule of the compliance policy; `rule` names it."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


def _require(user, permission: str) -> None:
    require(has_right, user, permission)


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


# --- Keeping the policies, records and boundaries -----------------------------------------------


@transaction.atomic
def save_policy(*, by: User, year: int, **values) -> CompliancePolicy:
    _require(by, KEEP)
    policy = CompliancePolicy.objects.select_for_update().filter(year=year).first()
    before = {f: _plain(getattr(policy, f)) for f in values} if policy else None
    policy = policy or CompliancePolicy(year=year)
    for field, value in values.items():
        setattr(policy, field, value)
    policy.full_clean()
    policy.save()
    audit.record(
        actor=by,
        action="compliance.policy_saved",
        subject=policy,
        before=before,
        after={f: _plain(v) for f, v in values.items()},
    )
    return policy


@transaction.atomic
def save_record(
    *, by: User, organisation: Organisation, year: int, verified_emissions_t: int, allowance_t: int
) -> ComplianceRecord:
    _require(by, KEEP)
    if not organisation.is_covered_emitter:
        raise TransitionRefused(
            _("%(organisation)s is not on the covered-emitter list.") % {"organisation": organisation}
        )
    record, _created = ComplianceRecord.objects.select_for_update().get_or_create(
        organisation=organisation,
        year=year,
        defaults={"verified_emissions_t": verified_emissions_t, "allowance_t": allowance_t},
    )
    before = {"verified_emissions_t": record.verified_emissions_t, "allowance_t": record.allowance_t}
    record.verified_emissions_t, record.allowance_t = verified_emissions_t, allowance_t
    record.save(update_fields=["verified_emissions_t", "allowance_t"])
    audit.record(
        actor=by,
        action="compliance.record_saved",
        subject=organisation,
        before=None if _created else before,
        after={"year": year, "verified_emissions_t": verified_emissions_t, "allowance_t": allowance_t},
    )
    return record


@transaction.atomic
def add_installation(*, by: User, organisation: Organisation, name: str, address: str = "") -> Installation:
    _require(by, KEEP)
    if organisation.kind != OrganisationKind.ENTERPRISE:
        raise TransitionRefused(_("Only an enterprise has a compliance boundary."))
    installation = Installation.objects.create(
        organisation=organisation, name=name.strip(), address=address.strip()
    )
    audit.record(
        actor=by,
        action="organisation.boundary_changed",
        subject=organisation,
        after={"added": installation.name, "address": installation.address},
    )
    return installation


@transaction.atomic
def link_project(
    *, by: User, project, emitter: Organisation | None, installation: Installation | None = None
):
    """Record that a project lies inside a covered emitter's boundary (or, with no emitter, in none)."""
    _require(by, LINK)
    if emitter is not None and not emitter.is_covered_emitter:
        raise TransitionRefused(
            _("%(organisation)s is not on the covered-emitter list.") % {"organisation": emitter}
        )
    if installation is not None and installation.organisation_id != getattr(emitter, "pk", None):
        raise TransitionRefused(_("That installation is not inside this emitter's boundary."))
    link = BoundaryLink.objects.select_for_update().filter(project=project).first()
    before = {"emitter": link.emitter_id} if link else None
    if emitter is None:
        if link is not None:
            link.delete()
    else:
        link = link or BoundaryLink(project=project)
        link.emitter, link.installation, link.linked_by = emitter, installation, by
        link.save()
    audit.record(
        actor=by,
        action="project.emitter_linked",
        subject=project,
        before=before,
        after={"emitter": getattr(emitter, "pk", None), "installation": getattr(installation, "name", None)},
    )
    return link


# --- The rules -------------------------------------------------------------------------------------


@dataclass
class Standing:
    """A covered emitter's compliance year as the rules see it, in tonnes of allowance."""

    policy: CompliancePolicy
    record: ComplianceRecord

    @property
    def basis(self) -> int:
        return (
            self.record.verified_emissions_t
            if self.policy.cap_basis == CapBasis.EMISSIONS
            else self.record.allowance_t
        )

    @property
    def cap(self) -> Decimal:
        share = Decimal(self.basis) * self.policy.cap_percent / 100
        return share.quantize(Decimal("0.001"), rounding=ROUND_FLOOR)

    @property
    def used(self) -> Decimal:
        return self.record.offsets_used_t

    @property
    def pending(self) -> Decimal:
        return self.record.offsets_pending_t

    @property
    def headroom(self) -> Decimal:
        return max(self.cap - self.used - self.pending, Decimal(0))

    def allowance_of(self, credits: int) -> Decimal:
        return Decimal(credits) * self.policy.conversion


def eligible_credits(policy: CompliancePolicy, emitter: Organisation) -> Q:
    """The blocks that may offset this emitter's year: of an eligible vintage, from a project not inside
    its own boundary. (Only this registry's credits exist here: the policy's "registry only" rule.)"""
    return Q(issuance__vintage__gte=policy.first_vintage, issuance__vintage__lte=policy.last_vintage) & ~Q(
        issuance__project__boundary_link__emitter=emitter
    )


def _figures(standing: Standing, asked: Decimal) -> dict:
    return {
        "year": standing.policy.year,
        "cap": localize(standing.cap.normalize()),
        "percent": localize(standing.policy.cap_percent.normalize()),
        "basis": standing.policy.get_cap_basis_display(),
        "base": localize(standing.basis),
        "used": localize(standing.used.normalize()),
        "pending": localize(standing.pending.normalize()),
        "asked": localize(asked.normalize()),
        "headroom": localize(standing.headroom.normalize()),
    }


def standing(emitter: Organisation, year: int, *, lock: bool = False) -> Standing:
    """The emitter's standing for the year, or the rule that stops any offset (RuleBroken)."""
    if not emitter.is_covered_emitter:
        raise RuleBroken(
            "covered_emitter", _("Only a covered emitter on the Bureau's list may offset a compliance year.")
        )
    policy = CompliancePolicy.objects.filter(year=year).first()
    if policy is None:
        raise RuleBroken("policy", _("There is no compliance policy for %(year)s.") % {"year": year})
    records = ComplianceRecord.objects.filter(organisation=emitter, year=year)
    record = (records.select_for_update() if lock else records).first()
    if record is None:
        raise RuleBroken(
            "record",
            _(
                "There is no compliance record of %(organisation)s for %(year)s; "
                "the registry administrator keeps it."
            )
            % {"organisation": emitter, "year": year},
        )
    return Standing(policy, record)


def check_window(policy: CompliancePolicy, today=None) -> None:
    today = today or timezone.localdate()
    if not policy.window_opens <= today <= policy.window_closes:
        raise RuleBroken(
            "window",
            _("Offsets for %(year)s are accepted from %(opens)s to %(closes)s.")
            % {
                "year": policy.year,
                "opens": localize(policy.window_opens),
                "closes": localize(policy.window_closes),
            },
        )


def check_blocks(policy: CompliancePolicy, emitter: Organisation, blocks) -> None:
    """Named blocks: each of an eligible vintage, none from inside the emitter's own boundary."""
    blocks = list(blocks)
    inside = set(  # one query for all the named blocks' projects
        BoundaryLink.objects.filter(
            emitter=emitter, project_id__in={b.issuance.project_id for b in blocks}
        ).values_list("project_id", flat=True)
    )
    for block in blocks:
        vintage = block.issuance.vintage
        if not policy.first_vintage <= vintage <= policy.last_vintage:
            raise RuleBroken(
                "vintage",
                _(
                    "Credits of vintage %(vintage)s do not count for %(year)s: "
                    "eligible vintages are %(first)s to %(last)s."
                )
                % {
                    "vintage": vintage,
                    "year": policy.year,
                    "first": policy.first_vintage,
                    "last": policy.last_vintage,
                },
            )
        if block.issuance.project_id in inside:
            raise RuleBroken(
                "own_boundary",
                _(
                    "Credits of project %(project)s come from inside your own compliance boundary "
                    "and never count."
                )
                % {"project": block.issuance.project.code},
            )


def check_cap(standing: Standing, credits: int, *, already_counted: bool = False) -> None:
    """The offset of `credits` keeps used + awaiting confirmation within the cap. At confirmation the
    request's own reservation is already among those awaiting (already_counted)."""
    asked = standing.allowance_of(credits)
    total = standing.used + standing.pending + (0 if already_counted else asked)
    if total > standing.cap:
        figures = _figures(standing, asked)
        if already_counted:
            figures["headroom"] = localize(
                max(standing.cap - standing.used - standing.pending + asked, Decimal(0)).normalize()
            )
        raise RuleBroken(
            "cap",
            _(
                "Cap rule: the cap for %(year)s is %(cap)s t (%(percent)s%% of the %(basis)s, "
                "%(base)s t); used %(used)s t, awaiting confirmation %(pending)s t, asked %(asked)s t, "
                "headroom %(headroom)s t."
            )
            % figures,
        )
