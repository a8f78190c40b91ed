"""Start-up from a snapshot of folded state against a replay of the log, and both against
bare orjson decoding of the same history, all in this one process.

    python -m bench.snapshot [--years 3]

What ``sendwatch run``, ``metrics --db`` and ``report`` do before their first answer: load
the projector (``streams.replay.load_projector``: the snapshot beside the log and the tail,
or the whole log) and tally the measures of /metrics' windows. Measured on the day the
snapshot was saved and on the next (the service started again the day after), and the
cost of a case's first touch after loading (its events decoded and folded).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.history import END, bare_decoding_seconds, history_years
from projections.measures import windows
from sendwatch.tuning import paused_collector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import Loaded, load_projector
from streams.snapshots import snapshot_path, write_snapshot


def started(db: Path, now: date) -> tuple[float, Loaded]:
    """Seconds to load the projector and tally /metrics' windows on ``now``."""
    gc.collect()
    start = time.perf_counter()
    loaded = load_projector(None, db, pause=paused_collector)
    with paused_collector():
        for period in windows(now).values():
            loaded.projector.tally(now, period)
    return time.perf_counter() - start, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=3)
    years = parser.parse_args().years
    lines = Path(history_years(years)).read_bytes().splitlines(keepends=True)
    decode_s = bare_decoding_seconds(lines)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        with EventLog(db, create=True) as log:
            ingest(lines, log, origin="bench")
        del lines
        replay_s, loaded = started(db, END)
        projector = loaded.projector
        cases = projector.case_count
        start = time.perf_counter()
        with paused_collector():
            write_snapshot(projector, db)
        save_s = time.perf_counter() - start
        size = snapshot_path(db).stat().st_size
        expected = projector.measures(END)
        del projector, loaded
        gc.collect()
        snap_s, loaded = started(db, END)
        restored = loaded.projector
        assert restored.measures(END) == expected, "the snapshot's measures differ"
        some = sorted(restored.case_ids())[:1000]
        start = time.perf_counter()
        for case_id in some:
            restored.case_file(case_id)
        touch_s = (time.perf_counter() - start) / len(some)
        del restored, loaded
        gc.collect()
        next_s, loaded = started(db, END + timedelta(days=1))
        dormant = loaded.projector.dormant_count
        del loaded
        gc.collect()
    print(f"history                                  {years} years, {cases:,} cases")
    print(f"orjson decode only                       {decode_s:8.2f} s")
    rows = [
        ("start-up replaying the log", replay_s),
        ("start-up from the snapshot, same day", snap_s),
        ("start-up from the snapshot, next day", next_s),
        ("saving the snapshot", save_s),
    ]
    for name, seconds in rows:
        print(f"{name:<40} {seconds:8.2f} s   ratio {seconds / decode_s:5.2f}x")
    print(f"snapshot size                            {size / 2**20:8.0f} MiB")
    print(f"cases still not folded, next day         {dormant:8,}")
    print(f"first touch of a case after loading      {touch_s * 1e6:8.0f} µs")


if __name__ == "__main__":
    main()
