"""What the HTTP API and /metrics read. The embedded service and the Kafka worker each
provide one ``Source``, so both serve the same endpoints from the same code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sendwatch.query import Query


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to ``POST /api/events``."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"line": n, "reason": s}


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    events: int  # events applied by the projections
    cases: int
    dead_letters: int
    last_recorded_at: datetime | None  # the newest event's recorded_at
    detail: dict[str, Any] = field(default_factory=dict)  # mode-specific (lag, partitions)


class Source(Protocol):
    def now(self) -> date:
        """Today, or the frozen --now."""
        ...

    def measures(self, query: Query) -> dict[str, Any]:
        """CONTRACT.md section 3 for the query."""
        ...

    def case(self, case_id: str, now: date) -> dict[str, Any] | None:
        """``projections.views.case_view`` of one case, or None."""
        ...

    def alerts(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts now firing (and recently resolved), as JSON: firing first, the gravest
        first (``alerts.engine.listing_order``); only the first ``limit`` if given."""
        ...

    def firing_counts(self) -> dict[str, int]:
        """How many alerts are firing, by severity."""
        ...

    def health(self) -> Health: ...

    def post_events(self, body: bytes, origin: str) -> Accepted:
        """Validate and append JSON or JSONL; every rejected item names its line."""
        ...
