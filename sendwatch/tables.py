"""Tables for people at a terminal (``--format table``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from projections.law import CLOCK_IDS, CLOCKS
from sendwatch.query import Query


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def measures_table(result: dict[str, Any], query: Query) -> Table:
    period = f"{query.period.start} to {query.period.end}"
    known = f", as known at {query.as_at:%Y-%m-%d %H:%M} UTC" if query.as_at else ""
    table = Table(title=f"Statutory clocks: completed {period}; open at {query.now}{known}")
    for name in (
        "Clock",
        "Completed",
        "On time",
        "Rate",
        "Rate excl. exceptions",
        "Open",
        "Overdue",
        "Due in 7 days",
    ):
        table.add_column(name, justify="left" if name == "Clock" else "right")
    for clock in CLOCK_IDS:
        c = result[clock]
        table.add_row(
            CLOCKS[clock].title,
            str(c["completed"]),
            str(c["on_time"]),
            _pct(c["rate_incl_exceptions"]),
            _pct(c["rate_excl_exceptions"]),
            str(c["open"]),
            str(c["overdue"]),
            str(c["due_within_7_days"]),
        )
    ftr = result["first_time_right"]
    edu = result["education"]
    cw = result["caseworkers"]
    table.caption = (
        f"Right first time: {_pct(ftr['rate'])} of {ftr['decisions']} decisions "
        f"({ftr['overturned']} overturned) · out of education now: "
        f"{edu['out_of_education_now']} (longest {edu['longest_days_out']} days) · "
        f"caseworker changes: {cw['changes']} · dead letters: {result['dead_letters']}"
    )
    return table


def case_tables(view: dict[str, Any]) -> list[Table]:
    clocks = Table(title=f"Case {view['case_id']}: clocks at {view['now']}")
    for name in ("Clock", "Start", "Due", "Stop", "State", "Regulation"):
        clocks.add_column(name)
    for c in view["clocks"]:
        state = c["state"] + (" (excepted)" if c["excepted"] else "")
        clocks.add_row(c["title"], c["start"], c["due"], c["stop"] or "", state, c["citation"])
    history = Table(title="History")
    for name in ("Date", "Event", "Details"):
        history.add_column(name)
    for e in view["history"]:
        details = ", ".join(f"{k}={v}" for k, v in e["data"].items())
        kind = e["type"] + (" (retracted)" if e["retracted"] else "")
        history.add_row(e["occurred_on"], kind, details)
    return [clocks, history]
