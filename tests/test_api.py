"""The HTTP API of CONTRACT.md section 4 over the embedded source: every endpoint with good
and bad input. The app runs in process (FastAPI's test client) over a real SQLite log; the
last tests start the real ``sendwatch run``."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alerts.store import SqliteAlertStore, alerts_path
from sendwatch.cli import app as cli
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import EventLog, connect
from tests.running_service import (
    NOW,
    TOKEN,
    history,
    jsonl,
    running_service,
    sendwatch_run_command,
)
from tests.services import free_port, promtool_problems, stop

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}
UNKNOWN = {
    "event_id": "x1",
    "type": "request.teleported",
    "case_id": "KC-X",
    "occurred_at": "2025-06-01",
    "data": {},
}


class Service:
    def __init__(self, tmp: Path, max_body: int = 1_000_000) -> None:
        self.log = EventLog(tmp / "events.db")
        self.source = EmbeddedSource(self.log, frozen_now=date.fromisoformat(NOW), council="886")
        self.http = TestClient(embedded_app(self.source, token=TOKEN, max_body=max_body))

    def post(self, body: bytes, headers: dict[str, str] = NDJSON) -> httpx.Response:
        answer: httpx.Response = self.http.post("/api/events", content=body, headers=headers)
        return answer

    def stored(self) -> tuple[int, int]:
        """(events in the log, dead letters in the log)"""
        return self.log.count(), self.log.dead_letter_count()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    s = Service(tmp_path)
    yield s
    s.http.close()
    s.log.close()


@pytest.fixture
def loaded(service: Service) -> Service:
    assert service.post(jsonl(history())).json()["accepted"] == len(history())
    return service


# --- the token (CONTRACT.md section 4) ------------------------------------------------------

PROTECTED = [
    ("POST", "/api/events"),
    ("GET", "/api/measures"),
    ("GET", "/api/cases/KC-A"),
    ("GET", "/api/scorecard"),
    ("GET", "/api/trend"),
    ("GET", "/api/alerts"),
    ("GET", "/api/clocks"),
    ("GET", "/api/quarantine"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_without_a_token_the_api_answers_401_naming_the_bearer_token(
    loaded: Service, method: str, path: str
) -> None:
    body = jsonl(history()[:1]) if method == "POST" else None
    missing = loaded.http.request(method, path, content=body)
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("missing bearer token")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = loaded.http.request(
        method, path, content=body, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"].startswith("invalid bearer token")
    assert loaded.stored() == (len(history()), 0)  # nothing stored by the refused POSTs


def test_health_metrics_and_the_dashboard_need_no_token(loaded: Service) -> None:
    health = loaded.http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["events"] == len(history())
    assert health.json()["cases"] == 9
    assert loaded.http.get("/metrics").status_code == 200
    page = loaded.http.get("/")
    assert page.status_code == 200 and "<main" in page.text
    for name in ("app.js", "app.css"):
        assert loaded.http.get(f"/static/{name}").status_code == 200


# --- POST /api/events -------------------------------------------------------------------


def test_jsonl_with_an_invalid_line_stores_the_rest_and_dead_letters_that_line(
    service: Service,
) -> None:
    lines = [orjson.dumps(e) for e in history()[:5]]
    lines.insert(2, orjson.dumps(UNKNOWN))
    lines.insert(4, b"")  # a blank line is skipped, not rejected, and still counts as a line
    answer = service.post(b"\n".join(lines))
    assert answer.status_code == 200
    assert answer.json() == {
        "accepted": 5,
        "duplicates": 0,
        "rejected": [{"line": 3, "reason": "type: unknown event type 'request.teleported'"}],
    }
    assert service.stored() == (5, 1)
    dead = service.log.dead_letters()[0]
    assert dead.origin == "POST /api/events line 3" and dead.raw == orjson.dumps(UNKNOWN)
    assert service.http.get("/healthz").json()["dead_letters"] == 1


def test_admins_list_and_purge_the_dead_letters_through_the_api(service: Service) -> None:
    lines = [orjson.dumps(e) for e in history()[:3]]
    lines.insert(1, orjson.dumps(UNKNOWN))
    assert service.post(b"\n".join(lines)).status_code == 200
    listed = service.http.get("/api/dead-letters", headers=AUTH).json()
    assert (listed["stored"], listed["purged"]) == (1, 0)
    (letter,) = listed["dead_letters"]
    assert letter["origin"] == "POST /api/events line 2"
    assert letter["reason"] == "type: unknown event type 'request.teleported'"
    assert orjson.loads(letter["raw"]) == UNKNOWN
    kept = service.http.delete("/api/dead-letters", params={"before": "2000-01-01"}, headers=AUTH)
    assert kept.json() == {"purged": 0, "stored": 1, "before": "2000-01-01"}
    gone = service.http.delete("/api/dead-letters", params={"before": "2100-01-01"}, headers=AUTH)
    assert gone.json() == {"purged": 1, "stored": 0, "before": "2100-01-01"}
    # the measure keeps counting lines ever rejected
    assert service.http.get("/healthz").json()["dead_letters"] == 1
    bad = service.http.delete("/api/dead-letters", params={"before": "soon"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("before:")


def test_posting_the_same_events_again_changes_nothing(loaded: Service) -> None:
    before = loaded.http.get("/api/measures", headers=AUTH).json()
    again = loaded.post(jsonl(history()))
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": len(history()), "rejected": []}
    assert loaded.http.get("/api/measures", headers=AUTH).json() == before
    assert loaded.stored() == (len(history()), 0)


def test_json_takes_one_object_or_an_array_whose_lines_are_item_positions(
    service: Service,
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    one = service.post(orjson.dumps(history()[0]), headers)
    assert one.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    bad = {**history()[2], "case_id": "Jane Smith"}  # a name is never a case id
    items = [history()[1], bad, history()[3]]
    answer = service.post(orjson.dumps(items), headers).json()
    assert answer["accepted"] == 2
    assert [r["line"] for r in answer["rejected"]] == [2]
    assert answer["rejected"][0]["reason"].startswith("case_id:")
    assert service.stored() == (3, 1)


def test_a_malformed_jsonl_line_is_a_dead_letter_naming_its_line_and_the_rest_are_stored(
    service: Service,
) -> None:
    # each JSONL line is an event of its own, as for ``sendwatch ingest`` and on Kafka
    cut = b'{"event_id": "z1", "type": '
    body = jsonl(history()[:2]) + cut + b"\n" + jsonl(history()[2:3])
    answer = service.post(body)
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 3
    [rejected] = answer.json()["rejected"]
    assert rejected["line"] == 3
    assert rejected["reason"].startswith("not valid JSON")
    assert service.stored() == (3, 1)


def test_a_jsonl_body_of_no_valid_json_is_422_and_every_line_a_dead_letter(
    service: Service,
) -> None:
    pretty = orjson.dumps(history()[0], option=orjson.OPT_INDENT_2)  # JSON sent as JSONL
    answer = service.post(pretty)
    assert answer.status_code == 422
    lines = len([line for line in pretty.splitlines() if line.strip()])
    assert len(answer.json()["rejected"]) == lines
    assert service.stored() == (0, lines)


def test_malformed_json_is_refused_whole_naming_the_line(service: Service) -> None:
    body = b'[\n{"event_id": "a1"},\n{"event_id" "a2"}\n]'
    answer = service.post(body, {**AUTH, "Content-Type": "application/json; charset=utf-8"})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("malformed JSON at line 3")
    assert service.stored() == (0, 0)


def test_a_body_with_no_valid_event_is_422_and_its_items_are_dead_letters(
    service: Service,
) -> None:
    answer = service.post(orjson.dumps(UNKNOWN))
    assert answer.status_code == 422
    assert answer.json()["accepted"] == 0
    assert answer.json()["rejected"] == [
        {"line": 1, "reason": "type: unknown event type 'request.teleported'"}
    ]
    assert service.stored() == (0, 1)


def test_an_oversized_body_is_413_and_nothing_is_stored(tmp_path: Path) -> None:
    small = Service(tmp_path, max_body=2_000)
    body = jsonl(history())
    assert len(body) > 2_000
    answer = small.post(body)
    assert answer.status_code == 413
    assert "larger than 2,000 bytes" in answer.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for n in range(0, len(body), 500):
            yield body[n : n + 500]

    streamed = small.http.post("/api/events", content=chunks(), headers=NDJSON)
    assert streamed.status_code == 413
    assert small.stored() == (0, 0)
    small.http.close()
    small.log.close()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"", "application/x-ndjson", 400, "the body has no events"),
        (b"\n  \n", "application/x-ndjson", 400, "the body has no events"),
        (b"[]", "application/json", 400, "the body has no events (an empty array)"),
        (b"a,b\n1,2", "text/csv", 415, "Content-Type 'text/csv' is not accepted"),
    ],
)
def test_empty_bodies_and_other_content_types_are_refused(
    service: Service, body: bytes, content_type: str, status: int, detail: str
) -> None:
    answer = service.post(body, {**AUTH, "Content-Type": content_type})
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(detail)
    assert service.stored() == (0, 0)


def test_posted_events_are_applied_incrementally(loaded: Service) -> None:
    projector = loaded.source.projector
    before = loaded.http.get("/api/measures", headers=AUTH).json()
    new = {
        "event_id": "c2",
        "type": "assessment.decided",
        "case_id": "KC-C",
        "occurred_at": "2025-06-30",
        "data": {"decision": "assess"},
    }
    assert loaded.post(orjson.dumps(new)).json()["accepted"] == 1
    after = loaded.http.get("/api/measures", headers=AUTH).json()
    assert loaded.source.projector is projector  # the same projector, never rebuilt
    assert projector.position == loaded.log.head() == len(history()) + 1
    # KC-C's overdue assessment decision (due 12 June) is now completed, late
    assert before["assess_decision"]["overdue"] == 1 and after["assess_decision"]["overdue"] == 0
    assert after["assess_decision"]["completed"] == before["assess_decision"]["completed"] + 1
    assert after["assess_decision"]["on_time"] == before["assess_decision"]["on_time"]
    assert loaded.source.counters.accepted == len(history()) + 1


# --- GET /api/measures equals `sendwatch metrics` ------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2025-01-01", "to": "2025-03-31"},
        {"now": "2025-06-15"},
        {"as_at": "2025-06-28T23:00:00+01:00"},
        {"from": "2025-05-01", "to": "2025-06-30", "now": "2025-06-30", "as_at": "2025-06-29"},
    ],
)
def test_measures_equal_the_metrics_command_on_the_same_events(
    service: Service, tmp_path: Path, params: dict[str, str]
) -> None:
    lines = [*(orjson.dumps(e) for e in history()), orjson.dumps(UNKNOWN)]
    service.post(b"\n".join(lines))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    options = {"from": "--from", "to": "--to", "now": "--now", "as_at": "--as-at"}
    args = ["metrics", "--events", str(path), "--now", params.get("now", NOW)]
    for key, value in params.items():
        if key != "now":
            args += [options[key], value]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = orjson.loads(result.stdout)
    answer = service.http.get("/api/measures", params=params, headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == expected
    assert expected["dead_letters"] == 1


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2025-13-01"}, "from: expected a date YYYY-MM-DD, got '2025-13-01'"),
        ({"to": "yesterday"}, "to: expected a date YYYY-MM-DD, got 'yesterday'"),
        ({"now": "30/06/2025"}, "now: expected a date YYYY-MM-DD, got '30/06/2025'"),
        ({"as_at": "soon"}, "as_at: expected an ISO 8601 datetime, got 'soon'"),
        ({"from": "2025-06-01", "to": "2025-05-01"}, "from (2025-06-01) is after to"),
        ({"form": "2025-01-01"}, "unknown query parameter 'form'"),
    ],
)
def test_a_bad_query_parameter_is_400_naming_it(
    loaded: Service, params: dict[str, str], detail: str
) -> None:
    answer = loaded.http.get("/api/measures", params=params, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(detail)


# --- cases, scorecard, trend, alerts, clocks --------------------------------------------


def test_a_case_shows_its_clocks_and_history(loaded: Service) -> None:
    view = loaded.http.get("/api/cases/KC-B", headers=AUTH).json()
    final = next(c for c in view["clocks"] if c["clock"] == "final_plan")
    # requested 2 Dec 2024 + 140 days = 21 Apr 2025; issued 2 Jun: late, excepted
    assert (final["due"], final["stop"], final["state"], final["excepted"]) == (
        "2025-04-21",
        "2025-06-02",
        "late",
        True,
    )
    assert final["citation"] == "SEND Regs 2014 reg 13(2)"
    assert [e["event_id"] for e in view["history"]] == ["b1", "b6", "b2", "b3", "b4", "b5"]
    assert view["exceptions"][0]["ground"] == "personal_circumstances"


def test_an_unknown_case_is_404_and_a_bad_date_400(loaded: Service) -> None:
    missing = loaded.http.get("/api/cases/KC-NOPE", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no case 'KC-NOPE'"
    bad = loaded.http.get("/api/cases/KC-A", params={"now": "June"}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("now: expected a date")


# --- quarantine (CONTRACT.md 1.1) -------------------------------------------------------


def test_a_quarantined_case_is_listed_counted_and_explained_and_the_rest_served(
    tmp_path: Path,
) -> None:
    """KC-B's plan decision (b4) makes the fold raise: KC-B is set aside. /healthz still
    answers ok and names it, GET /api/quarantine lists it with the error and its event ids,
    its case page says why it cannot be shown (409), /metrics counts it, and every figure is
    that of the other cases."""
    from tests.test_quarantine import FAULT, poisoned

    for folder in ("clean", "poisoned"):
        (tmp_path / folder).mkdir()
    clean = Service(tmp_path / "clean")
    clean.post(jsonl([e for e in history() if e["case_id"] != "KC-B"]))
    with poisoned("b4", "plan.decided"):
        service = Service(tmp_path / "poisoned")
        assert service.post(jsonl(history())).json()["accepted"] == len(history())
        health = service.http.get("/healthz")
        listed = service.http.get("/api/quarantine", headers=AUTH)
        case = service.http.get("/api/cases/KC-B", headers=AUTH)
        metrics = service.http.get("/metrics").text
        measures = service.http.get("/api/measures", headers=AUTH).json()
        assert service.http.get("/api/cases/KC-A", headers=AUTH).status_code == 200
    assert health.status_code == 200 and health.json()["ok"] is True
    assert health.json()["quarantine"] == {"cases": 1, "case_ids": ["KC-B"], "more": 0}
    assert health.json()["events"] == len(history())  # its events are kept
    assert listed.status_code == 200
    (entry,) = listed.json()["quarantined"]
    assert listed.json()["cases"] == 1
    assert (entry["case_id"], entry["error"], entry["last_event_id"]) == ("KC-B", FAULT, "b4")
    assert sorted(entry["event_ids"]) == ["b1", "b2", "b3", "b4", "b5", "b6"]
    assert entry["stage"] == "fold" and entry["events"] == 6
    assert case.status_code == 409
    assert case.json()["detail"].startswith("case 'KC-B' is quarantined")
    assert FAULT in case.json()["detail"]
    assert case.json()["quarantined"]["case_id"] == "KC-B"
    assert "sendwatch_quarantined_cases 1.0" in metrics
    assert promtool_problems(metrics) == []
    assert measures == clean.http.get("/api/measures", headers=AUTH).json()
    assert "sendwatch_quarantined_cases 0.0" in clean.http.get("/metrics").text
    assert clean.http.get("/healthz").json()["quarantine"]["cases"] == 0
    for s in (clean, service):
        s.http.close()
        s.log.close()


def test_healthz_lists_the_first_20_quarantined_cases() -> None:
    from observability.health import Health
    from projections.projector import Quarantined

    aside = tuple(
        Quarantined(f"K{n:02}", "E: x", "", "fold", None, ("e",), 0, datetime.now(UTC))
        for n in range(23)
    )
    summary = Health(True, 0, 0, 0, None, quarantined=aside).quarantine_summary()
    assert summary == {"cases": 23, "case_ids": [f"K{n:02}" for n in range(20)], "more": 3}


def test_healthz_is_503_while_the_alert_process_is_failing(tmp_path: Path) -> None:
    """``sendwatch run``'s alert process writes its status every second: silent for 30 s
    (ended and not restarted, or crash-looping), the service is not ok. A service that has
    just started gives it 120 s for its first judgement of every case."""
    with EventLog(tmp_path / "events.db") as log:
        source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), judge_alerts=False)
        http = TestClient(embedded_app(source, token=TOKEN))
        store = source.alert_store
        # just started, the alert process has said nothing yet: ok
        assert http.get("/healthz").status_code == 200
        # it speaks: ok
        store.write_status({"position": 0, "written_at": datetime.now(UTC).isoformat()})
        answer = http.get("/healthz").json()
        assert answer["ok"] is True and answer["alerts_failing"] is False
        # silent for 60 s
        ago = datetime.now(UTC) - timedelta(seconds=60)
        source._serving_since = ago - timedelta(seconds=1)
        store.write_status({"position": 0, "written_at": ago.isoformat()})
        failing = http.get("/healthz")
        assert failing.status_code == 503
        assert failing.json()["alerts_failing"] is True
        assert (
            failing.json()["alerts_failure"] == "the alert process has written no status for 60 s"
        )
        # a status written before the service started (an earlier run's) counts for nothing
        source._serving_since = datetime.now(UTC) - timedelta(seconds=200)
        store.write_status({"position": 0, "written_at": "2025-01-01T00:00:00+00:00"})
        assert http.get("/healthz").json()["alerts_failure"] == (
            "the alert process has written no status since the service started 200 s ago"
        )
        http.close()


def test_the_scorecard_rates_the_ten_points_from_the_live_measures(loaded: Service) -> None:
    card = loaded.http.get("/api/scorecard", headers=AUTH).json()
    assert (card["now"], card["from"], card["to"]) == (NOW, "2024-07-01", NOW)
    points = {p["point"]: p for p in card["points"]}
    assert sorted(points) == list(range(1, 11))
    # point 7: KC-G has been out of education since 1 May: 60 days, beyond the 56-day floor
    assert (points[7]["value"], points[7]["rag"]) == (60.0, "red")
    # point 2: 3 appealable decisions, 1 conceded: 66.7%, below the 90% floor
    assert (points[2]["value"], points[2]["rag"]) == (0.6667, "red")
    assert (points[10]["value"], points[10]["rag"]) == (2.0, "not rated")
    assert points[10]["status"] == "Counted, no standard set"


def test_the_trend_splits_the_12_months_by_month(loaded: Service) -> None:
    trend = loaded.http.get("/api/trend", params={"clock": "final_plan"}, headers=AUTH).json()
    months = trend["months"]
    assert [m["month"] for m in months][:2] == ["2024-07", "2024-08"]
    assert months[-1]["month"] == "2025-06" and len(months) == 12
    may, june = months[-2], months[-1]
    assert (may["completed"], may["on_time"], may["rate_incl_exceptions"]) == (1, 1, 1.0)
    # KC-B's late plan is excepted: excluded from the rate without exceptions
    assert (june["completed"], june["excepted"], june["rate_excl_exceptions"]) == (1, 1, None)
    year = loaded.http.get("/api/measures", headers=AUTH).json()["final_plan"]
    assert sum(m["completed"] for m in months) == year["completed"]
    assert sum(m["on_time"] for m in months) == year["on_time"]


def test_the_trend_marks_the_current_month_partial_until_its_last_day() -> None:
    from sendwatch.api import clock_trend

    # now 14 June: June so far (1 to 14 June) is a partial month, May a whole one
    may, june = clock_trend({}, "final_plan", date(2025, 6, 14), 2)
    assert (june["from"], june["to"], june["partial"]) == ("2025-06-01", "2025-06-14", True)
    assert (may["to"], may["partial"]) == ("2025-05-31", False)
    # on 30 June the month is whole
    assert not clock_trend({}, "final_plan", date(2025, 6, 30), 1)[0]["partial"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [({"clock": "tea_break"}, "clock: unknown clock 'tea_break'"), ({"months": "0"}, "months:")],
)
def test_a_bad_trend_parameter_is_400(loaded: Service, params: dict[str, str], detail: str) -> None:
    answer = loaded.http.get("/api/trend", params=params, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(detail)


def test_alerts_list_the_engines_alerts_and_metrics_count_them(loaded: Service) -> None:
    answer = loaded.http.get("/api/alerts", headers=AUTH).json()
    assert answer["now"] == NOW
    firing = [a for a in answer["alerts"] if a["state"] == "firing"]
    # KC-C's decision whether to assess was due on 12 June: a breach, with its case id
    assert any(a["case_id"] == "KC-C" and a["clock"] == "assess_decision" for a in firing), firing
    metrics = loaded.http.get("/metrics").text
    for severity in ("warning", "critical", "page"):
        count = sum(a["severity"] == severity for a in firing)
        assert f'sendwatch_alerts_firing{{severity="{severity}"}} {count:.1f}' in metrics


def test_alerts_limited_to_the_first_few_keep_the_counts_of_all(loaded: Service) -> None:
    """The dashboard asks for the gravest few (``limit``) and the counts of all that fire."""
    every = loaded.http.get("/api/alerts", headers=AUTH).json()
    firing = [a for a in every["alerts"] if a["state"] == "firing"]
    assert firing
    for severity in ("warning", "critical", "page"):
        assert every["firing"][severity] == sum(a["severity"] == severity for a in firing)
    for limit in (0, 1, 1000):
        some = loaded.http.get("/api/alerts", params={"limit": limit}, headers=AUTH).json()
        assert some["alerts"] == every["alerts"][:limit]
        assert some["firing"] == every["firing"]
    bad = loaded.http.get("/api/alerts", params={"limit": "-1"}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("limit: expected a whole number")


def test_clocks_list_each_clock_with_its_limit(loaded: Service) -> None:
    clocks = {c["id"]: c for c in loaded.http.get("/api/clocks", headers=AUTH).json()["clocks"]}
    assert clocks["assess_decision"]["label"] == "Decision whether to assess (6 weeks)"
    assert clocks["final_plan"]["label"] == "Final EHC plan issued (20 weeks)"
    assert clocks["contact_response"]["limit"] == "5 working days"
    assert clocks["tribunal_order"]["limit"] is None


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_show_the_measures_with_no_case_id(loaded: Service) -> None:
    text = loaded.http.get("/metrics").text
    measures = loaded.http.get("/api/measures", headers=AUTH).json()
    final = measures["final_plan"]
    assert f'sendwatch_clock_open{{clock="final_plan"}} {final["open"]:.1f}' in text
    assert 'sendwatch_clock_completed{clock="final_plan",window="12m"} 2.0' in text
    # the 28 days ending 30 June are 3 to 30 June: KC-B's plan of 2 June is just outside
    assert 'sendwatch_clock_completed{clock="final_plan",window="28d"} 0.0' in text
    assert 'sendwatch_clock_overdue{clock="assess_decision"} 1.0' in text
    assert 'sendwatch_clock_rate{clock="final_plan",exceptions="excluded",window="12m"} 1.0' in text
    assert 'sendwatch_clock_rate{clock="tribunal_order"' not in text  # no denominator
    assert 'sendwatch_appeals_concluded{against="refusal_to_assess",outcome="conceded"} 1.0' in text
    assert 'sendwatch_scorecard_status{point="7"} 2.0' in text
    ftr = measures["first_time_right"]  # how far the rate may still fall (CONTRACT.md 3)
    assert f"sendwatch_first_time_right_appeals_pending {ftr['appeals_pending']:.1f}" in text
    assert f"sendwatch_first_time_right_appeal_window_open {ftr['appeal_window_open']:.1f}" in text
    assert f"sendwatch_events_accepted_total {len(history()):.1f}" in text
    assert "sendwatch_cases 9.0" in text
    assert "KC-" not in text and "URN-" not in text  # never a case id or a setting id
    assert promtool_problems(text) == []


# --- the real command -------------------------------------------------------------------


def test_run_makes_and_prints_a_token_when_none_is_set(tmp_path: Path) -> None:
    import os
    import time

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SENDWATCH_API_TOKEN"}
    process = subprocess.Popen(
        sendwatch_run_command(tmp_path / "e.db", port),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while not any("API token" in line for line in printed):
            line = process.stdout.readline().decode()
            assert line or process.poll() is None, "sendwatch run stopped: " + "".join(printed)
            printed.append(line)
            assert time.monotonic() < deadline, "no token printed in 60 s"
        assert f"sendwatch: dashboard at http://127.0.0.1:{port}/\n" in printed
        token = printed[-1].rsplit(": ", 1)[1].strip()
        assert len(token) >= 30
        url = f"http://127.0.0.1:{port}/api/measures"
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not answer in 60 s"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert httpx.get(url, headers={"Authorization": "Bearer guess"}).status_code == 401
    finally:
        stop(process)


def test_targets_and_floors_come_from_sendwatch_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sendwatch.settings import scorecard_points

    path = tmp_path / "targets.yml"
    path.write_text("2: {target: 0.6, floor: 0.5}\n7: {floor: 90}\n")
    monkeypatch.setenv("SENDWATCH_TARGETS", str(path))
    points = scorecard_points()
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), points=points)
    with TestClient(embedded_app(source, token=TOKEN)) as http:
        http.post("/api/events", content=jsonl(history()), headers=NDJSON)
        card = {p["point"]: p for p in http.get("/api/scorecard", headers=AUTH).json()["points"]}
        metrics = http.get("/metrics").text
    log.close()
    # 66.7% right first time: red against the built-in 90% floor, green against a 60% target
    assert (card[2]["target"], card[2]["floor"], card[2]["rag"]) == (0.6, 0.5, "green")
    # 60 days out of education: red beyond 56 days, amber within a floor of 90
    assert (card[7]["target"], card[7]["floor"], card[7]["rag"]) == (28.0, 90.0, "amber")
    assert 'sendwatch_scorecard_floor{point="7"} 90.0' in metrics
    assert 'sendwatch_scorecard_status{point="7"} 1.0' in metrics


def test_a_post_leaves_saving_alerts_and_checkpointing_to_the_timer(tmp_path: Path) -> None:
    """As ``sendwatch run`` keeps them: a POST neither saves the alerts it changed nor
    copies the log's write-ahead log into the file; the timer's ``housekeeping`` does both."""
    db = tmp_path / "events.db"

    def events_in_the_file_alone() -> int:
        copy = tmp_path / "copy.db"  # the database file without its write-ahead log
        shutil.copy(db, copy)
        with sqlite3.connect(copy) as alone:
            tables = {name for (name,) in alone.execute("SELECT name FROM sqlite_master")}
            if "events" not in tables:
                return 0
            return int(alone.execute("SELECT count(*) FROM events").fetchone()[0])

    with (
        EventLog(db, autocheckpoint=False) as log,
        SqliteAlertStore(connect(alerts_path(db))) as reader,
    ):
        source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), deferred_saves=True)
        assert source.post_events(jsonl(history()), "test").accepted == len(history())
        firing = [a for a in source.alerts() if a["state"] == "firing"]
        assert firing and reader.load() == []
        assert events_in_the_file_alone() == 0
        source.housekeeping()
        assert sorted(a.fingerprint for a in reader.load()) == sorted(
            a["fingerprint"] for a in firing
        )
        assert events_in_the_file_alone() == len(history())


def test_sigterm_stops_the_service_gracefully_with_every_alert_saved(tmp_path: Path) -> None:
    """A batch that fires alerts, then SIGTERM at once (before the alert process has judged
    it, or the timer saved anything): both processes end cleanly, the alert process having
    judged the whole log and saved its alerts, so a restart lists them with the same
    ``startsAt``."""
    import signal

    db = tmp_path / "events.db"
    with running_service(db) as service, service.client() as http:
        posted = http.post("/api/events", content=jsonl(history()), headers=NDJSON)
        assert posted.json()["accepted"] == len(history())
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=60) == 0
    with SqliteAlertStore(connect(alerts_path(db))) as store:
        saved = {a.fingerprint: a.to_json()["startsAt"] for a in store.load()}
        assert store.status()["position"] == len(history())
    assert saved
    with running_service(db) as service, service.client() as http:
        service.alerts_judged()
        firing = [a for a in http.get("/api/alerts").json()["alerts"] if a["state"] == "firing"]
    assert {a["fingerprint"]: a["startsAt"] for a in firing} == saved
