"""A case's alert names its team and caseworker; the alert listing's filters and order.

"Now" is Monday 30 June 2025. A request on Mon 6 Jan 2025 decided (assess) on Mon 3 Feb leaves
the final plan due 6 Jan + 20 weeks = Mon 26 May (reg 13(2)): overdue, ClockOverdue.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.engine import Engine
from alerts.query import parse_filters, select
from events import Event
from projections import Projector
from tests.history import event
from tests.rulesets import only_case_rules

NOW = date(2025, 6, 30)
AT = datetime(2025, 6, 30, 9, tzinfo=UTC)


def late(case: str) -> list[Event]:
    return [
        event("request.received", case, "2025-01-06", requested_by="parent"),
        event("assessment.decided", case, "2025-02-03", decision="assess"),
    ]


def assigned(case: str, on: str, worker: str, team: str | None = None) -> Event:
    data: dict[str, Any] = {"caseworker_id": worker} | ({"team": team} if team else {})
    return event("caseworker.assigned", case, on, **data)


def judged(events: list[Event]) -> tuple[Projector, Engine]:
    """The events folded, and the per-case rules judged on them now (30 June, 09:00)."""
    p = Projector()
    p.apply_all(events)
    engine = Engine(only_case_rules())
    engine.update(p, NOW, AT)
    return p, engine


def the_alert(engine: Engine) -> dict[str, Any]:
    (alert,) = [a for a in engine.active() if a["state"] == "firing"]
    return alert


def test_a_case_with_no_caseworker_is_unassigned_in_team_and_caseworker() -> None:
    _, engine = judged(late("KC-1"))
    alert = the_alert(engine)
    assert (alert["team"], alert["caseworker"]) == ("unassigned", "unassigned")


def test_a_caseworker_without_a_team_gives_the_caseworker_and_no_team() -> None:
    _, engine = judged([*late("KC-1"), assigned("KC-1", "2025-01-07", "CW-9")])
    alert = the_alert(engine)
    assert (alert["team"], alert["caseworker"]) == ("unassigned", "CW-9")


def test_a_new_caseworker_relabels_the_firing_alert_and_keeps_its_start() -> None:
    p, engine = judged([*late("KC-1"), assigned("KC-1", "2025-01-07", "CW-1", "north")])
    before = the_alert(engine)
    assert (before["team"], before["caseworker"]) == ("north", "CW-1")
    p.apply_all([assigned("KC-1", "2025-06-30", "CW-2", "south")])
    later = datetime(2025, 6, 30, 10, tzinfo=UTC)
    engine.update(p, NOW, later, cases=["KC-1"])
    after = the_alert(engine)
    assert (after["team"], after["caseworker"]) == ("south", "CW-2")
    assert after["startsAt"] == before["startsAt"] == "2025-06-30T09:00:00Z"
    # routing labels for Alertmanager; the case id is a label there (never in /metrics)
    (firing,) = [a for a in engine.alerts() if a.state == "firing"]
    assert firing.finding.labels() == {
        "alertname": "ClockOverdue",
        "severity": "critical",
        "team": "south",
        "caseworker": "CW-2",
        "clock": "final_plan",
        "case_id": "KC-1",
        "key": firing.finding.key,
    }


def test_filters_name_the_parameter_and_value_at_fault() -> None:
    with pytest.raises(ValueError, match=r"severity: .*'urgent'"):
        parse_filters({"severity": "page,urgent"})
    with pytest.raises(ValueError, match="kind: "):
        parse_filters({"kind": "cases"})
    assert parse_filters({"team": " north , south ", "caseworker": ""}) == {
        "team": frozenset({"north", "south"})
    }


ALERTS = st.lists(
    st.fixed_dictionaries(
        {
            "severity": st.sampled_from(["page", "critical", "warning"]),
            "team": st.sampled_from(["north", "south", "unassigned"]),
            "caseworker": st.sampled_from(["CW-1", "CW-2", None]),
            "alertname": st.sampled_from(["ClockOverdue", "DeadLetters"]),
            "state": st.sampled_from(["firing", "resolved"]),
            "case_id": st.sampled_from(["KC-1", None]),
        }
    ),
    max_size=30,
)


@given(ALERTS, st.sampled_from(["north", "south"]), st.sampled_from(["page", "warning"]))
def test_filters_keep_exactly_the_alerts_that_match_each_in_order(
    alerts: list[dict[str, Any]], team: str, severity: str
) -> None:
    filters = parse_filters({"team": team, "severity": severity, "kind": "case"})
    kept = select(alerts, filters)
    assert kept == [
        a
        for a in alerts
        if a["team"] == team and a["severity"] == severity and a["case_id"] is not None
    ]
    assert select(alerts, {}) == alerts
