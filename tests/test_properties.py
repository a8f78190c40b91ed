"""Properties of the fold (hypothesis): order, repeats, replay, retraction, snapshots."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event
from projections import Period, Projector
from tests.history import event

START = date(2024, 1, 1)
NOW = date(2025, 9, 30)
PERIOD = Period(date(2024, 10, 1), NOW)
CASES = ["C1", "C2", "C3"]


@pytest.fixture(scope="module", params=["each case", "afresh"], autouse=True)
def windows_kept(request: pytest.FixtureRequest) -> Any:
    """Every property twice: the live windows kept current case by case, and made afresh
    from the sums by day (as they are when many cases change at once)."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "afresh":
            patch.setattr("projections.projector.REWINDOW", 0)
        yield request.param


def _data(kind: str, pick: Any) -> dict[str, Any]:
    """An event's data, each value one of a few that ``pick`` chooses between."""
    small = lambda: pick("a", "b", "c")  # noqa: E731
    return {
        "request.received": lambda: {"requested_by": pick("parent", "school")},
        "assessment.decided": lambda: {"decision": pick("assess", "refuse")},
        "plan.decided": lambda: {"decision": pick("issue", "not_issue")},
        "plan.issued": dict,
        "exception.applied": lambda: {
            "clock": pick("assess_decision", "no_plan_decision", "final_plan", "tribunal_order"),
            "ground": pick("absence", "school_closure"),
            "family_told": pick(True, False),
        },
        "request.withdrawn": dict,
        "plan.ceased": lambda: {"reason": "x"},
        "review.meeting_held": dict,
        "review.decided": lambda: {"decision": pick("maintain", "amend", "cease")},
        "amendment.proposed": dict,
        "plan.amended": dict,
        "review.compliance_checked": lambda: {
            "setting_id": small(),
            "compliant": pick(True, False),
            "failures": [],
        },
        "transfer.due": lambda: {
            "transfer_date": pick("2025-09-01", "2025-07-01", "2026-01-05"),
            "kind": pick("school", "post16"),
        },
        "transfer.setting_named": dict,
        "appeal.registered": lambda: {
            "appeal_id": small(),
            "against": pick("refusal_to_assess", "contents", "cease"),
        },
        "appeal.concluded": lambda: {
            "appeal_id": small(),
            "outcome": pick("conceded", "la_won", "appellant_won"),
        },
        "tribunal.order_made": lambda: {
            "order_id": small(),
            "kind": pick("assess", "make_plan", "maintain"),
            "basis": "order",
        },
        "tribunal.order_step_done": lambda: {
            "order_id": small(),
            "step": pick("notify", "final"),
            "outcome": pick("plan", "no_plan"),
        },
        "education.lost": lambda: {"reason": "other"},
        "education.resumed": lambda: {"provision": "school"},
        "eotas.requested": dict,
        "eotas.started": dict,
        "contact.received": lambda: {"contact_id": small(), "channel": "email"},
        "contact.responded": lambda: {"contact_id": small(), "automated": pick(True, False)},
        "caseworker.assigned": lambda: {"caseworker_id": small()},
        "plan.audited": lambda: {
            "section_b": "met",
            "section_e": pick("met", "not_met"),
            "section_f": "met",
        },
        "sen_support.started": lambda: {"setting_id": small()},
        "sen_support.ended": lambda: pick({}, {"setting_id": small()}),
    }[kind]()


KINDS = [
    "request.received",
    "assessment.decided",
    "plan.decided",
    "plan.issued",
    "exception.applied",
    "request.withdrawn",
    "plan.ceased",
    "review.meeting_held",
    "review.decided",
    "amendment.proposed",
    "plan.amended",
    "review.compliance_checked",
    "transfer.due",
    "transfer.setting_named",
    "appeal.registered",
    "appeal.concluded",
    "tribunal.order_made",
    "tribunal.order_step_done",
    "education.lost",
    "education.resumed",
    "eotas.requested",
    "eotas.started",
    "contact.received",
    "contact.responded",
    "caseworker.assigned",
    "plan.audited",
    "sen_support.started",
    "sen_support.ended",
]


BUSY_DAYS = (120, 121, 400)


@st.composite
def histories(draw: Any, max_size: int = 40) -> list[Event]:
    return history(
        lambda low, high: draw(st.integers(low, high)),
        lambda *xs: draw(st.sampled_from(xs)),
        # some after NOW; a few busy days, so that a day's openers meet its closers
        lambda: draw(st.one_of(st.integers(0, 700), st.sampled_from(BUSY_DAYS))),
        max_size,
    )


def history(
    integer: Callable[[int, int], int],
    pick: Callable[..., Any],
    offset: Callable[[], int],
    max_size: int = 40,
) -> list[Event]:
    """A history of up to ``max_size`` events of the three cases, each drawn by ``integer``
    (a number from low to high), ``pick`` (one of some values) and ``offset`` (its day, in
    days after START): hypothesis's draws (``histories``), or a seeded random's."""
    out = []
    for n in range(integer(1, max_size)):
        kind = pick(*KINDS)
        day = START + timedelta(days=offset())
        recorded = day + timedelta(days=integer(0, 60))
        out.append(
            event(
                kind,
                pick(*CASES),
                day.isoformat(),
                eid=f"e{n}",
                recorded=f"{recorded.isoformat()}T10:00:00Z",
                **_data(kind, pick),
            )
        )
    return out


def result(events: list[Event], now: date = NOW) -> dict[str, Any]:
    p = Projector()
    p.apply_all(events)
    return p.measures(now, PERIOD)


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_order_gives_the_same_measures(events: list[Event], rnd: Any) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert result(shuffled) == result(events)


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_repeating_events_changes_nothing(events: list[Event], data: Any) -> None:
    again = data.draw(st.lists(st.sampled_from(events), max_size=10))
    assert result(events + again) == result(events)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_replay_equals_event_by_event_application(events: list[Event]) -> None:
    live = Projector()
    for e in events:
        live.apply(e)
        live.measures(NOW, PERIOD)  # the live tallies are updated case by case
    assert live.measures(NOW, PERIOD) == result(events)
    assert live.measures(NOW - timedelta(days=40), PERIOD) == result(
        events, NOW - timedelta(days=40)
    )


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_every_live_window_equals_a_fresh_replay(events: list[Event], data: Any) -> None:
    """The projector keeps several periods on several "now"s current as events arrive (the
    standing part once per "now", the dated part per period): each equals a replay's."""
    periods = [
        PERIOD,
        Period(NOW - timedelta(days=30), NOW),
        Period(START, START + timedelta(days=200)),
    ]
    asked = [(now, period) for now in (NOW, NOW - timedelta(days=40)) for period in periods]
    live = Projector()
    for e in events:
        live.apply(e)
        now, period = data.draw(st.sampled_from(asked))
        live.measures(now, period)
    fresh = Projector()
    fresh.apply_all(events)
    for now, period in asked:
        assert live.measures(now, period) == fresh.measures(now, period)


@settings(max_examples=50, deadline=None)
@given(histories(), st.data())
def test_live_windows_past_the_limits_are_dropped_and_made_again_exactly(
    events: list[Event], data: Any
) -> None:
    """More "now"s and periods are asked than the projector keeps current (the least
    recently asked are dropped, and made again from the sums by day when asked again)."""
    from projections.projector import LIVE_NOWS, LIVE_PERIODS

    nows = [NOW - timedelta(days=d) for d in range(0, 30 * (LIVE_NOWS + 1), 30)]
    periods = [Period(NOW - timedelta(days=d), NOW) for d in range(10, 10 * (LIVE_PERIODS + 3), 10)]
    live = Projector()
    for e in events:
        live.apply(e)
        live.measures(data.draw(st.sampled_from(nows)), data.draw(st.sampled_from(periods)))
    fresh = Projector()
    fresh.apply_all(events)
    for now in nows:
        for period in periods:
            assert live.measures(now, period) == fresh.measures(now, period)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(CASES), st.integers(0, 700), st.sampled_from(["W1", "W2", "W3", "W4"])
        ),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_caseworker_measures_of_live_windows_equal_a_fresh_replay(
    assignments: list[tuple[str, int, str]], data: Any
) -> None:
    """Caseworkers are the measure that is not a sum over days (three or more in a period):
    live windows, kept current as assignments arrive, equal a replay's."""
    events = [
        event(
            "caseworker.assigned",
            case,
            (START + timedelta(days=offset)).isoformat(),
            eid=f"cw{n}",
            caseworker_id=worker,
        )
        for n, (case, offset, worker) in enumerate(assignments)
    ]
    periods = [PERIOD, Period(START + timedelta(days=100), START + timedelta(days=300))]
    live = Projector()
    for e in events:
        live.apply(e)
        live.measures(NOW, data.draw(st.sampled_from(periods)))
    fresh = Projector()
    fresh.apply_all(events)
    for period in periods:
        assert (
            live.measures(NOW, period)["caseworkers"] == fresh.measures(NOW, period)["caseworkers"]
        )


@settings(max_examples=300, deadline=None)
@given(histories())
def test_standing_only_events_never_change_what_has_happened(events: list[Event]) -> None:
    """The live service does not count a case's dated measures again after an event of a
    type in ``STANDING_ONLY`` extends it: at every point of every case's history, such an
    event leaves them as they were."""
    from projections.case import HANDLERS, STANDING_ONLY, CaseFile, apply_order, extend_case
    from projections.measures import dated

    assert all(kind in KINDS or kind not in HANDLERS for kind in STANDING_ONLY)
    for case in CASES:
        folded = CaseFile(case)
        for e in sorted((e for e in events if e.case_id == case), key=apply_order):
            before = dated(folded, NOW)
            extend_case(folded, e)
            if e.type in STANDING_ONLY:
                assert dated(folded, NOW) == before, e.type


@settings(max_examples=300, deadline=None)
@given(histories())
def test_an_extension_changes_what_happened_on_its_own_day_only(events: list[Event]) -> None:
    """The live service counts again only the event's own day of a case's dated measures
    after an event extends it, unless its type is in ``EARLIER_DAYS`` or the case has an
    appeal: at every point of every case's history, such an event leaves every other day as
    it was. And ``dated`` of some days is the whole tally's share of those days."""
    from projections.case import EARLIER_DAYS, CaseFile, apply_order, extend_case
    from projections.measures import dated

    def without(by_day: dict[date, Any], day: date) -> dict[date, Any]:
        return {d: t for d, t in by_day.items() if d != day}

    for case in CASES:
        folded = CaseFile(case)
        for e in sorted((e for e in events if e.case_id == case), key=apply_order):
            before = dated(folded, NOW)
            extend_case(folded, e)
            after = dated(folded, NOW)
            assert dated(folded, NOW, {e.day}) == {d: t for d, t in after.items() if d == e.day}
            if e.type not in EARLIER_DAYS and not folded.appeals:
                assert without(after, e.day) == without(before, e.day), e.type


@settings(max_examples=300, deadline=None)
@given(histories())
def test_the_running_list_holds_every_open_run_at_every_step(events: list[Event]) -> None:
    """``standing`` goes through ``CaseFile.running`` instead of every run: at every point of
    every case's history (and folded to any "now"), it holds every run still open."""
    from projections.case import CaseFile, apply_order, extend_case, fold_case

    def open_ones(runs: list[Any]) -> list[int]:
        return [id(r) for r in runs if r.stop is None and r.cancelled is None]

    for case in CASES:
        folded = CaseFile(case)
        for e in sorted((e for e in events if e.case_id == case), key=apply_order):
            extend_case(folded, e)
            assert open_ones(folded.running) == open_ones(folded.clocks)
        mine = [e for e in events if e.case_id == case]
        for now in (None, NOW, NOW - timedelta(days=200)):
            whole = fold_case(case, mine, now)
            assert open_ones(whole.running) == open_ones(whole.clocks)


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_clockless_events_never_change_a_cases_clocks(events: list[Event], data: Any) -> None:
    """The alert engine does not judge a case again for an event of a type in
    ``CLOCKLESS``: wherever such events fall in a case's history, its clocks are the same
    with them as without them."""
    from projections.case import CLOCKLESS, HANDLERS, fold_case

    assert all(kind in KINDS or kind not in HANDLERS for kind in CLOCKLESS)
    assert "event.retracted" not in CLOCKLESS
    clockless = [e.event_id for e in events if e.type in CLOCKLESS]
    drawn = data.draw(st.lists(st.sampled_from(clockless), unique=True)) if clockless else []
    dropped = set(drawn)
    for case in CASES:
        mine = [e for e in events if e.case_id == case]
        kept = [e for e in mine if e.event_id not in dropped]
        for now in (None, NOW):
            assert fold_case(case, mine, now).clocks == fold_case(case, kept, now).clocks


def assert_a_replay(live: Projector, events: list[Event]) -> None:
    """Every case file (its clocks, records, history and what was retracted) and the measures
    of ``live`` equal a replay's of ``events``."""
    from projections.views import case_view

    replay = Projector()
    replay.apply_all(events)
    for case in CASES:
        a, b = live.case_file(case), replay.case_file(case)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert case_view(a, NOW) == case_view(b, NOW)
            assert [e.event_id for e in a.retracted] == [e.event_id for e in b.retracted]
    assert live.measures(NOW, PERIOD) == replay.measures(NOW, PERIOD)


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_live_extension_of_a_case_equals_refolding_it(events: list[Event], data: Any) -> None:
    """Events arriving in date order extend each case's fold in place; the case files (every
    clock, record and the history) equal a replay's."""
    from projections.case import apply_order

    ordered = sorted(events, key=apply_order)
    cut = data.draw(st.integers(0, len(ordered)))
    live = Projector()
    live.apply_all(ordered[:cut])
    live.measures(NOW, PERIOD)  # folds what is there; what follows extends those folds
    for e in ordered[cut:]:
        live.apply(e)
    assert_a_replay(live, events)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_events_arriving_in_order_measured_after_each_equal_a_replay(
    events: list[Event],
) -> None:
    """Events in date order extend each case in place, and the live tallies are brought up
    to date after each (standing always, dated only when the event can change them)."""
    from projections.case import apply_order

    live = Projector()
    for e in sorted(events, key=apply_order):
        live.apply(e)
        live.measures(NOW, PERIOD)
        live.measures(NOW, Period(NOW - timedelta(days=90), NOW))
    assert live.measures(NOW, PERIOD) == result(events)
    fresh = Projector()
    fresh.apply_all(events)
    window = Period(NOW - timedelta(days=90), NOW)
    assert live.measures(NOW, window) == fresh.measures(NOW, window)


@st.composite
def retracting_histories(draw: Any) -> list[Event]:
    """A history with a few retractions, each in its target's case, of an event dated
    before or after it or of another retraction (a retraction of a retraction restores)."""
    events = draw(histories())
    for n in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(events))
        day = START + timedelta(days=draw(st.integers(0, 600)))
        events.append(
            event(
                "event.retracted",
                target.case_id,
                day.isoformat(),
                eid=f"r{n}",
                event_id=target.event_id,
                reason="recorded in error",
            )
        )
    return events


@settings(max_examples=150, deadline=None)
@given(retracting_histories(), st.data())
def test_retractions_among_events_measured_after_each_equal_a_replay(
    events: list[Event], data: Any
) -> None:
    """Events applied one at a time in date order (a few swapped), read after each: a case
    with a retraction is extended in place by an event no retraction names, and refolded
    for any other; every case file and the measures equal a replay's."""
    from projections.case import apply_order

    ordered = sorted(events, key=apply_order)
    for _ in range(data.draw(st.integers(0, 3))):
        n = data.draw(st.integers(0, len(ordered) - 1))
        ordered.insert(data.draw(st.integers(0, n)), ordered.pop(n))  # one arrives late
    live = Projector()
    for e in ordered:
        live.apply(e)
        live.measures(NOW, PERIOD)
    assert_a_replay(live, events)


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_retracting_an_event_equals_never_having_had_it(events: list[Event], data: Any) -> None:
    target = data.draw(st.sampled_from(events))
    retraction = event(
        "event.retracted",
        target.case_id,
        target.day.isoformat(),
        eid="retract",
        event_id=target.event_id,
        reason="recorded in error",
    )
    without = [e for e in events if e.event_id != target.event_id]
    assert result([*events, retraction]) == result(without)


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_snapshot_restored_and_continued_equals_an_uninterrupted_run(
    events: list[Event], data: Any
) -> None:
    cut = data.draw(st.integers(0, len(events)))
    first = Projector()
    first.apply_all(events[:cut])
    first.position = cut
    restored = Projector.load_snapshot(first.save_snapshot())
    assert restored.position == cut
    restored.apply_all(events[cut:])
    assert restored.measures(NOW, PERIOD) == result(events)


@settings(max_examples=60, deadline=None)
@given(histories())
def test_as_at_equals_a_replay_of_what_was_recorded_by_then(events: list[Event]) -> None:
    from datetime import UTC, datetime

    as_at = datetime(2025, 3, 1, tzinfo=UTC)
    known = [e for e in events if e.recorded_at <= as_at]
    p = Projector()
    p.apply_all(events)
    assert p.measures(NOW, PERIOD, as_at) == result(known)


@settings(max_examples=60, deadline=None)
@given(histories())
def test_completed_by_period_equals_the_measures_of_each_period(events: list[Event]) -> None:
    """The trend's one pass over the days (each stopped run counted on the day it stopped)
    gives each period's own completed figures, from the cases' dated tallies and from the
    projector's live sums alike."""
    from projections.law import CLOCK_IDS
    from projections.measures import COMPLETED_FIELDS, completed_by_period, dated_total

    months = [Period(date(2025, m, 1), date(2025, m + 1, 1) - timedelta(days=1)) for m in (1, 2, 3)]
    p = Projector()
    p.apply_all(events)
    by_day = dated_total(p.case_files(NOW), NOW)
    trend = completed_by_period(by_day, months)
    assert completed_by_period(p.dated_sums(NOW), months) == trend
    for period, figures in zip(months, trend, strict=True):
        full = p.measures(NOW, period)
        assert figures == {c: {f: full[c][f] for f in COMPLETED_FIELDS} for c in CLOCK_IDS}


@settings(max_examples=80, deadline=None)
@given(histories(), st.data())
def test_summed_measures_equal_the_measures_of_each_period(events: list[Event], data: Any) -> None:
    """The report's four periods measured from the cases' standing and dated tallies summed
    once equal each period measured case by case, on any day; caseworkers among them (the
    measure that is not a sum over days: three or more in a period)."""
    from projections.measures import dated_total, measures, standing, summed_measures, total

    assignments = data.draw(
        st.lists(st.tuples(st.sampled_from(CASES), st.integers(0, 700), st.sampled_from("ABCD")))
    )
    events = events + [
        event(
            "caseworker.assigned",
            case,
            (START + timedelta(days=offset)).isoformat(),
            eid=f"cw{n}",
            caseworker_id=f"W{worker}",
        )
        for n, (case, offset, worker) in enumerate(assignments)
    ]
    now = data.draw(st.dates(date(2024, 6, 1), date(2026, 6, 30)))
    p = Projector()
    p.apply_all(events)
    files = list(p.case_files(now))
    now_total = total(standing(case, now) for case in files)
    by_day = dated_total(files, now)
    for _ in range(4):
        start = data.draw(st.dates(date(2023, 1, 1), date(2026, 6, 30)))
        period = Period(start, start + timedelta(days=data.draw(st.integers(0, 400))))
        assert summed_measures(now_total, by_day, files, period) == measures(files, period, now)


def clock_changes(events: list[Event]) -> Iterator[tuple[Event, str, str, bool]]:
    """Each change to a clock's run that applying each case's events in apply order makes:
    (the event, the action, the clock, whether the run it starts is a held opener's), in
    the words of ``projections.law.EVENT_CLOCKS``."""
    from projections.case import CaseFile, apply_order, extend_case

    for case in CASES:
        folded = CaseFile(case)
        for e in sorted((e for e in events if e.case_id == case), key=apply_order):
            before = [(r.stop, r.cancelled, r.excepted, r.due) for r in folded.clocks]
            extend_case(folded, e)
            for run, (stop, cancelled, excepted, due) in zip(folded.clocks, before, strict=False):
                if stop is None and run.stop is not None:
                    yield e, "stops", run.clock, False
                if cancelled is None and run.cancelled is not None:
                    yield e, "cancels", run.clock, False
                if not excepted and run.excepted:
                    yield e, "excepts", run.clock, False
                if due != run.due:
                    yield e, "redates", run.clock, False
            for run in folded.clocks[len(before) :]:  # an exception made before it aside
                yield e, "starts", run.clock, run.started_by != e.event_id
                if run.stop is not None:
                    yield e, "stops", run.clock, False
                if run.cancelled is not None:
                    yield e, "cancels", run.clock, False


def listed(e: Event, action: str, clock: str, held: bool) -> Any:
    """The effect of ``projections.law.EVENT_CLOCKS`` that says so, or None."""
    from projections.law import ANY_CLOCK, EVENT_CLOCKS

    for effect in EVENT_CLOCKS.get(e.type, ()):
        named = effect.clock == clock or (effect.clock == ANY_CLOCK and e.data["clock"] == clock)
        if named and effect.action == action and effect.held == held and effect.applies(e.data):
            return effect
    return None


@settings(max_examples=300, deadline=None)
@given(histories())
def test_every_change_to_a_clock_is_one_the_law_table_lists(events: list[Event]) -> None:
    """``projections.law.EVENT_CLOCKS`` states what each event does to the clocks, for a
    lawyer to review: at every point of every case's history, each run an event starts,
    stops, cancels, excepts or redates is one it lists for that event and its data."""
    for e, action, clock, held in clock_changes(events):
        assert listed(e, action, clock, held) is not None, (e.type, e.data, action, clock, held)


DAYS = ("2025-03-03", "2025-03-10")
NO_PLAN = {"order_id": "1", "step": "final", "outcome": "no_plan"}
ASSESS = {"order_id": "1", "kind": "assess", "basis": "order"}
CEASED = {"reason": "x"}
MAINTAIN = {"decision": "maintain"}
OPENING: dict[str, dict[str, Any]] = {
    "request.received": {"requested_by": "parent"},
    "review.meeting_held": {},
    "amendment.proposed": {},
}


def test_everything_the_law_table_lists_happens() -> None:
    """And each change ``EVENT_CLOCKS`` lists is made, in some history: random ones, drawn
    from a seed (the same every run), and some of their own for what those seldom make."""
    from projections.law import EVENT_CLOCKS

    made: set[tuple[str, Any]] = set()
    rnd = random.Random(22)  # the same histories every run, drawn as ``histories`` draws
    for _ in range(1500):
        drawn = history(
            rnd.randint,
            lambda *xs: rnd.choice(xs),
            lambda: rnd.choice([rnd.randint(0, 700), *BUSY_DAYS]),
        )
        for e, action, clock, held in clock_changes(drawn):
            made.add((e.type, listed(e, action, clock, held)))
    # and, in histories of their own, what random ones seldom make: an opener held on the
    # day a closer ends its open run (it then applies after the closer: CONTRACT.md
    # section 2), and an order to assess ending with no plan
    closers = {
        "request.received": [
            ("assessment.decided", {"decision": "refuse"}),
            ("plan.decided", {"decision": "not_issue"}),
            ("plan.issued", {}),
            ("request.withdrawn", {}),
        ],
        "review.meeting_held": [
            ("review.decided", {"decision": "maintain"}),
            ("plan.ceased", CEASED),
        ],
        "amendment.proposed": [("plan.amended", {}), ("plan.ceased", CEASED)],
    }
    histories_of_their_own = [
        [
            event("tribunal.order_made", "C1", DAYS[0], **ASSESS),
            event("tribunal.order_step_done", "C1", DAYS[1], eid="d", **NO_PLAN),
        ]
    ]
    for opener, ends in closers.items():
        for closer, data in ends:
            openers = [event(opener, "C1", day, **OPENING[opener]) for day in DAYS]
            histories_of_their_own.append([*openers, event(closer, "C1", DAYS[1], **data)])
    for own in histories_of_their_own:
        for e, action, clock, held in clock_changes(own):
            made.add((e.type, listed(e, action, clock, held)))
    table = {(kind, effect) for kind, effects in EVENT_CLOCKS.items() for effect in effects}
    missing = sorted(f"{kind}: {effect}" for kind, effect in table - made)
    assert not missing, "never made:\n" + "\n".join(missing)
