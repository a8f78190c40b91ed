"""The rules of CONTRACT.md v1.1 section 2 that the numbers depend on, and the two keys of
``first_time_right`` that v1.1 adds (section 3): one scenario per rule, named after it, with
its dates worked out in comments.

Every scenario's case is folded three ways that must agree (``every_way``): a replay of the
events in the order written, a replay of them in reverse, and a live projector that is given
them one at a time in date order and reads the measures after each (so each event extends
the case's fold in place, as in the running service).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event
from projections import CaseFile, Period, Projector
from projections.calendar import add_months
from projections.case import apply_order, fold_case
from projections.measures import appeal_window_start
from projections.views import case_view
from tests.history import event, measures

NOW = date(2025, 12, 31)
YEAR = Period(date(2024, 7, 1), NOW)


def every_way(events: list[Event], now: date = NOW, period: Period = YEAR) -> CaseFile:
    """C1's case file, once it is the same whatever the order of the input lines and
    whether the case was refolded or extended event by event (with the measures)."""
    results = []
    for order in (events, events[::-1]):
        replay = Projector()
        replay.apply_all(order)
        results.append((replay.case_file("C1", now), replay.measures(now, period)))
    live = Projector()
    for e in sorted(events, key=apply_order):
        live.apply(e)
        live.measures(now, period)  # folds C1; the events after extend that fold
    results.append((live.case_file("C1", now), live.measures(now, period)))
    (first, figures), *others = results
    assert first is not None
    for case, other in others:
        assert case is not None
        assert case_view(case, now) == case_view(first, now)
        assert other == figures
    return first


def runs(case: CaseFile, clock: str) -> list[tuple[str, str, str | None, str | None]]:
    """A clock's runs in start order: (start, due, stopped, cancelled)."""
    return [
        (r.start.isoformat(), r.due.isoformat(), _iso(r.stop), _iso(r.cancelled))
        for r in sorted(case.clocks, key=lambda r: r.start)
        if r.clock == clock
    ]


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def figures(events: list[Event], now: str, **period: str) -> dict[str, Any]:
    return measures(events, now, **period)


# --- phase transfer ------------------------------------------------------------------------


def test_phase_transfer_stops_at_transfer_setting_named() -> None:
    # due recorded Tue 1 Oct 2024 for a transfer on 1 Sep 2025: due 15 Feb 2025
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.setting_named", "C1", "2025-02-10", setting_id="URN-1"),
    ]
    case = every_way(history)
    assert runs(case, "phase_transfer") == [("2024-10-01", "2025-02-15", "2025-02-10", None)]


def test_a_second_transfer_due_with_a_different_transfer_date_supersedes_the_open_one() -> None:
    # 1 Oct 2024: a transfer on 1 Sep 2025 (due 15 Feb 2025); 1 Nov 2024: the transfer is
    # brought forward to 1 Jul 2025, the same calendar year, so the same due date: it is a
    # different transfer all the same. The first run is cancelled (not counted) on 1 Nov;
    # the second runs from 1 Nov and is met on 10 Feb 2025.
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.due", "C1", "2024-11-01", transfer_date="2025-07-01", kind="school"),
        event("transfer.setting_named", "C1", "2025-02-10", setting_id="URN-1"),
    ]
    case = every_way(history)
    assert runs(case, "phase_transfer") == [
        ("2024-10-01", "2025-02-15", None, "2024-11-01"),
        ("2024-11-01", "2025-02-15", "2025-02-10", None),
    ]
    m = figures(history, "2025-06-30")["phase_transfer"]
    assert (m["completed"], m["on_time"], m["open"]) == (1, 1, 0)


def test_a_second_transfer_due_of_another_kind_supersedes_the_open_one() -> None:
    # the same date, but secondary to post-16: due 31 Mar 2025 instead of 15 Feb 2025
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.due", "C1", "2024-11-01", transfer_date="2025-09-01", kind="post16"),
    ]
    assert runs(every_way(history), "phase_transfer") == [
        ("2024-10-01", "2025-02-15", None, "2024-11-01"),
        ("2024-11-01", "2025-03-31", None, None),
    ]


def test_the_same_transfer_due_again_changes_nothing() -> None:
    # recorded again on 1 Nov 2024: the run of 1 Oct 2024 goes on, and is late on 20 Feb 2025
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.due", "C1", "2024-11-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.setting_named", "C1", "2025-02-20", setting_id="URN-1"),
    ]
    case = every_way(history)
    assert runs(case, "phase_transfer") == [("2024-10-01", "2025-02-15", "2025-02-20", None)]
    assert len(case.history) == 3  # the repeat stays in the history


def test_the_same_transfer_due_again_after_its_setting_was_named_changes_nothing() -> None:
    # named 10 Feb 2025; the same transfer recorded again on 1 Mar 2025 opens no new run
    # (it would be overdue at once: due 15 Feb 2025); a later transfer to post-16 does
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.setting_named", "C1", "2025-02-10", setting_id="URN-1"),
        event("transfer.due", "C1", "2025-03-01", transfer_date="2025-09-01", kind="school"),
        event("transfer.due", "C1", "2029-10-01", transfer_date="2030-09-01", kind="post16"),
    ]
    case = every_way(history, date(2029, 12, 31), Period(date(2025, 1, 1), date(2029, 12, 31)))
    assert runs(case, "phase_transfer") == [
        ("2024-10-01", "2025-02-15", "2025-02-10", None),
        ("2029-10-01", "2030-03-31", None, None),
    ]


# --- ceasing a plan ------------------------------------------------------------------------


def test_plan_ceased_cancels_open_review_due_review_decision_amended_plan_phase_transfer() -> None:
    # plan 1 May 2024 (review due 1 May 2025); transfer due 15 Feb 2026; meeting 1 Apr 2025;
    # amendments proposed 2 Apr 2025; the plan ceased on 10 Apr 2025: all four cancelled
    history = [
        event("plan.issued", "C1", "2024-05-01"),
        event("transfer.due", "C1", "2025-03-01", transfer_date="2026-09-01", kind="school"),
        event("review.meeting_held", "C1", "2025-04-01"),
        event("amendment.proposed", "C1", "2025-04-02"),
        event("plan.ceased", "C1", "2025-04-10", reason="moved out of area"),
    ]
    case = every_way(history)
    for clock in ("review_due", "review_decision", "amended_plan", "phase_transfer"):
        assert [r[3] for r in runs(case, clock)] == ["2025-04-10"], clock
    m = figures(history, "2025-06-30")
    for clock in ("review_due", "review_decision", "amended_plan", "phase_transfer"):
        assert (m[clock]["completed"], m[clock]["open"]) == (0, 0), clock


def test_tribunal_orders_and_contacts_run_on_after_plan_ceased() -> None:
    # order to make a plan Mon 3 Mar 2025: due 3 Mar + 77 days = Mon 19 May 2025;
    # contact Mon 7 Apr 2025: 5 working days, due Mon 14 Apr 2025; the plan ceased 10 Apr
    history = [
        event("plan.issued", "C1", "2024-05-01"),
        event(
            "tribunal.order_made",
            "C1",
            "2025-03-03",
            order_id="T1",
            kind="make_plan",
            basis="order",
        ),
        event("contact.received", "C1", "2025-04-07", contact_id="k1", channel="email"),
        event("plan.ceased", "C1", "2025-04-10", reason="moved out of area"),
    ]
    case = every_way(history, date(2025, 6, 30))
    assert runs(case, "tribunal_order") == [("2025-03-03", "2025-05-19", None, None)]
    assert runs(case, "contact_response") == [("2025-04-07", "2025-04-14", None, None)]
    m = figures(history, "2025-06-30")
    assert (m["tribunal_order"]["open"], m["tribunal_order"]["overdue"]) == (1, 1)
    assert (m["contact_response"]["open"], m["contact_response"]["overdue"]) == (1, 1)


@pytest.mark.parametrize(("decision", "next_review"), [("cease", []), ("maintain", ["2026-02-24"])])
def test_a_review_decided_cease_starts_no_new_review_due(
    decision: str, next_review: list[str]
) -> None:
    # plan 1 Mar 2024: review due 1 Mar 2025; meeting Mon 3 Feb 2025 (decision due 3 Mar);
    # decided Mon 24 Feb 2025: both met. To maintain starts the next 12 months (due 24 Feb
    # 2026); to cease starts none.
    history = [
        event("plan.issued", "C1", "2024-03-01"),
        event("review.meeting_held", "C1", "2025-02-03"),
        event("review.decided", "C1", "2025-02-24", decision=decision),
    ]
    case = every_way(history)
    reviews = runs(case, "review_due")
    assert reviews[0] == ("2024-03-01", "2025-03-01", "2025-02-24", None)
    assert [r[1] for r in reviews[1:]] == next_review
    m = figures(history, "2025-06-30")
    assert (m["review_due"]["completed"], m["review_due"]["on_time"]) == (1, 1)
    assert m["review_due"]["open"] == len(next_review)
    assert (m["review_decision"]["completed"], m["review_decision"]["on_time"]) == (1, 1)


def test_a_tribunal_order_to_maintain_after_a_cease_decision_starts_no_review_due() -> None:
    # decided to cease 24 Feb 2025; the family's appeal conceded and an order to maintain
    # made 1 Jun 2025 (done that day): no annual review runs until the next review decision
    history = [
        event("plan.issued", "C1", "2024-03-01"),
        event("review.decided", "C1", "2025-02-24", decision="cease"),
        event("appeal.registered", "C1", "2025-03-10", appeal_id="A1", against="cease"),
        event("appeal.concluded", "C1", "2025-06-01", appeal_id="A1", outcome="conceded"),
        event(
            "tribunal.order_made",
            "C1",
            "2025-06-01",
            order_id="T1",
            kind="maintain",
            basis="unopposed",
            appeal_id="A1",
        ),
        event("tribunal.order_step_done", "C1", "2025-06-01", order_id="T1", step="final"),
    ]
    case = every_way(history)
    assert runs(case, "review_due") == [("2024-03-01", "2025-03-01", "2025-02-24", None)]


# --- one run at a time ---------------------------------------------------------------------


def test_a_second_request_while_one_is_open_starts_nothing_and_stays_in_the_history() -> None:
    # request Mon 6 Jan 2025 (assessment decision due 17 Feb, plan due 26 May); another on
    # Mon 3 Feb, the first still open: the first request's clocks keep running
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("request.received", "C1", "2025-02-03", eid="second", requested_by="school"),
    ]
    case = every_way(history)
    assert runs(case, "assess_decision") == [("2025-01-06", "2025-02-17", None, None)]
    assert runs(case, "final_plan") == [("2025-01-06", "2025-05-26", None, None)]
    assert "second" in [e.event_id for e in case.history]


def test_a_second_request_after_the_first_was_decided_starts_its_clocks() -> None:
    # refused Mon 13 Jan 2025; a new request Mon 3 Feb: assessment decision due 17 Mar 2025
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("assessment.decided", "C1", "2025-01-13", decision="refuse"),
        event("request.received", "C1", "2025-02-03", requested_by="parent"),
    ]
    assert runs(every_way(history), "assess_decision") == [
        ("2025-01-06", "2025-02-17", "2025-01-13", None),
        ("2025-02-03", "2025-03-17", None, None),
    ]


CLOSING_A_REQUEST = {
    # what ends the request of Mon 6 Jan 2025 on Mon 3 Feb 2025, with what came before it
    "refusal": [("assessment.decided", {"decision": "refuse"})],
    "no plan": [
        ("assessment.decided", {"decision": "assess"}, "2025-01-13"),
        ("plan.decided", {"decision": "not_issue"}),
    ],
    "plan issued": [
        ("assessment.decided", {"decision": "assess"}, "2025-01-13"),
        ("plan.issued", {}),
    ],
    "withdrawal": [("request.withdrawn", {})],
}


@pytest.mark.parametrize("closer", list(CLOSING_A_REQUEST))
def test_a_new_request_on_the_day_the_open_one_closes_starts_its_clocks_that_day(
    closer: str,
) -> None:
    # the second request of Mon 3 Feb 2025 applies after the event that ends the first on
    # that day: its assessment decision is due 3 Feb + 42 days = Mon 17 Mar 2025, its plan
    # 3 Feb + 140 days = Mon 23 Jun 2025. The first request's plan clock is not open.
    history = [event("request.received", "C1", "2025-01-06", requested_by="parent")]
    for kind, data, *on in CLOSING_A_REQUEST[closer]:
        history.append(event(kind, "C1", on[0] if on else "2025-02-03", **data))
    history.append(event("request.received", "C1", "2025-02-03", eid="new", requested_by="parent"))
    case = every_way(history, date(2025, 3, 10))
    assert runs(case, "assess_decision")[-1] == ("2025-02-03", "2025-03-17", None, None)
    assert runs(case, "final_plan")[-1] == ("2025-02-03", "2025-06-23", None, None)
    assert [r[3] or r[2] for r in runs(case, "final_plan")[:-1]] == ["2025-02-03"]
    # on Mon 10 Mar 2025 the new request's decision is due within 7 days (17 Mar)
    m = figures(history, "2025-03-10")
    assert (m["assess_decision"]["open"], m["assess_decision"]["due_within_7_days"]) == (1, 1)
    assert m["final_plan"]["open"] == 1


def test_a_refusal_and_a_new_request_on_one_day_in_either_order_of_the_day() -> None:
    # the same as above at times of day: the new request at 09:00, the refusal at 16:00
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("request.received", "C1", "2025-02-03T09:00:00", requested_by="parent"),
        event("assessment.decided", "C1", "2025-02-03T16:00:00", decision="refuse"),
    ]
    assert runs(every_way(history), "assess_decision") == [
        ("2025-01-06", "2025-02-17", "2025-02-03", None),
        ("2025-02-03", "2025-03-17", None, None),
    ]


def test_a_request_set_aside_on_one_day_starts_nothing_when_the_open_one_closes_later() -> None:
    # the second request (3 Feb) found the first open; the first is refused on 10 Feb: the
    # second started nothing, and nothing starts on 10 Feb
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("request.received", "C1", "2025-02-03", requested_by="parent"),
        event("assessment.decided", "C1", "2025-02-10", decision="refuse"),
    ]
    assert runs(every_way(history), "assess_decision") == [
        ("2025-01-06", "2025-02-17", "2025-02-10", None)
    ]


def test_a_second_review_meeting_while_a_decision_is_pending_starts_nothing() -> None:
    # meeting Mon 3 Mar 2025 (decision due 31 Mar); another on 10 Mar: still due 31 Mar,
    # and the decision of 31 Mar is on time
    history = [
        event("plan.issued", "C1", "2024-06-01"),
        event("review.meeting_held", "C1", "2025-03-03"),
        event("review.meeting_held", "C1", "2025-03-10"),
        event("review.decided", "C1", "2025-03-31", decision="amend"),
    ]
    assert runs(every_way(history), "review_decision") == [
        ("2025-03-03", "2025-03-31", "2025-03-31", None)
    ]


def test_a_new_review_meeting_on_the_day_of_the_pending_decision_starts_a_new_run() -> None:
    # decided Mon 31 Mar 2025, and a meeting the same day: a run from 31 Mar, due 28 Apr
    history = [
        event("plan.issued", "C1", "2024-06-01"),
        event("review.meeting_held", "C1", "2025-03-03"),
        event("review.meeting_held", "C1", "2025-03-31"),
        event("review.decided", "C1", "2025-03-31", decision="amend"),
    ]
    assert runs(every_way(history), "review_decision") == [
        ("2025-03-03", "2025-03-31", "2025-03-31", None),
        ("2025-03-31", "2025-04-28", None, None),
    ]


def test_two_new_meetings_on_the_day_of_the_pending_decision_start_one_run() -> None:
    # decided 31 Mar 2025, two meetings that day: the first (in the day's order) is held and
    # starts a run after the decision; the second finds that run open and starts nothing
    history = [
        event("plan.issued", "C1", "2024-06-01"),
        event("review.meeting_held", "C1", "2025-03-03"),
        event("review.meeting_held", "C1", "2025-03-31T09:00:00", eid="m-0900"),
        event("review.meeting_held", "C1", "2025-03-31T14:00:00", eid="m-1400"),
        event("review.decided", "C1", "2025-03-31T16:00:00", decision="amend"),
    ]
    case = every_way(history)
    assert runs(case, "review_decision")[1:] == [("2025-03-31", "2025-04-28", None, None)]
    assert [r.started_by for r in case.clocks if r.clock == "review_decision"][1] == "m-0900"


def test_a_meeting_on_the_day_a_plan_ceases_while_a_decision_is_pending_starts_a_run() -> None:
    # the contract's rule as written: plan.ceased (10 Apr 2025) ends the pending review
    # decision (cancelled), and the meeting of that day applies after it: due 8 May 2025
    history = [
        event("plan.issued", "C1", "2024-05-01"),
        event("review.meeting_held", "C1", "2025-04-01"),
        event("review.meeting_held", "C1", "2025-04-10"),
        event("plan.ceased", "C1", "2025-04-10", reason="moved out of area"),
    ]
    assert runs(every_way(history), "review_decision") == [
        ("2025-04-01", "2025-04-29", None, "2025-04-10"),
        ("2025-04-10", "2025-05-08", None, None),
    ]


def test_a_second_amendment_proposed_while_one_is_pending_starts_nothing() -> None:
    # proposed Mon 3 Mar 2025 (due 28 Apr); again 17 Mar: still due 28 Apr
    history = [
        event("amendment.proposed", "C1", "2025-03-03"),
        event("amendment.proposed", "C1", "2025-03-17"),
        event("plan.amended", "C1", "2025-04-14"),
    ]
    assert runs(every_way(history), "amended_plan") == [
        ("2025-03-03", "2025-04-28", "2025-04-14", None)
    ]


def test_a_new_amendment_proposed_on_the_day_the_plan_is_amended_starts_a_new_run() -> None:
    # amended Mon 14 Apr 2025 and new amendments proposed that day: due 14 Apr + 56 days =
    # Mon 9 Jun 2025
    history = [
        event("amendment.proposed", "C1", "2025-03-03"),
        event("amendment.proposed", "C1", "2025-04-14"),
        event("plan.amended", "C1", "2025-04-14"),
    ]
    assert runs(every_way(history), "amended_plan") == [
        ("2025-03-03", "2025-04-28", "2025-04-14", None),
        ("2025-04-14", "2025-06-09", None, None),
    ]


def test_a_closer_arriving_after_the_days_opener_in_the_live_service_starts_the_held_run() -> None:
    # the live service extends a folded case: the new request (3 Feb) arrives and is set
    # aside, the measures are read, then the refusal of that day arrives
    live = Projector()
    live.apply(event("request.received", "C1", "2025-01-06", requested_by="parent"))
    live.apply(event("request.received", "C1", "2025-02-03", requested_by="parent"))
    assert live.measures(date(2025, 3, 10))["assess_decision"]["overdue"] == 1  # the first
    live.apply(event("assessment.decided", "C1", "2025-02-03", decision="refuse"))
    m = live.measures(date(2025, 3, 10))["assess_decision"]
    assert (m["open"], m["overdue"], m["due_within_7_days"]) == (1, 0, 1)  # due 17 Mar


# --- exceptions, retractions, appeals --------------------------------------------------------


def test_an_exception_applies_to_its_clock_even_when_recorded_after_the_clock_stopped() -> None:
    # request 6 Jan 2025, plan due 26 May, issued 30 Jun (late); the exception (the family
    # was away) is recorded on 15 Jul: the late plan is excepted from then on
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-06-30"),
        event("exception.applied", "C1", "2025-07-15", clock="final_plan", ground="absence"),
    ]
    m = figures(history, "2025-07-31")["final_plan"]
    assert (m["completed"], m["on_time"], m["excepted"]) == (1, 0, 1)
    assert (m["rate_incl_exceptions"], m["rate_excl_exceptions"]) == (0.0, None)
    before = figures(history, "2025-07-14")["final_plan"]
    assert (before["completed"], before["excepted"]) == (1, 0)


def test_a_retraction_undoes_its_event_from_its_recorded_at_whatever_date_it_carries() -> None:
    # a plan issued 1 May 2025 is retracted: the retraction says it occurred on 10 May but was
    # recorded on 5 Jul. June's figures as known on 30 Jun count the plan; as known now
    # they do not, though 30 Jun is before the day the retraction was recorded.
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event(
            "event.retracted",
            "C1",
            "2025-05-10",
            event_id="issue-1",
            reason="wrong case",
            recorded="2025-07-05T09:00:00Z",
        ),
    ]
    end_of_june = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    as_known = figures(history, "2025-06-30", as_at=end_of_june)["final_plan"]
    assert (as_known["completed"], as_known["open"]) == (1, 0)
    known_now = figures(history, "2025-06-30")["final_plan"]
    assert (known_now["completed"], known_now["open"]) == (0, 1)


def test_a_retraction_dated_after_now_still_undoes_its_event() -> None:
    # dated (and recorded) 5 Jul 2025, after a "now" of 30 Jun: June never had the plan
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event("event.retracted", "C1", "2025-07-05", event_id="issue-1", reason="wrong case"),
    ]
    m = figures(history, "2025-06-30")
    assert (m["final_plan"]["completed"], m["final_plan"]["open"]) == (0, 1)
    assert m["first_time_right"]["decisions"] == 0


def test_a_retracted_retraction_restores_its_event() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event("event.retracted", "C1", "2025-05-10", eid="r1", event_id="issue-1", reason="x"),
        event("event.retracted", "C1", "2025-05-11", event_id="r1", reason="retracted in error"),
    ]
    assert figures(history, "2025-06-30")["final_plan"]["completed"] == 1


def test_an_appeal_registered_on_the_same_day_as_a_decision_of_its_kind_is_linked_to_it() -> None:
    # plans issued 3 Mar 2024 and 3 Mar 2025 (15:00); a contents appeal registered on 3 Mar
    # 2025 (09:00, before the plan was recorded that day) is linked to the plan of 3 Mar
    # 2025, not 2024's; conceded 1 Sep 2025, it overturns that plan
    history = [
        event("plan.issued", "C1", "2024-03-03"),
        event("plan.issued", "C1", "2025-03-03T15:00:00", eid="plan-2025"),
        event("appeal.registered", "C1", "2025-03-03T09:00:00", appeal_id="A1", against="contents"),
        event("appeal.concluded", "C1", "2025-09-01", appeal_id="A1", outcome="conceded"),
    ]
    case = every_way(history, period=Period(date(2024, 1, 1), NOW))
    assert [(d.event_id, d.overturned) for d in case.decisions] == [
        (history[0].event_id, False),
        ("plan-2025", True),
    ]
    ftr = figures(history, "2025-12-31", start="2025-01-01")["first_time_right"]
    assert (ftr["decisions"], ftr["overturned"], ftr["rate"]) == (1, 1, 0.0)


# --- SEN support -----------------------------------------------------------------------------


def test_sen_support_ended_with_a_setting_closes_only_the_record_at_that_setting() -> None:
    # on SEN support at S1 from 6 Jan 2025; an end at S2 (not the open record) closes nothing
    history = [
        event("sen_support.started", "C1", "2025-01-06", setting_id="S1"),
        event("sen_support.ended", "C1", "2025-03-03", setting_id="S2"),
    ]
    every_way(history)
    assert figures(history, "2025-06-30")["sen_support"] == {"open_now": 1, "by_setting": {"S1": 1}}
    ended = [*history, event("sen_support.ended", "C1", "2025-04-01", setting_id="S1")]
    assert figures(ended, "2025-06-30")["sen_support"] == {"open_now": 0, "by_setting": {}}


def test_a_move_between_settings_on_one_day_is_an_end_and_a_start() -> None:
    # moved from S1 to S2 on 1 Sep 2025: ended at S1 and started at S2 that day (every_way
    # folds them in either order of the input): on SEN support at S2
    history = [
        event("sen_support.started", "C1", "2025-01-06", setting_id="S1"),
        event("sen_support.ended", "C1", "2025-09-01", setting_id="S1"),
        event("sen_support.started", "C1", "2025-09-01", setting_id="S2"),
    ]
    case = every_way(history)
    assert case.sen_support_setting == "S2"
    assert figures(history, "2025-12-31")["sen_support"] == {
        "open_now": 1,
        "by_setting": {"S2": 1},
    }


def test_sen_support_ended_without_a_setting_closes_whatever_is_open() -> None:
    history = [
        event("sen_support.started", "C1", "2025-01-06", setting_id="S1"),
        event("sen_support.ended", "C1", "2025-03-03"),
    ]
    assert every_way(history).sen_support_setting is None
    assert figures(history, "2025-06-30")["sen_support"]["open_now"] == 0


# --- first_time_right: appeals_pending and appeal_window_open (section 3) ------------------


def test_first_time_right_keys_come_in_the_contracts_order() -> None:
    ftr = figures([event("plan.issued", "C1", "2025-03-03")], "2025-12-31")["first_time_right"]
    assert list(ftr) == ["decisions", "overturned", "rate", "appeals_pending", "appeal_window_open"]


def test_appeals_pending_counts_decisions_with_an_appeal_registered_but_not_concluded() -> None:
    # now 31 Dec 2025, the period 2025:
    history = [
        # C1: refused 1 May, appealed 1 Jun, not concluded: pending
        event("assessment.decided", "C1", "2025-05-01", decision="refuse"),
        event("appeal.registered", "C1", "2025-06-01", appeal_id="A1", against="refusal_to_assess"),
        # C2: plan 1 Feb, contents appeal 1 Mar, lost by the family 1 Aug: concluded
        event("plan.issued", "C2", "2025-02-01"),
        event("appeal.registered", "C2", "2025-03-01", appeal_id="A2", against="contents"),
        event("appeal.concluded", "C2", "2025-08-01", appeal_id="A2", outcome="la_won"),
        # C3: no plan 1 Mar, appealed 1 Apr, concluded 1 Feb 2026 (after now): pending
        event("plan.decided", "C3", "2025-03-01", decision="not_issue"),
        event("appeal.registered", "C3", "2025-04-01", appeal_id="A3", against="refusal_to_issue"),
        event("appeal.concluded", "C3", "2026-02-01", appeal_id="A3", outcome="appellant_won"),
        # C4: plan 1 Mar 2024 (before the period), appealed 1 Apr 2024: not counted
        event("plan.issued", "C4", "2024-03-01"),
        event("appeal.registered", "C4", "2024-04-01", appeal_id="A4", against="placement"),
    ]
    ftr = figures(history, "2025-12-31", start="2025-01-01")["first_time_right"]
    assert ftr == {
        "decisions": 3,
        "overturned": 0,
        "rate": 1.0,
        "appeals_pending": 2,
        "appeal_window_open": 0,
    }
    # on 31 Mar 2026, C3's appeal won by the family (1 Feb 2026) overturns its decision
    after = figures(history, "2026-03-31", start="2025-01-01", end="2025-12-31")["first_time_right"]
    assert (after["appeals_pending"], after["overturned"]) == (1, 1)


def test_appeal_window_open_counts_decisions_within_2_months_before_now_with_no_appeal_yet() -> (
    None
):
    # now Mon 30 Jun 2025: a family may appeal until the decision's date plus 2 months
    history = [
        event("plan.issued", "C1", "2025-04-30"),  # until 30 Jun: open
        event("plan.issued", "C2", "2025-04-29"),  # until 29 Jun: closed
        event("assessment.decided", "C3", "2025-06-30", decision="refuse"),  # open
        # C4: ceased 1 Jun, appealed 10 Jun: pending, no longer a window
        event("plan.ceased", "C4", "2025-06-01", reason="needs met"),
        event("appeal.registered", "C4", "2025-06-10", appeal_id="A4", against="cease"),
        # C5: amended 1 Jun, appealed and withdrawn: neither pending nor a window
        event("plan.amended", "C5", "2025-06-01"),
        event("appeal.registered", "C5", "2025-06-02", appeal_id="A5", against="contents"),
        event("appeal.concluded", "C5", "2025-06-20", appeal_id="A5", outcome="withdrawn"),
    ]
    ftr = figures(history, "2025-06-30")["first_time_right"]
    assert (ftr["decisions"], ftr["appeals_pending"], ftr["appeal_window_open"]) == (5, 1, 2)
    # on Tue 1 Jul 2025 C1's window has closed
    assert figures(history, "2025-07-01")["first_time_right"]["appeal_window_open"] == 1
    # only decisions made in the period count: April alone has C1 and C2, C1's window open
    april = figures(history, "2025-06-30", start="2025-04-01", end="2025-04-30")
    assert april["first_time_right"]["appeal_window_open"] == 1


def test_a_decision_overturned_and_under_another_appeal_counts_as_pending_too() -> None:
    # plan 3 Mar 2025; a contents appeal conceded 1 Jul, a placement appeal (registered 10
    # Mar, the same plan) not concluded by 31 Dec 2025
    history = [
        event("plan.issued", "C1", "2025-03-03"),
        event("appeal.registered", "C1", "2025-03-05", appeal_id="A1", against="contents"),
        event("appeal.registered", "C1", "2025-03-10", appeal_id="A2", against="placement"),
        event("appeal.concluded", "C1", "2025-07-01", appeal_id="A1", outcome="conceded"),
    ]
    ftr = figures(history, "2025-12-31")["first_time_right"]
    assert (ftr["decisions"], ftr["overturned"], ftr["appeals_pending"]) == (1, 1, 1)


@pytest.mark.parametrize(("decided", "open_"), [("2025-02-28", 0), ("2025-03-01", 1)])
def test_on_30_april_the_appeal_window_is_open_for_decisions_from_1_march(
    decided: str, open_: int
) -> None:
    # now Wed 30 Apr 2025: a decision of 28 Feb could be appealed until 28 Apr; one of
    # 1 Mar until 1 May (so not "on or after 30 Apr minus 2 months", which is 28 Feb)
    history = [event("assessment.decided", "C1", decided, decision="refuse")]
    assert figures(history, "2025-04-30")["first_time_right"]["appeal_window_open"] == open_


@pytest.mark.parametrize(("now", "open_"), [("2025-02-28", 1), ("2025-03-01", 0)])
def test_the_appeal_window_ends_2_months_after_the_decision_clamped_to_the_months_end(
    now: str, open_: int
) -> None:
    # decided Tue 31 Dec 2024: 2 months on is 31 Feb, clamped to Fri 28 Feb 2025
    history = [event("plan.decided", "C1", "2024-12-31", decision="not_issue")]
    ftr = figures(history, now)["first_time_right"]
    assert ftr["appeal_window_open"] == open_


def test_a_decision_can_be_appealed_on_now_when_its_date_plus_2_months_is_now_or_later() -> None:
    # the measures find the first such day once per "now" (appeal_window_start): every day
    # of 2024 and 2025 as "now", against each of the 70 days before it, by the definition
    for offset in range(731):
        now = date(2024, 1, 1) + timedelta(days=offset)
        start = appeal_window_start(now)
        for back in range(71):
            day = now - timedelta(days=back)
            assert (day >= start) == (add_months(day, 2) >= now), (now, day)


def test_appeal_window_and_pending_followed_event_by_event_equal_a_replay() -> None:
    # plan 2 Jun 2025; the live service reads the measures on now = 30 Jun after each event:
    # open window until the appeal of 20 Jun arrives, then pending
    plan = event("plan.issued", "C1", "2025-06-02")
    appeal = event("appeal.registered", "C1", "2025-06-20", appeal_id="A1", against="placement")
    now = date(2025, 6, 30)
    live = Projector()
    live.apply(plan)
    ftr = live.measures(now)["first_time_right"]
    assert (ftr["appeals_pending"], ftr["appeal_window_open"]) == (0, 1)
    live.apply(appeal)
    ftr = live.measures(now)["first_time_right"]
    assert (ftr["appeals_pending"], ftr["appeal_window_open"]) == (1, 0)
    every_way([plan, appeal], now, Period.default(now))


# --- results never depend on the order of input lines (one run at a time) -----------------

PLAN_KINDS: dict[str, list[dict[str, Any]]] = {
    "request.received": [{"requested_by": "parent"}],
    "assessment.decided": [{"decision": "assess"}, {"decision": "refuse"}],
    "plan.decided": [{"decision": "issue"}, {"decision": "not_issue"}],
    "plan.issued": [{}],
    "request.withdrawn": [{}],
    "plan.ceased": [{"reason": "x"}],
    "review.meeting_held": [{}],
    "review.decided": [{"decision": "maintain"}, {"decision": "amend"}, {"decision": "cease"}],
    "amendment.proposed": [{}],
    "plan.amended": [{}],
    "transfer.due": [
        {"transfer_date": "2025-09-01", "kind": "school"},
        {"transfer_date": "2025-07-01", "kind": "school"},
    ],
    "transfer.setting_named": [{}],
    "appeal.registered": [{"appeal_id": "A", "against": "contents"}],
    "sen_support.started": [{"setting_id": "S1"}, {"setting_id": "S2"}],
    "sen_support.ended": [{}, {"setting_id": "S1"}],
}


# the request's events twice over: its run needs an opener and a closer on one day
BUSY_KINDS = [*sorted(PLAN_KINDS), "request.received", "assessment.decided", "request.withdrawn"]


@st.composite
def busy_days(draw: Any) -> list[Event]:
    """One case's openers and closers crowded onto four days, so that the day's openers
    often find their run open and a closer of the same day ends it."""
    out = []
    for n in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(BUSY_KINDS))
        day = draw(st.sampled_from(["2025-01-06", "2025-01-07", "2025-02-03", "2025-06-02"]))
        out.append(event(kind, "C1", day, eid=f"e{n}", **draw(st.sampled_from(PLAN_KINDS[kind]))))
    return out


@settings(max_examples=200, deadline=None)
@given(busy_days(), st.randoms(use_true_random=False))
def test_one_run_at_a_time_never_depends_on_the_order_of_input_lines(
    events: list[Event], rnd: Any
) -> None:
    """Any order of the lines, a replay or the live service's extension event by event: the
    same case (every clock's runs) and the same measures."""
    shuffled = list(events)
    rnd.shuffle(shuffled)
    every_way(shuffled, date(2025, 6, 30), Period(date(2025, 1, 1), date(2025, 6, 30)))


def test_no_personal_data_is_shown_from_a_log_made_before_v1_1() -> None:
    """CONTRACT.md 1.1, no personal data: v1 stored fields it did not define. A record of
    such a log (read back without validation, as a replay reads it) folds as before, and the
    case view shows only the contract's fields of its data, never a name or a birth date."""
    from events import from_record

    record = {
        "event_id": "old-1",
        "type": "plan.issued",
        "case_id": "KC-OLD",
        "occurred_at": "2024-03-01",
        "recorded_at": "2024-03-01T12:00:00+00:00",
        "schema": 1,
        "data": {"setting_id": "URN-9", "child_name": "Amelia Example", "date_of_birth": "2014"},
    }
    case = fold_case("KC-OLD", [from_record(record)])
    view = case_view(case, date(2025, 6, 30))
    assert view["history"][0]["data"] == {"setting_id": "URN-9"}
    assert "Amelia" not in str(view)
