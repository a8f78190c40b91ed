"""Building event histories for tests, through the real decoder."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from events import Event, decode, from_record
from projections import Period, Projector

_ids = itertools.count(1)


def raw(
    kind: str,
    case: str,
    on: str,
    /,
    *,
    eid: str | None = None,
    recorded: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """One event as a council system would send it (recorded at its occurrence unless said).

    ``eid`` is the envelope's event_id (``event_id`` in ``data`` is a retraction's target).
    """
    out: dict[str, Any] = {
        "event_id": eid or f"t{next(_ids)}",
        "type": kind,
        "case_id": case,
        "occurred_at": on,
        "recorded_at": recorded or (on if "T" in on else f"{on}T12:00:00"),
        "data": data,
    }
    return out


def event(kind: str, case: str, on: str, /, **kwargs: Any) -> Event:
    return from_record(decode(orjson.dumps(raw(kind, case, on, **kwargs)), arrival=None))


def measures(
    events: Iterable[Event],
    now: str,
    start: str | None = None,
    end: str | None = None,
    as_at: Any = None,
) -> dict[str, Any]:
    projector = Projector()
    projector.apply_all(events)
    when = date.fromisoformat(now)
    period = Period.default(
        when,
        date.fromisoformat(start) if start else None,
        date.fromisoformat(end) if end else None,
    )
    return projector.measures(when, period, as_at)


def jsonl(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def sendwatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the ``sendwatch`` command as a user would (a new process); never raises on its
    exit code, so a test can check it."""
    return subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
