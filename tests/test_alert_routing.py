"""Alerts people can act on, through the real Alertmanager (Debian: prometheus-alertmanager).

The shipped routing tree (deploy/alertmanager/alertmanager.yml) runs as it is, except that
each receiver is a webhook served by the test (one path per receiver) and the waits are 1 s
instead of an hour: two teams' alerts reach their two digests, each team's warnings and
breaches in one notification, and a court order pages. Then ``sendwatch run --alertmanager
URL --public-url URL``: a silence made through Alertmanager's API shows on /api/silences and
on the dashboard (headless Chromium), the alert it covers marked; alert links use the public
address; the alerts carry team and caseworker, and /metrics never a case id.

Every case's dates are worked out against "now", Monday 30 June 2025:
- a request on Mon 6 Jan 2025 decided (assess) on Mon 3 Feb leaves the final plan due
  6 Jan + 20 weeks = Mon 26 May 2025 (reg 13(2)): overdue, ClockOverdue (critical);
- a request on Mon 26 May 2025 has its decision to assess due 26 May + 6 weeks = Mon 7 July
  (reg 5(1)): within 7 days of 30 June, ClockDueSoon (warning);
- a tribunal order to make a plan on Mon 3 Mar 2025: draft due 3 Mar + 5 weeks = 7 Apr,
  final plan + 11 weeks = 19 May (reg 44): both overdue, TribunalOrderOverdue (page).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, expect

from alerts.alertmanager import AlertmanagerClient, Dispatcher
from alerts.engine import Engine
from alerts.rules import load_rules
from events import Event
from projections import Projector
from tests.chromium import chromium, signed_in
from tests.history import event, raw
from tests.running_service import NDJSON_TYPE, jsonl, running_service
from tests.services import Receivers, wait_for
from tests.services import alertmanager as running_alertmanager

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
NOW = date(2025, 6, 30)
PUBLIC = "https://sendwatch.council.example"


def history() -> list[dict[str, Any]]:
    """Two cases of the north team, two of the south, one with no caseworker, one order."""

    def late(case: str) -> list[dict[str, Any]]:
        return [
            raw("request.received", case, "2025-01-06", requested_by="parent"),
            raw("assessment.decided", case, "2025-02-03", decision="assess"),
        ]

    def soon(case: str) -> list[dict[str, Any]]:
        return [raw("request.received", case, "2025-05-26", requested_by="parent")]

    def assigned(case: str, worker: str, team: str | None, on: str) -> dict[str, Any]:
        data = {"caseworker_id": worker} | ({"team": team} if team else {})
        return raw("caseworker.assigned", case, on, **data)

    return [
        *late("KC-N1"),
        assigned("KC-N1", "CW-101", "north", "2025-01-07"),
        *soon("KC-N2"),
        assigned("KC-N2", "CW-102", "north", "2025-05-27"),
        *late("KC-S1"),
        assigned("KC-S1", "CW-201", "south", "2025-01-07"),
        *soon("KC-S2"),
        assigned("KC-S2", "CW-201", "south", "2025-05-27"),
        *late("KC-U1"),  # no caseworker: team and caseworker "unassigned"
        raw(
            "tribunal.order_made",
            "KC-T1",
            "2025-03-03",
            order_id="O1",
            kind="make_plan",
            basis="order",
        ),
        assigned("KC-T1", "CW-103", "north", "2025-03-04"),
    ]


def shipped_config(receivers: Receivers) -> dict[str, Any]:
    """The shipped routing tree, each receiver a webhook of the test's, first waits of 5 s
    (Alertmanager sends a group when its wait ends, with the alerts it has by then: at 1 s,
    a machine busy with other work once let the north digest go with one of its two)."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    config.pop("global")  # the mail server is the council's
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": f"{receivers.base}/{r['name']}"}]}
        for r in config["receivers"]
    ]

    def quicker(route: dict[str, Any]) -> None:
        if "group_wait" in route:
            route["group_wait"] = "5s"
        for child in route.get("routes", []):
            quicker(child)

    quicker(config["route"])
    return config


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    hooks = Receivers()
    yield hooks
    hooks.close()


@pytest.fixture
def alertmanager(tmp_path: Path, receivers: Receivers) -> Iterator[str]:
    with running_alertmanager(shipped_config(receivers), tmp_path) as url:
        yield url


def judged() -> Engine:
    projector = Projector()
    events: list[Event] = [
        event(e["type"], e["case_id"], e["occurred_at"], eid=e["event_id"], **e["data"])
        for e in history()
    ]
    projector.apply_all(events)
    engine = Engine(load_rules(), base_url=PUBLIC)
    engine.update(projector, NOW, datetime(2025, 6, 30, 9, tzinfo=UTC))
    return engine


def deliver(engine: Engine, alertmanager: str) -> None:
    dispatcher = Dispatcher(engine, AlertmanagerClient(alertmanager), base_url=PUBLIC)
    try:
        assert dispatcher.deliver(), dispatcher.last_error
    finally:
        dispatcher.client.close()


def alerts_of(notifications: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted(
        (a["labels"]["alertname"], a["labels"].get("case_id"))
        for n in notifications
        for a in n["alerts"]
    )


def test_each_teams_warnings_and_breaches_reach_its_own_digest_in_one_notification(
    alertmanager: str, receivers: Receivers
) -> None:
    deliver(judged(), alertmanager)
    north = wait_for("the north team's digest", lambda: receivers.to("team-north-digest"))
    south = wait_for("the south team's digest", lambda: receivers.to("team-south-digest"))
    wait_for("the casework managers' digest", lambda: receivers.to("casework-digest"))
    # one notification each, holding every warning and breach of the team's cases
    assert len(north) == 1 and north[0]["groupLabels"] == {"team": "north"}
    assert alerts_of(north) == [("ClockDueSoon", "KC-N2"), ("ClockOverdue", "KC-N1")]
    assert len(south) == 1 and south[0]["groupLabels"] == {"team": "south"}
    assert alerts_of(south) == [("ClockDueSoon", "KC-S2"), ("ClockOverdue", "KC-S1")]
    # a case with no caseworker: the casework managers', to give out
    assert ("ClockOverdue", "KC-U1") in alerts_of(receivers.to("casework-digest"))
    labels = {a["labels"]["case_id"]: a["labels"] for a in north[0]["alerts"]}
    assert labels["KC-N1"]["caseworker"] == "CW-101"


def test_a_court_order_pages_and_nothing_else_about_a_case_does(
    alertmanager: str, receivers: Receivers
) -> None:
    deliver(judged(), alertmanager)
    pages = wait_for("the page", lambda: receivers.to("oncall-pager"))
    wait_for("the digests", lambda: len(receivers.to("team-south-digest")) >= 1)
    (page,) = pages  # the interim step and the final order of O1, together
    assert alerts_of(pages) == [("TribunalOrderOverdue", "KC-T1")] * 2
    assert page["groupLabels"] == {"alertname": "TribunalOrderOverdue"}
    paged = {a["labels"]["alertname"] for n in pages for a in n["alerts"]}
    assert paged == {"TribunalOrderOverdue"}
    # the order's case is in the north team, but a page is not repeated in its digest
    assert all(a[1] != "KC-T1" for a in alerts_of(receivers.to("team-north-digest")))


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_silence_made_in_alertmanager_shows_on_the_api_and_the_dashboard(
    tmp_path: Path, alertmanager: str, browser: Browser
) -> None:
    # CW-201 acknowledges KC-S1's overdue plan for a week: a silence, made in Alertmanager
    silence = {
        "matchers": [
            {"name": "case_id", "value": "KC-S1", "isRegex": False, "isEqual": True},
            {"name": "alertname", "value": "ClockOverdue", "isRegex": False, "isEqual": True},
        ],
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "createdBy": "CW-201",
        "comment": "Draft plan with the family; issue expected Friday",
    }
    made = httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=10)
    assert made.status_code == 200, made.text
    silence_id = made.json()["silenceID"]
    more = ["--alertmanager", alertmanager, "--public-url", PUBLIC + "/"]
    with running_service(tmp_path / "events.db", extra_args=more) as service:
        with service.client() as client:
            posted = client.post("/api/events", content=jsonl(history()), headers=NDJSON_TYPE)
            assert posted.json()["accepted"] == len(history())
            service.alerts_judged()
            listed = client.get("/api/silences").json()
            assert listed["configured"] is True
            assert [(s["id"], s["createdBy"]) for s in listed["silences"]] == [
                (silence_id, "CW-201")
            ]
            alerts = client.get("/api/alerts", params={"state": "firing"}).json()
            # --public-url: the links in alerts use the address staff open, not 127.0.0.1
            for alert in alerts["alerts"]:
                if alert["case_id"]:
                    assert alert["link"] == f"{PUBLIC}/#case/{alert['case_id']}"
                    assert alert["description"].endswith(f"Case page: {alert['link']}")
            metrics = client.get("/metrics").text
        # case ids (and staff ids) never become Prometheus labels
        for case in ("KC-N1", "KC-S1", "KC-U1", "KC-T1", "CW-101"):
            assert case not in metrics
        assert "case_id=" not in metrics and "caseworker=" not in metrics

        page = signed_in(browser, service.url)
        expect(page.locator("#silences li")).to_have_count(1)
        expect(page.locator("#silences li")).to_contain_text('case_id="KC-S1"')
        expect(page.locator("#silences li")).to_contain_text("CW-201")
        silenced = page.locator("#alerts li.silenced")
        expect(silenced).to_have_count(1)
        expect(silenced).to_contain_text("KC-S1")
        expect(silenced).to_contain_text("silenced by CW-201")
        # the filters: the south team's alerts only
        filters = page.get_by_role("form", name="Filter the alerts")
        filters.get_by_label("Team").fill("south")
        filters.get_by_role("button", name="Filter").click()
        expect(page.locator("#alerts li.alert")).to_have_count(2)
        expect(page.locator("#alerts-summary")).to_contain_text("2 match the filters")
        page.close()


def test_without_alertmanager_the_silences_say_so(tmp_path: Path) -> None:
    with running_service(tmp_path / "events.db") as service, service.client() as client:
        answer = client.get("/api/silences")
    assert answer.status_code == 200
    body = answer.json()
    assert body["configured"] is False and body["silences"] == []
    assert "--alertmanager" in body["detail"] and "SENDWATCH_ALERTMANAGER" in body["detail"]


def test_the_dead_letters_alert_comes_first_on_the_dashboard_and_the_api_filters_and_pages(
    tmp_path: Path, browser: Browser
) -> None:
    # Before, alerts were listed gravest first and the dashboard showed six: a DeadLetters
    # warning came after every critical case alert (4,642 on the three-year demo), never shown.
    with running_service(tmp_path / "events.db") as service, service.client() as client:
        body = jsonl(history()) + b'{"event_id": "bad-1", "type": "request.received"}\n'
        answer = client.post("/api/events", content=body, headers=NDJSON_TYPE).json()
        assert answer["accepted"] == len(history()) and len(answer["rejected"]) == 1

        def first() -> list[dict[str, Any]] | None:
            listed = client.get("/api/alerts", params={"state": "firing", "limit": 4}).json()
            names = [a["alertname"] for a in listed["alerts"]]
            return listed["alerts"] if "DeadLetters" in names else None

        # the alerts about the whole service (OverdueClocks for the order, critical; then the
        # warnings DeadLetters and IngestStalled) come before the pages and breaches of cases
        top = wait_for("the dead-letters alert, listed among the first", first)
        assert [a["alertname"] for a in top[:3]] == [
            "OverdueClocks",
            "DeadLetters",
            "IngestStalled",
        ]
        assert top[3]["alertname"] == "TribunalOrderOverdue"
        # filters and pages: the north team's, two at a time, with how many there are
        north = client.get("/api/alerts", params={"team": "north", "limit": 2}).json()
        assert north["total"] == 4  # KC-N1 overdue, KC-N2 due soon, O1's two pages
        assert {a["team"] for a in north["alerts"]} == {"north"} and len(north["alerts"]) == 2
        rest = client.get("/api/alerts", params={"team": "north", "offset": 2}).json()
        assert len(rest["alerts"]) == 2 and rest["total"] == 4
        assert {a["case_id"] for a in north["alerts"] + rest["alerts"]} == {
            "KC-N1",
            "KC-N2",
            "KC-T1",
        }
        cw = client.get("/api/alerts", params={"caseworker": "CW-201,CW-102"}).json()
        assert sorted(a["case_id"] for a in cw["alerts"]) == ["KC-N2", "KC-S1", "KC-S2"]
        bad = client.get("/api/alerts", params={"severity": "urgent"})
        assert bad.status_code == 400 and "severity" in bad.json()["detail"]
        assert client.get("/api/alerts", params={"offset": "-1"}).status_code == 400

        page = signed_in(browser, service.url, loaded=None)
        dead = page.locator("#alerts li.alert").nth(1)
        expect(dead).to_have_attribute("data-alertname", "DeadLetters")
        expect(dead).to_contain_text("dead-letter store")
        expect(page.locator("#silences-summary")).to_contain_text("No Alertmanager is configured")
        page.close()
