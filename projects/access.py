"""Who may see and do what with projects, declarations and their records: the one door the views, the
workflow, the services and the templates ask (registry.access explains the two answers, 404 and 403).

Seeing: the bureau's reviewers see every case; an organisation's members see its own; a verification
body's members see the declarations assigned to it, with their documents and findings, but not the
bureau's letters to the applicant. Acting: the applicant's administrator and declarants draft, submit,
answer and withdraw; the assigned verification body uploads its report and opinion; each review stage
is acted on by the bureau role holding its permission, and at approval never by the case's technical
reviewer (four eyes).
"""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from projects.models import (
    DEAD_STAGES,
    CaseRecord,
    Conflict,
    Declaration,
    Document,
    Finding,
    Letter,
    Project,
    Stage,
)
from registry.access import get_visible_or_404, is_member_of, may_act_for, rule
from registry.models import VERIFICATION_DOCUMENTS, DocumentType

# The permission that acts in each review stage.
STAGE_PERMISSION = {
    Stage.INTAKE: "projects.act_intake",
    Stage.TECHNICAL: "projects.act_technical",
    Stage.EXPERT: "projects.act_expert",
    Stage.APPROVAL: "projects.act_approval",
}


# --- What a user may see ---------------------------------------------------------------------------


def _of_visible_cases(queryset, user):
    """Records (documents, findings) of the cases the user may see."""
    return queryset.filter(
        Q(project__in=Project.objects.visible_to(user))
        | Q(declaration__in=Declaration.objects.visible_to(user))
    )


def documents_visible_to(user):
    return _of_visible_cases(Document.objects.all(), user)


def findings_visible_to(user):
    return _of_visible_cases(Finding.objects.all(), user)


def letters_visible_to(user):
    """The bureau's letters, to the applicant's members and the bureau: a verification body sees the
    declaration assigned to it, not the letters to the applicant."""
    projects = Project.objects.visible_to(user)
    return Letter.objects.filter(Q(project__in=projects) | Q(declaration__project__in=projects))


def project_for(user, pk: int) -> Project:
    return get_visible_or_404(Project.objects.select_related("organisation", "methodology"), user, pk=pk)


def declaration_for(user, pk: int) -> Declaration:
    queryset = Declaration.objects.select_related(
        "project__organisation", "project__methodology", "verification_body", "factor"
    )
    return get_visible_or_404(queryset, user, pk=pk)


def document_for(user, pk: int) -> Document:
    return get_object_or_404(documents_visible_to(user).select_related("project", "declaration"), pk=pk)


def letter_for(user, pk: int) -> Letter:
    return get_object_or_404(letters_visible_to(user).select_related("project", "declaration"), pk=pk)


def finding_for(user, pk: int) -> Finding:
    return get_object_or_404(findings_visible_to(user).select_related("project", "declaration"), pk=pk)


# --- What the applicant and the verification body may do ---------------------------------------------


@rule(may_act_for.refusal)
def may_act_on(user, case) -> bool:
    """The applicant's administrator or declarants: they draft, submit, answer and withdraw the case."""
    return may_act_for(user, case.organisation)


def verifies(user, declaration: Declaration) -> bool:
    """A member of the verification body named on the declaration."""
    return declaration.verification_body_id is not None and is_member_of(user, declaration.verification_body)


def may_upload(user, case, doc_type: str) -> bool:
    """The applicant uploads while the case is editable; the assigned verification body uploads its
    report and opinion until the case is decided."""
    if doc_type in VERIFICATION_DOCUMENTS:
        if not case.is_declaration or case.verification_body_id is None:
            return False
        from projects.services import verification_body_problem  # services asks this module

        body = case.verification_body
        # The body named on the case, still verified and independent, and a member who may act.
        return (
            may_act_for(user, body)
            and verification_body_problem(body, case.organisation) is None
            and case.stage not in {Stage.APPROVED, *DEAD_STAGES}
        )
    return may_act_on(user, case) and case.is_editable


def upload_types(user, case) -> list[str]:
    """The document types the user may add to the case now (for the upload form)."""
    return [t for t in DocumentType.values if may_upload(user, case, t)]


# --- What the bureau may do --------------------------------------------------------------------------


@rule(_("Your bureau role does not include this step."))
def may_act_at(user, stage: str) -> bool:
    """The bureau role that acts in the stage: intake officers at intake, and so on."""
    permission = STAGE_PERMISSION.get(stage)
    return permission is not None and user.has_perm(permission)


def is_conflicted(user, case) -> bool:
    """The user declared a conflict of interest on the case: never assigned to it, never asked."""
    return Conflict.objects.filter(**CaseRecord.of(case), user=user).exists()


def reviewed_technically(user, case) -> bool:
    """Four eyes: whoever forwarded the case from technical review never decides it at approval."""
    return case.technical_reviewer_id is not None and case.technical_reviewer_id == user.pk


def colleagues(case, permission: str):
    """The active users holding a bureau permission who may be given the case now: none who declared a
    conflict on it, and at approval not its technical reviewer (four eyes)."""
    app_label, codename = permission.split(".")
    users = get_user_model().objects.filter(
        Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label)
        | Q(is_superuser=True),
        is_active=True,
    )
    users = users.exclude(pk__in=Conflict.objects.filter(**CaseRecord.of(case)).values("user"))
    if case.stage == Stage.APPROVAL and case.technical_reviewer_id:
        users = users.exclude(pk=case.technical_reviewer_id)
    return users.distinct().order_by("full_name")
