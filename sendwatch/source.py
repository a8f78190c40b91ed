"""What the HTTP API and /metrics read. The embedded service and the Kafka worker each
provide one ``Source``, so both serve the same endpoints from the same code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from observability.health import Health
from projections.projector import Quarantined
from sendwatch.query import Query

# The alert process of ``sendwatch run`` writes its status every second (``written_at``):
# silent this long, it is failing (ended and not restarted, or crash-looping); a service
# that has just started gives it longer for its first judgement of every case.
ALERTS_SILENT_SECONDS = 30.0
ALERTS_STARTING_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to ``POST /api/events``."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"line": n, "reason": s}


def alerting_failure(status: Mapping[str, Any], since: datetime, at: datetime) -> str | None:
    """Why another process judging the alerts is failing, from the status it last wrote
    (``alerts.store.SavedAlerts.status``), or None: silent for ``ALERTS_SILENT_SECONDS``, or,
    if it has said nothing since the service started at ``since``, for
    ``ALERTS_STARTING_SECONDS`` after that."""
    written = status.get("written_at")
    said = datetime.fromisoformat(written) if isinstance(written, str) else None
    if said is not None and said >= since:
        silent = (at - said).total_seconds()
        if silent <= ALERTS_SILENT_SECONDS:
            return None
        return f"the alert process has written no status for {silent:.0f} s"
    waited = (at - since).total_seconds()
    if waited <= ALERTS_STARTING_SECONDS:
        return None
    return f"the alert process has written no status since the service started {waited:.0f} s ago"


def quarantine_warning(quarantined: Sequence[Quarantined]) -> str | None:
    """One line for a command's standard error when cases were set aside (case ids are
    pseudonymous), or None: how many, why (the first error), and which (the first few)."""
    if not quarantined:
        return None
    n = len(quarantined)
    first = quarantined[0]
    ids = ", ".join(q.case_id for q in quarantined[:5]) + (", …" if n > 5 else "")
    return (
        f"warning: {n} case{'' if n == 1 else 's'} set aside (quarantined): "
        f"{'its' if n == 1 else 'their'} events could not be folded and are left out of "
        f"every figure ({ids}; {first.case_id}: {first.error}, {first.stage}"
        + (f", at event {first.last_event_id}" if first.last_event_id else "")
        + ")"
    )


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
