"""Computing every measure over a history, against bare orjson decoding of the same lines.

    python bench/replay.py [--events 1000000]

Three paths, all in this one process: bare decoding (the baseline); validating the JSONL
and folding it (``sendwatch metrics --events``); replaying the embedded log, whose records
were validated at ingest (``sendwatch run`` at start). Also memory per case.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.history import END, bare_decoding_seconds, sized_history
from projections import Projector
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


def main() -> None:
    lines = sized_history(__doc__)
    count = len(lines)
    decode_s = bare_decoding_seconds(lines)

    gc.collect()
    before = rss()
    start = time.perf_counter()
    projector = Projector()
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
        projector = Projector()
        catch_up(projector, log)
        fold_log_s = time.perf_counter() - start + timed_measures(projector, END)
        start = time.perf_counter()
        projector.measures(END)  # again: the live tallies are current
        again_s = time.perf_counter() - start

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
    print(f"measures again, nothing changed          {again_s * 1000:>12,.1f} ms")
    print(
        f"memory held by the projector             {held / 2**20:>12,.0f} MiB"
        f"   ({held / cases:,.0f} bytes per case, {held / count:,.0f} per event)"
    )


if __name__ == "__main__":
    main()
