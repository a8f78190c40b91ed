"""What the readers of the projections read: the alert engine and both services.

``ProjectionReader`` is a ``typing.Protocol``, not a base class: anything that answers these
reads, honestly, is one. ``projections.Projector`` is (it holds every event of its cases);
so is the Kafka worker's view (``streams.kafka_worker.WorkerProjection``), which holds no
events of its own: the cases of the worker's partitions, and the whole topic's measures and
newest ``recorded_at`` assembled from every partition. mypy checks both (the end of
``streams/kafka_worker.py``).

Two scopes, as the Kafka worker needs them told apart:
- the cases the reader holds: ``case_files``, ``case_file``, ``case_ids``, ``event_count``,
  ``case_count``, ``quarantined``, ``quarantined_case`` (a ``Projector``: all of its own;
  a Kafka worker: those of the partitions it owns);
- the whole feed it speaks for: ``measures`` and ``last_recorded`` (what the aggregate alert
  rules read, the stalled feed among them).

Left out on purpose: ``tally`` and ``dated_sums`` for any day and period (a Kafka worker
has the whole topic's tallies only for the published queries), and everything that writes
(``apply``, ``position``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from projections.case import CaseFile
from projections.measures import Period
from projections.projector import Quarantined


@runtime_checkable
class ProjectionReader(Protocol):
    """The reads of the projections that the alert engine and the services make."""

    @property
    def last_recorded(self) -> datetime | None:
        """The newest ``recorded_at`` of any event of the feed (None: no event yet): the
        stalled-feed alert (``IngestStalled``) reads it."""
        ...

    @property
    def event_count(self) -> int:
        """Events applied to the cases the reader holds."""
        ...

    @property
    def case_count(self) -> int:
        """Cases the reader holds (those set aside too)."""
        ...

    def case_ids(self) -> set[str]:
        """Every id of the cases the reader holds (a copy)."""
        ...

    def case_files(
        self, now: date | None = None, as_at: datetime | None = None, *, keep: bool = True
    ) -> Iterator[CaseFile]:
        """Every case's file as at ``now`` (and as known at ``as_at``), by case id, but
        those set aside. ``keep`` False: a reading of every case that need not stay in
        memory (the alert engine's daily pass)."""
        ...

    def case_file(
        self, case_id: str, now: date | None = None, as_at: datetime | None = None
    ) -> CaseFile | None:
        """One case's file; None for a case it does not hold, or one set aside."""
        ...

    def measures(
        self,
        now: date,
        period: Period | None = None,
        as_at: datetime | None = None,
        dead_letters: int = 0,
    ) -> dict[str, Any]:
        """The contract's measures (CONTRACT.md section 3) of the whole feed."""
        ...

    def quarantined(self) -> list[Quarantined]:
        """The cases set aside (CONTRACT.md 1.1), by case id."""
        ...

    def quarantined_case(self, case_id: str) -> Quarantined | None:
        """``quarantined``'s entry for one case, or None if it is not set aside."""
        ...
