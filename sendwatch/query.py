"""The measures query (period, now, as-at) as the CLI and the HTTP API both take it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from events.envelope import LONDON, UTC, parse_instant
from projections import Period


def today() -> date:
    """Today in Europe/London: the clocks' calendar."""
    return datetime.now(LONDON).date()


@dataclass(frozen=True, slots=True)
class Query:
    now: date
    period: Period
    as_at: datetime | None


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # plausible (CONTRACT.md 1.1)


def parse_date(value: str, name: str) -> date:
    """A date YYYY-MM-DD from 2000-01-01 to 2100-12-31; ValueError naming ``name``."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {value!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{name}: expected a date from {FIRST_DAY} to {LAST_DAY}, got {value!r}")
    return day


def parse_as_at(value: str) -> datetime:
    """A datetime (naive = Europe/London); a bare date means the end of that day."""
    try:
        if len(value) == 10:
            instant = datetime.combine(date.fromisoformat(value), time.max, LONDON)
            instant = instant.astimezone(UTC)
        else:
            instant = parse_instant(value)
    except (ValueError, OverflowError):
        raise ValueError(f"as_at: expected an ISO 8601 datetime, got {value!r}") from None
    if not FIRST_DAY <= instant.date() <= LAST_DAY:
        raise ValueError(f"as_at: expected a moment from {FIRST_DAY} to {LAST_DAY}, got {value!r}")
    return instant


def make_query(
    *,
    start: str | None = None,
    end: str | None = None,
    now: str | None = None,
    as_at: str | None = None,
    default_now: date | None = None,
) -> Query:
    """Parse the four options; raises ValueError naming the one that is wrong."""
    when = parse_date(now, "now") if now else (default_now or today())
    first = parse_date(start, "from") if start else None
    last = parse_date(end, "to") if end else None
    period = Period.default(when, first, last)
    if period.start > period.end:
        raise ValueError(f"from ({period.start}) is after to ({period.end})")
    return Query(when, period, parse_as_at(as_at) if as_at else None)
