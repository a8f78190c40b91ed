"""``sendwatch worker``: the Kafka worker's shell. ``streams.kafka_worker.Worker`` consumes and
projects; this module serves it over the same HTTP app as ``sendwatch run`` (``/metrics``,
``/api/measures``, ``/api/alerts``, ``/healthz`` and the rest) through a ``KafkaSource``.

What a worker answers (docs/kafka.md):
- ``/api/measures``: the whole topic, assembled from every partition's partial tallies,
  for the published queries: the three /metrics windows ending on the worker's "now" (the
  default 12-month period is one of them). Any other query (other dates, ``as_at``) is
  answered exactly only by a worker that owns every partition; with several workers it
  answers 400 and says so. A published query whose partitions have not all been published
  yet waits up to ``SENDWATCH_KAFKA_QUERY_WAIT`` seconds, then 503.
- ``/metrics``: every worker its own figures (its partitions' events and cases, lag,
  counters, per-case alerts); the owner of partition 0 also the whole topic's measures, so
  Prometheus's sums over the workers count everything once (``WorkerCollector``).
- ``/api/cases/{id}``: the cases in this worker's partitions (404 for the others).
- ``/api/alerts``: per-case alerts of this worker's cases, aggregate alerts of the whole.
- ``POST /api/events``: validated and produced to the event topic (and the dead-letter
  topic); accepted once the broker acknowledged them, applied by their partitions' owners
  moments later.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from alerts.alertmanager import start_delivery
from alerts.engine import Engine
from alerts.rules import RulesError, firing_by_severity, load_rules
from observability.exposition import (
    Exposition,
    ExpositionCollector,
    IngestCounters,
    build_exposition,
)
from observability.health import Health
from projections import Period
from projections.measures import render, windows
from projections.scorecard import POINTS, Point
from projections.views import case_view
from sendwatch import settings
from sendwatch.access import described, for_service
from sendwatch.api import create_app
from sendwatch.audit import AuditError, AuditLog
from sendwatch.query import Query, parse_date, today
from sendwatch.source import Accepted
from sendwatch.tuning import bulk_collection, paused_collector
from streams.ingest import ingest, split_lines
from streams.kafka import (
    BrokerError,
    EventProducer,
    TopicSink,
    ensure_topics,
    parse_broker,
)
from streams.kafka_worker import (
    Assembled,
    PartitionState,
    Worker,
    WorkerProjection,
    quarantined_in,
)

REEVALUATE_SECONDS = 30.0  # every case judged again (and aggregates) this often
JUDGE_SECONDS = 1.0  # the cases that changed are judged again this often
JUDGE_SLICE = 500  # cases judged between two turns of the event loop


# Families every worker exposes about itself (summed over the workers, each counts once).
# The others, the whole topic's measures, only the owner of partition 0 exposes.
OWN_FAMILIES = frozenset(
    {
        "sendwatch_events_accepted",
        "sendwatch_events_duplicate",
        "sendwatch_events_rejected",
        "sendwatch_events_applied",
        "sendwatch_cases",
        "sendwatch_quarantined_cases",
        "sendwatch_last_event_age_seconds",
        "sendwatch_alerts_firing",
        "sendwatch_alert_notifications",
        "sendwatch_consumer_lag",
        "sendwatch_worker_partitions",
        "sendwatch_dead_letters",
    }
)


class WorkerCollector(Collector):
    """The agreed families from ``observability.exposition``, split between workers so that
    Prometheus's sums over instances count everything once (docs/kafka.md)."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        exposition, whole = self.source.exposition()
        for family in ExpositionCollector(lambda: exposition).collect():
            if whole or family.name in OWN_FAMILIES:
                yield family


class KafkaSource:
    """``sendwatch.source.Source`` over a running ``Worker``.

    Every read runs on the worker's event loop (``Worker.call``), so nothing of the
    projections is touched by two threads at once.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        frozen_now: date | None = None,
        council: str | None = None,
        points: tuple[Point, ...] = POINTS,
        rules: Any = None,
        base_url: str = "http://127.0.0.1:6066",
    ) -> None:
        self.worker = worker
        self.frozen_now = frozen_now
        self.council = council
        self.points = points
        self.alertmanager: str | None = None  # GET /api/silences asks it, when set
        self.notifications: dict[str, int] = {"sent": 0, "failed": 0}
        self.alert_engine = Engine(
            rules if rules is not None else load_rules(None, points),
            base_url=base_url,
            points=points,
        )
        self.posted = IngestCounters()
        self._producer: EventProducer | None = None
        self._producer_lock = threading.Lock()
        self._view = WorkerProjection(worker)  # what the alert engine reads
        worker.on_applied.append(self._on_applied)
        self._to_judge: set[str] = set()
        self._aggregates_due = False  # events arrived since the aggregate rules were judged
        self._judging = 0  # cases of the slice being judged still to come
        worker.app.task(self._alerts)

    # --- the Source protocol ------------------------------------------------------------

    def now(self) -> date:
        return self.frozen_now or today()

    def published(self) -> list[tuple[date, Period]]:
        """The queries every worker publishes partial tallies for."""
        now = self.now()
        return [(now, period) for period in windows(now).values()]

    def _call(self, function: Any) -> Any:
        if self.worker.loop is None:
            raise HTTPException(503, "the worker is starting: try again in a few seconds")
        return self.worker.call(function)

    def measures(self, query: Query) -> dict[str, Any]:
        result: dict[str, Any] = self._call(lambda: self._measures(query))
        return result

    async def _measures(self, query: Query) -> dict[str, Any]:
        worker = self.worker
        if query.as_at is None and (query.now, query.period) in self.published():
            assembled = await self._assembled(query.now, query.period)
            return render(assembled.tally, worker.dead_letters)
        if worker.owns_everything():
            tally = worker.local_tally(query.now, query.period, query.as_at)
            return render(tally, worker.dead_letters)
        raise HTTPException(
            400,
            "with several Kafka workers only the published periods are assembled: the 12 "
            "months, 28 days and 7 days to the worker's now "
            f"({self.now().isoformat()}), without as_at; ask `sendwatch metrics` or a "
            "worker that owns every partition for other periods",
        )

    async def _assembled(self, now: date, period: Period) -> Assembled:
        deadline = time.monotonic() + self.worker.settings.query_wait
        while True:
            assembled = self.worker.assemble(now, period)
            if not assembled.missing:
                return assembled
            if time.monotonic() > deadline:
                waiting = ", ".join(str(p) for p in assembled.missing if p >= 0) or "all"
                raise HTTPException(
                    503,
                    f"the measures are not assembled yet: no partial tallies for partitions "
                    f"{waiting} of {self.worker.topic} (workers rebuilding or not started)",
                )
            await asyncio.sleep(0.1)

    def case(self, case_id: str, now: date) -> dict[str, Any] | None:
        def find() -> dict[str, Any] | None:
            found = self._view.case_file(case_id, now)
            return None if found is None else case_view(found, now)

        result: dict[str, Any] | None = self._call(find)
        return result

    def alerts(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self.alert_engine.active(limit)  # listed afresh only after a change

    def firing_counts(self) -> dict[str, int]:
        return self.alert_engine.firing_counts()

    def health(self) -> Health:
        if self.worker.loop is None:
            return Health(False, 0, 0, 0, None, {"mode": "kafka", "state": "starting"})
        result: Health = self.worker.call(self._health)
        return result

    def _health(self) -> Health:
        worker = self.worker
        now = self.now()
        assembled = worker.assemble(now, Period.default(now))
        events, cases, last = worker.totals()
        partitions = {
            str(p): {
                "position": s.position,
                "highwater": s.highwater,
                "lag": s.lag,
                "state": "live"
                if s.ready and not s.bulk
                else "catching up"
                if s.ready
                else "rebuilding",
                # where its state started: the offset its loaded snapshot covers (None:
                # replayed from offset 0), and why
                "start": s.start,
                "snapshot": {"offset": s.snapshot_offset, "bytes": s.snapshot_bytes},
            }
            for p, s in sorted(worker.partitions.items())
        }
        ready = all(s.ready and not s.bulk for s in worker.partitions.values())
        day = self.alert_engine.day
        return Health(
            ok=worker.started.is_set() and ready and not assembled.missing,
            events=events,
            cases=cases,
            dead_letters=worker.dead_letters,
            last_recorded_at=last,
            detail={
                "mode": "kafka",
                "now": now.isoformat(),
                "topic": worker.topic,
                "group": worker.settings.group_for(worker.topic),
                "worker": worker.name,
                "partitions": partitions,
                # cases whose events changed and whose alert rules are still to be judged
                "alerts_pending": len(self._to_judge) + self._judging,
                # the day every case's alert rules are judged on (null: not yet; they are
                # judged once every partition is live and the whole picture assembled, in
                # slices: the day's pass is over when nothing is pending)
                "alerts_judged_on": None if day is None else day.isoformat(),
                # messages this process read: marked as records stored by sendwatch (read
                # without validation), and the others (validated by events.decode)
                "messages": {
                    "marked_records": worker.counts.stored,
                    "validated": worker.counts.accepted
                    + worker.counts.duplicates
                    + worker.counts.rejected
                    - worker.counts.stored,
                },
                "assembled": {
                    "partitions": worker.topic_partitions,
                    "offsets": {str(p): o for p, o in sorted(assembled.offsets.items())},
                    "missing": [p for p in assembled.missing if p >= 0],
                },
            },
            # this worker's partitions' (a quarantine leaves the worker serving: still ok)
            quarantined=tuple(quarantined_in(worker.owned())),
        )

    def post_events(self, body: bytes, origin: str) -> Accepted:
        """Validate (the one pipeline) and produce to the event topic; the answer comes once
        the broker has acknowledged every message (``acks=all``)."""
        with self._producer_lock:
            if self._producer is None:
                worker = self.worker
                self._producer = EventProducer(worker.servers, worker.topic, 1)
            summary = ingest(
                split_lines(body),
                TopicSink(self._producer),
                origin=origin,
                council=self.council,
                batch=None,  # one answer, once all of it is acknowledged
                refusals=True,
            )
        c = self.posted
        self.posted = IngestCounters(
            c.accepted + summary.accepted,
            c.duplicates + summary.duplicates,
            c.rejected + summary.rejected,
        )
        return Accepted(
            summary.accepted,
            summary.duplicates,
            [{"line": n, "reason": reason} for n, reason in summary.refused],
        )

    # --- /metrics and alerts ----------------------------------------------------------------

    def exposition(self) -> tuple[Exposition, bool]:
        """What /metrics shows, and whether this worker speaks for the whole topic."""
        result: tuple[Exposition, bool] = self._call(self._exposition)
        return result

    async def _exposition(self) -> tuple[Exposition, bool]:
        worker = self.worker
        now = self.now()
        whole = 0 in worker.partitions  # the owner of partition 0 exposes the whole topic
        measures: dict[Period, Mapping[str, Any]] = {}
        for period in windows(now).values():
            tally = (await self._assembled(now, period)).tally if whole else Counter()
            measures[period] = render(tally, worker.dead_letters)
        counts = worker.counts
        counters = IngestCounters(
            counts.accepted + self.posted.accepted,
            counts.duplicates + self.posted.duplicates,
            counts.rejected + self.posted.rejected,
        )
        view = self._view
        health = Health(
            ok=True,
            events=view.event_count,  # its own partitions': summed over the workers
            cases=view.case_count,
            dead_letters=worker.dead_letters if whole else 0,
            last_recorded_at=view.last_recorded,  # the whole topic's
            quarantined=tuple(view.quarantined()),  # its own: summed over the workers
        )
        alerts = [a for a in self.alerts() if whole or a.get("case_id") is not None]
        exposition = build_exposition(
            measures.__getitem__,
            now=now,
            wall_clock=datetime.now(UTC),
            health=health,
            counters=counters,
            alerts_firing=firing_by_severity(alerts),
            notifications=self.notifications,
            points=self.points,
            consumer_lag={p: s.lag for p, s in sorted(worker.partitions.items())},
            partitions=len(worker.partitions),
        )
        return exposition, whole

    def _on_applied(self, state: PartitionState, cases: set[str] | None) -> None:
        """Note the cases to judge again (all of the partition's after a rebuild); they are
        judged together every second, not after every batch."""
        self._to_judge.update(state.projector.case_ids() if cases is None else cases)
        self._aggregates_due = True  # whatever the events, the measures may have moved

    def _judge(self, cases: set[str] | None, aggregates: bool = True) -> bool:
        """Judge the alert rules (the aggregate ones unless ``aggregates`` is False); False
        if the measures are not assembled yet."""
        worker = self.worker
        if worker.assemble(self.now(), Period.default(self.now())).missing:
            return False  # aggregate rules need the whole picture
        try:
            self.alert_engine.update(
                self._view,
                self.now(),
                datetime.now(UTC),
                dead_letters=worker.dead_letters,
                cases=cases,
                aggregates=aggregates,
            )
        except Exception as error:  # alerts must never stop the projections
            logging.getLogger("sendwatch.kafka_service").warning(
                "alert evaluation failed: %r", error
            )
        return True

    async def _alerts(self) -> None:
        """The cases that changed, every second; time-driven rules every 30 s."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(JUDGE_SECONDS)
            if any(s.bulk for s in self.worker.partitions.values()):
                continue  # rebuilding or catching up: the measures first, alerts once current
            now = self.now()
            if self.alert_engine.day != now:
                # a new day (or the first): every case is judged again, in slices like the
                # cases that changed (one pass over every case held the loop for seconds)
                if self.worker.assemble(now, Period.default(now)).missing:
                    continue  # aggregate rules need the whole picture
                self._to_judge |= self._view.case_ids()
                self._to_judge |= self.alert_engine.begin_day(now)
                self._aggregates_due = True  # with the last slice, or alone if no case
                last = time.monotonic()
            if self._to_judge:
                # in slices, the event loop turning between them: judging a rebuilt
                # partition's cases takes seconds, and the loop also answers /healthz, the
                # API and Kafka's heartbeats
                todo = list(self._to_judge)
                self._to_judge = set()
                self._judging = len(todo)
                judged = True
                for start in range(0, len(todo), JUDGE_SLICE):
                    part = set(todo[start : start + JUDGE_SLICE])
                    judged = self._judge(part, aggregates=start + JUDGE_SLICE >= len(todo))
                    if not judged:
                        self._to_judge.update(todo[start:])
                        break
                    self._judging = max(0, len(todo) - start - JUDGE_SLICE)
                    await asyncio.sleep(0)
                self._judging = 0
                if not judged:
                    continue
                self._aggregates_due = False  # judged with the last slice
            elif self._aggregates_due and self._judge(set()):
                self._aggregates_due = False  # events that moved no clock: the aggregates
            if time.monotonic() - last >= REEVALUATE_SECONDS and self._judge(None):
                last = time.monotonic()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SystemExit(f"error: cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _serve_http(app: Any, sock: socket.socket) -> threading.Thread:
    import uvicorn

    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sendwatch-http", daemon=True
    )
    thread.start()
    return thread


def worker_command(
    *,
    broker: str,
    topic: str,
    port: int,
    now: str | None,
    alertmanager: str | None,
    host: str = "127.0.0.1",
) -> None:
    """Run a worker until SIGINT or SIGTERM."""
    try:
        servers = parse_broker(broker)
        frozen = parse_date(now, "now") if now else None
        kafka = settings.load().kafka()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    points = settings.scorecard_points()
    try:
        rules = load_rules(None, points)
    except RulesError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        ensure_topics(servers, topic, kafka.partitions, kafka.replication)
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    sock = _bind(host, port)
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    try:
        access, generated = for_service(settings.access())
        audit = AuditLog(settings.load().audit_db or Path(f"{topic}.audit.db"))
    except (ValueError, AuditError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    source_box: list[KafkaSource] = []

    def queries() -> Sequence[tuple[date, Period]]:
        return source_box[0].published()

    worker = Worker(
        servers=servers,
        topic=topic,
        settings=kafka,
        queries=queries,
        name=f"{socket.gethostname()}:{port}",
        bulk_collection=bulk_collection,
        pause=paused_collector,
    )
    source = KafkaSource(
        worker,
        frozen_now=frozen,
        council=settings.council(),
        points=points,
        rules=rules,
        base_url=address,
    )
    source.alertmanager = alertmanager
    source_box.append(source)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(source))
    app = create_app(source, registry=registry, points=points, access=access, audit=audit)
    print(
        "\n".join(
            [
                f"sendwatch worker: {topic} on {broker}, group {kafka.group_for(topic)}; now is "
                + (f"frozen at {frozen}" if frozen else f"today ({source.now()})"),
                f"sendwatch worker: metrics at {address}/metrics, health at {address}/healthz",
                (
                    f"sendwatch worker: API token (no token was set, so this one "
                    f"was made for this run): {generated}"
                    if generated
                    else f"sendwatch worker: API tokens: {described(access)}"
                ),
                f"sendwatch worker: reads of cases are recorded in the audit log {audit.path}",
            ]
        ),
        flush=True,
    )
    dispatcher = start_delivery(
        alertmanager, source.alert_engine, base_url=address, counts=source.notifications
    )
    _serve_http(app, sock)
    try:
        worker.run(loglevel=kafka.loglevel)
    finally:
        audit.close()
        if dispatcher is not None:
            dispatcher.stop()
