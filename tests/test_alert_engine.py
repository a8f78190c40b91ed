"""The alert engine as a specification: one scenario per rule, dates worked in comments.

Evaluation takes a day ``now`` (the clocks' calendar) and a moment ``at`` (the wall clock
that stamps startsAt and endsAt); both are frozen here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.engine import Engine, aggregate_findings, long_date
from alerts.rules import RulesError, RuleSet, load_rules, parse_rules
from alerts.store import SqliteAlertStore
from events import Event
from projections import Projector
from streams.log import connect
from tests.history import event
from tests.rulesets import only_case_rules

AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
RULES = load_rules()


def ev(kind: str, case: str, on: str, /, eid: str | None = None, **data: Any) -> Event:
    """One event, recorded at noon UTC on the day it occurred."""
    return event(kind, case, on, eid=eid, recorded=f"{on}T12:00:00Z", **data)


def order_of_3_march(kind: str, basis: str) -> Event:
    """Tribunal order O1 for case T1, made on Monday 3 March 2025."""
    return ev("tribunal.order_made", "T1", "2025-03-03", order_id="O1", kind=kind, basis=basis)


def projector(*events: Event) -> Projector:
    p = Projector()
    p.apply_all(events)
    return p


def firing(engine: Engine) -> dict[str, dict[str, Any]]:
    return {a["fingerprint"]: a for a in engine.active() if a["state"] == "firing"}


def names(engine: Engine) -> set[tuple[str, str | None, str | None]]:
    return {(a["alertname"], a["case_id"], a["clock"]) for a in firing(engine).values()}


# A request on Mon 6 Jan 2025, assessed on 3 Feb (the 6-week clock is met), leaves the
# 20-week clock (reg 13(2)) open: due 6 Jan + 140 days = Mon 26 May 2025.
def request(case: str = "C1") -> list[Event]:
    return [
        ev("request.received", case, "2025-01-06", requested_by="parent"),
        ev("assessment.decided", case, "2025-02-03", decision="assess"),
    ]


def test_reg_13_2_warns_a_week_ahead_then_is_overdue_at_midnight_without_a_new_event() -> None:
    p = projector(*request())
    engine = Engine(only_case_rules())
    # 18 May: due 26 May is 8 days away, outside the 7-day warning
    engine.update(p, date(2025, 5, 18), AT)
    assert names(engine) == set()
    # 19 May: due within 7 days (19..26 May)
    changes = engine.update(p, date(2025, 5, 19), AT)
    assert [a.finding.alertname for a in changes.fired] == ["ClockDueSoon"]
    assert names(engine) == {("ClockDueSoon", "C1", "final_plan")}
    # 26 May, the due date itself: still due, not overdue
    engine.update(p, date(2025, 5, 26), AT + timedelta(days=7))
    assert names(engine) == {("ClockDueSoon", "C1", "final_plan")}
    # 27 May: overdue at midnight, no event arrived; the warning resolves
    later = AT + timedelta(days=8)
    changes = engine.update(p, date(2025, 5, 27), later)
    assert [a.finding.alertname for a in changes.fired] == ["ClockOverdue"]
    assert [a.finding.alertname for a in changes.resolved] == ["ClockDueSoon"]
    (alert,) = firing(engine).values()
    assert alert["severity"] == "critical"
    assert alert["due"] == "2025-05-26"
    assert alert["regulation"] == "SEND Regs 2014 reg 13(2)"
    assert alert["startsAt"] == "2025-06-09T09:00:00Z"
    assert "Monday 26 May 2025" in alert["description"]
    assert "reg 13(2)" in alert["description"]
    assert alert["link"] == "http://127.0.0.1:8000/#case/C1"


def test_an_alert_fires_once_and_stays_firing_unchanged() -> None:
    p = projector(*request())
    engine = Engine(only_case_rules())
    first = engine.update(p, date(2025, 6, 1), AT)
    assert len(first.fired) == 1
    for hour in range(1, 4):
        again = engine.update(p, date(2025, 6, 1), AT + timedelta(hours=hour), cases={"C1"})
        assert again.fired == [] and again.resolved == []
    tomorrow = engine.update(p, date(2025, 6, 2), AT + timedelta(days=1))
    assert tomorrow.fired == [] and tomorrow.resolved == []
    (alert,) = firing(engine).values()
    assert alert["startsAt"] == "2025-06-01T09:00:00Z"


def test_the_stopping_event_resolves_it_with_endsat() -> None:
    p = projector(*request())
    engine = Engine(only_case_rules())
    engine.update(p, date(2025, 6, 1), AT)
    p.apply(ev("plan.issued", "C1", "2025-05-30"))
    changes = engine.update(p, date(2025, 6, 1), AT + timedelta(minutes=5), cases={"C1"})
    assert [a.finding.alertname for a in changes.resolved] == ["ClockOverdue"]
    (alert,) = engine.active()
    assert alert["state"] == "resolved"
    assert alert["endsAt"] == "2025-06-01T09:05:00Z"
    # a resolved alert stays listed for a day, then is forgotten
    engine.update(p, date(2025, 6, 2), AT + timedelta(days=1, minutes=10))
    assert engine.active() == []


@pytest.mark.parametrize(
    "stopper",
    [
        # reg 13(3): an exception switches the deadline off; it never alerts
        ("exception.applied", {"clock": "final_plan", "ground": "personal_circumstances"}),
        # a withdrawn request cancels its clocks
        ("request.withdrawn", {}),
    ],
)
def test_excepted_and_cancelled_clocks_never_alert(stopper: tuple[str, dict[str, Any]]) -> None:
    kind, data = stopper
    engine = Engine(only_case_rules())
    p = projector(*request())
    engine.update(p, date(2025, 6, 1), AT)
    assert names(engine) == {("ClockOverdue", "C1", "final_plan")}
    p.apply(ev(kind, "C1", "2025-05-31", **data))
    engine.update(p, date(2025, 6, 1), AT, cases={"C1"})
    assert names(engine) == set()
    fresh = Engine(only_case_rules())
    fresh.update(p, date(2025, 6, 1), AT)
    assert fresh.active() == []


def test_retracting_the_stopping_event_fires_again_as_a_new_alert() -> None:
    p = projector(*request())
    engine = Engine(only_case_rules())
    engine.update(p, date(2025, 6, 1), AT)
    p.apply(ev("plan.issued", "C1", "2025-05-30", eid="issued"))
    engine.update(p, date(2025, 6, 1), AT + timedelta(hours=1), cases={"C1"})
    p.apply(ev("event.retracted", "C1", "2025-05-31", event_id="issued", reason="wrong case"))
    changes = engine.update(p, date(2025, 6, 1), AT + timedelta(hours=2), cases={"C1"})
    assert [a.starts_at for a in changes.fired] == [AT + timedelta(hours=2)]


def test_regs_44_tribunal_order_pages_for_its_interim_step_and_its_deadline() -> None:
    # make_plan order on Mon 3 Mar 2025: draft due 3 Mar + 35 = 7 Apr, final + 77 = 19 May
    p = projector(order_of_3_march("make_plan", "order"))
    engine = Engine(only_case_rules())
    engine.update(p, date(2025, 4, 1), AT)
    (soon,) = firing(engine).values()
    assert (soon["alertname"], soon["step"], soon["due"]) == (
        "TribunalOrderDueSoon",
        "draft",
        "2025-04-07",
    )
    assert soon["severity"] == "page" and soon["team"] == soon["caseworker"] == "unassigned"
    assert soon["regulation"] == "SEND Regs 2014 reg 44"
    engine.update(p, date(2025, 4, 8), AT)
    assert {(a["alertname"], a["step"]) for a in firing(engine).values()} == {
        ("TribunalOrderOverdue", "draft")
    }
    p.apply(ev("tribunal.order_step_done", "T1", "2025-04-09", order_id="O1", step="draft"))
    engine.update(p, date(2025, 4, 9), AT, cases={"T1"})
    assert firing(engine) == {}
    engine.update(p, date(2025, 5, 20), AT)  # 20 May: the final plan is a day late
    (late,) = firing(engine).values()
    assert (late["alertname"], late["step"], late["due"]) == (
        "TribunalOrderOverdue",
        "final",
        "2025-05-19",
    )
    assert "make and maintain a plan" in late["description"]


def test_an_excepted_order_never_pages() -> None:
    # Reg 44(3): exceptional personal circumstances
    p = projector(
        order_of_3_march("name_setting", "order"),
        ev(
            "exception.applied",
            "T1",
            "2025-03-05",
            clock="tribunal_order",
            ground="personal_circumstances",
            order_id="O1",
        ),
    )
    engine = Engine(only_case_rules())
    engine.update(p, date(2025, 6, 1), AT)
    assert engine.active() == []


def test_incremental_evaluation_equals_a_full_one() -> None:
    cases = [f"K{n}" for n in range(30)]
    p = projector(*(e for c in cases for e in request(c)))
    engine = Engine(only_case_rules())
    now = date(2025, 5, 22)
    engine.update(p, now, AT)
    touched = set()
    for n, case in enumerate(cases):
        if n % 3 == 0:
            p.apply(ev("plan.issued", case, "2025-05-21"))
            touched.add(case)
        elif n % 3 == 1:
            p.apply(
                ev("exception.applied", case, "2025-05-20", clock="final_plan", ground="absence")
            )
            touched.add(case)
        else:  # touched, but its alerts still hold: their findings are reused
            p.apply(ev("caseworker.assigned", case, "2025-05-20", caseworker_id="W1"))
            touched.add(case)
    engine.update(p, now, AT, cases=touched)
    full = Engine(only_case_rules())
    full.update(p, now, AT)
    assert set(firing(engine)) == set(firing(full))
    assert len(firing(full)) == 10
    # reused findings read exactly as freshly written ones
    assert [a for a in engine.active() if a["state"] == "firing"] == full.active()


def test_saving_later_stores_every_change_before_anything_is_sent(tmp_path: Path) -> None:
    """The service judges with ``save=False`` and saves off the request's path: the store
    has nothing until ``save``, and ``pending`` (what delivery sends) saves first."""
    db = tmp_path / "alerts.db"
    p = projector(*request())
    with SqliteAlertStore(connect(db)) as store, SqliteAlertStore(connect(db)) as reader:
        engine = Engine(only_case_rules(), store=store)
        engine.update(p, date(2025, 6, 1), AT, save=False)
        assert reader.load() == []
        (sent,) = engine.pending(AT, timedelta(minutes=5), deliver_aggregates=True)
        (stored,) = reader.load()
        assert stored.fingerprint == sent.fingerprint and stored.state == "firing"
        p.apply(ev("plan.issued", "C1", "2025-06-01"))
        engine.update(p, date(2025, 6, 1), AT + timedelta(hours=1), cases={"C1"}, save=False)
        assert reader.load()[0].state == "firing"
        engine.save()
        assert reader.load()[0].state == "resolved"


def test_a_restart_neither_loses_nor_repeats_an_alert(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    p = projector(*request())
    with SqliteAlertStore(connect(db)) as store:
        Engine(only_case_rules(), store=store).update(p, date(2025, 6, 1), AT)
    with SqliteAlertStore(connect(db)) as store:
        engine = Engine(only_case_rules(), store=store)
        changes = engine.update(p, date(2025, 6, 1), AT + timedelta(hours=1))
        assert changes.fired == [] and changes.resolved == []
        (alert,) = engine.active()
        assert alert["startsAt"] == "2025-06-01T09:00:00Z"
        # resolved while stopped: the next start finds it resolved, and saves that
        p.apply(ev("plan.issued", "C1", "2025-06-01"))
    with SqliteAlertStore(connect(db)) as store:
        engine = Engine(only_case_rules(), store=store)
        changes = engine.update(p, date(2025, 6, 1), AT + timedelta(hours=2))
        assert [a.finding.alertname for a in changes.resolved] == ["ClockOverdue"]
    with SqliteAlertStore(connect(db)) as store:
        (alert,) = Engine(only_case_rules(), store=store).active()
        assert (alert["state"], alert["delivered"]) == ("resolved", False)


def test_firing_counts_by_severity() -> None:
    p = projector(
        *request("C1"),
        order_of_3_march("amend_plan", "unopposed"),
    )
    engine = Engine(only_case_rules())
    engine.update(p, date(2025, 6, 1), AT)
    assert engine.firing_counts() == {"warning": 0, "critical": 1, "page": 1}
    (order,) = [a for a in engine.active() if a["clock"] == "tribunal_order"]
    assert order["regulation"] == "SEND Regs 2014 reg 45"


# --- aggregates ------------------------------------------------------------------------------


def clock_measures(**clocks: dict[str, int]) -> dict[str, Any]:
    from projections.law import CLOCK_IDS

    blank = {
        "completed": 0,
        "on_time": 0,
        "excepted": 0,
        "excepted_on_time": 0,
        "open": 0,
        "overdue": 0,
        "due_within_7_days": 0,
    }
    return {c: {**blank, **clocks.get(c, {})} for c in CLOCK_IDS}


def aggregates(rules: RuleSet, by_window: dict[str, Any], **kw: Any) -> set[tuple[str, str]]:
    kw.setdefault("dead_letters", 0)
    kw.setdefault("last_recorded", AT)
    found = aggregate_findings(rules, by_window, at=AT, **kw)
    return {(f.alertname, f.severity) for f in found}


def test_final_plan_rate_amber_below_target_red_below_floor_kents_convention() -> None:
    # point 4: target 60%, floor 46%, exceptions excluded; 3 excepted (2 on time) set aside
    def year(on_time: int) -> dict[str, Any]:
        m = clock_measures(
            final_plan={
                "completed": 103,
                "on_time": on_time + 2,
                "excepted": 3,
                "excepted_on_time": 2,
            }
        )
        return {"12m": m, "28d": clock_measures(), "7d": clock_measures()}

    rules = RULES.model_copy(update={"burn_rates": ()})
    assert aggregates(rules, year(60)) == set()  # 60/100: green
    assert aggregates(rules, year(59)) == {("RateBelowTarget", "warning")}  # amber
    assert aggregates(rules, year(46)) == {("RateBelowTarget", "warning")}  # the floor is met
    assert aggregates(rules, year(45)) == {("RateBelowFloor", "critical")}  # red


def test_no_rate_alert_below_the_minimum_volume() -> None:
    few = clock_measures(final_plan={"completed": 19, "on_time": 0})
    rules = RULES.model_copy(update={"burn_rates": ()})
    assert aggregates(rules, {"12m": few, "28d": few, "7d": few}) == set()


def test_burn_rate_needs_both_windows_and_the_minimum_volume() -> None:
    # final_plan: budget 1 - 0.6 = 0.4; factor 1.5 means more than 60% late in both windows
    rules = RULES.model_copy(update={"rates": (), "overdue": ()})
    good_year = clock_measures(final_plan={"completed": 1000, "on_time": 900})

    def burning(long: dict[str, int], short: dict[str, int]) -> set[tuple[str, str]]:
        by_window = {
            "12m": good_year,
            "28d": clock_measures(final_plan=long),
            "7d": clock_measures(final_plan=short),
        }
        return aggregates(rules, by_window)

    assert burning({"completed": 40, "on_time": 10}, {"completed": 10, "on_time": 2}) == {
        ("RateBudgetBurn", "critical")
    }
    # the short window has recovered: no alert
    assert burning({"completed": 40, "on_time": 10}, {"completed": 10, "on_time": 8}) == set()
    # a month with few plans does not page on late ones
    assert burning({"completed": 5, "on_time": 0}, {"completed": 2, "on_time": 0}) == set()


def test_overdue_counts_dead_letters_and_a_stalled_ingest() -> None:
    m = clock_measures(tribunal_order={"overdue": 1}, final_plan={"overdue": 101})
    by_window = {"12m": m, "28d": m, "7d": m}
    rules = RULES.model_copy(update={"rates": (), "burn_rates": ()})
    assert aggregates(rules, by_window, dead_letters=1, last_recorded=AT - timedelta(hours=73)) == {
        ("OverdueClocks", "critical"),
        ("OverdueClocks", "warning"),
        ("DeadLetters", "warning"),
        ("IngestStalled", "warning"),
    }
    calm = clock_measures(final_plan={"overdue": 100})
    assert aggregates(rules, {"12m": calm}, last_recorded=AT - timedelta(hours=71)) == set()
    assert aggregates(rules, {"12m": calm}, last_recorded=None) == set()


def test_aggregate_alerts_fire_and_resolve_through_the_engine() -> None:
    # 25 plans requested 6 Jan 2025, all issued late on 27 Jun (due 26 May): 0% on time
    rules = RULES.model_copy(update={"cases": ()})
    issued = [ev("plan.issued", f"R{n}", "2025-06-27") for n in range(25)]
    p = projector(*(e for n in range(25) for e in request(f"R{n}")), *issued)
    engine = Engine(rules)
    at = datetime(2025, 7, 2, 9, 0, tzinfo=UTC)  # 117 hours after the newest event
    engine.update(p, date(2025, 7, 2), at, dead_letters=2)
    assert {(a["alertname"], a["clock"]) for a in firing(engine).values()} == {
        ("RateBelowFloor", "final_plan"),
        ("RateBudgetBurn", "final_plan"),
        ("DeadLetters", None),
        ("IngestStalled", None),
    }
    floor = next(a for a in engine.active() if a["alertname"] == "RateBelowFloor")
    assert floor["case_id"] is None and floor["value"] == 0.0 and floor["window"] == "12m"
    p.apply_all(  # recorded 28 Jun, 93 hours before ``at``: still stalled
        ev("event.retracted", e.case_id, "2025-06-28", event_id=e.event_id, reason="in error")
        for e in issued
    )
    engine.update(p, date(2025, 7, 2), at, dead_letters=2, cases={e.case_id for e in issued})
    assert {a["alertname"] for a in firing(engine).values()} == {"DeadLetters", "IngestStalled"}


def test_cases_judged_in_slices_with_the_aggregates_last_equal_one_update() -> None:
    """The Kafka worker judges many changed cases in slices (the event loop turning
    between them), the aggregate rules only with the last slice: the same alerts as one
    update with every case."""
    cases = [f"S{n}" for n in range(40)]
    p = projector(*(e for c in cases for e in request(c)))
    now = date(2025, 5, 22)
    sliced, whole = Engine(RULES), Engine(RULES)
    sliced.update(p, now, AT)
    whole.update(p, now, AT)
    assert sliced.day == now
    issued = [ev("plan.issued", c, "2025-05-21") for c in cases[::2]]
    p.apply_all(issued)
    touched = [e.case_id for e in issued]
    for start in range(0, len(touched), 7):
        last = start + 7 >= len(touched)
        sliced.update(p, now, AT, cases=touched[start : start + 7], aggregates=last)
    whole.update(p, now, AT, cases=touched)
    assert sliced.active() == whole.active()
    assert any(a["state"] == "resolved" for a in whole.active())


def test_a_day_judged_in_slices_equals_the_days_one_pass() -> None:
    """The Kafka worker judges a new day's every case in slices too (``begin_day``, then
    ``update`` of some cases at a time): the same alerts as the one pass of ``update`` on
    a new day, including the resolution of a case that is no longer there."""
    cases = [f"D{n}" for n in range(30)]
    p = projector(*(e for c in cases for e in request(c)))
    sliced, whole = Engine(RULES), Engine(RULES)
    first = date(2025, 5, 22)
    sliced.update(p, first, AT)
    whole.update(p, first, AT)
    firing = {a["case_id"] for a in whole.active() if a["state"] == "firing" and a["case_id"]}
    assert firing  # every request's clock is due soon or overdue on some day below
    gone = sorted(firing)[0]
    smaller = projector(*(e for c in cases if c != gone for e in request(c)))
    later = date(2025, 7, 1)  # a new day: the due-soon alerts of the first are overdue now
    todo = sorted(smaller.case_ids() | sliced.begin_day(later))
    assert sliced.day == later and gone in todo
    for start in range(0, len(todo), 7):
        sliced.update(smaller, later, AT, cases=todo[start : start + 7],
                      aggregates=start + 7 >= len(todo))  # fmt: skip
    whole.update(smaller, later, AT)
    assert sliced.active() == whole.active()
    assert any(a["case_id"] == gone and a["state"] == "resolved" for a in whole.active())


# --- the rules file -------------------------------------------------------------------------


def test_rules_errors_name_the_rule_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "cases:\n  - {name: ClockOverdue, when: overdue, severity: urgent}\n", encoding="utf-8"
    )
    with pytest.raises(RulesError, match=r"cases\[0\] \(ClockOverdue\)\.severity"):
        load_rules(path)
    with pytest.raises(RulesError, match=r"unknown clock 'final_plans'"):
        parse_rules("cases: [{name: A, when: overdue, severity: page, clocks: [final_plans]}]")
    with pytest.raises(RulesError, match=r"rates\[0\] \(final_plan\): floor 0.7 is above"):
        parse_rules("rates: [{clock: final_plan, target: 0.5, floor: 0.7}]")
    with pytest.raises(RulesError, match=r"two case rules are named A"):
        parse_rules(
            "cases: [{name: A, when: overdue, severity: page}, "
            "{name: A, when: due_soon, severity: page}]"
        )
    with pytest.raises(RulesError, match=r"cannot read rules file"):
        load_rules(tmp_path / "missing.yml")


def test_targets_come_from_the_petition_points_unless_the_file_gives_them() -> None:
    from projections.scorecard import with_overrides

    rules = parse_rules("rates: [{clock: final_plan, point: 4, exceptions: excluded}]")
    assert rules.rates[0].standard() == (0.60, 0.46)
    assert rules.rates[0].standard(with_overrides({4: {"target": 0.5}})) == (0.5, 0.46)
    own = parse_rules("rates: [{clock: final_plan, point: 4, target: 0.7}]")
    assert own.rates[0].standard() == (0.7, 0.46)


def test_dates_are_written_the_british_way() -> None:
    assert long_date(date(2025, 5, 26)) == "Monday 26 May 2025"


def test_a_frozen_day_in_the_past_is_not_a_stalled_feed() -> None:
    # events recorded up to 30 June 2025; "now" frozen on 30 June; the wall clock much later
    rules = RULES.model_copy(update={"cases": (), "rates": (), "burn_rates": ()})
    p = projector(
        *request("S1"), ev("contact.received", "S1", "2025-06-30", contact_id="x", channel="email")
    )
    engine = Engine(rules)
    engine.update(p, date(2025, 6, 30), datetime(2026, 1, 1, tzinfo=UTC))
    assert names(engine) == set()
    engine.update(p, date(2025, 7, 4), datetime(2026, 1, 1, tzinfo=UTC))  # 3.5 days later
    assert names(engine) == {("IngestStalled", None, None)}


def test_sendwatch_run_refuses_a_bad_rules_file_and_says_where(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "rules.yml"
    bad.write_text("cases:\n  - {name: Late, when: overdue, severity: loud}\n", encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sendwatch.cli",
            "run",
            "--db",
            str(tmp_path / "s.db"),
            "--port",
            "1",
            "--rules",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "cases[0] (Late).severity: Input should be 'warning', 'critical' or 'page'" in (
        run.stderr
    )
