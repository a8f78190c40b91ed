"""The report's "How this year will look in DfE's statistics" (issue 20, item 5): DfE's
measures for the calendar year to the end of the reported month, beside the council's latest
published figure and England's, year to date and provisional, small numbers suppressed.

The report is for May 2025 (cutoff: the end of 10 June 2025). Day 0 is the day a request was
received; "within 20 weeks" is on or before day 140.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from events import Event
from projections.case import fold_case
from projections.dfe import dfe_measures
from reports.dfe_year import ROWS
from reports.disclosure import Disclosure, percent
from reports.figures import Month, reporting_cutoff
from reports.published import open_release
from sendwatch.report_command import report_command
from tests.history import event, raw

MONTH = "2025-05"
END = date(2025, 5, 31)
RELEASE = Path(__file__).parent.parent / "reports" / "published" / "dfe-ehc-plans-2025"
FIVE = Disclosure(5)


def history(small: bool = False) -> list[dict[str, Any]]:
    """Plans for requests received on Monday 6 January 2025 (day 0), and one from 2024;
    ``small``: one of the X plans has an exception, not five."""
    rows: list[tuple[str, str, str, dict[str, Any]]] = []

    def plan(case: str, received: str, issued: str, excepted: bool = False) -> None:
        rows.append(("request.received", case, received, {"requested_by": "parent"}))
        if excepted:
            ground = {"clock": "final_plan", "ground": "personal_circumstances"}
            rows.append(("exception.applied", case, "2025-03-01", ground))
        rows.append(("plan.issued", case, issued, {}))

    # W1-W7: issued Monday 26 May 2025, day 140: within 20 weeks
    for n in range(1, 8):
        plan(f"KC-W{n}", "2025-01-06", "2025-05-26")
    # Y: request 2 September 2024, issued 13 January 2025 (day 133: within), counted in 2025
    plan("KC-Y", "2024-09-02", "2025-01-13")
    # L1-L5: issued Tuesday 27 May 2025, day 141: after 20 weeks, within 52
    for n in range(1, 6):
        plan(f"KC-L{n}", "2025-01-06", "2025-05-27")
    # X1-X5: an exception on 1 March, issued 27 May (day 141): in "including" only
    for n in range(1, 6):
        plan(f"KC-X{n}", "2025-01-06", "2025-05-27", excepted=not small or n == 1)
    # J: issued 2 June 2025 (recorded then, before the cutoff): after May, not year to date
    plan("KC-J", "2025-01-06", "2025-06-02")
    return [
        raw(kind, case, on, eid=f"e{n}", **data) for n, (kind, case, on, data) in enumerate(rows)
    ]


def write(records: list[dict[str, Any]], path: Path) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def report_html(events: Path, out: Path) -> str:
    """``sendwatch report`` for May 2025, the HTML (the PDF writer replaced)."""
    with mock.patch("reports.build.write_pdf", lambda html, path: None):
        assert report_command(MONTH, str(events), out / "none.db", out, False) == 0
    return (out / f"report-{MONTH}.html").read_text(encoding="utf-8")


def table(html: str) -> dict[str, list[str]]:
    """The section's rows: label -> [year to date, cases, council published, England]."""
    body = html[html.index('id="dfe-year-table"') :]
    body = body[: body.index("</table>")]
    rows = {}
    for label, cells in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', body):
        rows[unescape(label)] = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
    return rows


def expected_measures(records: list[dict[str, Any]]) -> dict[str, Any]:
    """dfe_measures for 2025, the cases folded as at 31 May 2025 from the records made by the
    cutoff: the year to the end of the month, as DfE would count it."""
    cutoff = reporting_cutoff(Month.parse(MONTH))
    by_case: dict[str, list[Event]] = {}
    for r in records:
        e = event(r["type"], r["case_id"], r["occurred_at"], eid=r["event_id"], **r["data"])
        if e.recorded_at <= cutoff:
            by_case.setdefault(e.case_id, []).append(e)
    return dfe_measures([fold_case(c, es, END) for c, es in sorted(by_case.items())], 2025)


def published(file: str, column: str, code: str, year: str = "2024") -> str:
    """The cell of DfE's shipped CSV for an LA code (or "England") and year."""
    with open(RELEASE / file, encoding="utf-8-sig", newline="") as stream:
        for row in csv.DictReader(stream):
            level = row["geographic_level"]
            area = "England" if level == "National" else row["old_la_code"]
            if area == code and row["time_period"] == year and level != "Regional":
                return row[column]
    raise AssertionError(f"no {column} for {code} in {year}")


@pytest.fixture(scope="module")
def kent(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    folder = tmp_path_factory.mktemp("dfe-year")
    records = history()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SENDWATCH_COUNCIL", "886")
        return records, report_html(write(records, folder / "events.jsonl"), folder)


def test_year_to_date_figures_are_dfe_measures_for_january_to_the_end_of_the_month(
    kent: tuple[list[dict[str, Any]], str],
) -> None:
    records, html = kent
    rows = table(html)
    expected = expected_measures(records)
    assert len(rows) == len(ROWS)
    for row in ROWS:
        figure = expected[row.group][row.figure]["value"]
        value, counted, *_ = rows[row.label]
        if row.kind == "count":
            assert value == FIVE.count(figure), row.label
            continue
        base = sum(expected[row.group][k]["value"] for k in row.base)
        if row.kind == "weeks":
            assert value == (f"{figure:.1f} weeks" if base >= 5 else FIVE.rate(figure, base))
            continue
        count = expected[row.group][row.count]["value"]
        assert counted == f"{FIVE.count(count)} of {FIVE.count(base)}", row.label
        if base >= 5 and not 0 < count < 5:  # zero identifies nobody
            assert value == percent(figure), row.label
        else:
            assert value in ("not shown", "no cases"), row.label


def test_the_worked_history_by_hand(kent: tuple[list[dict[str, Any]], str]) -> None:
    _, html = kent
    rows = table(html)
    # to 31 May: W1-W7, Y, L1-L5, X1-X5 = 18 plans (J, issued 2 June, is not yet counted);
    # leaving out exceptions: 13 (X1-X5 dropped)
    assert rows["New EHC plans issued"][0] == "18"
    assert rows["New EHC plans issued, leaving out exceptions"][0] == "13"
    # within 20 weeks: W1-W7 and Y = 8 of 18 (44.4%); of 13 leaving out exceptions (61.5%)
    assert rows["Issued within 20 weeks, including exceptions"][:2] == ["44.4%", "8 of 18"]
    assert rows["Issued within 20 weeks, leaving out exceptions"][:2] == ["61.5%", "8 of 13"]
    # after 20 weeks: L1-L5 and X1-X5 = 10 of 18 (55.6%); L1-L5 = 5 of 13 (38.5%)
    late = "Issued after 20 weeks and within 52, "
    assert rows[late + "including exceptions"][:2] == ["55.6%", "10 of 18"]
    assert rows[late + "leaving out exceptions"][:2] == ["38.5%", "5 of 13"]
    # average: (7 x 140 + 133 + 10 x 141) / 18 = 2,523 / 18 days = 20.0 weeks
    assert rows["Average weeks from request to plan, including exceptions"][0] == "20.0 weeks"
    # no request, review or transfer in the history
    assert rows["Decisions whether to assess made within 6 weeks"][:2] == ["no cases", "0 of 0"]


def test_a_small_number_is_not_given_away_by_the_bands_or_by_the_exceptions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # only X1 has an exception: 18 plans, 17 leaving out exceptions, so 1 plan with an
    # exception (18 - 17) and, in the 20-52 band, 10 less 9: neither may be worked out
    monkeypatch.setenv("SENDWATCH_COUNCIL", "886")
    rows = table(report_html(write(history(small=True), tmp_path / "events.jsonl"), tmp_path))
    assert rows["New EHC plans issued"][0] == "18"
    assert rows["New EHC plans issued, leaving out exceptions"][0] == "not shown"
    for row in ROWS:
        if row.group == "timeliness_20_week" and row.kind == "share":
            value, counted, *_ = rows[row.label]
            assert value == "not shown", row.label
            assert "%" not in counted and not re.search(r"\b(9|10|17)\b", counted), row.label
    text = " ".join(cell for row in rows.values() for cell in row)
    assert "17" not in text.replace("2,424", "")


def test_beside_each_figure_is_the_councils_own_published_figure_and_englands(
    kent: tuple[list[dict[str, Any]], str],
) -> None:
    _, html = kent
    rows = table(html)
    # Kent 2024, leaving out exceptions: 783 of 2,354 within 20 weeks, 33.3%
    within = rows["Issued within 20 weeks, leaving out exceptions"]
    assert within[2] == "33.3% in 2024"
    assert published("timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex", "886") == "33.3"
    assert within[3] == "46.4% in 2024"  # England, 39,407 of 84,866
    checked = {
        "Issued within 20 weeks, including exceptions": (
            "timeliness_20_week.csv", "pc_plans_issued_within_20_weeks"),
        "Decisions whether to assess made within 6 weeks": (
            "requests.csv", "request_outcome_six_weeks_pc"),
        "Decisions not to issue a plan made within 16 weeks": (
            "assessments.csv", "outcome_decision_within_time_pc"),
        "Annual review decisions sent within 4 weeks of the meeting": (
            "annual_reviews.csv", "pc_decsion_4weeks"),
    }  # fmt: skip
    for label, (file, column) in checked.items():
        assert rows[label][2] == f"{float(published(file, column, '886')):.1f}% in 2024"
        assert rows[label][3] == f"{float(published(file, column, 'England')):.1f}% in 2024"
    assert rows["New EHC plans issued"][2] == "2,424 in 2024"
    # DfE publishes average weeks and phase transfers from reporting year 2026
    for label in (
        "Average weeks from request to plan, including exceptions",
        "Phase transfers finalised by the deadline",
    ):
        assert rows[label][2].startswith("not published in dfe-ehc-plans-2025")


def test_the_section_says_year_to_date_provisional_and_how_dfe_counts(
    kent: tuple[list[dict[str, Any]], str],
) -> None:
    _, html = kent
    start = html.index('id="dfe-year"')
    text = unescape(re.sub(r"<[^>]+>", "", html[start : html.index("</section>", start)]))
    assert "How this year will look in DfE's statistics" in text
    assert "year to date" in text
    assert "provisional" in text
    assert "1 January 2025 to 31 May 2025" in text
    assert "June 2026" in text  # when DfE publishes 2025
    assert "Kent, published" in text
    # the notes: where DfE's counting differs from the report's own clocks, once each
    assert "not clocks stopped in a period" in text
    assert "Exceptions are included: DfE publishes no figure without them" in text
    assert text.count("Counts new plans issued in the year") == 1  # said once, not per row
    assert "request_outcome_six_weeks" not in text  # no column names for councillors


def test_another_council_gets_its_own_published_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "919")  # Hertfordshire
    rows = table(report_html(write(history(), tmp_path / "events.jsonl"), tmp_path))
    within = rows["Issued within 20 weeks, leaving out exceptions"]
    assert within[2] == "56.3% in 2024"
    assert published("timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex", "919") == "56.3"
    assert "33.3%" not in " ".join(cell for row in rows.values() for cell in row)  # not Kent's
    # DfE gave no 2024 review figure for Hertfordshire (x): said in words, never a number
    assert published("annual_reviews.csv", "pc_decsion_4weeks", "919") == "x"
    reviews = rows["Annual review decisions sent within 4 weeks of the meeting"][2]
    assert reviews == "not available offline for 2024: DfE marks it not available (x)"


def test_a_council_not_in_the_release_is_told_so_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "999")
    html = report_html(write(history(), tmp_path / "events.jsonl"), tmp_path)
    rows = table(html)
    within = rows["Issued within 20 weeks, leaving out exceptions"]
    assert within[2] == "not available offline: LA code 999 is not in dfe-ehc-plans-2025"
    assert within[3] == "46.4% in 2024"  # England's is still there


def test_published_figures_are_for_a_year_before_the_reported_one() -> None:
    """A report for May 2024 sets the year to date beside 2023's published figures."""
    from reports.dfe_year import section

    records = [r for r in history() if r["case_id"] == "KC-Y"]  # issued 13 January 2025
    measures = dfe_measures(
        [
            fold_case(
                "KC-Y", [event(r["type"], "KC-Y", r["occurred_at"], **r["data"]) for r in records]
            )
        ],
        2024,
    )
    shown = section(measures, open_release(), "886", FIVE, date(2024, 5, 31))
    rows = {r.label: r for r in shown.rows}
    kent_2023 = published(
        "timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex", "886", year="2023"
    )
    within = rows["Issued within 20 weeks, leaving out exceptions"]
    assert within.council == f"{float(kent_2023):.1f}% in 2023"
    assert within.value == "no cases"  # nothing issued from January to May 2024
