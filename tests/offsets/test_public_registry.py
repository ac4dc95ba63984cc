"""The public registry at scale (issue 15): short Chinese words found through an index, the same answers on
SQLite, key-paging through filters and sorts, the capped count and the plain filter bar."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from offsets import issuing, public
from offsets.views import REGISTRY_SORTS
from projects.models import Project
from tests.factories import approved_declaration, closed_phase, file_project, make_project, reviewers
from tests.offsets import short_word_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def searchable():
    short_word_search.make_projects()


@pytest.mark.parametrize("word", list(short_word_search.EXPECTED))
def test_one_and_two_character_words_find_the_right_projects(searchable, client, word):
    assert short_word_search.found(word) == short_word_search.EXPECTED[word]
    rows = client.get(reverse("offsets:registry"), {"q": word}).context["rows"]
    assert sorted(project.title for project, _issued in rows) == short_word_search.EXPECTED[word]


def test_the_short_word_lookup_finds_what_the_like_finds(searchable):
    """On PostgreSQL a short word is looked up in the generated grams columns; the LIKE, as on SQLite,
    finds the same rows, for every one- and two-character piece of every title, code and owner's name."""
    titles = Project.objects.filter(code__isnull=False).values_list("title", "code", "organisation__name")
    words = {
        text[i : i + n].lower() if n % 2 else text[i : i + n]
        for row in titles
        for text in row
        for n in (1, 2)
        for i in range(len(text) - n + 1)
    } | {"无", "无此", "%", "_", "\\"}
    assert len(words) > 50
    for word in words:
        for model, columns, grams in [
            (Project, ["title", "code"], "search_grams"),
            (public.Organisation, ["name"], "name_grams"),
        ]:
            indexed = model.objects.filter(public._contains(columns, grams, word, "postgresql"))
            plain = model.objects.filter(public._contains(columns, grams, word, "sqlite"))
            assert set(indexed) == set(plain), (model, word)


@pytest.mark.postgres
def test_postgresql_serves_short_words_from_the_bigram_indexes(searchable):
    """With full scans priced out, a short word is looked up in the grams columns' indexes."""

    def plan(queryset) -> str:
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # or it walks an order's index, reading every row
        projects = plan(public.search(Project.objects.all(), "光伏"))
        owners = plan(
            public.Organisation.objects.filter(public._contains(["name"], "name_grams", "绿能", "postgresql"))
        )
    assert "project_search_grams_idx" in projects, projects
    assert "organisation_name_grams_idx" in owners, owners


@pytest.mark.e2e
def test_sqlite_finds_what_postgresql_finds(tmp_path):
    """The embedded default has no bigram index: the same words find the same projects there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
            "PRIVATE_FILES_ROOT": str(tmp_path / "files"),
            "LOG_LEVEL": "WARNING",
        }
    )
    out = tmp_path / "found.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.offsets.short_word_search", str(out)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(out.read_text(encoding="utf-8")) == short_word_search.EXPECTED


# --- Key-paging through filters and sorts ---------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(django_db_setup, django_db_blocker):
    """53 filed projects in two districts, 3 of them with credits of vintage 2022; made once, then removed."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        people = reviewers()
        declarations = [approved_declaration(people) for _ in range(3)]
        phase = closed_phase(declarations, people)
        issuing.register_phase(phase, by=people["approver"])
        for n in range(50):
            title = "江岸光伏屋顶" if n % 2 else "汉阳储能站"
            file_project(make_project(district="jiangan" if n % 3 else "hanyang", title=title), people)
        yield {d.project.code for d in declarations}
        transaction.set_rollback(True)


def walk(client, query: dict, *, backwards: bool = False) -> list[str]:
    """Every page of the registry for `query`, through its Next (or, backwards, Previous) links."""
    url, seen = reverse("offsets:registry"), []
    params = {**query, "page": "last"} if backwards else dict(query)
    for _ in range(20):
        page = client.get(url, params).context["page"]
        codes = [project.code for project in page.rows]
        assert len(codes) <= 25
        seen = codes + seen if backwards else seen + codes
        key = page.prev_key if backwards else page.next_key
        if key is None:
            return seen
        params = {**query, "before" if backwards else "after": key}
    raise AssertionError(f"the walk of {query} never reached its end")


FILTERS = [
    {},
    {"district": "jiangan"},
    {"district": "hanyang", "q": "储能"},
    {"q": "光伏"},
    {"q": "光"},
    {"status": "filed"},
    {"status": "filed", "district": "jiangan", "q": "屋顶"},
    {"status": "credited"},
    {"vintage": "2022"},
]


@pytest.mark.parametrize("sort", list(REGISTRY_SORTS))
@pytest.mark.parametrize("query", FILTERS, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "all")
def test_paging_through_filters_and_sorts_shows_each_project_once_in_order(client, registry, sort, query):
    filtered = public.search(public.filed_projects(), query.get("q", ""))
    if "district" in query:
        filtered = filtered.filter(district=query["district"])
    if query.get("status") == "credited" or "vintage" in query:
        filtered = filtered.filter(code__in=registry)
    elif query.get("status") == "filed":
        filtered = filtered.exclude(code__in=registry)
    field = sort.lstrip("-")
    expected = [
        p.code for p in filtered.order_by(sort, "-pk" if sort.startswith("-") else "pk") if getattr(p, field)
    ]
    assert expected, "each case must list something"
    forwards = walk(client, {**query, "sort": sort})
    assert forwards == expected
    assert walk(client, {**query, "sort": sort}, backwards=True) == expected


def test_the_count_stops_at_its_cap(client, registry, monkeypatch):
    monkeypatch.setattr(public, "COUNT_CAP", 10)
    response = client.get(reverse("offsets:registry"), headers={"accept-language": "en"})
    assert response.context["total"] == 11
    assert "More than 10 projects" in response.text
    response = client.get(
        reverse("offsets:registry"), {"status": "credited"}, headers={"accept-language": "en"}
    )
    assert response.context["total"] == 3
    assert "3 projects" in response.text


def test_the_filter_bar_keeps_the_chosen_filters_and_labels_each_district_once(client, registry):
    response = client.get(
        reverse("offsets:registry"),
        {"district": "hanyang", "status": "credited", "vintage": "2022", "sort": "-filed_at"},
        headers={"accept-language": "en"},
    )
    html = response.text
    assert '<option value="hanyang" selected>Hanyang District</option>' in html
    assert '<option value="credited" selected>' in html
    assert 'name="vintage" value="2022"' in html
    assert '<option value="-filed_at" selected>' in html
    assert "crispy" not in " ".join(t.name for t in response.templates)
    # The next page's link keeps every filter (the pager adds only its key).
    page = client.get(reverse("offsets:registry"), {"district": "jiangan"}).context
    assert "district=jiangan" in page["query"]
    labels = [project.district_label for project, _issued in page["rows"]]
    assert labels and set(labels) == {str(dict(public.District.choices)["jiangan"])}
