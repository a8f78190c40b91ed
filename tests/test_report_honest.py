"""A report that cannot mislead: right first time is provisional while families may still
appeal, no share gives a suppressed count away, settings are named from the council's
lookup file, and a month not over yet is marked as a partial month."""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from html import unescape
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from events.envelope import LONDON
from projections.law import APPEAL_AGAINST
from reports import narrative
from reports.disclosure import Disclosure
from reports.document import appeal_table
from reports.figures import Month, settled_month
from sendwatch.report_command import report_command

FIVE = Disclosure(5)


def event(kind: str, case: str, on: str, eid: str, **data: Any) -> bytes:
    return orjson.dumps(
        {
            "event_id": eid,
            "type": kind,
            "case_id": case,
            "occurred_at": on,
            "recorded_at": f"{on}T12:00:00Z",
            "data": data,
        }
    )


def plan(case: str, issued: str, **data: Any) -> list[bytes]:
    """A case from request to final plan (the plan is an appealable decision)."""
    return [
        event("request.received", case, "2024-01-08", f"{case}-req", requested_by="parent"),
        event("assessment.decided", case, "2024-02-05", f"{case}-dec", decision="assess"),
        event("plan.issued", case, issued, f"{case}-plan", **data),
    ]


def report(
    lines: list[bytes], folder: Path, month: str, today: date | None = None
) -> tuple[int, str]:
    """Run ``sendwatch report`` (no PDF) on ``today`` (default: long after the month)."""
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    when = today or date(2030, 1, 1)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return cls(when.year, when.month, when.day, 12, tzinfo=tz or LONDON)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("reports.build.write_pdf", lambda html, path: None))
        stack.enter_context(mock.patch("sendwatch.report_command.datetime", Clock))
        code = report_command(month, str(events), folder / "none.db", folder, False)
    html = (folder / f"report-{month}.html").read_text() if code == 0 else ""
    return code, html


def between(html: str, start: str, end: str) -> str:
    first = html.index(start)
    return html[first : html.index(end, first)]


def rows(html: str) -> dict[str, list[str]]:
    """Each table row's cells by its heading."""
    out = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        head = re.search(r'<th scope="row">(.*?)</th>', row, re.S)
        if head:
            out[unescape(head.group(1))] = [
                unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)
            ]
    return out


# --- right first time -------------------------------------------------------------------


def test_the_latest_settled_month_is_past_the_two_month_appeal_window() -> None:
    # On 31 October a decision of 31 August may still be appealed (its last day is 31
    # October): the latest month all of whose decisions are past the window is July.
    assert settled_month(Month(2026, 10)) == Month(2026, 7)
    # On 31 December, 31 October's decision is still open: September.
    assert settled_month(Month(2026, 12)) == Month(2026, 9)


def first_time_right_history() -> list[bytes]:
    lines = []
    # 12 months before: 25 plans issued on 10 March 2025, 10 of them overturned (60.0%).
    for n in range(25):
        case = f"FTR-OLD-{n:02d}"
        lines += plan(case, "2025-03-10")
        if n < 10:
            lines.append(
                event(
                    "appeal.registered",
                    case,
                    "2025-04-01",
                    f"{case}-ap",
                    appeal_id=f"o{n}",
                    against="contents",
                )
            )
            lines.append(
                event(
                    "appeal.concluded",
                    case,
                    "2025-08-01",
                    f"{case}-won",
                    appeal_id=f"o{n}",
                    outcome="appellant_won",
                )
            )
    # October 2026: 25 plans issued on 5 October, none appealed yet (all within 2 months).
    for n in range(25):
        lines += plan(f"FTR-NEW-{n:02d}", "2026-10-05")
    return lines


def test_a_provisional_first_time_right_month_is_labelled_and_not_praised(tmp_path: Path) -> None:
    code, html = report(first_time_right_history(), tmp_path, "2026-10")
    assert code == 0
    table = rows(between(html, "<caption>Decisions right first time</caption>", "</table>"))
    # all 25 of October's decisions may still be appealed: 100.0% is provisional
    assert table["October 2026"] == ["25", "0", "25", "100.0% (provisional)"]
    assert table["12 months to October 2026"][-1] == "100.0% (provisional)"
    # the settled period is shown, and says which it is
    assert "July 2026 (latest month past the appeal window)" in table
    # 12 months to October 2026 (100%, provisional) against the 12 before (60.0%, settled):
    # 40 points up over 25 decisions each, but not listed as an improvement
    improved = between(html, "<h2>What improved</h2>", "<h2>What got worse</h2>")
    assert "conceded or lost" not in improved and "100.0%" not in improved
    # the scorecard rates July 2026 (no decisions), never October's provisional 100.0%
    point = re.search(r'<span class="point">2\.</span>.*?</tr>', html, re.S)
    assert point is not None
    assert "100.0%" not in point.group(0) and "rag-green" not in point.group(0)
    assert "July 2026: the latest month past the 2-month appeal window" in point.group(0)


# --- suppression --------------------------------------------------------------------------


def reviews(setting: str, checked: int, lawful: int, on: str) -> list[bytes]:
    lines = []
    for n in range(checked):
        case = f"REV-{setting}-{n:02d}"
        lines += plan(case, "2025-01-06", setting_id=setting)
        lines.append(
            event(
                "review.compliance_checked", case, on, f"{case}-chk",
                setting_id=setting, compliant=n < lawful, failures=[] if n < lawful else ["late"],
            )
        )  # fmt: skip
    return lines


def test_ten_checked_one_lawful_shows_no_share(tmp_path: Path) -> None:
    # 10 reviews checked at one setting, 1 lawful: "fewer than 5 lawful · 10.0%" would say
    # exactly 1, and 10 checked beside it would say 9 were not.
    code, html = report(reviews("100001", 10, 1, "2025-05-12"), tmp_path, "2025-05")
    assert code == 0
    section = between(html, 'id="reviews"', "</section>")
    settings = rows(between(section, "Settings with the lowest share", "</table>"))
    assert settings["100001"] == ["10", "fewer than 5", "not shown"]
    totals = rows(between(section, "<caption>Annual reviews checked</caption>", "</table>"))
    assert totals["May 2025"] == ["10", "fewer than 5", "not shown"]
    assert "10.0%" not in section and "90.0%" not in section


# --- setting names ------------------------------------------------------------------------


def test_settings_are_named_from_the_councils_lookup_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tmp_path / "schools.csv"
    names.write_text("urn,name\n100001,Hill Top Primary School\n")
    monkeypatch.setenv("SENDWATCH_SETTING_NAMES", str(names))
    lines = reviews("100001", 6, 6, "2025-05-12") + reviews("100002", 6, 6, "2025-05-13")
    code, html = report(lines, tmp_path / "named", "2025-05")
    assert code == 0
    settings = rows(between(html, "Settings with the lowest share", "</table>"))
    assert "Hill Top Primary School" in settings
    assert "100002" in settings  # not in the file: its URN
    assert ">100001<" not in html


def test_a_wrong_lookup_file_is_a_usage_error_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = tmp_path / "schools.csv"
    names.write_text("urn,name\n100001,Hill Top\n100003\n")
    monkeypatch.setenv("SENDWATCH_SETTING_NAMES", str(names))
    code, _ = report(reviews("100001", 1, 1, "2025-05-12"), tmp_path, "2025-05")
    assert code == 2
    assert f"SENDWATCH_SETTING_NAMES: {names}, line 3" in capsys.readouterr().err


# --- the partial month --------------------------------------------------------------------


def test_a_report_made_during_its_month_marks_the_partial_month(tmp_path: Path) -> None:
    lines = reviews("100001", 6, 6, "2025-05-12") + plan("PART-1", "2025-05-02")
    # made on 15 May 2025: May is not over
    code, html = report(lines, tmp_path / "during", "2025-05", today=date(2025, 5, 15))
    assert code == 0
    assert "<strong>Partial month:</strong> May 2025 was not over" in html
    assert "May 2025 (partial month):" in html  # each chart's words
    # made on 11 June 2025: May is a whole month
    code, html = report(lines, tmp_path / "after", "2025-05", today=date(2025, 6, 11))
    assert code == 0
    assert "partial month" not in html.lower()


def test_an_appeals_total_does_not_give_a_small_count_away() -> None:
    # 2 appeals against refusals to assess, 30 against contents, 40 against placement, and
    # "All appeals: 72" printed: with 30 and 40 printed, 72 would say the 2.
    appeals = {a: dict.fromkeys(narrative.OUTCOMES, 0) for a in APPEAL_AGAINST}
    appeals["refusal_to_assess"]["registered"] = 2
    appeals["contents"]["registered"] = 30
    appeals["placement"]["registered"] = 40
    printed = {name: row["registered"] for name, row in appeal_table({"appeals": appeals}, FIVE)}
    assert printed["Refusal to assess"] == "fewer than 5"
    assert printed["Contents of a plan (Sections B, F)"] == "not shown"
    assert printed["Placement (Section I)"] == "40"
    assert printed["All appeals"] == "72"


def test_a_share_leaving_out_few_exceptions_is_not_shown(tmp_path: Path) -> None:
    # 20 final plans issued in May 2025 (requests of 8 January 2024: all late), 2 of them
    # with an exception: "20 completed, fewer than 5 with an exception" beside a share of
    # the 18 others (or "18 counted") would say there were exactly 2.
    lines = []
    for n in range(20):
        case = f"EXC-{n:02d}"
        lines += plan(case, "2025-05-12")
        if n < 2:
            lines.append(
                event(
                    "exception.applied", case, "2025-04-01", f"{case}-exc",
                    clock="final_plan", ground="personal_circumstances", family_told=True,
                )
            )  # fmt: skip
    code, html = report(lines, tmp_path, "2025-05")
    assert code == 0
    month = rows(between(html, 'id="clocks-month"', "</table>"))
    assert month["Final EHC plan issued (20 weeks)"] == [
        "20", "0", "0.0%", "fewer than 5", "not shown",
    ]  # fmt: skip
    block = rows(between(html, 'id="clock-final_plan"', "</table>"))
    assert block["May 2025"] == ["not shown", "not shown", "not shown"]
