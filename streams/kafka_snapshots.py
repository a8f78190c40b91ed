"""Snapshots of a worker's partitions on Kafka: ``T.snapshots``, so a restart reads the tail.

A partition's snapshot is its projector's folded state (``Projector.save_snapshot``, the
format of ``projections.snapshot``: fold fingerprint, CRC) in an envelope saying which event
topic and partition it is of, the event-topic offset it covers (every message below it is
applied or rejected) and how many it rejected. It is one message of ``T.snapshots``, which
has as many partitions as ``T``: partition P's snapshot goes to partition P, keyed ``P``, and
the topic is compacted, so Kafka keeps each partition's newest snapshot.

One message, not chunks: a message is written and compacted whole, so a reader never sees
half of a snapshot or chunks of two (chunks keyed ``P:n`` would need a manifest and a
generation, and a kill -9 between chunks would leave a manifest to distrust). The message is
compressed by the producer (zstd: the JSON rows shrink several times), and the topic's
``max.message.bytes`` (and the producer's ``message.max.bytes``) are ``MAX_SNAPSHOT_BYTES``,
64 MiB compressed per partition: a Kent-sized five years over 12 partitions is a few MB a
partition. A larger partition is not snapshotted (it is logged): it costs only a replay,
and more partitions are the remedy.

A snapshot is a cache (DESIGN.md): a worker that cannot use one (none yet, damaged, of
another fold or another topic or partition, beyond the partition's end) replays the partition
from offset 0, as before. The tail from the snapshot's offset is always right, even after a
kill -9 left the snapshot older than Faust's committed position: the fold is idempotent and
the worker's position, not Faust's, decides what it reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaPartition

from projections import Projector
from projections.projector import Pause
from projections.snapshot import SnapshotError, fold_fingerprint

SNAPSHOTS = ".snapshots"
MARK = b"sendwatch partition snapshot\n"
ENVELOPE_VERSION = 1
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
# T.snapshots (streams.kafka.ensure_topics): compacted; old snapshots go once their segment
# (an hour, or 256 MiB) is closed and the cleaner passes
SNAPSHOT_TOPIC_CONFIG: dict[str, str] = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(MAX_SNAPSHOT_BYTES),
    "segment.ms": str(3600 * 1000),
    "segment.bytes": str(256 * 1024 * 1024),
}
log = logging.getLogger("sendwatch.kafka_service")


def snapshots_topic(topic: str) -> str:
    return topic + SNAPSHOTS


@dataclass(frozen=True, slots=True)
class Restored:
    """A partition's state loaded from its snapshot: apply the event topic from ``offset``."""

    projector: Projector
    offset: int
    rejected: int


def encode(projector: Projector, topic: str, partition: int, offset: int, rejected: int) -> bytes:
    """The snapshot message of one partition at ``offset`` (the projector's state there)."""
    projector.position = offset
    header = orjson.dumps(
        {
            "version": ENVELOPE_VERSION,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "rejected": rejected,
            "fold": fold_fingerprint(),
        }
    )
    return b"".join((MARK, len(header).to_bytes(4, "big"), header, projector.save_snapshot()))


def decode(
    value: bytes | None, topic: str, partition: int, pause: Pause = nullcontext
) -> tuple[Restored | None, str]:
    """The state in a snapshot message, or None and why it cannot be used."""
    if not value:
        return None, "no snapshot"
    if not value.startswith(MARK):
        return None, "not a sendwatch partition snapshot"
    start = len(MARK) + 4
    length = int.from_bytes(value[len(MARK) : start], "big")
    try:
        header = orjson.loads(value[start : start + length])
        version, fold = header["version"], header["fold"]
        of, offset, rejected = (
            (header["topic"], header["partition"]),
            header["offset"],
            header["rejected"],
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None, "damaged: its envelope is not readable"
    if version != ENVELOPE_VERSION:
        return None, f"envelope version {version}, this reads {ENVELOPE_VERSION}"
    if fold != fold_fingerprint():
        return None, f"written by another fold ({fold}, this is {fold_fingerprint()})"
    if of != (topic, partition):
        return None, f"of {of[0]} partition {of[1]}, not {topic} partition {partition}"
    if not isinstance(offset, int) or not isinstance(rejected, int) or offset < 0:
        return None, "damaged: its offset is not a number"
    try:
        projector = Projector.load_snapshot(value[start + length :], pause)
    except SnapshotError as error:
        return None, str(error)
    if projector.position != offset:
        return None, f"damaged: covers offset {projector.position}, its envelope says {offset}"
    return Restored(projector, offset, rejected), f"snapshot at offset {offset:,}"


def read_latest(
    servers: Sequence[str], topic: str, partition: int, timeout: float = 10.0
) -> bytes | None:
    """The newest snapshot message of ``T``'s partition ``partition`` (None: none there)."""
    return read_newest(servers, topic, [partition], timeout).get(partition)


def read_newest(
    servers: Sequence[str], topic: str, partitions: Collection[int], timeout: float = 10.0
) -> dict[int, bytes | None]:
    """The newest message of each of ``partitions`` of ``T.snapshots`` (None: none there),
    read by one consumer together (a consumer's start and a fetch cost about 0.2 s here: one
    consumer a partition was 3 s of a 12-partition restart).

    Each snapshot is a message of its own, produced and flushed alone, so the last batch of
    a partition holds only the newest one: ListOffsets(LATEST) is right here even on Tansu
    (which answers with the last batch's base offset + 1)."""
    name = snapshots_topic(topic)
    found: dict[int, bytes | None] = {partition: None for partition in partitions}
    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(servers),
            "group.id": "sendwatch-snapshot-reader",  # never joined: partitions are assigned
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.max.bytes": MAX_SNAPSHOT_BYTES + 1024 * 1024,
            "receive.message.max.bytes": MAX_SNAPSHOT_BYTES + 2 * 1024 * 1024,
            "logger": logging.getLogger("sendwatch.kafka_service.librdkafka"),
        }
    )
    try:
        wanted: dict[int, int] = {}  # partition -> the offset of its newest message
        for partition in found:
            try:
                low, high = consumer.get_watermark_offsets(
                    KafkaPartition(name, partition), timeout=timeout
                )
            except KafkaException as error:
                log.warning("partition %s: cannot read %s: %s", partition, name, error)
                continue
            if high > low:
                wanted[partition] = high - 1
        if not wanted:
            return found
        consumer.assign([KafkaPartition(name, p, offset) for p, offset in wanted.items()])
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(max(0.0, deadline - time.monotonic()))
            if message is None:
                break
            partition = message.partition() or 0
            if partition not in wanted:
                continue
            problem = message.error()
            if problem is not None:
                # the partition's end (librdkafka's internal code, as in
                # streams.kafka_worker.read_fetched), or an error
                if problem.code() != KafkaError._PARTITION_EOF:
                    log.warning("partition %s: %s: %s", partition, name, problem.str())
                del wanted[partition]  # no snapshot is only a replay
            elif (message.offset() or 0) >= wanted[partition]:
                found[partition] = message.value()
                del wanted[partition]
        if wanted:
            log.warning("%s gave nothing in %s s for partitions %s", name, timeout, sorted(wanted))
        return found
    finally:
        consumer.close()


def snapshot_producer(servers: Sequence[str], name: str) -> Producer:
    """librdkafka's producer for snapshots: compresses in its own threads, one message up to
    ``MAX_SNAPSHOT_BYTES`` compressed, ``acks=all``."""
    return Producer(
        {
            "bootstrap.servers": ",".join(servers),
            "client.id": f"{name}-snapshots",
            "acks": "all",
            "compression.type": "zstd",
            # librdkafka checks a message before compression; the broker checks the
            # compressed batch against the topic's max.message.bytes
            "message.max.bytes": 4 * MAX_SNAPSHOT_BYTES,
            "linger.ms": 0,
            "logger": logging.getLogger("sendwatch.kafka_service.librdkafka"),
        }
    )


def write(
    producer: Producer, topic: str, partition: int, value: bytes, timeout: float = 60.0
) -> bool:
    """Produce one partition's snapshot and wait for the broker's acknowledgement."""
    outcome: list[str] = []

    def delivered(error: object, message: object) -> None:
        outcome.append("" if error is None else str(error))

    try:
        producer.produce(
            snapshots_topic(topic),
            value=value,
            key=str(partition).encode(),
            partition=partition,
            on_delivery=delivered,
        )
    except (KafkaException, BufferError) as error:
        outcome.append(str(error))
    else:
        producer.flush(timeout)
    if outcome and not outcome[0]:
        return True
    log.warning(
        "partition %s: snapshot of %s bytes not stored: %s",
        partition,
        f"{len(value):,}",
        outcome[0] if outcome else "no acknowledgement",
    )
    return False
