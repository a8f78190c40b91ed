"""A region in one log: the largest councils of the South East, each simulated at its own
published size, in one embedded event log, against bare orjson decoding in the same run.

    python -m bench.region [--years 3] [--councils 10]

The councils are the ``--councils`` largest of the South East (Kent's region) by EHC plans in
January 2025, from DfE's published release (``reports/published/``). Each is
``simulation.council.simulate`` with Kent's calibration, its size fields scaled to the
council's published plans (the caseload and what grows with it) and requests (requests a
year); the history is cached under bench/data/. Measured in one run: bare decoding of every
line (the baseline); ingest of the region's lines into one SQLite log (``streams.ingest.ingest``,
what ``sendwatch ingest --db`` and the service's POST do); then, each in a fresh process so
that its memory is its own, a replay of that log with every measure (``sendwatch run`` at
start with no snapshot, ``sendwatch metrics --db``), the memory it holds, each council's
measures alone (the ``council`` filter of ``/api/measures`` and ``sendwatch metrics
--council``) and saving a snapshot of the folded state; and loading that snapshot with every
measure (start-up when a snapshot is saved beside the log; its measures must equal the
replay's), the memory it holds, the next day's measures and each council's measures again.
Then each council's events a year and its busiest day, hour and minute, from the records'
own ``recorded_at``, and a Kent-sized council's share of each figure (docs/capacity.md does
the arithmetic of how many councils a service carries).

The Kafka worker is not started here: its rates are bench/kafka.py's, published in
docs/kafka.md, and are printed as such beside this run's figures.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import heapq
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from bench.history import DATA, END, bare_decoding_seconds
from projections import Projector
from projections.queue import Filters
from reports.published import LOCAL, open_release
from sendwatch.tuning import paused_collector
from simulation.council import DEFAULT_CALIBRATION, Calibration, simulate, write_jsonl
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import catch_up

REGION = "E12000008"  # the South East (DfE's region code), Kent's region
KENT = "886"

# bench/kafka.py on 1,000,000 Kent-sized events, one worker, Tansu on the same 2-core machine
# (docs/kafka.md, "Throughput", third session): end to end, events a second.
KAFKA_LIVE_TAIL = 59_039  # records validated by `sendwatch ingest`, read as they are
KAFKA_LIVE_TAIL_RAW = 48_428  # raw lines, the worker validating each
KAFKA_REBUILD = 50_821  # a worker's rebuild from those records, its start included
KAFKA_PRODUCER = 20_883  # `sendwatch ingest --broker` alone (validates, produces)


def rss() -> int:
    """This process's resident memory in bytes (as bench/replay.py measures it)."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Council:
    code: str  # DfE's LA code
    name: str
    plans: int  # EHC plans in place in January (DfE caseload.csv)
    requests: int  # requests for an assessment received in the year (DfE requests.csv)
    seed: int  # its own seed, so its event ids are its own (``ev-<seed>-...``)


def region_councils(count: int) -> list[Council]:
    """The ``count`` largest councils of the South East by plans in January, as DfE
    published them (the latest year of each figure in the packaged release)."""
    release = open_release()
    found = []
    for area in release.areas():
        if area.level != LOCAL or area.region_code != REGION:
            continue
        plans = release.figure(area.code, "plans_in_january").value
        requests = release.figure(area.code, "requests_received").value
        if plans is None or requests is None:
            continue
        found.append(Council(area.code, area.name, int(plans), int(requests), int(area.code)))
    found.sort(key=lambda council: (-council.plans, council.code))
    if not 1 <= count <= len(found):
        raise SystemExit(f"--councils: 1 to {len(found)}, not {count}")
    return found[:count]


def calibration_of(council: Council, kent: Council) -> Calibration:
    """Kent's calibration (rates, shares, mixes) at the council's size: requests a year by its
    published requests, the caseload and what grows with it by its published plans."""
    base = DEFAULT_CALIBRATION
    by_plans = council.plans / kent.plans
    by_requests = council.requests / kent.requests

    def scaled(value: int, factor: float = by_plans) -> int:
        return max(1, round(value * factor))

    return replace(
        base,
        requests_per_year=scaled(base.requests_per_year, by_requests),
        plans_in_cycle=scaled(base.plans_in_cycle),
        audits_per_year=scaled(base.audits_per_year),
        contacts_per_year=scaled(base.contacts_per_year),
        caseworkers=max(2, scaled(base.caseworkers)),
        out_of_education=scaled(base.out_of_education),
        eotas_requests_per_year=scaled(base.eotas_requests_per_year),
        sen_support_children=scaled(base.sen_support_children),
    )


def _recorded(line: bytes) -> tuple[str, str]:
    record: dict[str, str] = orjson.loads(line)
    return record["recorded_at"], record["event_id"]


def region_history(councils: list[Council], kent: Council, years: int, end: date = END) -> Path:
    """One JSONL file of every council's simulated history, in recorded order (as one log
    receives them), cached under bench/data/."""
    DATA.mkdir(exist_ok=True)
    codes = "-".join(council.code for council in councils)
    path = DATA / f"region-{codes}-{years}y-to-{end}.jsonl"
    if path.exists():
        return path
    parts = []
    for council in councils:
        part = DATA / f"region-part-{council.code}.tmp"
        events = simulate(
            seed=council.seed,
            years=years,
            end=end,
            council=council.code,
            calibration=calibration_of(council, kent),
            pause=paused_collector,
        )
        write_jsonl(str(part), events)
        parts.append(part)
    streams: list[IO[bytes]] = [part.open("rb") for part in parts]
    try:
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            merged: Iterator[bytes] = heapq.merge(*streams, key=_recorded)
            out.writelines(merged)
        tmp.rename(path)
    finally:
        for stream in streams:
            stream.close()
        for part in parts:
            part.unlink()
    return path


@dataclass(slots=True)
class Load:
    """A council's events: all, those recorded in the window, its busiest day, hour and
    minute (by ``recorded_at``, UTC)."""

    events: int = 0
    in_window: int = 0
    busiest_day: int = 0
    busiest_hour: int = 0
    busiest_minute: int = 0


def loads(lines: list[bytes], years: int, end: date = END) -> tuple[dict[str, Load], Load]:
    """Each council's load and the region's, from the records' ``council`` and
    ``recorded_at`` (an event recorded in the last ``years`` years is in the window; the rest
    are the history of plans made before it, which a council imports once)."""
    since = (end - timedelta(days=365 * years)).isoformat()
    days: dict[str, Counter[str]] = {}
    hours: dict[str, Counter[str]] = {}
    minutes: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    window: Counter[str] = Counter()
    for line in lines:
        record = orjson.loads(line)
        council, at = record["council"], record["recorded_at"]
        totals[council] += 1
        if at > since:
            window[council] += 1
        days.setdefault(council, Counter())[at[:10]] += 1
        hours.setdefault(council, Counter())[at[:13]] += 1
        minutes.setdefault(council, Counter())[at[:16]] += 1
    each = {
        code: Load(
            totals[code],
            window[code],
            max(days[code].values()),
            max(hours[code].values()),
            max(minutes[code].values()),
        )
        for code in totals
    }
    region_days: Counter[str] = Counter()
    region_hours: Counter[str] = Counter()
    region_minutes: Counter[str] = Counter()
    for code in totals:
        region_days.update(days[code])
        region_hours.update(hours[code])
        region_minutes.update(minutes[code])
    region = Load(
        sum(totals.values()),
        sum(window.values()),
        max(region_days.values()),
        max(region_hours.values()),
        max(region_minutes.values()),
    )
    return each, region


def council_measures(projector: Projector, codes: list[str]) -> dict[str, list[float]]:
    """Each council's [cases, seconds picking them, seconds of their measures]: the cases
    picked by the ``council`` filter, as ``/api/measures?council=`` does, then
    ``measures_of`` over them."""
    timed: dict[str, list[float]] = {}
    for code in codes:
        only = Filters(council=code)
        start = time.perf_counter()
        cases = projector.case_ids_where(only.matches, END)
        picked = time.perf_counter()
        projector.measures_of(cases, END)
        timed[code] = [len(cases), picked - start, time.perf_counter() - picked]
    return timed


def _digest(measures: dict[str, Any]) -> str:
    return hashlib.sha256(
        orjson.dumps(measures, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


def replayed(db: Path, snapshot: Path, codes: list[str]) -> dict[str, Any]:
    """In a fresh process: replay the log with every measure (as ``sendwatch run`` starts
    with no snapshot), the memory it holds, each council's measures, and a snapshot saved."""
    gc.collect()
    before = rss()
    start = time.perf_counter()
    projector = Projector(pause=paused_collector)
    with EventLog(db) as log, paused_collector():
        catch_up(projector, log)
        measures = projector.measures(END)
    replay_s = time.perf_counter() - start
    gc.collect()
    held = rss() - before
    with paused_collector():
        timed = council_measures(projector, codes)
    start = time.perf_counter()
    with paused_collector():
        snapshot.write_bytes(projector.save_snapshot())
    save_s = time.perf_counter() - start
    return {
        "cases": projector.case_count,
        "replay_s": replay_s,
        "held": held,
        "timed": timed,
        "save_s": save_s,
        "digest": _digest(measures),
    }


def loaded(snapshot: Path, codes: list[str]) -> dict[str, Any]:
    """In a fresh process: load the snapshot with every measure (``sendwatch run`` starting
    from one), the memory it holds, the next day's measures (a new day's recount), then each
    council's measures (which folds every case the snapshot left folded-on-touch)."""
    data = snapshot.read_bytes()
    gc.collect()
    before = rss()
    start = time.perf_counter()
    with paused_collector():
        projector = Projector.load_snapshot(data, pause=paused_collector)
        measures = projector.measures(END)
    load_s = time.perf_counter() - start
    gc.collect()
    held = rss() - before
    start = time.perf_counter()
    with paused_collector():
        projector.measures(END + timedelta(days=1))
    next_day_s = time.perf_counter() - start
    with paused_collector():
        timed = council_measures(projector, codes)
    gc.collect()
    return {
        "load_s": load_s,
        "held": held,
        "next_day_s": next_day_s,
        "timed": timed,
        "held_after": rss() - before,
        "digest": _digest(measures),
    }


def in_child(step: str, *args: str) -> dict[str, Any]:
    """A step run in a fresh Python process (so its memory is its own), its answer as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.region", "--step", step, *args],
        check=True,
        stdout=subprocess.PIPE,
    )
    answer: dict[str, Any] = orjson.loads(done.stdout)
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--councils", type=int, default=10)
    parser.add_argument("--step", choices=["replay", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--codes", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.step:  # a child process of this benchmark
        codes = options.codes.split(",")
        if options.step == "replay":
            answer = replayed(options.db, options.snapshot, codes)
        else:
            answer = loaded(options.snapshot, codes)
        sys.stdout.buffer.write(orjson.dumps(answer))
        return
    years: int = options.years
    councils = region_councils(options.councils)
    kent = councils[0]  # the largest council of the South East
    assert kent.code == KENT, kent
    codes = ",".join(council.code for council in councils)
    started = time.perf_counter()
    path = region_history(councils, kent, years)
    made_s = time.perf_counter() - started
    lines = path.read_bytes().splitlines(keepends=True)
    count = len(lines)
    each, region = loads(lines, years)

    decode_s = bare_decoding_seconds(lines)
    with tempfile.TemporaryDirectory() as folder:
        db, snapshot = Path(folder) / "region.db", Path(folder) / "region.snapshot"
        with EventLog(db, create=True) as log:
            start = time.perf_counter()
            summary = ingest(lines, log, origin="bench", pause=paused_collector)
            ingest_s = time.perf_counter() - start
            assert summary.accepted == count, summary
        del lines
        gc.collect()
        replay = in_child("replay", "--db", str(db), "--snapshot", str(snapshot), "--codes", codes)
        snapshot_size = snapshot.stat().st_size
        load = in_child("load", "--snapshot", str(snapshot), "--codes", codes)
    assert load["digest"] == replay["digest"], "the snapshot's measures differ from the replay's"
    figures = Figures(
        councils,
        years,
        count,
        made_s,
        decode_s,
        ingest_s,
        replay,
        load,
        snapshot_size,
        each,
        region,
    )
    figures.report()
    figures.capacity()


@dataclass(frozen=True, slots=True)
class Figures:
    councils: list[Council]
    years: int
    count: int
    made_s: float
    decode_s: float
    ingest_s: float
    replay: dict[str, Any]
    load: dict[str, Any]
    snapshot_size: int
    each: dict[str, Load]
    region: Load

    def ratio(self, seconds: float) -> float:
        return seconds / self.decode_s

    def report(self) -> None:
        replay, load, count = self.replay, self.load, self.count
        cases = replay["cases"]
        print(
            f"region: {len(self.councils)} councils of the South East, {self.years} years to {END}"
        )
        _line("events in the one log", f"{count:,}")
        _line("cases", f"{cases:,}")
        _line("history made (0 if cached)", f"{self.made_s:,.1f} s")
        _line("orjson decode only (baseline)", f"{count / self.decode_s:,.0f} ev/s", 1.0)
        _line(
            "ingest into one SQLite log",
            f"{count / self.ingest_s:,.0f} ev/s",
            self.ratio(self.ingest_s),
            f"{self.ingest_s:,.1f} s",
        )
        _line(
            "replay the log + every measure",
            f"{replay['replay_s']:,.1f} s",
            self.ratio(replay["replay_s"]),
            f"{replay['replay_s'] * 1e6 / count:.2f} µs an event",
        )
        _line(
            "memory held, replayed",
            f"{replay['held'] / 2**20:,.0f} MiB",
            None,
            f"{replay['held'] / cases:,.0f} bytes a case, {replay['held'] / count:,.0f} an event",
        )
        picking = sum(t[1] for t in replay["timed"].values())
        tallying = sum(t[2] for t in replay["timed"].values())
        _line(
            "every council's measures, one by one",
            f"{picking + tallying:,.2f} s",
            self.ratio(picking + tallying),
            f"picking its cases {picking:,.2f} s, measures_of {tallying:,.2f} s",
        )
        _line(
            "save a snapshot of the folded state",
            f"{replay['save_s']:,.1f} s",
            self.ratio(replay["save_s"]),
            f"{self.snapshot_size / 2**20:,.0f} MiB",
        )
        _line(
            "load the snapshot + every measure",
            f"{load['load_s']:,.2f} s",
            self.ratio(load["load_s"]),
            "in a fresh process",
        )
        _line(
            "memory held, loaded from the snapshot",
            f"{load['held'] / 2**20:,.0f} MiB",
            None,
            f"{load['held'] / cases:,.0f} bytes a case",
        )
        _line(
            "then the next day's measures",
            f"{load['next_day_s']:,.2f} s",
            self.ratio(load["next_day_s"]),
        )
        after = sum(t[1] + t[2] for t in load["timed"].values())
        _line(
            "then every council's measures, one by one",
            f"{after:,.2f} s",
            self.ratio(after),
            f"folds every case; memory then {load['held_after'] / 2**20:,.0f} MiB",
        )
        print()
        print(
            f"{'council':<26}{'plans':>7}{'requests':>9}{'events':>10}{'a year':>9}"
            f"{'cases':>9}{'busiest day':>12}{'hour':>6}{'min':>5}{'measures':>10}"
        )
        for council in self.councils:
            each = self.each[council.code]
            n, picking, tallying = replay["timed"][council.code]
            print(
                f"{council.code} {council.name:<22}{council.plans:>7,}{council.requests:>9,}"
                f"{each.events:>10,}{each.in_window / self.years:>9,.0f}{int(n):>9,}"
                f"{each.busiest_day:>12,}{each.busiest_hour:>6,}{each.busiest_minute:>5,}"
                f"{(picking + tallying) * 1000:>7,.0f} ms"
            )
        region = self.region
        print(
            f"{'the region':<26}{sum(c.plans for c in self.councils):>7,}"
            f"{sum(c.requests for c in self.councils):>9,}{region.events:>10,}"
            f"{region.in_window / self.years:>9,.0f}{cases:>9,}{region.busiest_day:>12,}"
            f"{region.busiest_hour:>6,}{region.busiest_minute:>5,}"
        )

    def capacity(self) -> None:
        """A Kent-sized council's share of this run's figures, and what one embedded service
        and one Kafka worker carry of such councils (docs/capacity.md shows the arithmetic)."""
        kent, count, replay, load = self.each[KENT], self.count, self.replay, self.load
        share = kent.events / count  # Kent's share of the log
        memory = replay["held"] * share
        replay_s, load_s = replay["replay_s"] * share, load["load_s"] * share
        ingest_rate = count / self.ingest_s
        print()
        print("a Kent-sized council: Kent's share of this run's figures")
        _line("events in the log", f"{kent.events:,}")
        _line("events a year, in the window", f"{kent.in_window / self.years:,.0f}")
        _line(
            "busiest day / hour / minute of its records",
            f"{kent.busiest_day:,} / {kent.busiest_hour:,} / {kent.busiest_minute:,}",
        )
        _line("memory held, replayed", f"{memory / 2**20:,.0f} MiB")
        _line("memory held, from a snapshot", f"{load['held'] * share / 2**20:,.0f} MiB")
        _line("start-up replaying the log", f"{replay_s:,.1f} s")
        _line("start-up from a snapshot", f"{load_s:,.2f} s")
        _line("a new day's recount", f"{load['next_day_s'] * share:,.2f} s")
        _line("first ingest of its whole log", f"{self.ingest_s * share:,.1f} s")
        _line(
            "its busiest day ingested in",
            f"{kent.busiest_day / ingest_rate:,.2f} s",
        )
        print()
        print("one embedded service carries, in Kent-sized councils (budgets assumed)")
        for budget in (8, 16):
            _line(
                f"memory, service + alert process's copy, {budget} GiB",
                f"{budget * 2**30 / (2 * memory):,.1f}",
            )
        _line("start-up replaying the log within 60 s", f"{60 / replay_s:,.1f}")
        _line("start-up from a snapshot within 1 s", f"{1 / load_s:,.1f}")
        print()
        print("one Kafka worker: bench/kafka.py's rates (docs/kafka.md), not this run's")
        for name, rate in [
            ("live tail, records", KAFKA_LIVE_TAIL),
            ("live tail, raw lines", KAFKA_LIVE_TAIL_RAW),
            ("rebuild from records", KAFKA_REBUILD),
        ]:
            _line(
                name,
                f"{rate:,} ev/s",
                None,
                f"a Kent's year in {kent.in_window / self.years / rate:,.1f} s, its busiest day "
                f"in {kent.busiest_day / rate:,.2f} s; this region's log in {count / rate:,.0f} s",
            )
        _line(
            "rebuild within 60 s, in Kent-sized councils",
            f"{60 * KAFKA_REBUILD / kent.events:,.1f}",
        )
        _line(
            "producer (sendwatch ingest --broker)",
            f"{KAFKA_PRODUCER:,} ev/s",
            None,
            f"this region's log produced in {count / KAFKA_PRODUCER:,.0f} s",
        )


def _line(name: str, value: str, ratio: float | None = None, note: str = "") -> None:
    shown = f"   ratio {ratio:6.2f}x" if ratio is not None else " " * 17
    print(f"{name:<48} {value:>14}{shown}{'   ' + note if note else ''}".rstrip())


if __name__ == "__main__":
    main()
