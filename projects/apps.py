from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Projects and declarations")

    def ready(self) -> None:
        from projects import notifications
        from registry.audit import ACTION_LABELS

        notifications.register()
        ACTION_LABELS.update(
            {
                "project.created": _("Project drafted"),
                "project.updated": _("Project details changed"),
                "declaration.created": _("Declaration drafted"),
                "declaration.updated": _("Declaration period changed"),
                "declaration.data_saved": _("Monitoring data saved"),
                "document.uploaded": _("Document uploaded"),
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
            }
        )
