"""The projector: the one code path for replay and for live, event-by-event application.

Its state is every accepted event grouped by case (what a case's clocks are depends on all of
its events, in date order, so an event arriving late or a retraction refolds that case).
Derived from it, and cached: each case's fold, and for the last few "now"s asked about each
case's tallies (``projections.measures``: standing on that day, and what happened, by day)
with their sums and each asked-for period's share, kept current by re-tallying only the
cases that changed, and only the days that changed, when measures are next asked for.

``apply`` is idempotent on ``event_id``. Replay is ``apply`` over a history; a snapshot is
the state itself, so restoring one and applying the rest equals an uninterrupted run.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from events import Event
from projections.case import (
    STANDING_ONLY,
    CaseFile,
    Keyed,
    apply_order,
    extend_case,
    fold_keyed,
)
from projections.measures import (
    CW_MANY,
    NOTHING,
    Dated,
    Period,
    Tally,
    add,
    contribution,
    dated,
    day_share,
    in_period,
    many_caseworkers,
    render,
    standing,
    total,
)

SNAPSHOT_VERSION = 1
REWINDOW = 1000  # re-tallying more cases than this makes the windows' shares afresh, once
LIVE_NOWS = 2  # "now"s whose tallies are kept current: today, and one a query asked about
LIVE_PERIODS = 8  # periods kept current on each: the windows of /metrics and the alert rules


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of small objects are made,
    and move what is still alive at the end out of its sight (``gc.freeze``).

    Events, records and folds hold no reference cycles, and the collector's repeated passes
    over them took about half of a replay's time (measured); its first pass after the pause
    walked everything made during it (another 2 µs an event). Frozen objects are still freed
    when nothing refers to them; only cyclic garbage made during a pause is never collected,
    and these paths make none. Used by every path that makes many: the projector's refolds
    and re-tallies (however few: a live service's batch of 1,000 events spent 12% of its time
    in the collector's passes, measured), the embedded service's decoding and applying of a
    batch, replay from a log or a file, the simulator. Freezing is cheap (it moves lists).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


EMPTY_DATED: Dated = {}  # a case that adds nothing (never changed in place)


@dataclass(slots=True)
class _Window:
    """A period kept current: its share of the dated tallies (``in_period`` of ``by_day``)
    and the cases that had three or more caseworkers in it."""

    period: Period
    total: Tally = field(default_factory=dict)
    many: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Live:
    """The tallies kept current for one "now": each case's standing on it and its dated
    tally, their sums (``total``; ``by_day``, by the day things happened), and the periods
    asked about on it (the most recently asked last)."""

    now: date
    standing: dict[str, Tally] = field(default_factory=dict)  # cases that add something
    total: Tally = field(default_factory=dict)
    dated: dict[str, Dated] = field(default_factory=dict)  # cases that add something
    by_day: Dated = field(default_factory=dict)
    windows: dict[Period, _Window] = field(default_factory=dict)

    def rewindow(self) -> None:
        """Each window's share made afresh from the sums by day: cheaper than following
        every day of many cases into every window."""
        for window in self.windows.values():
            window.total = in_period(self.by_day, window.period)


def _replace(tallies: dict[str, Tally], total: Tally, case_id: str, new: Tally) -> None:
    """Put a case's new tally in place of its old one, and the difference into the sum."""
    old = tallies.get(case_id, NOTHING)
    if new == old:
        return
    if old:
        add(total, old, -1)
    add(total, new)
    if new:
        tallies[case_id] = new
    else:
        del tallies[case_id]


def _replace_dated(live: _Live, case_id: str, new: Dated, windows: bool = True) -> None:
    """``_replace`` for a dated tally, into the sums by day and (``windows``) each window's
    share. Only the days whose counts changed are touched (a new event usually changes one
    day), and each by the difference. A caller that leaves the windows out makes them
    afresh from the sums by day afterwards (``_Live.rewindow``)."""
    old = live.dated.get(case_id, EMPTY_DATED)
    if new == old:
        return
    by_day = live.by_day
    shares = live.windows.values() if windows else ()
    for day in old.keys() | new.keys() if old else new:
        before, after = old.get(day, NOTHING), new.get(day, NOTHING)
        if before == after:
            continue
        change: Mapping[tuple[Any, ...], int] = after
        if before:
            change = dict(after)
            add(change, before, -1)
        summed = by_day.get(day)
        if summed is None:
            by_day[day] = dict(change)
        else:
            add(summed, change)
        for window in shares:
            add(window.total, day_share(day, change, window.period))
    if new:
        live.dated[case_id] = new
    else:
        del live.dated[case_id]


class Projector:
    def __init__(self) -> None:
        self._cases: dict[str, list[Keyed]] = {}  # each event with its apply_order key
        self._seen: set[str] = set()
        self._last_day: dict[str, date] = {}
        self._last_seen: dict[str, datetime] = {}  # a case's newest recorded_at
        self._files: dict[str, CaseFile] = {}  # folded over all of a case's events
        self._last_key: dict[str, tuple[date, int, int, int, str]] = {}  # of each fold
        self._stale: set[str] = set()  # cases whose fold must be rebuilt
        self._changed: set[str] = set()  # cases whose tallies must be recomputed
        self._redate: set[str] = set()  # of those, cases whose dated tallies may have changed
        self._retracting: set[str] = set()  # cases with a retraction among their events
        self._live: dict[date, _Live] = {}  # the most recently asked last
        self.position = 0  # how far into its source the projector has read (set by callers)
        self._last_recorded: datetime | None = None

    # --- applying events ----------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one event; False (and nothing changes) if its id was already applied.

        An event that sorts after everything its case has (the usual live case) extends the
        case's fold at once; any other (late, out of order, a retraction) marks the case for
        a refold from its events when next read.
        """
        seen = self._seen
        if event.event_id in seen:
            return False
        seen.add(event.event_id)
        case_id = event.case_id
        key = apply_order(event)
        events = self._cases.get(case_id)
        if events is None:
            self._cases[case_id] = [(key, event)]
        else:
            events.append((key, event))
        if event.type == "event.retracted":
            self._retracting.add(case_id)
        case = self._files.get(case_id)
        if (
            case is not None
            and case_id not in self._stale
            and case_id not in self._retracting
            and key > self._last_key[case_id]
        ):
            extend_case(case, event)
            if event.type not in STANDING_ONLY:
                self._redate.add(case_id)
            self._last_key[case_id] = key
            if event.day > self._last_day[case_id]:
                self._last_day[case_id] = event.day
            if event.recorded_at > self._last_seen[case_id]:
                self._last_seen[case_id] = event.recorded_at
        else:
            self._stale.add(case_id)
            self._redate.add(case_id)
        if self._last_recorded is None or event.recorded_at > self._last_recorded:
            self._last_recorded = event.recorded_at
        self._changed.add(case_id)
        return True

    def apply_all(self, events: Iterable[Event]) -> int:
        """Apply many events; returns how many were new."""
        return sum(1 for event in events if self.apply(event))

    # --- reading ------------------------------------------------------------------------

    @property
    def last_recorded(self) -> datetime | None:
        """The newest ``recorded_at`` of any applied event."""
        return self._last_recorded

    @property
    def event_count(self) -> int:
        return len(self._seen)

    @property
    def case_count(self) -> int:
        return len(self._cases)

    def case_ids(self) -> set[str]:
        """Every case's id (a copy)."""
        return set(self._cases)

    def events_of(self, case_id: str) -> list[Event]:
        """A case's events (in no promised order)."""
        return [event for _, event in self._cases.get(case_id, ())]

    def _refresh(self, tallies: bool = True) -> None:
        """Refold the stale cases, and (``tallies``) re-tally the changed ones. Reading a
        case needs only its fold: tallies wait for the next reader of measures, so a case
        changed by many batches between two such readers is re-tallied once."""
        if not (self._stale or (tallies and self._changed)):
            return
        with paused_collector():
            self._refold()
            if tallies:
                self._retally_changed()

    def _refold(self) -> None:
        stale, self._stale = self._stale, set()
        for case_id in stale:
            keyed = self._cases[case_id]
            keyed.sort()  # kept in apply order: the next refold's sort is then cheap
            self._files[case_id] = fold_keyed(
                case_id, keyed, retractions=case_id in self._retracting, ordered=True
            )
            last = keyed[-1][0]
            self._last_key[case_id] = last
            self._last_day[case_id] = last[0]
            self._last_seen[case_id] = max([pair[1].recorded_at for pair in keyed])

    def _retally_changed(self) -> None:
        changed, self._changed = self._changed, set()
        redate, self._redate = self._redate, set()
        for live in self._live.values():
            self._retally(live, changed, redate)

    def _retally(
        self, live: _Live, cases: Collection[str], redate: Container[str] | None = None
    ) -> None:
        """Bring ``live`` up to date for ``cases``; their dated tallies only for those in
        ``redate`` (None: all), or whose events after ``now`` are hidden from it. For more
        than ``REWINDOW`` cases the windows' shares are made afresh once, at the end."""
        now = live.now
        windows = live.windows.values()
        last_day, files = self._last_day, self._files
        each = len(cases) <= REWINDOW
        for case_id in cases:
            hidden = last_day[case_id] > now  # it has events after ``now``
            case = self._file(case_id, now) if hidden else files[case_id]
            _replace(live.standing, live.total, case_id, standing(case, now))
            if redate is None or hidden or case_id in redate:
                _replace_dated(live, case_id, dated(case), each)
                if len(case.caseworkers) < 3:  # too few for any period (many_caseworkers)
                    for window in windows:
                        window.many.discard(case_id)
                    continue
                for window in windows:
                    if many_caseworkers(case, window.period):
                        window.many.add(case_id)
                    else:
                        window.many.discard(case_id)
        if not each:
            live.rewindow()

    def _file(self, case_id: str, now: date | None, as_at: datetime | None = None) -> CaseFile:
        if (as_at is None or self._last_seen[case_id] <= as_at) and (
            now is None or self._last_day[case_id] <= now
        ):
            return self._files[case_id]  # nothing of this case is hidden by now or as_at
        keyed = self._cases[case_id]
        if as_at is not None:
            keyed = [pair for pair in keyed if pair[1].recorded_at <= as_at]
        return fold_keyed(case_id, keyed, now, retractions=case_id in self._retracting)

    def case_file(
        self, case_id: str, now: date | None = None, as_at: datetime | None = None
    ) -> CaseFile | None:
        """A case's clocks and records as at ``now`` (and as known at ``as_at``)."""
        if case_id not in self._cases:
            return None
        self._refresh(tallies=False)
        return self._file(case_id, now, as_at)

    def case_files(
        self, now: date | None = None, as_at: datetime | None = None
    ) -> Iterator[CaseFile]:
        """Every case's file, in a stable order (by case id)."""
        self._refresh(tallies=False)
        for case_id in sorted(self._cases):
            yield self._file(case_id, now, as_at)

    def tally(self, now: date, period: Period, as_at: datetime | None = None) -> Tally:
        """The summed contributions of every case. The tallies of the last few "now"s and
        periods asked without ``as_at`` are kept, and updated case by case as events arrive."""
        self._refresh()
        if as_at is not None:
            return total(contribution(f, period, now) for f in self.case_files(now, as_at))
        live = self._live_on(now)
        window = live.windows.pop(period, None)
        if window is None:  # this period's share of the sums by day, which are current
            window = _Window(period, in_period(live.by_day, period))
            for case_id in self._cases:
                if many_caseworkers(self._file(case_id, now), period):
                    window.many.add(case_id)
            while len(live.windows) >= LIVE_PERIODS:
                del live.windows[next(iter(live.windows))]
        live.windows[period] = window
        summed = dict(live.total)
        add(summed, window.total)
        if window.many:
            summed[CW_MANY] = len(window.many)
        return summed

    def dated_sums(self, now: date) -> Mapping[date, Mapping[tuple[Any, ...], int]]:
        """Every case's ``dated`` tally on ``now``, summed by day: what happened, day by
        day (such as the trend's runs completed in each month). Kept current like
        ``tally``; read it before the next ``apply``."""
        self._refresh()
        return self._live_on(now).by_day

    def _live_on(self, now: date) -> _Live:
        """The tallies kept for ``now`` (made from every case when it was not among the
        last few asked about), current except for the changes ``_refresh`` applies."""
        live = self._live.pop(now, None)
        if live is None:
            live = _Live(now)
            while len(self._live) >= LIVE_NOWS:
                del self._live[next(iter(self._live))]  # the least recently asked
            self._retally(live, self._cases)
        self._live[now] = live
        return live

    def measures(
        self,
        now: date,
        period: Period | None = None,
        as_at: datetime | None = None,
        dead_letters: int = 0,
    ) -> dict[str, Any]:
        """The contract's measures (CONTRACT.md section 3)."""
        period = period or Period.default(now)
        return render(self.tally(now, period, as_at), dead_letters)

    # --- snapshots ----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state (every applied event and the source position) as bytes."""
        rows = [
            [
                e.event_id,
                e.type,
                e.case_id,
                e.day.isoformat(),
                e.second,
                e.recorded_at.isoformat(),
                e.data,
            ]
            for events in self._cases.values()
            for _, e in events
        ]
        return orjson.dumps(
            {"version": SNAPSHOT_VERSION, "position": self.position, "events": rows}
        )

    @classmethod
    def restore(cls, snapshot: bytes) -> Projector:
        state = orjson.loads(snapshot)
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')} is not {SNAPSHOT_VERSION}")
        projector = cls()
        for event_id, kind, case_id, day, second, recorded, data in state["events"]:
            projector.apply(
                Event(
                    event_id,
                    kind,
                    case_id,
                    date.fromisoformat(day),
                    second,
                    datetime.fromisoformat(recorded),
                    data,
                )
            )
        projector.position = state["position"]
        return projector
