"""Where an approved declaration is in the issuance, as its declarant reads it: waiting for a phase, in a
phase being prepared, in public notice until a date, with objections filed, its notice closed, or
registered with its serial and certificate; with links to the notice, the objections and the certificate.

A read, no writes. The declaration page and the case list (projects) show it through the template tags of
offsets.templatetags.issuance_progress, so projects never imports offsets.
"""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.issuing import notice_is_open
from offsets.models import (
    Certificate,
    CertificateKind,
    Issuance,
    IssuancePhase,
    Objection,
    ObjectionStatus,
    PhaseEntry,
    PhaseStatus,
)
from projects.models import Declaration, Stage
from registry.models import Membership
from registry.templatetags.registry_tags import tonnes

# The steps, in order. Each is one kind of sentence; a template never compares them to decide anything.
WAITING = "waiting"  # approved, in no phase yet
PREPARING = "preparing"  # in a phase being assembled or approved for notice
IN_NOTICE = "in_notice"
CLOSED = "closed"  # the notice closed, the phase not registered yet
REGISTERED = "registered"


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass
class Progress:
    step: str
    label: str  # short, for a list's status column
    sentence: str  # what it means and what comes next
    phase: IssuancePhase | None = None
    issuance: Issuance | None = None
    certificate: Certificate | None = None
    objections: list[Objection] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def awaiting_ruling(self) -> list[Objection]:
        return [o for o in self.objections if o.status == ObjectionStatus.AWAITING]


def _day(value) -> str:
    """A date, or a moment as the date it was in Beijing."""
    if not value:
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d")


def _registered(declaration: Declaration, issuance: Issuance, certificate: Certificate | None) -> Progress:
    phase = issuance.phase
    values = {
        "code": phase.code,
        "date": _day(issuance.registered_at),
        "quantity": tonnes(issuance.quantity),
        "serial": issuance.serial,
    }
    sentence = (
        _(
            "Registered in phase %(code)s on %(date)s: %(quantity)s of credits in the owner's holding "
            "account, serial %(serial)s."
        )
        % values
    )
    if certificate is not None:
        sentence += " " + _("Registration certificate %(number)s.") % {"number": certificate.number}
    return Progress(
        REGISTERED,
        _("Registered in phase %(code)s") % values,
        sentence,
        phase=phase,
        issuance=issuance,
        certificate=certificate,
    )


def _in_phase(phase: IssuancePhase, awaiting: list[Objection]) -> Progress:
    values = {"code": phase.code, "start": _day(phase.notice_start), "end": _day(phase.notice_end)}
    if phase.status == PhaseStatus.IN_NOTICE:
        if notice_is_open(phase):
            sentence = _(
                "In the public notice of phase %(code)s from %(start)s until %(end)s: anyone may object "
                "until 23:59:59 (Beijing time) on %(end)s. The Bureau registers the phase after the notice."
            )
        else:
            sentence = _(
                "The public notice of phase %(code)s ended on %(end)s; it is being closed, and the Bureau "
                "registers the phase next."
            )
        label = _("In public notice until %(end)s") % values
        step = IN_NOTICE
    elif phase.status == PhaseStatus.CLOSED:
        sentence = _(
            "The public notice of phase %(code)s ran until %(end)s and has closed; the Bureau registers the "
            "phase next."
        )
        label = _("Notice closed, awaiting registration")
        step = CLOSED
    else:
        sentence = _(
            "In issuance phase %(code)s, which the Bureau is preparing for public notice. You are told when "
            "the notice is published."
        )
        label = _("In issuance phase %(code)s") % values
        step = PREPARING
    sentence %= values
    if awaiting:
        label = _("Objection filed, awaiting a ruling")
        sentence += " " + _(
            "Objection %(references)s awaits the Bureau's ruling; the phase is not registered before it is "
            "ruled on. The applicant's administrator or a declarant may answer it on the declaration's page."
        ) % {"references": ", ".join(o.reference for o in awaiting)}
    return Progress(step, label, sentence, phase=phase)


def _links(progress: Progress, declaration: Declaration, *, holder: bool, member: bool) -> list[Link]:
    """The notice and the objections for anyone who sees the declaration; the certificate for the owner's
    members and the bureau (`holder`), the holding account for the owner's members (`member`)."""
    links = []
    phase = progress.phase
    if phase is not None and phase.is_public:
        label = _("The announcement of phase %(code)s") if progress.step == REGISTERED else _("The notice")
        links.append(Link(label % {"code": phase.code}, phase.get_absolute_url()))
    links += [
        Link(
            _("Objection %(reference)s (%(status)s)")
            % {"reference": o.reference, "status": o.get_status_display()},
            f"{declaration.get_absolute_url()}#objection-{o.pk}",
        )
        for o in progress.objections
    ]
    if progress.certificate is not None and holder:
        links.append(
            Link(
                _("Registration certificate (PDF)"),
                reverse("offsets:certificate", args=[progress.certificate.number]),
            )
        )
    if progress.step == REGISTERED and member:
        links.append(Link(_("Your holding account"), reverse("offsets:account")))
    return links


def progress_of_many(declarations, user) -> dict[int, Progress]:
    """The progress of each approved declaration among `declarations`, by pk, with the links `user` may
    follow, in five queries at most whatever their number; declarations not approved have none."""
    approved = {d.pk: d for d in declarations if d.stage == Stage.APPROVED}
    if not approved:
        return {}
    own = set(Membership.objects.filter(user=user).values_list("organisation_id", flat=True))
    bureau = user.has_perm("projects.review_case")
    issuances = {
        i.declaration_id: i for i in Issuance.objects.filter(declaration__in=approved).select_related("phase")
    }
    certificates = {
        c.issuance_id: c
        for c in Certificate.objects.filter(
            kind=CertificateKind.REGISTRATION, issuance__in=issuances.values()
        ).order_by("issued_at")  # the newest last: it is the one kept
    }
    entries = {
        e.declaration_id: e
        for e in PhaseEntry.objects.live().filter(declaration__in=approved).select_related("phase")
    }
    objections: dict[int, list[Objection]] = {}
    for objection in Objection.objects.filter(declaration__in=approved).order_by("filed_at", "pk"):
        objections.setdefault(objection.declaration_id, []).append(objection)

    result = {}
    for pk, declaration in approved.items():
        if pk in issuances:
            issuance = issuances[pk]
            progress = _registered(declaration, issuance, certificates.get(issuance.pk))
        elif pk in entries:
            phase = entries[pk].phase
            awaiting = [
                o
                for o in objections.get(pk, [])
                if o.phase_id == phase.pk and o.status == ObjectionStatus.AWAITING
            ]
            progress = _in_phase(phase, awaiting)
        else:
            progress = Progress(
                WAITING,
                _("Approved, awaiting an issuance phase"),
                _(
                    "Approved: the Bureau groups it into an issuance phase and publishes the phase for "
                    "public notice; you are told when the notice is published."
                ),
            )
        if progress.phase is not None:
            progress.objections = [o for o in objections.get(pk, []) if o.phase_id == progress.phase.pk]
        member = declaration.project.organisation_id in own
        progress.links = _links(progress, declaration, holder=member or bureau, member=member)
        result[pk] = progress
    return result


def progress_of(declaration: Declaration, user) -> Progress | None:
    return progress_of_many([declaration], user).get(declaration.pk)
