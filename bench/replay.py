"""Computing every measure over a history, against bare orjson decoding of the same lines.

    python bench/replay.py [--events 1000000]

Four paths, all in this one process: bare decoding (the baseline); validating the JSONL
and folding it (``sendwatch metrics --events``); replaying the embedded log, whose records
were validated at ingest (``sendwatch run`` at start); and loading a snapshot of the folded
state (``Projector.load_snapshot``: ``sendwatch run`` at start when one is saved beside the
log) with the measures on its day and the next. Also memory per case, and where a
replay of the log spends its time, phase by phase: what any replay in CPython pays (reading
and decoding the stored records) and what the statutory rules themselves cost (the fold's
handlers and each case's tallies), each against bare decoding. Memory is the resident size
a process of its own gains (``bench/held.py``): a replay of the log settles each case as a
blob (``Projector.replay_cases``), a JSONL file's keeps its events as they
are (``Projector.settle``); then the alert engine's daily pass, every case folded once more
and none kept.
"""

from __future__ import annotations

import gc
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.held import measured
from bench.history import END, bare_decoding_seconds, history_file, sized_history
from events import from_bodies
from projections import Projector
from projections.case import HANDLERS, CaseFile, fold_events
from projections.projector import _Parts
from sendwatch.tuning import paused_collector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import catch_up, replay_lines


def timed_measures(projector: Projector, now: date) -> float:
    start = time.perf_counter()
    projector.measures(now)
    return time.perf_counter() - start


def phases(log: EventLog) -> list[tuple[str, float]]:
    """Where a replay of the log (``catch_up`` into an empty projector: each case's records
    gathered by SQLite, ``EventLog.read_by_case``, and settled, ``Projector.replay_cases``)
    spends its time: (phase, seconds). The whole is timed, and the parts that can be timed
    apart (reading, decoding, the fold with and without its rules, each case's tallies into
    the sums); what is left is the settling's own work (keeping each case)."""
    clock = time.perf_counter
    with paused_collector():
        t0 = clock()
        blobs = list(log.read_by_case(0, log.head()))
        t1 = clock()
        by_case = {case_id: from_bodies(blob) for case_id, blob in blobs}
        t2 = clock()
        Projector().replay_cases(blobs)
        t3 = clock()
    read_s, decode_s, settle_s = t1 - t0, t2 - t1, t3 - t2
    del blobs
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
        ("read the stored records by case (SQLite)", read_s),
        ("decode them into events (from_bodies)", decode_s),
        ("settle each case (what is left)", rest_s),
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

    start = time.perf_counter()
    projector = Projector(pause=paused_collector)
    with paused_collector():
        replay_lines(projector, lines, origin="bench")
    fold_file_s = time.perf_counter() - start + timed_measures(projector, END)
    cases = projector.case_count
    del projector
    gc.collect()

    with tempfile.TemporaryDirectory() as folder, EventLog(Path(folder) / "bench.db") as log:
        ingest(lines, log, origin="bench")
        del lines
        start = time.perf_counter()
        projector = Projector(pause=paused_collector)
        with paused_collector():
            catch_up(projector, log)
        fold_log_s = time.perf_counter() - start + timed_measures(projector, END)
        start = time.perf_counter()  # the alert engine's daily pass over every case
        with paused_collector():
            passed = sum(1 for _ in projector.case_files(END, keep=False))
        pass_s = time.perf_counter() - start
        assert passed == cases
        memory = {
            "the log's replay": measured("log", Path(folder) / "bench.db"),
            "the JSONL file's": measured("jsonl", history_file(count)),
        }
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
    for name, held in memory.items():  # each in a process of its own (bench/held.py)
        for when, size in (("", held["replayed"]), (", then the pass", held["after_pass"])):
            print(
                f"memory held: {name + when:<28} {size / 2**20:>12,.0f} MiB"
                f"   ({size / cases:,.0f} bytes per case, {size / count:,.0f} per event)"
            )
    print("where a replay of the log spends its time   µs an event   against bare decoding")
    for name, seconds in steps:
        print(f"  {name:<40} {seconds / count * 1e6:>6.2f}   {seconds / decode_s:6.2f}x")


if __name__ == "__main__":
    main()
