"""The monthly scrutiny report's figures: pure computation over a projector (no I/O).

A report for a month is computed as the council knew it at the month's *reporting cutoff*:
only events recorded at or before the end of the ``cutoff_days``-th day after the month ends
(Europe/London) count, so a report rebuilt later gives the same numbers. ``as_known_now``
uses everything recorded since, and lists the figures that changed and the late or retracted
records that explain them.

Every figure is the contract's (CONTRACT.md section 3), from ``projections.measures``:

- the month: ``measures(files, Period(first, last), now=last)``, the same numbers as
  ``sendwatch metrics --from FIRST --to LAST --now LAST --as-at CUTOFF``;
- the rolling 12 months: ``Period.default(last)``, as ``sendwatch metrics --now LAST
  --as-at CUTOFF``; the 12 months before them for the year-on-year comparison;
- the 12-month trend of each clock.

The cases are folded once, for (now = the month's last day, as_at = the cutoff), and every
period is measured over that one list of case files. The trend needs only the clocks
completed in each month: the measures are additive over clock runs, so each month's points
are ``measures`` over the runs that stopped in that month (the same rule, counted once).
"""

from __future__ import annotations

import calendar
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec

from events import Event
from events.envelope import LONDON, UTC
from projections import CaseFile, Period, Projector, fold_case
from projections.law import CLOCK_IDS, EXCEPTION_CLOCKS, EXCEPTION_GROUNDS, ORDER_DEADLINES
from projections.measures import (
    appeal_window_start,
    completed_by_period,
    dated_total,
    in_period,
    measures,
    render,
    standing,
    summed_measures,
    total,
)

Measures = dict[str, Any]
CUTOFF_DAYS = 10  # the reporting cutoff: the end of the 10th day after the month ends
TREND_MONTHS = 12


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``; raises ValueError naming the option."""
        parts = text.split("-")
        if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2:
            raise ValueError(f"month: expected YYYY-MM, got {text!r}")
        try:
            year, month = int(parts[0]), int(parts[1])
        except ValueError:
            raise ValueError(f"month: expected YYYY-MM, got {text!r}") from None
        if not 1 <= month <= 12 or year < 1900:
            raise ValueError(f"month: expected YYYY-MM, got {text!r}")
        return cls(year, month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def period(self) -> Period:
        return Period(self.first, self.last)

    @property
    def label(self) -> str:
        """``June 2025``."""
        return f"{calendar.month_name[self.month]} {self.year}"

    @property
    def short(self) -> str:
        """``Jun 2025``: for chart axes."""
        return f"{calendar.month_abbr[self.month]} {self.year}"

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)


def reporting_cutoff(month: Month, days: int = CUTOFF_DAYS) -> datetime:
    """The end of the ``days``-th day after the month's last day, Europe/London, in UTC.

    The same instant ``sendwatch metrics --as-at YYYY-MM-DD`` means for that day."""
    if days < 0:
        raise ValueError(f"cutoff days: must not be negative, got {days}")
    day = month.last + timedelta(days=days)
    return datetime.combine(day, time.max, LONDON).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Ledger:
    """The exceptions ledger for a period: exceptions applied in it (by their date)."""

    total: int
    by_ground: tuple[tuple[str, int], ...]
    by_clock: tuple[tuple[str, int], ...]
    family_told: int
    family_not_told: int
    not_recorded: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    """Tribunal orders of one kind: completed in the period, open at the month's end."""

    kind: str
    completed: int
    on_time: int
    excepted: int
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class Requests:
    """Requests for an EHC needs assessment received in a period, and those from schools."""

    received: int
    from_schools: int


@dataclass(frozen=True, slots=True)
class Revision:
    """One figure that differs between the original report and what is known now.

    For a rate, a median or a maximum, ``*_base`` is how many cases it is over (for
    small-number suppression); for a count it is the count itself."""

    scope: str  # "month" or "year"
    path: tuple[str, ...]  # into the contract's JSON, e.g. ("final_plan", "completed")
    original: Any
    revised: Any
    original_base: int
    revised_base: int

    @property
    def section(self) -> str:
        return self.path[0]


@dataclass(frozen=True, slots=True)
class Cause:
    """Records that explain revisions of a section, grouped by kind and event type: late
    records (``kind`` "late": events recorded after the cutoff that occurred by the month's
    end) or retractions recorded after the cutoff (``kind`` "retracted": ``event_type`` and
    the days are of the events undone). ``first`` and ``last``: the days they occurred."""

    section: str
    kind: str
    event_type: str
    first: date | None
    last: date | None
    count: int


# The order sections of the contract's JSON are listed in.
SECTIONS = (
    *CLOCK_IDS,
    "appeals",
    "first_time_right",
    "education",
    "caseworkers",
    "plan_quality",
    "review_compliance",
    "sen_support",
)


@dataclass(frozen=True, slots=True)
class Revisions:
    changes: tuple[Revision, ...]
    causes: tuple[Cause, ...]
    late_records: int  # every event recorded after the cutoff that occurred by the month's end
    retractions: int  # of them, retractions


@dataclass(frozen=True, slots=True)
class Settled:
    """Decisions right first time over periods all of whose decisions are past the
    2-month appeal window at the month's end: the latest such month, its figures and those
    of the 12 months to it (CONTRACT.md 3, ``first_time_right``). Appeals lodged in time
    may still be pending (``appeals_pending``)."""

    month: Month
    figures: Measures  # first_time_right of that month
    year: Measures  # first_time_right of the 12 months to it


@dataclass(frozen=True, slots=True)
class Figures:
    month: Month
    cutoff: datetime
    as_known_now: bool
    year_period: Period  # the rolling 12 months (the contract's default period)
    prior_period: Period  # the 12 months before them
    current: Measures  # the month
    previous: Measures  # the month before
    year: Measures  # the rolling 12 months
    prior_year: Measures
    trend: tuple[tuple[Month, Measures], ...]  # each clock's completed figures, month by month
    ledger_month: Ledger
    ledger_year: Ledger
    orders_month: tuple[OrderRow, ...]
    orders_year: tuple[OrderRow, ...]
    requests_month: Requests
    requests_year: Requests
    events_used: int  # events the figures rest on (recorded by the cutoff, occurred by now)
    fingerprint: str  # SHA-256 of their sorted event ids
    newest_record: datetime | None  # the newest recorded_at in the whole input
    revisions: Revisions | None  # only as known now
    settled: Settled | None = None  # right first time, past the appeal window

    @property
    def as_at(self) -> datetime | None:
        return None if self.as_known_now else self.cutoff

    @property
    def provisional(self) -> bool:
        """Whether the data may still change: nothing in the input was recorded after the
        cutoff, so records still to come could fall before it."""
        return not self.as_known_now and (
            self.newest_record is None or self.newest_record < self.cutoff
        )


Step = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def compute(
    projector: Projector,
    month: Month,
    *,
    cutoff_days: int = CUTOFF_DAYS,
    as_known_now: bool = False,
    on_step: Step = _quiet,
    files: list[CaseFile] | None = None,
) -> Figures:
    """Every figure of the report. ``on_step`` is told what is being done (for progress).
    ``files``: the cases folded already (``report_files``), else folded here."""
    cutoff = reporting_cutoff(month, cutoff_days)
    as_at = None if as_known_now else cutoff
    now = month.last
    on_step("folding cases")
    if files is None:
        files = report_files(projector, month, cutoff_days, as_known_now)
    year_period = Period.default(now)
    prior_period = Period.default(year_period.start - timedelta(days=1))
    on_step("measuring the month, the month before and both 12 months")
    # each case's standing and dated tallies once, each period's share of their sums after
    now_total = total(standing(case, now) for case in files)
    by_day = dated_total(files, now)
    current, previous, year, prior_year = (
        summed_measures(now_total, by_day, files, period)
        for period in (month.period, month.shift(-1).period, year_period, prior_period)
    )
    on_step("monthly trend, ledger, orders")
    trend = _trend(by_day, month)
    settled = _settled(by_day, month)
    ledger_month, ledger_year = _ledgers(files, month.period, year_period)
    orders_month = _orders(files, month.period, now)
    orders_year = _orders(files, year_period, now)
    requests_month, requests_year = _requests(files, month.period, year_period)
    on_step("checking the records")
    used, fingerprint, late = _records(projector, files, now, cutoff, as_at)
    revisions = None
    if as_known_now:
        on_step("comparing with the original report")
        revisions = _revisions(projector, files, late, month, year_period, now, cutoff)
    return Figures(
        month=month,
        cutoff=cutoff,
        as_known_now=as_known_now,
        year_period=year_period,
        prior_period=prior_period,
        current=current,
        previous=previous,
        year=year,
        prior_year=prior_year,
        trend=trend,
        ledger_month=ledger_month,
        ledger_year=ledger_year,
        orders_month=orders_month,
        orders_year=orders_year,
        requests_month=requests_month,
        requests_year=requests_year,
        events_used=used,
        fingerprint=fingerprint,
        newest_record=projector.last_recorded,
        revisions=revisions,
        settled=settled,
    )


def report_files(
    projector: Projector, month: Month, cutoff_days: int = CUTOFF_DAYS, as_known_now: bool = False
) -> list[CaseFile]:
    """Every case folded as at the month's last day, as known at its cutoff (or now), once:
    a dormant case is folded for this and not kept (``case_files(keep=False)``). Of each
    case's history only its requests for assessment are kept (all the report reads of it:
    ``_requests``), so the report holds every case's clocks and records, not its events."""
    as_at = None if as_known_now else reporting_cutoff(month, cutoff_days)
    return [
        msgspec.structs.replace(
            case, history=[e for e in case.history if e.type == REQUEST], retracted=[]
        )
        for case in projector.case_files(month.last, as_at, keep=False)
    ]


REQUEST = "request.received"


def _trend(
    by_day: Mapping[date, Mapping[tuple[Any, ...], int]], month: Month
) -> tuple[tuple[Month, Measures], ...]:
    """Each clock's completed figures for each of the 12 months to ``month``."""
    months = [month.shift(n) for n in range(1 - TREND_MONTHS, 1)]
    figures = completed_by_period(by_day, [m.period for m in months])
    return tuple(zip(months, figures, strict=True))


def settled_month(month: Month) -> Month:
    """The latest month all of whose decisions are past the 2-month appeal window on
    ``month``'s last day: for October 2026, July (a decision of 31 August may still be
    appealed on 31 October)."""
    window = appeal_window_start(month.last)
    settled = month
    while settled.last >= window:
        settled = settled.shift(-1)
    return settled


def _ftr(by_day: Mapping[date, Mapping[tuple[Any, ...], int]], period: Period) -> Measures:
    ftr = {d: {k: n for k, n in t.items() if k[0] == "ftr"} for d, t in by_day.items()}
    return dict(render(in_period(ftr, period))["first_time_right"])


def _settled(by_day: Mapping[date, Mapping[tuple[Any, ...], int]], month: Month) -> Settled:
    """Right first time for the latest month past the appeal window and the 12 months to it
    (from the same day-by-day tallies as the trend, folded to ``month``'s last day)."""
    settled = settled_month(month)
    year = Period.default(settled.last)
    return Settled(settled, _ftr(by_day, settled.period), _ftr(by_day, year))


def _ledgers(files: list[CaseFile], month: Period, year: Period) -> tuple[Ledger, Ledger]:
    counts: tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]] = (Counter(), Counter())
    for case in files:
        for entry in case.exceptions:
            for period, tally in zip((month, year), counts, strict=True):
                if entry.day in period:
                    tally[("ground", entry.ground)] += 1
                    tally[("clock", entry.clock)] += 1
                    told = {True: "yes", False: "no", None: "unknown"}[entry.family_told]
                    tally[("told", told)] += 1
    return _ledger(counts[0]), _ledger(counts[1])


def _ledger(tally: Counter[tuple[str, str]]) -> Ledger:
    """The law's grounds in the regulations' order and its clocks in the law's order, then any
    other value recorded (``not_recorded``), sorted."""
    grounds = list(EXCEPTION_GROUNDS) + sorted(
        {k for kind, k in tally if kind == "ground"} - set(EXCEPTION_GROUNDS)
    )
    clocks = list(EXCEPTION_CLOCKS) + sorted(
        {k for kind, k in tally if kind == "clock"} - set(EXCEPTION_CLOCKS)
    )
    return Ledger(
        total=sum(n for (kind, _), n in tally.items() if kind == "ground"),
        by_ground=tuple((g, tally[("ground", g)]) for g in grounds),
        by_clock=tuple((c, tally[("clock", c)]) for c in clocks),
        family_told=tally[("told", "yes")],
        family_not_told=tally[("told", "no")],
        not_recorded=tally[("told", "unknown")],
    )


def _orders(files: list[CaseFile], period: Period, now: date) -> tuple[OrderRow, ...]:
    """Tribunal orders by kind: the tribunal_order clock's figures, split by the order."""
    counts: Counter[tuple[str, str]] = Counter()
    for case in files:
        for run in case.clocks:
            if run.clock != "tribunal_order" or run.cancelled is not None:
                continue
            kind = run.kind or "unknown"
            if run.stop is None:
                counts[(kind, "open")] += 1
                if not run.excepted and run.due < now:
                    counts[(kind, "overdue")] += 1
            elif run.stop in period:
                counts[(kind, "completed")] += 1
                counts[(kind, "on_time")] += run.stop <= run.due
                counts[(kind, "excepted")] += run.excepted
    kinds = list(ORDER_DEADLINES) + sorted({k for k, _ in counts} - set(ORDER_DEADLINES))
    return tuple(
        OrderRow(
            kind,
            counts[(kind, "completed")],
            counts[(kind, "on_time")],
            counts[(kind, "excepted")],
            counts[(kind, "open")],
            counts[(kind, "overdue")],
        )
        for kind in kinds
    )


def _requests(files: list[CaseFile], month: Period, year: Period) -> tuple[Requests, Requests]:
    counts: Counter[tuple[str, bool]] = Counter()
    for case in files:
        for event in case.history:
            if event.type != REQUEST:
                continue
            school = event.data.get("requested_by") == "school"
            for name, period in (("month", month), ("year", year)):
                if event.day in period:
                    counts[(name, False)] += 1
                    counts[(name, True)] += school
    return (
        Requests(counts[("month", False)], counts[("month", True)]),
        Requests(counts[("year", False)], counts[("year", True)]),
    )


def _records(
    projector: Projector,
    files: list[CaseFile],
    now: date,
    cutoff: datetime,
    as_at: datetime | None,
) -> tuple[int, str, dict[str, list[Event]]]:
    """How many events the figures rest on and their fingerprint; and, by case, the events
    recorded after the cutoff that occurred by ``now`` (late records and retractions)."""
    ids: list[str] = []
    late: dict[str, list[Event]] = {}
    for case in files:
        case_id = case.case_id
        for event in projector.stamps_of(case_id):  # a dormant case's events not made
            if event.day > now:
                continue
            if event.recorded_at > cutoff and case_id not in late:
                late[case_id] = [
                    e
                    for e in projector.events_of(case_id, keep=False)
                    if e.day <= now and e.recorded_at > cutoff
                ]
            if as_at is None or event.recorded_at <= as_at:
                ids.append(event.event_id)
    ids.sort()
    text = "".join(f"{event_id}\n" for event_id in ids)  # each id and a newline
    return len(ids), hashlib.sha256(text.encode()).hexdigest(), late


def flatten(value: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The contract's JSON as {path: value}, leaving out the per-setting breakdowns and the
    dead-letter count (they are not figures of the month)."""
    out: dict[tuple[str, ...], Any] = {}
    for key, item in value.items():
        if key in ("by_setting", "dead_letters"):
            continue
        if isinstance(item, Mapping):
            out.update(flatten(item, (*prefix, key)))
        else:
            out[(*prefix, key)] = item
    return out


def base(flat: Mapping[tuple[str, ...], Any], path: tuple[str, ...]) -> int:
    """How many cases a figure is over: the denominator of a rate, the children a median
    or maximum describes; a count is its own base."""
    head, field = path[:-1], path[-1]
    if field == "rate_incl_exceptions":
        return int(flat[(*head, "completed")])
    if field == "rate_excl_exceptions":
        return int(flat[(*head, "completed")] - flat[(*head, "excepted")])
    if path == ("first_time_right", "rate"):
        return int(flat[("first_time_right", "decisions")])
    if path == ("education", "longest_days_out"):
        return int(flat[("education", "out_of_education_now")])
    if path == ("education", "median_days_request_to_start"):
        return int(flat[("education", "eotas_started")])
    value = flat[path]
    return int(value) if isinstance(value, int) else 0


def _revisions(
    projector: Projector,
    files: list[CaseFile],
    late: dict[str, list[Event]],
    month: Month,
    year: Period,
    now: date,
    cutoff: datetime,
) -> Revisions:
    """Compare the figures with those as known at the cutoff, case by case: only a case with
    records after the cutoff can differ.

    A late record explains a section's change when folding the case without that one record
    undoes (part of) the change; a change that no single record explains (records that only
    matter together) is put down to all of the case's late records."""
    periods = {"month": month.period, "year": year}

    def figures_of(case: CaseFile) -> dict[tuple[str, ...], Any]:
        return {
            (scope, *path): value
            for scope, p in periods.items()
            for path, value in flatten(measures([case], p, now)).items()
        }

    changed: dict[str, set[str]] = {}  # case -> sections its late records changed
    original_files: list[CaseFile] = []
    explained: dict[tuple[str, str], list[Event]] = {}  # (case, section) -> records
    for case in files:
        if case.case_id not in late:
            continue
        before = projector.case_file(case.case_id, now, cutoff)
        if before is None:
            continue
        old, new = figures_of(before), figures_of(case)
        moved = {key for key in new if old[key] != new[key]}
        if not moved:
            continue
        sections = {key[1] for key in moved}
        changed[case.case_id] = sections
        original_files.append(before)
        events = projector.events_of(case.case_id)
        for record in late[case.case_id]:
            rest = [e for e in events if e.event_id != record.event_id]
            without = figures_of(fold_case(case.case_id, rest, now))
            for section in sorted({key[1] for key in moved if without[key] != new[key]}):
                explained.setdefault((case.case_id, section), []).append(record)
        for section in sections:
            explained.setdefault((case.case_id, section), list(late[case.case_id]))
    changes: list[Revision] = []
    if changed:
        unchanged = [case for case in files if case.case_id not in changed]
        for scope, p in periods.items():
            original = flatten(measures(unchanged + original_files, p, now))
            now_known = flatten(measures(files, p, now))
            for path, value in now_known.items():
                if original[path] != value:
                    changes.append(
                        Revision(
                            scope,
                            path,
                            original[path],
                            value,
                            base(original, path),
                            base(now_known, path),
                        )
                    )
    counts: Counter[tuple[str, str, str]] = Counter()
    days: dict[tuple[str, str, str], list[date]] = {}
    for (case_id, section), records in explained.items():
        events = projector.events_of(case_id)
        for record in records:
            if record.type == "event.retracted":
                target = next((e for e in events if e.event_id == record.data["event_id"]), None)
                kind, event_type = "retracted", "unknown" if target is None else target.type
                day = None if target is None else target.day
            else:
                kind, event_type, day = "late", record.type, record.day
            key = (section, kind, event_type)
            counts[key] += 1
            if day is not None:
                days.setdefault(key, []).append(day)
    all_late = [event for events in late.values() for event in events]
    return Revisions(
        changes=tuple(
            sorted(changes, key=lambda c: (c.scope != "month", _section_order(c.path[0])))
        ),
        causes=tuple(
            Cause(*key, *_span(days.get(key)), n)
            for key, n in sorted(counts.items(), key=_cause_order)
        ),
        late_records=len(all_late),
        retractions=sum(1 for event in all_late if event.type == "event.retracted"),
    )


def _span(found: list[date] | None) -> tuple[date | None, date | None]:
    return (min(found), max(found)) if found else (None, None)


def _section_order(section: str) -> int:
    return SECTIONS.index(section) if section in SECTIONS else len(SECTIONS)


def _cause_order(item: tuple[tuple[str, str, str], int]) -> tuple[Any, ...]:
    (section, kind, event_type), _ = item
    return (_section_order(section), section, kind != "late", event_type)
