"""The memory a projector holds, measured in a process of its own.

    python -m bench.held log PATH.db | bulk PATH.db | jsonl PATH.jsonl

A fresh process notes its resident size, then loads the history one of three ways:
- ``log``: replays the log (``catch_up``, as ``sendwatch run`` starts without a snapshot);
- ``bulk``: applies the log's records as events and settles them (as a Kafka partition's
  first bulk reading);
- ``jsonl``: replays the JSONL file (``replay_lines``, as ``sendwatch metrics --events``).

It asks for the measures on the history's last day and notes what it has gained; then it
makes the alert engine's daily pass (every case's file, none kept) and notes it again. A
process of its own, because memory freed earlier in a process stays in its allocator's
arenas: measured after other work, a replay reuses it and seems to hold less than it does.
Prints one JSON line: the bytes held after the replay and after the pass, the cases and
the events.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

from bench.history import END
from events import from_body
from projections import Projector
from sendwatch.tuning import paused_collector
from streams.log import EventLog
from streams.replay import catch_up, replay_lines


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def held(kind: str, path: Path) -> dict[str, int]:
    gc.collect()
    projector = Projector(pause=paused_collector)
    if kind == "log":
        with EventLog.open_existing(path) as log:
            before = rss()
            with paused_collector():
                catch_up(projector, log)
    elif kind == "bulk":  # as a Kafka partition's first bulk reading: events, then settled
        with EventLog.open_existing(path) as log:
            before = rss()
            with paused_collector():
                for rows in log.read_raw():
                    projector.apply_all([from_body(body) for _, body in rows], unique=True)
                projector.settle()
    else:
        with open(path, "rb") as lines:  # read as it goes, as ``metrics --events`` reads
            before = rss()
            with paused_collector():
                replay_lines(projector, lines, origin="bench")
    projector.measures(END)
    gc.collect()
    replayed = rss() - before
    with paused_collector():
        for _ in projector.case_files(END, keep=False):
            pass
    gc.collect()
    return {
        "replayed": replayed,
        "after_pass": rss() - before,
        "cases": projector.case_count,
        "events": projector.event_count,
    }


def measured(kind: str, path: Path) -> dict[str, int]:
    """``held`` in a process of its own (this module run by the same interpreter)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bench.held", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


if __name__ == "__main__":
    print(json.dumps(held(sys.argv[1], Path(sys.argv[2]))))
