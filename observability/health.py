"""How a running sendwatch (the embedded service, a Kafka worker) says it is: what
``/healthz`` answers and the health metrics of ``/metrics`` read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.projector import Quarantined

LISTED_IN_HEALTH = 20  # quarantined case ids /healthz lists (GET /api/quarantine has all)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    events: int  # events applied by the projections
    cases: int
    dead_letters: int
    last_recorded_at: datetime | None  # the newest event's recorded_at
    detail: dict[str, Any] = field(default_factory=dict)  # mode-specific (lag, partitions)
    # cases set aside because the projections could not fold them (CONTRACT.md 1.1): the
    # service still serves every other case, so they do not make it unhealthy
    quarantined: tuple[Quarantined, ...] = ()

    def quarantine_summary(self) -> dict[str, Any]:
        """What /healthz says of the quarantine: how many, and the first case ids."""
        ids = [q.case_id for q in self.quarantined]
        return {
            "cases": len(ids),
            "case_ids": ids[:LISTED_IN_HEALTH],
            "more": max(0, len(ids) - LISTED_IN_HEALTH),
        }
