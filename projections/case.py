"""The case fold: one case's events in, its clocks and records out. Pure and deterministic.

``fold_case`` ignores events that occurred after ``now``, removes retracted events (a
retraction undoes its target as if it never happened), ignores repeated event ids, and then
applies the rest in the contract's order: by date, openers before closers on one day, then a
fixed order of types, the time of day and the event id. So the result never depends on the
order the events arrived in.

Plan clocks run one at a time (CONTRACT.md section 2): a request for assessment, a review
meeting or a proposed amendment that arrives while its run is open starts nothing. But one
on the same day as the event that ends the open run applies after that event: the fold holds
it for the rest of its day (``CaseFile._held``) and starts its run when a closer that day
ends the open one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

import msgspec

from events import EVENT_TYPES, Event
from projections.calendar import add_months, working_days_after
from projections.law import (
    APPEALABLE,
    CLOCKS,
    OPENERS,
    ORDER_CITATION,
    ORDER_DEADLINES,
    OVERTURNED,
    TRANSFER_DEADLINE,
)

TYPE_ORDER: dict[str, int] = {kind: n for n, kind in enumerate(EVENT_TYPES)}
# each type's place in the apply order after its day: (0 for an opener, else 1; its order)
TYPE_RANK: dict[str, tuple[int, int]] = {
    kind: (0 if kind in OPENERS else 1, n) for kind, n in TYPE_ORDER.items()
}


def apply_order(event: Event) -> tuple[date, int, int, int, str]:
    opener, order = TYPE_RANK[event.type]
    return (event.day, opener, order, event.second, event.event_id)


class Clock(msgspec.Struct, gc=False):
    """One run of a statutory clock. ``key`` tells runs of the same clock apart.

    The fold's records are msgspec Structs, not dataclasses: built in C (a fold makes one
    for nearly every other event) and untracked by the garbage collector (``gc=False``:
    none refers back to what holds it)."""

    clock: str
    key: str
    start: date
    due: date
    started_by: str
    stop: date | None = None
    stopped_by: str | None = None
    cancelled: date | None = None
    excepted: bool = False
    citation: str = ""
    kind: str | None = None  # tribunal orders: the order's kind
    steps: dict[str, date] | None = None  # tribunal orders: the day each step was done

    @property
    def is_open(self) -> bool:
        return self.stop is None and self.cancelled is None

    @property
    def met(self) -> bool | None:
        return None if self.stop is None else self.stop <= self.due

    def state(self, now: date) -> str:
        """met, late, open, overdue or cancelled (``excepted`` is told apart separately)."""
        if self.cancelled is not None:
            return "cancelled"
        if self.stop is not None:
            return "met" if self.stop <= self.due else "late"
        return "overdue" if self.due < now else "open"

    def interim(self) -> tuple[str, date, date | None] | None:
        """A tribunal order's interim step: (step, due, done on)."""
        if self.kind is None:
            return None
        rule = ORDER_DEADLINES[self.kind]
        if rule.interim_step is None or rule.interim_days is None:
            return None
        due = self.start + timedelta(days=rule.interim_days)
        done = self.steps.get(rule.interim_step) if self.steps else None
        return rule.interim_step, due, done


class Decision(msgspec.Struct, gc=False):
    """An appealable decision (CFA 2014 s51(2))."""

    kind: str  # "plan.issued", "assessment.decided:refuse", ...
    day: date
    event_id: str
    # set by ``_link_appeals`` from the appeals linked to it (CONTRACT.md section 3)
    overturned: bool = False  # one was conceded by the LA or won by the family
    appealed: bool = False  # one was registered
    pending: bool = False  # one is not concluded


class Appeal(msgspec.Struct, gc=False):
    appeal_id: str
    against: str
    registered: date
    concluded: date | None = None
    outcome: str | None = None


class ExceptionEntry(msgspec.Struct, gc=False):
    """The exceptions ledger: which clock, which ground, when, and whether the family knew."""

    clock: str
    ground: str
    day: date
    family_told: bool | None
    event_id: str


class CaseFile(msgspec.Struct, gc=False):
    case_id: str
    clocks: list[Clock] = []
    decisions: list[Decision] = []
    appeals: dict[str, Appeal] = {}
    exceptions: list[ExceptionEntry] = []
    out_of_education_since: date | None = None
    eotas_requests: list[date] = []
    eotas_starts: list[tuple[date, date | None]] = []  # start, request
    caseworkers: list[tuple[date, str]] = []
    audits: list[tuple[date, bool, bool, bool]] = []
    compliance: list[tuple[date, str, bool]] = []
    sen_support_setting: str | None = None
    # the case's dimensions (the work queue's filters, the alerts' labels), where known:
    # the latest ``caseworker.assigned``'s caseworker and team, the setting named by the
    # latest plan or phase transfer, the plan's primary need (SEN2 code), and the council
    # (the latest event's envelope ``council``; the shell's own code where none has one)
    caseworker: str | None = None
    team: str | None = None
    setting: str | None = None
    need: str | None = None
    council: str | None = None
    history: list[Event] = []  # applied, in apply order
    retracted: list[Event] = []
    # fold state (not measures): the open runs by clock id
    _episode: _Episode | None = None
    _open: dict[str, Clock] = {}
    _orders: dict[str, Clock] = {}
    _contacts: dict[str, Clock] = {}
    _pending_order_exceptions: dict[str, bool] = {}
    # the latest phase transfer's (transfer_date, kind): a transfer.due for it again is ignored
    _transfer: tuple[date, str] | None = None
    # openers set aside today because their run was open, by run ("request", or the clock
    # id): one starts its run if a closer later that day ends the open run (``_resume``)
    _held: dict[str, Event] | None = None
    # every open run, and some closed ones (dropped when the list grows to RUNNING_PRUNE):
    # what ``standing`` goes through (a busy case has about ten runs for every two open);
    # kept by ``_clock``
    running: list[Clock] = []


class _Episode(msgspec.Struct, gc=False):
    """A request for assessment and the clocks it started."""

    key: str
    start: date
    clocks: dict[str, Clock]
    excepted: set[str]
    open: bool = True


def _clock(
    case: CaseFile, clock: str, key: str, start: date, due: date, event: Event, citation: str = ""
) -> Clock:
    run = Clock(clock, key, start, due, event.event_id, citation=citation or CLOCKS[clock].citation)
    case.clocks.append(run)
    running = case.running
    if len(running) >= RUNNING_PRUNE:  # closed runs dropped now and then, not at every start
        running = case.running = [r for r in running if r.stop is None and r.cancelled is None]
    running.append(run)
    return run


RUNNING_PRUNE = 8


# each clock's due day by start day, as worked out: a few thousand days a clock
_DUE: dict[str, dict[date, date]] = {clock: {} for clock in CLOCKS}


def _due(clock: str, start: date) -> date:
    dues = _DUE[clock]
    due = dues.get(start)
    if due is None:
        due = dues[start] = _limit(clock, start)
    return due


def _limit(clock: str, start: date) -> date:
    rule = CLOCKS[clock]
    if rule.days is not None:
        return start + timedelta(days=rule.days)
    if rule.months is not None:
        return add_months(start, rule.months)
    if rule.working_days is not None:
        return working_days_after(start, rule.working_days)
    raise ValueError(f"clock {clock} has no fixed limit")


def _stop(run: Clock | None, event: Event) -> None:
    if run is not None and run.is_open:
        run.stop = event.day
        run.stopped_by = event.event_id


def _cancel(run: Clock | None, day: date) -> None:
    if run is not None and run.is_open:
        run.cancelled = day


def _start_plan_clock(case: CaseFile, clock: str, event: Event) -> Clock:
    """Start a plan clock (one open run at a time); a run already open is kept."""
    run = case._open.get(clock)
    if run is not None and run.is_open:
        return run
    run = _clock(case, clock, event.event_id, event.day, _due(clock, event.day), event)
    case._open[clock] = run
    return run


def _decision(case: CaseFile, kind: str, event: Event) -> None:
    case.decisions.append(Decision(kind, event.day, event.event_id))


def _hold(case: CaseFile, run: str, event: Event) -> None:
    """Set aside an opener that found its run open (one run at a time): it starts nothing,
    unless a closer later on its day ends that run (``_resume``). The day's first is kept."""
    held = case._held
    if held is None:
        case._held = {run: event}
        return
    earlier = held.get(run)
    if earlier is None or earlier.day != event.day:
        held[run] = event


def _resume(case: CaseFile, run: str, day: date) -> Event | None:
    """The opener held on ``day`` for a run that a closer has just ended on that day: it
    applies after the closer (CONTRACT.md section 2), so the caller starts its run now."""
    held = case._held
    if held is None:
        return None
    event = held.pop(run, None)
    return event if event is not None and event.day == day else None


def _end_plan_clock(case: CaseFile, clock: str, event: Event, cancel: bool = False) -> None:
    """Stop (or cancel) the open run of a plan clock; an opener held that day starts the
    next run."""
    run = case._open.get(clock)
    if run is None or run.stop is not None or run.cancelled is not None:
        return
    if cancel:
        run.cancelled = event.day
    else:
        run.stop = event.day
        run.stopped_by = event.event_id
    if case._held:  # rarely: the lookup only then
        held = _resume(case, clock, event.day)
        if held is not None:
            _start_plan_clock(case, clock, held)


# --- handlers, one per event type that changes anything -----------------------------------


def _request_received(case: CaseFile, event: Event) -> None:
    if case._episode is not None and case._episode.open:
        _hold(case, "request", event)  # a request is already open: its clocks keep running
        return
    clocks = {
        clock: _clock(case, clock, event.event_id, event.day, _due(clock, event.day), event)
        for clock in ("assess_decision", "final_plan")
    }
    case._episode = _Episode(event.event_id, event.day, clocks, set())


def _request_ended(case: CaseFile, episode: _Episode, day: date) -> None:
    """The request is decided, or withdrawn: a request held that day starts its clocks."""
    episode.open = False
    if case._held:  # rarely: the lookup only then
        held = _resume(case, "request", day)
        if held is not None:
            _request_received(case, held)


def _assessment_decided(case: CaseFile, event: Event) -> None:
    episode = case._episode
    refused = event.data["decision"] == "refuse"
    if refused:
        _decision(case, "assessment.decided:refuse", event)
    if episode is None or not episode.open:
        return
    _stop(episode.clocks.get("assess_decision"), event)
    if refused:
        _cancel(episode.clocks.get("final_plan"), event.day)
        _request_ended(case, episode, event.day)


def _plan_decided(case: CaseFile, event: Event) -> None:
    if event.data["decision"] != "not_issue":
        return
    _decision(case, "plan.decided:not_issue", event)
    episode = case._episode
    if episode is None or not episode.open:
        return
    _cancel(episode.clocks.get("final_plan"), event.day)
    run = _clock(
        case,
        "no_plan_decision",
        episode.key,
        episode.start,
        _due("no_plan_decision", episode.start),
        event,
    )
    run.excepted = "no_plan_decision" in episode.excepted
    _stop(run, event)
    episode.clocks["no_plan_decision"] = run
    _request_ended(case, episode, event.day)


def _plan_issued(case: CaseFile, event: Event) -> None:
    _decision(case, "plan.issued", event)
    data = event.data
    setting = data.get("setting_id")
    if setting is not None:
        case.setting = setting
    need = data.get("primary_need")
    if need is not None:
        case.need = need
    episode = case._episode
    if episode is not None and episode.open:
        _stop(episode.clocks.get("final_plan"), event)
        _request_ended(case, episode, event.day)
    # a new plan restarts the annual review cycle
    _cancel(case._open.get("review_due"), event.day)
    _start_plan_clock(case, "review_due", event)


def _exception_applied(case: CaseFile, event: Event) -> None:
    clock = event.data["clock"]
    case.exceptions.append(
        ExceptionEntry(
            clock, event.data["ground"], event.day, event.data.get("family_told"), event.event_id
        )
    )
    if clock == "tribunal_order":
        order_id = event.data.get("order_id")
        if order_id is None:
            run = next(reversed(case._orders.values()), None)
        else:
            run = case._orders.get(order_id)
            if run is None:  # the order is not known yet: except it when it is made
                case._pending_order_exceptions[order_id] = True
        if run is not None:
            run.excepted = True
        return
    episode = case._episode
    if episode is None:
        return
    episode.excepted.add(clock)
    run = episode.clocks.get(clock)
    if run is not None:
        run.excepted = True


def _request_withdrawn(case: CaseFile, event: Event) -> None:
    episode = case._episode
    if episode is None or not episode.open:
        return
    for run in episode.clocks.values():
        _cancel(run, event.day)
    _request_ended(case, episode, event.day)


def _plan_ceased(case: CaseFile, event: Event) -> None:
    """The plan's own clocks are cancelled; tribunal orders and contacts run on."""
    _decision(case, "plan.ceased", event)
    _cancel(case._open.get("review_due"), event.day)
    _cancel(case._open.get("phase_transfer"), event.day)
    _end_plan_clock(case, "review_decision", event, cancel=True)
    _end_plan_clock(case, "amended_plan", event, cancel=True)


def _opener(case: CaseFile, clock: str, event: Event) -> None:
    """A review meeting or a proposed amendment: starts its clock, unless a run of it is
    open (then it is held for the day)."""
    run = case._open.get(clock)
    if run is not None and run.stop is None and run.cancelled is None:
        _hold(case, clock, event)
    else:
        case._open[clock] = _clock(
            case, clock, event.event_id, event.day, _due(clock, event.day), event
        )


def _review_meeting_held(case: CaseFile, event: Event) -> None:
    _opener(case, "review_decision", event)


def _review_decided(case: CaseFile, event: Event) -> None:
    decision = event.data["decision"]
    if decision in ("maintain", "cease"):
        _decision(case, f"review.decided:{decision}", event)
    _end_plan_clock(case, "review_decision", event)
    _stop(case._open.get("review_due"), event)
    if decision != "cease":  # a decision to cease starts no new annual review
        _start_plan_clock(case, "review_due", event)


def _amendment_proposed(case: CaseFile, event: Event) -> None:
    _opener(case, "amended_plan", event)


def _plan_amended(case: CaseFile, event: Event) -> None:
    _decision(case, "plan.amended", event)
    _end_plan_clock(case, "amended_plan", event)


def _review_compliance_checked(case: CaseFile, event: Event) -> None:
    case.compliance.append((event.day, event.data["setting_id"], event.data["compliant"]))


def _transfer_due(case: CaseFile, event: Event) -> None:
    transfer = (date.fromisoformat(event.data["transfer_date"]), event.data["kind"])
    if case._transfer == transfer:
        return  # the same transfer recorded again: open, or its setting named already
    run = case._open.get("phase_transfer")
    if run is not None and run.is_open:
        run.cancelled = event.day  # superseded by a different transfer
    month, day = TRANSFER_DEADLINE[transfer[1]]
    case._open["phase_transfer"] = _clock(
        case, "phase_transfer", event.event_id, event.day, date(transfer[0].year, month, day), event
    )
    case._transfer = transfer


def _transfer_setting_named(case: CaseFile, event: Event) -> None:
    setting = event.data.get("setting_id")
    if setting is not None:
        case.setting = setting
    _stop(case._open.get("phase_transfer"), event)


def _appeal_registered(case: CaseFile, event: Event) -> None:
    appeal_id = event.data["appeal_id"]
    if appeal_id not in case.appeals:
        case.appeals[appeal_id] = Appeal(appeal_id, event.data["against"], event.day)


def _appeal_concluded(case: CaseFile, event: Event) -> None:
    appeal = case.appeals.get(event.data["appeal_id"])
    if appeal is not None and appeal.concluded is None:
        appeal.concluded = event.day
        appeal.outcome = event.data["outcome"]


def _order_made(case: CaseFile, event: Event) -> None:
    order_id = event.data["order_id"]
    if order_id in case._orders:
        return
    kind = event.data["kind"]
    run = _clock(
        case,
        "tribunal_order",
        order_id,
        event.day,
        event.day + timedelta(days=ORDER_DEADLINES[kind].final_days),
        event,
        citation=ORDER_CITATION[event.data["basis"]],
    )
    run.kind = kind
    run.excepted = case._pending_order_exceptions.pop(order_id, False)
    case._orders[order_id] = run


def _order_step_done(case: CaseFile, event: Event) -> None:
    run = case._orders.get(event.data["order_id"])
    if run is None:
        return
    step = event.data["step"]
    if run.steps is None:
        run.steps = {}
    run.steps.setdefault(step, event.day)
    if step != "final" or not run.is_open:
        return
    rule = ORDER_DEADLINES[run.kind or ""]
    if event.data.get("outcome") == "no_plan" and rule.final_days_no_plan is not None:
        run.due = run.start + timedelta(days=rule.final_days_no_plan)
    _stop(run, event)


def _education_lost(case: CaseFile, event: Event) -> None:
    if case.out_of_education_since is None:
        case.out_of_education_since = event.day


def _education_resumed(case: CaseFile, event: Event) -> None:
    case.out_of_education_since = None


def _eotas_requested(case: CaseFile, event: Event) -> None:
    case.eotas_requests.append(event.day)


def _eotas_started(case: CaseFile, event: Event) -> None:
    request = case.eotas_requests[-1] if case.eotas_requests else None
    case.eotas_starts.append((event.day, request))


def _contact_received(case: CaseFile, event: Event) -> None:
    contact_id = event.data["contact_id"]
    if contact_id not in case._contacts:
        case._contacts[contact_id] = _clock(
            case,
            "contact_response",
            contact_id,
            event.day,
            _due("contact_response", event.day),
            event,
        )


def _contact_responded(case: CaseFile, event: Event) -> None:
    if not event.data["automated"]:
        _stop(case._contacts.get(event.data["contact_id"]), event)


def _caseworker_assigned(case: CaseFile, event: Event) -> None:
    data = event.data
    case.caseworker = worker = data["caseworker_id"]
    case.team = data.get("team")
    case.caseworkers.append((event.day, worker))


def _plan_audited(case: CaseFile, event: Event) -> None:
    d = event.data
    case.audits.append(
        (event.day, d["section_b"] == "met", d["section_e"] == "met", d["section_f"] == "met")
    )


def _sen_support_started(case: CaseFile, event: Event) -> None:
    case.sen_support_setting = event.data["setting_id"]


def _sen_support_ended(case: CaseFile, event: Event) -> None:
    """With a setting, it closes only the record at that setting (a move between settings
    on one day is an end and a start, whatever their order); without, whatever is open."""
    setting = event.data.get("setting_id")
    if setting is None or setting == case.sen_support_setting:
        case.sen_support_setting = None


HANDLERS: dict[str, Callable[[CaseFile, Event], None]] = {
    "request.received": _request_received,
    "assessment.decided": _assessment_decided,
    "plan.decided": _plan_decided,
    "plan.issued": _plan_issued,
    "exception.applied": _exception_applied,
    "request.withdrawn": _request_withdrawn,
    "plan.ceased": _plan_ceased,
    "review.meeting_held": _review_meeting_held,
    "review.decided": _review_decided,
    "amendment.proposed": _amendment_proposed,
    "plan.amended": _plan_amended,
    "review.compliance_checked": _review_compliance_checked,
    "transfer.due": _transfer_due,
    "transfer.setting_named": _transfer_setting_named,
    "appeal.registered": _appeal_registered,
    "appeal.concluded": _appeal_concluded,
    "tribunal.order_made": _order_made,
    "tribunal.order_step_done": _order_step_done,
    "education.lost": _education_lost,
    "education.resumed": _education_resumed,
    "eotas.requested": _eotas_requested,
    "eotas.started": _eotas_started,
    "contact.received": _contact_received,
    "contact.responded": _contact_responded,
    "caseworker.assigned": _caseworker_assigned,
    "plan.audited": _plan_audited,
    "sen_support.started": _sen_support_started,
    "sen_support.ended": _sen_support_ended,
}


# Event types no handler reads (``event.retracted`` aside: it undoes other events): they
# change nothing in a case, so they belong to both sets below.
_UNHANDLED: frozenset[str] = frozenset(
    kind for kind in EVENT_TYPES if kind not in HANDLERS and kind != "event.retracted"
)

# Event types whose handlers never change what has happened in a case (runs stopped or
# excepted, decisions, appeals, EOTAS, caseworkers, audits, review checks): they open
# clocks, cancel open ones, or change how things stand (or change nothing). Extending a
# case with one leaves its dated measures as they were, so the live service does not count
# them again. A property test holds every type here to that.
STANDING_ONLY: frozenset[str] = frozenset(
    {
        "request.received",
        "request.withdrawn",
        "review.meeting_held",
        "amendment.proposed",
        "transfer.due",
        "tribunal.order_made",
        "education.lost",
        "education.resumed",
        "contact.received",
        "sen_support.started",
        "sen_support.ended",
    }
    | _UNHANDLED
)


# Event types whose handlers may change what happened on a day before their own: an
# exception excepts a run that may have stopped earlier. Extending a case with an event of
# any other type changes its dated measures on the event's own day only, unless the case
# has an appeal (a decision, or an appeal's outcome, may link an appeal to a decision made
# earlier). So the live service counts that one day of the case again. A property test
# holds every type to that.
EARLIER_DAYS: frozenset[str] = frozenset({"exception.applied"})


# Event types whose handlers never open, stop, cancel or except a clock (they keep records:
# appeals, EOTAS, caseworkers, audits, review checks, education, SEN support). A case's
# clocks, and so its per-case alerts, are the same with or without one, wherever it falls
# in the case's history: the alert engine does not judge a case again for one. A property
# test holds every type here to that.
CLOCKLESS: frozenset[str] = frozenset(
    {
        "review.compliance_checked",
        "appeal.registered",
        "appeal.concluded",
        "education.lost",
        "education.resumed",
        "eotas.requested",
        "eotas.started",
        "caseworker.assigned",
        "plan.audited",
        "sen_support.started",
        "sen_support.ended",
    }
    | _UNHANDLED
)


def retracted_ids(events: Iterable[Event]) -> set[str]:
    """Ids undone by a retraction that is itself in force (a retraction can be retracted)."""
    by_target: dict[str, list[str]] = {}
    for event in events:
        if event.type == "event.retracted":
            by_target.setdefault(event.data["event_id"], []).append(event.event_id)
    if not by_target:
        return set()
    verdict: dict[str, bool] = {}

    def undone(event_id: str, depth: int = 0) -> bool:
        if event_id not in verdict:
            verdict[event_id] = depth < 32 and any(
                not undone(r, depth + 1) for r in by_target.get(event_id, ())
            )
        return verdict[event_id]

    return {target for target in by_target if undone(target)}


def _link_appeals(case: CaseFile) -> None:
    """Link each appeal to the latest decision of its kind on or before the day it was
    registered (so one registered on the day of the decision is linked to it), and mark
    each decision appealed, overturned (an appeal conceded or lost by the LA) or pending
    (an appeal not concluded)."""
    decisions = case.decisions
    for decision in decisions:
        decision.overturned = decision.appealed = decision.pending = False
    for appeal in case.appeals.values():
        kinds = APPEALABLE[appeal.against]
        registered = appeal.registered
        linked = None
        for decision in decisions:  # in apply order (by day): the last match is the latest
            if decision.day > registered:
                break
            if decision.kind in kinds:
                linked = decision
        if linked is not None:
            linked.appealed = True
            if appeal.outcome in OVERTURNED:
                linked.overturned = True
            if appeal.concluded is None:
                linked.pending = True


def extend_case(case: CaseFile, event: Event) -> None:
    """Apply one more event to a folded case. Only for an event that sorts after every event
    already folded, and that no retraction in the case undoes: then the result is exactly
    what refolding the whole case would give, for the cost of one event."""
    case.history.append(event)
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(case, event)
    if case.appeals:
        _link_appeals(case)


def fold_case(case_id: str, events: Iterable[Event], now: date | None = None) -> CaseFile:
    """Fold one case's events (any order, repeats allowed) into its clocks and records.

    Events that occurred after ``now`` are ignored (``None``: none are), except retractions:
    a retracted event counts as never having happened, whenever the retraction is dated.
    """
    seen: set[str] = set()
    unique: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return fold_events(case_id, unique, now)


def fold_events(
    case_id: str,
    events: list[Event],
    now: date | None = None,
    retractions: bool = True,
    ordered: bool = False,
) -> CaseFile:
    """``fold_case`` for events already unique by id (the projector keeps them so).
    ``retractions`` False says the caller knows there is no retraction among them;
    ``ordered`` that they are in ``apply_order`` already (the projector keeps them so, so
    a refold sorts nothing)."""
    if now is not None:
        # a retraction works from when it was recorded (as-at), not when it is dated: a
        # retracted event counts as never having happened, whatever "now" is asked about
        events = [e for e in events if e.day <= now or e.type == "event.retracted"]
    gone: set[str] = set()
    if retractions:
        gone = retracted_ids(e for e in events if e.type == "event.retracted")
    if not ordered:
        events = sorted(events, key=apply_order)
    if gone:
        case = CaseFile(
            case_id,
            history=[e for e in events if e.event_id not in gone],
            retracted=[e for e in events if e.event_id in gone],
        )
    else:
        case = CaseFile(case_id, history=list(events))
    history = case.history
    handlers = HANDLERS.get
    for event in history:
        handler = handlers(event.type)
        if handler is not None:
            handler(case, event)
    if case.appeals:
        _link_appeals(case)
    for event in reversed(history):  # the latest event that names its council
        if event.council is not None:
            case.council = event.council
            break
    return case
