from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from projects import access, services, workflow
from projects.forms import (
    AnswerForm,
    ClaimedQuantityForm,
    ConnectionPointFormSet,
    DeclarationForm,
    DocumentForm,
    MonthlyDataForm,
    ProjectForm,
    SingleFigureForm,
    SpreadsheetForm,
)
from projects.models import CaseRecord, Declaration, Finding, Project, Stage
from projects.spreadsheets import CellError, SheetRefused, monthly_template, read_monthly_sheet
from projects.transitions import CASES
from registry import audit, calculators
from registry.access import may_act_for, own_membership, require
from registry.kept_uploads import CHOOSE_AGAIN
from registry.models import VERIFICATION_DOCUMENTS
from registry.services import TransitionRefused
from registry.transitions import offered
from registry.uploads import KIND_OF_CONTENT_TYPE, PDF, XLSX, attachment, check_upload


def _errors(error: ValidationError) -> list[str]:
    return list(error.messages)


# --- Lists --------------------------------------------------------------------------------------------


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    """The organisation's projects and declarations, with their status, what is missing and what is next."""
    membership = own_membership(request)
    projects = list(
        Project.objects.filter(organisation=membership.organisation)
        .select_related("methodology", "organisation")
        .prefetch_related("connection_points", "documents")
    )
    declarations = list(
        Declaration.objects.filter(project__organisation=membership.organisation)
        .select_related("project__methodology", "project__organisation", "verification_body")
        .prefetch_related("documents", "entries")
    )
    rows = [(case, services.submission_problems(case) if case.is_editable else []) for case in projects]
    declaration_rows = [
        (case, services.submission_problems(case) if case.is_editable else []) for case in declarations
    ]
    return render(
        request,
        "projects/case_list.html",
        {
            "membership": membership,
            "can_act": may_act_for(request.user, membership.organisation),
            "project_rows": rows,
            "declaration_rows": declaration_rows,
        },
    )


@login_required
def verification_list(request: HttpRequest) -> HttpResponse:
    """A verification body's users: the declarations assigned to their organisation, and nothing else."""
    membership = own_membership(request)
    declarations = Declaration.objects.filter(verification_body=membership.organisation).select_related(
        "project__organisation", "project__methodology"
    )
    return render(request, "projects/verification_list.html", {"declarations": declarations})


# --- Projects -------------------------------------------------------------------------------------------


def _points(formset) -> list[services.Point]:
    return [
        services.Point(form.cleaned_data["meter_number"], form.cleaned_data["capacity_kw"])
        for form in formset
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


def _project_form_page(request, *, project: Project | None):
    membership = own_membership(request)
    initial_points = (
        [
            {"meter_number": p.meter_number, "capacity_kw": p.capacity_kw}
            for p in project.connection_points.all()
        ]
        if project
        else None
    )
    form = ProjectForm(request.POST or None, instance=project)
    formset = ConnectionPointFormSet(request.POST or None, initial=initial_points, prefix="points")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            if project is None:
                project = services.create_project(
                    membership.organisation, by=request.user, data=data, points=_points(formset)
                )
            else:
                project.refresh_from_db()
                services.update_project(project, by=request.user, data=data, points=_points(formset))
        except ValidationError as error:
            form.add_error(None, error)
        except TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Saved as a draft."))
            return redirect(project)
    return render(
        request, "projects/project_form.html", {"form": form, "formset": formset, "project": project}
    )


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    require(may_act_for, request.user, own_membership(request).organisation)
    return _project_form_page(request, project=None)


@login_required
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    project = access.project_for(request.user, pk)
    require(access.may_act_on, request.user, project)
    if not project.is_editable:
        messages.error(request, _("This project cannot be changed at its present stage."))
        return redirect(project)
    return _project_form_page(request, project=project)


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = access.project_for(request.user, pk)
    types = access.upload_types(request.user, project)
    return render(
        request,
        "projects/project_detail.html",
        {
            "project": project,
            "points": project.connection_points.all(),
            "checklist": services.document_checklist(project, request.user),
            "problems": services.submission_problems(project) if project.is_editable else [],
            "document_form": DocumentForm(types=types) if types else None,
            "declarations": project.declarations.all(),
            "can_act": access.may_act_on(request.user, project),
            "events": audit.events_of(project)[:30],
            **review_context(project, request.user),
        },
    )


def _upload(request: HttpRequest, case) -> HttpResponse:
    form = DocumentForm(request.POST, request.FILES)
    if not form.is_valid():
        # Django's own field messages say what is wrong (no file, an empty file, an unknown type). The page
        # the redirect leads to has an empty file input: the message says so.
        messages.error(
            request, " ".join([*(m for errors in form.errors.values() for m in errors), str(CHOOSE_AGAIN)])
        )
        return redirect(case)
    try:
        document = services.upload_document(
            case, by=request.user, doc_type=form.cleaned_data["doc_type"], upload=form.cleaned_data["file"]
        )
    except ValidationError as error:
        messages.error(request, " ".join([*_errors(error), str(CHOOSE_AGAIN)]))
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(document)s uploaded.") % {"document": document})
    return redirect(case)


@require_POST
@login_required
def project_upload(request: HttpRequest, pk: int) -> HttpResponse:
    return _upload(request, access.project_for(request.user, pk))


def _transition(request: HttpRequest, case, function, success: str) -> HttpResponse:
    try:
        function(case, by=request.user)
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return redirect(case)


@require_POST
@login_required
def project_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request,
        access.project_for(request.user, pk),
        workflow.submit,
        _("Submitted to the Bureau for intake."),
    )


@require_POST
@login_required
def project_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, access.project_for(request.user, pk), workflow.withdraw, _("Withdrawn."))


# --- Declarations ----------------------------------------------------------------------------------------


@login_required
def declaration_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = access.project_for(request.user, pk)
    require(access.may_act_on, request.user, project)
    form = DeclarationForm(request.POST or None, organisation=project.organisation)
    if request.method == "POST" and form.is_valid():
        try:
            declaration = services.create_declaration(
                project,
                by=request.user,
                period_start=form.cleaned_data["period_start"],
                period_end=form.cleaned_data["period_end"],
                verification_body=form.cleaned_data["verification_body"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        except TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Declaration drafted. Enter the monitoring data."))
            return redirect(declaration)
    return render(request, "projects/declaration_form.html", {"form": form, "project": project})


@login_required
def declaration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access.declaration_for(request.user, pk)
    require(access.may_act_on, request.user, declaration)
    form = DeclarationForm(
        request.POST or None, instance=declaration, organisation=declaration.project.organisation
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_declaration(
                Declaration.objects.get(pk=declaration.pk),
                by=request.user,
                period_start=form.cleaned_data["period_start"],
                period_end=form.cleaned_data["period_end"],
                verification_body=form.cleaned_data["verification_body"],
            )
        except (ValidationError, TransitionRefused) as error:
            form.add_error(None, error if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(request, _("Saved."))
            return redirect(declaration)
    return render(
        request,
        "projects/declaration_form.html",
        {"form": form, "project": declaration.project, "declaration": declaration},
    )


def _data_form(declaration: Declaration, data=None):
    calculator = services.calculator_of(declaration)
    if calculator is None:
        initial = {"claimed_t": declaration.claimed_t or None}
        return ClaimedQuantityForm(data, initial=initial)
    entries = {e.month: e.value_mwh for e in declaration.entries.all()}
    if calculator.entry_kind == calculators.MONTHLY:
        months = services.expected_months(declaration)
        initial = {MonthlyDataForm.key(m): entries[m] for m in months if m in entries}
        return MonthlyDataForm(data, months=months, initial=initial)
    return SingleFigureForm(data, initial={"value_mwh": entries.get(None)})


def _declaration_page(request, declaration: Declaration, *, data_form=None, sheet_errors=None, status=200):
    types = access.upload_types(request.user, declaration)
    return render(
        request,
        "projects/declaration_detail.html",
        {
            "declaration": declaration,
            "project": declaration.project,
            "calculation": services.calculation_of(declaration),
            "data_form": data_form or _data_form(declaration),
            "sheet_form": SpreadsheetForm(),
            "sheet_errors": sheet_errors,
            "monthly": (c := services.calculator_of(declaration)) is not None
            and c.entry_kind == calculators.MONTHLY,
            "no_factor": c is not None and declaration.factor_value is None and declaration.entries.exists(),
            "checklist": services.document_checklist(declaration, request.user),
            "problems": services.submission_problems(declaration) if declaration.is_editable else [],
            "document_form": DocumentForm(types=types) if types else None,
            "can_act": access.may_act_on(request.user, declaration),
            "is_verifier": access.verifies(request.user, declaration),
            "verification_types": VERIFICATION_DOCUMENTS,
            "events": audit.events_of(declaration)[:30],
            **review_context(declaration, request.user),
            # Objections during the notice, each with the steps open to this user (the declarant answers).
            "objections": [(o, offered(o, request.user)) for o in declaration.objections.all()],
        },
        status=status,
    )


@login_required
def declaration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _declaration_page(request, access.declaration_for(request.user, pk))


@require_POST
@login_required
def declaration_data(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access.declaration_for(request.user, pk)
    form = _data_form(declaration, request.POST)
    if not form.is_valid():
        # Re-shown with what was typed: nothing is lost, nothing is saved.
        return _declaration_page(request, declaration, data_form=form, status=400)
    try:
        if isinstance(form, ClaimedQuantityForm):
            services.set_claimed_quantity(
                declaration, by=request.user, claimed_t=form.cleaned_data["claimed_t"]
            )
        elif isinstance(form, MonthlyDataForm):
            services.save_monitoring_data(declaration, by=request.user, values=form.values())
        else:
            services.save_monitoring_data(
                declaration, by=request.user, values={None: form.cleaned_data["value_mwh"]}
            )
    except (ValidationError, TransitionRefused) as error:
        messages.error(
            request, " ".join(_errors(error)) if isinstance(error, ValidationError) else str(error)
        )
        return _declaration_page(request, declaration, data_form=form, status=400)
    messages.success(request, _("Monitoring data saved; the calculation is updated."))
    return redirect(declaration)


@require_POST
@login_required
def declaration_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access.declaration_for(request.user, pk)
    form = SpreadsheetForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(
            request, " ".join([*(m for errors in form.errors.values() for m in errors), str(CHOOSE_AGAIN)])
        )
        return redirect(declaration)
    upload = form.cleaned_data["sheet"]
    if upload.size > 2 * 1024 * 1024:
        messages.error(request, f"{_('A monitoring sheet is at most 2 MB.')} {CHOOSE_AGAIN}")
        return redirect(declaration)
    try:
        # Parsed as a workbook (size caps under any member name, no macros, no DTDs) before it is read.
        check_upload(upload, allowed=(XLSX,))
    except ValidationError as error:
        errors = [CellError(0, "", message) for message in error.messages]
        return _declaration_page(request, declaration, sheet_errors=errors, status=400)
    try:
        values = read_monthly_sheet(upload.read(), declaration.period_start, declaration.period_end)
        services.save_monitoring_data(declaration, by=request.user, values=values)
    except SheetRefused as refused:
        return _declaration_page(request, declaration, sheet_errors=refused.errors, status=400)
    except (ValidationError, TransitionRefused) as error:
        messages.error(
            request, " ".join(_errors(error)) if isinstance(error, ValidationError) else str(error)
        )
        return redirect(declaration)
    messages.success(request, _("The sheet was read; the monitoring data and the calculation are updated."))
    return redirect(declaration)


@login_required
def declaration_template(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access.declaration_for(request.user, pk)
    return attachment(
        monthly_template(declaration.period_start, declaration.period_end),
        kind=XLSX,
        stem=f"monitoring-declaration-{declaration.pk}",
    )


@require_POST
@login_required
def declaration_upload(request: HttpRequest, pk: int) -> HttpResponse:
    return _upload(request, access.declaration_for(request.user, pk))


@require_POST
@login_required
def declaration_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request,
        access.declaration_for(request.user, pk),
        workflow.submit,
        _("Submitted to the Bureau for intake."),
    )


@require_POST
@login_required
def declaration_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, access.declaration_for(request.user, pk), workflow.withdraw, _("Withdrawn."))


# --- Documents ----------------------------------------------------------------------------------------------


@login_required
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    """Only through here, as an attachment, to those who may see its case; everyone else gets 404."""
    document = access.document_for(request.user, pk)
    case = document.case
    # Named by us from what the document is, never by the uploader: "monitoring-report-WH-PV-0001-v2.pdf".
    reference = case.code if case.is_project and case.code else f"{case.kind}-{case.pk}"
    return attachment(
        document.file,
        kind=KIND_OF_CONTENT_TYPE.get(document.content_type),
        stem=f"{document.doc_type.replace('_', '-')}-{reference}-v{document.version}",
    )


@login_required
def letter_download(request: HttpRequest, pk: int) -> FileResponse:
    """A formal letter of the bureau, to the applicant's members and the bureau; anyone else gets 404."""
    letter = access.letter_for(request.user, pk)
    return attachment(letter.file, kind=PDF, stem=letter.number)


@require_POST
@login_required
def answer_finding(request: HttpRequest, pk: int) -> HttpResponse:
    finding = access.finding_for(request.user, pk)
    case = finding.case
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write an answer to the finding."))
    else:
        try:
            workflow.answer_finding(finding, by=request.user, answer=form.cleaned_data["answer"])
        except TransitionRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Answer saved."))
    return redirect(case)


@require_POST
@login_required
def project_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request, access.project_for(request.user, pk), workflow.resubmit, _("Resubmitted to the Bureau.")
    )


@require_POST
@login_required
def declaration_resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request, access.declaration_for(request.user, pk), workflow.resubmit, _("Resubmitted to the Bureau.")
    )


def review_context(case, user) -> dict:
    """What the applicant sees of the review: findings by round with answer forms, letters, the deadline."""
    record = CaseRecord.of(case)
    findings = list(Finding.objects.filter(**record))
    rounds: dict[int, list] = {}
    for finding in findings:
        rounds.setdefault(finding.round, []).append(finding)
    return {
        "rounds": sorted(rounds.items(), reverse=True),
        "open_findings": workflow.open_findings(case) if case.stage == Stage.RETURNED else [],
        "answer_form": AnswerForm(),
        "letters": access.letters_visible_to(user).filter(**record),
        # The applicant's steps the review's table offers this user now: submit, withdraw, answer, resubmit.
        "steps": CASES.offered(case, user),
    }
