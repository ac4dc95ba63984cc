from django.db.models import Count, Q
from django.utils import timezone

from projects.models import REVIEW_STAGES, Declaration, Project, Stage


def queues(request):
    """Queue counts for the office sidebar: one aggregate query per kind of case."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("projects.review_case"):
        return {}
    today = timezone.localdate()
    counts = {}
    for kind, model in (("declarations", Declaration), ("projects", Project)):
        counts[kind] = model.objects.aggregate(
            intake=Count("pk", filter=Q(stage=Stage.INTAKE)),
            technical=Count("pk", filter=Q(stage=Stage.TECHNICAL)),
            expert=Count("pk", filter=Q(stage=Stage.EXPERT)),
            approval=Count("pk", filter=Q(stage=Stage.APPROVAL)),
            returned=Count("pk", filter=Q(stage=Stage.RETURNED)),
            mine=Count("pk", filter=Q(assignee=user, stage__in=REVIEW_STAGES)),
            overdue=Count("pk", filter=Q(stage__in=REVIEW_STAGES, due_date__lt=today)),
        )
    return {"queue_counts": counts}
