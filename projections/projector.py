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
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from events import Event
from projections.case import (
    EARLIER_DAYS,
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
    add_on_day,
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
# Re-tallying more cases than this makes the windows' shares afresh, once, instead of case by
# case (with the three windows of /metrics over 400,000 events, case by case was 8% cheaper
# for 2,000-event batches, 3% for 5,000, and 7% dearer for 20,000: measured).
REWINDOW = 5000
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


def _replace_dated(
    live: _Live,
    case_id: str,
    new: Dated,
    windows: bool = True,
    days: Collection[date] | None = None,
) -> None:
    """``_replace`` for a dated tally, into the sums by day and (``windows``) each window's
    share. Only the days whose counts changed are touched (a new event usually changes one
    day), and each by the difference. A caller that leaves the windows out makes them
    afresh from the sums by day afterwards (``_Live.rewindow``). ``days``, if given: ``new``
    is the case's dated tally on those days only, and nothing else of it has changed."""
    old = live.dated.get(case_id, EMPTY_DATED)
    some = days is not None
    if days is None:
        if new == old:
            return
        days = old.keys() | new.keys() if old else new.keys()
    by_day = live.by_day
    shares = live.windows.values() if windows else ()
    for day in days:
        before, after = old.get(day, NOTHING), new.get(day, NOTHING)
        if before == after:
            continue
        change: Mapping[tuple[Any, ...], int] = after
        if before:
            change = dict(after)
            add(change, before, -1)
        add_on_day(by_day, day, change)
        for window in shares:
            add(window.total, day_share(day, change, window.period))
    if some:  # the other days kept from the old tally
        merged = {} if old is EMPTY_DATED else old  # this live's own: changed in place
        for day in days:
            tally = new.get(day)
            if tally:
                merged[day] = tally
            else:
                merged.pop(day, None)
        new = merged
    if new:
        live.dated[case_id] = new
    else:
        live.dated.pop(case_id, None)


class _Case(list[Keyed]):
    """What the projector keeps of one case, in one place: its events, each with its
    apply_order key (the list itself), and what is known of them. An event looks its case
    up once, and reaches its events without another hop: in a Kent-sized projector each
    lookup of a large dict, and each object reached, is a cache miss (measured: a record
    holding the list made a replay's apply 0.6 µs an event slower)."""

    __slots__ = ("file", "last_day", "last_key", "last_seen", "targets")

    def __init__(self, first: Keyed) -> None:
        super().__init__((first,))
        key, event = first
        # of all of its events (retracted ones too): the newest key and day (kept by an
        # extension, made again by a refold) and recorded_at (kept by ``apply``)
        self.last_key: tuple[date, int, int, int, str] = key
        self.last_day: date = key[0]
        self.last_seen: datetime = event.recorded_at
        self.file: CaseFile | None = None  # folded over all of its events (when first read)
        self.targets: set[str] | None = None  # what its retractions name


class Projector:
    def __init__(self) -> None:
        self._cases: dict[str, _Case] = {}
        self._seen: set[str] = set()
        self._stale: set[str] = set()  # cases whose fold must be rebuilt
        self._changed: set[str] = set()  # cases whose tallies must be recomputed
        # of those, cases whose dated tallies may have changed: on which days (None: any)
        self._redate: dict[str, set[date] | None] = {}
        self._live: dict[date, _Live] = {}  # the most recently asked last
        self.position = 0  # how far into its source the projector has read (set by callers)
        self._last_recorded: datetime | None = None

    # --- applying events ----------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one event; False (and nothing changes) if its id was already applied.

        An event that sorts after everything its case has (the usual live case), and that
        is neither a retraction nor the target of one, extends the case's fold at once; any
        other (late, out of order, a retraction or retracted) marks the case for a refold
        from its events when next read.
        """
        seen = self._seen
        known = len(seen)
        seen.add(event.event_id)
        if len(seen) == known:  # one lookup of the id, not two
            return False
        case_id = event.case_id
        key = apply_order(event)
        recorded = event.recorded_at
        if self._last_recorded is None or recorded > self._last_recorded:
            self._last_recorded = recorded
        state = self._cases.get(case_id)
        if state is None:  # a new case
            state = self._cases[case_id] = _Case((key, event))
        else:
            state.append((key, event))
            if recorded > state.last_seen:
                state.last_seen = recorded
        if event.type == "event.retracted":
            if state.targets is None:
                state.targets = set()
            state.targets.add(event.data["event_id"])
        elif (
            state.file is not None
            and key > state.last_key
            and case_id not in self._stale
            and (state.targets is None or event.event_id not in state.targets)
        ):  # extend the fold: what a refold would give, as no retraction in force changes
            case = state.file
            extend_case(case, event)
            state.last_key = key
            if event.day > state.last_day:
                state.last_day = event.day
            self._changed.add(case_id)
            if event.type not in STANDING_ONLY:
                redate = self._redate
                if event.type in EARLIER_DAYS or case.appeals:
                    redate[case_id] = None
                elif case_id not in redate:
                    redate[case_id] = {event.day}
                else:
                    days = redate[case_id]
                    if days is not None:
                        days.add(event.day)
            return True
        stale = self._stale
        if case_id not in stale:  # a stale case is marked changed on every day already
            # (in a replay, most events find their case stale)
            stale.add(case_id)
            self._changed.add(case_id)
            self._redate[case_id] = None
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
        state = self._cases.get(case_id)
        return [] if state is None else [event for _, event in state]

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
        cases = self._cases
        for case_id in stale:
            state = cases[case_id]
            state.sort()  # kept in apply order: the next refold's sort is then cheap
            state.file = fold_keyed(
                case_id, state, retractions=state.targets is not None, ordered=True
            )
            state.last_key = last = state[-1][0]
            state.last_day = last[0]

    def _retally_changed(self) -> None:
        changed, self._changed = self._changed, set()
        redate, self._redate = self._redate, {}
        for live in self._live.values():
            self._retally(live, changed, redate)

    def _retally(
        self,
        live: _Live,
        cases: Collection[str],
        redate: Mapping[str, set[date] | None] | None = None,
    ) -> None:
        """Bring ``live`` up to date for ``cases``; their dated tallies only for those in
        ``redate`` (None: all), on the days it gives (None: every day), and for those whose
        events after ``now`` are hidden from it. For more than ``REWINDOW`` cases the
        windows' shares are made afresh once, at the end."""
        now = live.now
        windows = live.windows.values()
        states = self._cases
        each = len(cases) <= REWINDOW
        for case_id in cases:
            state = states[case_id]
            hidden = state.last_day > now  # it has events after ``now``
            case = self._file(case_id, now) if hidden else state.file
            assert case is not None  # folded by ``_refresh``
            _replace(live.standing, live.total, case_id, standing(case, now))
            if redate is None or hidden:
                days = None
            elif case_id in redate:
                days = redate[case_id]
            else:
                continue
            _replace_dated(live, case_id, dated(case, days), each, days)
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
        state = self._cases[case_id]
        if (
            state.file is not None
            and (as_at is None or state.last_seen <= as_at)
            and (now is None or state.last_day <= now)
        ):
            return state.file  # nothing of this case is hidden by now or as_at
        keyed: list[Keyed] = state
        if as_at is not None:
            keyed = [pair for pair in keyed if pair[1].recorded_at <= as_at]
        return fold_keyed(case_id, keyed, now, retractions=state.targets is not None)

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
        live = self._live_on(now, period)
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

    def _live_on(self, now: date, period: Period | None = None) -> _Live:
        """The tallies kept for ``now``, current except for the changes ``_refresh``
        applies. When ``now`` was not among the last few asked about, they are made from
        every case, with ``period``'s window if given."""
        live = self._live.pop(now, None)
        if live is None:
            live = _Live(now)
            while len(self._live) >= LIVE_NOWS:
                del self._live[next(iter(self._live))]  # the least recently asked
            if period is not None:
                live.windows[period] = _Window(period)
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
            for state in self._cases.values()
            for _, e in state
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
