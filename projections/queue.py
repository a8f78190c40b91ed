"""Work queues: the open clocks due or overdue, one row a case and clock, and the dimensions
(team, caseworker, setting, council, primary need) that filter them and the measures.

Pure: folded cases in, rows out. A row carries only pseudonymous ids (case, caseworker,
team, setting) and the clock's legal facts from ``projections.law``.

Which runs are in a queue: the open runs that are not excepted (as the measures count
``overdue`` and ``due_within_7_days``, so a dashboard count and the queue behind it agree):
``overdue`` (due before "now") or ``due`` (due from "now" to ``within`` days after it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from projections.case import CaseFile
from projections.law import CLOCKS
from projections.projector import Dimensions

DIMENSIONS = ("team", "caseworker", "setting", "council", "need")
STATES = ("overdue", "due")
SORTS = ("due", "late", "clock", "team", "caseworker")
WITHIN_DAYS = 28  # the default: overdue, or due within four weeks
COLUMNS = (
    "case_id",
    "clock",
    "clock_name",
    "started",
    "due",
    "days_left",
    "state",
    "regulation",
    "caseworker",
    "team",
    "setting",
    "council",
    "need",
)


@dataclass(frozen=True, slots=True)
class Filters:
    """The dimensions asked for (None: any). Each matches a case whose dimension is exactly
    that value."""

    team: str | None = None
    caseworker: str | None = None
    setting: str | None = None
    council: str | None = None
    need: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, str | None]) -> Filters:
        """From query parameters or options (an empty value asks for nothing)."""
        return cls(**{name: params.get(name) or None for name in DIMENSIONS})

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in DIMENSIONS)

    def matches(self, case: CaseFile | Dimensions, council: str | None = None) -> bool:
        """Whether the case has every dimension asked for; ``council``: the council of a
        case whose events did not say (the service's own)."""
        return (
            (self.team is None or case.team == self.team)
            and (self.caseworker is None or case.caseworker == self.caseworker)
            and (self.setting is None or case.setting == self.setting)
            and (self.council is None or (case.council or council) == self.council)
            and (self.need is None or case.need == self.need)
        )


def queue_rows(
    cases: Iterable[CaseFile],
    now: date,
    within: int = WITHIN_DAYS,
    filters: Filters = Filters(),
    clock: str | None = None,
    state: str | None = None,
    council: str | None = None,
) -> list[dict[str, Any]]:
    """The queue's rows, in case id order and then by due date (``sort_rows`` orders them).
    ``council``: the council of a case whose events did not say (the service's own)."""
    horizon = now + timedelta(days=within)
    rows: list[dict[str, Any]] = []
    for case in cases:
        if filters and not filters.matches(case, council):
            continue
        runs = [
            run
            for run in case.running
            if run.stop is None
            and run.cancelled is None
            and not run.excepted
            and run.due <= horizon
            and (clock is None or run.clock == clock)
        ]
        runs.sort(key=lambda run: (run.due, run.clock, run.key))
        for run in runs:
            late = run.due < now
            if state is not None and (state == "overdue") != late:
                continue
            rows.append(
                {
                    "case_id": case.case_id,
                    "clock": run.clock,
                    "clock_name": CLOCKS[run.clock].title,
                    "started": run.start.isoformat(),
                    "due": run.due.isoformat(),
                    "days_left": (run.due - now).days,
                    "state": "overdue" if late else "due",
                    "regulation": run.citation,
                    "caseworker": case.caseworker,
                    "team": case.team,
                    "setting": case.setting,
                    "council": case.council or council,
                    "need": case.need,
                }
            )
    return rows


def sort_rows(rows: list[dict[str, Any]], sort: str = "due", order: str = "asc") -> None:
    """Sort in place: ``due`` (soonest first), ``late`` (most days late first), ``clock``,
    ``team`` or ``caseworker`` (then by due date); ``order`` ``desc`` reverses. Rows
    without a team or caseworker sort last; ties keep case id order."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        if sort == "late":
            return (row["days_left"], row["case_id"], row["clock"])
        if sort in ("team", "caseworker", "clock"):
            value = row[sort]
            return (value is None, value or "", row["due"], row["case_id"], row["clock"])
        return (row["due"], row["case_id"], row["clock"])

    rows.sort(key=key, reverse=order == "desc")


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as CSV with a header row (``COLUMNS``); an unknown value is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[name] is None else row[name] for name in COLUMNS])
    return out.getvalue()
