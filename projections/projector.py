"""The projector: the one code path for replay and for live, event-by-event application.

Its state is every accepted event grouped by case (what a case's clocks are depends on all of
its events, in date order, so an event arriving late or a retraction refolds that case).
Derived from it, and cached: each case's fold, and for the last few "now"s asked about each
case's tallies (``projections.measures``: standing on that day, and what happened, by day)
with their sums and each asked-for period's share, kept current by re-tallying only the
cases that changed, and only the days that changed, when measures are next asked for.

``apply`` is idempotent on ``event_id``. Replay is ``apply`` over a history; a snapshot is
the state itself, so restoring one and applying the rest equals an uninterrupted run.

Quarantine, not collapse (CONTRACT.md section 1.1): if folding or tallying one case ever
raises (a bug, or an event that got past validation), that case alone is set aside. Its
events are kept (they were accepted, and a snapshot keeps them), its contributions are taken
out of the live tallies, and it is listed by ``quarantined`` with the error and its event ids;
measures, ``case_files`` and ``case_file`` leave it out, so the alerts do too. Every other
case carries on. A new event for the case folds it again (a retraction of the event at
fault, or a fixed version after a restart, brings it back). A ``try`` costs nothing in
CPython 3.11 until something raises, so each case's fold and tallies are guarded one by one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from events import Event, from_bodies
from projections import snapshot as snapshot_format
from projections.case import (
    EARLIER_DAYS,
    STANDING_ONLY,
    TYPE_RANK,
    CaseFile,
    apply_order,
    extend_case,
    fold_events,
)
from projections.measures import (
    CW_MANY,
    NOTHING,
    Dated,
    Period,
    Tally,
    add,
    add_on_day,
    appeal_window_start,
    contribution,
    dated,
    day_share,
    in_period,
    many_caseworkers,
    many_workers,
    render,
    standing,
)

# Re-tallying more cases than this makes the windows' shares afresh, once, instead of case by
# case (with the three windows of /metrics over 400,000 events, case by case was 8% cheaper
# for 2,000-event batches, 3% for 5,000, and 7% dearer for 20,000: measured).
REWINDOW = 5000
LIVE_NOWS = 2  # "now"s whose tallies are kept current: today, and one a query asked about
LIVE_PERIODS = 8  # periods kept current on each: the windows of /metrics and the alert rules


EMPTY_DATED: Dated = {}  # a case that adds nothing (never changed in place)
ERROR_CHARS = 500  # an error's text is cut to this length
# where the code is: a file that raised is named from here (``projections/case.py``)
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A case set aside because folding or tallying it raised (``Projector.quarantined``).

    ``error`` is the exception's type and text (``TypeError: ...``); ``where`` the file, line
    and function that raised; ``stage`` what was being done: "fold" (its events, in date
    order), "fold to <now>", "fold as at <as_at>", or "tally on <now>" (its measures).
    ``last_event_id``: the event being applied when it raised, when known. ``event_ids``:
    every event of the case, kept (in apply order). ``position`` and ``recorded_at`` say
    when: the projector's position when it was set aside, and the newest ``recorded_at`` of
    the case's events."""

    case_id: str
    error: str
    where: str
    stage: str
    last_event_id: str | None
    event_ids: tuple[str, ...]
    position: int
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "error": self.error,
            "where": self.where,
            "stage": self.stage,
            "last_event_id": self.last_event_id,
            "events": len(self.event_ids),
            "event_ids": list(self.event_ids),
            "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class _Fault:
    """What is kept of a quarantined case's failure (its events stay in its ``_Case``)."""

    error: str
    where: str
    stage: str
    last_event_id: str | None
    position: int


def _fault(error: BaseException, stage: str, position: int, event: Event | None) -> _Fault:
    """The error's text, where it was raised, and the event being applied if ``event`` is
    not given: the innermost frame of the traceback with an ``event`` local (the handler
    applying it, or the fold's loop)."""
    text = f"{type(error).__name__}: {error}"
    if len(text) > ERROR_CHARS:
        text = text[: ERROR_CHARS - 1] + "…"
    where = ""
    found = event
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        where = f"{code.co_filename.removeprefix(SOURCE_ROOT)}:{tb.tb_lineno} in {code.co_name}"
        local = tb.tb_frame.f_locals.get("event")
        if isinstance(local, Event) and event is None:
            found = local
        tb = tb.tb_next
    return _Fault(text, where, stage, None if found is None else found.event_id, position)


class Dimensions(NamedTuple):
    """A case's dimensions (``CaseFile``'s, folded over all of its events), kept for a case
    loaded from a snapshot and not touched since, so that picking cases by them
    (``Projector.case_ids_where``) folds none."""

    team: str | None
    caseworker: str | None
    setting: str | None
    need: str | None
    council: str | None

    @classmethod
    def of(cls, case: CaseFile) -> Dimensions:
        return cls(case.team, case.caseworker, case.setting, case.need, case.council)


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


def _take_out(live: _Live, case_id: str) -> None:
    """Take a case's contributions out of ``live`` (none left: nothing changes)."""
    _replace(live.standing, live.total, case_id, {})
    _replace_dated(live, case_id, EMPTY_DATED)
    for window in live.windows.values():
        window.many.discard(case_id)


FAR = date(9000, 1, 1)  # a "now" after every event, and too late to appeal any decision
WINDOW_OPEN = ("ftr", "appeal_window_open")


@dataclass(slots=True)
class _Parts:
    """What the dormant cases (loaded from a snapshot, or settled, and not touched since)
    add up to, in the form that gives their tallies on any "now" on or after ``horizon``
    (the last day of any of their events) without folding them: their open runs (clock,
    due day, excepted) counted, the days they left education, their SEN support settings,
    what happened by day but for the open appeal windows, and the days of their decisions
    not appealed (whose window is open on a "now" within 2 months of them); the
    caseworkers of those with three or more. Days are day ordinals."""

    runs: dict[tuple[str, int, bool], int] = field(default_factory=dict)
    out: dict[int, int] = field(default_factory=dict)
    sen: dict[str, int] = field(default_factory=dict)
    dated: dict[int, Tally] = field(default_factory=dict)
    unappealed: dict[int, int] = field(default_factory=dict)
    workers: dict[str, list[tuple[date, str]]] = field(default_factory=dict)
    horizon: int = 0

    def add_case(self, case_id: str, case: CaseFile, last_day: date, sign: int = 1) -> None:
        """Add (``sign`` -1: take away) one case, folded over all of its events. Its dated
        tally is made first: if that raises, nothing of the case was added."""
        by_day = dated(case, FAR)
        runs = self.runs
        for run in case.running:
            if run.stop is None and run.cancelled is None:
                key = (run.clock, run.due.toordinal(), run.excepted)
                runs[key] = runs.get(key, 0) + sign
        if case.out_of_education_since is not None:
            since = case.out_of_education_since.toordinal()
            self.out[since] = self.out.get(since, 0) + sign
        if case.sen_support_setting is not None:
            setting = case.sen_support_setting
            self.sen[setting] = self.sen.get(setting, 0) + sign
        for day, tally in by_day.items():
            summed = self.dated.setdefault(day.toordinal(), {})
            add(summed, tally, sign)
        for decision in case.decisions:
            if not decision.appealed:
                made = decision.day.toordinal()
                self.unappealed[made] = self.unappealed.get(made, 0) + sign
        if len(case.caseworkers) >= 3:
            if sign > 0:
                self.workers[case_id] = list(case.caseworkers)
            else:
                self.workers.pop(case_id, None)
        if sign > 0:
            self.horizon = max(self.horizon, last_day.toordinal())

    def live(self, now: date) -> _Live:
        """Their tallies on ``now`` (on or after ``horizon``)."""
        live = _Live(now)
        total = live.total
        today = now.toordinal()
        for (clock, due, excepted), n in self.runs.items():
            if not n:
                continue
            _count(total, ("clock", clock, "open"), n)
            if not excepted:
                if due < today:
                    _count(total, ("clock", clock, "overdue"), n)
                elif due <= today + 7:
                    _count(total, ("clock", clock, "due_within_7_days"), n)
        for since, n in self.out.items():
            if n:
                _count(total, ("edu", "out_now"), n)
                _count(total, ("edu_days_out", today - since), n)
        for setting, n in self.sen.items():
            if n:
                _count(total, ("sen", "open_now"), n)
                _count(total, ("sen_setting", setting), n)
        fromordinal = date.fromordinal
        by_day = live.by_day
        for day, tally in self.dated.items():
            by_day[fromordinal(day)] = dict(tally)
        window = appeal_window_start(now).toordinal()
        for day, n in self.unappealed.items():
            if n and day >= window:
                _count(by_day.setdefault(fromordinal(day), {}), WINDOW_OPEN, n)
        return live

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [[*run, n] for run, n in self.runs.items() if n],
            "out": [[day, n] for day, n in self.out.items() if n],
            "sen": [[setting, n] for setting, n in self.sen.items() if n],
            "dated": [[day, snapshot_format.encode_tally(t)] for day, t in self.dated.items()],
            "unappealed": [[day, n] for day, n in self.unappealed.items() if n],
            "workers": [
                [case_id, [[day.toordinal(), worker] for day, worker in workers]]
                for case_id, workers in self.workers.items()
            ],
            "horizon": self.horizon,
        }

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> _Parts:
        fromordinal, decode = date.fromordinal, snapshot_format.decode_tally
        return cls(
            runs={(clock, due, bool(excepted)): n for clock, due, excepted, n in saved["runs"]},
            out={day: n for day, n in saved["out"]},
            sen={setting: n for setting, n in saved["sen"]},
            dated={day: decode(tally) for day, tally in saved["dated"]},
            unappealed={day: n for day, n in saved["unappealed"]},
            workers={
                case_id: [(fromordinal(day), worker) for day, worker in workers]
                for case_id, workers in saved["workers"]
            },
            horizon=int(saved["horizon"]),
        )


def _count(tally: Tally, key: tuple[Any, ...], n: int) -> None:
    tally[key] = tally.get(key, 0) + n


class _Case(list[Event]):
    """What the projector keeps of one case, in one place: its events (the list itself, in
    apply order after each refold) and what is known of them. An event looks its case up
    once, and reaches its events without another hop: in a Kent-sized projector each
    lookup of a large dict, and each object reached, is a cache miss. The events are kept
    bare, not paired with their ``apply_order`` key: a refold sorts them by it (a few
    events a case), and a replay neither builds nor holds a key for each (measured: 0.4 µs
    and 136 bytes an event)."""

    __slots__ = ("file", "last_day", "last_key", "seen", "targets")

    def __init__(self, events: Iterable[Event]) -> None:
        super().__init__(events)
        # of all of its events (retracted ones too): the newest key and day (made by each
        # refold, ``ordered``, and kept by an extension), and the newest recorded_at (None:
        # not worked out since the last event came; ``last_seen`` works it out)
        self.last_key: tuple[date, int, int, int, str] = FIRST
        self.last_day: date = date.min
        self.seen: datetime | None = None
        self.file: CaseFile | None = None  # folded over all of its events (when first read)
        self.targets: set[str] | None = None  # what its retractions name

    @property
    def last_seen(self) -> datetime:
        """The newest ``recorded_at`` of its events."""
        seen = self.seen
        if seen is None:
            seen = self.seen = max(event.recorded_at for event in self)
        return seen

    def ordered(self) -> None:
        """Sort its events into apply order (kept so: the next sort is then cheap), and note
        the newest key and day. An event with no place in the order (a type no code knows,
        which sets its case aside) is put first."""
        try:
            self.sort(key=apply_order)
        except Exception:
            self.sort(key=_place)
        self.last_key = last = _place(self[-1])
        self.last_day = last[0]

    def note_retractions(self) -> None:
        """Note what its retractions name (``targets``), of all of its events."""
        for event in self:
            if event.type == "event.retracted":
                if self.targets is None:
                    self.targets = set()
                self.targets.add(event.data["event_id"])


FIRST = (date.min, 0, -1, 0, "")


def _waited(case: CaseFile) -> bool:
    """Whether a case has an open run that is not excepted (one a work queue may list)."""
    return any(run.is_open and not run.excepted for run in case.running)


def _unpacked(case_id: str, kept: bytes | list[Event]) -> list[Event]:
    """A dormant case's events (``Projector._dormant``)."""
    return kept if isinstance(kept, list) else snapshot_format.decode_events(case_id, kept)


def _place(event: Event) -> tuple[date, int, int, int, str]:
    """``apply_order``, or first for an event that has no place in it."""
    try:
        return apply_order(event)
    except Exception:
        return (date.min, 0, -1, 0, str(event.event_id))


# what the projector's bulk work (refolds and re-tallies) runs inside: a context manager the
# shell chooses (``sendwatch.tuning.paused_collector``); the projector itself changes no
# process-wide state, so by default nothing
Pause = Callable[[], AbstractContextManager[object]]


class Projector:
    def __init__(self, pause: Pause = nullcontext) -> None:
        self._pause = pause
        self._cases: dict[str, _Case] = {}
        # the ids applied; None until something asks (``_ids``): a replay of the log, whose
        # ids are unique, applies without it (``apply_all(unique=True)``), and a one-shot
        # command never builds it (measured: 0.25 µs and 40 bytes an event)
        self._seen: set[str] | None = None
        # or, loaded from a snapshot, the ids it held, as JSON, read when first asked for
        self._saved_ids: bytes | None = None
        self._stale: set[str] = set()  # cases whose fold must be rebuilt
        self._changed: set[str] = set()  # cases whose tallies must be recomputed
        # of those, cases whose dated tallies may have changed: on which days (None: any)
        self._redate: dict[str, set[date] | None] = {}
        self._live: dict[date, _Live] = {}  # the most recently asked last
        self.position = 0  # how far into its source the projector has read (set by callers)
        self._last_recorded: datetime | None = None
        # cases set aside because folding or tallying them raised (their events stay in
        # ``_cases``): left out of every reading until a new event folds them again
        self._quarantine: dict[str, _Fault] = {}
        # cases loaded from a snapshot (``load_snapshot``) or settled (``replay_cases``,
        # ``settle``) and not touched since: each one's events as one blob
        # (``snapshot.encode_events``), or as events (``settle(compact=False)``); the kept
        # tallies include them, ``_cases`` does not
        self._dormant: dict[str, bytes | list[Event]] = {}
        self._held = 0  # how many events the dormant cases' blobs hold
        # whether dormant cases settled here hold ids that neither ``_seen`` nor
        # ``_saved_ids`` has (``_ids`` then reads them from their blobs)
        self._unindexed = False
        self._dimensions: dict[str, Dimensions] = {}  # of the dormant cases
        # the dormant cases with an open run not excepted: the only ones a work queue lists
        # (``queue_files``)
        self._waited: set[str] = set()
        self._parts = _Parts()  # what the dormant cases add up to

    # --- applying events ----------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one event; False (and nothing changes) if its id was already applied.

        An event that sorts after everything its case has (the usual live case), and that
        is neither a retraction nor the target of one, extends the case's fold at once; any
        other (late, out of order, a retraction or retracted) marks the case for a refold
        from its events when next read.
        """
        return self._apply(event, self._ids())

    def _ids(self) -> set[str]:
        """Every applied event's id (made from the cases' events the first time it is
        asked for after a replay that did without it)."""
        seen = self._seen
        if seen is None:
            saved, self._saved_ids = self._saved_ids, None
            seen = self._seen = set() if saved is None else set(snapshot_format.decode_ids(saved))
            seen.update(event.event_id for state in self._cases.values() for event in state)
            if self._unindexed:  # (a snapshot's cases are in its ids already: read again)
                for kept in self._dormant.values():
                    if isinstance(kept, list):
                        seen.update(event.event_id for event in kept)
                    else:
                        seen.update(snapshot_format.blob_ids(kept))
                self._unindexed = False
        return seen

    def _apply(self, event: Event, seen: set[str] | None) -> bool:
        """``apply``; ``seen`` None: the caller knows the event's id is new."""
        if seen is not None:
            known = len(seen)
            seen.add(event.event_id)
            if len(seen) == known:  # one lookup of the id, not two
                return False
        try:  # costs nothing until something raises
            case_id = event.case_id
            if self._dormant and case_id in self._dormant:
                self._wake(case_id)
            key = apply_order(event)
            recorded = event.recorded_at
            if self._last_recorded is None or recorded > self._last_recorded:
                self._last_recorded = recorded
            state = self._cases.get(case_id)
            if state is None:  # a new case
                state = self._cases[case_id] = _Case((event,))
                state.seen = recorded
            else:
                state.append(event)
                if state.seen is not None and recorded > state.seen:
                    state.seen = recorded
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
        except Exception as error:  # a fault, or an event that got past validation
            return self._keep_failed(event, error)

    def apply_all(self, events: Iterable[Event], unique: bool = False) -> int:
        """Apply many events; returns how many were new. The same as ``apply`` for each,
        with a replay's usual event (one of a case not folded since it last changed, which
        is only kept, to be folded when next read) applied in this one loop: its place in
        the case's order is found when the case is folded, and its ``recorded_at`` is read
        then if asked for. ``unique``: the caller knows no two of the events share an id
        and none was applied before (a replay of the log, from the projector's position,
        whose ids are unique): the ids are then not looked up, unless they are kept
        already."""
        seen = self._seen if unique else self._ids()
        cases = self._cases
        stale = self._stale
        changed = self._changed
        redate = self._redate
        dormant = self._dormant
        rank = TYPE_RANK
        apply = self._apply
        latest = self._last_recorded
        new = 0
        for event in events:
            event_id = event.event_id
            if seen is not None and event_id in seen:
                continue
            case_id = event.case_id
            kind = event.type
            state = cases.get(case_id)
            if (
                kind == "event.retracted"
                or kind not in rank
                or (state is None and dormant and case_id in dormant)
                or (state is not None and case_id not in stale)
            ):  # a retraction, a stray type, or a case loaded from a snapshot or whose fold
                # is kept: as ``apply`` does it
                self._last_recorded = latest
                new += apply(event, seen)
                latest = self._last_recorded
                continue
            recorded = event.recorded_at
            if latest is None or recorded > latest:
                latest = recorded
            if seen is not None:
                seen.add(event_id)
            new += 1
            if state is None:  # a new case: as ``apply`` marks it
                cases[case_id] = _Case((event,))
                stale.add(case_id)
                changed.add(case_id)
                redate[case_id] = None
            else:  # stale: marked changed on every day already
                state.append(event)
                state.seen = None
        self._last_recorded = latest
        return new

    def _keep_failed(self, event: Event, error: Exception) -> bool:
        """Applying ``event`` raised (placing it in its case's order, or extending the
        case's fold with it): the event is kept with its case all the same (it was
        accepted), and the case set aside."""
        state = self._cases.get(event.case_id)
        if state is None or not any(kept is event for kept in state):
            if state is None:
                state = self._cases[event.case_id] = _Case((event,))
            else:
                state.append(event)
                state.seen = None
        self._set_aside(event.case_id, error, "fold", event)
        return True

    # --- quarantine ---------------------------------------------------------------------

    def _set_aside(
        self, case_id: str, error: Exception, stage: str, event: Event | None = None
    ) -> None:
        """Quarantine a case whose fold or tallies raised: its fold dropped, its
        contributions taken out of every live tally, nothing of it left to redo. Its
        events stay, so a snapshot keeps them and a new event folds them again."""
        self._quarantine[case_id] = _fault(error, stage, self.position, event)
        state = self._cases[case_id]
        state.file = None
        self._stale.discard(case_id)
        self._changed.discard(case_id)
        self._redate.pop(case_id, None)
        for live in self._live.values():
            _take_out(live, case_id)

    def quarantined(self) -> list[Quarantined]:
        """The cases set aside, by case id. Reading it folds what is waiting to be folded
        (a case whose tallies raise is found when measures are next asked for)."""
        self._refresh(tallies=False)
        return [self._listed(case_id) for case_id in sorted(self._quarantine)]

    def quarantined_case(self, case_id: str) -> Quarantined | None:
        """``quarantined``'s entry for one case, or None if it is not set aside."""
        if case_id not in self._cases:
            return None
        self._refresh(tallies=False)
        return self._listed(case_id) if case_id in self._quarantine else None

    @property
    def quarantined_count(self) -> int:
        """How many cases are set aside (as last found: nothing is folded to count them)."""
        return len(self._quarantine)

    def _listed(self, case_id: str) -> Quarantined:
        fault, state = self._quarantine[case_id], self._cases[case_id]
        return Quarantined(
            case_id=case_id,
            error=fault.error,
            where=fault.where,
            stage=fault.stage,
            last_event_id=fault.last_event_id,
            event_ids=tuple(event.event_id for event in state),
            position=fault.position,
            recorded_at=state.last_seen,
        )

    # --- reading ------------------------------------------------------------------------

    @property
    def last_recorded(self) -> datetime | None:
        """The newest ``recorded_at`` of any applied event."""
        return self._last_recorded

    @property
    def event_count(self) -> int:
        return sum(map(len, self._cases.values())) + self._held

    def knows(self, event_id: str) -> bool:
        """Whether an event of this id was applied."""
        saved = self._saved_ids
        if self._seen is None and saved is not None and snapshot_format.holds_id(saved, event_id):
            return True  # loaded from a snapshot that held it: no set of every id built
        return event_id in self._ids()

    @property
    def case_count(self) -> int:
        return len(self._cases) + len(self._dormant)

    def case_ids(self) -> set[str]:
        """Every case's id (a copy)."""
        return set(self._cases) | self._dormant.keys()

    def events_of(self, case_id: str, keep: bool = True) -> list[Event]:
        """A case's events (in no promised order). A dormant case is woken, unless not
        ``keep``: then its events are only read (a reader going through every case once,
        as the report does, which would otherwise fold and keep them all)."""
        kept = self._dormant.get(case_id)
        if kept is not None:
            if not keep:
                return list(_unpacked(case_id, kept))
            self._wake(case_id)
        state = self._cases.get(case_id)
        return [] if state is None else list(state)

    def stamps_of(self, case_id: str) -> list[Event] | list[snapshot_format.Stamp]:
        """A case's events, or for a dormant case only their ids, types and dates
        (``snapshot.Stamp``: its events' ``data`` not read), in no promised order; no case
        is woken."""
        kept = self._dormant.get(case_id)
        if kept is None:
            state = self._cases.get(case_id)
            return [] if state is None else list(state)
        return kept if isinstance(kept, list) else snapshot_format.blob_stamps(kept)

    def conflicts(self, event: Event) -> bool:
        """Whether ``event``, whose id was applied already, differs from the event applied
        under that id (CONTRACT.md 1.1: one id, one event): another case, type, day, time
        of day or data. ``recorded_at`` is not compared: a repeat recorded again, or stamped
        on another arrival, is the same event. For a caller that has just been told by
        ``apply`` that the id is known; it reads only the case's own events."""
        if event.case_id in self._dormant:
            self._wake(event.case_id)
        state = self._cases.get(event.case_id)
        if state is not None:
            for applied in state:
                if applied.event_id == event.event_id:
                    return (applied.type, applied.day, applied.second, applied.data) != (
                        event.type,
                        event.day,
                        event.second,
                        event.data,
                    )
        return True  # applied under another case

    def _refresh(self, tallies: bool = True) -> None:
        """Refold the stale cases, and (``tallies``) re-tally the changed ones. Reading a
        case needs only its fold: tallies wait for the next reader of measures, so a case
        changed by many batches between two such readers is re-tallied once."""
        if not (self._stale or (tallies and self._changed)):
            return
        with self._pause():
            self._refold()
            if tallies:
                self._retally_changed()

    def _refold(self) -> None:
        stale, self._stale = self._stale, set()
        cases = self._cases
        quarantine = self._quarantine
        for case_id in stale:
            state = cases[case_id]
            try:
                state.ordered()
                state.file = fold_events(
                    case_id, state, retractions=state.targets is not None, ordered=True
                )
            except Exception as error:
                self._set_aside(case_id, error, "fold")
                continue
            if quarantine and case_id in quarantine:
                del quarantine[case_id]  # it folds now: back among the others

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
        quarantine = self._quarantine
        each = len(cases) <= REWINDOW
        if not each and redate is None and not live.standing and not live.dated:
            self._tally_afresh(live, cases)  # nothing to take away: every case added
            live.rewindow()
            return
        for case_id in cases:
            if quarantine and case_id in quarantine:
                continue  # set aside: it adds nothing
            state = states[case_id]
            try:
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
                _replace_dated(live, case_id, dated(case, now, days), each, days)
                if len(case.caseworkers) < 3:  # too few for any period (many_caseworkers)
                    for window in windows:
                        window.many.discard(case_id)
                    continue
                for window in windows:
                    if many_caseworkers(case, window.period):
                        window.many.add(case_id)
                    else:
                        window.many.discard(case_id)
            except Exception as error:
                if case_id not in quarantine:  # else ``_file`` set it aside already
                    self._set_aside(case_id, error, f"tally on {now.isoformat()}")
                _take_out(live, case_id)  # ``live`` may be one not kept yet (``_live_on``)
        if not each:
            live.rewindow()

    def _tally_afresh(self, live: _Live, cases: Collection[str]) -> None:
        """``_retally`` of ``cases`` into a ``live`` that holds none of them yet (such as
        one being made): each case's tallies are added into the sums, with no old tally to
        compare with or take away. The caller makes the windows' shares afterwards."""
        now = live.now
        windows = live.windows.values()
        states = self._cases
        quarantine = self._quarantine
        standings, dateds, total, by_day = live.standing, live.dated, live.total, live.by_day
        for case_id in cases:
            if quarantine and case_id in quarantine:
                continue  # set aside: it adds nothing
            state = states[case_id]
            try:
                case = self._file(case_id, now) if state.last_day > now else state.file
                assert case is not None  # folded by ``_refresh``
                mine = standing(case, now)
                if mine:
                    standings[case_id] = mine
                    get = total.get
                    for key, count in mine.items():
                        total[key] = get(key, 0) + count
                own = dated(case, now)
                if own:
                    dateds[case_id] = own
                    for day, tally in own.items():
                        summed = by_day.get(day)
                        if summed is None:
                            by_day[day] = dict(tally)
                        else:
                            get = summed.get
                            for key, count in tally.items():
                                summed[key] = get(key, 0) + count
                if len(case.caseworkers) >= 3:
                    for window in windows:
                        if many_caseworkers(case, window.period):
                            window.many.add(case_id)
            except Exception as error:
                if case_id not in quarantine:  # else ``_file`` set it aside already
                    self._set_aside(case_id, error, f"tally on {now.isoformat()}")
                _take_out(live, case_id)

    def _file(self, case_id: str, now: date | None, as_at: datetime | None = None) -> CaseFile:
        """The case folded as at ``now`` and ``as_at``; raises if that fold raises, with the
        case set aside (the caller leaves it out)."""
        state = self._cases[case_id]
        if (
            state.file is not None
            and (as_at is None or state.last_seen <= as_at)
            and (now is None or state.last_day <= now)
        ):
            return state.file  # nothing of this case is hidden by now or as_at
        events: list[Event] = state
        try:
            if as_at is not None:
                events = [event for event in events if event.recorded_at <= as_at]
            return fold_events(case_id, events, now, retractions=state.targets is not None)
        except Exception as error:
            stage = "fold" if now is None else f"fold to {now.isoformat()}"
            if as_at is not None:
                stage += f" as at {as_at.isoformat()}"
            self._set_aside(case_id, error, stage)
            raise

    def case_file(
        self, case_id: str, now: date | None = None, as_at: datetime | None = None
    ) -> CaseFile | None:
        """A case's clocks and records as at ``now`` (and as known at ``as_at``); None for
        an unknown case, or one set aside (``quarantined_case`` says why)."""
        if case_id in self._dormant:
            self._wake(case_id)
        if case_id not in self._cases:
            return None
        self._refresh(tallies=False)
        if case_id in self._quarantine:
            return None
        try:
            return self._file(case_id, now, as_at)
        except Exception:  # set aside by ``_file``
            return None

    def case_files(
        self, now: date | None = None, as_at: datetime | None = None, *, keep: bool = True
    ) -> Iterator[CaseFile]:
        """Every case's file, in a stable order (by case id), but those set aside. ``keep``
        False: a dormant case (loaded from a snapshot, or settled by a replay, and not
        touched since) is folded for this reading only and stays dormant, so a reader of
        every case once a day (the alert engine) keeps no second copy of them all."""
        if keep:
            self._wake_all()
        self._refresh(tallies=False)
        dormant = self._dormant
        if not dormant:
            for _, case in self._files(sorted(self._cases), now, as_at):
                yield case
            return
        for case_id in sorted(self._cases.keys() | dormant.keys()):
            found = (
                self._passing(case_id, now, as_at)
                if case_id in dormant
                else next((file for _, file in self._files((case_id,), now, as_at)), None)
            )
            if found is not None:
                yield found

    def queue_files(self, now: date) -> Iterator[CaseFile]:
        """The case files a work queue on ``now`` reads (``projections.queue.queue_rows``),
        in case id order: ``case_files(now)``'s, but for the dormant cases with no open run
        that is not excepted, which would give the queue no row (on a "now" after their
        last event, their runs are as they were folded) and so stay dormant. Those with one
        are woken. A "now" before a dormant case's last event reads every case."""
        if not self._dormant or now.toordinal() < self._parts.horizon:
            yield from self.case_files(now)
            return
        with self._pause():
            for case_id in sorted(self._waited):
                self._wake(case_id)
        self._refresh(tallies=False)
        for _, case in self._files(sorted(self._cases), now, None):
            yield case

    def _passing(self, case_id: str, now: date | None, as_at: datetime | None) -> CaseFile | None:
        """A dormant case folded as at ``now`` and ``as_at`` and left dormant; one whose
        fold raises is woken (and so set aside, as any case whose fold raises): None."""
        try:
            events = _unpacked(case_id, self._dormant[case_id])
            if as_at is not None:
                events = [event for event in events if event.recorded_at <= as_at]
            return fold_events(case_id, events, now)
        except Exception:
            self._wake(case_id)
            return self.case_file(case_id, now, as_at)

    def _files(
        self, case_ids: Iterable[str], now: date | None, as_at: datetime | None
    ) -> Iterator[tuple[str, CaseFile]]:
        """Each of these cases' id and file as at ``now`` and ``as_at``, but those set aside
        (``_refresh`` first)."""
        quarantine = self._quarantine
        for case_id in case_ids:
            if quarantine and case_id in quarantine:
                continue
            try:
                case = self._file(case_id, now, as_at)
            except Exception:  # set aside by ``_file``
                continue
            yield case_id, case

    def case_ids_where(
        self,
        wanted: Callable[[Dimensions | CaseFile], bool],
        now: date | None = None,
        as_at: datetime | None = None,
    ) -> list[str]:
        """The ids of the cases whose dimensions as at ``now`` (and ``as_at``) are
        ``wanted`` (a filter of the measures: ``projections.queue.Filters``), but those set
        aside, in no promised order. Faster than going through ``case_files``: a case is
        folded again only if something of it is hidden by ``now`` or ``as_at``, and a case
        loaded from a snapshot and not touched since is judged by the dimensions the
        snapshot kept, unless ``now`` is before its last event or ``as_at`` is asked."""
        found: list[str] = []
        if self._dormant:
            if as_at is not None or (now is not None and now.toordinal() < self._parts.horizon):
                self._wake_all()
            else:
                dimensions = self._dimensions
                unknown: list[str] = []  # none kept (a case set aside when saved): folded
                for case_id in self._dormant:
                    known = dimensions.get(case_id)
                    if known is None:
                        unknown.append(case_id)
                    elif wanted(known):
                        found.append(case_id)
                for case_id in unknown:
                    self._wake(case_id)
        self._refresh(tallies=False)
        found.extend(
            case_id for case_id, case in self._files(self._cases, now, as_at) if wanted(case)
        )
        return found

    def tally(self, now: date, period: Period, as_at: datetime | None = None) -> Tally:
        """The summed contributions of every case. The tallies of the last few "now"s and
        periods asked without ``as_at`` are kept, and updated case by case as events arrive."""
        if as_at is None:
            self._first_measures(now)
        self._refresh()
        if as_at is not None:
            return self._tally_as_at(now, period, as_at)
        live = self._live_on(now, period)
        window = live.windows.pop(period, None)
        if window is None:  # this period's share of the sums by day, which are current
            window = _Window(period, in_period(live.by_day, period))
            for case_id, workers in self._parts.workers.items():  # cases not yet touched
                if many_workers(workers, period):
                    window.many.add(case_id)
            quarantine = self._quarantine
            for case_id, state in self._cases.items():
                if quarantine and case_id in quarantine:
                    continue
                file = state.file
                if file is not None and state.last_day <= now and len(file.caseworkers) < 3:
                    continue  # too few for any period (many_caseworkers), and as at ``now``
                try:
                    if many_caseworkers(self._file(case_id, now), period):
                        window.many.add(case_id)
                except Exception as error:
                    if case_id not in quarantine:
                        self._set_aside(case_id, error, f"tally on {now.isoformat()}")
                    window.total = in_period(live.by_day, period)  # without it
            while len(live.windows) >= LIVE_PERIODS:
                del live.windows[next(iter(live.windows))]
        live.windows[period] = window
        summed = dict(live.total)
        add(summed, window.total)
        if window.many:
            summed[CW_MANY] = len(window.many)
        return summed

    def _first_measures(self, now: date) -> None:
        """Before the first measures (none kept yet) of cases applied as events and not
        folded (a JSONL file's replay, ``sendwatch metrics --events``): settle them, their
        events kept as they are, so that the measures come from the parts and no case
        keeps a file or a tally of its own (a case with an event after ``now`` is folded as
        ever). Case files asked for first fold them instead (``sendwatch report``)."""
        if not self._live and self._stale:
            self.settle(compact=False, now=now)

    def _tally_as_at(self, now: date, period: Period, as_at: datetime) -> Tally:
        """``tally`` as known at ``as_at``: every case's contribution summed afresh."""
        summed: Tally = {}
        for case in self.case_files(now, as_at):
            try:
                add(summed, contribution(case, period, now))
            except Exception as error:  # nothing of it was added
                self._set_aside(case.case_id, error, f"tally on {now.isoformat()}")
        return summed

    def tally_of(
        self, now: date, period: Period, cases: Iterable[str], as_at: datetime | None = None
    ) -> Tally:
        """``tally`` over some cases only (such as those of one team): each case's kept
        standing and dated tallies summed, exactly as ``contribution`` sums them, so the
        result equals the measures of those cases' events alone."""
        if as_at is not None:
            wanted = set(cases)
            summed: Tally = {}
            for case in self.case_files(now, as_at):
                if case.case_id in wanted:
                    add(summed, contribution(case, period, now))
            return summed
        self._first_measures(now)
        self._refresh()
        live = self._live_on(now)
        summed = {}
        many = 0
        for case_id in cases:
            if case_id in self._dormant:
                self._wake(case_id)
            if case_id in self._quarantine or case_id not in self._cases:
                continue
            tally = live.standing.get(case_id)
            if tally:
                add(summed, tally)
            for day, day_tally in live.dated.get(case_id, EMPTY_DATED).items():
                add(summed, day_share(day, day_tally, period))
            try:
                if many_caseworkers(self._file(case_id, now), period):
                    many += 1
            except Exception:  # set aside by ``_file``; its tallies were taken out
                continue
        if many:
            summed[CW_MANY] = many
        return summed

    def measures_of(
        self,
        cases: Iterable[str],
        now: date,
        period: Period | None = None,
        as_at: datetime | None = None,
        dead_letters: int = 0,
    ) -> dict[str, Any]:
        """``measures`` over some cases only (``tally_of``)."""
        period = period or Period.default(now)
        return render(self.tally_of(now, period, cases, as_at), dead_letters)

    def dated_sums(self, now: date) -> Mapping[date, Mapping[tuple[Any, ...], int]]:
        """Every case's ``dated`` tally on ``now``, summed by day: what happened, day by
        day (such as the trend's runs completed in each month). Kept current like
        ``tally``; read it before the next ``apply``."""
        self._first_measures(now)
        self._refresh()
        return self._live_on(now).by_day

    def _live_on(self, now: date, period: Period | None = None) -> _Live:
        """The tallies kept for ``now``, current except for the changes ``_refresh``
        applies. When ``now`` was not among the last few asked about, they are made from
        every case, with ``period``'s window if given."""
        live = self._live.pop(now, None)
        if live is None:
            parts = self._parts
            if self._dormant and now.toordinal() < parts.horizon:
                # events of cases not yet touched are hidden on ``now``: fold them all
                self._live.clear()
                self._wake_all()
            live = parts.live(now) if self._dormant else _Live(now)
            while len(self._live) >= LIVE_NOWS:
                del self._live[next(iter(self._live))]  # the least recently asked
            if period is not None:
                window = live.windows[period] = _Window(period, in_period(live.by_day, period))
                for case_id, workers in parts.workers.items():
                    if many_workers(workers, period):
                        window.many.add(case_id)
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

    # --- snapshots of folded state (projections.snapshot) -------------------------------

    def save_snapshot(self) -> bytes:
        """The folded state at ``position`` (``projections.snapshot``): each case's events
        as one blob, every event id, and the tallies kept current. Every case is folded and
        every kept tally brought up to date first. A case set aside is kept with its events
        only (it is folded again when loaded)."""
        self._refresh()
        blobs: list[bytes | memoryview] = []
        index: list[list[Any]] = []
        # each case's dimensions as a number in a table of the distinct ones (a few thousand
        # for a Kent-sized council), so a loaded snapshot holds each once
        table: dict[Dimensions, int] = {}

        def numbered(known: Dimensions | None) -> int | None:
            return None if known is None else table.setdefault(known, len(table))

        offset = 0
        quarantine = self._quarantine
        parts = _Parts.from_json(self._parts.to_json())  # the dormant cases', and these:
        for case_id, state in self._cases.items():
            blob = snapshot_format.encode_events(state)
            set_aside = case_id in quarantine
            if not set_aside and state.file is not None:
                parts.add_case(case_id, state.file, state.last_day)
            known = None if set_aside or state.file is None else Dimensions.of(state.file)
            waited = state.file is None or _waited(state.file)  # unknown: as if waited on
            row = [case_id, offset, len(blob), int(set_aside), numbered(known), int(waited)]
            index.append(row)
            blobs.append(blob)
            offset += len(blob)
        for case_id, kept in self._dormant.items():  # a blob copied, not decoded
            blob = kept if isinstance(kept, bytes) else snapshot_format.encode_events(kept)
            number = numbered(self._dimensions.get(case_id))
            index.append([case_id, offset, len(blob), 0, number, int(case_id in self._waited)])
            blobs.append(blob)
            offset += len(blob)
        lives = [
            {
                "now": live.now.toordinal(),
                "total": snapshot_format.encode_tally(live.total),
                "by_day": [
                    [day.toordinal(), snapshot_format.encode_tally(tally)]
                    for day, tally in live.by_day.items()
                ],
                "windows": [
                    [
                        window.period.start.toordinal(),
                        window.period.end.toordinal(),
                        snapshot_format.encode_tally(window.total),
                        sorted(window.many),
                    ]
                    for window in live.windows.values()
                ],
            }
            for live in self._live.values()
        ]
        latest = self._last_recorded
        # every event id, read only when asked for (``_ids``): a start-up needs none
        ids = snapshot_format.encode_ids(self._ids())
        header = {
            "position": self.position,
            "events": self.event_count,
            "last_recorded": None if latest is None else latest.isoformat(),
            "ids": [offset, len(ids)],  # after the cases' blobs
            "cases": index,
            "dimensions": [list(known) for known in table],
            "lives": lives,
            "parts": parts.to_json(),
        }
        return snapshot_format.pack(header, [*(bytes(blob) for blob in blobs), ids])

    @classmethod
    def load_snapshot(cls, data: bytes, pause: Pause = nullcontext) -> Projector:
        """A projector in the state ``save_snapshot`` wrote, its measures on the days it
        kept ready; each case's events are decoded and folded when the case is next
        touched. Raises ``SnapshotError`` for a damaged snapshot or one of another fold."""
        header, body = snapshot_format.unpack(data)
        projector = cls(pause=pause)
        try:
            projector.position = int(header["position"])
            recorded = header["last_recorded"]
            if recorded is not None:
                projector._last_recorded = datetime.fromisoformat(recorded)
            start, length = header["ids"]
            projector._saved_ids = bytes(body[start : start + length])
            projector._held = int(header["events"])
            projector._parts = _Parts.from_json(header["parts"])
            dormant = projector._dormant
            flagged: list[str] = []
            dimensions = projector._dimensions
            table = [Dimensions(*known) for known in header["dimensions"]]
            waited = projector._waited
            for case_id, offset, length, set_aside, known, waiting in header["cases"]:
                dormant[case_id] = bytes(body[offset : offset + length])
                if waiting:
                    waited.add(case_id)
                if set_aside:
                    flagged.append(case_id)
                elif known is not None:
                    dimensions[case_id] = table[known]
            decode, fromordinal = snapshot_format.decode_tally, date.fromordinal
            for saved in header["lives"]:
                live = _Live(fromordinal(saved["now"]), total=decode(saved["total"]))
                live.by_day = {fromordinal(day): decode(tally) for day, tally in saved["by_day"]}
                for start, end, total, many in saved["windows"]:
                    period = Period(fromordinal(start), fromordinal(end))
                    live.windows[period] = _Window(period, decode(total), set(many))
                projector._live[live.now] = live
            for case_id in flagged:  # set aside when saved: folded again when next read
                projector._wake(case_id, fold=False)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise snapshot_format.SnapshotError(f"damaged: {error!r}") from None
        return projector

    @property
    def dormant_count(self) -> int:
        """How many cases loaded from a snapshot have not been touched since."""
        return len(self._dormant)

    def _wake(self, case_id: str, fold: bool = True, parts: bool = True) -> None:
        """A case loaded from a snapshot, touched: its events decoded and kept as ``apply``
        keeps them, and (``fold``) folded, with its own tallies put back into each kept
        tally (their sums hold them already), and taken out of the dormant cases' parts
        (unless ``parts`` is False: the caller empties them). Without ``fold``, it is marked
        for a refold (a case set aside when the snapshot was written: nothing of it is in
        the sums or the parts)."""
        kept = self._dormant.pop(case_id)
        self._dimensions.pop(case_id, None)
        self._waited.discard(case_id)
        events = _unpacked(case_id, kept)
        self._held -= len(events)
        if not events:
            return  # no events: never kept
        state = self._cases[case_id] = _Case(events)
        state.note_retractions()
        state.ordered()  # saved in apply order: cheap
        if not fold:
            self._stale.add(case_id)
            self._changed.add(case_id)
            self._redate[case_id] = None
            return
        try:
            state.file = fold_events(
                case_id, state, retractions=state.targets is not None, ordered=True
            )
            if parts:
                self._parts.add_case(case_id, state.file, state.last_day, -1)
            for live in self._live.values():
                now = live.now
                case = self._file(case_id, now) if state.last_day > now else state.file
                mine = standing(case, now)
                if mine:
                    live.standing[case_id] = mine
                own = dated(case, now)
                if own:
                    live.dated[case_id] = own
        except Exception as error:  # folded when it was saved: only a fault of this run
            self._set_aside(case_id, error, "fold")

    @property
    def empty(self) -> bool:
        """Whether it holds no case and keeps no tallies yet (``replay_cases`` then
        settles each case)."""
        return not (self._cases or self._dormant or self._live)

    def replay_cases(self, cases: Iterable[tuple[str, bytes]]) -> int:
        """Apply a replay's stored records, gathered by case: (case id, a JSON array of its
        records), a log's, whose ids are unique, after the projector's position
        (``EventLog.read_by_case``); returns how many. Into
        a projector that holds nothing (``empty``), each case is settled: decoded and
        folded once, what it adds up to put in the parts (the measures on any "now" after
        its last event are made from them: ``_Parts.live``), its dimensions noted, and the
        case kept dormant as a case loaded from a snapshot is kept. So a replay holds no
        event object, case file or tally of each case, only each case's events encoded
        (``snapshot.encode_events``: about half the bytes of their records, and read back
        in half the time), and a case is decoded and folded again when next touched
        (``_wake``). Into any other projector, ``apply_all``."""
        count = 0
        if not self.empty:
            for _, blob in cases:
                count += self.apply_all(from_bodies(blob), unique=True)
            return count
        shared: dict[Dimensions, Dimensions] = {}  # one of each: a few thousand distinct
        with self._pause():
            for case_id, blob in cases:
                events = from_bodies(blob)
                count += len(events)
                latest = max(event.recorded_at for event in events)
                if self._last_recorded is None or latest > self._last_recorded:
                    self._last_recorded = latest
                state = _Case(events)
                state.seen = latest
                state.note_retractions()
                state.ordered()
                self._settle(case_id, state, shared)  # encoded: 131 bytes an event, not 240
        return count

    def settle(self, compact: bool = True, now: date | None = None) -> int:
        """``replay_cases``'s settling, for cases applied as events (a JSONL file's
        replay, a Kafka partition read in bulk): each case applied since it was last
        folded and never folded yet is folded once, what it adds up to put in the parts,
        and kept dormant: its events one blob (``snapshot.encode_events``), or, not
        ``compact``, the events themselves (a one-shot command's: no time spent encoding
        them). ``now``: a case with an event after it is left to be folded as ever (its
        measures on ``now`` cannot come from the parts). Only while no tallies are kept
        (before the first ``measures``), which would not hold these cases otherwise.
        Returns how many cases it settled."""
        if self._live:
            return 0
        cases, quarantine = self._cases, self._quarantine
        shared: dict[Dimensions, Dimensions] = {}
        waiting = [
            case_id
            for case_id in self._stale
            if cases[case_id].file is None and case_id not in quarantine
        ]
        settled = 0
        with self._pause():
            for case_id in waiting:
                state = cases[case_id]
                state.ordered()
                if now is not None and state.last_day > now:
                    continue
                settled += self._settle(case_id, state, shared, compact)
        return settled

    def _settle(
        self,
        case_id: str,
        state: _Case,
        shared: dict[Dimensions, Dimensions],
        compact: bool = True,
    ) -> bool:
        """Fold one case (its events in apply order: ``_Case.ordered``), add it to the parts
        and keep it dormant: its events encoded, or (not ``compact``) the events themselves;
        False if its fold or tallies raise: it is then kept awake among the changed cases,
        to be folded (and so set aside) as any case is."""
        try:
            file = fold_events(case_id, state, retractions=state.targets is not None, ordered=True)
            self._parts.add_case(case_id, file, state.last_day)
        except Exception:
            if case_id not in self._cases:
                self._cases[case_id] = state
                self._stale.add(case_id)
                self._changed.add(case_id)
                self._redate[case_id] = None
            return False
        self._cases.pop(case_id, None)
        self._stale.discard(case_id)
        self._changed.discard(case_id)
        self._redate.pop(case_id, None)
        self._dormant[case_id] = snapshot_format.encode_events(state) if compact else state
        known = Dimensions.of(file)
        self._dimensions[case_id] = shared.setdefault(known, known)
        if _waited(file):
            self._waited.add(case_id)
        self._held += len(state)
        if self._seen is None:
            self._unindexed = True  # its ids are read from its blob when asked for
        return True

    def _wake_all(self) -> None:
        """Every case loaded from a snapshot and not touched yet, touched."""
        if self._dormant:
            with self._pause():
                for case_id in list(self._dormant):
                    self._wake(case_id, parts=False)
            self._parts = _Parts()
