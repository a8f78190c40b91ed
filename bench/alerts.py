"""Evaluating every alert rule for a Kent-sized caseload, against iterating the open clocks.

    python -m bench.alerts [--years 1] [--seed 1]   (from the repository root)

The history is simulated (a Kent-sized council, about 30,000 open clocks on the last day),
folded once, and then, all in this one process, with "now" the history's last day:

- baseline: iterate every case's clocks and count the open, non-excepted ones (the least any
  per-case evaluation must do);
- the per-case rules over every case (``case_findings``), as at start and at midnight;
- ``Engine.update`` judging every case and the aggregates, as at start and at midnight (the
  measures of the three windows already live, as /metrics keeps them), and with the SQLite
  store writing every new alert;
- a 30-second tick on the same day (aggregates only) and a POST of 100 cases (incremental);
- the aggregates on a new day, when the live tallies are rebuilt (shared with /metrics).
Each timing is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from alerts.engine import CaseJudge, Engine, case_findings
from alerts.rules import load_rules
from alerts.store import SqliteAlertStore
from bench.history import END, history_years
from projections.measures import windows
from sendwatch.tuning import paused_collector
from streams.log import connect
from streams.replay import load_projector


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = history_years(args.years, args.seed)
    projector = load_projector(path, pause=paused_collector).projector
    now = END
    at = datetime.combine(now, clock_time(12), UTC)
    rules = load_rules()
    for period in windows(now).values():  # what /metrics keeps live
        projector.measures(now, period)

    def open_clocks() -> int:
        return sum(
            1
            for case in projector.case_files(now)
            for run in case.clocks
            if run.stop is None and run.cancelled is None and not run.excepted
        )

    count = open_clocks()
    judge = CaseJudge.of(rules, "http://127.0.0.1:8000")

    def per_case() -> int:
        return sum(len(case_findings(case, now, judge)) for case in projector.case_files(now))

    findings = per_case()
    baseline = best(args.repeat, open_clocks)
    judged = best(args.repeat, per_case)

    def full() -> Engine:
        engine = Engine(rules)
        engine.update(projector, now, at)
        return engine

    full_s = best(args.repeat, full)
    engine = full()
    firing = sum(engine.firing_counts().values())
    tick_s = best(args.repeat, lambda: engine.update(projector, now, at))
    cases = random.Random(args.seed).sample(sorted(c.case_id for c in projector.case_files()), 100)
    post_s = best(args.repeat, lambda: engine.update(projector, now, at, cases=cases))

    with tempfile.TemporaryDirectory() as folder:
        stores = iter(range(args.repeat))

        def stored() -> None:
            with SqliteAlertStore(connect(Path(folder) / f"alerts{next(stores)}.db")) as store:
                Engine(rules, store=store).update(projector, now, at)

        stored_s = best(args.repeat, stored)
        with SqliteAlertStore(connect(Path(folder) / "alerts0.db")) as store:
            start = time.perf_counter()
            restarted = Engine(rules, store=store)
            changes = restarted.update(projector, now, at)
            restart_s = time.perf_counter() - start
            assert not changes.fired and not changes.resolved

    next_day = now + timedelta(days=1)
    start = time.perf_counter()
    engine.update(projector, next_day, at + timedelta(days=1))
    new_day_s = time.perf_counter() - start

    print(f"cases                                            {projector.case_count:>10,}")
    print(f"open clocks (not excepted) on {now}          {count:>10,}")
    print(f"per-case findings / alerts firing                {findings:>10,} / {firing:,}")
    print(f"baseline: iterate every open clock               {baseline * 1000:>10,.0f} ms")
    for label, seconds in (
        ("per-case rules over every case", judged),
        ("Engine.update, every case + aggregates", full_s),
        ("  the same, saving every alert (SQLite)", stored_s),
        ("  after a restart (load + judge, no change)", restart_s),
        ("30 s tick, same day (aggregates only)", tick_s),
        ("a POST touching 100 cases", post_s),
        ("a new day: every case + tallies rebuilt", new_day_s),
    ):
        print(f"{label:<48} {seconds * 1000:>10,.0f} ms   ratio {seconds / baseline:6.2f}x")


if __name__ == "__main__":
    main()
