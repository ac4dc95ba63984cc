"""The public notice page and the notices list at scale (issue 15): a notice's list and the phase's
registered credits are key-paged, each with its totals from one aggregate query (offsets.views.notice_detail);
each version's list is kept as rows as published (offsets.models.NoticeRow); the notices list is key-paged."""

import importlib
from datetime import date, datetime

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from offsets import issuing, views
from registry.models import Organisation
from tests.factories import approved_declaration, phase_in_notice, registered_phase, reviewers

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-hans"}


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def pages_of_two(monkeypatch):
    monkeypatch.setattr(views, "NOTICE_PAGE", 2)


def notice(phase) -> str:
    return reverse("offsets:notice", args=[phase.code])


def row_fields(row) -> tuple:
    return (
        row.declaration_id,
        row.project_code,
        row.project_title,
        row.owner,
        row.owner_en,
        row.methodology,
        [row.period_start.isoformat(), row.period_end.isoformat()],
        row.vintage,
        row.tonnes,
    )


def snapshot_fields(row: dict) -> tuple:
    keys = ("declaration", "project_code", "project_title", "owner", "owner_en", "methodology", "period")
    return (*(row[key] for key in keys), row["vintage"], row["tonnes"])


def test_the_notice_list_is_key_paged_with_the_whole_versions_totals(client, people, pages_of_two):
    phase = phase_in_notice([approved_declaration(people) for _ in range(5)], people)
    snapshot = phase.notice_versions.get().snapshot
    codes = [row["project_code"] for row in snapshot["rows"]]
    seen, query = [], {}
    for _ in range(5):
        response = client.get(notice(phase), query, headers=EN)
        page = response.context["rows"]
        seen += [row.project_code for row in page.rows]
        # Every page says what the whole list holds, not what it shows.
        assert f"5 declarations of 5 projects, {snapshot['tonnes']:,} t CO₂e in total" in response.text
        assert f"<strong>{snapshot['tonnes']:,}</strong>" in response.text
        if page.next_key is None:
            break
        query = {"after": page.next_key}
    assert seen == codes
    last = client.get(notice(phase), {"page": "last"}).context["rows"]
    assert [row.project_code for row in last.rows] == codes[-2:]
    html = client.get(notice(phase), headers=EN).text
    for row in snapshot["rows"][:2]:  # the notice is open: each row has its objection link
        assert (
            f'href="{reverse("offsets:object", args=[phase.code])}?declaration={row["declaration"]}"' in html
        )
    assert 'href="?after=' in html and "#notice-list" in html


def test_the_page_shows_the_list_as_it_was_published(client, people):
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    owner = declaration.project.organisation
    published = owner.public_name
    Organisation.objects.filter(pk=owner.pk).update(name="更名后的公司", name_en="Renamed Co.")
    assert published in client.get(notice(phase), headers=ZH).text
    text = client.get(notice(phase), headers=EN).text
    assert "Renamed Co." not in text and "更名后的公司" not in text


def test_each_version_keeps_its_own_rows_as_its_snapshot_has_them(client, people):
    keep, contested = approved_declaration(people), approved_declaration(people)
    phase = phase_in_notice([keep, contested], people, today=date(2023, 12, 7))
    objection = issuing.file_objection(
        phase,
        declaration=contested,
        name="x",
        organisation="",
        email="x@e.com",
        phone="",
        reasons="Panels counted twice",
        now=timezone.make_aware(datetime(2023, 12, 8, 10)),
    )
    issuing.rule_objection(objection, by=people["technical_reviewer"], upheld=True, reasons="Confirmed")
    first, second = phase.notice_versions.order_by("version")
    for version in (first, second):
        rows = list(version.rows.order_by("position"))
        assert [row.position for row in rows] == list(range(1, len(version.snapshot["rows"]) + 1))
        assert [row_fields(row) for row in rows] == [snapshot_fields(r) for r in version.snapshot["rows"]]
    assert [row.declaration_id for row in first.rows.all()] == [keep.pk, contested.pk]
    response = client.get(notice(phase), headers=EN)
    assert [row.declaration_id for row in response.context["rows"].rows] == [keep.pk]  # the current one
    assert "1 declaration of 1 project(s)" in response.text


def test_the_migration_gives_the_versions_published_before_it_their_rows(people):
    migration = importlib.import_module("offsets.migrations.0004_notice_rows")
    phase = phase_in_notice([approved_declaration(people) for _ in range(3)], people)
    version = phase.notice_versions.get()
    made = [(row.position, *row_fields(row)) for row in version.rows.order_by("position")]
    version.rows.all().delete()
    migration.rows_of_published_versions(apps, None)
    assert [(row.position, *row_fields(row)) for row in version.rows.order_by("position")] == made
    assert len(made) == 3


def test_registered_credits_are_key_paged_with_their_totals(client, people, pages_of_two):
    phase = registered_phase(people, count=3)
    issuances = list(phase.issuances.order_by("first_unit"))
    serials = [issuance.serial for issuance in issuances]
    total = sum(issuance.quantity for issuance in issuances)
    first = client.get(notice(phase), headers=EN)
    assert [issuance.serial for issuance in first.context["credits"].rows] == serials[:2]
    assert f"3 issuances, {total:,} t in total" in first.text
    assert "credits_page=last#credits" in first.text
    # Each list's pager keeps the other list where it is.
    notice_key, credits_key = first.context["rows"].next_key, first.context["credits"].next_key
    second = client.get(notice(phase), {"after": notice_key, "credits_after": credits_key})
    assert [issuance.serial for issuance in second.context["credits"].rows] == serials[2:]
    assert len(second.context["rows"].rows) == 1
    assert second.context["credits_query"] == f"after={notice_key}"
    assert second.context["rows_query"] == f"credits_after={credits_key}"
    last = client.get(notice(phase), {"credits_page": "last"}).context["credits"]
    assert [issuance.serial for issuance in last.rows] == serials[1:]
    for bad in ({"after": "x"}, {"credits_after": "x"}, {"credits_before": "2~"}):
        assert client.get(notice(phase), bad).status_code == 400, bad


def test_a_long_notice_costs_the_queries_of_a_short_one(client, people, pages_of_two):
    def queries(phase) -> int:
        client.get(notice(phase))
        with CaptureQueriesContext(connection) as captured:
            response = client.get(notice(phase), headers=ZH)
        assert response.status_code == 200
        return len(captured)

    short = registered_phase(people, count=1, code="2023P01")
    long = registered_phase(people, count=3, code="2023P02")
    assert queries(short) == queries(long)


def test_the_notices_list_is_key_paged_newest_first(client, people, pages_of_two):
    for code, day in (
        ("2023P01", date(2023, 12, 7)),
        ("2024P01", date(2024, 3, 5)),
        ("2025P01", date(2025, 6, 2)),
    ):
        phase_in_notice([approved_declaration(people)], people, code=code, today=day)
    url = reverse("offsets:notices")
    first = client.get(url).context
    assert [phase.code for phase in first["phases"]] == ["2025P01", "2024P01"]
    assert first["years"] == [2025, 2024, 2023]
    second = client.get(url, {"after": first["page"].next_key}).context
    assert [phase.code for phase in second["phases"]] == ["2023P01"] and second["page"].is_last
    assert [phase.code for phase in client.get(url, {"year": "2024"}).context["phases"]] == ["2024P01"]
    assert client.get(url, {"before": "x"}).status_code == 400
