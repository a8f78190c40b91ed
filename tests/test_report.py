"""The monthly scrutiny report (issue 6): true, reproducible, safe to publish, accessible.

The figures printed in the PDF are checked against ``sendwatch metrics`` over the same
events for the same period (the contract's one definition of every measure), read back with
``pdftotext -layout`` as a councillor would read them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from events import decode, from_record
from projections import Period, Projector
from projections.law import CLOCK_IDS, CLOCKS
from projections.measures import measures
from reports import benchmarks, charts, narrative
from reports.disclosure import Disclosure
from reports.document import Options, render_html
from reports.figures import Figures, Month, compute, reporting_cutoff
from sendwatch.report_command import report_command
from simulation.council import Calibration, simulate, write_jsonl
from streams.ingest import ingest
from streams.log import EventLog

SENDWATCH = Path(sys.executable).with_name("sendwatch")
MONTH = "2025-05"
FIVE = Disclosure(5)

# A small simulated council: the shape of Kent, a twentieth of its size, one year to June 2025.
SMALL = Calibration(
    requests_per_year=600,
    plans_in_cycle=1500,
    contacts_per_year=3000,
    sen_support_children=1500,
    audits_per_year=150,
    out_of_education=40,
    eotas_requests_per_year=30,
    caseworkers=30,
)


def pdf_text(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    )
    return done.stdout


def metrics(events: Path, *args: str) -> dict[str, Any]:
    """``sendwatch metrics`` itself, as a council's analyst would run it."""
    done = subprocess.run(
        [str(SENDWATCH), "metrics", "--events", str(events), *args],
        check=True,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def section(text: str, start: str, end: str) -> str:
    """The text from the line holding ``start`` to the line holding ``end``."""
    first = text.index(start)
    return text[first : text.index(end, first + len(start))]


def cells(text: str, label: str) -> list[str]:
    """The cells of the table row whose first cell is ``label`` (columns are 2+ spaces apart)."""
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if parts[0] == label:
            return parts[1:]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def case_ids(path: Path) -> set[str]:
    return {orjson.loads(line)["case_id"] for line in path.read_bytes().splitlines() if line}


@dataclass
class Built:
    events: Path
    out: Path
    html: bytes
    pdf: Path
    warnings: list[str] = field(default_factory=list)


def build(
    events: Path | None,
    out: Path,
    month: str = MONTH,
    *,
    db: Path | None = None,
    now: bool = False,
    pdf: bool = True,
) -> Built:
    """Run ``sendwatch report``'s command. ``pdf=False``: the caller has replaced the PDF
    writer (tests about the HTML alone save WeasyPrint's few seconds)."""
    with contextlib.ExitStack() as stack:
        if not pdf:
            stack.enter_context(mock.patch("reports.build.write_pdf", lambda html, path: None))
        code = report_command(
            month=month,
            events=None if events is None else str(events),
            db=db or out / "none.db",
            out=out,
            as_known_now=now,
        )
    assert code == 0
    return Built(
        events or Path(),
        out,
        (out / f"report-{month}.html").read_bytes(),
        out / f"report-{month}.pdf",
    )


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A simulated year to 30 June 2025 and its report for May 2025 (cutoff 10 June)."""
    folder = tmp_path_factory.mktemp("simulated")
    events = folder / "events.jsonl"
    write_jsonl(events, simulate(seed=3, years=1, end=date(2025, 6, 30), calibration=SMALL))
    warnings = Warnings()
    logging.getLogger("weasyprint").addHandler(warnings)
    try:
        built = build(events, folder / "report")
    finally:
        logging.getLogger("weasyprint").removeHandler(warnings)
    built.warnings = [r.getMessage() for r in warnings.records]
    return built


@pytest.fixture(scope="module")
def figures(year: Built) -> tuple[Projector, Figures]:
    projector = _projector(year.events)
    return projector, compute(projector, Month.parse(MONTH))


# --- the figures are the contract's ----------------------------------------------------------


def test_month_and_year_figures_in_the_pdf_equal_sendwatch_metrics(year: Built) -> None:
    text = pdf_text(year.pdf)
    cutoff = "2025-06-10"  # the 10th day after the month ends, to its end (UK time)
    month = metrics(
        year.events, "--from", "2025-05-01", "--to", "2025-05-31", "--now", "2025-05-31",
        "--as-at", cutoff,
    )  # fmt: skip
    rolling = metrics(year.events, "--now", "2025-05-31", "--as-at", cutoff)
    tables = {
        "month": (
            month,
            section(text, "Statutory clocks in May 2025: completed", "Statutory clocks in the 12"),
        ),
        "year": (
            rolling,
            section(text, "Statutory clocks in the 12 months to May 2025", "Cases still waiting"),
        ),
    }
    shown = 0
    for expected, table in tables.values():
        for clock in CLOCK_IDS:
            c = expected[clock]
            assert cells(table, CLOCKS[clock].title) == [
                FIVE.count(c["completed"]),
                FIVE.count(c["on_time"]),
                FIVE.rate(c["rate_incl_exceptions"], c["completed"], c["on_time"]),
                FIVE.count(c["excepted"]),
                # completed less "fewer than 5" exceptions would say how many: not shown
                "not shown"
                if FIVE.hides_count(c["excepted"])
                else FIVE.rate(
                    c["rate_excl_exceptions"],
                    c["completed"] - c["excepted"],
                    c["on_time"] - c["excepted_on_time"],
                ),
            ], clock
            shown += c["completed"] >= 5
    assert shown >= 10  # most of the rows are real numbers, not suppressed
    waiting = section(text, "Cases still waiting at the end of May 2025", "Overdue: past")
    for clock in CLOCK_IDS:
        c = month[clock]
        assert cells(waiting, CLOCKS[clock].title) == [
            FIVE.count(c["open"]),
            FIVE.count(c["overdue"]),
            FIVE.count(c["due_within_7_days"]),
        ]
    right = section(text, "Decisions right first time", "Appealable decisions:")
    for label, expected in (("May 2025", month), ("12 months to May 2025", rolling)):
        ftr = expected["first_time_right"]
        share = FIVE.rate(ftr["rate"], ftr["decisions"], part=ftr["overturned"])
        assert cells(right, label) == [
            FIVE.count(ftr["decisions"]),
            FIVE.count(ftr["overturned"]),
            FIVE.count(ftr["appeals_pending"] + ftr["appeal_window_open"]),
            # the month's decisions were all made within the 2-month appeal window
            f"{share} (provisional)" if share.endswith("%") else share,
        ]


def test_the_cutoff_matters_in_the_simulated_year(year: Built) -> None:
    """Records arrive late in the simulation, so as-at the cutoff differs from as known now:
    the comparison above is not vacuous."""
    at_cutoff = metrics(year.events, "--now", "2025-05-31", "--as-at", "2025-06-10")
    known_now = metrics(year.events, "--now", "2025-05-31")
    assert at_cutoff != known_now


def test_a_report_names_no_case(year: Built) -> None:
    ids = case_ids(year.events)
    assert len(ids) > 1000
    html = year.html.decode()
    text = pdf_text(year.pdf)
    words = set(re.findall(r"[A-Za-z0-9._:-]+", html)) | set(re.findall(r"\S+", text))
    assert not ids & words
    assert not any(case_id in html or case_id in text for case_id in sorted(ids)[:300])


# --- reproducible ------------------------------------------------------------------------------


def test_the_same_events_give_byte_identical_html_in_any_order(year: Built, tmp_path: Path) -> None:
    again = build(year.events, tmp_path / "again", pdf=False)
    assert again.html == year.html
    lines = year.events.read_bytes().splitlines()
    random.Random(7).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(lines) + b"\n")
    assert build(shuffled, tmp_path / "shuffled", pdf=False).html == year.html


def test_the_embedded_log_gives_the_same_report_as_the_file(year: Built, tmp_path: Path) -> None:
    db = tmp_path / "sendwatch.db"
    with EventLog(db) as log, open(year.events, "rb") as lines:
        ingest(lines, log, origin="simulated")
    from_log = build(None, tmp_path / "log", db=db, pdf=False).html.decode()
    from_file = year.html.decode()
    assert from_log.replace("the embedded event log", "a file of events") == from_file


def test_the_figures_of_a_settled_replay_wake_no_case(
    year: Built, figures: tuple[Projector, Figures], tmp_path: Path
) -> None:
    """A replay of the log keeps each case settled (its events one blob). The report reads
    every case once (folded as at the cutoff, its records counted and fingerprinted, DfE's
    year to date) and wakes none: the same figures as from cases applied one by one, and
    every case still dormant after (as known now, the few cases it revises are woken)."""
    from reports.dfe_year import year_to_date
    from reports.figures import report_files
    from streams.replay import catch_up

    db = tmp_path / "sendwatch.db"
    with EventLog(db) as log, open(year.events, "rb") as lines:
        ingest(lines, log, origin="simulated")
    settled = Projector()
    with EventLog(db) as log:
        catch_up(settled, log)
    cases = settled.case_count
    assert settled.dormant_count == cases > 0
    month = Month.parse(MONTH)
    files = report_files(settled, month)
    assert compute(settled, month, files=files) == figures[1]
    awake = figures[0]
    assert year_to_date(settled, month.last, figures[1].as_at, files) == year_to_date(
        awake, month.last, figures[1].as_at
    )
    assert settled.dormant_count == cases
    revised = compute(settled, month, as_known_now=True)  # wakes the cases it revises
    assert revised == compute(awake, month, as_known_now=True)
    assert revised.revisions is not None and revised.revisions.changes


# --- a small council's month, worked out by hand ------------------------------------------------
#
# Six requests on 1 November 2024; the final plan is due 20 weeks later, on 21 March 2025
# (reg 13(2)). Four plans are issued on 10 March (on time), two on 25 March (late). The
# March report's cutoff is the end of 10 April 2025 (UK time).
# After the cutoff: on 20 April the council retracts case 1's plan (entered in error), and
# on 2 May it records an appeal registered on 14 March. Three contacts in March were
# answered within 5 working days.

CASES = [f"RPT-CASE-{n:04d}" for n in range(1, 7)]


def _event(
    kind: str, case: str, on: str, eid: str, recorded: str | None = None, **data: Any
) -> bytes:
    return orjson.dumps(
        {
            "event_id": eid,
            "type": kind,
            "case_id": case,
            "occurred_at": on,
            "recorded_at": recorded or f"{on}T12:00:00Z",
            "data": data,
        }
    )


def march_history(*, later: bool) -> list[bytes]:
    lines = []
    for n, case in enumerate(CASES, 1):
        lines.append(
            _event("request.received", case, "2024-11-01", f"req-{n}", requested_by="parent")
        )
        lines.append(
            _event("assessment.decided", case, "2024-12-01", f"dec-{n}", decision="assess")
        )
        issued = "2025-03-10" if n <= 4 else "2025-03-25"
        lines.append(_event("plan.issued", case, issued, f"plan-{n}"))
    for n in range(1, 4):
        lines.append(
            _event(
                "contact.received",
                CASES[0],
                "2025-03-03",
                f"c-{n}",
                contact_id=f"k{n}",
                channel="email",
            )
        )
        lines.append(
            _event(
                "contact.responded",
                CASES[0],
                "2025-03-05",
                f"r-{n}",
                contact_id=f"k{n}",
                automated=False,
            )
        )
    if later:
        lines.append(
            _event(
                "event.retracted", CASES[0], "2025-03-31", "undo-1", "2025-04-20T09:00:00Z",
                event_id="plan-1", reason="entered in error",
            )
        )  # fmt: skip
        lines.append(
            _event(
                "appeal.registered", CASES[1], "2025-03-14", "appeal-1", "2025-05-02T09:00:00Z",
                appeal_id="a1", against="contents",
            )
        )  # fmt: skip
    return lines


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_small_numbers_are_suppressed(tmp_path: Path) -> None:
    built = build(write(tmp_path / "march.jsonl", march_history(later=False)), tmp_path, "2025-03")
    text = pdf_text(built.pdf)
    table = section(text, "Statutory clocks in March 2025: completed", "Statutory clocks in the 12")
    # six plans: the count is shown; four on time is "fewer than 5", so neither share is
    # ("fewer than 5 · 66.7%" of 6 would say exactly 4)
    assert cells(table, "Final EHC plan issued (20 weeks)") == [
        "6", "fewer than 5", "not shown", "0", "not shown",
    ]  # fmt: skip
    # three contacts: too few for a share
    assert cells(table, "Human reply to a family's contact") == [
        "fewer than 5", "fewer than 5", "not shown", "0", "not shown",
    ]  # fmt: skip
    assert cells(table, "Decision whether to assess") == ["0", "0", "no cases", "0", "no cases"]
    html = built.html.decode()
    assert not any(case in html or case in text for case in CASES)
    for number in ("1", "2", "3", "4"):  # no small count is printed in a clock table
        assert number not in table.replace("(20 weeks)", "").split()


def html_row(html: str, table: str, label: str) -> list[str]:
    """The cells of a row of the HTML table with id ``table``."""
    body = re.search(rf'<table[^>]* id="{table}">(.*?)</table>', html, re.S)
    assert body is not None
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        head = re.search(r'<th scope="row">(.*?)</th>', row)
        if head and unescape(head.group(1)) == label:
            return [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    raise AssertionError(f"no row {label!r} in table {table}")


def test_the_suppression_threshold_is_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = write(tmp_path / "march.jsonl", march_history(later=False))
    html = build(events, tmp_path / "five", "2025-03", pdf=False).html.decode()
    assert html_row(html, "clocks-month", "Human reply to a family's contact")[:3] == [
        "fewer than 5", "fewer than 5", "not shown",
    ]  # fmt: skip
    monkeypatch.setenv("SENDWATCH_REPORT_SUPPRESS_BELOW", "0")
    html = build(events, tmp_path / "none", "2025-03", pdf=False).html.decode()
    assert html_row(html, "clocks-month", "Human reply to a family's contact") == [
        "3", "3", "100.0%", "0", "100.0%",
    ]  # fmt: skip
    assert "fewer than" not in html.split('id="clocks-month"')[1].split("</table>")[0]
    monkeypatch.setenv("SENDWATCH_REPORT_SUPPRESS_BELOW", "10")
    html = build(events, tmp_path / "ten", "2025-03", pdf=False).html.decode()
    assert html_row(html, "clocks-month", "Final EHC plan issued (20 weeks)")[:3] == [
        "fewer than 10", "fewer than 10", "not shown",
    ]  # fmt: skip


def test_rebuilding_later_gives_the_original_figures(tmp_path: Path) -> None:
    """Built on 11 April, and again in May from a history that has grown since: the same
    report (apart from the notice that the first was built before its cutoff had passed)."""
    april = write(tmp_path / "april.jsonl", march_history(later=False))
    may = write(tmp_path / "may.jsonl", march_history(later=True))
    first = build(april, tmp_path / "a", "2025-03", pdf=False)
    later = build(may, tmp_path / "b", "2025-03", pdf=False)
    notice = re.compile(rb'<p class="notice">.*?</p>\n', re.S)
    assert notice.search(first.html) and not notice.search(later.html)
    assert notice.sub(b"", first.html) == later.html


def test_as_known_now_lists_a_retraction_after_the_cutoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_REPORT_SUPPRESS_BELOW", "0")
    events = write(tmp_path / "may.jsonl", march_history(later=True))
    original = pdf_text(build(events, tmp_path / "original", "2025-03").pdf)
    revised = pdf_text(build(events, tmp_path / "revised", "2025-03", now=True).pdf)
    row = "Final EHC plan issued (20 weeks)"
    month = "Statutory clocks in March 2025: completed"
    assert cells(section(original, month, "Statutory clocks in the 12"), row)[:3] == [
        "6",
        "4",
        "66.7%",
    ]
    assert cells(section(revised, month, "Statutory clocks in the 12"), row)[:3] == [
        "5",
        "3",
        "60.0%",
    ]
    assert "What changed since the original report" not in original
    changes = section(revised, "What changed since the original report", "1. The families")
    assert cells(changes, "Final EHC plan issued (20 weeks): completed") == ["March 2025", "6", "5"]
    assert cells(changes, "Final EHC plan issued (20 weeks): share on time") == [
        "March 2025", "66.7%", "60.0%",
    ]  # fmt: skip
    flat = " ".join(changes.split())
    assert (
        "1 retraction, recorded after the cutoff, of plan.issued record that occurred on "
        "10 March 2025" in flat
    )
    # the retraction explains the plan figures; the late appeal explains only the appeals
    why = flat[flat.index("Why they changed") :]
    plans = why[why.index("Final EHC plan issued (20 weeks)") : why.index("Appeals")]
    assert "appeal.registered" not in plans and "retraction" in plans
    assert (
        "1 appeal.registered record that occurred on 14 March 2025, recorded after the cutoff"
        in flat
    )
    assert "2 records about March 2025 or earlier arrived (1 of them retracting" in flat
    assert not any(case in revised for case in CASES)


def test_as_known_now_with_nothing_late_says_nothing_changed(tmp_path: Path) -> None:
    events = write(tmp_path / "april.jsonl", march_history(later=False))
    revised = build(events, tmp_path, "2025-03", now=True, pdf=False).html.decode()
    assert "No figure in this report differs from the original." in revised


# --- accessible --------------------------------------------------------------------------------


def test_headings_tables_and_charts_are_accessible(year: Built) -> None:
    html = year.html.decode()
    assert '<html lang="en-GB">' in html
    assert html.count("<h1") == 1 and html.count("<h2") >= 12
    tables = re.findall(r"<table.*?</table>", html, re.S)
    assert tables and all('<th scope="col"' in t and "<caption>" in t for t in tables)
    images = re.findall(r"<img [^>]*>", html)
    assert len(images) == len(CLOCK_IDS)
    for image in images:
        alt = re.search(r'alt="([^"]+)"', image)
        assert alt and alt.group(1).startswith("Line chart of the share of")
    info = subprocess.run(["pdfinfo", str(year.pdf)], check=True, capture_output=True, text=True)
    assert re.search(r"^Tagged:\s+yes$", info.stdout, re.M)  # a structured PDF
    assert re.search(r"^Title:\s+SEND scrutiny report: May 2025$", info.stdout, re.M)
    # red, amber and green are written in words, not only in colour
    text = pdf_text(year.pdf)
    scorecard = section(text, "1. The families' ten points", "2. Statutory time limits")
    words = ("Green: target met", "Amber: floor met", "Red: below the floor")
    assert sum(scorecard.count(w) for w in words) >= 5


def test_the_pdf_renders_without_warnings(year: Built) -> None:
    """WeasyPrint understood every rule of the stylesheet and every chart."""
    assert year.warnings == []


# --- the parts ---------------------------------------------------------------------------------


def test_months_and_their_cutoff() -> None:
    assert Month.parse("2025-06").label == "June 2025"
    assert Month.parse("2025-01").shift(-1) == Month(2024, 12)
    assert Month.parse("2024-02").last == date(2024, 2, 29)
    # the end of 10 July 2025 in London (BST) is 22:59:59.999999 UTC
    assert reporting_cutoff(Month(2025, 6)) == datetime(2025, 7, 10, 22, 59, 59, 999999, UTC)
    assert reporting_cutoff(Month(2025, 1), 0) == datetime(2025, 1, 31, 23, 59, 59, 999999, UTC)
    for bad in ("2025-13", "2025-6", "June", "2025-06-01"):
        with pytest.raises(ValueError, match="month"):
            Month.parse(bad)


def _projector(path: Path) -> Projector:
    projector = Projector()
    for line in path.read_bytes().splitlines():
        projector.apply(from_record(decode(line, arrival=None)))
    return projector


def test_the_trend_equals_each_months_own_measures(figures: tuple[Projector, Figures]) -> None:
    projector, figs = figures
    month = Month.parse(MONTH)
    files = list(projector.case_files(month.last, figs.cutoff))
    assert [m for m, _ in figs.trend] == [month.shift(n) for n in range(-11, 1)]
    for m, points in figs.trend:
        full = measures(files, Period(m.first, m.last), month.last)
        for clock in CLOCK_IDS:
            assert points[clock] == {f: full[clock][f] for f in points[clock]}
    assert figs.trend[-1][1]["final_plan"]["completed"] == figs.current["final_plan"]["completed"]


def test_three_questions_from_the_worst_figures(figures: tuple[Projector, Figures]) -> None:
    asked = narrative.questions(figures[1], FIVE, benchmarks.load())
    assert len(asked) == 3 and len(set(asked)) == 3
    assert all(q.endswith("?") for q in asked)


def test_charts_are_the_same_bytes_and_keep_their_text() -> None:
    points = [
        charts.Point(f"{m} 2025", v, "x") for m, v in (("Jan", 0.5), ("Feb", None), ("Mar", 0.8))
    ]
    one = charts.trend("final_plan", "plans", points, ("England 2024: 46.4%", 0.464))
    two = charts.trend("final_plan", "plans", points, ("England 2024: 46.4%", 0.464))
    assert one.svg == two.svg
    assert "England 2024: 46.4%" in one.svg and "<dc:date>" not in one.svg
    assert one.alt.endswith("Dashed line: England 2024: 46.4%.")
    assert "Feb 2025: x" in one.alt


def test_disclosure() -> None:
    assert [FIVE.count(n) for n in (0, 1, 4, 5, 12345)] == [
        "0", "fewer than 5", "fewer than 5", "5", "12,345",
    ]  # fmt: skip
    assert FIVE.rate(0.5, 4) == "not shown"
    assert FIVE.rate(0.5, 5) == "50.0%"
    assert FIVE.rate(None, 0) == "no cases"
    assert Disclosure(0).count(1) == "1" and Disclosure(0).rate(1.0, 1) == "100.0%"


def test_standards_from_a_file_change_the_rating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = write(tmp_path / "march.jsonl", march_history(later=False))
    point_4 = re.compile(r'<th scope="row"><span class="point">4\.</span>.*?</tr>', re.S)
    # 4 of 6 plans on time: with counts below 3 suppressed, the share can be shown
    monkeypatch.setenv("SENDWATCH_REPORT_SUPPRESS_BELOW", "3")
    # point 4: 66.7% of plans on time, leaving out exceptions; by default the target is 60%
    html = build(events, tmp_path / "default", "2025-03", pdf=False).html.decode()
    row = point_4.search(html)
    assert row is not None
    assert row.group(0).count('<td class="rag rag-green"><span class="value">66.7%</span>') == 2
    assert "60.0% · 46.0%" in row.group(0)
    standards = tmp_path / "standards.yml"
    standards.write_text("4: {target: 0.7, floor: 0.5}\n")
    monkeypatch.setenv("SENDWATCH_TARGETS", str(standards))
    html = build(events, tmp_path / "local", "2025-03", pdf=False).html.decode()
    row = point_4.search(html)
    assert row is not None
    assert row.group(0).count('<td class="rag rag-amber"><span class="value">66.7%</span>') == 2
    assert "Amber: floor met, target not met" in row.group(0)
    assert "70.0% · 50.0%" in row.group(0)


def test_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert report_command("2025-13", None, tmp_path / "x.db", tmp_path, False) == 2
    assert report_command("2025-03", None, tmp_path / "missing.db", tmp_path, False) == 2
    assert (
        report_command("2025-03", str(tmp_path / "missing.jsonl"), tmp_path, tmp_path, False) == 2
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "an event"}\n')
    assert report_command("2025-03", str(bad), tmp_path, tmp_path, False) == 1
    monkeypatch.setenv("SENDWATCH_TARGETS", str(tmp_path / "no-such-targets.yml"))
    assert report_command("2025-03", str(bad), tmp_path, tmp_path, False) == 2
    monkeypatch.delenv("SENDWATCH_TARGETS")
    monkeypatch.setenv("SENDWATCH_REPORT_CUTOFF_DAYS", "ten")
    assert report_command("2025-03", str(bad), tmp_path, tmp_path, False) == 2
    assert not list(tmp_path.glob("report-*"))


def test_render_is_pure(figures: tuple[Projector, Figures]) -> None:
    """Rendering the same figures twice gives the same text: no clock, no randomness."""
    options = Options(10, FIVE)
    first = render_html(figures[1], benchmarks.load(), options)
    assert render_html(figures[1], benchmarks.load(), options) == first
