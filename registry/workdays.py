"""The Chinese working-day calendar: public holidays and the weekend makeup working days (调休).

Known years come from the chinese-calendar library; the registry administrator's CalendarDay rows
override it (for years it does not know yet, or a correction). Outside both, Monday to Friday work:
a deadline counted in such a year ignores its holidays, so years_without_calendar names those years
for the screens that warn the bureau (a year counts as covered once it has any CalendarDay row).
"""

from datetime import date, timedelta

import chinese_calendar

from registry.models import CalendarDay


def _overrides(start: date, end: date) -> dict[date, bool]:
    return dict(CalendarDay.objects.filter(date__range=(start, end)).values_list("date", "is_working_day"))


def _library_says(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the library has no data for
        return day.weekday() < 5


def library_knows(year: int) -> bool:
    """Does the chinese-calendar library have the official holidays of this year?"""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def years_without_calendar(start: date, end: date) -> list[int]:
    """The years of [start, end] with no official calendar: the library does not know them and the
    registry administrator has entered no calendar day for them. Deadlines counted in them take every
    weekday as a working day, New Year's Day and the Spring Festival included."""
    unknown = [year for year in range(start.year, end.year + 1) if not library_knows(year)]
    if not unknown:
        return []
    entered = set(
        CalendarDay.objects.filter(date__year__in=unknown).values_list("date__year", flat=True).distinct()
    )
    return [year for year in unknown if year not in entered]


def is_working_day(day: date) -> bool:
    override = _overrides(day, day).get(day)
    return _library_says(day) if override is None else override


def add_working_days(start: date, n: int) -> date:
    """The nth working day counting `start` as day 1 if it is a working day (otherwise the next working
    day is day 1). n = 1 gives the first working day on or after start."""
    if n < 1:
        raise ValueError("n must be at least 1")
    # One query for the overrides of the whole window: n working days never span more than 3n + 30 days.
    overrides = _overrides(start, start + timedelta(days=3 * n + 30))
    day, counted = start, 0
    while True:
        working = overrides.get(day)
        if working is None:
            working = _library_says(day)
        if working:
            counted += 1
            if counted == n:
                return day
        day += timedelta(days=1)


def working_days_between(start: date, end: date) -> int:
    """How many working days lie in [start, end], both included (0 when end is before start)."""
    if end < start:
        return 0
    overrides = _overrides(start, end)
    count, day = 0, start
    while day <= end:
        working = overrides.get(day)
        if working is None:
            working = _library_says(day)
        count += bool(working)
        day += timedelta(days=1)
    return count
