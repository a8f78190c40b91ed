"""Kafka mode on a real broker: Apache Kafka 4.4 (KRaft, one node) on free loopback ports,
kcat as the outside producer, ``sendwatch worker`` processes. Every worker's measures must
equal ``sendwatch metrics`` over the same file, field for field: after a kill -9, with two
workers sharing the partitions, and after the broker was frozen for 10 seconds.

``SENDWATCH_TEST_BROKERS=kafka,tansu`` runs the whole module once on each broker (``tansu``
alone: on Tansu only). Tansu adds its gaps, which the worker must not depend on: its
ListOffsets answer is wrong (the worker reads the high watermark of fetch answers), it holds
group joins for half the session timeout, and it answers a Metadata request naming no topics
with all of them (on Apache Kafka, with none). The tests of what Apache Kafka stores (the
idempotent producer's batches, compaction) are skipped on Tansu, which keeps no files and
never compacts.

The histories are small (a few thousand events, a year of a scaled-down council), so the
whole module takes about two minutes on each broker, most of it group joins, rebalances and
the broker frozen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from alerts.engine import Engine
from alerts.rules import load_rules
from events import decode
from projections import Period, Projector
from projections.scorecard import POINTS
from simulation.council import DEFAULT_CALIBRATION, simulate
from streams.kafka import (
    RECORD_MARK,
    BrokerError,
    KafkaSettings,
    dead_letter_topic,
    ensure_topics,
    parse_broker,
    partials_topic,
    produce_file,
)
from streams.kafka_worker import (
    PartitionState,
    apply_messages,
    count_partitions,
    decode_partial,
    encode_partial,
)
from streams.log import EventLog
from streams.replay import replay_lines
from tests.history import sendwatch
from tests.kafka_broker import (
    KAFKA_TEST_SETTINGS,
    NOW,
    Broker,
    WorkerProcess,
    apache_kafka,
    file_measures,
    kcat_produce,
    keyed_lines,
    start_worker,
    stored_batches,
    tansu,
)

SMALL_COUNCIL = replace(
    DEFAULT_CALIBRATION,
    requests_per_year=200,
    plans_in_cycle=400,
    contacts_per_year=800,
    audits_per_year=40,
    eotas_requests_per_year=10,
    out_of_education=15,
    sen_support_children=200,
    caseworkers=20,
)


# --- fixtures -----------------------------------------------------------------------------


# The brokers the module runs on, each once: Apache Kafka (what councils run) always; Tansu
# too when SENDWATCH_TEST_BROKERS names it ("kafka,tansu"), because its gaps (a wrong
# ListOffsets answer, group joins held for half the session timeout, a Metadata answer
# listing every topic when asked for none) are what the worker must not depend on.
BROKERS = [
    name.strip() for name in os.environ.get("SENDWATCH_TEST_BROKERS", "kafka").split(",") if name
]


@pytest.fixture(scope="module", params=BROKERS)
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    name = request.param
    if name == "tansu":
        with tansu(tmp_path_factory.mktemp("tansu")) as running:
            yield running
    elif name == "kafka":
        with apache_kafka(tmp_path_factory.mktemp("kafka"), KAFKA_TEST_SETTINGS) as running:
            yield running
    else:
        raise ValueError(f"SENDWATCH_TEST_BROKERS: unknown broker {name!r} (kafka or tansu)")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A year of a small council (about 5,000 events), as a JSONL file and its lines."""
    events = simulate(seed=3, years=1, end=date(2025, 6, 30), calibration=SMALL_COUNCIL)
    lines = [orjson.dumps(e) for e in events]
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


@pytest.fixture(scope="module")
def expected(history: tuple[Path, list[bytes]]) -> dict[str, Any]:
    return file_measures(history[0])


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def topic_for(request: pytest.FixtureRequest, broker: Broker, partitions: int = 4) -> str:
    name = "t-" + str(request.node.name).replace("_", "-")[:40]
    ensure_topics([broker.address], name, partitions)
    return name


def measures(worker: WorkerProcess) -> dict[str, Any]:
    answer = worker.get("/api/measures")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def differences(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    return {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}


def assert_measures(
    worker: WorkerProcess, expected: dict[str, Any], applied: int | None = None
) -> None:
    """The worker's /api/measures equal ``expected`` (``sendwatch metrics`` over the same
    file) field for field, and, if given, it applied ``applied`` events."""
    got = measures(worker)
    assert got == expected, differences(got, expected)
    if applied is not None:
        assert metric(worker, "sendwatch_events_applied") == applied


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    """A sample of the worker's /metrics (the first whose labels include ``labels``)."""
    for family in text_string_to_metric_families(worker.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise AssertionError(f"{name} {labels} not in /metrics")


# --- pure parts ---------------------------------------------------------------------------

# a message's Kafka timestamp (ms): 3 June 2025, when the events below arrived (an event with
# no recorded_at counts as recorded then, and may not have occurred more than a day later)
KAFKA_TS = int(datetime(2025, 6, 3, tzinfo=UTC).timestamp() * 1000)


def test_broker_urls_are_checked_with_a_clear_error() -> None:
    assert parse_broker("kafka://127.0.0.1:9092") == ["127.0.0.1:9092"]
    assert parse_broker("kafka://k1:9092,k2:9093") == ["k1:9092", "k2:9093"]
    for bad in ("127.0.0.1:9092", "http://h:1", "kafka://h", "kafka://h:0", "kafka://h:1,"):
        with pytest.raises(BrokerError, match="kafka://HOST:PORT"):
            parse_broker(bad)


def kafka_settings(monkeypatch: pytest.MonkeyPatch, **environ: str) -> KafkaSettings:
    """The worker's settings as the shell makes them (``sendwatch.settings``), from these
    variables alone (no .env)."""
    from sendwatch.settings import load

    for name in list(os.environ):
        if name.startswith("SENDWATCH_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return load(env_file=None).kafka()


def test_settings_come_from_the_environment_and_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = kafka_settings(
        monkeypatch, SENDWATCH_KAFKA_SESSION_TIMEOUT="6", SENDWATCH_KAFKA_TAKE="500"
    )
    assert settings.session_timeout == 6.0 and settings.take == 500
    assert settings.heartbeat_interval == KafkaSettings().heartbeat_interval
    assert settings.group_for("events") == "sendwatch-events"
    with pytest.raises(ValueError, match="SENDWATCH_KAFKA_TAKE"):
        kafka_settings(monkeypatch, SENDWATCH_KAFKA_TAKE="many")
    assert settings.trust_records
    assert not kafka_settings(monkeypatch, SENDWATCH_KAFKA_TRUST_RECORDS="false").trust_records
    with pytest.raises(ValueError, match="SENDWATCH_KAFKA_TRUST_RECORDS: expected true or false"):
        kafka_settings(monkeypatch, SENDWATCH_KAFKA_TRUST_RECORDS="maybe")
    # the defaults of the shell's settings are the dataclass's own
    assert kafka_settings(monkeypatch) == KafkaSettings()


def test_a_replayed_or_repeated_message_changes_nothing() -> None:
    """At-least-once delivery: offsets below the position are skipped, and an event id
    already applied (the same event produced twice) is skipped by the projector."""
    line = orjson.dumps(
        {
            "event_id": "e1",
            "type": "request.received",
            "case_id": "KC-1",
            "occurred_at": "2025-06-02",
            "data": {"requested_by": "parent"},
        }
    )
    state = PartitionState(0)
    first = apply_messages(
        state, [(0, b"KC-1", line, KAFKA_TS, ()), (1, b"KC-1", line, KAFKA_TS, ())]
    )
    assert (first.new, first.duplicates, state.position) == (1, 1, 2)
    again = apply_messages(
        state, [(0, b"KC-1", line, KAFKA_TS, ()), (1, b"KC-1", line, KAFKA_TS, ())]
    )
    assert (again.new, again.duplicates, state.position) == (0, 0, 2)
    bad = apply_messages(state, [(2, None, b"{not json", KAFKA_TS, ())])
    assert state.rejected == 1 and bad.rejected[0][3].startswith("not valid JSON")


def test_an_event_id_used_again_for_a_different_event_is_a_dead_letter_on_kafka_too() -> None:
    """CONTRACT.md 1.1, one id, one event: the same id with other content (here another
    day) is rejected with the reason, the first applied stays; an exact repeat, even
    recorded again at another time, is a duplicate as before."""

    def message(offset: int, occurred: str, recorded: str) -> Any:
        value = {
            "event_id": "e1",
            "type": "request.received",
            "case_id": "KC-1",
            "occurred_at": occurred,
            "recorded_at": recorded,
            "data": {"requested_by": "parent"},
        }
        return (offset, b"KC-1", orjson.dumps(value), KAFKA_TS, ())

    state = PartitionState(0)
    done = apply_messages(
        state,
        [
            message(0, "2025-06-02", "2025-06-02T10:00:00Z"),
            message(1, "2025-06-02", "2025-06-03T10:00:00Z"),  # recorded again: a repeat
            message(2, "2025-06-09", "2025-06-09T10:00:00Z"),  # another day: a conflict
        ],
    )
    assert (done.new, done.duplicates, state.rejected) == (1, 1, 1)
    assert done.rejected[0][0] == 2
    assert done.rejected[0][3] == "event_id already used for a different event"
    assert [e.day for e in state.projector.events_of("KC-1")] == [date(2025, 6, 2)]


def test_the_bulk_readers_fetch_is_split_by_partition_with_each_partitions_end() -> None:
    """What librdkafka hands the bulk reader: messages (their Kafka timestamp, or -1 when
    there is none; headers as they came), a partition's end with its offset (the high
    watermark of the fetch that reached it), and other errors, which are only logged."""
    from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, Message

    from streams.kafka_worker import read_fetched

    mark = [RECORD_MARK]
    fetched = [
        Message(topic="t", partition=1, offset=4, key=b"KC-1", value=b"a",
                timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_000), headers=mark),
        Message(topic="t", partition=0, offset=9, key=None, value=b"b"),
        Message(topic="t", partition=1, offset=5, key=b"KC-2", value=None),
        Message(topic="t", partition=1, offset=6, error=KafkaError(KafkaError._PARTITION_EOF)),
        Message(topic="t", partition=3, offset=0, error=KafkaError(KafkaError._PARTITION_EOF)),
        Message(topic="t", partition=0, error=KafkaError(KafkaError._TRANSPORT)),
    ]  # fmt: skip
    by_partition, ends = read_fetched(fetched)
    assert by_partition == {
        1: [(4, b"KC-1", b"a", 1_700_000_000_000, mark), (5, b"KC-2", None, -1, ())],
        0: [(9, None, b"b", -1, ())],
    }
    assert ends == {1: 6, 3: 0}  # an empty partition ends at 0


def test_a_marked_stored_record_skips_validation_and_a_marked_non_record_is_rejected() -> None:
    """A message marked ``sendwatch-record: 1`` holds a record ``events.decode`` produced:
    it is read as it is (so it must be one). Marked garbage is rejected with a reason, never
    raised; without the mark, or with ``trust_records`` off, the full validation runs."""
    record = decode(
        orjson.dumps(
            {
                "event_id": "e1",
                "type": "request.received",
                "case_id": "KC-1",
                "occurred_at": "2025-06-02",
                "data": {"requested_by": "parent"},
            }
        ),
        arrival=datetime(2025, 6, 3, tzinfo=UTC),
    )
    stored = orjson.dumps(record)
    mark = [RECORD_MARK]
    state = PartitionState(0)
    applied = apply_messages(state, [(0, b"KC-1", stored, KAFKA_TS, mark)])
    assert (applied.new, applied.stored, applied.rejected) == (1, 1, [])
    want = PartitionState(0)
    apply_messages(want, [(0, b"KC-1", stored, KAFKA_TS, ())])  # validated: the same state
    now = date(2025, 6, 30)
    assert state.projector.tally(now, Period.default(now)) == want.projector.tally(
        now, Period.default(now)
    )
    no_recorded_at = {k: v for k, v in record.items() if k != "recorded_at"}
    garbage = [
        (b"not json at all", "stored record: not valid JSON"),
        (b"[1, 2]", "stored record: expected a JSON object"),
        (orjson.dumps(no_recorded_at), "stored record: recorded_at: Field required"),
        (orjson.dumps({**record, "type": "plan.teleported"}), "unknown event type"),
        (orjson.dumps({**record, "case_id": 7}), "case_id: expected a non-empty string"),
        (orjson.dumps({**record, "occurred_at": "soon"}), "stored record: "),
        (orjson.dumps({**record, "data": [1]}), "data: expected a JSON object"),
        (orjson.dumps({**record, "schema": 9}), "schema 9 is newer"),
    ]
    messages = [(1 + n, None, value, KAFKA_TS, mark) for n, (value, _) in enumerate(garbage)]
    bad = apply_messages(state, messages)
    assert (bad.new, bad.stored, state.position) == (0, len(garbage), 1 + len(garbage))
    for (_, _, raw, reason), (value, expected) in zip(bad.rejected, garbage, strict=True):
        assert raw == value and expected in reason, (reason, expected)
    # not trusted: a marked message is validated like any other
    strict = PartitionState(0)
    checked = apply_messages(
        strict, [(0, None, orjson.dumps(no_recorded_at), KAFKA_TS, mark)], False
    )
    assert (checked.new, checked.stored) == (1, 0)


def test_partial_tallies_round_trip_exactly() -> None:
    state = PartitionState(3)
    line = orjson.dumps(
        {
            "event_id": "e1",
            "type": "request.received",
            "case_id": "KC-1",
            "occurred_at": "2025-06-02",
            "data": {"requested_by": "parent"},
        }
    )
    apply_messages(state, [(0, b"KC-1", line, KAFKA_TS, ())])
    now = date(2025, 6, 30)
    query = (now, Period.default(now))
    partial = decode_partial(encode_partial(state, [query], "w1"))
    assert partial is not None
    assert (partial.partition, partial.offset, partial.events, partial.cases) == (3, 1, 1, 1)
    counted = {key: n for key, n in state.projector.tally(*query).items() if n}
    assert partial.tallies[query] == counted
    assert decode_partial(b'{"version": 99}') is None


# --- on the broker ------------------------------------------------------------------------


@pytest.mark.integration
def test_worker_measures_equal_sendwatch_metrics_over_the_same_file(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """(a) kcat produces a simulated history; the worker's /api/measures equals
    ``sendwatch metrics`` over the file with the same --now, field for field."""
    topic = topic_for(request, broker)
    lines = history[1]
    kcat_produce(broker, topic, keyed_lines(lines), tmp_path)
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    health = worker.wait_for(len(lines))
    assert_measures(worker, expected)
    assert health["cases"] == len({orjson.loads(line)["case_id"] for line in lines})
    assert metric(worker, "sendwatch_events_applied") == len(lines)
    assert metric(worker, "sendwatch_worker_partitions") == 4
    # the contract's other endpoints are served too: alerts for the overdue clocks
    overdue = sum(expected[c]["overdue"] for c in ("assess_decision", "final_plan"))
    assert overdue > 0
    firing = _wait_for_alerts(worker)
    assert {"ClockOverdue"} <= {a["alertname"] for a in firing}
    assert metric(worker, "sendwatch_alerts_firing", severity="critical") >= 1
    # every changed case judged (in slices, the worker answering between them): the
    # per-case alerts are those the embedded service's engine finds in the same history
    deadline = time.monotonic() + 60
    while worker.health()["alerts_pending"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert worker.health()["alerts_pending"] == 0
    judged = {
        a["fingerprint"]
        for a in worker.get("/api/alerts").json()["alerts"]
        if a["state"] == "firing" and a["case_id"]
    }
    assert judged == embedded_case_alerts(lines)
    case_id = orjson.loads(lines[0])["case_id"]
    assert worker.get(f"/api/cases/{case_id}").json()["case_id"] == case_id
    # a worker that owns every partition answers any period exactly, as-at included
    other = worker.get("/api/measures", **{"from": "2025-01-01", "as_at": "2025-05-31"})
    assert other.status_code == 200
    want = file_measures(history[0], "--from", "2025-01-01", "--as-at", "2025-05-31")
    assert other.json() == want, differences(other.json(), want)


@pytest.mark.integration
def test_records_from_sendwatch_ingest_skip_validation_and_marked_garbage_is_a_dead_letter(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """``sendwatch ingest --broker`` validates every line and produces stored records marked
    ``sendwatch-record: 1``; the worker reads them without validating again (``/healthz``
    counts them) and its measures equal ``sendwatch metrics`` over the file. Messages from
    another producer carrying the mark but holding no record go to the dead-letter topic
    with a reason, and the worker goes on applying the partition's later messages."""
    topic = topic_for(request, broker)
    path, lines = history
    head, tail = tmp_path / "head.jsonl", tmp_path / "tail.jsonl"
    head.write_bytes(b"\n".join(lines[:-20]) + b"\n")
    tail.write_bytes(b"\n".join(lines[-20:]) + b"\n")
    done = sendwatch("ingest", str(head), "--broker", broker.url, "--topic", topic)
    assert done.returncode == 0, done.stderr
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    health = worker.wait_for(len(lines) - 20)
    assert health["messages"] == {"marked_records": len(lines) - 20, "validated": 0}

    # marked, but not records: keyed by the cases of the lines that follow, so that those
    # come after them on the same partitions
    record = orjson.loads(lines[-1])
    no_recorded_at = {k: v for k, v in record.items() if k != "recorded_at"}
    garbage = [b"not json", b"[1, 2]", orjson.dumps(no_recorded_at)]
    producer = KafkaProducer(bootstrap_servers=[broker.address], acks="all")
    try:
        for n, value in enumerate(garbage):
            key = orjson.loads(lines[-1 - n])["case_id"].encode()
            producer.send(topic, key=key, value=value, headers=[RECORD_MARK])
        producer.flush()
    finally:
        producer.close()
    done = sendwatch("ingest", str(tail), "--broker", broker.url, "--topic", topic)
    assert done.returncode == 0, done.stderr

    health = worker.wait_for(len(lines))
    assert health["messages"] == {"marked_records": len(lines) + 3, "validated": 0}
    letters = _dead_letters(broker, topic, 3)
    assert sorted(value for value, _ in letters) == sorted(garbage)
    reasons = {value: headers["reason"].decode() for value, headers in letters}
    assert reasons[garbage[0]].startswith("stored record: not valid JSON")
    assert reasons[garbage[1]] == "stored record: expected a JSON object"
    assert reasons[garbage[2]] == "stored record: recorded_at: Field required"
    _wait_metric(worker, "sendwatch_dead_letters_total", 3)
    got = measures(worker)
    assert got["dead_letters"] == 3
    assert {**got, "dead_letters": 0} == expected, differences(got, expected)
    assert file_measures(path)["dead_letters"] == 0


def embedded_case_alerts(lines: list[bytes]) -> set[str]:
    """The fingerprints of the per-case alerts firing on NOW over a history, as the
    embedded service's engine finds them."""
    projector = Projector()
    replay_lines(projector, lines, origin="test")
    engine = Engine(load_rules(None, POINTS))
    engine.update(projector, date.fromisoformat(NOW), datetime.now(UTC))
    return {a.fingerprint for a in engine.alerts() if a.state == "firing" and a.finding.case_id}


def _wait_for_alerts(worker: WorkerProcess, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alerts = worker.get("/api/alerts").json()["alerts"]
        firing = [a for a in alerts if a["state"] == "firing"]
        if firing:
            return firing
        time.sleep(0.5)
    raise AssertionError(f"no alert after {timeout:.0f} s\n{worker.tail()}")


@pytest.mark.integration
def test_a_worker_killed_mid_stream_restarts_with_nothing_lost_or_counted_twice(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """(b) kill -9 while events are arriving; the restarted worker rebuilds its partitions
    from the event topic: still equal to the file."""
    topic = topic_for(request, broker)
    _, lines = history
    half = len(lines) // 2
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    kcat_produce(broker, topic, keyed_lines(lines[:half]), tmp_path)
    worker.wait_for(half)
    kcat_produce(broker, topic, keyed_lines(lines[half : half + 500]), tmp_path)
    worker.kill()  # mid-stream: the last batch may or may not have been applied
    kcat_produce(broker, topic, keyed_lines(lines[half + 500 :]), tmp_path)
    restarted = start_worker(broker, topic, tmp_path)
    workers.append(restarted)
    restarted.wait_for(len(lines))
    assert_measures(restarted, expected, len(lines))


@pytest.mark.integration
def test_two_workers_share_the_partitions_and_each_assembles_the_whole(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """(c) Two workers split the four partitions; each publishes its partitions' partial
    tallies and each one's assembled measures equal the file's."""
    topic = topic_for(request, broker)
    _, lines = history
    kcat_produce(broker, topic, keyed_lines(lines), tmp_path)
    first = start_worker(broker, topic, tmp_path)
    workers.append(first)
    first.wait_for(len(lines))
    second = start_worker(broker, topic, tmp_path)
    workers.append(second)
    owned: list[set[str]] = []
    for worker in (first, second):
        deadline_health = _wait_until_shared(worker)
        owned.append(set(deadline_health["partitions"]))
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == {"0", "1", "2", "3"}
    for worker in (first, second):
        assert_measures(worker, expected)
    # /metrics: each worker its own partitions; the owner of partition 0 the whole topic's
    # measures, so that Prometheus's sums over the workers count everything once
    applied = [metric(worker, "sendwatch_events_applied") for worker in (first, second)]
    assert all(applied) and sum(applied) == len(lines)
    whole = [w for w, mine in zip((first, second), owned, strict=True) if "0" in mine]
    other = [w for w, mine in zip((first, second), owned, strict=True) if "0" not in mine]
    completed = expected["final_plan"]["completed"]
    assert metric(whole[0], "sendwatch_clock_completed", clock="final_plan", window="12m") == (
        completed
    )
    assert "sendwatch_clock_completed" not in other[0].get("/metrics").text
    # periods other than the published ones cannot be assembled: a clear 400
    answer = first.get("/api/measures", **{"from": "2025-01-01"})
    assert answer.status_code == 400 and "published periods" in answer.json()["detail"]


def _wait_until_shared(worker: WorkerProcess, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    health = None
    while time.monotonic() < deadline:
        health = worker.health()
        if health and health.get("ok") and 0 < len(health["partitions"]) < 4:
            return health
        time.sleep(0.25)
    raise AssertionError(f"the partitions were not shared: {health}\n{worker.tail()}")


@pytest.mark.integration
def test_the_worker_recovers_by_itself_after_the_broker_is_frozen_for_10_seconds(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """(d) SIGSTOP the broker for 10 s, then SIGCONT; events produced afterwards arrive."""
    topic = topic_for(request, broker)
    _, lines = history
    half = len(lines) // 2
    kcat_produce(broker, topic, keyed_lines(lines[:half]), tmp_path)
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    worker.wait_for(half)
    broker.freeze()
    try:
        time.sleep(10)
    finally:
        broker.thaw()
    kcat_produce(broker, topic, keyed_lines(lines[half:]), tmp_path)
    worker.wait_for(len(lines))
    assert_measures(worker, expected)


@pytest.mark.integration
def test_malformed_messages_reach_the_dead_letter_topic_with_the_reason_and_are_counted(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """(e) Messages from another producer that break the contract go to ``T.dead-letters``
    with the reason in a header; /metrics counts them. ``sendwatch ingest --broker`` sends
    its invalid lines there too, and reports a summary as the embedded ingest does."""
    topic = topic_for(request, broker)
    _, lines = history
    good = lines[:200]
    malformed = [
        b"this is not json",
        b'{"event_id": "m2", "type": "request.received", "case_id": "KC-M2"}',
        b'{"event_id": "m3", "type": "plan.teleported", "case_id": "KC-M3",'
        b' "occurred_at": "2025-06-01", "data": {}}',
    ]
    kcat_produce(broker, topic, keyed_lines(good + malformed), tmp_path)
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    worker.wait_for(len(good))
    letters = _dead_letters(broker, topic, 3)
    assert sorted(value for value, _ in letters) == sorted(malformed)
    reasons = {value: headers["reason"].decode() for value, headers in letters}
    assert reasons[malformed[0]].startswith("not valid JSON")
    assert "occurred_at" in reasons[malformed[1]]
    assert "unknown event type 'plan.teleported'" in reasons[malformed[2]]
    assert all(h["origin"].decode().startswith(f"kafka {topic} partition ") for _, h in letters)
    _wait_metric(worker, "sendwatch_dead_letters_total", 3)
    assert metric(worker, "sendwatch_events_rejected_total") == 3
    assert measures(worker)["dead_letters"] == 3

    # the producer's own dead letters, and its summary
    source = tmp_path / "ingest.jsonl"
    source.write_bytes(b"\n".join([*lines[200:210], lines[200], b'{"type": 1}']) + b"\n")
    summary = produce_file(str(source), broker=broker.url, topic=topic, partitions=4)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (10, 1, 1)
    assert summary.first_rejections[0].origin == f"{source} line 12"
    letters = _dead_letters(broker, topic, 4)
    assert letters[-1][1]["origin"].decode() == f"{source} line 12"
    worker.wait_for(len(good) + 10)
    _wait_metric(worker, "sendwatch_dead_letters_total", 4)

    # POST /api/events in Kafka mode: validated, produced, applied by the partition's owner
    posted = httpx.post(
        worker.url + "/api/events",
        content=lines[210] + b"\n" + b'{"event_id": "m5"}\n',
        headers={**worker.headers, "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert (body["accepted"], [r["line"] for r in body["rejected"]]) == (1, [2])
    worker.wait_for(len(good) + 11)
    _wait_metric(worker, "sendwatch_dead_letters_total", 5)


def _dead_letters(broker: Broker, topic: str, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = KafkaConsumer(
        bootstrap_servers=[broker.address], group_id=None, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(dead_letter_topic(topic), 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        found: list[tuple[bytes, dict[str, bytes]]] = []
        for _ in range(60):
            for records in consumer.poll(timeout_ms=500).values():
                found.extend((r.value, dict(r.headers)) for r in records)
            if len(found) >= count:
                break
        assert len(found) == count, found
        return found
    finally:
        consumer.close()


def _wait_metric(worker: WorkerProcess, name: str, value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = metric(worker, name)
        if seen == value:
            return
        time.sleep(0.25)
    raise AssertionError(f"{name} is {seen}, not {value}")


@pytest.mark.integration
def test_an_import_to_the_broker_gives_the_measures_of_the_same_import_to_the_log(
    request: pytest.FixtureRequest,
    broker: Broker,
    workers: list[WorkerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sendwatch import MAPPING DIR --broker``: the rows go through the one ingest pipeline
    to the topic, pseudonymised; a worker's measures over the topic equal ``sendwatch
    metrics`` over the same export imported into the embedded log, and importing it to the
    topic again adds nothing the worker counts twice."""
    from tests.test_import import MAPPING, SECRET, UPNS, write_export

    monkeypatch.setenv("SENDWATCH_IMPORT_SECRET", SECRET)
    topic = topic_for(request, broker)
    (tmp_path / "casefile.yml").write_text(MAPPING, encoding="utf-8")
    folder = tmp_path / "export"
    write_export(folder, bad_date=True)  # one bad row: a dead letter on both paths
    mapping = str(tmp_path / "casefile.yml")
    for _ in range(2):
        done = sendwatch("import", mapping, str(folder), "--broker", broker.url, "--topic", topic)
        assert done.returncode == 0, done.stderr
    assert "rows rejected: 1" in done.stderr
    db = tmp_path / "s.db"
    done = sendwatch("import", mapping, str(folder), "--db", str(db))
    assert done.returncode == 0, done.stderr
    stored = tmp_path / "stored.jsonl"
    with EventLog.open_existing(db) as log:
        records = [orjson.dumps(record) for _, record in log.read()]
    stored.write_bytes(b"\n".join(records) + b"\n")
    want = file_measures(stored)
    if broker.kind == "kafka":
        # each import a producer of its own, idempotent (a producer id, not -1): its retries
        # are stored once, but a second import is another producer, so every event is on
        # the topic twice; the workers' fold skips the repeated event ids
        batches = [b for found in stored_batches(broker, topic).values() for b in found]
        assert len({b.producer_id for b in batches}) == 2
        assert min(b.producer_id for b in batches) >= 0
        assert sum(b.records_count for b in batches) == 2 * len(records)
    worker = start_worker(broker, topic, tmp_path)
    workers.append(worker)
    worker.wait_for(len(records))
    got = measures(worker)
    assert {**got, "dead_letters": 0} == {**want, "dead_letters": 0}, differences(got, want)
    assert metric(worker, "sendwatch_events_applied") == len(records)
    consumer = KafkaConsumer(
        bootstrap_servers=[broker.address], auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        consumer.subscribe([topic])
        values = b"".join(message.value for message in consumer)
    finally:
        consumer.close()
    assert values
    for upn in UPNS:
        assert upn.encode() not in values and upn.lower().encode() not in values


@pytest.mark.integration
def test_apache_kafka_starts_from_the_jars_the_project_fetched(tmp_path: Path) -> None:
    """scripts/kafka-jars.sh fetched Apache Kafka's jars (make test runs it); the fixture
    formats a KRaft data folder, starts the broker on loopback, and ``sendwatch ingest
    --broker`` stores a file's events on it with the idempotent producer's acks."""
    history = simulate(seed=5, years=1, end=date(2025, 6, 30), calibration=SMALL_COUNCIL)
    events = list(history)[:500]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    with apache_kafka(tmp_path) as kafka:
        done = sendwatch("ingest", str(path), "--broker", kafka.url, "--topic", "events")
        assert done.returncode == 0, done.stderr
        consumer = KafkaConsumer(
            "events",
            bootstrap_servers=[kafka.address],
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        try:
            got = [message.value for message in consumer]
        finally:
            consumer.close()
    assert len(got) == len(events)


@pytest.mark.integration
def test_the_worker_finds_the_event_topics_partitions_by_asking_for_the_topic_by_name(
    request: pytest.FixtureRequest, broker: Broker
) -> None:
    """A worker counts the event topic's partitions with a Metadata request naming the
    topic. aiokafka's client metadata (bootstrapped with a request naming no topics) knew
    them on Tansu, which answers such a request with every topic, but never on Apache
    Kafka, which answers it with none: there the worker waited for ever, every partition
    'rebuilding'. A topic the broker does not have counts 0 (and is not created by asking)."""
    topic = topic_for(request, broker)
    assert count_partitions([broker.address], topic) == 4
    missing = topic + "-missing"
    assert count_partitions([broker.address], missing) == 0
    consumer = KafkaConsumer(bootstrap_servers=[broker.address])
    try:
        assert missing not in consumer.topics()
    finally:
        consumer.close()


def _only_on_apache_kafka(broker: Broker) -> None:
    if broker.kind != "kafka":
        pytest.skip("checks what Apache Kafka stores (Tansu keeps no log files, never compacts)")


@pytest.mark.integration
def test_ingest_and_import_to_the_broker_use_the_idempotent_producer_and_store_each_event_once(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    tmp_path: Path,
) -> None:
    """``sendwatch ingest --broker`` produces with kafka-python's idempotent producer
    (``enable_idempotence=True``, ``acks=all``): Apache Kafka gave it a producer id
    (InitProducerId), and every batch in the topic's log segments carries that id and a
    sequence number, the sequences of each partition following on without a gap or a
    repeat; each event is stored once. ``sendwatch import --broker`` uses the same
    producer (``streams.kafka.EventProducer``)."""
    _only_on_apache_kafka(broker)
    topic = topic_for(request, broker)
    path, lines = history
    done = sendwatch("ingest", str(path), "--broker", broker.url, "--topic", topic)
    assert done.returncode == 0, done.stderr
    stored = stored_batches(broker, topic)
    batches = [batch for partition in stored.values() for batch in partition]
    assert len(stored) == 4 and batches
    assert len({b.producer_id for b in batches}) == 1  # one ingest, one producer
    assert batches[0].producer_id >= 0  # -1: a producer without idempotence
    assert not any(b.is_transactional for b in batches)
    for partition, in_order in stored.items():
        sequence = 0  # each partition's sequence numbers run on from 0, no gap, no repeat
        for batch in in_order:
            assert batch.base_sequence == sequence, (partition, batch.base_offset)
            sequence = batch.last_sequence + 1
    assert sum(b.records_count for b in batches) == len(lines)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[broker.address],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        ids = [orjson.loads(message.value)["event_id"] for message in consumer]
    finally:
        consumer.close()
    assert sorted(ids) == sorted(orjson.loads(line)["event_id"] for line in lines)


@pytest.mark.integration
def test_the_partials_topic_is_compacted_to_each_partitions_newest_tally_and_still_assembles(
    request: pytest.FixtureRequest,
    broker: Broker,
    history: tuple[Path, list[bytes]],
    expected: dict[str, Any],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """``T.partials`` is compacted (``cleanup.policy=compact``): Apache Kafka's log cleaner
    keeps only each partition's newest partial tally, and a worker joining afterwards still
    assembles the whole topic's measures from what is left. The test topic rolls a segment
    every 100 ms and cleans at any dirty share (``segment.ms``, ``min.cleanable.dirty.ratio``),
    so that the cleaner (looking every 0.5 s, ``KAFKA_TEST_SETTINGS``) compacts within
    seconds: the history arrives in six parts, and each part makes every partition's owner
    publish a newer partial of it."""
    _only_on_apache_kafka(broker)
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    topic = topic_for(request, broker)
    admin = KafkaAdminClient(bootstrap_servers=[broker.address])
    changed = {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}
    try:
        deadline = time.monotonic() + 15
        while True:
            try:  # kafka-python checks the names against the topic's described configs,
                # which a topic made a moment ago may not have yet: ask again
                admin.alter_configs(
                    [
                        ConfigResource(
                            ConfigResourceType.TOPIC, partials_topic(topic), configs=changed
                        )
                    ]
                )
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()
    _, lines = history
    first = start_worker(broker, topic, tmp_path)
    workers.append(first)
    step = len(lines) // 6 + 1
    for start in range(0, len(lines), step):
        kcat_produce(broker, topic, keyed_lines(lines[start : start + step]), tmp_path)
        first.wait_for(min(len(lines), start + step))
        time.sleep(1)  # published, and the segment older than segment.ms
    published, kept = _partials(broker, topic)
    assert published >= 4 * 6  # every partition's partial, at least once per part
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(kept) > 8:
        first.get("/api/measures")  # nothing to publish: the last values stay as they are
        time.sleep(1)
        published, kept = _partials(broker, topic)
    # compacted: at most one value per partition below the active segment, plus the active
    # segment's (the cleaner never touches the segment being written)
    assert len(kept) <= 8, (published, [key for key, _ in kept])
    assert {key for key, _ in kept} == {b"0", b"1", b"2", b"3"}
    newest = {key: orjson.loads(value)["offset"] for key, value in kept}
    assert sum(newest.values()) == len(lines)  # each partition's newest partial survived
    second = start_worker(broker, topic, tmp_path)
    workers.append(second)
    for worker in (first, second):
        _wait_until_shared(worker)
        assert_measures(worker, expected)


def _partials(broker: Broker, topic: str) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The partials topic's end offset (how many partials were ever published) and the
    (key, value) pairs it still holds."""
    consumer = KafkaConsumer(
        bootstrap_servers=[broker.address], group_id=None, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(partials_topic(topic), 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        kept: list[tuple[bytes, bytes]] = []
        while consumer.position(tp) < end:
            for records in consumer.poll(timeout_ms=500).values():
                kept.extend((r.key, r.value) for r in records)
        return end, kept
    finally:
        consumer.close()
