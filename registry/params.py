"""Query parameters and posted ids, parsed in one place.

Every input is hostile until parsed: a value that cannot be read raises BadInput, which Django turns into
the portal's own 400 page (registry.views.bad_request) showing the message in the visitor's language.
"""

import datetime as dt
import re

from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.utils.translation import gettext as _

# The largest id PostgreSQL's bigint (and so every primary key and sequence number here) can hold.
MAX_ID = 2**63 - 1
YEARS = (1000, 9999)


class BadInput(BadRequest):
    """A request the portal cannot read. Its message is translated and shown on the 400 page as it is."""


def _whole_number(raw: str, minimum: int, maximum: int) -> int | None:
    # str.isdigit() is also true of "²" and "١", which int() refuses or reads: accept ASCII digits only.
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum)):
        value = int(raw)
        if minimum <= value <= maximum:
            return value
    return None


def integer(query: QueryDict, name: str, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """The whole number in `query[name]`, or None when it is absent or empty; BadInput otherwise."""
    raw = query.get(name, "")
    if raw == "":
        return None
    value = _whole_number(raw, minimum, maximum)
    if value is None:
        raise BadInput(
            _("The address or form contains a value that is not a valid number (“%(name)s”).")
            % {"name": name}
        )
    return value


def year(query: QueryDict, name: str = "year") -> int | None:
    """A four-digit year in `query[name]`, or None when it is absent or empty; BadInput otherwise."""
    raw = query.get(name, "")
    if raw == "":
        return None
    value = _whole_number(raw, *YEARS)
    if value is None:
        raise BadInput(_("The year in the address is not valid: give a year of four digits, such as 2023."))
    return value


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", re.ASCII)


def date(query: QueryDict, name: str) -> dt.date | None:
    """A date written YYYY-MM-DD in `query[name]`, or None when it is absent or empty; BadInput otherwise."""
    raw = query.get(name, "")
    if raw == "":
        return None
    try:
        if not ISO_DATE.match(raw):
            raise ValueError(raw)
        value = dt.date.fromisoformat(raw)
        if not YEARS[0] <= value.year <= YEARS[1]:
            raise ValueError(raw)
    except ValueError:
        raise BadInput(
            _("The date “%(name)s” is not valid: write it as year-month-day, such as 2023-12-31.")
            % {"name": name}
        ) from None
    return value


def ids(query: QueryDict, name: str) -> list[int]:
    """Every value of `query[name]` as an id (a list of checked boxes); BadInput if any is not one."""
    values = [_whole_number(raw, 1, MAX_ID) for raw in query.getlist(name)]
    if None in values:
        raise BadInput(_("The form sent something that is not a record of this registry. Reload the page."))
    return values


def an_id(query: QueryDict, name: str) -> int:
    """The one id in `query[name]`; BadInput if it is absent or not an id."""
    value = _whole_number(query.get(name, ""), 1, MAX_ID)
    if value is None:
        raise BadInput(_("The form sent something that is not a record of this registry. Reload the page."))
    return value


def text(query: QueryDict, name: str) -> str:
    """The text in `query[name]` ("" when absent); BadInput if it holds a NUL, which PostgreSQL refuses."""
    value = query.get(name, "")
    if "\x00" in value:
        raise BadInput(_("The form sent a character that is not allowed (NUL). Nothing has been changed."))
    return value


def bad_cursor() -> BadInput:
    return BadInput(_("This page link is not valid. Go back to the first page of the list."))
