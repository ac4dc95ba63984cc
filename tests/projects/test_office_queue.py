"""The bureau's review queues (projects.office_views.queue): what a row shows, the filter bar in plain HTML,
the count in the title, and a page's queries whatever the number of rows."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from projects import office_views, workflow
from projects.models import Declaration, Project, Stage
from registry.models import District
from tests.factories import (
    admin_of,
    complete_declaration,
    file_project,
    make_bureau,
    make_declaration,
    make_project,
    reviewers,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-hans"}


@pytest.fixture
def people():
    return reviewers()


def submitted():
    declaration = complete_declaration(make_declaration())
    return workflow.submit(declaration, by=admin_of(declaration.project.organisation))


def in_technical(people, **changes):
    """A declaration in technical review, with `changes` written over it (a due date, an assignee)."""
    case = workflow.accept(submitted(), by=people["intake_officer"])
    if changes:
        Declaration.objects.filter(pk=case.pk).update(**changes)
        case.refresh_from_db()
    return case


def queue(kind: str, name: str) -> str:
    return reverse("projects:office_queue", args=[kind, name])


def table_body(response) -> str:
    return response.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def test_each_queue_counts_the_cases_it_lists(client, people):
    """Unfiltered, the title's count is the sidebar's (cached): it must count what each queue lists."""
    reviewer = people["technical_reviewer"]
    in_technical(people)
    in_technical(people, due_date=date(2020, 1, 6), assignee=reviewer)
    submitted()  # at intake
    project = make_project()
    workflow.submit(project, by=admin_of(project.organisation))  # a project at intake
    client.force_login(reviewer)
    seen = {}
    for kind, model in office_views.KINDS.items():
        for name, (_title, condition, _order) in office_views.QUEUES.items():
            response = client.get(queue(kind, name), headers=EN)
            assert response.status_code == 200
            listed = len(response.context["page"].rows)
            assert response.context["total"] == listed == model.objects.filter(condition(reviewer)).count()
            seen[kind, name] = listed
    # Not a count of nothing: the queues above hold cases.
    assert seen["declarations", "technical"] == 2
    assert seen["declarations", "mine"] == seen["declarations", "overdue"] == 1
    assert seen["declarations", "intake"] == seen["projects", "intake"] == 1
    assert seen["projects", "decided"] == 3  # the declarations' filed projects


def test_the_counts_are_the_bureaus_but_assigned_to_me_is_each_reviewers_own(client, people):
    """The queues' counts are made once for every reviewer (an aggregate over the whole table); only
    "assigned to me" is counted for each."""
    reviewer, colleague = people["technical_reviewer"], make_bureau("technical_reviewer")
    in_technical(people, assignee=reviewer)
    in_technical(people)
    client.force_login(reviewer)
    assert client.get(queue("declarations", "mine")).context["total"] == 1
    client.force_login(colleague)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(queue("declarations", "mine"))
    assert response.context["total"] == 0
    assert response.context["queue_counts"]["declarations"]["technical"] == 2
    assert [q for q in captured if "FILTER (WHERE" in q["sql"] and '"assignee_id" =' in q["sql"]]  # mine
    assert not [q for q in captured if "'returned'" in q["sql"]]  # the bureau's counts came from the cache


def test_a_filtered_queue_counts_up_to_the_cap(client, people, monkeypatch):
    for _ in range(3):
        in_technical(people)
    client.force_login(people["technical_reviewer"])
    url = queue("declarations", "technical")
    assert client.get(url, {"district": "xinzhou"}, headers=EN).context["total"] == 3
    monkeypatch.setattr(office_views, "COUNT_CAP", 2)
    response = client.get(url, {"district": "xinzhou"}, headers=EN)
    assert response.context["total"] == 3  # the cap + 1: "more than 2"
    assert "more than 2 cases" in response.text
    assert len(response.context["page"].rows) == 3
    assert client.get(url, {"district": "wuchang"}, headers=EN).context["total"] == 0


def test_a_row_shows_its_labels_dates_and_link_in_the_readers_language(client, people):
    case = in_technical(people, due_date=date(2020, 1, 6))
    on_time = in_technical(people, due_date=date(2099, 1, 5))
    client.force_login(people["technical_reviewer"])
    body = table_body(client.get(queue("declarations", "technical"), headers=ZH))
    with translation.override("zh-hans"):
        stage, district = str(Stage.TECHNICAL.label), str(District("xinzhou").label)
        overdue = gettext("overdue")
    with translation.override("en"):
        assert {stage, district, overdue}.isdisjoint(
            {str(Stage.TECHNICAL.label), str(District("xinzhou").label), "overdue"}
        )
    assert stage in body and district in body
    assert f'<a href="{reverse("projects:office_case", args=["declarations", case.pk])}">' in body
    assert f"{case.project.code} · 2022-01-01–2022-12-31" in body
    assert timezone.localtime(case.submitted_at).date().isoformat() in body
    assert "2020-01-06" in body and "2099-01-05" in body
    # One row overdue, the other not: the badge once.
    assert body.count(overdue) == 1
    assert on_time.project.code in body


def test_a_filed_project_reads_filed_in_the_decided_queue(client, people):
    project = file_project(make_project(), people)
    client.force_login(people["technical_reviewer"])
    body = table_body(client.get(queue("projects", "decided"), headers=ZH))
    with translation.override("zh-hans"):
        filed = gettext("Filed")
    assert filed != "Filed"
    assert f'<span class="badge stage-approved">{filed}</span>' in body
    assert project.code in body and project.title in body


def test_the_filter_bar_keeps_the_choices_and_shows_what_is_wrong(client, people):
    in_technical(people)
    client.force_login(people["technical_reviewer"])
    response = client.get(
        queue("declarations", "technical"),
        {"district": "xinzhou", "overdue": "true", "submitted_from": "2024-13-01", "q": "光伏"},
        headers=EN,
    )
    html = response.text
    assert '<option value="xinzhou" selected>' in html
    assert '<option value="true" selected>Yes</option>' in html
    assert '<input type="text" class="form-control" id="id_q" name="q" value="光伏">' in html
    assert (
        '<input type="text" class="form-control is-invalid" id="id_submitted_from" name="submitted_from" '
        'value="2024-13-01" aria-invalid="true" aria-describedby="error_submitted_from">'
    ) in html
    assert '<div class="invalid-feedback" id="error_submitted_from">Enter a valid date.</div>' in html
    assert '<label class="form-label" for="id_organisation">Organisation</label>' in html


def test_the_filters_choose_the_rows(client, people):
    here = in_technical(people)
    elsewhere = in_technical(people)
    Project.objects.filter(pk=elsewhere.project_id).update(district="wuchang")
    client.force_login(people["technical_reviewer"])
    response = client.get(queue("declarations", "technical"), {"district": "wuchang"})
    assert [case.pk for case in response.context["page"].rows] == [elsewhere.pk]
    response = client.get(queue("declarations", "technical"), {"q": here.project.code})
    assert [case.pk for case in response.context["page"].rows] == [here.pk]


@pytest.mark.parametrize(("kind", "name"), [("declarations", "mine"), ("projects", "intake")])
def test_a_rows_fields_come_with_the_page_query(client, people, kind, name):
    """The page reads only the columns a row shows (office_views.QUEUE_COLUMNS): a field the row shows
    but the list leaves out would cost a query per row."""
    reviewer = people["technical_reviewer"]

    def add_case():
        if kind == "declarations":
            in_technical(people, assignee=reviewer, due_date=date(2020, 1, 6))
        else:
            project = make_project()
            workflow.submit(project, by=admin_of(project.organisation))

    def queries() -> tuple[int, int]:
        client.get(queue(kind, name))  # warm: sessions, permission caches, the sidebar counts
        with CaptureQueriesContext(connection) as captured:
            response = client.get(queue(kind, name), headers=ZH)
        return len(captured), len(response.context["page"].rows)

    add_case()
    client.force_login(reviewer)
    one = queries()
    for _ in range(2):
        add_case()
    three = queries()
    assert (one[1], three[1]) == (1, 3)
    assert one[0] == three[0]
