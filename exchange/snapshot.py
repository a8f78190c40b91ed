"""``--snapshot``: an export that is the source's whole truth, compared with what the same
source imported before (docs/mapping.md, "Snapshots").

The log stays append-only. An event whose row changed is retracted and its corrected version
added under a revision id (``<id>.r<hash of the content>``); an event whose row is gone is
retracted; an event whose row comes back as it was is restored by retracting its retraction
(contract section 2: a retracted retraction restores its event). Retractions and corrections
are recorded when they arrive, so a question asked as at an earlier time still gets the old
figures. Importing the same snapshot again changes nothing.

``compare`` is pure: the previous events of the source (every stored event whose id starts
with ``SOURCE:``, in log order) and the events made from this export in, the lines to ingest
and what they do out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from exchange.rows import SEP, Made

RETRACTED = "event.retracted"


@dataclass
class SnapshotCounts:
    unchanged: int = 0
    new: int = 0
    changed: int = 0  # retracted, and the corrected event added
    removed: int = 0  # retracted: its row is no longer in the export
    restored: int = 0  # a retracted event whose row is back as it was
    removals_withheld: int = 0  # events whose rows are gone, left in force (see ``compare``)

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SnapshotPlan:
    made: list[Made] = field(default_factory=list)  # what to ingest, in order
    counts: SnapshotCounts = field(default_factory=SnapshotCounts)


def base_id(event_id: str) -> str:
    """The id an importer gave the row (``SOURCE:hex``), without a revision suffix."""
    head, _, tail = event_id.partition(":")
    return f"{head}:{tail.split('.', 1)[0]}"


def revision_id(base: str, content: bytes) -> str:
    return f"{base}.r{hashlib.sha256(content).hexdigest()[:12]}"


def content_of(record: dict[str, Any]) -> bytes:
    """What a change is: the type, the case, the day and the data (not when it was
    recorded, nor the council stamped on arrival)."""
    return orjson.dumps(
        [record["type"], record["case_id"], record["occurred_at"], record.get("data", {})],
        option=orjson.OPT_SORT_KEYS,
    )


class _Previous:
    """The source's stored events: versions of each row's event, and retractions."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.content: dict[str, bytes] = {}
        self.case: dict[str, str] = {}
        self.versions: dict[str, list[str]] = {}
        self.retractions: dict[str, list[str]] = {}  # target -> retractions of it, in order
        for record in records:
            event_id = record["event_id"]
            self.case[event_id] = record["case_id"]
            if record["type"] == RETRACTED:
                target = record.get("data", {}).get("event_id")
                if isinstance(target, str):
                    self.retractions.setdefault(target, []).append(event_id)
                continue
            self.content[event_id] = content_of(record)
            self.versions.setdefault(base_id(event_id), []).append(event_id)
        self._live: dict[str, bool] = {}

    def live(self, event_id: str) -> bool:
        """In force: not retracted by a retraction in force (the chain is short)."""
        known = self._live.get(event_id)
        if known is None:
            known = not any(self.live(r) for r in self.retractions.get(event_id, ()))
            self._live[event_id] = known
        return known


def compare(
    previous: Iterable[dict[str, Any]],
    made: Sequence[Made],
    *,
    source: str,
    at: str,
    removals: bool,
) -> SnapshotPlan:
    """The lines that bring the source's events in the log to this export. ``at`` is the
    import's time (ISO), the retractions' ``occurred_at``; with ``removals`` False, events
    whose rows are gone are counted in ``removals_withheld`` and left in force."""
    before = _Previous(previous)
    plan = SnapshotPlan()
    counts = plan.counts
    retracted_now: set[str] = set()

    def retract(target: str, reason: str, origin: str) -> None:
        generation = len(before.retractions.get(target, ()))
        text = SEP.join((source, "retraction", target, str(generation)))
        event = {
            "event_id": f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:40]}",
            "type": RETRACTED,
            "case_id": before.case[target],
            "occurred_at": at,
            "source": source,
            "data": {"event_id": target, "reason": reason},
        }
        retracted_now.add(target)
        plan.made.append(Made(orjson.dumps(event), origin, at))

    seen: set[str] = set()
    for item in made:
        record = orjson.loads(item.line)
        base = record["event_id"]
        if base in seen:  # the same id twice in one export: the pipeline judges the repeat
            plan.made.append(item)
            continue
        seen.add(base)
        content = content_of(record)
        versions = before.versions.get(base, [])
        live = [v for v in versions if before.live(v)]
        same = [v for v in live if before.content[v] == content]
        if same:
            counts.unchanged += 1
            if same[0] != base:
                record["event_id"] = same[0]
                item = Made(orjson.dumps(record), item.origin, item.occurred)
            plan.made.append(item)  # a duplicate: the pipeline counts it so
            continue
        for version in live:
            retract(version, f"{item.origin} changed in this {source} export", item.origin)
        wanted = base if before.content.get(base, content) == content else None
        target = wanted or revision_id(base, content)
        if target in before.content:  # retracted before, and back as it was
            for retraction in before.retractions.get(target, ()):
                if before.live(retraction):
                    why = f"{item.origin} is back in this {source} export"
                    retract(retraction, why, item.origin)
            counts.restored += 1
            continue
        if versions:
            counts.changed += 1
            record.pop("recorded_at", None)  # the correction is recorded when it arrives
        else:
            counts.new += 1
        record["event_id"] = target
        plan.made.append(Made(orjson.dumps(record), item.origin, item.occurred))
    for base, versions in before.versions.items():
        if base in seen:
            continue
        live = [v for v in versions if before.live(v) and v not in retracted_now]
        if not live:
            continue
        if not removals:
            counts.removals_withheld += 1
            continue
        for version in live:
            retract(version, f"no longer in this {source} export", f"{source} snapshot")
        counts.removed += 1
    return plan
