"""The dashboard's "DfE's measures, year to date" panel (issue 20, item 4): ``GET
/api/published`` answers the council's published figures (its own, its region's, England's,
its statistical neighbours' median) beside ``GET /api/dfe``'s, and the page shows them, in
headless Chromium, for a council other than Kent (Hertfordshire, LA code 919).

The figures expected are read from DfE's shipped CSV file, not from the code under test.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import EventLog
from tests.chromium import chromium, signed_in
from tests.running_service import NDJSON_TYPE, TOKEN, history, jsonl, running_service

RELEASE = Path(__file__).parent.parent / "reports" / "published" / "dfe-ehc-plans-2025"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEIGHBOURS = ("886", "881", "825")  # Kent, Essex, Buckinghamshire


def cell(file: str, column: str, code: str, year: str = "2024") -> str:
    """DfE's cell for an LA code, a region code or "England", and a year."""
    with open(RELEASE / file, encoding="utf-8-sig", newline="") as stream:
        for row in csv.DictReader(stream):
            level = row["geographic_level"]
            area = {"National": "England", "Regional": row["region_code"]}.get(
                level, row["old_la_code"]
            )
            if area == code and row["time_period"] == year:
                return row[column]
    raise AssertionError(f"no {column} for {code} in {year}")


def share(file: str, column: str, code: str) -> float:
    return round(float(cell(file, column, code)) / 100, 6)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SENDWATCH_NEIGHBOURS", ",".join(NEIGHBOURS))
    monkeypatch.delenv("SENDWATCH_PUBLISHED_RELEASE", raising=False)
    source = EmbeddedSource(
        EventLog(tmp_path / "events.db"), frozen_now=date(2025, 6, 30), council="919"
    )
    yield TestClient(embedded_app(source, token=TOKEN))


def test_published_figures_are_the_councils_own_its_regions_englands_and_neighbours(
    api: TestClient,
) -> None:
    answer = api.get("/api/published?year=2025", headers=AUTH)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert body["release"] == "dfe-ehc-plans-2025"
    assert body["council"] == {"code": "919", "name": "Hertfordshire"}
    assert body["region"] == {"code": "E12000006", "name": "East of England"}
    assert body["neighbours"] == list(NEIGHBOURS)
    within = body["figures"]["timeliness_20_week"]["rate_within_20_weeks_ex"]
    column = "PC_plans_issued_20_weeks_ex"
    assert within["year"] == 2024  # the latest year before 2025
    assert within["dfe_column"] == column
    assert within["council"]["value"] == 0.563  # Hertfordshire 2024: 56.3%, not Kent's 33.3%
    assert within["council"]["value"] == share("timeliness_20_week.csv", column, "919")
    assert within["region"]["value"] == share("timeliness_20_week.csv", column, "E12000006")
    assert within["england"]["value"] == 0.464
    median = statistics.median(share("timeliness_20_week.csv", column, c) for c in NEIGHBOURS)
    assert within["neighbours"]["value"] == median
    assert within["neighbours"]["note"] == "median of 3 of 3 neighbours"
    # DfE gave no 2024 review figure for Hertfordshire ("x"): null, with the reason
    reviews = body["figures"]["annual_reviews"]["rate_decided_within_4_weeks"]
    assert cell("annual_reviews.csv", "pc_decsion_4weeks", "919") == "x"
    assert reviews["council"] == {
        "value": None,
        "reason": "DfE marks it not available (x)",
        "note": None,
    }
    # the same names as /api/dfe's figures, whose keys are unchanged
    dfe = api.get("/api/dfe?year=2025", headers=AUTH).json()
    for group, figures in body["figures"].items():
        for name, item in figures.items():
            assert dfe[group][name]["dfe_column"] == item["dfe_column"]
    # average weeks and phase transfers: no column in the 2025 release, so none published
    assert "average_weeks" not in body["figures"]["timeliness_20_week"]
    assert "phase_transfers" not in body["figures"]


def test_published_figures_need_a_reader_and_default_to_the_year_of_now(
    api: TestClient,
) -> None:
    assert api.get("/api/published").status_code == 401
    assert api.get("/api/published", headers=AUTH).json()["year"] == 2025  # now: 30 June 2025
    old = api.get("/api/published?year=2024", headers=AUTH).json()
    within = old["figures"]["timeliness_20_week"]["rate_within_20_weeks_ex"]
    assert within["year"] == 2023
    assert within["council"]["value"] == round(
        float(cell("timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex", "919", "2023")) / 100,
        6,
    )


@pytest.mark.integration
def test_the_panel_shows_the_councils_published_figure_beside_the_year_to_date(
    tmp_path: Path,
) -> None:
    env = {"SENDWATCH_COUNCIL": "919", "SENDWATCH_NEIGHBOURS": ",".join(NEIGHBOURS)}
    with (
        running_service(tmp_path / "events.db", extra_env=env) as service,
        service.client() as client,
    ):
        posted = client.post("/api/events", content=jsonl(history()), headers=NDJSON_TYPE)
        assert posted.json()["accepted"] == len(history())
        dfe = client.get("/api/dfe?year=2025").json()
        with chromium() as browser:
            page = signed_in(browser, service.url, loaded="#dfe-rows[data-loaded=true]")
            expect(page.locator("#dfe-council-head")).to_have_text("Hertfordshire, published")
            row = page.locator('tr[data-figure="rate_within_20_weeks_ex"] td')
            ytd = dfe["timeliness_20_week"]["rate_within_20_weeks_ex"]["value"]
            shown = "—" if ytd is None else f"{ytd * 100:.1f}%"
            expect(row.nth(0)).to_have_text(shown)
            expect(row.nth(1)).to_have_text("56.3% (2024)")  # Hertfordshire's own
            expect(row.nth(3)).to_have_text("46.4% (2024)")  # England's
            reviews = page.locator('tr[data-figure="rate_decided_within_4_weeks"] td')
            expect(reviews.nth(1)).to_have_text("not available (2024)")
            expect(page.locator("#dfe-caption")).to_contain_text("year to date and provisional")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366
