"""A real Prometheus (Debian's package) scrapes a real ``sendwatch run`` on loopback, and a
PromQL query gives the API's number."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.running_service import NDJSON_TYPE, RunningService, history, jsonl, running_service
from tests.services import prometheus as real_prometheus
from tests.services import promtool_problems

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "events.db") as running, running.client() as client:
        answer = client.post("/api/events", content=jsonl(history()), headers=NDJSON_TYPE)
        assert answer.status_code == 200
        yield running


@pytest.fixture
def prometheus(tmp_path: Path, service: RunningService) -> Iterator[str]:
    with real_prometheus(tmp_path, service.url.removeprefix("http://"), "sendwatch") as url:
        yield url


def query_until(prometheus: str, promql: str, expected: float, seconds: float = 30) -> float:
    """The query's value once it equals ``expected`` (scrapes come every second), or the
    last value seen when time runs out."""
    deadline = time.monotonic() + seconds
    value = float("nan")
    while time.monotonic() < deadline:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}).json()
        assert answer["status"] == "success", answer
        result = answer["data"]["result"]
        if result:
            value = float(result[0]["value"][1])
            if value == expected:
                return value
        time.sleep(0.25)
    return value


def test_prometheus_scrapes_the_clock_counts_the_api_shows(
    service: RunningService, prometheus: str
) -> None:
    with service.client() as client:
        final = client.get("/api/measures").json()["final_plan"]
        assert final["open"] == 2  # KC-C and KC-D
        promql = 'sendwatch_clock_open{clock="final_plan", job="sendwatch"}'
        assert query_until(prometheus, promql, final["open"]) == final["open"]
        up = httpx.get(f"{prometheus}/api/v1/query", params={"query": "up"}).json()
        assert up["data"]["result"][0]["value"][1] == "1"

        new = {
            "event_id": "k1",
            "type": "request.received",
            "case_id": "KC-K",
            "occurred_at": "2025-06-27",
            "data": {"requested_by": "parent"},
        }
        assert (
            client.post("/api/events", content=orjson.dumps(new), headers=NDJSON_TYPE).json()[
                "accepted"
            ]
            == 1
        )
        now_open = client.get("/api/measures").json()["final_plan"]["open"]
        assert now_open == 3
        assert query_until(prometheus, promql, now_open) == now_open
        rate = 'sendwatch_clock_rate{clock="final_plan", window="12m", exceptions="included"}'
        assert query_until(prometheus, rate, final["rate_incl_exceptions"]) == 0.5

    text = httpx.get(f"{service.url}/metrics").text
    assert promtool_problems(text) == []
