"""``sendwatch snapshot``: save the log's folded state beside it (``<db>.snapshot``), so that
``sendwatch run``, ``metrics --db`` and ``report`` start from it and apply only the tail."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from projections.measures import windows
from sendwatch.tuning import paused_collector
from streams.replay import load_projector
from streams.snapshots import write_snapshot


def take_snapshot(db: Path, now: date) -> str:
    """Fold the log at ``db`` (from its snapshot, if one is usable, and the tail), tally the
    measures of ``now`` over the windows /metrics reads (the 12 months to it among them),
    and save it all; returns the line to print. Raises ``LogError`` if ``db`` is not a log."""
    loaded = load_projector(None, db, pause=paused_collector)
    projector = loaded.projector
    for period in windows(now).values():
        projector.tally(now, period)
    with paused_collector():
        path = write_snapshot(projector, db)
    return (
        f"saved {path}: {projector.event_count:,} events, {projector.case_count:,} cases, "
        f"at log position {projector.position:,} (started from: {loaded.snapshot})"
    )
