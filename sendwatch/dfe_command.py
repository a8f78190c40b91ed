"""``sendwatch dfe`` and ``GET /api/dfe``: DfE's measures for a calendar year
(``projections.dfe``), the same JSON from both, and a table for people.

The JSON is ``projections.dfe.dfe_measures`` with two keys before it: ``now`` (the day the
cases were folded at: what was still open is as at then) and ``complete`` (whether the year
had ended by then; if not, the figures are the year so far).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from projections.case import CaseFile
from projections.dfe import FIRST_YEAR, GROUP_FILES, GROUP_TITLES, GROUPS, dfe_measures
from sendwatch.query import parse_date, today

if TYPE_CHECKING:
    from rich.console import RenderableType


@runtime_checkable
class DfeSource(Protocol):
    """A source (``sendwatch.source.Source``) that can also compute DfE's measures."""

    def dfe(self, year: int, now: date) -> dict[str, Any]: ...


def default_year(now: date) -> int:
    """The last calendar year complete before ``now``."""
    return now.year - 1


def parse_year(text: str | int | None, now: date) -> int:
    """The calendar year asked for (default: the last complete one before ``now``); a
    ValueError naming ``year`` if it is not a year from 2014 to ``now``'s year."""
    if text is None:
        return default_year(now)
    value = str(text).strip()
    if not (value.isascii() and value.isdigit() and len(value) == 4):
        raise ValueError(
            f"year: expected a calendar year such as {default_year(now)}, got {text!r}"
        )
    year = int(value)
    if not FIRST_YEAR <= year <= now.year:
        raise ValueError(
            f"year: expected a calendar year from {FIRST_YEAR} (when EHC plans began) to "
            f"{now.year} (the year of now, {now}), got {year}"
        )
    return year


def when_and_year(now: str | None, year: str | int | None) -> tuple[date, int]:
    """``--now`` (default today) and ``--year`` checked; ValueError naming the bad one."""
    when = parse_date(now, "now") if now else today()
    return when, parse_year(year, when)


def dfe_json(cases: Iterable[CaseFile], year: int, now: date) -> dict[str, Any]:
    """What ``sendwatch dfe --format json`` prints and ``GET /api/dfe`` answers."""
    return {
        "now": now.isoformat(),
        "complete": now > date(year, 12, 31),
        **dfe_measures(cases, year),
    }


def _value(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name.startswith("rate_"):
        return f"{value * 100:.1f}%"
    if name.startswith("average_weeks"):
        return f"{value:.1f} weeks"
    return f"{value:,}"


def figure_words(name: str) -> str:
    """A figure's key in words for the table: ``rate_within_20_weeks_ex`` is "share within
    20 weeks, leaving out exceptions"."""
    words = name.removesuffix("_ex").replace("_", " ")
    if words.startswith("rate "):
        words = "share " + words.removeprefix("rate ")
    return f"{words}, leaving out exceptions" if name.endswith("_ex") else words


def dfe_table(result: dict[str, Any]) -> RenderableType:
    """The figures as a rich table (the figure, its value, the DfE column it stands beside and
    a note number), then the notes numbered: how DfE counts each figure."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    so_far = "" if result["complete"] else f", so far (as at {result['now']})"
    table = Table(title=f"DfE's measures for {result['year']}: 1 January to 31 December{so_far}")
    table.add_column("Figure")
    table.add_column("Value", justify="right")
    table.add_column("DfE column", overflow="fold")
    table.add_column("Note", justify="right")
    notes: dict[str, int] = {}
    for group in GROUPS:
        table.add_section()
        source = GROUP_FILES[group] or "published from 2026"
        table.add_row(Text(f"{GROUP_TITLES[group]} ({source})", style="bold"), "", "", "")
        for name, figure in result[group].items():
            number = notes.setdefault(figure["note"], len(notes) + 1)
            table.add_row(
                figure_words(name),
                _value(name, figure["value"]),
                figure["dfe_column"] or "—",
                f"[{number}]",
            )
    lines = [Text(f"[{n}] {note}") for note, n in notes.items()]
    return Group(table, Text("How DfE counts each figure:", style="bold"), *lines)
