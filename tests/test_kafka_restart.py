"""Restarts that do not replay everything: a worker's partitions restart from their snapshots
on ``T.snapshots`` and read only the tail (issue 23, item 2; docs/kafka.md).

A snapshot is a cache: every restarted worker's measures must still equal ``sendwatch
metrics`` over the same file, field for field, whether it loaded a snapshot (after a clean
stop, after a kill -9 that left the snapshot older than the position) or had to replay
(a snapshot of another fold). The broker fixture, the history and the expected measures are
tests/test_kafka.py's (Apache Kafka; ``SENDWATCH_TEST_BROKERS`` as there).
"""

# ruff: noqa: F811 (test_kafka.py's fixtures, imported, are the tests' arguments)

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from projections import Projector
from streams.kafka_snapshots import MARK, decode, encode, read_latest, snapshots_topic
from streams.kafka_worker import PartitionState, apply_messages
from tests.kafka_broker import Broker, WorkerProcess, kcat_produce, keyed_lines, start_worker
from tests.test_kafka import (  # noqa: F401 (fixtures)
    assert_measures,
    broker,
    expected,
    history,
    measures,
    metric,
    topic_for,
    workers,
)

# snapshots every 200 events or half a second after a change, so a small history has them
OFTEN = {"SENDWATCH_KAFKA_SNAPSHOT_EVENTS": "200", "SENDWATCH_KAFKA_SNAPSHOT_INTERVAL": "0.5"}


def _folded(lines: list[bytes], partition: int = 0) -> PartitionState:
    state = PartitionState(partition)
    apply_messages(state, [(i, None, line, -1, ()) for i, line in enumerate(lines)])
    return state


# --- the envelope, without a broker -------------------------------------------------------


def test_a_partition_snapshot_round_trips_at_the_offset_it_covers(
    history: tuple[Path, list[bytes]],
) -> None:
    _, lines = history
    state = _folded(lines[:300], partition=2)
    value = encode(state.projector, "t", 2, state.position, state.rejected)
    restored, reason = decode(value, "t", 2)
    assert restored is not None, reason
    assert restored.offset == 300 and reason == "snapshot at offset 300"
    assert restored.projector.event_count == state.projector.event_count
    assert restored.projector.case_ids() == state.projector.case_ids()


def _with_header(value: bytes, **changes: Any) -> bytes:
    """``value`` with its envelope's fields changed (the projector's bytes as they were)."""
    start = len(MARK) + 4
    length = int.from_bytes(value[len(MARK) : start], "big")
    header = orjson.dumps({**orjson.loads(value[start : start + length]), **changes})
    return MARK + len(header).to_bytes(4, "big") + header + value[start + length :]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"fold": "1:0123456789abcdef"}, "written by another fold"),
        ({"partition": 3}, "of t partition 3, not t partition 2"),
        ({"topic": "other"}, "of other partition 2"),
        ({"offset": 299}, "damaged: covers offset 300"),
    ],
)
def test_a_snapshot_of_another_fold_topic_or_partition_is_refused_with_the_reason(
    history: tuple[Path, list[bytes]], change: dict[str, Any], why: str
) -> None:
    _, lines = history
    state = _folded(lines[:300], partition=2)
    value = _with_header(encode(state.projector, "t", 2, 300, 0), **change)
    restored, reason = decode(value, "t", 2)
    assert restored is None and reason.startswith(why), reason


def test_a_damaged_snapshot_is_refused_not_loaded(history: tuple[Path, list[bytes]]) -> None:
    _, lines = history
    value = bytearray(encode(_folded(lines[:300]).projector, "t", 0, 300, 0))
    value[-10] ^= 0xFF  # a flipped byte in the last case's blob: the CRC differs
    restored, reason = decode(bytes(value), "t", 0)
    assert restored is None and "damaged" in reason
    assert decode(b"garbage", "t", 0) == (None, "not a sendwatch partition snapshot")
    assert decode(None, "t", 0) == (None, "no snapshot")


# --- on the broker ------------------------------------------------------------------------


def _starts(worker: WorkerProcess, events: int) -> dict[str, dict[str, Any]]:
    health = worker.wait_for(events)
    return {p: body["start"] for p, body in health["partitions"].items()}


def _wait_for_snapshots(worker: WorkerProcess, timeout: float = 30.0) -> dict[str, int]:
    """Until every partition of the worker has a snapshot at its position."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = worker.health() or {}
        partitions = health.get("partitions") or {}
        covered = {p: b["snapshot"]["offset"] for p, b in partitions.items()}
        if partitions and all(covered[p] == b["position"] for p, b in partitions.items()):
            return covered
        time.sleep(0.25)
    raise AssertionError(f"no snapshots: {worker.health()}\n{worker.tail()}")


@pytest.mark.integration
def test_a_worker_stopped_and_restarted_starts_from_its_snapshots_and_reads_the_tail(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """A clean stop snapshots every partition (the default interval, 600 s, never comes in
    this test); the restarted worker loads them (health says at which offset) and applies
    only the 300 events produced while it was stopped."""
    topic = topic_for(request, broker)
    _, lines = history
    body = len(lines) - 300
    kcat_produce(broker, topic, keyed_lines(lines[:body]), tmp_path)
    first = start_worker(broker, topic, tmp_path)
    workers.append(first)
    starts = _starts(first, body)
    assert all(s["snapshot"] is None and s["offset"] == 0 for s in starts.values()), starts
    positions = {p: b["position"] for p, b in (first.health() or {})["partitions"].items()}
    first.stop()  # SIGTERM: a clean stop writes each partition's snapshot
    for partition, position in positions.items():
        value = read_latest([broker.address], topic, int(partition))
        restored, reason = decode(value, topic, int(partition))
        assert restored is not None and restored.offset == position, reason
    kcat_produce(broker, topic, keyed_lines(lines[body:]), tmp_path)
    restarted = start_worker(broker, topic, tmp_path)
    workers.append(restarted)
    starts = _starts(restarted, len(lines))
    assert {p: s["snapshot"] for p, s in starts.items()} == positions
    assert_measures(restarted, expected, len(lines))


@pytest.mark.integration
def test_after_a_kill_9_the_restart_loads_an_older_snapshot_and_the_tail_makes_it_exact(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """Snapshots every 200 events; kill -9 while 500 more arrive (no stop snapshot: the
    newest may be older than what was applied and committed). The tail from the snapshot's
    offset is applied again, idempotently: still exactly the file's measures."""
    topic = topic_for(request, broker)
    _, lines = history
    half = len(lines) // 2
    worker = start_worker(broker, topic, tmp_path, environment=OFTEN)
    workers.append(worker)
    kcat_produce(broker, topic, keyed_lines(lines[:half]), tmp_path)
    worker.wait_for(half)
    _wait_for_snapshots(worker)
    kcat_produce(broker, topic, keyed_lines(lines[half : half + 500]), tmp_path)
    worker.kill()
    kcat_produce(broker, topic, keyed_lines(lines[half + 500 :]), tmp_path)
    restarted = start_worker(broker, topic, tmp_path, environment=OFTEN)
    workers.append(restarted)
    starts = _starts(restarted, len(lines))
    assert all(s["snapshot"] is not None and s["snapshot"] > 0 for s in starts.values()), starts
    assert_measures(restarted, expected, len(lines))


@pytest.mark.integration
def test_a_snapshot_of_another_fold_version_costs_only_a_replay(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """Each partition's newest snapshot claims another fold (an older sendwatch wrote it):
    the worker replays every partition from offset 0 and says why."""
    topic = topic_for(request, broker)
    _, lines = history
    kcat_produce(broker, topic, keyed_lines(lines), tmp_path)
    producer = Producer({"bootstrap.servers": broker.address, "compression.type": "zstd"})
    for partition in range(4):
        value = encode(Projector(), topic, partition, 10**6, 0)  # beyond the end, too
        value = _with_header(value, fold="1:0123456789abcdef")
        producer.produce(snapshots_topic(topic), value=value, partition=partition, key=b"x")
    assert producer.flush(30) == 0
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    starts = _starts(worker, len(lines))
    for start in starts.values():
        assert start["snapshot"] is None and start["offset"] == 0
        assert start["reason"].startswith("written by another fold"), start
    assert_measures(worker, expected)


@pytest.mark.integration
def test_two_workers_after_a_restart_share_the_partitions_each_from_its_snapshots(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """One worker had every partition and stopped; two start: each loads the snapshots of
    the partitions it is given (whichever they are), and each assembles the whole."""
    topic = topic_for(request, broker)
    _, lines = history
    kcat_produce(broker, topic, keyed_lines(lines), tmp_path)
    alone = start_worker(broker, topic, tmp_path)
    workers.append(alone)
    alone.wait_for(len(lines))
    alone.stop()
    first = start_worker(broker, topic, tmp_path)
    workers.append(first)
    first.wait_for(len(lines))
    second = start_worker(broker, topic, tmp_path)
    workers.append(second)
    owned: list[set[str]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        healths = [w.health() or {} for w in (first, second)]
        owned = [set(h.get("partitions") or ()) for h in healths]
        if all(h.get("ok") for h in healths) and owned[0] and owned[1] and not owned[0] & owned[1]:
            break
        time.sleep(0.25)
    assert owned[0] and owned[1] and not owned[0] & owned[1], owned
    assert owned[0] | owned[1] == {"0", "1", "2", "3"}
    for worker in (first, second):
        for p, body in (worker.health() or {})["partitions"].items():
            assert body["start"]["snapshot"] is not None, (p, body)
        assert_measures(worker, expected)
