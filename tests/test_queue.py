"""Work queues and the dimension filters (issue 21, items 1 and 2): ``GET /api/queue``'s rows,
sorting, filters and paging against hand-worked cases; its CSV equal to its JSON; and
``GET /api/measures`` filtered by a dimension equal to the measures of the same events
restricted to the matching cases. Every date is worked out against "now", 2025-06-30."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from events.codec import read_event
from projections.case import fold_case
from sendwatch.cli import app as cli
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from simulation.council import Calibration, simulate
from streams.log import EventLog
from tests.running_service import TOKEN, ev, jsonl

NOW = "2025-06-30"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}


def cases() -> list[dict[str, Any]]:
    return [
        # A, team north, caseworker cw-1, setting URN100001, need ASD: plan issued 1 Jun 2024,
        # so its annual review was due 1 Jun 2025: overdue by 29 days. A new request on
        # 20 May 2025: decision whether to assess due 20 May + 42 days = 1 Jul 2025 (1 day
        # left); final plan due 20 May + 140 days = 7 Oct 2025 (99 days: beyond 28).
        ev("a1", "caseworker.assigned", "KC-A", "2024-05-01", caseworker_id="cw-1", team="north"),
        ev(
            "a2",
            "plan.issued",
            "KC-A",
            "2024-06-01",
            setting_id="URN100001",
            primary_need="ASD",
        ),
        ev("a3", "request.received", "KC-A", "2025-05-20", requested_by="parent"),
        # B, team south, caseworker cw-2: a family's contact on Mon 16 Jun 2025, a reply due
        # 5 working days later, Mon 23 Jun: overdue by 7 days. A request on 10 Jun 2025:
        # decision due 10 Jun + 42 days = 22 Jul (22 days left).
        ev("b1", "caseworker.assigned", "KC-B", "2025-06-01", caseworker_id="cw-2", team="south"),
        ev("b2", "contact.received", "KC-B", "2025-06-16", contact_id="c-b1", channel="email"),
        ev("b3", "request.received", "KC-B", "2025-06-10", requested_by="school"),
        # C: first cw-1 in south, then cw-3 in north (the latest assignment counts). A
        # request on 6 Jan 2025, decided (assess) on 10 Feb, in time; the final plan was due
        # 6 Jan + 140 days = 26 May 2025: overdue by 35 days.
        ev("c1", "caseworker.assigned", "KC-C", "2024-12-01", caseworker_id="cw-1", team="south"),
        ev("c2", "caseworker.assigned", "KC-C", "2025-03-03", caseworker_id="cw-3", team="north"),
        ev("c3", "request.received", "KC-C", "2025-01-06", requested_by="parent"),
        ev("c4", "assessment.decided", "KC-C", "2025-02-10", decision="assess"),
        # D: no caseworker; a contact on Fri 27 Jun 2025, a reply due Fri 4 Jul (4 days left).
        # D is another council's case (a regional log): its event names council 919.
        {
            **ev(
                "d1", "contact.received", "KC-D", "2025-06-27", contact_id="c-d1", channel="phone"
            ),
            "council": "919",
        },
    ]


# the queue as at 30 Jun 2025, within 28 days, sorted by due date: (case, clock, due, left)
EXPECTED = [
    ("KC-C", "final_plan", "2025-05-26", -35),
    ("KC-A", "review_due", "2025-06-01", -29),
    ("KC-B", "contact_response", "2025-06-23", -7),
    ("KC-A", "assess_decision", "2025-07-01", 1),
    ("KC-D", "contact_response", "2025-07-04", 4),
    ("KC-B", "assess_decision", "2025-07-22", 22),
]


class Service:
    def __init__(self, tmp: Path, events: list[dict[str, Any]]) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.source = EmbeddedSource(
            EventLog(tmp / "events.db"), frozen_now=date.fromisoformat(NOW), council="886"
        )
        self.http = TestClient(embedded_app(self.source, token=TOKEN))
        answer = self.http.post("/api/events", content=jsonl(events), headers=NDJSON).json()
        assert answer["accepted"] == len(events), answer

    def get(self, path: str, **headers: str) -> Any:
        answer = self.http.get(path, headers={**AUTH, **headers})
        assert answer.status_code == 200, answer.text
        return answer.json() if "json" in answer.headers["content-type"] else answer.text


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    yield Service(tmp_path, cases())


def keys(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    return [(r["case_id"], r["clock"], r["due"], r["days_left"]) for r in rows]


def test_a_case_carries_the_dimensions_of_its_latest_assignment_and_its_plan() -> None:
    folded = {
        case: fold_case(
            case,
            [read_event(orjson.dumps(e), arrival=None) for e in cases() if e["case_id"] == case],
        )
        for case in ("KC-A", "KC-C", "KC-D")
    }
    a, c, d = folded["KC-A"], folded["KC-C"], folded["KC-D"]
    assert (a.team, a.caseworker, a.setting, a.need) == ("north", "cw-1", "URN100001", "ASD")
    assert (c.team, c.caseworker, c.setting, c.need) == ("north", "cw-3", None, None)
    assert (d.team, d.caseworker) == (None, None)


def test_the_queue_lists_the_open_clocks_overdue_or_due_within_28_days(service: Service) -> None:
    body = service.get("/api/queue")
    assert body["total"] == 6
    assert keys(body["rows"]) == EXPECTED
    first = body["rows"][0]
    assert first["regulation"] == "SEND Regs 2014 reg 13(2)"
    assert first["clock_name"] == "Final EHC plan issued (20 weeks)"
    assert first["started"] == "2025-01-06" and first["state"] == "overdue"
    assert (first["team"], first["caseworker"], first["council"]) == ("north", "cw-3", "886")


def test_within_widens_the_horizon(service: Service) -> None:
    # KC-A's final plan (7 Oct, 99 days) and KC-B's (10 Jun + 140 = 28 Oct, 120 days)
    rows = service.get("/api/queue?within=120&limit=100")["rows"]
    assert keys(rows)[-2:] == [
        ("KC-A", "final_plan", "2025-10-07", 99),
        ("KC-B", "final_plan", "2025-10-28", 120),
    ]
    assert service.get("/api/queue?within=0")["total"] == 3  # the overdue ones only


def test_state_and_clock_filter_the_rows(service: Service) -> None:
    overdue = service.get("/api/queue?state=overdue")["rows"]
    assert keys(overdue) == EXPECTED[:3]
    due = service.get("/api/queue?state=due")["rows"]
    assert keys(due) == EXPECTED[3:]
    replies = service.get("/api/queue?clock=contact_response&state=overdue")["rows"]
    assert keys(replies) == [("KC-B", "contact_response", "2025-06-23", -7)]


@pytest.mark.parametrize(
    ("query", "cases_expected"),
    [
        ("team=north", {"KC-A", "KC-C"}),
        ("team=south", {"KC-B"}),
        ("caseworker=cw-1", {"KC-A"}),  # KC-C's cw-1 was replaced by cw-3
        ("caseworker=cw-3", {"KC-C"}),
        ("setting=URN100001", {"KC-A"}),
        ("need=ASD", {"KC-A"}),
        # the events name no council but D's, so the service stamps its own, 886, on arrival
        ("council=886", {"KC-A", "KC-B", "KC-C"}),
        ("council=919", {"KC-D"}),
        ("council=925", set()),
        ("team=north&caseworker=cw-1", {"KC-A"}),
    ],
)
def test_the_dimensions_filter_the_queue(
    service: Service, query: str, cases_expected: set[str]
) -> None:
    rows = service.get(f"/api/queue?{query}")["rows"]
    assert {r["case_id"] for r in rows} == cases_expected
    assert keys(rows) == [k for k in EXPECTED if k[0] in cases_expected]


def test_sorting_by_each_column(service: Service) -> None:
    late = service.get("/api/queue?sort=late")["rows"]
    assert [r["days_left"] for r in late] == [-35, -29, -7, 1, 4, 22]
    latest_first = service.get("/api/queue?sort=due&order=desc")["rows"]
    assert keys(latest_first) == EXPECTED[::-1]
    by_clock = service.get("/api/queue?sort=clock")["rows"]
    assert [r["clock"] for r in by_clock] == [
        "assess_decision",  # 1 Jul
        "assess_decision",  # 22 Jul
        "contact_response",  # 23 Jun
        "contact_response",  # 4 Jul
        "final_plan",
        "review_due",
    ]
    by_team = service.get("/api/queue?sort=team")["rows"]
    # north (C 26 May, A 1 Jun, A 1 Jul), south (B 23 Jun, B 22 Jul), none last (D)
    assert [r["case_id"] for r in by_team] == ["KC-C", "KC-A", "KC-A", "KC-B", "KC-B", "KC-D"]
    by_worker = service.get("/api/queue?sort=caseworker")["rows"]
    assert [r["caseworker"] for r in by_worker] == ["cw-1", "cw-1", "cw-2", "cw-2", "cw-3", None]


def test_paging_gives_each_row_once_with_the_total(service: Service) -> None:
    pages = [service.get(f"/api/queue?limit=4&offset={n}") for n in (0, 4)]
    assert [p["total"] for p in pages] == [6, 6]
    assert keys(pages[0]["rows"] + pages[1]["rows"]) == EXPECTED
    assert len(pages[1]["rows"]) == 2


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


@pytest.mark.parametrize(
    "query", ["", "team=north", "state=overdue&sort=late", "sort=caseworker&order=desc"]
)
def test_the_csv_equals_the_json(service: Service, query: str) -> None:
    body = service.get(f"/api/queue?{query}&limit=10000")
    text = service.get(f"/api/queue?{query}&format=csv")
    assert text.splitlines()[0].startswith("case_id,clock,clock_name,started,due,days_left")
    assert parsed(text) == as_text(body["rows"])
    by_header = service.get(f"/api/queue?{query}", accept="text/csv")
    assert by_header == text  # unpaged like format=csv: every matching row


def test_bad_queue_parameters_are_named(service: Service) -> None:
    for query, named in [
        ("sort=name", "sort"),
        ("state=late", "state"),
        ("clock=bedtime", "clock"),
        ("within=-1", "within"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ]:
        answer = service.http.get(f"/api/queue?{query}", headers=AUTH)
        assert answer.status_code == 400
        assert named in answer.json()["detail"]
    assert service.http.get("/api/queue").status_code == 401


def restricted(tmp: Path, keep: set[str]) -> Any:
    """The measures of a service holding only the events of the cases ``keep``."""
    only = Service(tmp, [e for e in cases() if e["case_id"] in keep])
    return only.get("/api/measures")


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("team=north", {"KC-A", "KC-C"}),
        ("caseworker=cw-2", {"KC-B"}),
        ("need=ASD", {"KC-A"}),
        ("setting=URN100001&team=north", {"KC-A"}),
    ],
)
def test_filtered_measures_equal_the_measures_of_the_matching_cases_alone(
    service: Service, tmp_path: Path, query: str, keep: set[str]
) -> None:
    filtered = service.get(f"/api/measures?{query}")
    assert filtered == restricted(tmp_path / "only", keep)
    assert filtered != service.get("/api/measures")  # it filtered something


def test_filtered_measures_over_a_simulated_history_equal_the_restricted_events(
    tmp_path: Path,
) -> None:
    """Teams given to a simulated history's assignments (by the caseworker id's last
    character), then each team's measures compared with its cases' events alone."""
    small = Calibration(
        requests_per_year=300,
        plans_in_cycle=300,
        contacts_per_year=600,
        sen_support_children=100,
        out_of_education=10,
        eotas_requests_per_year=10,
        audits_per_year=30,
    )
    events = list(simulate(seed=21, years=1, end=date(2025, 6, 30), calibration=small))
    for e in events:
        if e["type"] == "caseworker.assigned":
            e["data"]["team"] = "even" if ord(e["data"]["caseworker_id"][-1]) % 2 else "odd"
    whole = Service(tmp_path / "whole", events)
    teams = {
        case: e["data"]["team"]
        for e in sorted(events, key=lambda e: e["occurred_at"])
        for case in [e["case_id"]]
        if e["type"] == "caseworker.assigned"
    }
    keep = {case for case, team in teams.items() if team == "even"}
    only = Service(tmp_path / "only", [e for e in events if e["case_id"] in keep])
    assert whole.get("/api/measures?team=even&from=2024-07-01&to=2025-06-30") == only.get(
        "/api/measures?from=2024-07-01&to=2025-06-30"
    )


def test_metrics_takes_the_same_filters(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(cases()))
    only = tmp_path / "north.jsonl"
    only.write_bytes(jsonl([e for e in cases() if e["case_id"] in {"KC-A", "KC-C"}]))
    runner = CliRunner()
    filtered = runner.invoke(
        cli, ["metrics", "--events", str(path), "--now", NOW, "--team", "north"]
    )
    alone = runner.invoke(cli, ["metrics", "--events", str(only), "--now", NOW])
    assert filtered.exit_code == 0, filtered.output
    assert orjson.loads(filtered.stdout) == orjson.loads(alone.stdout)
