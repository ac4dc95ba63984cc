"""Keyset paging reaches every row exactly once, forwards and backwards, under every sort order."""

import pytest
from django.urls import reverse

from offsets.views import REGISTRY_SORTS
from projects.models import Project
from projects.paging import keyset_page
from tests.factories import file_project, make_project, reviewers

pytestmark = pytest.mark.django_db

PAGE = 25  # the public registry's page size


@pytest.fixture(scope="module")
def filed(django_db_setup, django_db_blocker):
    """Two and a bit pages of filed projects, made once for the module and removed after it."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        people = reviewers()
        codes = {file_project(make_project(), people).code for _ in range(2 * PAGE + 3)}
        yield codes
        transaction.set_rollback(True)


def walk(client, sort: str, *, backwards: bool = False) -> list[str]:
    url, seen = reverse("offsets:registry"), []
    query = {"sort": sort, "page": "last"} if backwards else {"sort": sort}
    for _ in range(10):  # 3 pages; a walk that never ends (the old code's) fails below
        page = client.get(url, query).context["page"]
        codes = [project.code for project in page.rows]
        seen = codes + seen if backwards else seen + codes
        key = page.prev_key if backwards else page.next_key
        if key is None:
            return seen
        query = {"sort": sort, "before" if backwards else "after": key}
    raise AssertionError(f"the {sort} walk never reached its end: {len(seen)} rows seen")


@pytest.mark.parametrize("sort", list(REGISTRY_SORTS))
def test_every_filed_project_is_on_exactly_one_page_of_the_registry(client, filed, sort):
    forwards = walk(client, sort)
    assert len(forwards) == len(filed)
    assert set(forwards) == filed
    assert walk(client, sort, backwards=True) == forwards


@pytest.mark.parametrize("order", ["code", "-code", "filed_at", "-filed_at", "title", "-submitted_at"])
def test_keyset_pages_cover_the_rows_once_in_order(filed, order):
    queryset = Project.objects.filter(code__in=filed)
    expected = list(queryset.order_by(order, "-pk" if order.startswith("-") else "pk"))
    seen, after = [], ""
    for _ in range(20):
        page = keyset_page(queryset, order=order, size=7, after=after)
        seen += page.rows
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == expected
