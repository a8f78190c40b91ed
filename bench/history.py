"""A simulated history of a given size for the benchmarks, cached under bench/data/."""

from __future__ import annotations

import argparse
import itertools
import time
from datetime import date
from pathlib import Path

import orjson

from simulation.council import simulate, write_jsonl

DATA = Path(__file__).parent / "data"
END = date(2026, 6, 30)  # fixed, so the same file is reused across runs


def history_lines(events: int, seed: int = 1) -> list[bytes]:
    """The first ``events`` lines of a simulated Kent-sized history (enough years for it)."""
    return history_file(events, seed).read_bytes().splitlines(keepends=True)


def history_file(events: int, seed: int = 1) -> Path:
    """``history_lines``'s file, made if it is not there yet."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"kent-seed{seed}-{events}.jsonl"
    if not path.exists():
        years = 1
        while True:
            stream = simulate(seed=seed, years=years, end=END)
            head = list(itertools.islice(stream, events))
            if len(head) == events or years >= 12:
                break
            years += 1
        tmp = path.with_suffix(".tmp")
        write_jsonl(str(tmp), head)
        tmp.rename(path)
    return path


def history_years(years: int, seed: int = 1, end: date = END) -> Path:
    """A simulated Kent-sized history of ``years`` years up to ``end``, as a JSONL file."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"kent-seed{seed}-{years}y-to-{end}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_jsonl(str(tmp), simulate(seed=seed, years=years, end=end))
        tmp.rename(path)
    return path


def sized_history(description: str | None) -> list[bytes]:
    """The lines asked for on the command line (``--events``, default one million)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=1_000_000)
    return history_lines(parser.parse_args().events)


def bare_decoding_seconds(lines: list[bytes]) -> float:
    """The baseline: only decoding every line with orjson."""
    start = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    return time.perf_counter() - start
