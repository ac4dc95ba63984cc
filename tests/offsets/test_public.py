import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from offsets import issuing
from tests.factories import (
    approved_declaration,
    closed_phase,
    file_project,
    make_organisation,
    make_project,
    reviewers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


def test_search_finds_a_chinese_name_by_a_middle_part(client):
    file_project(make_project(title="格林美城市矿产循环产业园分布式光伏发电项目"))
    file_project(make_project(title="江汉区第一中学屋顶光伏"))
    response = client.get(reverse("offsets:registry"), {"q": "矿产循环"})
    assert [p.title for p, _ in response.context["rows"]] == ["格林美城市矿产循环产业园分布式光伏发电项目"]


def test_search_by_owner_and_code(client):
    organisation = make_organisation(name="武汉绿能光伏科技有限公司")
    project = file_project(make_project(organisation))
    assert client.get(reverse("offsets:registry"), {"q": "绿能"}).context["total"] == 1
    assert client.get(reverse("offsets:registry"), {"q": project.code.lower()}).context["total"] == 1


def test_filters_by_district_and_credits(client, people):
    declaration = approved_declaration(people)
    file_project(make_project(district="jianghan"))
    phase = closed_phase([declaration], people)
    issuing.register_phase(phase, by=people["approver"])
    credited = client.get(reverse("offsets:registry"), {"status": "credited"}).context["rows"]
    assert [p.code for p, _ in credited] == [declaration.project.code]
    assert [
        p.district
        for p, _ in client.get(reverse("offsets:registry"), {"district": "jianghan"}).context["rows"]
    ] == ["jianghan"]
    assert client.get(reverse("offsets:registry"), {"vintage": 2022}).context["total"] == 1


def test_first_and_last_page_cost_the_same_queries(client):
    for _ in range(30):
        file_project(make_project())
    url = reverse("offsets:registry")

    def count(query):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url + query)
        return len(captured), len(response.context["rows"])

    first, last = count(""), count("?page=last")
    assert first[1] == last[1] == 25
    assert first[0] == last[0]


def test_the_project_page_shows_its_issuances_blocks_and_milestones(client, people):
    declaration = approved_declaration(people)
    phase = closed_phase([declaration], people)
    issuing.register_phase(phase, by=people["approver"])
    response = client.get(
        reverse("offsets:project", args=[declaration.project.code]), headers={"accept-language": "en"}
    )
    assert declaration.project.issuances.get().serial in response.text
    assert "Held" in response.text and "Filed as" in response.text


def test_open_data_totals_and_masking(client, people):
    from tests.factories import identity_number

    person = make_organisation(kind="household", name="张伟", identifier=identity_number())
    person_declaration = approved_declaration(people, project=file_project(make_project(person), people))
    other = approved_declaration(people)
    phase = closed_phase([person_declaration, other], people)
    issuing.register_phase(phase, by=people["approver"])
    expected = person_declaration.verified_t + other.verified_t
    phases = json.loads(client.get(reverse("offsets:open_data_file", args=["phases", "json"])).content)
    assert phases["rows"][0]["issued_t"] == expected
    issuances = json.loads(client.get(reverse("offsets:open_data_file", args=["issuances", "json"])).content)
    assert sum(row["quantity_t"] for row in issuances["rows"]) == expected
    outputs = [
        client.get(reverse("offsets:open_data_file", args=[name, fmt])).content.decode("utf-8-sig")
        for name in ("phases", "projects", "issuances")
        for fmt in ("json", "csv")
    ]
    outputs += [
        client.get(reverse("offsets:notice", args=[phase.code])).text,
        client.get(reverse("offsets:registry")).text,
        client.get(reverse("offsets:project", args=[person_declaration.project.code])).text,
        client.get(reverse("offsets:verify"), {"q": person_declaration.issuance.serial}).text,
    ]
    for output in outputs:
        assert "张伟" not in output and person.identifier not in output
    assert any("张*" in output for output in outputs)


def test_the_demo_phase_in_open_data_is_7609(client, tmp_path):
    """The demo path (registry, projects and offsets demo) gives the article's 7,609 t."""
    from django.core.management import call_command
    from django.test import override_settings

    with override_settings(DEBUG=True):
        call_command("seed_demo")
    phases = json.loads(client.get(reverse("offsets:open_data_file", args=["phases", "json"])).content)
    first = next(row for row in phases["rows"] if row["code"] == "2023P01")
    assert (first["issued_t"], first["issuances"], first["status"]) == (7609, 2, "registered")
    call_command("verify_ledger")
    call_command("verify_audit")


def test_notices_filter_by_year_and_kind(client, people):
    from datetime import date

    from tests.factories import phase_in_notice

    registered = closed_phase([approved_declaration(people)], people, code="2023P01")  # published 2023
    issuing.register_phase(registered, by=people["approver"])
    current = phase_in_notice([approved_declaration(people)], people, code="2026P01", today=date.today())
    url = reverse("offsets:notices")

    def codes(**query) -> list[str]:
        return sorted(p.code for p in client.get(url, query).context["phases"])

    assert codes() == ["2023P01", "2026P01"]
    assert codes(kind="announcement") == ["2023P01"]
    assert codes(kind="notice") == ["2026P01"]
    assert codes(year="2023") == ["2023P01"]
    assert codes(year=str(current.published_at.year)) == ["2026P01"]
    assert codes(year="1999") == []


def test_search_treats_like_wildcards_literally_and_never_confirms_a_persons_name(client, people):
    from tests.factories import identity_number

    file_project(make_project(title="100%绿色电力"))
    file_project(make_project(title="普通屋顶项目"))
    assert client.get(reverse("offsets:registry"), {"q": "%"}).context["total"] == 1
    assert client.get(reverse("offsets:registry"), {"q": "_"}).context["total"] == 0
    person = make_organisation(kind="household", name="刘建国", identifier=identity_number())
    file_project(make_project(person, title="居民屋顶光伏"), people)
    assert client.get(reverse("offsets:registry"), {"q": "刘建国"}).context["total"] == 0
    assert client.get(reverse("offsets:registry"), {"q": "居民屋顶"}).context["total"] == 1
