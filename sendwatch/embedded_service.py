"""``sendwatch run``: the embedded service on one machine, with no broker.

One SQLite event log, one in-process ``Projector`` and the HTTP app of ``sendwatch.api``.
At start the projector catches up with the log; each POST appends its batch to the log in one
transaction, then applies it (``streams.replay.apply_appended``: the projector is never rebuilt
per request). One lock guards the log and the projector: decoding happens outside it.

The alert engine runs in ``EmbeddedSource.on_change`` (see there). ``sendwatch run`` runs it
in a process of its own (``sendwatch.alert_process``), which follows the same log: judging alerts
never delays a POST or a read, and takes the machine's second core.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from alerts.engine import Engine
from alerts.rules import RulesError, load_rules
from alerts.store import FIRST_LISTED, SavedAlerts, SqliteAlertStore, alerts_path
from events import Event, Record
from observability.exposition import (
    Exposition,
    ExpositionCollector,
    IngestCounters,
    build_exposition,
)
from observability.health import Health
from projections import Period, Projector
from projections.case import CLOCKLESS
from projections.queue import Filters, queue_rows
from projections.scorecard import POINTS, Point
from projections.views import case_view
from sendwatch import settings
from sendwatch.access import Access, described, for_service
from sendwatch.alert_supervisor import AlertProcess
from sendwatch.api import MAX_BODY, clock_trend, create_app
from sendwatch.audit import AuditError, AuditLog, audit_path
from sendwatch.query import Query, parse_date, today
from sendwatch.source import Accepted, alerting_failure
from sendwatch.tuning import paused_collector, settle_collector, timed_full_collections
from streams.ingest import ingest, split_lines
from streams.log import (
    Appended,
    EventLog,
    LogError,
    Rejected,
    connect,
    hold_lock,
    lock_beside,
)
from streams.replay import apply_appended, catch_up
from streams.snapshots import open_snapshot, temporary_path, write_snapshot

HOUSEKEEPING_SECONDS = 1.0  # the timer: alerts saved and the log checkpointed this often
REEVALUATE_EVERY = 30  # timer ticks between ``on_change`` runs, so time-driven alerts fire
COLLECT_EVERY = 600  # timer ticks (10 minutes) between full collections of the heap
FOLLOW_SLICE = 5_000  # events applied at a time, lock held, when following other writers
# the folded state is saved beside the log (``streams.snapshots``) on shutdown, and by the
# timer when this many events were applied since the last save, or this long has passed
# with any applied
SNAPSHOT_EVENTS = 100_000
SNAPSHOT_SECONDS = 600.0
# and not more often than this: under a backfill at 20,000 events/s a save every 100,000
# events kept a core busy (a save costs seconds of a core on a Kent-sized history) and
# raised the POSTs' latency; a restart then replays at most a minute of events
SNAPSHOT_GAP = 60.0
EXPIRE_SECONDS = 86_400.0  # the timer purges expired dead letters once a day


class _Applying:
    """The log as the sink of a POST (``streams.ingest.Sink``): the batch is stored, then
    applied to the projector, under the source's lock, so a reader sees both or neither."""

    def __init__(self, source: EmbeddedSource) -> None:
        self.source = source

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Appended:
        source = self.source
        with source.lock:
            # fsynced before it returns (streams.log): the answer acknowledges a durable write
            done = source.log.append(records, rejected, origin=origin, lines=lines)
            source._stored(events, done)
        return done


class EmbeddedSource:
    """``sendwatch.source.Source`` over one ``EventLog`` and one ``Projector``.

    Thread-safe: every read and write of the log or the projector holds ``lock``.

    The alert engine (``alerts.engine.Engine``) runs in ``on_change``, with the lock held:
    after every applied batch (with the ids of the cases the batch touched) and every 30 s
    from the service's timer (``cases=None``: time has passed). ``alerts()`` lists them for
    ``GET /api/alerts`` and ``sendwatch_alerts_firing``: the engine's listing, which it makes
    only when asked after a change (listing thousands of alerts after every batch would
    double a small POST's cost); ``notifications`` counts Alertmanager deliveries by "sent"
    and "failed" (``sendwatch_alert_notifications_total``).

    ``deferred_saves``: the alerts a batch changed are saved by ``housekeeping`` (the
    service's timer, every second, and delivery before it sends anything) rather than
    inside the POST; the same timer checkpoints a log opened with ``autocheckpoint=False``.

    ``judge_alerts`` False: another process judges the alerts (``sendwatch.alert_process``, over
    an ``EmbeddedSource`` of its own that ``follow``s the log); this one lists them as that
    process last saved them, with its status (``health``: how far it has judged).
    """

    def __init__(
        self,
        log: EventLog,
        projector: Projector | None = None,
        *,
        frozen_now: date | None = None,
        council: str | None = None,
        points: tuple[Point, ...] = POINTS,
        alertmanager: str | None = None,
        rules: Path | None = None,
        base_url: str = "http://127.0.0.1:8000",
        deferred_saves: bool = False,
        judge_alerts: bool = True,
    ) -> None:
        self.log = log
        self.deferred_saves = deferred_saves
        self.projector = projector or Projector(pause=paused_collector)
        self.lock = threading.RLock()
        self.frozen_now = frozen_now
        self.council = council
        self.points = points
        self.alertmanager = alertmanager
        self.rules = rules
        self.notifications: dict[str, int] = {"sent": 0, "failed": 0}
        self.counters = IngestCounters()
        self._aggregates_due = False  # events followed since the aggregate rules were judged
        # the alert rules, when this process judges them (``RulesError`` before the log is
        # read); their alerts in their own file
        ruleset = load_rules(rules, points) if judge_alerts else None
        self.alert_store = store = SqliteAlertStore(connect(alerts_path(log.path)))
        self.alert_engine: Engine | None = None
        self.saved_alerts: SavedAlerts | None = None
        # what lists the alerts: the engine, or what the other process saved (read again
        # only after its next save); either makes its listing only when asked after a change
        self._listed: Engine | SavedAlerts
        if ruleset is not None:
            store.adopt(log.path)  # what an earlier version kept in the log's own file
            self.alert_engine = self._listed = Engine(
                ruleset, base_url=base_url, points=points, store=store
            )
        else:
            self.saved_alerts = self._listed = SavedAlerts(store)
        with self.lock:
            with paused_collector():
                catch_up(self.projector, log)
            self.dead_letters = log.dead_letter_count()  # one writer: kept current from here
            self.on_change(self.now())  # every case judged: alerts found again after a restart
        self._serving_since = datetime.now(UTC)  # the alert process's grace starts here

    # --- the Source protocol ------------------------------------------------------------

    def now(self) -> date:
        return self.frozen_now or today()

    def measures(self, query: Query) -> dict[str, Any]:
        with self.lock:
            return self.projector.measures(query.now, query.period, query.as_at, self.dead_letters)

    def dead_letter_list(self, limit: int | None) -> dict[str, Any]:
        """The dead letters stored, newest first (``sendwatch dead-letters list``)."""
        with self.lock:
            letters = self.log.dead_letters(limit)
            stored, purged = self.log.stored_dead_letters(), self.log.purged_dead_letters()
        return {
            "stored": stored,
            "purged": purged,
            "dead_letters": [d.to_json() for d in letters],
        }

    def purge_dead_letters(self, before: datetime) -> tuple[int, int]:
        """Delete the dead letters received before ``before``: (purged, still stored)."""
        with self.lock:
            purged = self.log.purge_dead_letters(before)
            return purged, self.log.stored_dead_letters()

    def case(self, case_id: str, now: date) -> dict[str, Any] | None:
        with self.lock:
            found = self.projector.case_file(case_id, now)
            return None if found is None else case_view(found, now)

    def alerts(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._listed.active(limit)

    def firing_counts(self) -> dict[str, int]:
        return self._listed.firing_counts()

    def alerting_status(self) -> dict[str, Any]:
        """What the alert process last said (its position, day and deliveries), or, when
        this process judges the alerts, the same of its own."""
        if self.saved_alerts is not None:
            return self.saved_alerts.status()
        assert self.alert_engine is not None
        day = self.alert_engine.day
        return {
            "position": self.projector.position,
            "judged_on": day.isoformat() if day else None,
            "notifications": dict(self.notifications),
        }

    def health(self) -> Health:
        p = self.projector
        with self.lock:  # listing the quarantine brings the projector's folds up to date
            alerting = self._alerting_health()
            return Health(
                ok=alerting["alerts_failure"] is None,  # a quarantine alone leaves it ok
                events=p.event_count,
                cases=p.case_count,
                dead_letters=self.dead_letters,
                last_recorded_at=p.last_recorded,
                detail={
                    "mode": "embedded",
                    "position": p.position,
                    "now": self.now().isoformat(),
                    **alerting,
                },
                quarantined=tuple(p.quarantined()),
            )

    def _alerting_health(self) -> dict[str, Any]:
        """How far the alerts are judged: to which position of the log, on which day; and,
        when another process judges them, whether it is failing (``alerting_failure``)."""
        status = self.alerting_status()
        judged_to = status.get("position")
        failure = None
        if self.saved_alerts is not None:
            failure = alerting_failure(status, self._serving_since, datetime.now(UTC))
        return {
            "alerts_judged_to": judged_to,
            "alerts_judged_on": status.get("judged_on"),
            "alerts_pending": judged_to is None or judged_to < self.projector.position,
            "alerts_failing": failure is not None,
            "alerts_failure": failure,
        }

    def post_events(self, body: bytes, origin: str) -> Accepted:
        """Validate JSONL (item n on line n), then store and apply the batch atomically."""
        summary = ingest(
            split_lines(body),
            _Applying(self),
            origin=origin,
            council=self.council,
            batch=None,  # one transaction
            events=True,
            refusals=True,  # conflicts with the log too, each with its line
            pause=paused_collector,  # thousands of small objects, none in a cycle
        )
        return Accepted(
            summary.accepted,
            summary.duplicates,
            [{"line": n, "reason": reason} for n, reason in summary.refused],
        )

    def _stored(self, events: Sequence[Event], done: Appended) -> None:
        """After the log has stored a posted batch (``self.lock`` held): apply it, count it,
        and judge the cases it may have changed."""
        with paused_collector():
            apply_appended(self.projector, self.log, events, done)
        self.dead_letters += done.rejected
        c = self.counters
        self.counters = replace(
            c,
            accepted=c.accepted + done.accepted,
            duplicates=c.duplicates + done.duplicates,
            rejected=c.rejected + done.rejected,
        )
        if done.accepted:
            # only the cases whose clocks the batch may have changed: the per-case
            # alert rules read nothing else
            self.on_change(
                self.now(), frozenset(e.case_id for e in events if e.type not in CLOCKLESS)
            )

    # --- beyond the protocol: the dashboard's trend, /metrics, the alert hook -----------

    def trend(self, clock: str, months: int, now: date) -> list[dict[str, Any]]:
        """Monthly completions and rates of one clock (``sendwatch.api.clock_trend``), from
        the projector's sums by day, kept current like the measures."""
        with self.lock:
            return clock_trend(self.projector.dated_sums(now), clock, now, months)

    def dfe(self, year: int, now: date) -> dict[str, Any]:
        """DfE's measures for a calendar year (``sendwatch.dfe_command.dfe_json``), as at now."""
        from sendwatch.dfe_command import dfe_json

        with self.lock:
            return dfe_json(self.projector.case_files(now), year, now)

    def queue(
        self,
        now: date,
        within: int,
        filters: Filters,
        clock: str | None,
        state: str | None,
    ) -> list[dict[str, Any]]:
        """The work queue's rows (``projections.queue.queue_rows``) as at ``now``."""
        with self.lock:
            return queue_rows(  # the cases it may list: one with no open run stays dormant
                self.projector.queue_files(now), now, within, filters, clock, state, self.council
            )

    def measures_where(self, query: Query, filters: Filters) -> dict[str, Any]:
        """The measures of the cases matching ``filters`` only (``Projector.measures_of``)."""
        with self.lock:
            p = self.projector
            council = self.council
            cases = p.case_ids_where(
                lambda case: filters.matches(case, council), query.now, query.as_at
            )
            return p.measures_of(cases, query.now, query.period, query.as_at, self.dead_letters)

    def exposition(self) -> Exposition:
        now = self.now()

        def measures_for(period: Period) -> Mapping[str, Any]:
            return self.projector.measures(now, period, None, self.dead_letters)

        with self.lock:
            return build_exposition(
                measures_for,
                now=now,
                wall_clock=datetime.now(UTC),
                health=self.health(),
                counters=self.counters,
                alerts_firing=self.firing_counts(),
                notifications=self.alerting_status().get("notifications", self.notifications),
                points=self.points,
            )

    def on_change(
        self, now: date, cases: frozenset[str] | None = None, aggregates: bool = True
    ) -> None:
        """The alert engine's hook (see the class docstring): the cases a batch touched are
        judged again; with ``cases=None`` every case is, when the day has changed. The
        aggregate rules are judged too, unless ``aggregates`` is False."""
        if self.alert_engine is None:
            return  # judged by another process
        if aggregates:
            self._aggregates_due = False
        self.alert_engine.update(
            self.projector,
            now,
            datetime.now(UTC),
            dead_letters=self.dead_letters,
            cases=cases,
            save=not (self.deferred_saves and cases is not None),
            aggregates=aggregates,
        )

    def follow(self, aggregates: bool = True, slice: int | None = None) -> int:
        """Apply what another process appended to the log, read the count of dead letters
        again, and judge the cases the new events touched; the aggregate rules too, when
        ``aggregates`` and anything has changed since they were last judged (they read the
        measures: judging them less often re-tallies a case changed meanwhile once).
        ``slice``: catch up that many events at a time, letting go of ``lock`` between
        them (the serving process follows a large ``sendwatch ingest`` while it serves).
        Returns how many events were new."""
        touched: set[str] = set()
        new = 0
        while slice is not None:
            with self.lock, paused_collector():
                start = self.projector.position
                new += catch_up(self.projector, self.log, touched, CLOCKLESS, limit=slice)
                if self.projector.position - start < slice:
                    break  # caught up
        with self.lock:
            with paused_collector():
                new += catch_up(self.projector, self.log, touched, CLOCKLESS)
            dead_letters, self.dead_letters = self.dead_letters, self.log.dead_letter_count()
            self._aggregates_due |= bool(new) or dead_letters != self.dead_letters
            judge_aggregates = aggregates and self._aggregates_due
            if touched or judge_aggregates:
                self.on_change(self.now(), frozenset(touched), aggregates=judge_aggregates)
        return new

    def publish_status(self) -> None:
        """Write ``alerting_status`` beside the alerts, for the process serving them, with
        what the dashboard asks for every second: how many fire, and the gravest few
        (``alerts.store.SavedAlerts`` then reads no alert for it)."""
        assert self.alert_engine is not None
        self.alert_store.write_status(
            {
                **self.alerting_status(),
                "firing": self.alert_engine.firing_counts(),
                "first": self.alert_engine.active(FIRST_LISTED),
                "written_at": datetime.now(UTC).isoformat(),  # /healthz: is it alive
            }
        )

    def housekeeping(self) -> None:
        """Save the alerts changed since the last save, and checkpoint the log (when its
        commits do not). Neither holds ``lock``: requests are served meanwhile."""
        if self.alert_engine is not None:
            self.alert_engine.save()
        if not self.log.autocheckpoint:
            self.log.checkpoint()


def tick(source: EmbeddedSource, ticks: int) -> None:
    """The timer's work, every ``HOUSEKEEPING_SECONDS`` (``ticks`` counts them): alerts
    judged again as time passes, saved, the log checkpointed, the heap collected."""
    if ticks % REEVALUATE_EVERY == 0:
        with source.lock:
            source.on_change(source.now())
    source.housekeeping()
    if ticks % COLLECT_EVERY == 0:
        settle_collector()


class PortError(Exception):
    """The port cannot be listened on; the message is one line saying what to do."""


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (not listening), so that a port in use is told
    before the address and token are printed, and no one takes the port while the log loads.
    ``serve`` closes it just before uvicorn binds the port itself: given the socket instead,
    asyncio does not set TCP_NODELAY on the connections it accepts (checked: 0 against 1),
    and answers waited on Nagle's algorithm (``bench/serve.py --paced``: POST to visible p50
    140-150 ms against 32-35 ms, 13,200-14,000 events/s achieved of 20,000 offered)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortError(
                f"port {port} on {host} is in use: is sendwatch already running? "
                f"Try --port {port + 1}"
            ) from None
        raise PortError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    except OverflowError:
        sock.close()
        raise PortError(f"--port: expected 1 to 65535, got {port}") from None
    return sock


def expire_dead_letters_of(log: EventLog, days: int) -> None:
    """Purge the dead letters older than ``days`` days (they keep raw input, which may hold
    personal data), saying how many if any. The caller holds the log (its writer's lock)."""
    purged = log.expire_dead_letters(days)
    if purged:
        print(
            f"sendwatch: purged {purged:,} dead letters received more than {days} days ago",
            file=sys.stderr,
            flush=True,
        )


def _save_snapshot(source: EmbeddedSource, db: Path) -> None:
    """The folded state saved beside the log (a cache: a failure is said, not raised)."""
    try:
        with source.lock, paused_collector():
            write_snapshot(source.projector, db)
    except OSError as error:
        print(f"sendwatch: cannot save the snapshot beside {db}: {error}", file=sys.stderr)


class BackgroundSnapshot:
    """The timer's snapshots, saved by a child process forked with the lock held, as a
    database saves in the background: the child has the projector as it was at that
    instant (copy-on-write) and saves it while this process serves on. The lock is held for
    the fork alone (milliseconds), not for the save (5–6 s for six Kent-sized years, 19–22 s
    for ten councils, measured: every POST and read waited as long). One at a time; the child
    touches nothing of this process's (no log, no socket, no output but a failure's line)
    and ends with ``os._exit``. Where ``fork`` is missing, it saves in place."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.db: Path | None = None  # the log the child saves the snapshot of

    def running(self) -> bool:
        """Whether a child is still saving (a finished one is reaped)."""
        if self.pid is None:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            done = self.pid
        if done:
            self.pid = None
        return self.pid is not None

    def start(self, source: EmbeddedSource, db: Path) -> None:
        if not hasattr(os, "fork"):
            _save_snapshot(source, db)
            return
        with source.lock:
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    with paused_collector():
                        write_snapshot(source.projector, db)
                    code = 0
                except BaseException as error:  # said with a bare write: no lock of a thread
                    line = f"sendwatch: cannot save the snapshot beside {db}: {error}\n"
                    os.write(2, line.encode(errors="replace"))
                finally:
                    os._exit(code)
            self.pid, self.db = pid, db

    def wait(self, limit: float = 120.0) -> None:
        """Wait for a child still saving (before the service saves on its way out), for
        ``limit`` seconds at most: one still saving then is killed (its snapshot, written
        to a temporary file and renamed only when whole, is simply not made)."""
        if self.pid is None:
            return
        deadline = time.monotonic() + limit
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            if self.db is not None:  # its half-written file
                temporary_path(self.db, self.pid).unlink(missing_ok=True)
            self.pid = None


def _tick(
    source: EmbeddedSource,
    alerting: AlertProcess,
    stop: threading.Event,
    keep_days: int,
    db: Path | None = None,
    saver: BackgroundSnapshot | None = None,
) -> None:
    """The serving process's timer: it follows what others append to the log (``sendwatch
    ingest`` into a live log shows within a second; its own POSTs are applied as they are
    stored), does ``tick``'s work, saves the snapshot now and then (in the background),
    restarts the alert process if it ended, and purges expired dead letters once a day."""
    saver = saver or BackgroundSnapshot()
    ticks = 0
    purged_at = time.monotonic()  # ``serve`` purged at start
    saved_at, saved_position = time.monotonic(), source.projector.position
    while not stop.wait(HOUSEKEEPING_SECONDS):
        ticks += 1
        source.follow(aggregates=False, slice=FOLLOW_SLICE)
        position = source.projector.position
        if (
            db is not None
            and not saver.running()
            and time.monotonic() - saved_at >= SNAPSHOT_GAP
            and (
                position - saved_position >= SNAPSHOT_EVENTS
                or (position != saved_position and time.monotonic() - saved_at >= SNAPSHOT_SECONDS)
            )
        ):
            saver.start(source, db)
            saved_at, saved_position = time.monotonic(), position
        tick(source, ticks)
        alerting.check()
        if time.monotonic() - purged_at >= EXPIRE_SECONDS:
            purged_at = time.monotonic()
            with source.lock:  # the log's connection is the POSTs' too
                expire_dead_letters_of(source.log, keep_days)


def _exit_gracefully(signum: int, frame: object) -> None:
    raise SystemExit(0)


def embedded_app(
    source: EmbeddedSource,
    *,
    token: str | None = None,
    max_body: int = MAX_BODY,
    access: Access | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The HTTP app over an embedded source, with its /metrics collector registered."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExpositionCollector(source.exposition))
    return create_app(
        source,
        token=token,
        registry=registry,
        points=source.points,
        max_body=max_body,
        access=access,
        audit=audit,
    )


def serve(
    *,
    db: Path,
    host: str,
    port: int,
    now: str | None,
    alertmanager: str | None,
    rules: Path | None,
    public_url: str | None = None,
) -> None:
    """Start the embedded service and block until it is stopped (Ctrl-C or SIGTERM).
    ``public_url``: the address alerts link to (default: the one it listens on).

    Before anything is loaded or printed: the log must be one (none at ``db``: an empty one
    is made, in a folder that exists, and the service says so), no other ``sendwatch run``
    may serve it (a lock held for the process's life), and the port must be free. Each is
    refused with one line, exit 2."""
    import uvicorn

    def refuse(message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(2)

    try:
        frozen = parse_date(now, "now") if now else None
    except ValueError as error:
        refuse(f"--{error}")
    try:
        access, generated = for_service(settings.access())
    except ValueError as error:
        refuse(str(error))
    try:
        points = settings.scorecard_points()
        keep_days = settings.dead_letter_days()
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as error:
        refuse(f"{error}" if isinstance(error, ValueError) else f"SENDWATCH_TARGETS: {error}")
    try:
        load_rules(rules, points)
    except RulesError as error:
        refuse(str(error))
    try:  # checkpointed by the timer instead
        new = not db.exists()
        log = EventLog(db, autocheckpoint=False, create=True)
    except LogError as error:
        refuse(str(error))
    if new:
        print(
            f"sendwatch: there was no event log at {db}: made a new, empty one "
            "(send events with POST /api/events or sendwatch ingest FILE --db "
            f"{db})",
            file=sys.stderr,
            flush=True,
        )
    try:
        serving = hold_lock(lock_beside(db, "run"))
    except OSError as error:
        log.close()
        refuse(f"cannot lock {lock_beside(db, 'run')}: {error.strerror}")
    if serving is None:
        log.close()
        refuse(
            f"another sendwatch run is serving {db} (it holds {lock_beside(db, 'run')}): "
            "stop it first, or give another --db"
        )
    try:
        listening = bind_port(host, port)
    except PortError as error:
        log.close()
        serving.close()
        refuse(str(error))
    try:  # only once the log, its lock and the port are known good: nothing made before
        audit = AuditLog(settings.load().audit_db or audit_path(db))
    except (ValueError, AuditError) as error:
        log.close()
        serving.close()
        listening.close()
        refuse(str(error))
    print(f"sendwatch: loading the event log {db} …", file=sys.stderr, flush=True)
    expire_dead_letters_of(log, keep_days)
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
    linked = public_url or address.rstrip("/")  # where alerts link to: the public address
    # the alerts are judged by a process of their own, which follows the log
    alerting = AlertProcess(db, base_url=linked, now=now, rules=rules, alertmanager=alertmanager)
    alerting.start()
    try:
        saved, snapshot = open_snapshot(log, db, paused_collector)
        print(f"sendwatch: starting from {snapshot}", file=sys.stderr, flush=True)
        source = EmbeddedSource(
            log,
            saved,
            frozen_now=frozen,
            council=settings.council(),
            points=points,
            rules=rules,
            base_url=linked,
            alertmanager=alertmanager,
            deferred_saves=True,
            judge_alerts=False,
        )
    except BaseException:
        alerting.stop()
        raise
    source.exposition()  # folds every case and fills the live tallies before the first scrape
    timed_full_collections()
    app = embedded_app(source, access=access, audit=audit)
    health = source.health()
    lines = [
        f"sendwatch: {health.events:,} events, {health.cases:,} cases, "
        f"{health.dead_letters:,} dead letters; now is "
        + (f"frozen at {frozen}" if frozen else f"today ({source.now()})"),
        f"sendwatch: dashboard at {address}",
        f"sendwatch: metrics at {address}metrics",
        (
            f"sendwatch: API token (no token was set, so this one was made "
            f"for this run): {generated}"
            if generated
            else f"sendwatch: API tokens: {described(access)}"
        ),
        f"sendwatch: reads of cases are recorded in the audit log {audit.path}",
    ]
    print("\n".join(lines), flush=True)
    if alertmanager:
        print(f"sendwatch: alerts go to Alertmanager at {alertmanager}", flush=True)
    stop = threading.Event()
    saver = BackgroundSnapshot()
    timer = threading.Thread(
        target=_tick, args=(source, alerting, stop, keep_days, db, saver), daemon=True
    )
    timer.start()
    # uvicorn stops gracefully on SIGTERM, then raises the signal again once it has restored
    # the handler it found: that handler must end the process through the ``finally`` below
    # (which saves the alerts), not kill it where it stands
    signal.signal(signal.SIGTERM, _exit_gracefully)
    listening.close()  # uvicorn binds the port itself, at once
    try:
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
    finally:
        stop.set()
        timer.join()
        alerting.stop()  # it judges what the log holds, and saves, before ending
        source.housekeeping()
        saver.wait()
        _save_snapshot(source, db)
        log.close()
        audit.close()
        serving.close()
