"""The measures of CONTRACT.md section 3, as sums of per-case contributions.

Every measure is additive over cases: each case contributes a ``Tally`` (a dict of tuple
keys to counts) for a period and a "now", and the measures are rendered from the sum. That
one shape serves a full replay, the incremental live service (subtract a case's old tally,
add its new one) and the Kafka workers (each partition's sum is merged by addition). Medians
and maxima are kept as multisets (``("eotas_days", 17)`` counted) so they add up too.

A case's tally has three parts: ``standing`` on a "now" (open clocks, children out of
education); ``dated``, what happened, by day, so that one tally serves every period; and
``many_caseworkers``, the one measure that is not a sum over days. The live service keeps
several periods current at once for the price of one. (``dated`` also depends on "now" for
one thing: whether a decision's appeal window is still open on it.)
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache, partial
from typing import Any, cast

from projections.calendar import add_months
from projections.case import CaseFile
from projections.law import APPEAL_AGAINST, APPEAL_OUTCOMES, CLOCK_IDS

Tally = dict[tuple[Any, ...], int]  # a missing key counts 0
Dated = dict[date, Tally]  # by the day it happened (``dated``)
Counts = defaultdict[tuple[Any, ...], int]
CLOCK_FIELDS = ("completed", "on_time", "excepted", "excepted_on_time")
OPEN_FIELDS = ("open", "overdue", "due_within_7_days")
SOON = timedelta(days=7)
CW_CASES = ("cw", "cases")
CW_MANY = ("cw", "cases_with_3_or_more")
NOTHING: Mapping[tuple[Any, ...], int] = {}  # never changed
CLOCK_KEYS = {  # each clock's keys of CLOCK_FIELDS, made once (``dated`` counts millions)
    clock: tuple(("clock", clock, name) for name in CLOCK_FIELDS) for clock in CLOCK_IDS
}
APPEAL_MONTHS = 2  # a family may appeal within 2 months of the decision (DOMAIN.md)
# no decision more than this before "now" can still be appealed (2 months <= 62 days)
WINDOW_DAYS = timedelta(days=31 * APPEAL_MONTHS)
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive dates for completed clocks and for counts of things that happened."""

    start: date
    end: date

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    @classmethod
    def default(cls, now: date, start: date | None = None, end: date | None = None) -> Period:
        """The contract's default: the 12 months to ``now`` (or to ``end`` when given)."""
        end = end or now
        return cls(start or add_months(end, -12) + timedelta(days=1), end)


def windows(now: date) -> dict[str, Period]:
    """The three windows of completed clocks that /metrics and the alert rules read
    (7 days, 28 days, and the contract's default 12 months), each ending on ``now``."""
    return {
        "7d": Period(now - timedelta(days=6), now),
        "28d": Period(now - timedelta(days=27), now),
        "12m": Period.default(now),
    }


def standing(case: CaseFile, now: date) -> Tally:
    """What one case adds to the measures of how things stand on ``now`` (open clocks,
    children out of education, SEN support): the same for every period."""
    if not (case.running or case.out_of_education_since or case.sen_support_setting):
        return {}
    tally: Counts = defaultdict(int)  # a C-level default: Counter's is a Python call
    soon = now + SOON
    for run in case.running:  # the open runs, and a few closed (CaseFile.running)
        if run.stop is not None or run.cancelled is not None:
            continue
        clock = run.clock
        tally[("clock", clock, "open")] += 1
        if not run.excepted:
            if run.due < now:
                tally[("clock", clock, "overdue")] += 1
            elif run.due <= soon:
                tally[("clock", clock, "due_within_7_days")] += 1
    if case.out_of_education_since is not None:
        tally[("edu", "out_now")] += 1
        tally[("edu_days_out", (now - case.out_of_education_since).days)] += 1
    if case.sen_support_setting is not None:
        tally[("sen", "open_now")] += 1
        tally[("sen_setting", case.sen_support_setting)] += 1
    return dict(tally)


@lru_cache(maxsize=64)
def appeal_window_start(now: date) -> date:
    """The earliest day of a decision that a family may still appeal against on ``now``.
    The tribunal's limit is 2 months from the decision; its last day (the decision's date
    plus 2 months, clamped to the month's end as every clock's) counts, as a clock's due
    date does. So: the first day whose last day to appeal is ``now`` or later (that last
    day never comes earlier for a later decision)."""
    day = now - WINDOW_DAYS  # its last day is ``now`` at the latest
    while add_months(day, APPEAL_MONTHS) < now:
        day += ONE_DAY
    return day


def dated(case: CaseFile, now: date, days: Container[date] | None = None) -> Dated:
    """What one case adds to the measures of what happened (clocks completed, appeals,
    decisions, EOTAS, caseworker changes, audits, review checks), by the day it happened:
    a period's share is the sum over its days (``in_period``), so one tally serves every
    period. The day a case first had a caseworker counts for every period ending after it.
    Whether a case had three or more caseworkers in a period is not a sum over days: that
    is ``many_caseworkers``. ``days``, if given: only what happened on those days.

    ``now`` (the case folded to it): a decision made within 2 months before it with no
    appeal yet counts as one whose appeal window is open. That changes with ``now`` but,
    on one ``now``, only when the case does (an appeal registered, the decision itself)."""
    by_day: defaultdict[date, Counts] = defaultdict(partial(defaultdict, int))  # C-level
    every = days is None
    only: Container[date] = () if days is None else days
    for run in case.clocks:
        stop = run.stop
        if stop is None or run.cancelled is not None or not (every or stop in only):
            continue
        completed, on_time_key, excepted, excepted_on_time = CLOCK_KEYS[run.clock]
        tally = by_day[stop]
        tally[completed] += 1
        on_time = stop <= run.due
        if on_time:
            tally[on_time_key] += 1
        if run.excepted:
            tally[excepted] += 1
            if on_time:
                tally[excepted_on_time] += 1
    for appeal in case.appeals.values():
        if every or appeal.registered in only:
            by_day[appeal.registered][("appeal", appeal.against, "registered")] += 1
        if appeal.concluded is not None and (every or appeal.concluded in only):
            by_day[appeal.concluded][("appeal", appeal.against, appeal.outcome)] += 1
    decisions = case.decisions
    if decisions:
        window = appeal_window_start(now)  # a decision before it cannot be appealed now
        for decision in decisions:
            day = decision.day
            if every or day in only:
                tally = by_day[day]
                tally[("ftr", "decisions")] += 1
                if decision.appealed:  # most are not: one test for them
                    if decision.overturned:
                        tally[("ftr", "overturned")] += 1
                    if decision.pending:
                        tally[("ftr", "appeals_pending")] += 1
                elif day >= window:
                    tally[("ftr", "appeal_window_open")] += 1
    for day in case.eotas_requests:
        if every or day in only:
            by_day[day][("eotas", "requested")] += 1
    for day, request in case.eotas_starts:
        if every or day in only:
            tally = by_day[day]
            tally[("eotas", "started")] += 1
            if request is not None:
                tally[("eotas_days", (day - request).days)] += 1
    previous: str | None = None
    for n, (day, worker) in enumerate(case.caseworkers):
        if every or day in only:
            if n == 0:
                by_day[day][CW_CASES] += 1
            elif worker != previous:
                by_day[day][("cw", "changes")] += 1
        previous = worker
    for day, b, e, f in case.audits:
        if every or day in only:
            tally = by_day[day]
            tally[("audit", "audited")] += 1
            for section, met in (("section_b_met", b), ("section_e_met", e), ("section_f_met", f)):
                if met:
                    tally[("audit", section)] += 1
    for day, setting, compliant in case.compliance:
        if every or day in only:
            tally = by_day[day]
            tally[("review", "checked")] += 1
            tally[("review_setting", setting, "checked")] += 1
            if compliant:
                tally[("review", "compliant")] += 1
                tally[("review_setting", setting, "compliant")] += 1
    return cast(Dated, by_day)  # dicts whose missing keys are made on reading: read with .get


def day_share(
    day: date, tally: Mapping[tuple[Any, ...], int], period: Period
) -> Mapping[tuple[Any, ...], int]:
    """What the dated tally of one day adds to a period's measures: all of it on a day in
    the period; on a day before it, only a first caseworker (the case has had one since);
    on a day after it, nothing."""
    if day > period.end:
        return NOTHING
    if day >= period.start:
        return tally
    first = tally.get(CW_CASES)
    return {CW_CASES: first} if first else NOTHING


def in_period(by_day: Mapping[date, Mapping[tuple[Any, ...], int]], period: Period) -> Tally:
    """A period's share of a ``dated`` tally (of one case, or summed over many)."""
    out: Tally = {}
    for day, tally in by_day.items():
        add(out, day_share(day, tally, period))
    return out


def many_caseworkers(case: CaseFile, period: Period) -> bool:
    """Whether the case had three or more caseworkers in the period (the one in place when
    it began counts)."""
    return many_workers(case.caseworkers, period)


def many_workers(workers: Sequence[tuple[date, str]], period: Period) -> bool:
    """``many_caseworkers`` of a case's caseworkers (``CaseFile.caseworkers``)."""
    if len(workers) < 3 or workers[0][0] > period.end:
        return False
    current: str | None = None
    seen: set[str] = set()
    for day, worker in workers:
        if day > period.end:
            break
        if day < period.start:
            current = worker
            continue
        if not seen and current is not None:
            seen.add(current)  # the caseworker in place when the period began
        seen.add(worker)
    return len(seen) >= 3


def contribution(case: CaseFile, period: Period, now: date) -> Tally:
    """What one case adds to every measure: its standing on ``now`` and what happened in
    ``period``."""
    tally = standing(case, now)
    add(tally, in_period(dated(case, now), period))
    if many_caseworkers(case, period):
        tally[CW_MANY] = 1
    return tally


def add(into: Tally, tally: Mapping[tuple[Any, ...], int], sign: int = 1) -> None:
    """Add (``sign`` -1: take away) one tally into another, in place. Plain dict arithmetic:
    ``Counter.update`` and ``.subtract`` are several times slower."""
    get = into.get
    for key, count in tally.items():
        into[key] = get(key, 0) + sign * count


def total(tallies: Iterable[Mapping[tuple[Any, ...], int]]) -> Tally:
    out: Tally = {}
    for tally in tallies:
        add(out, tally)
    return out


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def completed(tally: Mapping[tuple[Any, ...], int], clock: str) -> dict[str, Any]:
    """One clock's completed figures (``COMPLETED_FIELDS``: the counts and both rates) in a
    summed tally."""
    keys = zip(CLOCK_FIELDS, CLOCK_KEYS[clock], strict=True)
    c = {name: tally.get(key, 0) for name, key in keys}
    return {
        **c,
        "rate_incl_exceptions": _rate(c["on_time"], c["completed"]),
        "rate_excl_exceptions": _rate(
            c["on_time"] - c["excepted_on_time"], c["completed"] - c["excepted"]
        ),
    }


def _median(multiset: dict[int, int]) -> float | None:
    if not multiset:
        return None
    values = [value for value, count in sorted(multiset.items()) for _ in range(count)]
    middle = statistics.median(values)
    return int(middle) if float(middle).is_integer() else float(middle)


def render(summed: Mapping[tuple[Any, ...], int], dead_letters: int = 0) -> dict[str, Any]:
    """The contract's JSON (CONTRACT.md section 3) from a summed tally."""
    tally = Counter(summed)  # missing keys count 0
    out: dict[str, Any] = {}
    for clock in CLOCK_IDS:
        out[clock] = {
            **completed(tally, clock),
            **{f: tally[("clock", clock, f)] for f in OPEN_FIELDS},
        }
    out["appeals"] = {
        against: {
            "registered": tally[("appeal", against, "registered")],
            **{o: tally[("appeal", against, o)] for o in APPEAL_OUTCOMES},
        }
        for against in APPEAL_AGAINST
    }
    decisions, overturned = tally[("ftr", "decisions")], tally[("ftr", "overturned")]
    out["first_time_right"] = {
        "decisions": decisions,
        "overturned": overturned,
        "rate": None if decisions == 0 else round(1 - overturned / decisions, 4),
        "appeals_pending": tally[("ftr", "appeals_pending")],
        "appeal_window_open": tally[("ftr", "appeal_window_open")],
    }
    days_out = [key[1] for key, n in tally.items() if key[0] == "edu_days_out" and n > 0]
    out["education"] = {
        "out_of_education_now": tally[("edu", "out_now")],
        "longest_days_out": max(days_out, default=0),
        "eotas_requested": tally[("eotas", "requested")],
        "eotas_started": tally[("eotas", "started")],
        "median_days_request_to_start": _median(
            {key[1]: n for key, n in tally.items() if key[0] == "eotas_days" and n > 0}
        ),
    }
    out["caseworkers"] = {f: tally[("cw", f)] for f in ("cases", "changes", "cases_with_3_or_more")}
    out["plan_quality"] = {
        f: tally[("audit", f)]
        for f in ("audited", "section_b_met", "section_e_met", "section_f_met")
    }
    settings = sorted({key[1] for key, n in tally.items() if key[0] == "review_setting" and n})
    out["review_compliance"] = {
        "checked": tally[("review", "checked")],
        "compliant": tally[("review", "compliant")],
        "by_setting": {
            s: {
                "checked": tally[("review_setting", s, "checked")],
                "compliant": tally[("review_setting", s, "compliant")],
            }
            for s in settings
        },
    }
    out["sen_support"] = {
        "open_now": tally[("sen", "open_now")],
        "by_setting": dict(
            sorted((key[1], n) for key, n in tally.items() if key[0] == "sen_setting" and n)
        ),
    }
    out["dead_letters"] = dead_letters
    return out


def measures(
    cases: Iterable[CaseFile], period: Period, now: date, dead_letters: int = 0
) -> dict[str, Any]:
    """The contract's measures over folded cases."""
    return render(total(contribution(case, period, now) for case in cases), dead_letters)


def summed_measures(
    standing_total: Mapping[tuple[Any, ...], int],
    by_day: Mapping[date, Mapping[tuple[Any, ...], int]],
    cases: Iterable[CaseFile],
    period: Period,
    dead_letters: int = 0,
) -> dict[str, Any]:
    """``measures(cases, period, now)`` from the cases' ``standing`` tallies on ``now``
    summed (``total``) and their ``dated`` ones summed by day (``dated_total``): a period's
    share of the sum is the sum of the cases' shares, so the cases are gone through again
    only for their caseworkers. Several periods' measures (the report's four) then cost one
    ``standing`` and one ``dated`` of each case, not one for each period."""
    tally = dict(standing_total)
    add(tally, in_period(by_day, period))
    many = sum(1 for case in cases if many_caseworkers(case, period))
    if many:
        tally[CW_MANY] = tally.get(CW_MANY, 0) + many
    return render(tally, dead_letters)


COMPLETED_FIELDS = (*CLOCK_FIELDS, "rate_incl_exceptions", "rate_excl_exceptions")


def add_on_day(by_day: Dated, day: date, tally: Mapping[tuple[Any, ...], int]) -> None:
    """Add one day's tally into tallies summed by day, in place."""
    summed = by_day.get(day)
    if summed is None:
        by_day[day] = dict(tally)
    else:
        add(summed, tally)


def dated_total(cases: Iterable[CaseFile], now: date) -> Dated:
    """The ``dated`` tallies of many cases (folded to ``now``), summed by day."""
    by_day: Dated = {}
    for case in cases:
        for day, tally in dated(case, now).items():
            add_on_day(by_day, day, tally)
    return by_day


def completed_by_period(
    by_day: Mapping[date, Mapping[tuple[Any, ...], int]], periods: Sequence[Period]
) -> list[dict[str, dict[str, Any]]]:
    """Each clock's completed figures (``completed``, as ``measures`` gives them) for each of
    several periods that do not overlap, such as the months of a trend, from ``dated``
    tallies summed by day (``dated_total``, or the live service's sums): a run counts on
    the day it stopped, so one pass over the days puts each with its period."""
    sums: list[Tally] = [{} for _ in periods]
    for day, tally in by_day.items():
        for period, summed in zip(periods, sums, strict=True):
            if period.start <= day <= period.end:
                # only the clocks' keys: ``add`` of every key took 1.9 ms against 1.3 for the
                # dashboard's trend over 1,000,000 events (measured), once a second
                for keys in CLOCK_KEYS.values():
                    for key in keys:
                        count = tally.get(key)
                        if count:
                            summed[key] = summed.get(key, 0) + count
                break
    return [{clock: completed(summed, clock) for clock in CLOCK_IDS} for summed in sums]
