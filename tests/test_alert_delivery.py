"""Delivery to Alertmanager's v2 API, against a recording fake (httpx.MockTransport).

The real Alertmanager is in tests/test_alertmanager.py; here the shapes, the re-sending,
the resolution, the counting of failures and the retry are checked with a frozen clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson

from alerts.alertmanager import AlertmanagerClient, Dispatcher
from alerts.engine import Engine
from alerts.rules import load_rules
from events import Event
from projections import Projector
from tests.history import event
from tests.rulesets import only_case_rules

T0 = datetime(2025, 6, 30, 8, 0, tzinfo=UTC)
NOW = date(2025, 6, 30)


def ev(kind: str, case: str, on: str, eid: str, **data: Any) -> Event:
    """One event, recorded at noon UTC on the day it occurred."""
    return event(kind, case, on, eid=eid, recorded=f"{on}T12:00:00Z", **data)


class FakeAlertmanager:
    def __init__(self) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/api/v2/alerts"
        assert request.headers["content-type"] == "application/json"
        if self.down:
            return httpx.Response(503, text="unavailable")
        self.posts.append(orjson.loads(request.content))
        return httpx.Response(200)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


def setup() -> tuple[Projector, Engine, Dispatcher, FakeAlertmanager, Clock]:
    # request 6 Jan 2025, assessed 3 Feb: the 20-week clock was due 26 May (reg 13(2))
    p = Projector()
    p.apply_all(
        [
            ev("request.received", "KC-42", "2025-01-06", "r1", requested_by="parent"),
            ev("assessment.decided", "KC-42", "2025-02-03", "a1", decision="assess"),
            # a caseworker in the north team, then (the latest, which counts) one in the south
            ev(
                "caseworker.assigned",
                "KC-42",
                "2025-01-10",
                "c1",
                caseworker_id="CW-017",
                team="north",
            ),
            ev(
                "caseworker.assigned",
                "KC-42",
                "2025-03-03",
                "c2",
                caseworker_id="CW-023",
                team="south",
            ),
        ]
    )
    engine = Engine(only_case_rules(), base_url="https://sendwatch.kent.example")
    fake, clock = FakeAlertmanager(), Clock()
    client = AlertmanagerClient("http://am.test:9093/", transport=httpx.MockTransport(fake))
    dispatcher = Dispatcher(
        engine, client, base_url="https://sendwatch.kent.example", wall_clock=clock
    )
    return p, engine, dispatcher, fake, clock


def test_a_firing_alert_has_routing_labels_the_case_and_words_for_people() -> None:
    p, engine, dispatcher, fake, _ = setup()
    engine.update(p, NOW, T0)
    assert dispatcher.deliver()
    ((alert,),) = fake.posts
    assert alert["labels"] == {
        "alertname": "ClockOverdue",
        "severity": "critical",
        "team": "south",  # the latest caseworker's team, and the caseworker (pseudonymous)
        "caseworker": "CW-023",
        "clock": "final_plan",
        "case_id": "KC-42",
        "key": "r1",
    }
    notes = alert["annotations"]
    assert notes["due"] == "2025-05-26"
    assert notes["regulation"] == "SEND Regs 2014 reg 13(2)"
    assert notes["case_page"] == "https://sendwatch.kent.example/#case/KC-42"
    # the team's work queue of this clock's breaches, which a team's digest links to
    assert notes["team_queue"] == (
        "https://sendwatch.kent.example/#queue?clock=final_plan&state=overdue&team=south"
    )
    assert "Monday 26 May 2025" in notes["description"]
    assert notes["summary"].startswith("KC-42: Final EHC plan")
    assert alert["startsAt"] == "2025-06-30T08:00:00Z"
    # endsAt: 4 resend intervals of 60 s ahead, so Alertmanager keeps it while we live
    assert alert["endsAt"] == "2025-06-30T08:04:00Z"
    assert alert["generatorURL"] == "https://sendwatch.kent.example/#case/KC-42"
    assert dispatcher.counts == {"sent": 1, "failed": 0}


def test_firing_alerts_are_sent_again_before_endsat_and_not_more_often() -> None:
    p, engine, dispatcher, fake, clock = setup()
    engine.update(p, NOW, T0)
    dispatcher.deliver()
    clock.at = T0 + timedelta(seconds=30)
    dispatcher.deliver()
    assert len(fake.posts) == 1  # within the resend interval: nothing to send
    clock.at = T0 + timedelta(seconds=60)
    dispatcher.deliver()
    assert len(fake.posts) == 2
    again = fake.posts[1][0]
    assert again["startsAt"] == "2025-06-30T08:00:00Z"  # the same alert, the same start
    assert again["endsAt"] == "2025-06-30T08:05:00Z"


def test_a_resolution_is_sent_once_with_endsat_the_moment_it_resolved() -> None:
    p, engine, dispatcher, fake, clock = setup()
    engine.update(p, NOW, T0)
    dispatcher.deliver()
    p.apply(ev("plan.issued", "KC-42", "2025-06-30", "i1"))
    resolved_at = T0 + timedelta(seconds=10)
    engine.update(p, NOW, resolved_at, cases={"KC-42"})
    clock.at = T0 + timedelta(seconds=12)
    dispatcher.deliver()
    resolution = fake.posts[-1][0]
    assert resolution["endsAt"] == "2025-06-30T08:00:10Z"
    assert resolution["labels"]["case_id"] == "KC-42"
    clock.at = T0 + timedelta(minutes=5)
    dispatcher.deliver()
    assert len(fake.posts) == 2  # sent once
    (listed,) = engine.active()
    assert listed["state"] == "resolved" and listed["delivered"] is True


def test_failures_are_counted_and_retried_and_never_raise() -> None:
    p, engine, dispatcher, fake, clock = setup()
    engine.update(p, NOW, T0)
    fake.down = True
    assert dispatcher.deliver() is False
    assert dispatcher.deliver() is False
    assert dispatcher.counts == {"sent": 0, "failed": 2}
    assert "503" in (dispatcher.last_error or "")
    fake.down = False
    clock.at = T0 + timedelta(seconds=5)
    assert dispatcher.deliver() is True
    assert dispatcher.counts == {"sent": 1, "failed": 2}
    assert fake.posts[0][0]["startsAt"] == "2025-06-30T08:00:00Z"


def test_an_unreachable_alertmanager_is_a_failure_not_a_crash() -> None:
    p, engine, _, _, clock = setup()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = AlertmanagerClient("http://am.test:9093", transport=httpx.MockTransport(refuse))
    dispatcher = Dispatcher(engine, client, base_url="http://x", wall_clock=clock)
    engine.update(p, NOW, T0)
    assert dispatcher.deliver() is False
    assert dispatcher.counts["failed"] == 1
    assert "cannot reach Alertmanager" in (dispatcher.last_error or "")


def test_aggregate_alerts_can_be_left_to_prometheus() -> None:
    p, _, _, fake, clock = setup()
    rules = load_rules().model_copy(update={"cases": ()})
    rules = rules.model_copy(
        update={"delivery": rules.delivery.model_copy(update={"aggregates": False})}
    )
    quiet = Engine(rules)
    client = AlertmanagerClient("http://am.test:9093", transport=httpx.MockTransport(fake))
    only_cases = Dispatcher(quiet, client, base_url="http://x", wall_clock=clock)
    quiet.update(p, NOW, T0 + timedelta(days=30), dead_letters=3)
    assert {a["alertname"] for a in quiet.active()} == {"DeadLetters", "IngestStalled"}
    assert only_cases.deliver() and fake.posts == []
