"""Kafka as the event log: broker addresses, the topics, settings, and the producer behind
``sendwatch ingest PATH --broker kafka://HOST:PORT``.

The topics of one event topic ``T`` (see docs/kafka.md):

- ``T``: the events, one JSON record per message, keyed by ``case_id`` so that a case's
  events stay in order on one partition. It keeps everything (``retention.ms=-1``,
  ``cleanup.policy=delete``): it is the record that every worker rebuilds its state from.
- ``T.dead-letters``: input that failed validation, the raw bytes as they came, with the
  ``reason`` and ``origin`` in message headers.
- ``T.partials``: compacted, keyed by partition: each worker's latest partial tallies of the
  partitions it owns, which any worker merges into the whole picture.
- ``T.snapshots``: compacted, as many partitions as ``T``: partition P holds the snapshots
  of ``T``'s partition P's folded state (``streams.kafka_snapshots``), so that a worker
  restarts from state and reads only the tail.

Every line is validated by the one ingest pipeline (``streams.ingest.ingest``, to a
``TopicSink``) before it is produced; the producer is kafka-python's, idempotent, with
``acks=all``. What it produces is the stored record (the event normalised by
``events.decode``), marked with the header ``sendwatch-record: 1``: a worker takes a message
with that header as already validated and skips the validation (``events.codec.from_stored``),
unless ``SENDWATCH_KAFKA_TRUST_RECORDS`` is off. Any producer allowed to write the topic can
set that header: who may write it is the trust boundary (Kafka ACLs in production,
docs/kafka.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import orjson
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from events import Event, Record
from streams.ingest import IngestSummary, ingest
from streams.kafka_snapshots import SNAPSHOT_TOPIC_CONFIG, snapshots_topic
from streams.log import Rejected
from streams.replay import open_lines

DEAD_LETTERS = ".dead-letters"
# The header of a message whose value is a record stored by sendwatch (validated by
# ``events.decode`` when it was produced); the value is the record format's version.
RECORD_HEADER = "sendwatch-record"
RECORD_FORMAT = b"1"
RECORD_MARK = (RECORD_HEADER, RECORD_FORMAT)
PARTIALS = ".partials"
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


class BrokerError(ValueError):
    """A broker URL that cannot be used, or a broker that cannot be reached."""


def parse_broker(url: str) -> list[str]:
    """``kafka://HOST:PORT[,HOST:PORT...]`` as kafka-python's bootstrap servers."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "kafka":
        raise BrokerError(f"broker: expected kafka://HOST:PORT[,HOST:PORT], got {url!r}")
    servers = [part.strip() for part in rest.rstrip("/").split(",")]
    for server in servers:
        match = _ADDRESS.match(server)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise BrokerError(
                f"broker: {server!r} in {url!r} is not HOST:PORT "
                "(expected kafka://HOST:PORT[,HOST:PORT])"
            )
    return servers


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTERS


def partials_topic(topic: str) -> str:
    return topic + PARTIALS


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Broker timings and worker tuning. The shell makes them from the ``SENDWATCH_KAFKA_*``
    settings (``sendwatch.settings.Settings.kafka``); nothing here reads the environment.

    The defaults suit Apache Kafka in production. The tests set ``SESSION_TIMEOUT=6``,
    ``HEARTBEAT_INTERVAL=1`` and ``REBALANCE_TIMEOUT=10``: a killed worker leaves the group
    after 6 s, and Tansu holds a group join for half the session timeout (docs/kafka.md).
    """

    session_timeout: float = 45.0  # seconds without a heartbeat before a worker is dropped
    heartbeat_interval: float = 3.0
    rebalance_timeout: float = 60.0
    partitions: int = 12  # partitions of an event topic the worker has to create
    replication: int = 1  # replication factor of the topics sendwatch creates
    take: int = 10_000  # events per stream.take() batch
    take_within: float = 0.5  # seconds a take() batch waits to fill
    catch_up_lag: int = 5_000  # a partition this far behind is caught up in bulk
    publish_interval: float = 1.0  # seconds between publishing partial tallies
    query_wait: float = 10.0  # seconds to wait for every partition's partial tally
    group: str = ""  # the consumer group (Faust app id); default "sendwatch-<topic>"
    loglevel: str = "warn"  # Faust's log level: crit, error, warn, info or debug
    # take messages marked ``sendwatch-record: 1`` as validated (only sendwatch writes them)
    trust_records: bool = True
    # a partition's snapshot (T.snapshots) is written after this many new events, or this
    # many seconds after a change, and on a clean stop or a revocation (0: never)
    snapshot_events: int = 100_000
    snapshot_interval: float = 600.0

    def group_for(self, topic: str) -> str:
        return self.group or f"sendwatch-{topic}"


def admin(servers: list[str]) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=servers, client_id="sendwatch-admin")
    except KafkaError as error:
        raise BrokerError(f"cannot reach the broker at {','.join(servers)}: {error}") from None


# The event topic is the record: kept for ever, never compacted (deploy/compose.yaml's
# `topic` service creates it with these; tests/test_deploy.py holds them equal).
EVENT_TOPIC_CONFIG: dict[str, str] = {
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}


def ensure_topics(
    servers: list[str], topic: str, partitions: int, replication: int = 1
) -> dict[str, int]:
    """Create the event topic and its companions where missing; returns each one's partitions.

    An existing event topic keeps the partitions it has (changing them would move cases
    between partitions)."""
    if partitions < 1:
        raise ValueError(f"partitions: expected at least 1, got {partitions}")
    keep = dict(EVENT_TOPIC_CONFIG)
    wanted = [
        NewTopic(topic, partitions, replication, topic_configs=keep),
        NewTopic(dead_letter_topic(topic), 1, replication, topic_configs=keep),
        NewTopic(
            partials_topic(topic), 1, replication, topic_configs={"cleanup.policy": "compact"}
        ),
    ]
    client = admin(servers)
    try:
        for new in wanted:
            with suppress(TopicAlreadyExistsError):
                client.create_topics([new])
        described = client.describe_topics([new.name for new in wanted])
        # T.snapshots: partition P holds the snapshot of T's partition P
        count = next(len(item["partitions"]) for item in described if item["name"] == topic)
        snapshots = NewTopic(
            snapshots_topic(topic), count, replication, topic_configs=SNAPSHOT_TOPIC_CONFIG
        )
        with suppress(TopicAlreadyExistsError):
            client.create_topics([snapshots])
    finally:
        client.close()
    return {item["name"]: len(item["partitions"]) for item in described}


class EventProducer:
    """Validated events to the event topic, rejects to the dead-letter topic.

    kafka-python's producer with ``acks='all'`` and ``enable_idempotence=True``: a retried
    send is not stored twice. Messages are keyed by ``case_id`` (murmur2, as Java's and
    Faust's producers partition), so one case's events stay in order on one partition.
    """

    def __init__(self, servers: list[str], topic: str, partitions: int, replication: int = 1):
        self.topic = topic
        self.partitions = ensure_topics(servers, topic, partitions, replication)[topic]
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=servers,
                client_id="sendwatch-ingest",
                acks="all",
                enable_idempotence=True,
                linger_ms=20,
                batch_size=512 * 1024,
                max_request_size=8 * 1024 * 1024,
            )
        except KafkaError as error:
            raise BrokerError(f"cannot reach the broker at {','.join(servers)}: {error}") from None
        self._failures: list[BaseException] = []
        self._partition_of: dict[bytes, int] = {}

    def partition(self, key: bytes) -> int:
        """The partition of a key, as kafka-python's default partitioner (and Java's) picks
        it: murmur2, in pure Python, so each case's is remembered (a case has many events)."""
        partition = self._partition_of.get(key)
        if partition is None:
            partition = (murmur2(key) & 0x7FFFFFFF) % self.partitions
            self._partition_of[key] = partition
        return partition

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _failed(self, error: BaseException) -> None:
        self._failures.append(error)

    def send_record(self, record: Record) -> None:
        """Produce one validated record, keyed by its case, marked as a stored record."""
        key = record["case_id"].encode()
        future = self._producer.send(
            self.topic,
            key=key,
            value=orjson.dumps(record),
            headers=[RECORD_MARK],
            partition=self.partition(key),
        )
        future.add_errback(self._failed)

    def flush(self) -> None:
        """Wait until every message sent is acknowledged; raise if any was not."""
        self._producer.flush()
        if self._failures:
            failures, self._failures = self._failures, []
            raise BrokerError(
                f"{len(failures):,} messages were not acknowledged by the broker "
                f"(first: {failures[0]}); nothing is lost by sending them again, "
                "the workers skip event ids they have applied"
            )

    def send_dead_letter(self, rejected: Rejected, key: bytes | None = None) -> None:
        future = self._producer.send(
            dead_letter_topic(self.topic),
            key=key,
            value=rejected.raw,
            headers=[
                ("reason", rejected.reason.encode()),
                ("origin", rejected.origin.encode()),
            ],
        )
        future.add_errback(self._failed)


@dataclass(frozen=True, slots=True)
class Sent:
    """What ``TopicSink.store`` did with a batch (``streams.ingest.Stored``)."""

    accepted: int
    duplicates: int
    conflicts: tuple[tuple[int, Rejected], ...] = ()  # none: ids are not looked up


class TopicSink:
    """The producer as an ingest sink (``streams.ingest.Sink``), for one input: its records
    to the event topic, its rejected lines to the dead-letter topic; ``store`` returns once
    the broker has acknowledged every message.

    ``duplicates`` counts event ids repeated within this input (not produced again). Ids
    already on the topic from an earlier ingest are not looked up here: the workers skip
    them when they apply (the fold is idempotent on ``event_id``).
    """

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self._seen: set[str] = set()

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event] = (),
    ) -> Sent:
        producer, seen = self.producer, self._seen
        accepted = duplicates = 0
        for record in records:
            event_id = record["event_id"]
            if event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
            producer.send_record(record)
            accepted += 1
        for letter in rejected:
            producer.send_dead_letter(letter)
        producer.flush()
        return Sent(accepted, duplicates)


def produce_file(
    path: str,
    *,
    broker: str,
    topic: str,
    partitions: int,
    council: str | None = None,
    replication: int = 1,
) -> IngestSummary:
    """``sendwatch ingest PATH --broker ...``: a JSONL file (or - for stdin) to Kafka;
    ``replication`` is that of the topics it creates (SENDWATCH_KAFKA_REPLICATION)."""
    servers = parse_broker(broker)
    with (
        EventProducer(servers, topic, partitions, replication) as producer,
        open_lines(path) as lines,
    ):
        return ingest(
            lines, TopicSink(producer), origin="stdin" if path == "-" else path, council=council
        )
