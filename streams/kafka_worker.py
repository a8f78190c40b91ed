"""The Kafka worker: a Faust app whose agent feeds the same projections as the embedded mode.

Each worker owns some partitions of the event topic (Faust's consumer group shares them
out) and keeps, per owned partition, one ``projections.Projector``: the per-case state of
that partition's cases. No rule is implemented here: messages are decoded by
``events.decode`` and applied by ``Projector.apply``, which skips an event id it has applied.

How a partition's state is kept right (docs/kafka.md has the reasons and numbers):

- The event topic is the record, and its partition is the changelog of its cases' state
  (as Kafka Streams reuses a source topic as a table's changelog). On assignment the worker
  loads the partition's newest snapshot from ``T.snapshots`` (``streams.kafka_snapshots``:
  written every ``snapshot_events`` events or ``snapshot_interval`` seconds and on a clean
  stop; one it cannot use, damaged or of another fold, costs only a replay from 0), then
  reads the partition from the offset the snapshot covers up to the high watermark of the
  fetch answers, with librdkafka's consumer (no consumer group; it parses outside the GIL, about
  300,000 messages a second here), and never trusts ListOffsets(LATEST), which Tansu
  answers wrongly.
- Then the Faust agent follows the live tail through ``stream.take_events()`` batches.
  Offsets are checked: a message below the partition's position was applied already and
  is skipped; a message above it means a gap, so the partition goes back to bulk reading
  from its position. A partition that falls more than ``catch_up_lag`` messages behind is
  caught up in bulk the same way. Faust's committed offsets only say where its fetching
  starts; correctness never depends on them (at-least-once delivery, idempotent fold).
- A message marked ``sendwatch-record: 1`` (produced by ``sendwatch ingest --broker`` or
  ``POST /api/events``, which validated it) is a stored record: it is read with
  ``events.codec.from_stored``, without pydantic (the validation is most of a message's cost).
  Any other message (other producers: kcat, scripts, council systems) is validated by
  ``events.decode``. Who may write the topic is the trust boundary (docs/kafka.md);
  ``SENDWATCH_KAFKA_TRUST_RECORDS=false`` validates every message whatever its headers.
- Invalid messages (a bad message from another producer, or a marked one that is not a
  record) go to ``T.dead-letters`` with the reason and origin in headers, keyed
  ``T/partition/offset`` so a repeat is recognisable.

The whole picture: every worker publishes, every ``publish_interval`` seconds, each owned
partition's partial tallies (``Projector.tally``: additive Counters) for the published
queries to the compacted ``T.partials`` topic, keyed by partition, with the partition's
offset. Every worker reads that topic (and counts ``T.dead-letters``) from the start, keeps
the partial with the highest offset per partition, and adds its own partitions' live
tallies to the others' partials: the sum is exact because the tallies are additive.
"""

# Faust internals we rely on (faust-streaming 0.15, mode-streaming 0.7, aiokafka 0.14,
# confluent-kafka 2.16). tests/test_faust_internals.py asserts that each exists on the
# installed classes, so an upgrade that drops one fails there first, loudly; the fallbacks
# below are silent, and no test on the broker fails for certain without them.
#
# - ``app.consumer._thread`` (``faust.transport.consumer.ThreadDelegateConsumer._thread``:
#   the ``AIOKafkaConsumerThread`` that owns aiokafka's consumer), read by ``_fetching`` and
#   ``_finish_bulk``. Faust's ``pause_partitions`` only stops handing messages to the agent:
#   aiokafka goes on fetching and parsing them (a rebuild read the topic twice), so fetching
#   is paused on that thread too; and Faust's ``seek`` moves aiokafka's fetcher from the
#   calling thread while the consumer's thread may be draining it (a KeyError in aiokafka's
#   ``fetched_records`` killed a worker), so the seek runs on that thread. Without it
#   (``getattr`` gives None) fetching is not paused and the seek runs on the loop: slower
#   rebuilds, and the race back. First to fail:
#   ``test_faust_internals.py::test_fausts_consumer_hands_over_its_consumer_thread``.
# - ``_thread._ensure_consumer()`` (``AIOKafkaConsumerThread._ensure_consumer``): the
#   ``aiokafka.AIOKafkaConsumer`` whose public ``assignment``, ``pause`` and ``resume``
#   ``_fetching`` calls on that thread. Without it the pause raises inside a task that
#   suppresses errors: silent, as above. First to fail: the same test.
# - ``_thread.call_thread(function, *args)`` (``mode.threads.QueueServiceThread``; public in
#   mode, but reached only through ``_thread``): runs a function on the consumer's thread.
#   First to fail: the same test.
# - ``confluent_kafka.KafkaError._PARTITION_EOF`` (librdkafka's internal codes start with an
#   underscore): a partition's end, in ``read_fetched`` (and in
#   ``streams.kafka_snapshots.read_newest``, where without it an end is only logged),
#   reported because the bulk reader sets ``enable.partition.eof``. Without it the bulk
#   reader's task fails at the first partition's end, and no partition is ever rebuilt.
#   First to fail: ``test_faust_internals.py::test_librdkafka_reports_a_partitions_end``,
#   then test_kafka.py's
#   ``test_the_bulk_readers_fetch_is_split_by_partition_with_each_partitions_end``.

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson
from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException
from confluent_kafka import Message as KafkaMessage
from confluent_kafka import TopicPartition as KafkaPartition
from faust.types import TP

from events import InvalidEvent, read_event
from events.codec import from_stored
from projections import Period, Projector
from projections.case import CLOCKLESS, CaseFile
from projections.measures import Tally, render
from projections.projector import Pause, Quarantined
from streams import kafka_snapshots
from streams.kafka import RECORD_MARK, KafkaSettings, dead_letter_topic, partials_topic
from streams.log import CONFLICT

PARTIAL_VERSION = 1
BULK_SLICE = 1000  # messages decoded and applied between two turns of the event loop
log = logging.getLogger("sendwatch.kafka_service")

Query = tuple[date, Period]  # (now, period): the live queries whose tallies are published
Headers = Sequence[tuple[str, str | bytes | None]]
# offset, key, value, timestamp (ms; -1: none), headers: from a Faust event (the agent) or a
# librdkafka message (the bulk reader, ``read_fetched``)
Message = tuple[int, bytes | None, bytes | None, int, Headers]


@dataclass(slots=True)
class PartitionState:
    """One owned partition: its cases' state and how far into the partition it has read."""

    partition: int
    projector: Projector = field(default_factory=Projector)
    position: int = 0  # the next offset to apply: everything below is applied or rejected
    highwater: int | None = None  # from the latest fetch answer
    rejected: int = 0  # invalid messages below ``position``
    bulk: bool = True  # read in bulk (rebuilding or catching up), not from the Faust agent
    ready: bool = False  # rebuilt at least once: its live tallies may be read
    dead_letter_mark: int = 0  # an earlier owner published past this: its dead letters exist
    published: tuple[int, tuple[Query, ...]] | None = None
    restore: bool = True  # its snapshot on T.snapshots is still to be looked for
    # where its state started: {"offset": the first offset read, "snapshot": the offset the
    # loaded snapshot covers (None: replayed from 0), "reason": why}
    start: dict[str, Any] = field(default_factory=dict)
    snapshot_offset: int = 0  # the offset its newest snapshot (loaded or written) covers
    snapshot_time: float = field(default_factory=time.monotonic)
    snapshot_bytes: int = 0  # the size of the newest snapshot this worker wrote
    snapshotting: bool = False

    @property
    def lag(self) -> int:
        return max(0, (self.highwater or 0) - self.position)


@dataclass(frozen=True, slots=True)
class Applied:
    new: int
    duplicates: int
    touched: set[str]  # cases whose clocks (and so per-case alerts) the messages may change
    rejected: list[tuple[int, bytes | None, bytes, str]]  # offset, key, raw value, reason
    stored: int = 0  # messages marked as stored records, read without validation


@dataclass(frozen=True, slots=True)
class Partial:
    """A partition's partial tallies as published by its owner."""

    partition: int
    offset: int
    events: int
    cases: int
    rejected: int
    last_recorded: datetime | None
    worker: str
    tallies: dict[Query, Tally]


def untuned(reading: bool) -> None:
    """The default of ``Worker(bulk_collection=...)``: the process is left as it is (the
    shell gives ``sendwatch.tuning.bulk_collection``, which pauses the garbage collector
    while any partition is read in bulk)."""


def _arrival(timestamp_ms: int, cache: dict[int, datetime]) -> datetime:
    moment = cache.get(timestamp_ms)
    if moment is None:
        if timestamp_ms < 0:
            moment = datetime.now(UTC)
        else:
            moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        cache[timestamp_ms] = moment
    return moment


def apply_messages(
    state: PartitionState,
    messages: Iterable[Message],
    trust_records: bool = True,
) -> Applied:
    """Decode and apply one partition's messages in offset order (those below the position
    are skipped). A message marked as a stored record (``RECORD_MARK`` in its headers) is
    read without validation if ``trust_records``; any other is validated by
    ``events.read_event`` (the validation of ``events.decode``), and one without
    ``recorded_at`` counts as recorded at its Kafka timestamp, so a replay of the partition
    always gives the same state."""
    apply = state.projector.apply
    touched: set[str] = set()
    rejected: list[tuple[int, bytes | None, bytes, str]] = []
    new = duplicates = stored = 0
    stamps: dict[int, datetime] = {}
    for offset, key, value, timestamp, headers in messages:
        if offset < state.position:
            continue
        state.position = offset + 1
        raw = value or b""
        try:
            if trust_records and headers and RECORD_MARK in headers:
                stored += 1
                event = from_stored(raw)
            else:
                event = read_event(raw, arrival=_arrival(timestamp, stamps))
        except InvalidEvent as error:
            state.rejected += 1
            rejected.append((offset, key, raw, error.reason))
            continue
        if apply(event):
            new += 1
            if event.type not in CLOCKLESS:
                touched.add(event.case_id)
        elif state.projector.conflicts(event):  # the same id, another event: a dead letter
            state.rejected += 1
            rejected.append((offset, key, raw, CONFLICT))
        else:
            duplicates += 1
    return Applied(new, duplicates, touched, rejected, stored)


def read_fetched(
    fetched: Iterable[KafkaMessage],
) -> tuple[dict[int, list[Message]], dict[int, int]]:
    """What one ``consume`` of the bulk reader returned: the messages by partition, in
    offset order, and the partitions whose end it reached, with the end's offset (the high
    watermark of the fetch answer). Any other error is logged: librdkafka retries it."""
    by_partition: dict[int, list[Message]] = {}
    ends: dict[int, int] = {}
    for message in fetched:
        error = message.error()
        partition = message.partition() or 0
        if error is None:
            kind, stamp = message.timestamp()
            by_partition.setdefault(partition, []).append(
                (
                    message.offset() or 0,
                    message.key(),
                    message.value(),
                    stamp if kind != TIMESTAMP_NOT_AVAILABLE else -1,
                    cast(Headers, message.headers() or ()),  # a list, when consumed
                )
            )
        elif error.code() == KafkaError._PARTITION_EOF:
            ends[partition] = message.offset() or 0
        else:
            log.warning("reading the event topic in bulk: %s", error.str())
    return by_partition, ends


def count_partitions(servers: Sequence[str], topic: str, timeout: float = 10.0) -> int:
    """The event topic's partitions (0 if the broker does not know the topic yet), from a
    Metadata request naming the topic.

    Not from aiokafka's ``partitions_for_topic``: its client's metadata holds only the
    topics it fetches or was assigned, and it bootstraps with a Metadata request whose topic
    list is empty, which Apache Kafka answers with no topics (Tansu answers with all of
    them, so the worker read the count there and, on Apache Kafka, waited for ever without
    rebuilding a partition). librdkafka's ``list_topics(topic)`` asks for the topic by name,
    not allowing the broker to create it (``allow.auto.create.topics``, which is on by
    default for librdkafka's admin client: Apache Kafka then made a missing topic with
    its default of 1 partition, Tansu with 4)."""
    from confluent_kafka.admin import AdminClient

    client = AdminClient(
        {"bootstrap.servers": ",".join(servers), "allow.auto.create.topics": False}
    )
    try:
        found = client.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException as error:
        log.warning("could not read the partitions of %s: %s", topic, error)
        return 0
    if found is None or found.error is not None:
        return 0
    return len(found.partitions)


# --- partial tallies on the wire ----------------------------------------------------------


def encode_partial(state: PartitionState, queries: Sequence[Query], worker: str) -> bytes:
    p = state.projector
    return orjson.dumps(
        {
            "version": PARTIAL_VERSION,
            "partition": state.partition,
            "offset": state.position,
            "events": p.event_count,
            "cases": p.case_count,
            "rejected": state.rejected,
            "last_recorded": p.last_recorded.isoformat() if p.last_recorded else None,
            "worker": worker,
            "tallies": [
                {
                    "now": now.isoformat(),
                    "from": period.start.isoformat(),
                    "to": period.end.isoformat(),
                    "tally": [[list(key), n] for key, n in p.tally(now, period).items() if n],
                }
                for now, period in queries
            ],
        }
    )


def decode_partial(value: bytes) -> Partial | None:
    """A published partial, or None if it is not one this version reads."""
    try:
        body = orjson.loads(value)
        if body.get("version") != PARTIAL_VERSION:
            return None
        tallies: dict[Query, Tally] = {}
        for item in body["tallies"]:
            query = (
                date.fromisoformat(item["now"]),
                Period(date.fromisoformat(item["from"]), date.fromisoformat(item["to"])),
            )
            tallies[query] = Counter({tuple(key): n for key, n in item["tally"]})
        last = body.get("last_recorded")
        return Partial(
            partition=int(body["partition"]),
            offset=int(body["offset"]),
            events=int(body["events"]),
            cases=int(body["cases"]),
            rejected=int(body["rejected"]),
            last_recorded=datetime.fromisoformat(last) if last else None,
            worker=str(body.get("worker", "")),
            tallies=tallies,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class Assembled:
    """The sum over every partition of the event topic for one query."""

    tally: Tally
    offsets: dict[int, int]  # partition -> offset its contribution is as of
    missing: list[int]  # partitions with nothing to contribute yet


@dataclass(slots=True)
class Counts:
    """What this process did (the ``_total`` counters restart at 0 with the process)."""

    accepted: int = 0  # events applied for the first time in this process's state
    duplicates: int = 0  # events whose id was already applied
    rejected: int = 0  # invalid messages seen
    stored: int = 0  # messages marked as stored records, read without validation


class Worker:
    """The Faust app, its agent, and the tasks that rebuild, publish and assemble.

    Everything runs on the app's event loop (bulk decoding in slices, between turns of the
    loop) except the fold at the end of a partition's bulk reading, which runs in a thread
    while nothing else reads that partition. Callers from other threads (the HTTP server)
    go through ``call``.
    """

    def __init__(
        self,
        *,
        servers: list[str],
        topic: str,
        settings: KafkaSettings,
        queries: Callable[[], Sequence[Query]],
        name: str = "",
        bulk_collection: Callable[[bool], None] = untuned,
        pause: Pause = nullcontext,
    ) -> None:
        # process tuning is the shell's: told True when bulk reading starts, False when no
        # partition is read in bulk any more; ``pause``, what the projectors' refolds run in
        self._bulk_collection = bulk_collection
        self._pause = pause
        self.servers = servers
        self.topic = topic
        self.settings = settings
        self.queries = queries
        self.name = name or f"worker-{id(self):x}"
        self.partitions: dict[int, PartitionState] = {}
        self.latest: dict[int, Partial] = {}  # partition -> newest partial read back
        self.topic_partitions: int | None = None
        self.dead_letter_keys: set[bytes] = set()
        self.dead_letters_unkeyed = 0
        self.counts = Counts()
        # told (on the loop) of new events in a live partition, with the cases whose clocks
        # they may have changed (perhaps none); None: all of the partition's cases
        self.on_applied: list[Callable[[PartitionState, set[str] | None], None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = asyncio.Event()
        self._partials_loaded = asyncio.Event()
        self._bulk_wanted = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sendwatch-bulk")
        self._producer: AIOKafkaProducer | None = None
        self._dead_letters_unflushed = False
        self._fetch_tasks: set[asyncio.Future[None]] = set()
        self._snapshot_executor = ThreadPoolExecutor(1, thread_name_prefix="sendwatch-snapshot")
        self._snapshot_producer: Any = None  # confluent_kafka.Producer, made when first used
        self.app = faust.App(
            settings.group_for(topic),
            broker=[f"kafka://{server}" for server in servers],
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            store="memory://",
            datadir=tempfile.mkdtemp(prefix="sendwatch-faust-"),
            autodiscover=False,
            topic_allow_declare=False,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=settings.heartbeat_interval,
            broker_rebalance_timeout=settings.rebalance_timeout,
            broker_max_poll_records=settings.take,
            stream_buffer_maxsize=max(4096, settings.take),
        )
        self.events = self.app.topic(
            topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        self.app.agent(self.events, name="sendwatch-project")(self._agent)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_before_shutdown.connect(self._on_shutdown)
        for task in (self._start, self._bulk_reader, self._partials_reader, self._publisher):
            self.app.task(task)

    # --- lifecycle ------------------------------------------------------------------------

    async def _start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.servers, acks="all", client_id=f"{self.name}-producer"
        )
        await self._producer.start()
        self.started.set()

    def call(self, function: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Run ``function`` on the worker's event loop from another thread; its result."""
        if self.loop is None:
            raise RuntimeError("the worker has not started yet")

        async def run() -> Any:
            result = function()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    # --- assignment -----------------------------------------------------------------------

    async def _on_assigned(self, sender: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        assigned: set[TP] = args[0]
        mine = {tp.partition for tp in assigned if tp.topic == self.topic}
        for partition in list(self.partitions):
            if partition not in mine:
                self._drop(partition)
        for partition in sorted(mine - set(self.partitions)):
            self.partitions[partition] = PartitionState(partition, Projector(pause=self._pause))
            log.info("partition %s assigned: looking for its snapshot", partition)
        self._fetching([p for p, s in self.partitions.items() if s.bulk], False)
        self._bulk_wanted.set()

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        revoked: set[TP] = args[0]
        for tp in revoked:
            if tp.topic == self.topic:
                self._drop(tp.partition)

    def _drop(self, partition: int) -> None:
        if self.partitions.pop(partition, None) is not None:
            log.info("partition %s revoked", partition)
            if not any(s.bulk for s in self.partitions.values()):
                self._bulk_collection(False)

    # --- the live path: the Faust agent ---------------------------------------------------

    async def _agent(self, stream: Any) -> None:
        async for batch in stream.take_events(self.settings.take, self.settings.take_within):
            by_partition: dict[int, list[Message]] = {}
            for event in batch:
                message = event.message
                timestamp = message.timestamp
                by_partition.setdefault(message.partition, []).append(
                    (
                        message.offset,
                        message.key,
                        event.value,
                        int(timestamp * 1000) if timestamp is not None else -1,
                        message.headers or (),
                    )
                )
            for partition, messages in by_partition.items():
                await self._live(partition, messages)

    async def _live(self, partition: int, messages: list[Message]) -> None:
        state = self.partitions.get(partition)
        tp = TP(self.topic, partition)
        if state is None or state.bulk:
            # not ours yet, or read in bulk: Faust is told to seek to the position when the
            # bulk reading is over, so nothing dropped here is lost
            self._fetching([partition], False)
            return
        fresh = [m for m in messages if m[0] >= state.position]
        if not fresh:
            return
        if fresh[0][0] > state.position:
            log.warning(
                "partition %s: offset %s follows %s: reading the gap in bulk",
                partition,
                fresh[0][0],
                state.position,
            )
            self._to_bulk(state)
            return
        await self._applied(state, apply_messages(state, fresh, self.settings.trust_records))
        with contextlib.suppress(Exception):
            highwater = self.app.consumer.highwater(tp)
            if highwater is not None:
                state.highwater = highwater
        if state.lag > self.settings.catch_up_lag:
            log.info("partition %s is %s behind: catching up in bulk", partition, state.lag)
            self._to_bulk(state)

    def _to_bulk(self, state: PartitionState) -> None:
        state.bulk = True
        self._fetching([state.partition], False)
        self._bulk_wanted.set()

    def _fetching(self, partitions: Collection[int], fetch: bool) -> None:
        """Stop (or restart) Faust handing partitions read in bulk to the agent, and its
        consumer fetching them.

        Faust's ``pause_partitions`` only stops handing a partition's messages to the agent:
        its aiokafka consumer goes on fetching and parsing them, and while every partition is
        paused it drains them all (aiokafka reads an empty set of partitions as "all"), so
        a rebuild read the topic twice. So the fetching itself is paused too, on the
        consumer's thread, in a task of its own: this may be called from inside a rebalance."""
        with contextlib.suppress(Exception):
            tps = [TP(self.topic, p) for p in partitions]
            consumer = self.app.consumer
            (consumer.resume_partitions if fetch else consumer.pause_partitions)(tps)
        thread = getattr(self.app.consumer, "_thread", None)
        wanted = [TopicPartition(self.topic, p) for p in partitions]
        if thread is None or not wanted:
            return

        def act() -> None:
            consumer = thread._ensure_consumer()
            mine = [tp for tp in wanted if tp in consumer.assignment()]
            if mine:
                (consumer.resume if fetch else consumer.pause)(*mine)

        async def run() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(thread.call_thread(act), 10)

        task = asyncio.ensure_future(run())
        self._fetch_tasks.add(task)
        task.add_done_callback(self._fetch_tasks.discard)

    async def _applied(self, state: PartitionState, applied: Applied) -> None:
        self.counts.accepted += applied.new
        self.counts.duplicates += applied.duplicates
        self.counts.rejected += len(applied.rejected)
        self.counts.stored += applied.stored
        if applied.rejected and self._producer is not None:
            for offset, key, raw, reason in applied.rejected:
                if offset < state.dead_letter_mark:
                    continue  # its owner before us sent it (it published past it)
                origin = f"kafka {self.topic} partition {state.partition} offset {offset}"
                await self._producer.send(
                    dead_letter_topic(self.topic),
                    key=f"{self.topic}/{state.partition}/{offset}".encode(),
                    value=raw,
                    headers=[("reason", reason.encode()), ("origin", origin.encode())]
                    + ([("key", key)] if key else []),
                )
            self._dead_letters_unflushed = True
        if applied.new and state.ready and not state.bulk:
            for listener in self.on_applied:
                listener(state, applied.touched)

    # --- the bulk path: rebuilding and catching up ------------------------------------------

    def _bulk_consumer(self) -> Consumer:
        """librdkafka's consumer (confluent-kafka), assigned partitions, never in a group: it
        fetches and parses in its own threads, outside the GIL, so reading a message costs
        the fold's thread well under a microsecond (aiokafka's parsing in Python was about a
        third of a rebuild). It reports each partition's end (``enable.partition.eof``) with
        the high watermark of the fetch answer that reached it."""
        return Consumer(
            {
                "bootstrap.servers": ",".join(self.servers),
                "client.id": f"{self.name}-bulk",
                "group.id": f"{self.name}-bulk",  # required, never joined: nothing subscribes
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                "fetch.queue.backoff.ms": 0,
                "queued.min.messages": 1_000_000,
                "fetch.max.bytes": 32 * 1024 * 1024,
                "max.partition.fetch.bytes": 8 * 1024 * 1024,
                "logger": logging.getLogger("sendwatch.kafka_service.librdkafka"),
            }
        )

    async def _bulk_reader(self) -> None:
        await self.started.wait()
        await self._partials_loaded.wait()  # the dead-letter marks come from the partials
        loop = asyncio.get_running_loop()
        fetcher = ThreadPoolExecutor(1, thread_name_prefix="sendwatch-fetch")  # every call
        consumer = await loop.run_in_executor(fetcher, self._bulk_consumer)
        reading: dict[int, PartitionState] = {}  # partition -> the state the consumer reads for
        try:
            while True:
                pending = [s for s in self.partitions.values() if s.bulk and s.restore]
                if pending:
                    await self._restore(pending)
                    continue
                wanted = {p: s for p, s in self.partitions.items() if s.bulk}
                if wanted.keys() != reading.keys() or any(
                    reading[p] is not s for p, s in wanted.items()
                ):
                    for p, s in wanted.items():
                        if reading.get(p) is not s and not s.ready:
                            partial = self.latest.get(p)
                            s.dead_letter_mark = partial.offset if partial else 0
                    assignment = [
                        KafkaPartition(self.topic, p, s.position) for p, s in wanted.items()
                    ]
                    await loop.run_in_executor(fetcher, consumer.assign, assignment)
                    reading = wanted
                if not reading:
                    self._bulk_wanted.clear()
                    await self._bulk_wanted.wait()
                    continue
                self._bulk_collection(True)
                fetched = await loop.run_in_executor(
                    fetcher, consumer.consume, self.settings.take, 0.2
                )
                by_partition, ends = read_fetched(fetched)
                for partition, messages in by_partition.items():
                    state = reading.get(partition)
                    if state is None or self.partitions.get(partition) is not state:
                        continue
                    # on the loop, a slice at a time (a few milliseconds each): heartbeats and
                    # HTTP answers go between slices
                    for start in range(0, len(messages), BULK_SLICE):
                        applied = apply_messages(
                            state,
                            messages[start : start + BULK_SLICE],
                            self.settings.trust_records,
                        )
                        await self._applied(state, applied)
                        await asyncio.sleep(0)
                for partition, end in ends.items():
                    state = reading.get(partition)
                    if state is None or self.partitions.get(partition) is not state:
                        continue
                    if end < state.position and not state.ready and state.start.get("snapshot"):
                        # a snapshot beyond the partition's end: of an earlier topic of this
                        # name (deleted and made again); it costs a replay
                        log.warning(
                            "partition %s: its snapshot covers offset %s, beyond the end %s: "
                            "replaying from 0",
                            partition,
                            state.position,
                            end,
                        )
                        self._replay(state, f"its snapshot was beyond the partition's end {end}")
                        reading.pop(partition, None)
                        continue
                    # every message below the end has been handed over, and applied above
                    state.highwater = end
                    state.position = max(state.position, end)
                    await self._finish_bulk(state)
        finally:
            fetcher.submit(consumer.close)
            fetcher.shutdown(wait=False)

    # --- snapshots: restarting from state, not from offset 0 ---------------------------------

    def _replay(self, state: PartitionState, reason: str) -> None:
        """Start the partition again from offset 0 with an empty projector."""
        state.projector = Projector(pause=self._pause)
        state.position = state.rejected = state.snapshot_offset = 0
        state.start = {"offset": 0, "snapshot": None, "reason": reason}

    async def _restore(self, states: Iterable[PartitionState]) -> None:
        """Load each newly assigned partition's snapshot, if it can be used: the bulk
        reader then reads the event topic from the offset it covers (else from 0)."""
        loop = asyncio.get_running_loop()
        states = list(states)
        for state in states:
            state.restore = False
        self._bulk_collection(True)  # loading makes many objects: as in a bulk read
        values = await loop.run_in_executor(
            self._executor,
            kafka_snapshots.read_newest,
            self.servers,
            self.topic,
            [state.partition for state in states],
        )
        for state in states:
            value = values.get(state.partition)
            restored, reason = await loop.run_in_executor(
                self._executor,
                kafka_snapshots.decode,
                value,
                self.topic,
                state.partition,
                self._pause,
            )
            if self.partitions.get(state.partition) is not state:
                continue  # revoked meanwhile
            if restored is None:
                self._replay(state, reason)
                log.info("partition %s: replaying from offset 0 (%s)", state.partition, reason)
                continue
            state.projector = restored.projector
            state.position = state.snapshot_offset = restored.offset
            state.rejected = restored.rejected
            state.snapshot_time = time.monotonic()
            state.start = {"offset": restored.offset, "snapshot": restored.offset, "reason": reason}
            log.info(
                "partition %s: loaded its %s (%s events, %s cases): reading the tail",
                state.partition,
                reason,
                restored.projector.event_count,
                restored.projector.case_count,
            )

    async def _snapshot(self, state: PartitionState) -> None:
        """Write the partition's snapshot to ``T.snapshots`` if it moved since the last.

        Made on the loop (the projector is the agent's between turns), produced and
        acknowledged on a thread of its own."""
        if state.snapshotting or not state.ready or state.bulk:
            return
        offset = state.position
        if offset <= state.snapshot_offset:
            return
        state.snapshotting = True
        try:
            value = kafka_snapshots.encode(
                state.projector, self.topic, state.partition, offset, state.rejected
            )
            loop = asyncio.get_running_loop()
            if self._snapshot_producer is None:
                self._snapshot_producer = await loop.run_in_executor(
                    self._snapshot_executor,
                    kafka_snapshots.snapshot_producer,
                    self.servers,
                    self.name,
                )
            stored = await loop.run_in_executor(
                self._snapshot_executor,
                kafka_snapshots.write,
                self._snapshot_producer,
                self.topic,
                state.partition,
                value,
            )
            if stored:
                state.snapshot_offset = offset
                state.snapshot_bytes = len(value)
                log.info(
                    "partition %s: snapshot at offset %s (%s bytes)",
                    state.partition,
                    offset,
                    f"{len(value):,}",
                )
        finally:
            state.snapshot_time = time.monotonic()
            state.snapshotting = False

    async def snapshot_due(self) -> None:
        """Snapshot each live partition ``snapshot_events`` past its last snapshot, or changed
        and ``snapshot_interval`` seconds after it."""
        events, interval = self.settings.snapshot_events, self.settings.snapshot_interval
        if events <= 0:
            return
        for state in list(self.partitions.values()):
            moved = state.position - state.snapshot_offset
            if moved > 0 and (
                moved >= events or time.monotonic() - state.snapshot_time >= interval
            ):
                await self._snapshot(state)

    async def _on_shutdown(self, sender: Any, /, *args: Any, **_: Any) -> None:
        """A clean stop: every changed live partition is snapshotted before the process ends."""
        if self.settings.snapshot_events <= 0:
            return
        for state in list(self.partitions.values()):
            try:
                await self._snapshot(state)
            except Exception as error:  # the broker gone: the next start replays more
                log.warning("partition %s: no snapshot at stop: %r", state.partition, error)

    async def _finish_bulk(self, state: PartitionState) -> None:
        """Fold every changed case off the loop, then hand the partition to the agent."""
        queries = tuple(self.queries())
        loop = asyncio.get_running_loop()

        def fold() -> None:
            state.projector.settle()  # a first reading: each case folded once, kept compact
            for now, period in queries:
                state.projector.tally(now, period)

        await loop.run_in_executor(self._executor, fold)
        if self.partitions.get(state.partition) is not state:
            return
        first = not state.ready
        state.bulk = False
        state.ready = True
        if not any(s.bulk for s in self.partitions.values()):
            self._bulk_collection(False)  # back to normal collection for the live tail
        tp = TP(self.topic, state.partition)
        consumer = self.app.consumer
        thread = getattr(consumer, "_thread", None)
        try:
            if tp in consumer.assignment():
                # Faust's seek moves aiokafka's fetcher from the calling thread, while the
                # consumer's own thread may be draining it (a KeyError in aiokafka's
                # fetched_records killed a worker): it runs on that thread, like _fetching
                if thread is None:
                    await consumer.seek(tp, state.position)
                else:
                    await asyncio.wait_for(
                        thread.call_thread(consumer.seek, tp, state.position), 10
                    )
                self._fetching([state.partition], True)
        except Exception as error:  # the partition is being revoked, or the consumer stops
            log.warning("partition %s: could not hand it to the agent: %r", state.partition, error)
        log.info(
            "partition %s %s at offset %s (%s events, %s cases)",
            state.partition,
            "rebuilt" if first else "caught up",
            state.position,
            state.projector.event_count,
            state.projector.case_count,
        )
        if first:
            for listener in self.on_applied:
                listener(state, None)  # None: every case of the partition
        await self.publish()

    # --- publishing and reading the partial tallies ----------------------------------------

    async def _publisher(self) -> None:
        await self.started.wait()
        while True:
            await asyncio.sleep(self.settings.publish_interval)
            try:
                await self.publish()
            except Exception as error:  # a broker hiccup: try again at the next tick
                log.warning("could not publish partial tallies: %s", error)
            try:
                await self.snapshot_due()
            except Exception as error:  # a snapshot is a cache: the next tick tries again
                log.warning("could not write a snapshot: %r", error)

    async def publish(self) -> None:
        """Publish each ready partition whose offset or queries changed since last time."""
        producer = self._producer
        if producer is None:
            return
        queries = tuple(self.queries())
        if self._dead_letters_unflushed:
            await producer.flush()  # dead letters before the offsets that cover them
            self._dead_letters_unflushed = False
        for state in list(self.partitions.values()):
            if not state.ready or state.bulk:
                continue
            mark = (state.position, queries)
            if state.published == mark:
                continue
            value = encode_partial(state, queries, self.name)
            await producer.send(
                partials_topic(self.topic), key=str(state.partition).encode(), value=value
            )
            state.published = mark

    async def _partials_reader(self) -> None:
        await self.started.wait()
        # a plain consumer outside any group: the worker keeps its own positions
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{self.name}-partials",
        )
        await consumer.start()
        partials = TopicPartition(partials_topic(self.topic), 0)
        dead = TopicPartition(dead_letter_topic(self.topic), 0)
        try:
            loop = asyncio.get_running_loop()
            while not self.topic_partitions:
                self.topic_partitions = await loop.run_in_executor(
                    self._executor, count_partitions, self.servers, self.topic
                )
                if not self.topic_partitions:
                    await asyncio.sleep(0.2)
            consumer.assign([partials, dead])
            consumer.seek(partials, 0)
            consumer.seek(dead, 0)
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in fetched.items():
                    for record in records:
                        if tp == partials and record.value is not None:
                            self._keep(decode_partial(record.value))
                        elif tp == dead:
                            if record.key:
                                self.dead_letter_keys.add(record.key)
                            else:
                                self.dead_letters_unkeyed += 1
                if not self._partials_loaded.is_set():
                    highwater = consumer.highwater(partials)
                    if highwater is not None and await consumer.position(partials) >= highwater:
                        self._partials_loaded.set()
        finally:
            await consumer.stop()

    def _keep(self, partial: Partial | None) -> None:
        if partial is None:
            return
        held = self.latest.get(partial.partition)
        if held is None or partial.offset >= held.offset:
            self.latest[partial.partition] = partial

    # --- reading (on the loop) --------------------------------------------------------------

    @property
    def dead_letters(self) -> int:
        """Dead letters stored on ``T.dead-letters`` (a repeated worker key counts once)."""
        return len(self.dead_letter_keys) + self.dead_letters_unkeyed

    def owned(self) -> list[PartitionState]:
        return [s for _, s in sorted(self.partitions.items()) if s.ready and not s.bulk]

    def assemble(self, now: date, period: Period) -> Assembled:
        """The whole topic's tally for one published query: this worker's partitions live,
        every other partition from its newest partial."""
        total: Tally = Counter()
        offsets: dict[int, int] = {}
        missing: list[int] = []
        count = self.topic_partitions or 0
        for partition in range(count):
            state = self.partitions.get(partition)
            if state is not None and state.ready and not state.bulk:
                total.update(state.projector.tally(now, period))
                offsets[partition] = state.position
                continue
            partial = self.latest.get(partition)
            tally = None if partial is None else partial.tallies.get((now, period))
            if partial is None or tally is None:
                missing.append(partition)
                continue
            total.update(tally)
            offsets[partition] = partial.offset
        if not count:
            missing.append(-1)
        return Assembled(total, offsets, missing)

    def local_tally(self, now: date, period: Period, as_at: datetime | None) -> Tally:
        """This worker's partitions only, for any query."""
        total: Tally = Counter()
        for state in self.owned():
            total.update(state.projector.tally(now, period, as_at))
        return total

    def owns_everything(self) -> bool:
        count = self.topic_partitions
        return bool(count) and len(self.owned()) == count

    def totals(self) -> tuple[int, int, datetime | None]:
        """Events and cases over the whole topic (own partitions live, others' partials),
        and the newest recorded_at."""
        events = cases = 0
        newest: datetime | None = None
        for partition in range(self.topic_partitions or 0):
            state = self.partitions.get(partition)
            if state is not None and state.ready and not state.bulk:
                p = state.projector
                events, cases, last = events + p.event_count, cases + p.case_count, p.last_recorded
            else:
                partial = self.latest.get(partition)
                if partial is None:
                    continue
                events, cases = events + partial.events, cases + partial.cases
                last = partial.last_recorded
            if last is not None and (newest is None or last > newest):
                newest = last
        return events, cases, newest

    def run(self, loglevel: str = "warn") -> None:
        """Run until stopped (SIGINT or SIGTERM)."""
        worker = faust.Worker(
            self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False, workdir=None
        )
        worker.execute_from_commandline()


# --- what the alert engine and the service read -------------------------------------------


class WorkerProjection:
    """A worker's projections as the alert engine and the service read them
    (``projections.reading.ProjectionReader``): the cases of the partitions it owns, and the
    whole topic's measures and newest ``recorded_at``, assembled from its own partitions
    and the other workers' partials. It holds no events of its own; read it on the
    worker's event loop, like the worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    @property
    def last_recorded(self) -> datetime | None:
        """The newest ``recorded_at`` over the whole topic: of the owned partitions'
        events, and of the other partitions' published partials (``Worker.totals``), so
        the stalled-feed alert reads the whole feed, as in embedded mode."""
        return self.worker.totals()[2]

    @property
    def event_count(self) -> int:
        return sum(state.projector.event_count for state in self.worker.owned())

    @property
    def case_count(self) -> int:
        return sum(state.projector.case_count for state in self.worker.owned())

    def case_ids(self) -> set[str]:
        ids: set[str] = set()
        for state in self.worker.owned():
            ids |= state.projector.case_ids()
        return ids

    def case_files(
        self, now: date | None = None, as_at: datetime | None = None, *, keep: bool = True
    ) -> Iterator[CaseFile]:
        for state in self.worker.owned():
            yield from state.projector.case_files(now, as_at, keep=keep)

    def case_file(
        self, case_id: str, now: date | None = None, as_at: datetime | None = None
    ) -> CaseFile | None:
        for state in self.worker.owned():
            found = state.projector.case_file(case_id, now, as_at)
            if found is not None:
                return found
        return None

    def measures(
        self,
        now: date,
        period: Period | None = None,
        as_at: datetime | None = None,
        dead_letters: int = 0,
    ) -> dict[str, Any]:
        """The whole topic's measures for a published query (``Worker.assemble``), with
        the topic's dead letters; ``as_at`` cannot be assembled (the partials are as
        published), and ``dead_letters`` is the worker's own count."""
        if as_at is not None:
            raise ValueError("as_at: a worker assembles the measures as published only")
        assembled = self.worker.assemble(now, period or Period.default(now))
        return render(assembled.tally, self.worker.dead_letters)

    def quarantined(self) -> list[Quarantined]:
        """The cases of this worker's partitions set aside by their projectors."""
        return quarantined_in(self.worker.owned())

    def quarantined_case(self, case_id: str) -> Quarantined | None:
        return next((q for q in self.quarantined() if q.case_id == case_id), None)


def quarantined_in(owned: Iterable[PartitionState]) -> list[Quarantined]:
    """The cases set aside in the partitions a worker owns (CONTRACT.md 1.1), by case id:
    each partition's projector quarantines its own; every other case carries on."""
    found = [q for state in owned for q in state.projector.quarantined()]
    return sorted(found, key=lambda q: q.case_id)


if TYPE_CHECKING:
    from projections.reading import ProjectionReader

    def _both_read(projector: Projector, worker: Worker) -> tuple[ProjectionReader, ...]:
        """mypy --strict checks that both satisfy ``ProjectionReader``."""
        return (projector, WorkerProjection(worker))
