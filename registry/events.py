"""Every audit event name the portal records, with what it means to a person reading a timeline.

This is the one place for them. `registry.audit.record(action=...)` takes these names; timelines, the
inbox and the audit log show these labels (the `action_label` template filter); tests/test_event_labels.py
scans the code for recorded actions and fails on any that is missing here or has no Chinese. A new event
is one line here, in the group of the app whose model is its subject.

The names are plain strings, so registry imports nothing of the other apps. The mapping is read-only: no
app adds to it at start-up.
"""

from types import MappingProxyType

from django.utils.translation import gettext_lazy as _

LABELS = MappingProxyType(
    {
        # registry: organisations (registry/services.py)
        "organisation.signed_up": _("Registered on the portal"),
        "organisation.verified": _("Verified by the Bureau"),
        "organisation.rejected": _("Not verified, with reasons"),
        "organisation.suspended": _("Suspended"),
        "organisation.reinstated": _("Reinstated"),
        "organisation.updated": _("Details changed"),
        "organisation.kind_changed": _("Kind changed by the Bureau; back in verification"),
        "organisation.covered_emitter_changed": _("Covered-emitter status changed by the Bureau"),
        "organisation.boundary_changed": _("Compliance boundary changed"),
        "organisation.sign_up_repeated": _("Someone tried to register it again"),
        # registry: members (registry/services.py)
        "membership.invited": _("Member invited"),
        "membership.joined": _("Member joined"),
        "membership.role_changed": _("Member's role changed"),
        "membership.removed": _("Member removed"),
        "membership.admin_handed_over": _("Administrator role handed over"),
        # registry: users, logins and second factor (registry/services.py, auth.py, mfa.py, admin.py)
        "user.email_confirmed": _("E-mail address confirmed"),
        "user.logged_in": _("Logged in"),
        "user.login_failed": _("Failed login"),
        "user.roles_changed": _("Bureau roles changed"),
        "user.sign_up_repeated": _("Someone tried to register with this e-mail address"),
        "user.password_reset": _("Password reset by e-mail link"),
        "user.mfa_enrolled": _("Two-factor login set up"),
        "user.mfa_recovery_code_used": _("Recovery code used to log in"),
        "user.mfa_recovery_codes_renewed": _("New recovery codes made"),
        "user.mfa_removed": _("Two-factor login turned off"),
        "user.mfa_reset": _("Two-factor login reset by a registry administrator"),
        # projects: drafting and documents (projects/services.py)
        "project.created": _("Project drafted"),
        "project.updated": _("Project details changed"),
        "project.emitter_linked": _("Linked to a covered emitter"),
        "declaration.created": _("Declaration drafted"),
        "declaration.updated": _("Declaration period changed"),
        "declaration.data_saved": _("Monitoring data saved"),
        "declaration.verification_body_named": _("Verification body named"),
        "document.uploaded": _("Document uploaded"),
        # projects: the staged review of projects and declarations (projects/workflow.py, reminders.py)
        "case.submitted": _("Submitted"),
        "case.resubmitted": _("Resubmitted"),
        "case.withdrawn": _("Withdrawn"),
        "case.accepted": _("Accepted at intake"),
        "case.returned": _("Returned for revision"),
        "case.opinions_requested": _("Expert opinions requested"),
        "case.opinions_given": _("Expert opinions given"),
        "case.forwarded": _("Forwarded for approval"),
        "case.sent_back": _("Sent back to technical review"),
        "case.assigned": _("Assigned to a reviewer"),
        "case.finding_answered": _("Finding answered"),
        "case.opinion_recorded": _("Expert opinion recorded"),
        "case.conflict_declared": _("Conflict of interest declared"),
        "case.overdue_reminded": _("Past its time limit: reviewers reminded"),
        "case.approved": _("Approved"),
        "case.rejected": _("Rejected"),
        "case.reopened": _("Reopened after an objection"),
        # offsets: issuance phases, notices and registration (offsets/issuing.py)
        "phase.created": _("Phase created"),
        "phase.declarations_added": _("Declarations added to the phase"),
        "phase.declaration_removed": _("Declaration removed from the phase"),
        "phase.submitted": _("Phase submitted for approval"),
        "phase.approved": _("Phase approved for notice"),
        "phase.sent_back": _("Phase sent back"),
        "phase.published": _("Notice published"),
        "phase.notice_closed": _("Notice closed"),
        "phase.registered": _("Phase registered"),
        "credits.issued": _("Credits issued"),
        # offsets: objections; objection.dismissed and .upheld are recorded as f"objection.{status}"
        "objection.filed": _("Objection filed"),
        "objection.answered": _("Objection answered by the declarant"),
        "objection.dismissed": _("Objection dismissed"),
        "objection.upheld": _("Objection upheld"),
        # offsets: the ledger, each change of a serial block (offsets/ledger.py)
        "account.opened": _("Holding account opened"),
        "credits.reserved": _("Credits reserved"),
        "credits.released": _("Credits released"),
        "credits.transferred": _("Credits transferred"),
        "credits.retired": _("Credits retired"),
        "credits.cancelled": _("Credits cancelled"),
        # offsets: transfers between accounts (offsets/transfers.py)
        "transfer.requested": _("Transfer requested"),
        "transfer.confirmed": _("Transfer confirmed"),
        "transfer.rejected": _("Transfer rejected"),
        "transfer.cancelled": _("Transfer cancelled"),
        # offsets: voluntary retirements and compliance offsets (offsets/retirements.py)
        "retirement.made": _("Retirement made"),
        "offset.requested": _("Compliance offset requested"),
        "offset.confirmed": _("Compliance offset confirmed"),
        "offset.rejected": _("Compliance offset rejected"),
        "offset.withdrawn": _("Compliance offset withdrawn"),
        # offsets: compliance policies and emitters' records (offsets/compliance.py)
        "compliance.policy_saved": _("Compliance policy saved"),
        "compliance.record_saved": _("Compliance record saved"),
        # offsets.behaviour: platforms, batches, months (offsets/behaviour: services, batches, processing)
        "platform.credential_issued": _("API key issued to the platform"),
        "platform.credential_revoked": _("API key of the platform revoked"),
        "platform.agreement_set": _("Aggregation agreement recorded"),
        "platform.period_closing": _("Close of a month of aggregation asked for"),
        "platform.period_closed": _("Month of aggregation closed"),
        "platform.period_close_failed": _("Close of a month of aggregation not done"),
        "batch.received": _("Batch of behaviour records received"),
        "batch.processed": _("Batch of behaviour records processed"),
        "batch.failed": _("Batch of behaviour records failed"),
        # offsets.behaviour: personal carbon accounts (offsets/behaviour/services.py)
        "resident.account_opened": _("Personal carbon account opened"),
        "resident.donated": _("Grams donated to an event"),
        "resident.signed_up": _("Resident registered on the portal"),
    }
)


def label(action: str) -> str:
    """The translated name of an action; the name itself where none is known (a timeline never breaks)."""
    return LABELS.get(action, action)
