"""The open-data page describes every field itself, and says what docs/open-data.md says: the same fields
per dataset, which are the fields the files really have."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from offsets import public, retirements
from offsets.models import BeneficiaryKind
from registry import checkpoints
from registry.models import District
from tests.factories import admin_of, reviewers
from tests.offsets.ledger_world import holder_account

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-CN,zh;q=0.9"}
DOC = Path(settings.BASE_DIR) / "docs" / "open-data.md"


def fields_on_the_page(html: str) -> dict[str, list[str]]:
    """{dataset: the field names in the first column of its table}, from each `fields-<dataset>` section."""
    found = {}
    for name, section in re.findall(r'<section id="fields-(\w+)".*?>(.*?)</section>', html, re.S):
        cells = re.findall(r'<th scope="row">(.*?)</th>', section, re.S)
        found[name] = [field for cell in cells for field in re.findall(r"<code>(\w+)</code>", cell)]
    return found


def fields_in_the_doc() -> dict[str, list[str]]:
    """{dataset: the field names in the first column of its table}, under each "## `<dataset>.json`"."""
    found, current = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## `(\w+)\.json`", line)
        if heading:
            current = found.setdefault(heading.group(1), [])
        elif line.startswith("## "):
            current = None
        elif current is not None and line.startswith("| `"):
            current.extend(re.findall(r"`(\w+)`", line.split("|")[1]))
    return found


@pytest.fixture
def every_dataset_has_a_row():
    people = reviewers()
    account = holder_account(people)  # a registered phase: phases, projects, issuances
    retirements.retire_voluntarily(
        account,
        by=admin_of(account.organisation),
        quantity=1,
        beneficiary_kind=BeneficiaryKind.EVENT,
        beneficiary="2023 武汉马拉松",
        purpose="赛事碳中和",
    )
    checkpoints.take()
    from tests.behaviour.world import make_platform, row, send

    send(make_platform(), "open-data", [row("r1", "user-1")])  # its chunk processed: a day's total
    from offsets.behaviour import processing
    from offsets.behaviour.models import BatchChunk

    for chunk in BatchChunk.objects.filter(done_at=None):
        processing.process_chunk(chunk.pk)


def test_the_page_the_doc_and_the_files_have_the_same_fields(client, every_dataset_has_a_row):
    page = fields_on_the_page(client.get(reverse("offsets:open_data"), headers=EN).text)
    doc = fields_in_the_doc()
    files = {name: list(build()[0]) for name, build in public.DATASETS.items()}
    assert page == files
    assert doc == files


def test_the_page_and_the_doc_list_every_district_code(client):
    text = client.get(reverse("offsets:open_data"), headers=EN).text
    doc = DOC.read_text(encoding="utf-8")
    for code, label in District.choices:
        assert f"<code>{code}</code> {escape(label)}" in text
        assert f"`{code}`" in doc


def test_the_page_no_longer_sends_readers_to_the_repository(client):
    english = client.get(reverse("offsets:open_data"), headers=EN).text
    assert "docs/open-data.md" not in english
    assert "The meaning of every field is described below." in english
    chinese = client.get(reverse("offsets:open_data"), headers=ZH).text
    assert 'lang="zh-Hans"' in chinese
    assert "docs/open-data.md" not in chinese
    assert "江岸区" in chinese  # the district names in the reader's language
