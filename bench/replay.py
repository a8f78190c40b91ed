"""Computing every measure over a history, against bare orjson decoding of the same lines.

    python bench/replay.py [--events 1000000]

Four paths, all in this one process: bare decoding (the baseline); validating the JSONL
and folding it (``sendwatch metrics --events``); replaying the embedded log, whose records
were validated at ingest (``sendwatch run`` at start); and loading a snapshot of the folded
state (``Projector.load_snapshot``: ``sendwatch run`` at start when one is saved beside the
log) with the measures on its day and the next. Also memory per case, and where a
replay of the log spends its time, phase by phase: what any replay in CPython pays (reading
and decoding the stored records) and what the statutory rules themselves cost (the fold's
handlers and each case's tallies), each against bare decoding. Memory is the process's
resident size gained: a replay of the log settles each case (``Projector.replay_records``),
a JSONL file's replay keeps every case folded and tallied.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.history import END, bare_decoding_seconds, sized_history
from events import Event, from_body
from projections import Projector
from projections.case import HANDLERS, CaseFile, fold_events
from projections.projector import _Parts
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


def phases(log: EventLog) -> list[tuple[str, float]]:
    """Where a replay of the log (``catch_up`` into an empty projector: each case settled,
    ``Projector.replay_records``) spends its time: (phase, seconds). The whole is timed,
    and the parts that can be timed apart (reading, decoding, the fold with and without
    its rules, each case's tallies into the sums); gathering each case's records and
    keeping them as one blob is what is left."""
    clock = time.perf_counter
    with paused_collector():
        t0 = clock()
        bodies = [body for rows in log.read_raw() for _, body in rows]
        t1 = clock()
        events = [from_body(body) for body in bodies]
        t2 = clock()
        Projector().replay_records(bodies)
        t3 = clock()
    read_s, decode_s, settle_s = t1 - t0, t2 - t1, t3 - t2
    del bodies
    by_case: dict[str, list[Event]] = {}
    for event in events:
        by_case.setdefault(event.case_id, []).append(event)
    del events
    gc.collect()

    def fold_all() -> tuple[list[tuple[CaseFile, date]], float]:
        with paused_collector():
            start = clock()
            files = [
                (fold_events(case_id, own), max(e.day for e in own))
                for case_id, own in by_case.items()
            ]
            return files, clock() - start

    saved = dict(HANDLERS)
    HANDLERS.clear()
    try:
        bare_s = fold_all()[1]  # the fold's own loop: sorting, the case records, no rule
    finally:
        HANDLERS.update(saved)
    files, fold_s = fold_all()
    parts = _Parts()
    with paused_collector():
        start = clock()
        for case, last in files:
            parts.add_case(case.case_id, case, last)
        tallies_s = clock() - start
    rest_s = max(settle_s - decode_s - fold_s - tallies_s, 0.0)
    handlers_s = max(fold_s - bare_s, 0.0)
    return [
        ("read the stored records (SQLite)", read_s),
        ("decode them into events (from_body)", decode_s),
        ("gather each case's records, keep its blob", rest_s),
        ("fold every case", fold_s),
        ("  of which the rules (the handlers)", handlers_s),
        ("each case's tallies into the sums", tallies_s),
        ("the rules alone (handlers and tallies)", handlers_s + tallies_s),
        ("reading and decoding alone", read_s + decode_s),
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
        del lines
        gc.collect()
        before = rss()
        start = time.perf_counter()
        projector = Projector(pause=paused_collector)
        with paused_collector():
            catch_up(projector, log)
        fold_log_s = time.perf_counter() - start + timed_measures(projector, END)
        gc.collect()
        settled = rss() - before
        start = time.perf_counter()  # the alert engine's daily pass over every case
        with paused_collector():
            passed = sum(1 for _ in projector.case_files(END, keep=False))
        pass_s = time.perf_counter() - start
        gc.collect()
        after_pass = rss() - before
        assert passed == cases
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
        f"every case folded once more, none kept     {pass_s:>10,.1f} s"
        f"   ratio {pass_s / decode_s:5.2f}x   (the alert engine's daily pass)"
    )
    for name, size in (
        ("after the log's replay", settled),
        ("after that pass too", after_pass),
        ("after the JSONL file", held),
    ):
        print(
            f"memory held {name:<28} {size / 2**20:>12,.0f} MiB"
            f"   ({size / cases:,.0f} bytes per case, {size / count:,.0f} per event)"
        )
    print("where a replay of the log spends its time   µs an event   against bare decoding")
    for name, seconds in steps:
        print(f"  {name:<40} {seconds / count * 1e6:>6.2f}   {seconds / decode_s:6.2f}x")


if __name__ == "__main__":
    main()
