"""The decoder alone, against bare orjson decoding of the same lines in the same run.

    python bench/decode.py [--events 200000] [--rounds 5]

Each path validates every line of a simulated history as the contract says; the figures are
CPU seconds (best of the rounds, the paths interleaved, the collector paused), so that other
processes on the cores disturb them less:
- ``read_event``: what a replay from a JSONL file and the Kafka worker's raw path pay (msgspec
  parses and validates in one pass);
- ``decode``: what ingest pays (orjson parses, the record is stored as it came; msgspec
  validates);
- each again with the models alone (pydantic validates every event: the path before msgspec,
  and what the fast path is tested against).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.history import history_lines
from events.codec import _decode, _event_of, decode, read_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = history_lines(args.events)
    paths: dict[str, Callable[[bytes], Any]] = {
        "orjson decode only (bare)": orjson.loads,
        "read_event": lambda line: read_event(line, arrival=None),
        "read_event, the models alone": lambda line: _event_of(
            *_decode(line, None, None, False, False)
        ),
        "decode": lambda line: decode(line, arrival=None),
        "decode, the models alone": lambda line: _decode(line, None, None, True, False),
    }
    best = dict.fromkeys(paths, float("inf"))
    gc.collect()
    gc.disable()
    try:
        for _ in range(args.rounds):
            for name, path in paths.items():
                start = time.process_time()
                for line in lines:
                    path(line)
                best[name] = min(best[name], time.process_time() - start)
    finally:
        gc.enable()
    bare = best["orjson decode only (bare)"]
    print(f"events {len(lines):,}, best of {args.rounds} rounds (CPU time)")
    print(f"{'':<32} {'µs an event':>12} {'against bare':>13}")
    for name, seconds in best.items():
        print(f"{name:<32} {seconds / len(lines) * 1e6:>12.2f} {seconds / bare:>12.2f}x")


if __name__ == "__main__":
    main()
