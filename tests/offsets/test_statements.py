"""The statement reader (offsets.statements) behind the holder's statement and the bureau's account page:
the period in whole local days, the running holding across pages and periods, the exports and the totals."""

import csv
import io
from datetime import datetime

import openpyxl
import pytest
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from offsets import ledger, statements
from offsets.models import Movement, MovementKind
from registry.exports import FORMULA_STARTS
from registry.params import BadInput
from tests.factories import admin_of, reviewers
from tests.offsets.ledger_world import give, holder_account, receiver

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
HOSTILE_NAME = '=HYPERLINK("https://evil.example/", "Click")'


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def holding(people):
    """68 t issued on 2024-01-01 10:00 local time."""
    account = holder_account(people)
    account.movements.update(at=local(2024, 1, 1, 10))
    return account


def local(*args) -> datetime:
    """A moment in the registry's time zone (Asia/Shanghai, eight hours ahead of UTC)."""
    return timezone.make_aware(datetime(*args))


def retire_at(people, account, moment: datetime, quantity: int = 1) -> Movement:
    movement = ledger.retire(
        account, reference=f"R-{Movement.objects.count()}", by=people["registry_admin"], quantity=quantity
    )
    Movement.objects.filter(pk=movement.pk).update(at=moment)
    return movement


def query(**values) -> QueryDict:
    found = QueryDict(mutable=True)
    for name, value in values.items():
        found[name.rstrip("_")] = value
    return found


def lines(statement) -> list[tuple[str, int]]:
    return [(m.kind, m.balance) for m in statement.page.rows]


@pytest.fixture
def daily(people, holding):
    """After the issue, 1 t retired at noon on each of 2024-01-02 … 2024-01-06: holding 67, 66, … 63."""
    for day in range(2, 7):
        retire_at(people, holding, local(2024, 1, day, 12))
    return holding


# --- The running balance -----------------------------------------------------------------------------


def test_the_balance_runs_across_pages_forward_and_backward(daily):
    first = statements.read(daily, query(), size=2)
    assert lines(first) == [(MovementKind.ISSUED, 68), (MovementKind.RETIRED, 67)]
    assert first.brought_forward == 0 and first.count == 6 and first.closing == 63
    second = statements.read(daily, query(after=first.page.next_key), size=2)
    assert [b for _, b in lines(second)] == [66, 65] and second.brought_forward == 67
    third = statements.read(daily, query(after=second.page.next_key), size=2)
    assert [b for _, b in lines(third)] == [64, 63] and third.page.is_last
    # Read from the end: the last page and the one before it carry the same balances.
    last = statements.read(daily, query(page="last"), size=2)
    assert [b for _, b in lines(last)] == [64, 63] and last.brought_forward == 65
    before = statements.read(daily, query(before=last.page.prev_key), size=2)
    assert [b for _, b in lines(before)] == [66, 65]


def test_a_period_in_the_middle_carries_the_holding_before_it(daily):
    middle = statements.read(daily, query(from_="2024-01-03", to="2024-01-05"), size=2)
    assert [b for _, b in lines(middle)] == [66, 65]
    assert (middle.opening, middle.closing, middle.count) == (67, 64, 3)
    assert middle.query == "from=2024-01-03&to=2024-01-05"
    rest = statements.read(
        daily, query(from_="2024-01-03", to="2024-01-05", after=middle.page.next_key), size=2
    )
    assert lines(rest) == [(MovementKind.RETIRED, 64)] and rest.brought_forward == 65
    empty = statements.read(daily, query(from_="2025-01-01"))
    assert empty.page.rows == [] and empty.opening == empty.closing == empty.brought_forward == 63


def test_reservations_change_no_balance_and_transfers_do(people, holding):
    ledger.reserve(holding, 5, reference="R-X", by=people["registry_admin"])
    ledger.release(holding, reference="R-X", by=people["registry_admin"])
    give(people, holding, receiver(), 10)
    assert lines(statements.read(holding, query())) == [
        (MovementKind.ISSUED, 68),
        (MovementKind.RESERVED, 68),
        (MovementKind.RELEASED, 68),
        (MovementKind.RESERVED, 68),
        (MovementKind.SENT, 58),
    ]
    assert statements.balance(holding.movements.all()) == 58


# --- The period: whole local days --------------------------------------------------------------------


def test_a_period_is_whole_days_in_the_registrys_time_zone(people, holding):
    """In UTC, 00:00 on 2024-01-03 in Wuhan is still 2024-01-02 and 23:59 on 2024-01-05 is 15:59: a
    period cut at UTC midnight would lose the first and count the next day's early hours."""
    edges = {
        "day before, last second": retire_at(people, holding, local(2024, 1, 2, 23, 59, 59)),
        "first day, first moment": retire_at(people, holding, local(2024, 1, 3, 0, 0)),
        "last day, 23:59": retire_at(people, holding, local(2024, 1, 5, 23, 59)),
        "day after, first moment": retire_at(people, holding, local(2024, 1, 6, 0, 0)),
        "day after, 07:00": retire_at(people, holding, local(2024, 1, 6, 7, 0)),
    }
    inside = statements.read(holding, query(from_="2024-01-03", to="2024-01-05"))
    assert [m.pk for m in inside.page.rows] == [
        edges["first day, first moment"].pk,
        edges["last day, 23:59"].pk,
    ]
    assert (inside.opening, inside.closing) == (67, 65)
    only_the_last_day = statements.read(holding, query(from_="2024-01-05", to="2024-01-05"))
    assert [m.pk for m in only_the_last_day.page.rows] == [edges["last day, 23:59"].pk]
    _headers, rows = statements.table(holding, *statements.period(query(to="2024-01-05")))
    assert [row[-1] for row in rows] == [68, 67, 66, 65]  # the balance, the last column


@pytest.mark.parametrize(
    "period",
    [
        {"from_": "2024-13-01"},
        {"to": "2024-02-30"},
        {"to": "yesterday"},
        {"from_": "2024-06-01", "to": "2024-01-01"},
    ],
)
def test_an_unreadable_period_is_bad_input(period, holding):
    with pytest.raises(BadInput):
        statements.read(holding, query(**period))
    with pytest.raises(BadInput):
        statements.download(holding, query(**period), "csv")


def test_an_unreadable_page_key_is_bad_input(holding):
    with pytest.raises(BadInput):
        statements.read(holding, query(after="nonsense"))


def test_the_last_day_there_is_is_a_period_end(daily):
    assert statements.read(daily, query(to="9999-12-31")).closing == 63


# --- The exports -------------------------------------------------------------------------------------


@pytest.fixture
def with_hostile_counterparty(people, daily):
    target = receiver()
    target.organisation.name = HOSTILE_NAME
    target.organisation.save(update_fields=["name"])
    give(people, daily, target, 10)
    Movement.objects.filter(account=daily, kind__in=[MovementKind.RESERVED, MovementKind.SENT]).update(
        at=local(2024, 1, 7, 9)
    )
    return daily


def csv_rows(content: bytes) -> list[dict]:
    assert content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_csv_export_has_an_opening_line_every_movement_and_no_formula(with_hostile_counterparty):
    with translation.override("en"):
        response = statements.download(with_hostile_counterparty, query(from_="2024-01-06"), "csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "statement-" in response["Content-Disposition"] and "2024-01-06" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    rows = csv_rows(response.content)
    assert [(r["Movement"], r["Change in holding (t)"], r["Balance (t)"]) for r in rows] == [
        ("Opening balance", "", "64"),
        ("Retired", "-1", "63"),
        ("Reserved", "0", "63"),
        ("Sent", "-10", "53"),
    ]
    assert rows[-1]["Counterparty"] == "'" + HOSTILE_NAME and rows[-1]["Date"] == "2024-01-07 09:00:00"
    for row in rows:
        for value in row.values():  # numbers (-10) stay numbers; text never starts a formula
            assert value.lstrip("-").isdigit() or not value.startswith(FORMULA_STARTS), value


def test_the_xlsx_export_matches_the_csv_and_stores_text_as_text(with_hostile_counterparty):
    with translation.override("en"):
        response = statements.download(with_hostile_counterparty, query(), "xlsx")
    assert (
        response["Content-Disposition"].startswith("attachment")
        and ".xlsx" in response["Content-Disposition"]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2))
    assert [row[header.index("Balance (t)")].value for row in rows] == [68, 67, 66, 65, 64, 63, 63, 53]
    counterparty = rows[-1][header.index("Counterparty")]
    assert counterparty.value == "'" + HOSTILE_NAME and counterparty.data_type == "s"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_an_empty_statement_exports_its_headers(people):
    account = receiver()
    rows = statements.as_csv(*statements.table(account, None, None)).decode("utf-8-sig").splitlines()
    assert len(rows) == 1 and rows[0].count(",") == 8


def test_another_format_is_not_found(holding):
    with pytest.raises(Http404):
        statements.download(holding, query(), "pdf")


def test_the_holder_and_the_registry_administrator_download_the_same_statement(
    client, people, with_hostile_counterparty
):
    account = with_hostile_counterparty
    period = {"from": "2024-01-03", "to": "2024-01-07"}
    client.force_login(admin_of(account.organisation))
    holder = client.get(reverse("offsets:statement_export", args=["csv"]), period, headers=EN)
    client.force_login(people["registry_admin"])
    office = client.get(
        reverse("offsets:office_account_statement", args=[account.number, "csv"]), period, headers=EN
    )
    assert holder.status_code == office.status_code == 200
    assert holder.content == office.content and len(csv_rows(office.content)) == 7
    xlsx = client.get(reverse("offsets:office_account_statement", args=[account.number, "xlsx"]), period)
    assert xlsx.status_code == 200 and {"private", "no-store"} <= {
        part.strip() for part in xlsx["Cache-Control"].split(",")
    }
    assert (
        client.get(reverse("offsets:office_account_statement", args=[account.number, "pdf"])).status_code
        == 404
    )
    bad = client.get(
        reverse("offsets:office_account_statement", args=[account.number, "csv"]), {"to": "2024-02-30"}
    )
    assert bad.status_code == 400


def test_the_office_account_page_shows_the_statement_with_its_exports(
    client, people, with_hostile_counterparty
):
    account = with_hostile_counterparty
    client.force_login(people["registry_admin"])
    page = client.get(
        reverse("offsets:office_account", args=[account.number]), {"from": "2024-01-06"}, headers=EN
    )
    text = page.content.decode()
    assert page.status_code == 200
    export = reverse("offsets:office_account_statement", args=[account.number, "csv"])
    assert f'href="{export}?from=2024-01-06"' in text
    assert lines(page.context["statement"]) == [
        (MovementKind.RETIRED, 63),
        (MovementKind.RESERVED, 63),
        (MovementKind.SENT, 53),
    ]
    assert "Holding on 2024-01-06, before the period: 64 t." in text


# --- Totals ------------------------------------------------------------------------------------------


def test_totals_by_vintage_and_status(people, holding):
    ledger.reserve(holding, 5, reference="R-X", by=people["registry_admin"])
    retire_at(people, holding, local(2024, 1, 2, 12), quantity=3)
    ledger.cancel(holding, 2, reference="R-C", by=people["registry_admin"])
    with translation.override("en"):
        totals = statements.totals(holding)
        assert [str(label) for label in totals["statuses"]] == ["Held", "Reserved", "Retired", "Cancelled"]
    assert totals["by_status"] == [58, 5, 3, 2] and totals["rows"] == [(2022, [58, 5, 3, 2], 68)]
    assert (totals["all"], totals["holding"], totals["free"]) == (68, 63, 58)
