"""The dashboard in headless Chromium, for the tests: Debian's chromium driven by Playwright
(docs/screenshot.py's path and arguments), and a page of a running service signed in with
the test token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from docs.screenshot import ARGS, CHROMIUM
from tests.running_service import TOKEN

LOADED = "body[data-loaded=true]"  # the page has shown the API's figures


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, closed afterwards; the test fails if it is missing."""
    assert Path(CHROMIUM).exists(), "chromium is needed (apt: chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def signed_in(
    browser: Browser,
    url: str,
    *,
    at: str = "/",
    width: int = 1366,
    height: int = 768,
    loaded: str | None = LOADED,
) -> Page:
    """A new page of the service at ``url`` opened at ``at``, the test token given; once
    ``loaded`` is on the page (None: without waiting)."""
    page = browser.new_page(viewport={"width": width, "height": height})  # downloads accepted
    page.goto(url + at)
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Show the figures").click()
    if loaded is not None:
        expect(page.locator(loaded)).to_have_count(1, timeout=10_000)
    return page
