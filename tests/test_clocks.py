"""One scenario per clock rule (CONTRACT.md section 2, DOMAIN.md), dates worked in comments.

"Within N weeks": met when the stopping date is on or before start + 7N days.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projections import Projector
from projections.calendar import add_months, working_days_after
from tests.history import event, measures

NOW = "2026-06-30"  # after every scenario, so nothing is ignored as "in the future"
YEAR = {"start": "2024-01-01", "end": "2026-06-30"}


def clock(result: dict, name: str) -> dict:
    return {k: result[name][k] for k in ("completed", "on_time", "open", "overdue")}


def completed_once(on_time: int) -> dict:
    """One clock stopped (on time: 1, late: 0), and nothing left open."""
    return {"completed": 1, "on_time": on_time, "open": 0, "overdue": 0}


NOTHING_COUNTED = {"completed": 0, "on_time": 0, "open": 0, "overdue": 0}


# --- assess_decision: 6 weeks, SEND Regs 2014 reg 4(1), 5(1) ---------------------------


@pytest.mark.parametrize(("decided", "on_time"), [("2025-02-17", 1), ("2025-02-18", 0)])
def test_reg_5_1_decision_to_assess_within_6_weeks(decided: str, on_time: int) -> None:
    # request Mon 6 Jan 2025 + 42 days = Mon 17 Feb 2025: the due date itself is met
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("assessment.decided", "C1", decided, decision="assess"),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "assess_decision") == completed_once(on_time)
    assert m["final_plan"]["open"] == 1  # the 20-week clock keeps running after "assess"


def test_refusal_to_assess_cancels_the_20_week_clock() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="school"),
        event("assessment.decided", "C1", "2025-02-10", decision="refuse"),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "assess_decision")["on_time"] == 1
    assert clock(m, "final_plan") == NOTHING_COUNTED
    assert clock(m, "no_plan_decision")["completed"] == 0


# --- final_plan: 20 weeks, reg 13(2) ----------------------------------------------------


@pytest.mark.parametrize(("issued", "on_time"), [("2025-05-26", 1), ("2025-05-27", 0)])
def test_reg_13_2_final_plan_within_20_weeks(issued: str, on_time: int) -> None:
    # 6 Jan 2025 + 140 days = Mon 26 May 2025
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("assessment.decided", "C1", "2025-02-03", decision="assess"),
        event("plan.decided", "C1", "2025-04-01", decision="issue"),
        event("plan.draft_issued", "C1", "2025-04-07"),
        event("plan.issued", "C1", issued),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "final_plan") == completed_once(on_time)
    assert m["no_plan_decision"]["completed"] == 0  # counted only when the decision is not_issue


def test_open_final_plan_is_overdue_the_day_after_its_due_date() -> None:
    history = [event("request.received", "C1", "2025-01-06", requested_by="parent")]
    # due 26 May 2025: on 26 May it is due within 7 days, on 27 May overdue
    on_due = measures(history, "2025-05-26")
    after = measures(history, "2025-05-27")
    assert on_due["final_plan"]["overdue"] == 0 and on_due["final_plan"]["due_within_7_days"] == 1
    assert after["final_plan"]["overdue"] == 1 and after["final_plan"]["due_within_7_days"] == 0


def test_due_within_7_days_is_now_to_now_plus_7() -> None:
    history = [event("request.received", "C1", "2025-01-06", requested_by="parent")]
    # assess_decision due 17 Feb 2025: 10 Feb is exactly 7 days before; 9 Feb is 8 days before
    assert measures(history, "2025-02-10")["assess_decision"]["due_within_7_days"] == 1
    assert measures(history, "2025-02-09")["assess_decision"]["due_within_7_days"] == 0


# --- no_plan_decision: 16 weeks, reg 10(1) -----------------------------------------------


@pytest.mark.parametrize(("decided", "on_time"), [("2025-04-28", 1), ("2025-04-29", 0)])
def test_reg_10_1_notice_of_no_plan_within_16_weeks(decided: str, on_time: int) -> None:
    # 6 Jan 2025 + 112 days = Mon 28 Apr 2025
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("assessment.decided", "C1", "2025-02-03", decision="assess"),
        event("plan.decided", "C1", decided, decision="not_issue"),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "no_plan_decision") == completed_once(on_time)
    assert clock(m, "final_plan") == NOTHING_COUNTED


def test_no_plan_decision_has_no_open_clocks() -> None:
    history = [event("request.received", "C1", "2025-01-06", requested_by="parent")]
    assert measures(history, "2025-12-31")["no_plan_decision"]["open"] == 0


def test_withdrawal_cancels_every_open_clock_of_the_request() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("request.withdrawn", "C1", "2025-01-20"),
    ]
    m = measures(history, NOW, **YEAR)
    for name in ("assess_decision", "final_plan", "no_plan_decision"):
        assert clock(m, name) == NOTHING_COUNTED


# --- review_due: 12 months, CFA 2014 s44 --------------------------------------------------


def test_12_months_from_29_february_ends_28_february() -> None:
    from datetime import date

    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 3, 31), -12) == date(2024, 3, 31)


@pytest.mark.parametrize(("decided", "on_time"), [("2025-02-28", 1), ("2025-03-01", 0)])
def test_cfa_s44_annual_review_within_12_months(decided: str, on_time: int) -> None:
    # plan issued 29 Feb 2024: the review is due 28 Feb 2025 (clamped to the month's end)
    history = [
        event("plan.issued", "C1", "2024-02-29"),
        event("review.meeting_held", "C1", "2025-02-10"),
        event("review.decided", "C1", decided, decision="maintain"),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "review_due")["completed"] == 1
    assert clock(m, "review_due")["on_time"] == on_time
    # a new 12-month clock starts at the review decision
    assert m["review_due"]["open"] == 1


def test_plan_ceased_cancels_the_plans_open_clocks() -> None:
    history = [
        event("plan.issued", "C1", "2024-05-01"),
        event("review.meeting_held", "C1", "2025-04-01"),
        event("amendment.proposed", "C1", "2025-04-02"),
        event("plan.ceased", "C1", "2025-04-10", reason="moved out of area"),
    ]
    m = measures(history, NOW, **YEAR)
    for name in ("review_due", "review_decision", "amended_plan"):
        assert m[name]["open"] == 0 and m[name]["completed"] == 0


# --- review_decision: 4 weeks, reg 20(10); amended_plan: 8 weeks, reg 22(3) --------------


@pytest.mark.parametrize(("decided", "on_time"), [("2025-03-31", 1), ("2025-04-01", 0)])
def test_reg_20_10_review_decision_within_4_weeks_of_the_meeting(
    decided: str, on_time: int
) -> None:
    # meeting Mon 3 Mar 2025 + 28 days = Mon 31 Mar 2025
    history = [
        event("plan.issued", "C1", "2024-06-01"),
        event("review.meeting_held", "C1", "2025-03-03"),
        event("review.decided", "C1", decided, decision="amend"),
    ]
    assert clock(measures(history, NOW, **YEAR), "review_decision")["on_time"] == on_time


@pytest.mark.parametrize(("amended", "on_time"), [("2025-04-28", 1), ("2025-04-29", 0)])
def test_reg_22_3_amended_plan_within_8_weeks(amended: str, on_time: int) -> None:
    # proposal Mon 3 Mar 2025 + 56 days = Mon 28 Apr 2025
    history = [
        event("amendment.proposed", "C1", "2025-03-03"),
        event("plan.amended", "C1", amended),
    ]
    m = measures(history, NOW, **YEAR)
    assert clock(m, "amended_plan") == completed_once(on_time)


# --- phase_transfer: reg 18(1) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "named", "on_time"),
    [
        ("school", "2025-02-15", 1),  # 15 February of the transfer's calendar year
        ("school", "2025-02-16", 0),
        ("post16", "2025-03-31", 1),  # 31 March for secondary to post-16
        ("post16", "2025-04-01", 0),
    ],
)
def test_reg_18_1_phase_transfer_deadline(kind: str, named: str, on_time: int) -> None:
    history = [
        event("transfer.due", "C1", "2024-10-01", transfer_date="2025-09-01", kind=kind),
        event("transfer.setting_named", "C1", named, setting_id="URN-1"),
    ]
    assert clock(measures(history, NOW, **YEAR), "phase_transfer") == completed_once(on_time)


def test_phase_transfer_due_in_the_calendar_year_of_the_transfer_date() -> None:
    # transfer in January 2026 recorded in March 2025: due 15 Feb 2026
    history = [event("transfer.due", "C1", "2025-03-01", transfer_date="2026-01-05", kind="school")]
    p = Projector()
    p.apply_all(history)
    case = p.case_file("C1")
    assert case is not None and str(case.clocks[0].due) == "2026-02-15"


# --- tribunal orders: regs 44, 45, 42 ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "outcome", "days"),
    [
        ("assess", "plan", 98),  # 14 weeks
        ("assess", "no_plan", 70),  # 10 weeks
        ("make_plan", None, 77),  # 11 weeks
        ("amend_plan", None, 35),  # 5 weeks
        ("name_setting", None, 14),  # 2 weeks
        ("maintain", None, 0),  # the same day
        ("reconsider", None, 14),  # 2 weeks
    ],
)
def test_reg_44_tribunal_order_deadlines_by_kind(kind: str, outcome: str | None, days: int) -> None:
    from datetime import date, timedelta

    made = date(2025, 3, 3)
    due = made + timedelta(days=days)
    step = {"order_id": "T1", "step": "final"} | ({"outcome": outcome} if outcome else {})
    for done, on_time in ((due, 1), (due + timedelta(days=1), 0)):
        history = [
            event(
                "tribunal.order_made",
                "C1",
                made.isoformat(),
                order_id="T1",
                kind=kind,
                basis="order",
            ),
            event("tribunal.order_step_done", "C1", done.isoformat(), **step),
        ]
        m = measures(history, NOW, **YEAR)
        assert clock(m, "tribunal_order") == completed_once(on_time), (kind, done)


def test_open_assess_order_is_due_at_14_weeks() -> None:
    # order 3 Mar 2025 + 98 days = 9 Jun 2025: overdue from 10 Jun
    history = [
        event(
            "tribunal.order_made",
            "C1",
            "2025-03-03",
            order_id="T1",
            kind="assess",
            basis="unopposed",
        ),
        event("tribunal.order_step_done", "C1", "2025-03-10", order_id="T1", step="notify"),
    ]
    assert measures(history, "2025-06-09")["tribunal_order"]["overdue"] == 0
    assert measures(history, "2025-06-10")["tribunal_order"]["overdue"] == 1
    p = Projector()
    p.apply_all(history)
    case = p.case_file("C1")
    assert case is not None
    order = case.clocks[0]
    assert order.citation == "SEND Regs 2014 reg 45"  # an unopposed appeal
    assert order.interim() is not None and str(order.interim()[1]) == "2025-03-17"  # notify: 2 wks


# --- contact_response: 5 working days, England and Wales bank holidays off ----------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Thu 17 Apr 2025; Good Friday 18 and Easter Monday 21 are bank holidays:
        # 22 (1), 23 (2), 24 (3), 25 (4), Mon 28 Apr (5)
        ("2025-04-17", "2025-04-28"),
        # Fri 2 May 2025; Mon 5 May is the early May bank holiday: 6,7,8,9, Mon 12 May (5)
        ("2025-05-02", "2025-05-12"),
        # Mon 22 Dec 2025; Christmas 25 and Boxing Day 26: 23, 24, 29, 30, Wed 31 Dec (5)
        ("2025-12-22", "2025-12-31"),
        # received on a Saturday (day 0): Mon 3 to Fri 7 Mar 2025
        ("2025-03-01", "2025-03-07"),
    ],
)
def test_contact_response_due_after_5_working_days(received: str, due: str) -> None:
    from datetime import date

    assert working_days_after(date.fromisoformat(received), 5) == date.fromisoformat(due)


def test_contact_met_on_due_day_late_after_and_automated_reply_does_not_stop_it() -> None:
    history = [
        event("contact.received", "C1", "2025-04-17T09:12:00", contact_id="k1", channel="email"),
        event("contact.responded", "C1", "2025-04-17T09:13:00", contact_id="k1", automated=True),
        event("contact.responded", "C1", "2025-04-28T16:00:00", contact_id="k1", automated=False),
        event("contact.received", "C1", "2025-04-17", contact_id="k2", channel="phone"),
        event("contact.responded", "C1", "2025-04-29", contact_id="k2", automated=False),
        event("contact.received", "C1", "2025-04-17", contact_id="k3", channel="letter"),
        event("contact.responded", "C1", "2025-04-18", contact_id="k3", automated=True),
    ]
    m = measures(history, "2025-05-30", **{"start": "2025-04-01", "end": "2025-05-30"})
    assert clock(m, "contact_response") == {"completed": 2, "on_time": 1, "open": 1, "overdue": 1}


# --- exceptions: Regs 5(4), 10(4), 13(3) ----------------------------------------------------


def test_exceptions_count_in_the_rate_including_them_but_not_excluding_them() -> None:
    history = [
        # C1: plan late (due 26 May 2025, issued 30 Jun) but excepted: the family was away
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event(
            "exception.applied",
            "C1",
            "2025-03-01",
            clock="final_plan",
            ground="absence",
            family_told=True,
        ),
        event("plan.issued", "C1", "2025-06-30"),
        # C2: plan on time, no exception
        event("request.received", "C2", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C2", "2025-05-01"),
        # C3: excepted and on time
        event("request.received", "C3", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C3", "2025-05-02"),
        event("exception.applied", "C3", "2025-05-02", clock="final_plan", ground="school_closure"),
    ]
    m = measures(history, NOW, **YEAR)["final_plan"]
    assert m["completed"] == 3 and m["on_time"] == 2
    assert m["excepted"] == 2 and m["excepted_on_time"] == 1
    assert m["rate_incl_exceptions"] == 0.6667  # 2 / 3, rounded to 4 decimals
    assert m["rate_excl_exceptions"] == 1.0  # (2 - 1) / (3 - 2)


def test_an_excepted_open_clock_is_open_but_never_overdue() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event(
            "exception.applied",
            "C1",
            "2025-01-20",
            clock="assess_decision",
            ground="personal_circumstances",
        ),
    ]
    m = measures(history, "2025-03-01")
    assert m["assess_decision"]["open"] == 1 and m["assess_decision"]["overdue"] == 0
    assert m["final_plan"]["open"] == 1 and m["final_plan"]["overdue"] == 0


def test_exception_for_no_plan_decision_made_before_the_decision_applies_to_it() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event(
            "exception.applied",
            "C1",
            "2025-02-01",
            clock="no_plan_decision",
            ground="early_years_closure",
        ),
        event("plan.decided", "C1", "2025-06-01", decision="not_issue"),
    ]
    m = measures(history, NOW, **YEAR)["no_plan_decision"]
    assert (m["completed"], m["excepted"], m["rate_excl_exceptions"]) == (1, 1, None)


def test_exception_for_a_tribunal_order_by_order_id() -> None:
    history = [
        event(
            "tribunal.order_made",
            "C1",
            "2025-03-03",
            order_id="T1",
            kind="amend_plan",
            basis="order",
        ),
        event(
            "tribunal.order_made",
            "C1",
            "2025-03-03",
            order_id="T2",
            kind="amend_plan",
            basis="mediation",
        ),
        event(
            "exception.applied",
            "C1",
            "2025-03-10",
            clock="tribunal_order",
            ground="absence",
            order_id="T1",
        ),
    ]
    m = measures(history, "2025-06-01")["tribunal_order"]
    assert (m["open"], m["overdue"]) == (2, 1)


# --- retractions, as-at, the future, order ---------------------------------------------------


def test_a_retracted_event_counts_as_never_having_happened() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event("event.retracted", "C1", "2025-05-10", event_id="issue-1", reason="wrong case"),
    ]
    m = measures(history, "2025-06-30")
    assert m["final_plan"]["completed"] == 0 and m["final_plan"]["open"] == 1
    assert m["first_time_right"]["decisions"] == 0
    assert m["review_due"]["open"] == 0


def test_a_retraction_dated_after_now_still_undoes_the_event() -> None:
    # June's figures rebuilt later: a June plan retracted in July never happened in June
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event("event.retracted", "C1", "2025-07-05", event_id="issue-1", reason="wrong case"),
    ]
    june = measures(history, "2025-06-30")
    assert june["final_plan"]["completed"] == 0 and june["final_plan"]["open"] == 1
    # as known at the end of June, before the retraction was recorded, the plan counts
    as_at = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    assert measures(history, "2025-06-30", as_at=as_at)["final_plan"]["completed"] == 1


def test_a_retracted_retraction_restores_the_event() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C1", "2025-05-01", eid="issue-1"),
        event("event.retracted", "C1", "2025-05-10", eid="r1", event_id="issue-1", reason="x"),
        event("event.retracted", "C1", "2025-05-11", event_id="r1", reason="retracted in error"),
    ]
    assert measures(history, "2025-06-30")["final_plan"]["completed"] == 1


def test_as_at_uses_only_what_was_recorded_by_then() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        # the plan was issued on time but only recorded in July
        event("plan.issued", "C1", "2025-05-20", recorded="2025-07-02T09:00:00Z"),
        event("request.received", "C2", "2025-01-06", requested_by="parent"),
        event("plan.issued", "C2", "2025-05-01", eid="c2-plan"),
        # a retraction recorded in July
        event(
            "event.retracted",
            "C2",
            "2025-06-15",
            event_id="c2-plan",
            reason="duplicate",
            recorded="2025-07-01T10:00:00Z",
        ),
    ]
    june = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    as_known_in_june = measures(history, "2025-06-30", as_at=june)
    known_now = measures(history, "2025-06-30")
    # in June: C2's plan counted, C1's not yet known
    assert (
        as_known_in_june["final_plan"]["completed"],
        as_known_in_june["final_plan"]["open"],
    ) == (1, 1)
    assert as_known_in_june["first_time_right"]["decisions"] == 1
    # now: C1's plan counted, C2's retracted
    assert (known_now["final_plan"]["completed"], known_now["final_plan"]["open"]) == (1, 1)
    p = Projector()
    p.apply_all(history)
    c1 = p.case_file("C1")
    assert c1 is not None and c1.clocks[1].stop is not None


def test_events_after_now_are_ignored() -> None:
    history = [
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("assessment.decided", "C1", "2025-02-10", decision="assess"),
    ]
    m = measures(history, "2025-02-09")
    assert m["assess_decision"]["completed"] == 0 and m["assess_decision"]["open"] == 1


def test_on_one_day_an_opener_applies_before_a_closer_whatever_the_input_order() -> None:
    # the decision arrives first in the input, on the same day as the request
    history = [
        event("assessment.decided", "C1", "2025-01-06", decision="refuse"),
        event("request.received", "C1", "2025-01-06", requested_by="parent"),
        event("contact.responded", "C1", "2025-01-07", contact_id="k", automated=False),
        event("contact.received", "C1", "2025-01-07", contact_id="k", channel="portal"),
    ]
    m = measures(history, "2025-03-01")
    assert clock(m, "assess_decision") == completed_once(on_time=1)
    assert m["final_plan"]["open"] == 0
    assert clock(m, "contact_response")["on_time"] == 1
