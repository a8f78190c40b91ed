"""DfE's published figures shipped with sendwatch (reports/published.py, issue 20 item 4):
read by LA code from the release's own CSV files, DfE's markers kept as "not available" with
the reason, and each council compared with England, its region and its own statistical
neighbours, never with Kent unless it is Kent."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from reports import published
from reports.published import (
    ENGLAND,
    MEASURES,
    PublishedError,
    Release,
    UnknownArea,
    open_release,
    packaged,
)
from sendwatch.report_command import report_command
from simulation.council import simulate, write_jsonl
from tests.test_report import SMALL, build, pdf_text

RELEASE = "dfe-ehc-plans-2025"


@pytest.fixture(scope="module")
def release() -> Release:
    return open_release()


# --- reading the release -----------------------------------------------------------------------


def test_the_newest_packaged_release_is_read_and_named(release: Release) -> None:
    assert release.name == RELEASE
    assert [p.name for p in packaged()][-1] == RELEASE
    assert "reporting year 2025" in release.title
    assert open_release(RELEASE).name == RELEASE  # by name, as SENDWATCH_PUBLISHED_RELEASE


def test_kents_2024_twenty_week_figures_are_the_files(release: Release) -> None:
    # timeliness_20_week.csv, 2024, old_la_code 886: plans_issued_den 2424,
    # plans_issued_within_20_weeks 784, pc 32.3; excluding exceptions 783 of 2354, 33.3%
    kent = release.figure("886", "within_20_weeks_excl", 2024)
    assert kent.area.name == "Kent" and kent.area.region_name == "South East"
    assert kent.value == pytest.approx(0.333) and kent.shown == "33.3%"
    assert (kent.count, kent.base) == (783, 2354)
    including = release.figure("886", "within_20_weeks", 2024)
    assert including.value == pytest.approx(0.323) and (including.count, including.base) == (
        784,
        2424,
    )
    # 2023: 324 of 1,796 excluding exceptions, 18.0%
    assert release.figure("886", "within_20_weeks_excl", 2023).value == pytest.approx(0.18)


def test_englands_46_4_per_cent_is_the_figure_leaving_out_exceptions(release: Release) -> None:
    # The file's National row for 2024: pc_plans_issued_within_20_weeks 45.9 (including
    # exceptions: 41,448 of 90,392) and PC_plans_issued_20_weeks_ex 46.4 (excluding: 39,407
    # of 84,866). data-guidance.txt names the second "excluding exceptions".
    england = release.figure(ENGLAND, "within_20_weeks_excl")
    assert england.year == 2024 and england.value == pytest.approx(0.464)
    assert (england.count, england.base) == (39407, 84866)
    assert release.figure(ENGLAND, "within_20_weeks").value == pytest.approx(0.459)


def test_the_other_clocks_dfe_publishes(release: Release) -> None:
    # requests.csv 2024 Kent: request_outcome_six_weeks_pc 90.8 (3,602 within, 367 after)
    six = release.figure("886", "decided_within_6_weeks", 2024)
    assert six.value == pytest.approx(0.908) and (six.count, six.base) == (3602, 3969)
    # assessments.csv 2024 Kent: outcome_decision_within_time_pc 35.7 (174 within, 314 after)
    assert release.figure("886", "no_plan_within_16_weeks", 2024).value == pytest.approx(0.357)
    # annual_reviews.csv 2024: Kent 33.6%, England 44.4% decided within 4 weeks
    assert release.figure("886", "reviews_decided_within_4_weeks").value == pytest.approx(0.336)
    assert release.figure(ENGLAND, "reviews_decided_within_4_weeks").value == pytest.approx(0.444)
    # caseload.csv: academic year 202425 is January 2025; England 638,745 plans
    assert release.figure(ENGLAND, "plans_in_january").year == 2025
    assert release.figure(ENGLAND, "plans_in_january").value == 638745


def test_dfes_markers_are_not_available_with_the_reason_never_zero(release: Release) -> None:
    # annual_reviews.csv: Hertfordshire (919) 2024 is "x" (data-guidance footnote: queries over
    # the quality of its reviews data; suppressed pending checks)
    herts = release.figure("919", "reviews_decided_within_4_weeks", 2024)
    assert herts.value is None and herts.reason == "DfE marks it not available (x)"
    assert herts.shown == "not available offline: DfE marks it not available (x)"
    # requests.csv 2019: the 6-week columns are "x" for every area; the latest year is 2024
    assert release.figure("886", "decided_within_6_weeks", 2019).value is None
    assert release.years("decided_within_6_weeks")[0] == 2023


def test_markers_c_z_and_low_are_read_as_their_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "dfe-ehc-plans-2099"
    folder.mkdir()
    header = (
        "time_period,time_identifier,geographic_level,country_code,country_name,region_code,"
        "region_name,new_la_code,old_la_code,la_name,breakdown_topic,breakdown,"
        "plans_issued_den,plans_issued_den_ex,pc_plans_issued_within_20_weeks,"
        "PC_plans_issued_20_weeks_ex"
    )
    area = "E92000001,England,E12000001,North East,E06000001"
    rows = [
        f"2098,Calendar year,Local authority,{area},801,Alpha,All plans,All plans,c,c,c,c",
        f"2098,Calendar year,Local authority,{area},802,Beta,All plans,All plans,10,z,40,z",
        f"2098,Calendar year,Local authority,{area},803,Gamma,All plans,All plans,low,3,low,60",
        f"2098,Calendar year,Local authority,{area},803,Gamma,Age,Age 5,1,1,99,99",
    ]
    (folder / "timeliness_20_week.csv").write_text("\n".join([header, *rows]) + "\n")
    release = Release(folder)
    assert release.figure("801", "within_20_weeks").reason == (
        "DfE suppressed it to protect confidentiality (c)"
    )
    assert release.figure("802", "within_20_weeks").value == pytest.approx(0.4)
    assert release.figure("802", "within_20_weeks_excl").reason == "DfE marks it not applicable (z)"
    assert release.figure("803", "within_20_weeks").reason == (
        "DfE does not publish so small a number (low)"
    )
    # the breakdown row (Age 5) is not read: Gamma's figure is its "All" row's
    assert release.figure("803", "within_20_weeks_excl").value == pytest.approx(0.6)
    # a measure whose file is not in the folder is not published, in words
    assert release.figure("803", "decided_within_6_weeks").reason == (
        "not published in dfe-ehc-plans-2099"
    )
    # the region is named by the LA's own rows, even with no regional row
    assert release.region("803") is not None and release.region("803").name == "North East"


def test_the_region_is_the_councils_own(release: Release) -> None:
    herts = release.area("919")
    assert herts.name == "Hertfordshire" and herts.region_code == "E12000006"
    region = release.region("919")
    assert region is not None and region.name == "East of England"
    # East of England, 2024: PC_plans_issued_20_weeks_ex from its Regional row
    east = release.figure("E12000006", "within_20_weeks_excl", 2024)
    assert east.area.name == "East of England" and east.value is not None


def test_statistical_neighbours_are_their_median(release: Release) -> None:
    # 2024 excluding exceptions: Hertfordshire 56.3%, Kent 33.3%, Essex (881) read below
    essex = release.figure("881", "within_20_weeks_excl", 2024).value
    assert essex is not None
    median = release.neighbours(("919", "886", "881"), "within_20_weeks_excl", 2024)
    assert median.value == pytest.approx(sorted([0.563, 0.333, essex])[1])
    assert median.note == "median of 3 of 3 neighbours"
    # Hertfordshire's reviews are "x": the median is over the others, and says so
    reviews = release.neighbours(("919", "886"), "reviews_decided_within_4_weeks", 2024)
    assert reviews.value == pytest.approx(0.336)
    assert reviews.note == "median of 1 of 2 neighbours (1 not published)"


def test_a_figure_by_dfes_own_column_name_as_projections_dfe_names_it(release: Release) -> None:
    # the later year-to-date section puts projections.dfe's figures (each with its
    # dfe_column) beside last year's published one: the column finds the same figure
    by_column = release.figure("886", "PC_plans_issued_20_weeks_ex", 2024)
    assert by_column == release.figure("886", "within_20_weeks_excl", 2024)
    # a column no measure names: read from whichever file holds it; a count stays a count
    maintained = release.figure("886", "outcome_maintan", 2024)  # annual_reviews.csv: 3,855
    assert maintained.value == 3855 and not maintained.measure.share
    assert release.figure("886", "assess_issued_pc", 2024).value == pytest.approx(0.843)
    # the newest packaged release, read once: published.figure(code, measure, year)
    assert published.figure("919", "within_20_weeks_excl", 2024).value == pytest.approx(0.563)


def test_an_unknown_la_code_is_refused_by_name(release: Release) -> None:
    with pytest.raises(UnknownArea, match="'999'"):
        release.figure("999", "within_20_weeks")
    with pytest.raises(PublishedError, match="unknown published measure 'speed'"):
        release.figure("886", "speed")
    with pytest.raises(PublishedError, match="neither a folder nor a packaged release"):
        open_release("dfe-ehc-plans-1999")


def test_a_newer_release_dropped_in_is_read_the_same_way(tmp_path: Path) -> None:
    newer = tmp_path / "dfe-ehc-plans-2026"
    shutil.copytree(packaged()[-1], newer)
    release = open_release(newer)
    assert release.name == "dfe-ehc-plans-2026"
    assert release.figure("886", "within_20_weeks_excl", 2024).value == pytest.approx(0.333)


# --- the tribunal's appeal-rate table ---------------------------------------------------------


def test_tribunal_appeal_rates_are_read_by_la_code(release: Release) -> None:
    # send_tribunal_appeal_rates_2014_2024.csv: "Kent,886,..." 2024: 1,559 appeals of 23,692
    # appealable decisions, 6.60%; England Total 22,276 of 689,739, 3.20%
    kent = release.figure("886", "tribunal_appeal_rate", 2024)
    assert kent.value == pytest.approx(0.066) and (kent.count, kent.base) == (1559, 23692)
    england = release.figure(ENGLAND, "tribunal_appeal_rate")
    assert england.year == 2024 and england.value == pytest.approx(0.032)
    # 2014, Darlington (841): " - " appeals (none) of 450 decisions, 0.00%
    darlington = release.figure("841", "tribunal_appeal_rate", 2014)
    assert darlington.value == 0 and darlington.count == 0
    # Cumberland (942, named "Cumberland8" with its footnote) began in 2023: ".." before
    assert release.figure("942", "tribunal_appeal_rate", 2022).reason == (
        "the table marks it not available (..)"
    )
    assert release.figure("942", "tribunal_appeal_rate", 2024).value == pytest.approx(0.02)
    # the table has no regions' rows: said in words
    region = release.figure("E12000008", "tribunal_appeal_rate", 2024)
    assert region.value is None and "no figure for South East" in str(region.reason)


def test_every_measure_is_in_the_shipped_release(release: Release) -> None:
    for key in MEASURES:
        assert release.has(key), key
        assert release.latest_year(key) is not None, key


# --- each council's report compares it with its own neighbours, never with Kent -------------

# Kent's published figures (2024; the files above): the shares beside the four clocks DfE
# publishes and its appeal rate, and the counts they are over. None may appear in another
# council's report.
KENT_SHARES = ("90.8%", "35.7%", "33.3%", "33.6%", "6.6%")
KENT_COUNTS = ("3,602 of 3,969", "174 of 488", "783 of 2,354", "3,151 of 9,374", "1,559 of 23,692")


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated year to 30 June 2025 (the report tests' council), for May 2025."""
    path = tmp_path_factory.mktemp("published") / "events.jsonl"
    write_jsonl(path, simulate(seed=3, years=1, end=date(2025, 6, 30), calibration=SMALL))
    return path


def published_rows(html: str) -> str:
    """The rows of published figures beside the clocks and the appendix's published table."""
    rows = re.findall(r'<tr class="published">.*?</tr>', html, re.S)
    start = html.index("<h3>Published figures</h3>")
    return "\n".join(rows) + html[start : html.index("</table>", start)]


def test_another_council_gets_its_own_figures_and_its_region_and_no_kent(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "919")  # Hertfordshire, East of England
    built = build(events, tmp_path / "herts")
    html = built.html.decode()
    text = pdf_text(built.pdf)
    for words in (html, text):
        assert not re.search(r"kent", words, re.I)
        assert "South East" not in words  # Kent's region
        for counts in KENT_COUNTS:
            assert counts not in words
    rows = published_rows(html)
    for share in KENT_SHARES:
        assert share not in rows
    # Hertfordshire's own 2024 figures (timeliness_20_week.csv: 957 of 1,699, 56.3%), its
    # region's (East of England: 3,688 of 9,315, 39.6%) and England's (46.4%)
    final_plan = re.search(r'id="clock-final_plan".*?</table>', html, re.S)
    assert final_plan is not None
    block = final_plan.group(0)
    assert "Hertfordshire 2024 (published)" in block and "957 of 1,699" in block
    assert "56.3%" in block
    assert "East of England 2024 (published)" in block and "39.6%" in block
    assert "England 2024 (published)" in block and "46.4%" in block
    # its reviews are "x" in annual_reviews.csv: said in words, not another council's figure
    reviews = re.search(r'id="clock-review_decision".*?</table>', html, re.S)
    assert reviews is not None
    assert "not available offline: DfE marks it not available (x)" in reviews.group(0)
    # its appeal rate (613 of 13,889, 4.4%) beside England's (3.2%)
    assert "Hertfordshire 2024: 4.4% (613 of 13,889)" in html
    # no neighbours configured: said plainly, with how to set them
    flat = " ".join(text.split())
    assert "Statistical neighbours are not configured" in flat
    assert "SENDWATCH_NEIGHBOURS" in flat
    assert "statistical neighbour benchmarking tool" in flat
    assert "folder dfe-ehc-plans-2025" in flat  # the release it used


def test_with_neighbours_configured_the_report_shows_them(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "919")
    monkeypatch.setenv("SENDWATCH_NEIGHBOURS", "881, 937")  # Essex, Warwickshire
    html = build(events, tmp_path / "neighbours", pdf=False).html.decode()
    assert "Statistical neighbours are not configured" not in html
    assert not re.search(r"kent", html, re.I)
    # 2024, excluding exceptions: Essex 270 of 1,797 (15.0%); Warwickshire from the file
    release = open_release()
    warwickshire = release.figure("937", "within_20_weeks_excl", 2024)
    assert warwickshire.area.name == "Warwickshire" and warwickshire.value is not None
    median = (0.15 + warwickshire.value) / 2
    final_plan = re.search(r'id="clock-final_plan".*?</table>', html, re.S)
    assert final_plan is not None
    block = final_plan.group(0)
    assert "Statistical neighbours (median) 2024 (published)" in block
    assert f"{median * 100:.1f}%" in block and "median of 2 of 2 neighbours" in block
    appendix = published_rows(html)
    assert "Essex (neighbour)" in appendix and "270 of 1,797" in appendix
    assert "Warwickshire (neighbour)" in appendix


def test_kents_report_still_compares_kent_with_its_own_figures(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "886")
    html = build(events, tmp_path / "kent", pdf=False).html.decode()
    assert "Kent 2024 (published)" in html and "783 of 2,354" in html
    assert "South East 2024 (published)" in html
    assert "97 conceded by the council" in html  # Kent's own FOI figure, shown to Kent alone


def test_a_council_not_in_the_release_is_told_so_in_words(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_COUNCIL", "999")
    html = build(events, tmp_path / "unknown", pdf=False).html.decode()
    assert "This council (LA code 999) 2024 (published)" in html
    assert "not available offline: LA code 999 is not in dfe-ehc-plans-2025" in html
    assert "have no local authority with the LA code 999 (SENDWATCH_COUNCIL)" in html
    assert not re.search(r"kent", html, re.I)


def test_an_unknown_neighbour_is_an_error_naming_the_setting(
    events: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SENDWATCH_NEIGHBOURS", "881,999")
    assert report_command("2025-05", str(events), tmp_path / "x.db", tmp_path, False) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "SENDWATCH_NEIGHBOURS: LA code '999' is not in the published figures" in error
    monkeypatch.setenv("SENDWATCH_NEIGHBOURS", "")
    monkeypatch.setenv("SENDWATCH_PUBLISHED_RELEASE", str(tmp_path / "no-such-release"))
    assert report_command("2025-05", str(events), tmp_path / "x.db", tmp_path, False) == 2
    assert "SENDWATCH_PUBLISHED_RELEASE:" in capsys.readouterr().err
    assert not list(tmp_path.glob("report-*"))
