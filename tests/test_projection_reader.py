"""The read interface of the projections (``projections.reading.ProjectionReader``): what the
alert engine and the services read, answered by a ``Projector`` and by a Kafka worker's view
of its partitions (``streams.kafka_worker.WorkerProjection``) alike.

The Kafka worker's view used to subclass ``Projector`` and inherit ``last_recorded``, which
stayed None: the stalled-feed alert (``IngestStalled``) could never fire in Kafka mode. Its
``last_recorded`` is now the newest ``recorded_at`` of the whole topic: of its own
partitions' events, and of the partials the other workers publish.

These run on a worker that is built but never started (no broker): its partitions and the
other workers' partials are set by hand, as the worker's tasks would set them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import orjson

from alerts.engine import Engine
from alerts.rules import load_rules
from projections import Period, Projector
from projections.reading import ProjectionReader
from sendwatch.kafka_service import KafkaSource
from streams.kafka import KafkaSettings
from streams.kafka_worker import (
    Partial,
    PartitionState,
    Worker,
    WorkerProjection,
    apply_messages,
)

RULES = load_rules()
# the stalled-feed rule alone: no event for more than 72 hours
STALL_ONLY = RULES.model_copy(update={"cases": (), "rates": (), "burn_rates": ()})
NOW = date(2025, 7, 1)
AT = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
# this worker's only event: recorded (its Kafka timestamp) on 2 June 2025 at 10:00 UTC
OWN_RECORDED = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


def worker_owning_partition_0(other_recorded: datetime | None) -> Worker:
    """A worker of a two-partition topic that owns partition 0 (one case, one event, live)
    and has read partition 1's partial, published by another worker, whose newest event
    was recorded at ``other_recorded``."""
    worker = Worker(servers=["127.0.0.1:9"], topic="t", settings=KafkaSettings(), queries=list)
    state = PartitionState(0, bulk=False, ready=True)
    line = orjson.dumps(
        {
            "event_id": "e1",
            "type": "request.received",
            "case_id": "KC-1",
            "occurred_at": "2025-06-02",
            "data": {"requested_by": "parent"},
        }
    )
    stamp = int(OWN_RECORDED.timestamp() * 1000)
    assert apply_messages(state, [(0, b"KC-1", line, stamp, ())]).new == 1
    worker.partitions[0] = state
    worker.topic_partitions = 2
    worker.latest[1] = Partial(
        partition=1,
        offset=40,
        events=40,
        cases=12,
        rejected=0,
        last_recorded=other_recorded,
        worker="other",
        tallies={(NOW, Period.default(NOW)): Counter()},
    )
    return worker


def firing(engine: Engine) -> dict[str, float]:
    """Each firing alert's name and value (the stall's: seconds since the newest event)."""
    return {a["alertname"]: a["value"] for a in engine.active() if a["state"] == "firing"}


def test_a_projector_and_a_workers_view_both_answer_the_projection_reads() -> None:
    worker = worker_owning_partition_0(None)
    for reader in (Projector(), WorkerProjection(worker)):
        assert isinstance(reader, ProjectionReader)
    view = WorkerProjection(worker)
    # the cases it holds: its own partition's
    assert (view.event_count, view.case_count, view.case_ids()) == (1, 1, {"KC-1"})
    assert [case.case_id for case in view.case_files(NOW)] == ["KC-1"]
    assert view.case_file("KC-1", NOW) is not None
    assert view.case_file("elsewhere", NOW) is None
    assert view.quarantined() == [] and view.quarantined_case("KC-1") is None


def test_a_workers_newest_recorded_at_is_the_whole_topics() -> None:
    # the other partition's newest event (27 June) is newer than this worker's own (2 June)
    later = datetime(2025, 6, 27, 9, 0, tzinfo=UTC)
    assert WorkerProjection(worker_owning_partition_0(later)).last_recorded == later
    # an older one: its own partition's is the newest
    earlier = datetime(2025, 5, 1, tzinfo=UTC)
    assert WorkerProjection(worker_owning_partition_0(earlier)).last_recorded == OWN_RECORDED
    # a partition whose partial says it has no event yet: its own partition's
    assert WorkerProjection(worker_owning_partition_0(None)).last_recorded == OWN_RECORDED


def test_the_stalled_feed_alert_fires_in_kafka_mode() -> None:
    # the topic's newest event was recorded on 27 June at 09:00 UTC (partition 1); on 1 July
    # at 09:00 UTC that is 96 hours ago, more than the rule's 72: the feed has stalled
    worker = worker_owning_partition_0(datetime(2025, 6, 27, 9, 0, tzinfo=UTC))
    engine = Engine(STALL_ONLY)
    engine.update(WorkerProjection(worker), NOW, AT)
    assert firing(engine) == {"IngestStalled": 96 * 3600}


def test_a_feed_that_moves_on_another_workers_partition_is_not_stalled() -> None:
    # this worker's own partition has been quiet since 2 June, but partition 1's newest
    # event was recorded on 30 June at 12:00 UTC: 21 hours before 1 July 09:00 UTC
    worker = worker_owning_partition_0(datetime(2025, 6, 30, 12, 0, tzinfo=UTC))
    engine = Engine(STALL_ONLY)
    engine.update(WorkerProjection(worker), NOW, AT)
    assert firing(engine) == {}


def test_the_kafka_service_judges_the_stalled_feed_over_the_whole_topic() -> None:
    # the service's own judging path (as its alert task runs it every second), "now" frozen
    # on 1 July 2025: the stall is judged at the end of that day (2 July 00:00 London, 23:00
    # UTC on 1 July), 110 hours after 27 June 09:00 UTC
    worker = worker_owning_partition_0(datetime(2025, 6, 27, 9, 0, tzinfo=UTC))
    source = KafkaSource(worker, frozen_now=NOW, rules=STALL_ONLY)
    assert source._judge(None)  # every partition is assembled: the aggregate rules judged
    assert firing(source.alert_engine) == {"IngestStalled": 110 * 3600}
