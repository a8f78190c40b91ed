"""DfE's measures as DfE publishes them (``projections.dfe``, docs/dfe-measures.md): a small
history worked out by hand, day by day, then ``sendwatch dfe`` and ``GET /api/dfe`` over it,
and a property over random histories that the counts hold together.

Day 0 is the day the request was received (or the review meeting held): "within 20 weeks"
is on or before day 140, "within 16 weeks" day 112, "within 6 weeks" day 42, "within 4
weeks" day 28; over 52 weeks is day 365 or later.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from events import Event
from projections.case import CaseFile, fold_case
from projections.dfe import GROUPS, dfe_measures
from sendwatch.cli import app as cli
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import EventLog
from tests.history import event, raw

NOW = date(2026, 1, 31)  # the day the history is read as at
TOKEN = "test-token-dfe"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def history() -> list[dict[str, Any]]:
    """Thirteen cases, each one rule of DfE's counting (the year asked about is 2025)."""
    rows: list[tuple[str, str, str, dict[str, Any]]] = [
        # A: request 6 Jan 2025; decided to assess 17 Feb (day 42: within 6 weeks); plan
        # issued 26 May (day 140: within 20 weeks)
        ("request.received", "KC-A", "2025-01-06", {"requested_by": "parent"}),
        ("assessment.decided", "KC-A", "2025-02-17", {"decision": "assess"}),
        ("plan.issued", "KC-A", "2025-05-26", {}),
        # B: request 6 Jan 2025; assess 18 Feb (day 43: over 6 weeks); plan issued 27 May
        # (day 141: over 20 weeks, in the 20-52 band)
        ("request.received", "KC-B", "2025-01-06", {"requested_by": "school"}),
        ("assessment.decided", "KC-B", "2025-02-18", {"decision": "assess"}),
        ("plan.issued", "KC-B", "2025-05-27", {}),
        # C: request 6 Jan 2025; assess 10 Feb (day 35); a 20-week exception on 1 Mar; plan
        # issued 1 Jul (day 176: late, 20-52 band): in "including", dropped from "excluding"
        ("request.received", "KC-C", "2025-01-06", {"requested_by": "parent"}),
        ("assessment.decided", "KC-C", "2025-02-10", {"decision": "assess"}),
        (
            "exception.applied",
            "KC-C",
            "2025-03-01",
            {"clock": "final_plan", "ground": "personal_circumstances"},
        ),
        ("plan.issued", "KC-C", "2025-07-01", {}),
        # D: request 1 Oct 2024 (received in 2024); assess 5 Nov 2024 (day 35, a 2024
        # decision); plan issued 10 Feb 2025 (day 132: within 20 weeks), counted in 2025
        ("request.received", "KC-D", "2024-10-01", {"requested_by": "parent"}),
        ("assessment.decided", "KC-D", "2024-11-05", {"decision": "assess"}),
        ("plan.issued", "KC-D", "2025-02-10", {}),
        # E: request 6 Jan 2025; assess 3 Feb (day 28); no plan, told 28 Apr (day 112: within
        # 16 weeks, exactly)
        ("request.received", "KC-E", "2025-01-06", {"requested_by": "health"}),
        ("assessment.decided", "KC-E", "2025-02-03", {"decision": "assess"}),
        ("plan.decided", "KC-E", "2025-04-28", {"decision": "not_issue"}),
        # F: request 6 Jan 2025; assess 3 Feb (day 28); no plan, told 29 Apr (day 113: over)
        ("request.received", "KC-F", "2025-01-06", {"requested_by": "parent"}),
        ("assessment.decided", "KC-F", "2025-02-03", {"decision": "assess"}),
        ("plan.decided", "KC-F", "2025-04-29", {"decision": "not_issue"}),
        # G: request 3 Mar 2025; refused 14 Apr (day 42: within 6 weeks)
        ("request.received", "KC-G", "2025-03-03", {"requested_by": "parent"}),
        ("assessment.decided", "KC-G", "2025-04-14", {"decision": "refuse"}),
        # H: request 1 Dec 2025, withdrawn 15 Dec before a decision
        ("request.received", "KC-H", "2025-12-01", {"requested_by": "parent"}),
        ("request.withdrawn", "KC-H", "2025-12-15", {}),
        # I: request 15 Dec 2025, still undecided on 31 Jan 2026 (day 47)
        ("request.received", "KC-I", "2025-12-15", {"requested_by": "school"}),
        # J: request 8 Jan 2024; assess 12 Feb 2024; plan issued 13 Jan 2025 (day 371, 2024
        # being a leap year: over 52 weeks)
        ("request.received", "KC-J", "2024-01-08", {"requested_by": "parent"}),
        ("assessment.decided", "KC-J", "2024-02-12", {"decision": "assess"}),
        ("plan.issued", "KC-J", "2025-01-13", {}),
        # K: a plan issued 1 Mar 2024 (its request before the events): review due 1 Mar 2025;
        # meeting 3 Feb 2025, decided 3 Mar (day 28: within 4 weeks). A move to secondary
        # school on 1 Sep 2025: the plan must be amended by 15 Feb 2025; done 14 Feb (in time)
        ("plan.issued", "KC-K", "2024-03-01", {}),
        ("transfer.due", "KC-K", "2024-09-10", {"transfer_date": "2025-09-01", "kind": "school"}),
        ("review.meeting_held", "KC-K", "2025-02-03", {}),
        ("transfer.setting_named", "KC-K", "2025-02-14", {}),
        ("review.decided", "KC-K", "2025-03-03", {"decision": "maintain"}),
        # L: a plan issued 3 Jun 2024: review due 3 Jun 2025; meeting 12 May 2025, decided 10
        # Jun (day 29: after 4 weeks). A move to post-16 on 1 Sep 2025: deadline 31 Mar 2025;
        # the setting named 2 Apr (late)
        ("plan.issued", "KC-L", "2024-06-03", {}),
        ("transfer.due", "KC-L", "2024-10-01", {"transfer_date": "2025-09-01", "kind": "post16"}),
        ("review.meeting_held", "KC-L", "2025-05-12", {}),
        ("transfer.setting_named", "KC-L", "2025-04-02", {}),
        ("review.decided", "KC-L", "2025-06-10", {"decision": "amend"}),
        # M: a plan issued 2 Sep 2024 and ceased 1 May 2025, before its review was due on
        # 2 Sep 2025: no review expected
        ("plan.issued", "KC-M", "2024-09-02", {}),
        ("plan.ceased", "KC-M", "2025-05-01", {"reason": "moved to another council"}),
    ]
    return [
        raw(kind, case, on, eid=f"e{n}", **data) for n, (kind, case, on, data) in enumerate(rows)
    ]


def cases(records: list[dict[str, Any]], now: date = NOW) -> list[CaseFile]:
    events = [event(r["type"], r["case_id"], r["occurred_at"], **r["data"]) for r in records]
    by_case: dict[str, list[Event]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    return [fold_case(case_id, found, now) for case_id, found in sorted(by_case.items())]


def values(result: dict[str, Any], group: str) -> dict[str, Any]:
    return {name: figure["value"] for name, figure in result[group].items()}


@pytest.fixture(scope="module")
def y2025() -> dict[str, Any]:
    return dfe_measures(cases(history()), 2025)


# --- timeliness_20_week.csv --------------------------------------------------------------------


def test_plans_issued_in_2025_are_counted_in_the_bands_by_the_day_of_issue(
    y2025: dict[str, Any],
) -> None:
    t = values(y2025, "timeliness_20_week")
    # issued in 2025: A (day 140), B (141), C (176, excepted), D (132, requested in 2024),
    # J (371)
    assert t["plans_issued"] == 5
    assert t["within_20_weeks"] == 2  # A on day 140, D on day 132; B on day 141 is not
    assert t["over_20_up_to_52_weeks"] == 2  # B, C
    assert t["over_52_weeks"] == 1  # J
    assert t["rate_within_20_weeks"] == 0.4
    assert t["rate_over_20_up_to_52_weeks"] == 0.4
    assert t["rate_over_52_weeks"] == 0.2
    # (140 + 141 + 176 + 132 + 371) / 5 = 192 days = 27.43 weeks
    assert t["average_weeks"] == 27.4


def test_an_excepted_plan_counts_including_exceptions_and_is_dropped_excluding_them(
    y2025: dict[str, Any],
) -> None:
    t = values(y2025, "timeliness_20_week")
    # C is dropped: A, B, D, J remain
    assert t["plans_issued_ex"] == 4
    assert t["within_20_weeks_ex"] == 2
    assert t["over_20_up_to_52_weeks_ex"] == 1  # B only
    assert t["over_52_weeks_ex"] == 1
    assert t["rate_within_20_weeks_ex"] == 0.5
    # (140 + 141 + 132 + 371) / 4 = 196 days = 28.0 weeks
    assert t["average_weeks_ex"] == 28.0


def test_a_plan_requested_in_2024_and_issued_in_2025_counts_in_2025_only() -> None:
    y2024 = values(dfe_measures(cases(history()), 2024), "timeliness_20_week")
    assert y2024["plans_issued"] == 0  # D and J were requested in 2024, issued in 2025
    assert y2024["rate_within_20_weeks"] is None  # no plan: no rate
    assert y2024["average_weeks"] is None
    requests = values(dfe_measures(cases(history()), 2024), "requests")
    assert requests["requests_received"] == 2  # D and J
    assert requests["decided_within_6_weeks"] == 2  # D on day 35, J on day 35 (12 Feb 2024)


def test_the_figures_name_the_dfe_columns_they_stand_beside(y2025: dict[str, Any]) -> None:
    t = y2025["timeliness_20_week"]
    assert t["plans_issued"]["dfe_column"] == "plans_issued_den"
    assert t["rate_within_20_weeks_ex"]["dfe_column"] == "PC_plans_issued_20_weeks_ex"
    assert t["over_52_weeks"]["dfe_column"] == "plans_issued_gt_1_year"
    assert t["plans_issued"]["dfe_file"] == "timeliness_20_week.csv"
    assert "day 140" in t["within_20_weeks"]["note"]
    assert "calendar year" in t["within_20_weeks"]["note"]
    assert y2025["annual_reviews"]["review_meetings_held"]["dfe_column"] == "review_meeting_25"
    assert all(f["note"] for g in GROUPS for f in y2025[g].values())


# --- requests.csv and assessments.csv -----------------------------------------------------------


def test_requests_received_in_2025_by_what_became_of_them(y2025: dict[str, Any]) -> None:
    r = values(y2025, "requests")
    # received in 2025: A, B, C, E, F (assessed), G (refused), H (withdrawn), I (ongoing)
    assert r["requests_received"] == 8
    assert r["decided_to_assess"] == 5
    assert r["decided_not_to_assess"] == 1
    assert r["withdrawn"] == 1
    assert r["decision_not_made"] == 1


def test_a_request_that_ended_in_a_plan_was_assessed_without_a_recorded_decision() -> None:
    records = [
        # request 2 Jun 2025, plan issued 1 Sep 2025 (day 91), no decision to assess recorded
        raw("request.received", "KC-N", "2025-06-02", eid="n1", requested_by="parent"),
        raw("plan.issued", "KC-N", "2025-09-01", eid="n2"),
        # request 2 Jun 2025, told no plan 1 Sep 2025, no decision to assess recorded
        raw("request.received", "KC-O", "2025-06-02", eid="o1", requested_by="parent"),
        raw("plan.decided", "KC-O", "2025-09-01", eid="o2", decision="not_issue"),
    ]
    r = values(dfe_measures(cases(records), 2025), "requests")
    assert r["requests_received"] == 2
    assert r["decided_to_assess"] == 2
    assert r["decision_not_made"] == 0
    assert r["decisions_made"] == 0  # no decision day: not in the 6-week figures


def test_decisions_to_assess_or_not_made_in_2025_within_6_weeks(y2025: dict[str, Any]) -> None:
    r = values(y2025, "requests")
    # decided in 2025: A day 42, B day 43, C day 35, E day 28, F day 28, G day 42 (refused);
    # D and J were decided in 2024
    assert r["decisions_made"] == 6
    assert r["decided_within_6_weeks"] == 5  # all but B
    assert r["decided_over_6_weeks"] == 1
    assert r["rate_decided_within_6_weeks"] == 0.8333


def test_decisions_not_to_issue_within_16_weeks(y2025: dict[str, Any]) -> None:
    a = values(y2025, "assessments")
    assert a["decided_not_to_issue"] == 2  # E and F
    assert a["not_to_issue_within_16_weeks"] == 1  # E on day 112
    assert a["not_to_issue_over_16_weeks"] == 1  # F on day 113
    assert a["rate_not_to_issue_within_16_weeks"] == 0.5


# --- annual_reviews.csv and phase transfers -----------------------------------------------------


def test_annual_reviews_expected_held_and_decided_within_4_weeks(y2025: dict[str, Any]) -> None:
    v = values(y2025, "annual_reviews")
    # due in 2025: K (1 Mar), L (3 Jun); M ceased before its review was due; the plans
    # issued in 2025 are due in 2026
    assert v["reviews_expected"] == 2
    assert v["review_meetings_held"] == 2  # K 3 Feb, L 12 May
    assert v["decided_within_4_weeks"] == 1  # K on day 28
    assert v["decided_after_4_weeks"] == 1  # L on day 29
    assert v["decision_outstanding"] == 0
    assert v["rate_decided_within_4_weeks"] == 0.5


def test_phase_transfers_due_in_2025_and_finalised_by_the_deadline(y2025: dict[str, Any]) -> None:
    v = values(y2025, "phase_transfers")
    assert v["transfers_due"] == 2  # K by 15 Feb 2025, L by 31 Mar 2025
    assert v["finalised_by_deadline"] == 1  # K on 14 Feb
    assert v["finalised_after_deadline"] == 1  # L on 2 Apr
    assert v["not_finalised"] == 0
    assert v["rate_finalised_by_deadline"] == 0.5


def test_a_year_before_ehc_plans_is_refused() -> None:
    with pytest.raises(ValueError, match="year"):
        dfe_measures([], 2013)


# --- the counts hold together over any history ----------------------------------------------


@st.composite
def random_case(draw: st.DrawFn, n: int) -> list[Event]:
    case = f"KC-P{n}"
    ids = itertools.count()
    received = date(2023, 1, 1) + timedelta(days=draw(st.integers(0, 3 * 365)))
    out = [event("request.received", case, received.isoformat(), requested_by="parent")]

    def add(kind: str, day: date, **data: Any) -> None:
        out.append(event(kind, case, day.isoformat(), eid=f"{case}-{next(ids)}", **data))

    decided = received + timedelta(days=draw(st.integers(0, 90)))
    ending = draw(st.sampled_from(["plan", "no_plan", "refuse", "withdrawn", "open"]))
    recorded = draw(st.booleans())  # the decision to assess may be missing (as in SEN2)
    if draw(st.booleans()):
        add("exception.applied", decided, clock="final_plan", ground="absence")
    if ending == "withdrawn":
        add("request.withdrawn", decided)
    elif ending == "refuse":
        add("assessment.decided", decided, decision="refuse")
    elif ending != "open":
        if recorded:
            add("assessment.decided", decided, decision="assess")
        later = decided + timedelta(days=draw(st.integers(0, 450)))
        if ending == "plan":
            add("plan.issued", later)
        else:
            add("plan.decided", later, decision="not_issue")
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda k: st.tuples(*(random_case(n) for n in range(k)))))
def test_the_counts_are_consistent_over_any_history(histories: tuple[list[Event], ...]) -> None:
    folded = [fold_case(h[0].case_id, h, date(2027, 12, 31)) for h in histories]
    issued = sum(1 for c in folded for run in c.clocks if run.clock == "final_plan" and run.stop)
    counted = 0
    for year in range(2023, 2028):
        result = dfe_measures(folded, year)
        t = values(result, "timeliness_20_week")
        for ex in ("", "_ex"):
            bands = ("within_20_weeks", "over_20_up_to_52_weeks", "over_52_weeks")
            assert sum(t[b + ex] for b in bands) == t["plans_issued" + ex]
        for name, value in t.items():
            if not name.endswith("_ex") and not name.startswith(("rate_", "average_")):
                assert t[name + "_ex"] <= value
        r = values(result, "requests")
        outcomes = ("decided_to_assess", "decided_not_to_assess", "withdrawn", "decision_not_made")
        assert sum(r[o] for o in outcomes) == r["requests_received"]
        assert r["decided_within_6_weeks"] + r["decided_over_6_weeks"] == r["decisions_made"]
        a = values(result, "assessments")
        assert (
            a["not_to_issue_within_16_weeks"] + a["not_to_issue_over_16_weeks"]
            == (a["decided_not_to_issue"])
        )
        counted += t["plans_issued"]
    # every plan issued is counted once, in the year it was issued (2023 to 2027)
    assert counted == issued


# --- sendwatch dfe and GET /api/dfe ------------------------------------------------------------


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in history()))
    return path


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def test_the_dfe_command_prints_the_measures_as_json(
    events_file: Path, y2025: dict[str, Any]
) -> None:
    done = run_cli("dfe", "--year", "2025", "--events", str(events_file), "--now", str(NOW))
    assert done.exit_code == 0, done.output
    printed = orjson.loads(done.stdout)
    assert printed["now"] == "2026-01-31"
    assert printed["complete"] is True
    assert {k: printed[k] for k in y2025} == y2025


def test_the_dfe_command_defaults_to_the_last_complete_year(events_file: Path) -> None:
    done = run_cli("dfe", "--events", str(events_file), "--now", str(NOW))
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["year"] == 2025


def test_the_dfe_command_prints_a_table_with_the_dfe_columns_and_notes(events_file: Path) -> None:
    done = run_cli(
        "dfe",
        "--year",
        "2025",
        "--events",
        str(events_file),
        "--now",
        str(NOW),
        "--format",
        "table",
    )
    assert done.exit_code == 0, done.output
    out = done.stdout
    assert "DfE's measures for 2025" in out
    assert "plans_issued_within_20_weeks" in out
    assert "40.0%" in out  # within 20 weeks, including exceptions
    assert "27.4 weeks" in out
    # each figure has its note's number; the notes follow, each once
    assert "How DfE counts each figure:" in out
    assert "[1] DfE counts a calendar year" in out
    assert "[3]" in out.split("How DfE counts")[0]  # within 20 weeks shares note 3 with the bands


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2013"], "--year: expected a calendar year from 2014"),
        (["--year", "2027"], "--year: expected a calendar year from 2014"),
        (["--format", "xml"], "--format: expected json or table"),
        (["--now", "31/01/2026"], "--now: expected a date"),
    ],
)
def test_the_dfe_command_refuses_bad_options(
    events_file: Path, args: list[str], message: str
) -> None:
    done = run_cli("dfe", "--events", str(events_file), "--now", str(NOW), *args)
    assert done.exit_code == 2
    assert message in done.stderr


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=NOW, council="886")
    http = TestClient(embedded_app(source, token=TOKEN))
    body = b"".join(orjson.dumps(r) + b"\n" for r in history())
    posted = http.post(
        "/api/events", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"}
    )
    assert posted.json()["accepted"] == len(history())
    yield http
    http.close()
    log.close()


def test_the_api_answers_what_the_command_prints(service: TestClient, events_file: Path) -> None:
    answer = service.get("/api/dfe?year=2025", headers=AUTH)
    assert answer.status_code == 200
    done = run_cli("dfe", "--year", "2025", "--events", str(events_file), "--now", str(NOW))
    assert answer.json() == orjson.loads(done.stdout)
    # no year: the last complete year before the service's now (31 Jan 2026)
    assert service.get("/api/dfe", headers=AUTH).json()["year"] == 2025


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("year=twenty", "year: expected a calendar year such as 2025"),
        ("year=2013", "year: expected a calendar year from 2014"),
        ("year=2030", "year: expected a calendar year from 2014"),
        ("year=2025&from=2025-01-01", "unknown query parameter 'from'"),
        ("year=2025&now=tomorrow", "now: expected a date"),
    ],
)
def test_the_api_refuses_a_bad_year_with_a_clear_message(
    service: TestClient, query: str, message: str
) -> None:
    answer = service.get(f"/api/dfe?{query}", headers=AUTH)
    assert answer.status_code == 400
    assert message in answer.json()["detail"]


def test_the_year_of_now_is_the_year_so_far(service: TestClient) -> None:
    # now is 31 Jan 2026: 2026 has begun but not ended
    answer = service.get("/api/dfe?year=2026", headers=AUTH).json()
    assert answer["complete"] is False
    assert answer["timeliness_20_week"]["plans_issued"]["value"] == 0


def test_the_api_needs_the_token(service: TestClient) -> None:
    assert service.get("/api/dfe?year=2025").status_code == 401
