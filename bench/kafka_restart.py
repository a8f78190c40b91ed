"""A worker's restart time against history length, from snapshots and without them.

    python -m bench.kafka_restart [--years 1 3 6] [--tail 1000] [--partitions 12]

For each history (a simulated Kent-sized council, ``--years`` long) on Apache Kafka: a worker
reads it all and stops cleanly (its stop writes each partition's snapshot to
``T.snapshots``); ``--tail`` more events arrive; then

- after (snapshots): a worker starts, loads every partition's snapshot and reads the tail;
- before (replay): every partition's newest snapshot is replaced by one of another fold, so
  the next worker replays every partition from offset 0, as every restart did before.

Each time runs from the worker's process start (imports and group join included) until its
/healthz says every partition is current and the measures assembled; both workers' measures
must be equal. The goal: a restart that grows with the tail, not with the history.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.history import END, history_years
from bench.kafka import load, wait_current
from projections import Projector
from streams.kafka import ensure_topics
from streams.kafka_snapshots import encode, read_newest, snapshots_topic
from tests.kafka_broker import (
    KAFKA_TEST_SETTINGS,
    Broker,
    WorkerProcess,
    apache_kafka,
    kcat_produce,
    keyed_lines,
    start_worker,
)

NOW = END.isoformat()


def foreign_snapshots(broker: Broker, topic: str, partitions: int) -> None:
    """Each partition's newest snapshot: one of another fold (refused: a replay)."""
    producer = Producer({"bootstrap.servers": broker.address})
    for partition in range(partitions):
        value = encode(Projector(), topic, partition, 0, 0)
        value = value.replace(b'"fold":"', b'"fold":"0', 1)  # "02:...": not this fold
        producer.produce(snapshots_topic(topic), value=value, partition=partition, key=b"x")
    producer.flush(30)


def timed_start(
    broker: Broker, topic: str, work: Path, events: int, environment: dict[str, str]
) -> tuple[float, WorkerProcess, dict[str, Any]]:
    start = time.perf_counter()
    worker = start_worker(broker, topic, work, now=NOW, environment=environment)
    health = wait_current(worker, events, 1800, poll=0.1)
    return time.perf_counter() - start, worker, health


def one(broker: Broker, years: int, tail: int, partitions: int, work: Path) -> None:
    lines = history_years(years).read_bytes().splitlines()
    topic = f"restart-{years}y-{int(time.time())}"
    ensure_topics([broker.address], topic, partitions)
    environment = {"SENDWATCH_KAFKA_PARTITIONS": str(partitions)}
    body = len(lines) - tail
    kcat_produce(broker, topic, keyed_lines(lines[:body]), work)
    first = start_worker(broker, topic, work, now=NOW, environment=environment)
    wait_current(first, body, 1800, poll=0.1)
    started = time.perf_counter()
    first.process.terminate()  # SIGTERM: the clean stop writes every partition's snapshot
    first.process.wait(300)
    stopping = time.perf_counter() - started
    snapshots = read_newest([broker.address], topic, range(partitions))
    sizes = [len(value or b"") for value in snapshots.values()]
    kcat_produce(broker, topic, keyed_lines(lines[body:]), work)

    after, worker, health = timed_start(broker, topic, work, len(lines), environment)
    loaded = [p["start"]["snapshot"] for p in health["partitions"].values()]
    assert all(offset is not None for offset in loaded), health["partitions"]
    measured = worker.get("/api/measures").json()
    worker.kill()  # no snapshot at stop: the next worker finds the same ones

    foreign_snapshots(broker, topic, partitions)
    before, worker, health = timed_start(
        broker, topic, work, len(lines), {**environment, "SENDWATCH_KAFKA_SNAPSHOT_EVENTS": "0"}
    )
    assert all(p["start"]["snapshot"] is None for p in health["partitions"].values())
    replayed = worker.get("/api/measures").json()
    worker.stop()
    assert measured == replayed, "the measures after a snapshot differ from a replay's"
    print(
        f"{years} years, {len(lines):>9,} events, tail {tail:,}: "
        f"replay {before:6.1f} s, from snapshots {after:6.1f} s, ratio {before / after:4.1f}; "
        f"clean stop (SIGTERM to exit) {stopping:.1f} s; snapshots {sum(sizes) / 1e6:.1f} MB "
        f"(largest partition {max(sizes) / 1e6:.1f} MB, before zstd); "
        f"load {load()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--tail", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sendwatch-restart-") as folder:
        work = Path(folder)
        (work / "kafka").mkdir()
        with apache_kafka(work / "kafka", KAFKA_TEST_SETTINGS) as broker:
            print(f"Apache Kafka at {broker.address}; load {load()}", flush=True)
            for years in args.years:
                one(broker, years, args.tail, args.partitions, work)


if __name__ == "__main__":
    main()
