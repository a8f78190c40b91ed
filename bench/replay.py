"""Computing every measure over a history, against bare orjson decoding of the same lines.

    python bench/replay.py [--events 1000000]

Four paths, all in this one process: bare decoding (the baseline); validating the JSONL
and folding it (``sendwatch metrics --events``); replaying the embedded log, whose records
were validated at ingest (``sendwatch run`` at start); and loading a snapshot of the folded
state (``Projector.load_snapshot``: ``sendwatch run`` at start when one is saved beside the
log) with the measures on its day and the next. Also memory per case, and where a
replay of the log spends its time, phase by phase: what any replay in CPython pays (reading
and decoding the stored records) and what the statutory rules themselves cost (the fold's
handlers and each case's tallies), each against bare decoding.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.history import END, bare_decoding_seconds, sized_history
from events import from_body
from projections import Projector
from projections.case import HANDLERS
from projections.measures import dated, standing
from sendwatch.tuning import paused_collector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import catch_up, replay_lines


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed_measures(projector: Projector, now: date) -> float:
    start = time.perf_counter()
    projector.measures(now)
    return time.perf_counter() - start


def folded(log: EventLog, rules: bool = True) -> tuple[Projector, float]:
    """A projector of every event in ``log``, and the seconds its first fold of every case
    took; ``rules`` False folds with no handler (the fold's own loop: sorting, the case
    records, the history), to tell what the rules cost from what carrying them costs."""
    projector = Projector(pause=paused_collector)
    with paused_collector():
        catch_up(projector, log)
    some_case = next(iter(projector.case_ids()))
    saved = dict(HANDLERS)
    if not rules:
        HANDLERS.clear()
    try:
        start = time.perf_counter()
        projector.case_file(some_case)  # folds every case first
        return projector, time.perf_counter() - start
    finally:
        HANDLERS.update(saved)


def phases(log: EventLog) -> list[tuple[str, float]]:
    """Where a replay of the log spends its time: (phase, seconds), as ``catch_up`` then
    ``measures`` would, each phase timed over every event before the next begins."""
    clock = time.perf_counter
    with paused_collector():
        t0 = clock()
        bodies = [body for rows in log.read_raw() for _, body in rows]
        t1 = clock()
        events = [from_body(body) for body in bodies]
        t2 = clock()
        Projector().apply_all(events, unique=True)
        t3 = clock()
    read_s, make_s, apply_s = t1 - t0, t2 - t1, t3 - t2
    del bodies, events
    gc.collect()
    projector, fold_s = folded(log)
    t0 = clock()
    projector.measures(END)
    t1 = clock()
    files = list(projector.case_files())
    t2 = clock()
    for file in files:
        standing(file, END)
        dated(file, END)
    measures_s, tallies_s = t1 - t0, clock() - t2
    del projector, files
    gc.collect()
    handlers_s = max(fold_s - folded(log, rules=False)[1], 0.0)
    return [
        ("read the stored records (SQLite)", read_s),
        ("decode them into events (from_body)", make_s),
        ("apply them (by case, idempotent)", apply_s),
        ("fold every case", fold_s),
        ("  of which the rules (the handlers)", handlers_s),
        ("tally and sum every case (measures)", measures_s),
        ("  of which each case's tallies", tallies_s),
        ("the rules alone (handlers and tallies)", handlers_s + tallies_s),
        ("reading and decoding alone", read_s + make_s),
    ]


def main() -> None:
    lines = sized_history(__doc__)
    count = len(lines)
    decode_s = bare_decoding_seconds(lines)

    gc.collect()
    before = rss()
    start = time.perf_counter()
    projector = Projector(pause=paused_collector)
    with paused_collector():
        replay_lines(projector, lines, origin="bench")
    fold_file_s = time.perf_counter() - start + timed_measures(projector, END)
    gc.collect()
    held = rss() - before
    cases = projector.case_count
    del projector
    gc.collect()

    with tempfile.TemporaryDirectory() as folder, EventLog(Path(folder) / "bench.db") as log:
        ingest(lines, log, origin="bench")
        start = time.perf_counter()
        projector = Projector(pause=paused_collector)
        with paused_collector():
            catch_up(projector, log)
        fold_log_s = time.perf_counter() - start + timed_measures(projector, END)
        start = time.perf_counter()
        projector.measures(END)  # again: the live tallies are current
        again_s = time.perf_counter() - start
        with paused_collector():
            saved = projector.save_snapshot()
        del projector
        gc.collect()
        start = time.perf_counter()
        with paused_collector():
            restored = Projector.load_snapshot(saved, pause=paused_collector)
        snapshot_s = time.perf_counter() - start + timed_measures(restored, END)
        next_day_s = timed_measures(restored, END + timedelta(days=1))
        del restored, saved
        gc.collect()
        steps = phases(log)

    base = count / decode_s
    print(f"events                                   {count:>12,}")
    print(f"cases                                    {cases:>12,}")
    print(f"orjson decode only                       {base:>12,.0f} events/s")
    print(
        f"validate JSONL + fold + measures         {count / fold_file_s:>12,.0f} events/s"
        f"   ratio {fold_file_s / decode_s:5.2f}x"
    )
    print(
        f"replay log + fold + measures             {count / fold_log_s:>12,.0f} events/s"
        f"   ratio {fold_log_s / decode_s:5.2f}x   (goal: within 5x)"
    )
    print(
        f"load its snapshot + measures             {count / snapshot_s:>12,.0f} events/s"
        f"   ratio {snapshot_s / decode_s:5.2f}x   (the next day's measures then "
        f"{next_day_s * 1000:,.0f} ms)"
    )
    print(f"measures again, nothing changed          {again_s * 1000:>12,.1f} ms")
    print(
        f"memory held by the projector             {held / 2**20:>12,.0f} MiB"
        f"   ({held / cases:,.0f} bytes per case, {held / count:,.0f} per event)"
    )
    print("where a replay of the log spends its time   µs an event   against bare decoding")
    for name, seconds in steps:
        print(f"  {name:<40} {seconds / count * 1e6:>6.2f}   {seconds / decode_s:6.2f}x")


if __name__ == "__main__":
    main()
