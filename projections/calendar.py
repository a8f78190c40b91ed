"""Dates the law counts in: calendar months, working days, fixed dates.

England and Wales bank holidays come from the ``holidays`` package (offline, computed).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

ONE_DAY = timedelta(days=1)


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months; a day past the month's end is clamped to its last day
    (12 months from 29 February 2024 is 28 February 2025)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=64)
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays of a year (substitute days included)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in bank_holidays(day.year)


@lru_cache(maxsize=8192)
def working_days_after(start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (the start itself is day 0)."""
    day = start
    while count > 0:
        day += ONE_DAY
        if is_working_day(day):
            count -= 1
    return day
