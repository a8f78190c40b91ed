"""Grafana dashboards and alert rules as code: committed files are fresh generations, the
output is deterministic, the panels say what the issue asks, and every PromQL query names only
metrics that /metrics really exposes (checked against the agreed list, against the collector's
own output, and by a real Prometheus scraping a real `sendwatch run`)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from observability.grafana import (
    CLOCK_STANDARD,
    DATASOURCE_UID,
    OPERATIONS_UID,
    PROMETHEUS_JOB,
    SERVICE_UID,
    alerting_provisioning,
    dashboards,
    expressions_in,
    render,
    write_alerting,
    write_dashboards,
)
from projections import Projector
from projections.law import CLOCK_IDS
from projections.scorecard import POINTS, with_overrides
from tests.history import event
from tests.running_service import history, jsonl, running_service
from tests.services import AGREED_METRICS, prometheus, promtool, wait_for

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "deploy" / "grafana" / "dashboards"
COMMITTED_ALERTING = ROOT / "deploy" / "grafana" / "provisioning" / "alerting" / "sendwatch.yaml"

# Series Prometheus makes itself for every scrape target.
SYNTHETIC = {"up"}
WORKER_ONLY = {"sendwatch_consumer_lag", "sendwatch_worker_partitions"}
# Gauges /metrics leaves out while their value is null (observability/exposition.py).
ABSENT_WHEN_NULL = {
    "sendwatch_clock_rate",
    "sendwatch_first_time_right_rate",
    "sendwatch_eotas_request_to_start_median_seconds",
    "sendwatch_scorecard_value",
    "sendwatch_scorecard_target",
    "sendwatch_scorecard_floor",
    "sendwatch_last_event_age_seconds",
}

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in KEYWORDS:
            continue  # a function or an aggregation, or an operator
        names.add(match.group())
    return names


def all_documents() -> list[Any]:
    return [*dashboards().values(), alerting_provisioning()]


def all_expressions() -> list[str]:
    return [e for document in all_documents() for e in expressions_in(document)]


# --- the generated files ---------------------------------------------------------------


def test_the_committed_dashboards_are_a_fresh_generation() -> None:
    generated = dashboards()
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(generated), (
        "regenerate: sendwatch grafana dashboards --out deploy/grafana/dashboards "
        "--alerting deploy/grafana/provisioning/alerting/sendwatch.yaml"
    )
    for name, document in generated.items():
        assert (COMMITTED / name).read_text(encoding="utf-8") == render(document), name


def test_the_committed_alert_rules_are_a_fresh_generation(tmp_path: Path) -> None:
    fresh = write_alerting(tmp_path / "sendwatch.yaml")
    assert fresh.read_bytes() == COMMITTED_ALERTING.read_bytes()


def test_generation_is_byte_identical_on_every_run(tmp_path: Path) -> None:
    first = write_dashboards(tmp_path / "one")
    second = write_dashboards(tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_the_command_writes_the_dashboards_and_rules(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sendwatch.cli",
            "grafana",
            "dashboards",
            "--out",
            str(tmp_path / "dashboards"),
            "--alerting",
            str(tmp_path / "alerting.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert written == [f"{OPERATIONS_UID}.json", f"{SERVICE_UID}.json"]
    assert (tmp_path / "alerting.yaml").read_bytes() == COMMITTED_ALERTING.read_bytes()


# --- what the panels say ---------------------------------------------------------------


def _panels(uid: str) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = dashboards()[f"{uid}.json"]["panels"]
    return panels


def _steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in steps]


def test_every_petition_point_is_a_stat_panel_with_its_value_status_and_standard() -> None:
    stats = {p["title"]: p for p in _panels(SERVICE_UID) if p["type"] == "stat"}
    for point in POINTS:
        panel = stats[f"{point.number}. {point.asked}"]
        exprs = [t["expr"] for t in panel["targets"]]
        assert exprs == [
            f'sendwatch_scorecard_value{{point="{point.number}"}}',
            f'sendwatch_scorecard_status{{point="{point.number}"}}',
        ]
        if point.target is None or point.floor is None:
            assert _steps(panel) == [(None, "text")]
        elif point.higher_is_better:
            # e.g. point 4: red below 46%, amber from 46%, green from 60%
            assert _steps(panel) == [
                (None, "red"),
                (point.floor, "orange"),
                (point.target, "green"),
            ]
        else:
            # point 7, whole days: green up to 28, amber 29 to 56, red from 57
            assert _steps(panel) == [
                (None, "green"),
                (point.target + 1, "orange"),
                (point.floor + 1, "red"),
            ]
    table = next(p for p in _panels(SERVICE_UID) if p["title"].startswith("Scorecard"))
    assert {metric_names(t["expr"]).pop() for t in table["targets"]} == {
        "sendwatch_scorecard_value",
        "sendwatch_scorecard_target",
        "sendwatch_scorecard_floor",
        "sendwatch_scorecard_status",
    }


def test_a_councils_own_standards_move_the_colours() -> None:
    moved = with_overrides({4: {"target": 0.5, "floor": 0.4}})
    panels = dashboards(moved)[f"{SERVICE_UID}.json"]["panels"]
    point4 = next(p for p in panels if p["title"].startswith("4. "))
    assert _steps(point4) == [(None, "red"), (0.4, "orange"), (0.5, "green")]


def test_each_clocks_rate_is_shown_against_its_own_standard() -> None:
    gauges = [
        p for p in _panels(SERVICE_UID) if p["type"] == "bargauge" and "On time" in p["title"]
    ]
    assert len(gauges) == 2
    for gauge in gauges:
        clocks = [re.search(r'clock="(\w+)"', t["expr"]).group(1) for t in gauge["targets"]]  # type: ignore[union-attr]
        assert clocks == list(CLOCK_IDS)
        assert all('window="12m"' in t["expr"] for t in gauge["targets"])
        overridden = {
            o["matcher"]["options"]: o["properties"][0]["value"]["steps"]
            for o in gauge["fieldConfig"]["overrides"]
        }
        # final_plan is judged against point 4 (target 60%, floor 46%), and so on
        assert len(overridden) == len(CLOCK_STANDARD)
        final_plan = next(v for k, v in overridden.items() if "20 weeks" in k)
        assert [s["value"] for s in final_plan] == [None, 0.46, 0.6]


def test_the_service_dashboard_has_open_overdue_due_soon_trends_and_alerts() -> None:
    panels = _panels(SERVICE_UID)
    exprs = {e for p in panels for e in expressions_in(p)}
    for metric in ("sendwatch_clock_open", "sendwatch_clock_overdue", "sendwatch_clock_due_soon"):
        assert any(metric in e for e in exprs), metric
    assert any(p["type"] == "timeseries" and "sendwatch_clock_rate" in str(p) for p in panels)
    assert any(p["type"] == "alertlist" for p in panels)
    assert any("sendwatch_alerts_firing" in e for e in exprs)


def test_the_operations_dashboard_has_ingest_lag_dead_letters_workers_and_delivery() -> None:
    exprs = {e for p in _panels(OPERATIONS_UID) for e in expressions_in(p)}
    assert "sum(rate(sendwatch_events_accepted_total[5m]))" in exprs
    for needed in (
        "sendwatch_consumer_lag",
        "sendwatch_dead_letters_total",
        f'up{{job="{PROMETHEUS_JOB}"}}',
        "sendwatch_worker_partitions",
        "sendwatch_last_event_age_seconds",
        "sendwatch_alert_notifications_total",
    ):
        assert any(needed in e for e in exprs), needed


def test_every_panel_reads_the_provisioned_datasource_and_has_a_unique_id() -> None:
    for document in dashboards().values():
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids))
        for panel in document["panels"]:
            if panel["type"] in ("row", "alertlist"):
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert panel["targets"], panel["title"]


# --- PromQL: only metrics that /metrics exposes ----------------------------------------


def test_the_metric_name_reader_finds_names_and_skips_the_rest() -> None:
    assert metric_names('sum by (clock) (rate(sendwatch_x_total{a="b c"}[5m]))') == {
        "sendwatch_x_total"
    }
    assert metric_names("a / on(x) group_left() b > 0 and up offset 5m") == {"a", "b", "up"}
    assert metric_names('count(up{job="sendwatch"}) - 1e3') == {"up"}


def test_every_query_names_only_agreed_metrics() -> None:
    exprs = all_expressions()
    assert len(exprs) > 60
    used = set().union(*(metric_names(e) for e in exprs))
    assert used - AGREED_METRICS - SYNTHETIC == set()
    # Prometheus's own `up` is only read for the sendwatch scrape job.
    for e in exprs:
        if "up" in metric_names(e):
            assert f'up{{job="{PROMETHEUS_JOB}"}}' in e, e


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard_query_{i}", "expr": e}
                    for i, e in enumerate(all_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules['groups'][0]['rules'])} rules found" in result.stdout


def _exposed_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_query_names_metrics_the_collector_really_yields() -> None:
    from alerts.rules import firing_by_severity
    from observability.exposition import ExpositionCollector, IngestCounters, build_exposition
    from observability.health import Health

    now = date(2025, 6, 30)
    projector = Projector()
    projector.apply_all(
        [
            event("request.received", "KC-1", "2025-01-06", requested_by="parent"),
            event("assessment.decided", "KC-1", "2025-02-10", decision="assess"),
            event("plan.issued", "KC-1", "2025-05-19", setting_id="URN-1"),
        ]
    )
    exposition = build_exposition(
        lambda period: projector.measures(now, period),
        now=now,
        wall_clock=datetime(2025, 6, 30, 12, tzinfo=UTC),
        health=Health(True, 3, 1, 0, datetime(2025, 5, 19, 12, tzinfo=UTC)),
        counters=IngestCounters(accepted=3),
        alerts_firing=firing_by_severity([{"severity": "warning"}]),
        notifications={"sent": 1, "failed": 0},
        consumer_lag={0: 5, 1: 0},
        partitions=2,
    )
    registry = CollectorRegistry()
    registry.register(ExpositionCollector(lambda: exposition))
    exposed = _exposed_names(generate_latest(registry).decode())
    used = set().union(*(metric_names(e) for e in all_expressions())) - SYNTHETIC
    assert used <= exposed, used - exposed
    # and the agreed list (tests/services.py) is the collector's list, not a stale copy
    assert exposed >= AGREED_METRICS, AGREED_METRICS - exposed


# --- a real Prometheus scraping a real `sendwatch run` ---------------------------------


@pytest.fixture()
def prometheus_over_sendwatch(tmp_path: Path) -> Iterator[str]:
    with running_service(tmp_path / "sendwatch.db") as service:
        with service.client() as client:
            answer = client.post(
                "/api/events",
                content=jsonl(history()),
                headers={"Content-Type": "application/x-ndjson"},
            )
            assert answer.status_code == 200, answer.text
        target = service.url.removeprefix("http://")
        with prometheus(tmp_path, target, PROMETHEUS_JOB) as url:

            def scraped_three_times() -> bool:
                """``up`` is 1 after three scrapes, so that rate() has something to work
                with."""
                try:
                    up = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2)
                    result = up.json()["data"]["result"] if up.status_code == 200 else []
                    samples = httpx.get(
                        f"{url}/api/v1/query",
                        params={"query": "count_over_time(up[1m])"},
                        timeout=2,
                    ).json()["data"]["result"]
                    scraped = float(samples[0]["value"][1]) if samples else 0.0
                    return bool(result) and result[0]["value"][1] == "1" and scraped >= 3
                except (httpx.TransportError, ValueError, KeyError):
                    return False

            wait_for("prometheus to scrape sendwatch", scraped_three_times, timeout=60)
            yield url


@pytest.mark.integration
def test_every_query_runs_on_prometheus_scraping_sendwatch(prometheus_over_sendwatch: str) -> None:
    url = prometheus_over_sendwatch
    empty = []
    for expr in sorted(set(all_expressions())):
        answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        if not answer["data"]["result"]:
            empty.append(expr)
    # Only the Kafka worker's own metrics may be missing from the embedded service, the
    # gauges the collector leaves out while their value is null (nothing to divide by, no
    # standard set), and a ratio that keeps only non-zero denominators.
    unexplained = [
        e
        for e in empty
        if not metric_names(e) & (WORKER_ONLY | ABSENT_WHEN_NULL) and "> 0)" not in e
    ]
    assert unexplained == []
    # The expressions that matter most return data.
    for expr in (
        "sum(rate(sendwatch_events_accepted_total[5m]))",
        'sendwatch_scorecard_value{point="4"}',
        "sum by (clock) (sendwatch_clock_overdue)",
        f'up{{job="{PROMETHEUS_JOB}"}}',
    ):
        answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["data"]["result"], expr
