"""Plain, JSON-ready views of a case for people: its clocks with their state, its history."""

from __future__ import annotations

from datetime import date
from typing import Any

from events import DATA_MODELS
from projections.case import CaseFile, Clock, apply_order
from projections.law import CLOCKS

# The fields of each type's data (current schema). A log made before contract v1.1 may hold
# others (v1 kept them, and a council's export could carry a name or a birth date there):
# the case view shows only the contract's, so none of those is ever displayed.
SHOWN_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset(model.model_fields) for kind, model in DATA_MODELS.items()
}


def clock_view(run: Clock, now: date) -> dict[str, Any]:
    view: dict[str, Any] = {
        "clock": run.clock,
        "title": CLOCKS[run.clock].title,
        "key": run.key,
        "start": run.start.isoformat(),
        "due": run.due.isoformat(),
        "stop": run.stop.isoformat() if run.stop else None,
        "cancelled": run.cancelled.isoformat() if run.cancelled else None,
        "state": run.state(now),
        "excepted": run.excepted,
        "citation": run.citation,
    }
    if run.kind is not None:
        view["order_kind"] = run.kind
        interim = run.interim()
        if interim is not None:
            step, due, done = interim
            view["interim"] = {
                "step": step,
                "due": due.isoformat(),
                "done": done.isoformat() if done else None,
            }
    return view


def case_view(case: CaseFile, now: date) -> dict[str, Any]:
    """A case's clocks (in start order), exceptions, appeals and history (in apply order)."""
    retracted = {e.event_id for e in case.retracted}
    history = sorted(case.history + case.retracted, key=apply_order)  # as the fold applied them
    return {
        "case_id": case.case_id,
        "now": now.isoformat(),
        "clocks": [
            clock_view(run, now) for run in sorted(case.clocks, key=lambda r: (r.start, r.clock))
        ],
        "exceptions": [
            {
                "clock": x.clock,
                "ground": x.ground,
                "on": x.day.isoformat(),
                "family_told": x.family_told,
            }
            for x in case.exceptions
        ],
        "appeals": [
            {
                "appeal_id": a.appeal_id,
                "against": a.against,
                "registered": a.registered.isoformat(),
                "concluded": a.concluded.isoformat() if a.concluded else None,
                "outcome": a.outcome,
            }
            for a in case.appeals.values()
        ],
        "out_of_education_since": (
            case.out_of_education_since.isoformat() if case.out_of_education_since else None
        ),
        "history": [
            {
                "event_id": e.event_id,
                "type": e.type,
                "occurred_on": e.day.isoformat(),
                "recorded_at": e.recorded_at.isoformat(),
                "data": {k: v for k, v in e.data.items() if k in SHOWN_FIELDS[e.type]},
                "retracted": e.event_id in retracted,
            }
            for e in history
        ],
    }
