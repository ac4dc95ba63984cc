import shutil
import subprocess
from datetime import date
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects import letters, workflow
from projects.models import Declaration, ExpertOpinion, Finding, Letter, Stage
from registry import notifications
from registry.audit import events_of
from registry.models import AuditEvent, Delivery
from registry.services import TransitionRefused
from registry.workdays import add_working_days
from tests.factories import admin_of, complete_declaration, make_bureau, make_declaration, reviewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


def submitted(people=None):
    declaration = complete_declaration(make_declaration())
    return workflow.submit(declaration, by=admin_of(declaration.project.organisation))


def at_stage(stage: str, people: dict) -> Declaration:
    """A declaration taken to `stage` through the real workflow."""
    if stage == Stage.DRAFT:
        return complete_declaration(make_declaration())
    case = submitted()
    applicant = admin_of(case.project.organisation)
    if stage == Stage.INTAKE:
        return case
    if stage == Stage.WITHDRAWN:
        return workflow.withdraw(case, by=applicant)
    case = workflow.accept(case, by=people["intake_officer"])
    if stage == Stage.TECHNICAL:
        return case
    if stage == Stage.RETURNED:
        return workflow.return_case(case, by=people["technical_reviewer"], findings=["Fix it"])
    if stage == Stage.EXPERT:
        return workflow.request_opinions(case, by=people["technical_reviewer"], experts=[people["expert"]])
    case = workflow.forward(
        case, by=people["technical_reviewer"], recommendation="approve", verified_t=case.claimed_t
    )
    if stage == Stage.APPROVAL:
        return case
    if stage == Stage.APPROVED:
        return workflow.approve(case, by=people["approver"])
    return workflow.reject(case, by=people["approver"], note="No")


def attempt(name: str, case, people):
    applicant = admin_of(case.project.organisation)
    calls = {
        "submit": lambda: workflow.submit(case, by=applicant),
        "withdraw": lambda: workflow.withdraw(case, by=applicant),
        "resubmit": lambda: workflow.resubmit(case, by=applicant),
        "accept": lambda: workflow.accept(case, by=people["intake_officer"]),
        "return_case": lambda: workflow.return_case(case, by=people["technical_reviewer"], findings=["x"]),
        "request_opinions": lambda: workflow.request_opinions(
            case, by=people["technical_reviewer"], experts=[people["expert"]]
        ),
        "forward": lambda: workflow.forward(
            case, by=people["technical_reviewer"], recommendation="approve", verified_t=0
        ),
        "send_back": lambda: workflow.send_back(case, by=people["approver"], note="again"),
        "approve": lambda: workflow.approve(case, by=people["approver"]),
        "reject": lambda: workflow.reject(case, by=people["approver"], note="no"),
    }
    return calls[name]()


ALLOWED = {
    "submit": {Stage.DRAFT},
    "withdraw": {Stage.DRAFT, Stage.INTAKE},
    "resubmit": set(),  # from returned, but only with the findings answered: tested below
    "accept": {Stage.INTAKE},
    "return_case": {Stage.INTAKE, Stage.TECHNICAL},
    "request_opinions": {Stage.TECHNICAL},
    "forward": {Stage.TECHNICAL},
    "send_back": {Stage.APPROVAL},
    "approve": {Stage.APPROVAL},
    "reject": {Stage.APPROVAL},
}
ALL_STAGES = list(Stage)


@pytest.mark.parametrize("transition", sorted(ALLOWED))
@pytest.mark.parametrize("stage", ALL_STAGES)
def test_each_transition_from_each_stage(transition, stage, people):
    case = at_stage(stage, people)
    events_before = AuditEvent.objects.count()
    # return_case at intake is the intake officer's; the call above uses the technical reviewer.
    if transition == "return_case" and stage == Stage.INTAKE:
        case = workflow.return_case(case, by=people["intake_officer"], findings=["x"])
        assert case.stage == Stage.RETURNED and case.returned_from == Stage.INTAKE
        return
    if stage in ALLOWED[transition]:
        moved = attempt(transition, case, people)
        assert moved.stage != stage
        assert AuditEvent.objects.count() > events_before
    else:
        with pytest.raises((TransitionRefused, PermissionDenied)):
            attempt(transition, case, people)
        case.refresh_from_db()
        assert case.stage == stage
        assert AuditEvent.objects.count() == events_before


def test_the_wrong_role_is_refused(people):
    case = submitted()
    with pytest.raises(PermissionDenied):
        workflow.accept(case, by=people["technical_reviewer"])
    with pytest.raises(PermissionDenied):
        workflow.accept(case, by=admin_of(case.project.organisation))


def test_four_eyes_the_technical_reviewer_never_decides(people):
    both = make_bureau("technical_reviewer", "approver")
    case = workflow.accept(submitted(), by=people["intake_officer"])
    case = workflow.forward(case, by=both, recommendation="approve", verified_t=case.claimed_t)
    for decide in (lambda: workflow.approve(case, by=both), lambda: workflow.reject(case, by=both, note="x")):
        with pytest.raises(TransitionRefused, match="another approver"):
            decide()
    assert workflow.approve(case, by=people["approver"]).stage == Stage.APPROVED


def test_four_eyes_the_approval_is_never_assigned_to_the_technical_reviewer(people):
    both = make_bureau("technical_reviewer", "approver")
    case = workflow.accept(submitted(), by=people["intake_officer"])
    case = workflow.forward(case, by=both, recommendation="approve", verified_t=case.claimed_t)
    with pytest.raises(TransitionRefused, match="did the technical review"):
        workflow.assign(case, by=people["approver"], assignee=both)
    case.refresh_from_db()
    assert case.assignee is None
    assert workflow.assign(case, by=both, assignee=people["approver"]).assignee == people["approver"]


def test_the_verified_quantity_is_never_above_the_claim(people):
    case = workflow.accept(submitted(), by=people["intake_officer"])
    with pytest.raises(TransitionRefused, match="cannot be above"):
        workflow.forward(
            case, by=people["technical_reviewer"], recommendation="approve", verified_t=case.claimed_t + 1
        )


def test_findings_are_numbered_per_round_and_must_be_answered(people):
    case = workflow.accept(submitted(), by=people["intake_officer"])
    reviewer, applicant = people["technical_reviewer"], admin_of(case.project.organisation)
    workflow.return_case(case, by=reviewer, findings=["First", "", "Second"])
    first_round = list(Finding.objects.filter(declaration=case))
    assert [(f.round, f.number, f.text) for f in first_round] == [(1, 1, "First"), (1, 2, "Second")]
    with pytest.raises(TransitionRefused, match=r"1\.1, 1\.2"):
        workflow.resubmit(case, by=applicant)
    for finding in first_round:
        workflow.answer_finding(finding, by=applicant, answer=f"Answer to {finding.text}")
    case = workflow.resubmit(case, by=applicant)
    assert case.stage == Stage.TECHNICAL  # back to the stage that returned it
    workflow.return_case(case, by=reviewer, findings=["Third"])
    assert list(Finding.objects.filter(declaration=case, round=2).values_list("number", "text")) == [
        (1, "Third")
    ]
    assert Finding.objects.get(declaration=case, round=1, number=1).answer == "Answer to First"


def test_expert_opinions_bring_the_case_back_when_all_are_in(people):
    second_expert = make_bureau("expert")
    case = workflow.accept(submitted(), by=people["intake_officer"])
    workflow.request_opinions(
        case, by=people["technical_reviewer"], experts=[people["expert"], second_expert]
    )
    case = workflow.record_opinion(case, by=people["expert"], opinion="Fine")
    assert case.stage == Stage.EXPERT
    with pytest.raises(TransitionRefused):
        workflow.record_opinion(case, by=people["expert"], opinion="Again")
    case = workflow.record_opinion(case, by=second_expert, opinion="Also fine")
    assert case.stage == Stage.TECHNICAL
    assert ExpertOpinion.objects.filter(declaration=case, given_at__isnull=False).count() == 2


class TestConflicts:
    def test_a_conflicted_reviewer_is_unassigned_and_never_assigned_again(self, people):
        case = workflow.accept(submitted(), by=people["intake_officer"])
        reviewer = people["technical_reviewer"]
        workflow.assign(case, by=reviewer, assignee=reviewer)
        workflow.declare_conflict(case, by=reviewer, reason="My brother runs the applicant")
        case.refresh_from_db()
        assert case.assignee is None
        with pytest.raises(TransitionRefused, match="conflict"):
            workflow.assign(case, by=make_bureau("technical_reviewer"), assignee=reviewer)

    def test_a_conflicted_expert_cannot_be_asked(self, people):
        case = workflow.accept(submitted(), by=people["intake_officer"])
        workflow.declare_conflict(case, by=people["expert"], reason="Consulted for the applicant")
        with pytest.raises(TransitionRefused, match="conflict"):
            workflow.request_opinions(case, by=people["technical_reviewer"], experts=[people["expert"]])

    def test_only_someone_who_may_act_in_the_stage_is_assigned(self, people):
        case = workflow.accept(submitted(), by=people["intake_officer"])
        with pytest.raises(TransitionRefused):
            workflow.assign(case, by=people["technical_reviewer"], assignee=people["approver"])


def on(day: date):
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def test_deadlines_run_on_the_working_day_calendar_and_stop_while_returned(people):
    case = submitted()
    # National Day 2024: 1–7 Oct off; Sunday 29 Sep and Saturday 12 Oct were makeup working days.
    with on(date(2024, 9, 27)):
        case = workflow.accept(case, by=people["intake_officer"])
    # Day 1 is Fri 27 Sep, then Sun 29, Mon 30, 8–11 Oct, Sat 12, 14–18, 21 and 22 Oct: 15 working days.
    assert case.due_date == date(2024, 10, 22) == add_working_days(date(2024, 9, 27), 15)
    with on(date(2024, 10, 9)):
        case = workflow.return_case(case, by=people["technical_reviewer"], findings=["Missing page"])
    assert case.due_date is None and case.days_left_when_returned == 11  # 9–12, 14–18, 21, 22 Oct
    applicant = admin_of(case.project.organisation)
    for finding in Finding.objects.filter(declaration=case):
        workflow.answer_finding(finding, by=applicant, answer="Added")
    with on(date(2024, 11, 1)):  # three weeks later: the clock stood still meanwhile
        case = workflow.resubmit(case, by=applicant)
    assert case.due_date == date(2024, 11, 15)  # the 11 working days left, from Fri 1 Nov
    with on(date(2024, 11, 15)):
        assert not case.is_overdue
    with on(date(2024, 11, 18)):
        assert case.is_overdue


def test_every_stage_has_its_own_time_limit(people, settings):
    settings.REVIEW_WORKING_DAYS = {"intake": 2, "technical": 3, "expert": 4, "approval": 1}
    with on(date(2023, 12, 11)):  # a Monday
        case = submitted()
        assert case.due_date == date(2023, 12, 12)
        case = workflow.accept(case, by=people["intake_officer"])
        assert case.due_date == date(2023, 12, 13)


class TestNotificationsAndLetters:
    def test_each_recipient_hears_once_in_its_language(
        self, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        case = submitted()
        applicant = admin_of(case.project.organisation)
        applicant.language = "zh-hans"
        applicant.save()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            workflow.accept(case, by=people["intake_officer"])
        event = events_of(case).get(action="case.accepted")
        recipients = sorted(m.to[0] for m in mailoutbox)
        assert applicant.email in recipients and people["technical_reviewer"].email in recipients
        assert len(recipients) == len(set(recipients))
        chinese = next(m for m in mailoutbox if m.to == [applicant.email])
        assert "受理" in chinese.subject
        count = len(mailoutbox)
        assert notifications.deliver(event.pk) == 0
        assert len(mailoutbox) == count
        assert Delivery.objects.filter(event=event, channel="inbox", user=applicant).count() == 1

    def test_the_acceptance_letter_is_made_once_attached_and_kept(
        self, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        case = submitted()
        with django_capture_on_commit_callbacks(execute=True):
            workflow.accept(case, by=people["intake_officer"])
        event = events_of(case).get(action="case.accepted")
        letter = Letter.objects.get(event=event)
        assert letters.ensure_letter(event) == letter
        assert Letter.objects.count() == 1
        applicant_mail = next(m for m in mailoutbox if m.to == [admin_of(case.project.organisation).email])
        assert applicant_mail.attachments[0][0] == f"{letter.number}.pdf"
        assert letter.number.startswith("WHCER-L-")

    @pytest.mark.skipif(
        shutil.which("pdftotext") is None, reason="needs pdftotext (apt-get install poppler-utils)"
    )
    def test_letters_read_back_in_both_scripts(self, people, tmp_path, django_capture_on_commit_callbacks):
        case = workflow.accept(submitted(), by=people["intake_officer"])
        with django_capture_on_commit_callbacks(execute=True):
            workflow.return_case(
                case, by=people["technical_reviewer"], findings=["缺少2023年9月结算单", "Explain November"]
            )
        letter = Letter.objects.get(kind="return")
        path = tmp_path / "letter.pdf"
        path.write_bytes(letter.file.read())
        text = subprocess.run(
            ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        squeezed = "".join(text.split())
        assert "退回修改通知书" in squeezed and "Noticeofreturnforrevision".lower() in squeezed.lower()
        assert "缺少2023年9月结算单" in squeezed and "ExplainNovember" in squeezed
        assert "".join(case.project.organisation.name.split()) in squeezed

    def test_letters_are_for_the_applicant_and_the_bureau_only(
        self, client, people, django_capture_on_commit_callbacks
    ):
        case = submitted()
        with django_capture_on_commit_callbacks(execute=True):
            workflow.accept(case, by=people["intake_officer"])
        url = reverse("projects:letter", args=[Letter.objects.get().pk])
        client.force_login(admin_of(case.project.organisation))
        assert client.get(url).status_code == 200
        client.force_login(admin_of(case.verification_body))
        assert client.get(url).status_code == 404
        client.force_login(people["approver"])
        assert client.get(url).status_code == 200


def test_queue_queries_do_not_grow_with_the_rows_and_the_last_page_costs_the_first(client, people):
    first = workflow.accept(submitted(), by=people["intake_officer"])
    client.force_login(people["technical_reviewer"])
    url = reverse("projects:office_queue", args=["declarations", "technical"])

    def queries(query: str = "") -> tuple[int, int]:
        client.get(url + query)  # warm: sessions, permission caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url + query)
        return len(captured), len(response.context["page"].rows)

    one = queries()
    template = Declaration.objects.get(pk=first.pk)
    for i in range(59):  # copies of the case in technical review: more than a page of 50
        template.pk = None
        template.period_start = template.period_end = date(2000 + i // 12, i % 12 + 1, 1)
        template.vintage = template.period_start.year
        template.save()
    fifty, last = queries(), queries("?page=last")
    # The last page is the last 50 rows in the order, read from the other end of the index.
    assert (one[1], fifty[1], last[1]) == (1, 50, 50)
    assert one[0] == fifty[0] == last[0]
