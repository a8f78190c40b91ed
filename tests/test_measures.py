"""One scenario per measure of CONTRACT.md section 3 besides the clocks."""

from __future__ import annotations

from datetime import date

import orjson

from projections import Period, Projector
from projections.case import apply_order
from tests.history import event, jsonl, measures, raw, sendwatch

PERIOD = {"start": "2025-01-01", "end": "2025-12-31"}
NOW = "2025-12-31"


def test_default_period_is_the_12_months_to_now() -> None:
    # now = 30 Jun 2025: the period is 1 Jul 2024 to 30 Jun 2025, so 30 Jun 2024 is outside
    history = [
        event("amendment.proposed", "C1", "2024-05-01"),
        event("plan.amended", "C1", "2024-06-30"),
        event("amendment.proposed", "C2", "2024-05-01"),
        event("plan.amended", "C2", "2024-07-01"),
    ]
    assert measures(history, "2025-06-30")["amended_plan"]["completed"] == 1


def test_appeals_registered_and_concluded_in_the_period_by_type() -> None:
    history = [
        event("appeal.registered", "C1", "2024-12-01", appeal_id="A1", against="refusal_to_assess"),
        event("appeal.concluded", "C1", "2025-02-01", appeal_id="A1", outcome="conceded"),
        event("appeal.registered", "C2", "2025-03-01", appeal_id="A2", against="refusal_to_assess"),
        event("appeal.concluded", "C2", "2025-06-01", appeal_id="A2", outcome="appellant_won"),
        event("appeal.registered", "C3", "2025-03-01", appeal_id="A3", against="placement"),
        event("appeal.concluded", "C3", "2026-01-10", appeal_id="A3", outcome="la_won"),
        event("appeal.registered", "C4", "2025-04-01", appeal_id="A4", against="cease"),
        event("appeal.concluded", "C4", "2025-05-01", appeal_id="A4", outcome="withdrawn"),
    ]
    appeals = measures(history, "2026-02-01", **PERIOD)["appeals"]
    assert appeals["refusal_to_assess"] == {
        "registered": 1,
        "withdrawn": 0,
        "conceded": 1,
        "appellant_won": 1,
        "la_won": 0,
    }
    assert appeals["placement"] == {
        "registered": 1,
        "withdrawn": 0,
        "conceded": 0,
        "appellant_won": 0,
        "la_won": 0,
    }
    assert appeals["cease"]["withdrawn"] == 1
    assert set(appeals) == {
        "refusal_to_assess",
        "refusal_to_issue",
        "contents",
        "placement",
        "refusal_to_amend",
        "refusal_to_reassess",
        "cease",
    }


def test_first_time_right_links_an_appeal_to_the_latest_decision_of_its_kind() -> None:
    history = [
        # C1: two refusals; the appeal (registered 1 Jun) links to the later one (1 May)
        event("assessment.decided", "C1", "2024-11-01", decision="refuse"),
        event("assessment.decided", "C1", "2025-05-01", decision="refuse"),
        event("appeal.registered", "C1", "2025-06-01", appeal_id="A1", against="refusal_to_assess"),
        event("appeal.concluded", "C1", "2025-09-01", appeal_id="A1", outcome="conceded"),
        # C2: plan issued, contents appeal lost by the family: not overturned
        event("plan.issued", "C2", "2025-02-01"),
        event("appeal.registered", "C2", "2025-03-01", appeal_id="A2", against="contents"),
        event("appeal.concluded", "C2", "2025-08-01", appeal_id="A2", outcome="la_won"),
        # C3: cease decided at review, plan ceased; appeal won: the latest (plan.ceased)
        event("review.decided", "C3", "2025-03-01", decision="cease"),
        event("plan.ceased", "C3", "2025-04-01", reason="needs met"),
        event("appeal.registered", "C3", "2025-04-15", appeal_id="A3", against="cease"),
        event("appeal.concluded", "C3", "2025-10-01", appeal_id="A3", outcome="appellant_won"),
        # C4: an appeal with no decision of its kind counts in appeals only
        event("appeal.registered", "C4", "2025-04-15", appeal_id="A4", against="refusal_to_issue"),
        event("appeal.concluded", "C4", "2025-10-01", appeal_id="A4", outcome="conceded"),
        # C5: amend decision is not appealable; maintain is
        event("review.decided", "C5", "2025-03-01", decision="amend"),
        event("review.decided", "C5", "2025-09-01", decision="maintain"),
    ]
    # in 2025: C1 refuse (May), C2 plan.issued, C3 review cease + plan.ceased, C5 maintain = 5;
    # every appeal concluded, and the last decision (1 Sep) could be appealed until 1 Nov
    ftr = measures(history, NOW, **PERIOD)["first_time_right"]
    assert ftr == {
        "decisions": 5,
        "overturned": 2,
        "rate": 0.6,
        "appeals_pending": 0,
        "appeal_window_open": 0,
    }


def test_first_time_right_followed_event_by_event_equals_a_replay() -> None:
    """The live service re-counts a case's decisions on earlier days when an appeal links:
    each event applied in date order and the measures read after each, as the service does.
    C1: the appeal conceded on 1 Sep overturns the plan issued on 1 Feb (a day before it).
    C2: a plan amended on the day its contents appeal was registered (1 Mar, later that day)
    is the latest decision of the kind by then, so the conceded appeal overturns it, not the
    plan issued on 1 Feb: the count of 1 Feb goes back down."""
    history = [
        event("plan.issued", "C1", "2025-02-01"),
        event("appeal.registered", "C1", "2025-03-01", appeal_id="A1", against="contents"),
        event("appeal.concluded", "C1", "2025-09-01", appeal_id="A1", outcome="conceded"),
        event("plan.issued", "C2", "2025-02-01"),
        event("appeal.registered", "C2", "2025-03-01T09:00:00", appeal_id="A2", against="contents"),
        event("appeal.concluded", "C2", "2025-03-01T10:00:00", appeal_id="A2", outcome="conceded"),
        event("plan.amended", "C2", "2025-03-01T11:00:00"),
    ]
    period = Period(date(2025, 2, 1), date(2025, 2, 28))  # February: the plans issued
    live = Projector()
    for e in sorted(history, key=apply_order):
        live.apply(e)
        live.measures(date(2025, 12, 31), period)
    ftr = live.measures(date(2025, 12, 31), period)["first_time_right"]
    assert ftr == {  # C1's only; C2's plan of 1 Feb could be appealed until 1 Apr
        "decisions": 2,
        "overturned": 1,
        "rate": 0.5,
        "appeals_pending": 0,
        "appeal_window_open": 0,
    }


def test_first_time_right_counts_only_overturns_known_by_now() -> None:
    history = [
        event("plan.decided", "C1", "2025-02-01", decision="not_issue"),
        event("appeal.registered", "C1", "2025-03-01", appeal_id="A1", against="refusal_to_issue"),
        event("appeal.concluded", "C1", "2026-03-01", appeal_id="A1", outcome="appellant_won"),
    ]
    before = measures(history, NOW, **PERIOD)["first_time_right"]
    assert (before["overturned"], before["appeals_pending"]) == (0, 1)  # heard in 2026
    later = measures(history, "2026-06-30", **PERIOD)["first_time_right"]
    assert later == {
        "decisions": 1,
        "overturned": 1,
        "rate": 0.0,
        "appeals_pending": 0,
        "appeal_window_open": 0,
    }


def test_education_out_now_longest_spell_and_eotas_median() -> None:
    history = [
        event("education.lost", "C1", "2025-10-01", reason="no_suitable_placement"),
        event("education.lost", "C2", "2025-12-01", reason="excluded"),
        event("education.lost", "C3", "2025-03-01", reason="health"),
        event("education.resumed", "C3", "2025-05-01", provision="eotas"),
        # EOTAS: starts 30 and 50 days after the latest request; a third start with no request
        event("eotas.requested", "C1", "2025-01-01"),
        event("eotas.requested", "C1", "2025-02-01"),
        event("eotas.agreed", "C1", "2025-02-20", hours_per_week=15, annual_cost=12000.5),
        event("eotas.started", "C1", "2025-03-03"),  # 30 days after 1 Feb
        event("eotas.requested", "C3", "2025-03-12"),
        event("eotas.started", "C3", "2025-05-01"),  # 50 days after 12 Mar
        event("eotas.started", "C4", "2025-06-01"),
        event("eotas.ended", "C4", "2025-07-01"),
    ]
    edu = measures(history, NOW, **PERIOD)["education"]
    assert edu == {
        "out_of_education_now": 2,
        "longest_days_out": 91,  # 1 Oct to 31 Dec 2025
        "eotas_requested": 3,
        "eotas_started": 3,
        "median_days_request_to_start": 40,  # median of 30 and 50
    }


def test_median_is_null_without_starts() -> None:
    assert measures([], NOW, **PERIOD)["education"]["median_days_request_to_start"] is None


def test_caseworker_changes_and_cases_with_three_or_more() -> None:
    history = [
        # C1: A before the period, B and C in it: 2 changes, 3 caseworkers (A counts)
        event("caseworker.assigned", "C1", "2024-06-01", caseworker_id="A"),
        event("caseworker.assigned", "C1", "2025-02-01", caseworker_id="B"),
        event("caseworker.assigned", "C1", "2025-03-01", caseworker_id="C"),
        # C2: first assignment in the period is not a change; re-assigning the same is not
        event("caseworker.assigned", "C2", "2025-02-01", caseworker_id="A"),
        event("caseworker.assigned", "C2", "2025-04-01", caseworker_id="A"),
        # C3: assigned only after the period: not counted
        event("caseworker.assigned", "C3", "2026-02-01", caseworker_id="A"),
        # C4: assigned long before, no change: still had a caseworker in the period
        event("caseworker.assigned", "C4", "2023-01-01", caseworker_id="D"),
    ]
    cw = measures(history, "2026-03-01", **PERIOD)["caseworkers"]
    assert cw == {"cases": 3, "changes": 2, "cases_with_3_or_more": 1}


def test_plan_quality_review_compliance_and_sen_support() -> None:
    history = [
        event(
            "plan.audited",
            "C1",
            "2025-03-01",
            section_b="met",
            section_e="not_met",
            section_f="met",
            grade="good",
        ),
        event(
            "plan.audited",
            "C2",
            "2025-04-01",
            section_b="met",
            section_e="met",
            section_f="not_met",
        ),
        event(
            "plan.audited", "C3", "2024-04-01", section_b="met", section_e="met", section_f="met"
        ),
        event(
            "review.compliance_checked",
            "C1",
            "2025-05-01",
            setting_id="URN-1",
            compliant=True,
            failures=[],
        ),
        event(
            "review.compliance_checked",
            "C2",
            "2025-05-02",
            setting_id="URN-1",
            compliant=False,
            failures=["no advice sought"],
        ),
        event(
            "review.compliance_checked",
            "C3",
            "2025-05-03",
            setting_id="URN-2",
            compliant=True,
            failures=[],
        ),
        event("sen_support.started", "C4", "2025-01-10", setting_id="URN-1"),
        event("sen_support.started", "C5", "2025-01-10", setting_id="URN-2"),
        event("sen_support.ended", "C5", "2025-06-10"),
        event("sen_support.started", "C6", "2025-09-01", setting_id="URN-1"),
    ]
    m = measures(history, NOW, **PERIOD)
    assert m["plan_quality"] == {
        "audited": 2,
        "section_b_met": 2,
        "section_e_met": 1,
        "section_f_met": 1,
    }
    assert m["review_compliance"] == {
        "checked": 3,
        "compliant": 2,
        "by_setting": {
            "URN-1": {"checked": 2, "compliant": 1},
            "URN-2": {"checked": 1, "compliant": 1},
        },
    }
    assert m["sen_support"]["open_now"] == 2
    assert m["sen_support"]["by_setting"] == {"URN-1": 2}


def test_metrics_cli_reports_bad_lines_and_counts_dead_letters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = raw("request.received", "C1", "2025-01-06", requested_by="parent")
    unknown = raw("plan.rewritten", "C1", "2025-01-07")
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl([good]) + b"{not json\n" + jsonl([unknown]) + b"\n")
    done = sendwatch("metrics", "--events", str(path), "--now", "2025-03-01")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["dead_letters"] == 2
    assert result["assess_decision"]["overdue"] == 1  # due 17 Feb 2025
    stderr = done.stderr
    assert "line 2" in stderr and "not valid JSON" in stderr
    assert "line 3" in stderr and "unknown event type 'plan.rewritten'" in stderr


def test_metrics_cli_exits_1_when_no_line_is_valid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"[]\n{}\n")
    done = sendwatch("metrics", "--events", str(path))
    assert done.returncode == 1
    assert orjson.loads(done.stdout)["dead_letters"] == 2
