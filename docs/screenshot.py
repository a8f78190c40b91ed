"""Take docs/dashboard.png: the dashboard of a running ``sendwatch run`` in headless Chromium.

Example (after ``make demo`` or ``sendwatch run`` over a simulated history):
    SENDWATCH_API_TOKEN=secret python docs/screenshot.py http://127.0.0.1:8000 docs/dashboard.png
"""

from __future__ import annotations

import os
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's; also what tests/test_dashboard.py launches
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(url: str, out: str, case: str | None = None) -> None:
    token = os.environ["SENDWATCH_API_TOKEN"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url.rstrip("/") + "/")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Show the figures").click()
        page.wait_for_selector("body[data-loaded=true]", timeout=60_000)
        if case:
            page.get_by_label("Case reference").fill(case)
            page.get_by_role("button", name="Show the case").click()
            page.wait_for_selector(".case-clocks", timeout=10_000)
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
