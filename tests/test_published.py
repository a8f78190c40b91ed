"""DfE's published figures shipped with sendwatch (reports/published.py, issue 20 item 4):
read by LA code from the release's own CSV files, DfE's markers kept as "not available" with
the reason, and each council compared with England, its region and its own statistical
neighbours, never with Kent unless it is Kent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports.published import (
    ENGLAND,
    MEASURES,
    PublishedError,
    Release,
    UnknownArea,
    open_release,
    packaged,
)

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
    assert herts.value is None and herts.reason == "not available"
    assert herts.shown == "not available offline: not available"
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
        "suppressed by DfE to protect confidentiality"
    )
    assert release.figure("802", "within_20_weeks").value == pytest.approx(0.4)
    assert release.figure("802", "within_20_weeks_excl").reason == "not applicable"
    assert release.figure("803", "within_20_weeks").reason == "a small number, not published"
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
    assert release.figure("942", "tribunal_appeal_rate", 2022).reason == "not available"
    assert release.figure("942", "tribunal_appeal_rate", 2024).value == pytest.approx(0.02)
    # the table has no regions' rows: said in words
    region = release.figure("E12000008", "tribunal_appeal_rate", 2024)
    assert region.value is None and "no figure for South East" in str(region.reason)


def test_every_measure_is_in_the_shipped_release(release: Release) -> None:
    for key in MEASURES:
        assert release.has(key), key
        assert release.latest_year(key) is not None, key
