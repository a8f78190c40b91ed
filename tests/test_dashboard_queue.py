"""The work queue on the dashboard, in headless Chromium against the real ``sendwatch run``:
a tile or a count opens the queue behind it, a filter changes its rows, the "Download CSV"
link gives the API's CSV, and at 390 px neither the queue nor a case scrolls sideways.

The cases are tests/test_queue.py's, as at 2025-06-30: overdue, KC-C's final plan (due
26 May), KC-A's annual review (1 Jun) and KC-B's reply (23 Jun); due within 28 days, KC-A's
and KC-B's decisions whether to assess (1 and 22 Jul) and KC-D's reply (4 Jul)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.chromium import chromium, signed_in
from tests.running_service import NDJSON_TYPE, RunningService, jsonl, running_service
from tests.test_queue import cases

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    db = tmp_path_factory.mktemp("queue") / "events.db"
    with running_service(db) as running, running.client() as client:
        posted = client.post("/api/events", content=jsonl(cases()), headers=NDJSON_TYPE)
        assert posted.json()["accepted"] == len(cases())
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def queue_cases(page: Page) -> list[str]:
    rows = page.locator("#queue-table tbody tr")
    return [rows.nth(i).get_attribute("data-case") or "" for i in range(rows.count())]


def test_the_overdue_replies_tile_opens_the_queue_of_overdue_replies(
    browser: Browser, service: RunningService
) -> None:
    page = signed_in(browser, service.url, height=800)
    page.locator('#tiles [data-point="1"]').click()
    expect(page.locator("#queue")).to_be_visible()
    # only KC-B's reply (due 23 Jun) is overdue; KC-D's (due 4 Jul) is not yet
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)
    assert queue_cases(page) == ["KC-B"]
    assert "clock=contact_response" in page.evaluate("location.hash")
    assert page.locator("#queue-clock").input_value() == "contact_response"
    page.close()


def test_an_overdue_count_in_the_clocks_table_opens_its_queue(
    browser: Browser, service: RunningService
) -> None:
    page = signed_in(browser, service.url, height=800)
    page.locator('#clock-rows tr[data-clock="final_plan"] td.overdue').click()
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)
    assert queue_cases(page) == ["KC-C"]
    page.close()


def test_a_filter_changes_the_rows_and_the_download_gives_the_apis_csv(
    browser: Browser, service: RunningService
) -> None:
    page = signed_in(browser, service.url, height=800)
    page.goto(service.url + "/#queue")
    page.reload()  # the token is kept for the tab; the page opens on the queue
    expect(page.locator("#queue-table tbody tr")).to_have_count(6)
    page.locator("#queue-form input[name=team]").fill("north")
    page.locator("#queue-form button[type=submit]").click()
    # north: KC-C's final plan, KC-A's review and KC-A's decision whether to assess
    expect(page.locator("#queue-table tbody tr")).to_have_count(3)
    assert queue_cases(page) == ["KC-C", "KC-A", "KC-A"]
    with page.expect_download() as download:
        page.locator("#queue-csv").click()
    saved = Path(download.value.path()).read_bytes()
    with service.client() as client:
        api = client.get("/api/queue?team=north&format=csv")
    assert api.status_code == 200
    assert saved == api.content
    assert len(saved.splitlines()) == 4  # a header and three rows
    page.close()


def test_sorting_by_a_column_header(browser: Browser, service: RunningService) -> None:
    page = signed_in(browser, service.url, height=800)
    page.locator('#tiles [data-point="3"]').click()  # every overdue clock
    expect(page.locator("#queue-table tbody tr")).to_have_count(3)
    assert queue_cases(page) == ["KC-C", "KC-A", "KC-B"]  # 26 May, 1 Jun, 23 Jun
    page.locator("#queue-table button[data-sort=due]").click()  # again: latest first
    expect(page.locator("#queue-table tbody tr").first).to_have_attribute("data-case", "KC-B")
    assert queue_cases(page) == ["KC-B", "KC-A", "KC-C"]
    page.close()


def test_the_remembered_caseworker_opens_their_queue(
    browser: Browser, service: RunningService
) -> None:
    page = signed_in(browser, service.url, height=800)
    page.locator("#my-caseworker").fill("cw-2")
    page.locator("#my-queue").click()
    expect(page.locator("#queue-table tbody tr")).to_have_count(2)  # KC-B's reply, decision
    page.goto(service.url + "/")
    page.reload()
    expect(page.locator("#queue-table tbody tr")).to_have_count(2)
    assert set(queue_cases(page)) == {"KC-B"}
    page.evaluate("localStorage.clear()")
    page.close()


def width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_at_390_px_neither_the_queue_nor_a_case_scrolls_sideways(
    browser: Browser, service: RunningService
) -> None:
    page = signed_in(browser, service.url, width=390, height=800)
    page.locator('#tiles [data-point="3"]').click()
    expect(page.locator("#queue-table tbody tr")).to_have_count(3)
    assert width(page) <= 390
    page.locator("#case-input").fill("KC-A")
    page.get_by_role("button", name="Show the case").click()
    expect(page.locator("#case-result table.case-history")).to_have_count(1)
    assert width(page) <= 390
    page.close()
