"""Breach alerts through the real Alertmanager (Debian: prometheus-alertmanager).

The test starts Alertmanager on a free loopback port, routing everything to a webhook served
by the test (group_wait and group_interval 1 s, send_resolved), and ``sendwatch run --now
2025-06-30 --alertmanager URL`` on a temporary log holding one overdue case. It shows that the
case produces exactly one notification, that a restart of ``sendwatch run`` neither loses nor
repeats it, and that posting the stopping event through the API resolves it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerts.rules import default_rules_text
from tests.running_service import TOKEN, jsonl, running_service
from tests.services import Receivers, alertmanager, wait_for

CASE = "KC-LATE-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SENT = 'sendwatch_alert_notifications_total{result="sent"}'

# Request Mon 6 Jan 2025, decided to assess on 3 Feb (on time): the final plan was due
# 6 Jan + 140 days = Mon 26 May 2025 (reg 13(2)), so on 30 June it is overdue. Nothing else
# is open and overdue, or due within a week.
HISTORY = [
    {
        "event_id": "late-1",
        "type": "request.received",
        "case_id": CASE,
        "occurred_at": "2025-01-06",
        "data": {"requested_by": "parent"},
    },
    {
        "event_id": "late-2",
        "type": "assessment.decided",
        "case_id": CASE,
        "occurred_at": "2025-02-03",
        "data": {"decision": "assess"},
    },
]
ISSUED = {
    "event_id": "late-3",
    "type": "plan.issued",
    "case_id": CASE,
    "occurred_at": "2025-06-30",
    "data": {},
}


def routing_all_to(webhook: str) -> dict[str, Any]:
    """Everything to ``webhook``, each alert its own group, waits of 1 s, resolved sent."""
    return {
        "route": {
            "receiver": "test",
            "group_by": ["..."],  # every alert its own group: one notification per alert
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "4h",
        },
        "receivers": [
            {"name": "test", "webhook_configs": [{"url": webhook, "send_resolved": True}]}
        ],
    }


@contextmanager
def sendwatch_run(db: Path, am: str, rules: Path) -> Iterator[str]:
    more = ["--alertmanager", am, "--rules", str(rules)]
    with running_service(db, extra_args=more) as service:
        yield service.url


def ours(notifications: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(notification status, alertname) of every notification about the case."""
    return [
        (n["status"], a["labels"]["alertname"])
        for n in notifications
        for a in n["alerts"]
        if a["labels"].get("case_id") == CASE
    ]


def am_alert(am: str) -> dict[str, Any] | None:
    listed = httpx.get(f"{am}/api/v2/alerts", timeout=5).json()
    return next((a for a in listed if a["labels"].get("case_id") == CASE), None)


@pytest.mark.integration
def test_an_overdue_case_notifies_once_survives_a_restart_and_resolves(tmp_path: Path) -> None:
    db = tmp_path / "sendwatch.db"
    events = tmp_path / "events.jsonl"
    events.write_bytes(jsonl(HISTORY))
    ingest = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", "ingest", str(events), "--db", str(db)],
        capture_output=True,
        text=True,
    )
    assert ingest.returncode == 0, ingest.stderr
    # the built-in rules, re-sent every second (each send valid for a minute, so a restart
    # of a few seconds does not let Alertmanager time the alert out)
    rules = yaml.safe_load(default_rules_text())
    rules["delivery"].update(resend_seconds=1, valid_for_resends=60)
    rules_path = tmp_path / "rules.yml"
    rules_path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    receivers = Receivers()
    try:
        with alertmanager(routing_all_to(f"{receivers.base}/hook"), tmp_path) as am:
            with sendwatch_run(db, am, rules_path) as url:
                first = wait_for("the firing notification", lambda: receivers.to("hook"))
                (notification,) = first
                assert notification["status"] == "firing"
                (alert,) = notification["alerts"]
                assert alert["labels"] == {
                    "alertname": "ClockOverdue",
                    "severity": "critical",
                    "team": "unassigned",  # no caseworker.assigned: no team, no caseworker
                    "caseworker": "unassigned",
                    "clock": "final_plan",
                    "case_id": CASE,
                    "key": "late-1",
                }
                notes = alert["annotations"]
                assert "Monday 26 May 2025" in notes["description"]
                assert notes["regulation"] == "SEND Regs 2014 reg 13(2)"
                assert notes["case_page"] == f"{url}/#case/{CASE}"
                starts = alert["startsAt"]
                listed = httpx.get(f"{url}/api/alerts", headers=AUTH).json()["alerts"]
                assert [(a["alertname"], a["state"]) for a in listed] == [
                    ("ClockOverdue", "firing")
                ]
                assert _same_instant(listed[0]["startsAt"], starts)
                sent = wait_for("a re-send", lambda: _metric(url, SENT) >= 3)
                assert sent and ours(receivers.to("hook")) == [("firing", "ClockOverdue")]
            restarted = datetime.now(UTC)
            with sendwatch_run(db, am, rules_path) as url:
                # the new process re-sends the same alert (same labels, same startsAt) ...
                wait_for(
                    "the restarted service's re-send",
                    lambda: (
                        (a := am_alert(am)) is not None
                        and datetime.fromisoformat(a["updatedAt"].replace("Z", "+00:00"))
                        > restarted
                    ),
                )
                again = am_alert(am)
                assert again is not None and _same_instant(again["startsAt"], starts)
                listed = httpx.get(f"{url}/api/alerts", headers=AUTH).json()["alerts"]
                assert [a["state"] for a in listed] == ["firing"]
                assert _same_instant(listed[0]["startsAt"], starts)
                # ... and Alertmanager, having notified it already, stays quiet: wait for
                # several group intervals and for another re-send
                time.sleep(3)
                wait_for("a second re-send", lambda: _metric(url, SENT) >= 3)
                assert ours(receivers.to("hook")) == [("firing", "ClockOverdue")]
                # the final plan is issued: the alert resolves
                posted = httpx.post(
                    f"{url}/api/events",
                    content=jsonl([ISSUED]),
                    headers={**AUTH, "Content-Type": "application/x-ndjson"},
                )
                assert posted.status_code == 200 and posted.json()["accepted"] == 1
                wait_for("the resolved notification", lambda: len(receivers.to("hook")) >= 2)
                time.sleep(2)  # nothing else follows
                assert ours(receivers.to("hook")) == [
                    ("firing", "ClockOverdue"),
                    ("resolved", "ClockOverdue"),
                ]
                resolved = receivers.to("hook")[1]["alerts"][0]
                assert resolved["status"] == "resolved"
                assert _same_instant(resolved["startsAt"], starts)
                listed = httpx.get(f"{url}/api/alerts", headers=AUTH).json()["alerts"]
                assert [(a["alertname"], a["state"]) for a in listed] == [
                    ("ClockOverdue", "resolved")
                ]
                assert _same_instant(listed[0]["endsAt"], resolved["endsAt"])
                assert _metric(url, 'sendwatch_alerts_firing{severity="critical"}') == 0
                assert _metric(url, 'sendwatch_alert_notifications_total{result="failed"}') == 0
    finally:
        receivers.close()


def _same_instant(a: str, b: str) -> bool:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return parse(a) == parse(b)


def _metric(url: str, name: str) -> float:
    """The value of the first /metrics line containing ``name``."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if not line.startswith("#") and name in line:
            return float(line.rsplit(" ", 1)[1])
    return -1.0
