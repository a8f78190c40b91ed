"""The alert process of ``sendwatch run``: the alert engine, in a process of its own, over
an ``EmbeddedSource`` that follows the event log the service appends to.

    python -m sendwatch.alert_process --db FILE --base-url URL [--now DATE] [--rules FILE]
                                 [--alertmanager URL]

Judging alerts costs about as much as projecting the events (a backfill fires and resolves
an alert for most cases it touches), so in the service's own process it held every POST
and read for as long again, on one core of a machine that has two. Here it follows the log:
- every second it applies what the log gained, judges the cases touched (each once, however
  many events it had), saves the alerts it changed, and writes its status beside them (the
  position it has judged to, the day, the deliveries): the service lists the alerts and
  reports the status from there (``alerts.store.SavedAlerts``, ``/healthz``);
- every 10 s it judges the aggregate rules, if anything has changed (they read measures
  over every case: a case changed meanwhile is re-tallied once);
- every 30 s it judges again as time passes (every case, on a new day);
- it delivers to Alertmanager when asked (``alerts.alertmanager.Dispatcher``).

The service starts it before loading the log (both catch up at once), restarts it if it
ends, and stops it by closing its standard input (SIGTERM stops it too), through its handle
``sendwatch.alert_supervisor.AlertProcess``: it then judges what the log holds and saves
before ending. It runs in a process group of its own, so a Ctrl-C
meant for the service reaches only the service, which then stops it.

One judge per log: it holds an exclusive lock (``flock`` on ``events.alerts.db.judge.lock``
beside the alerts) for its life, and a second one refuses with one line and exit status
``JUDGE_RUNNING`` (75); the service's supervisor then waits quietly and takes over when the
other ends. It dies with the service: on Linux the kernel sends it SIGTERM when the service
is gone (``prctl(PR_SET_PDEATHSIG)``), however the service ended, and it then stops at once,
as if killed (what it had judged but not saved, the next alert process judges again when it
starts: nothing is delivered before it is saved), so a restarted service's alert process
never overlaps it. Elsewhere, its input closing tells it the same.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time
from datetime import date
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from alerts.alertmanager import start_delivery
from sendwatch import settings
from sendwatch.alert_supervisor import JUDGE_RUNNING, judge_lock
from sendwatch.embedded_service import (
    HOUSEKEEPING_SECONDS,
    EmbeddedSource,
    tick,
)
from sendwatch.query import parse_date
from sendwatch.tuning import paused_collector, timed_full_collections
from streams.log import EventLog, LogError, hold_lock
from streams.snapshots import open_snapshot

AGGREGATES_EVERY = 10  # seconds (ticks) between judgements of the aggregate rules
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def take_judge_lock(db: Path, wait: float, stop: threading.Event | None = None) -> BinaryIO | None:
    """The judge's lock of the log ``db``, trying for up to ``wait`` seconds (or until
    ``stop`` is set); None if another process still holds it."""
    deadline = time.monotonic() + wait
    while (held := hold_lock(judge_lock(db))) is None and time.monotonic() < deadline:
        if stop is not None and stop.wait(0.2):
            break
        if stop is None:
            time.sleep(0.2)
    return held


def die_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM when the process ``parent`` (the service) is gone
    (Linux; elsewhere the closed input tells), and end now if it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def follow(
    db: Path,
    *,
    base_url: str,
    frozen_now: date | None = None,
    rules: Path | None = None,
    alertmanager: str | None = None,
    stop: threading.Event,
) -> None:
    """Judge the alerts of the log ``db`` until ``stop`` is set."""
    log = EventLog.open_existing(db)  # it appends nothing: only its alerts' saves checkpoint
    try:
        saved, _ = open_snapshot(log, db, paused_collector)  # the serving process saves it
        source = EmbeddedSource(
            log,
            saved,
            frozen_now=frozen_now,
            points=settings.scorecard_points(),
            rules=rules,
            base_url=base_url,
            alertmanager=alertmanager,
            deferred_saves=True,
        )
        source.publish_status()
        timed_full_collections()  # as the service's
        assert source.alert_engine is not None  # it judges the alerts
        dispatcher = start_delivery(
            alertmanager, source.alert_engine, base_url=base_url, counts=source.notifications
        )
        try:
            ticks = 0
            while not stop.wait(HOUSEKEEPING_SECONDS):
                ticks += 1
                source.follow(aggregates=ticks % AGGREGATES_EVERY == 0)
                tick(source, ticks)
                source.publish_status()
        finally:
            source.follow()  # what the log holds now, judged and saved before ending
            source.housekeeping()
            source.publish_status()
            if dispatcher is not None:
                dispatcher.stop()
    finally:
        log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--now")
    parser.add_argument("--rules", type=Path)
    parser.add_argument("--alertmanager")
    parser.add_argument("--parent", type=int, help="the service's process id: end with it")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the lock")
    args = parser.parse_args(argv)
    parent: int | None = args.parent
    stop = threading.Event()

    def ending() -> None:
        """Stop: at once if the service is gone (as if killed), else after the last
        judgement and save."""
        if parent is not None and os.getppid() != parent:
            os._exit(0)
        stop.set()

    def stopping(signum: int, frame: FrameType | None) -> None:
        ending()

    def watching() -> None:
        # until the service closes it, or is gone; read from the descriptor, not through
        # sys.stdin's buffer, whose lock this thread would hold if the process ended meanwhile
        # (Python then aborts at shutdown: "could not acquire lock for <stdin>")
        while os.read(sys.stdin.fileno(), 65536):
            pass
        ending()

    signal.signal(signal.SIGTERM, stopping)
    threading.Thread(target=watching, daemon=True).start()  # even while waiting for the lock
    if parent is not None:
        die_with_parent(parent)
    try:
        lock = take_judge_lock(args.db, args.wait, stop)
    except OSError as error:
        print(
            f"sendwatch.alert_process: cannot lock {judge_lock(args.db)}: {error.strerror}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    if lock is None:
        print(
            f"sendwatch.alert_process: another alert process is judging {args.db} "
            f"(it holds {judge_lock(args.db)}): this one stops",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(JUDGE_RUNNING)
    try:
        frozen_now = parse_date(args.now, "now") if args.now else None
    except ValueError as error:
        print(f"sendwatch.alert_process: --{error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        follow(
            args.db,
            base_url=args.base_url,
            frozen_now=frozen_now,
            rules=args.rules,
            alertmanager=args.alertmanager,
            stop=stop,
        )
    except LogError as error:
        print(f"sendwatch.alert_process: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        lock.close()


if __name__ == "__main__":
    main()
