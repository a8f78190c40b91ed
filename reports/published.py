"""DfE's published EHC plan statistics, read from a release's own CSV files (pure reading).

A *release* is a folder of DfE's underlying data files for one reporting year, as downloaded
from Explore Education Statistics ("Education, health and care plans"): the project ships
``reports/published/dfe-ehc-plans-2025/`` and a council may point ``SENDWATCH_PUBLISHED_RELEASE``
at a newer one (docs/published-figures.md). Every file has one row per area and year:
``geographic_level`` National, Regional or Local authority; ``old_la_code`` the three-digit LA
code (Kent 886); ``region_code`` and ``region_name``. Only the "All ..." rows are read (the
breakdowns by age, sex and ethnicity are left out).

DfE marks a figure it does not give: "x" not available, "c" suppressed, "z" not applicable,
"low" a small number. Such a figure is ``None`` with the reason in words, never a zero.

    release = open_release()                      # the newest packaged release
    release.figure("886", "within_20_weeks_excl", 2024).value      # 0.333 (Kent, a share)
    release.figure(ENGLAND, "within_20_weeks").value               # England, latest year
    release.figure(release.area("886").region_code, "within_20_weeks_excl")  # the South East
    release.neighbours(("919", "881"), "within_20_weeks_excl", 2024)         # their median

Shares are fractions (0 to 1), as sendwatch's own rates are; counts are whole numbers. Years
are calendar years; a count "in January" (``plans_in_january``) has the year of that January.
The tribunal appeal rates are a supporting table with title and note rows
(``send_tribunal_appeal_rates_*.csv``), read by its ``LA code`` column.
"""

from __future__ import annotations

import csv
import functools
import re
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

ENGLAND = "E92000001"
NATIONAL, REGIONAL, LOCAL = "National", "Regional", "Local authority"
PACKAGED = "published"  # reports/published/<release>/
EES_URL = (
    "https://explore-education-statistics.service.gov.uk/find-statistics/"
    "education-health-and-care-plans"
)

# DfE's markers for a figure it does not give (data-guidance.txt), and the tribunal table's.
MARKERS = {
    "x": "DfE marks it not available (x)",
    "c": "DfE suppressed it to protect confidentiality (c)",
    "z": "DfE marks it not applicable (z)",
    "low": "DfE does not publish so small a number (low)",
    "..": "the table marks it not available (..)",
    "~": "the table marks it suppressed (~)",
    "": "the cell is empty",
}


class PublishedError(ValueError):
    """A release folder, an area or a measure that cannot be used; the message names it."""


class UnknownArea(PublishedError):
    """An LA or region code the release has no row for."""

    def __init__(self, code: str, release: str) -> None:
        super().__init__(f"LA code {code!r} is not in the published figures ({release})")
        self.code = code


@dataclass(frozen=True, slots=True)
class Measure:
    """One published figure: which file and column hold it, and what it counts."""

    key: str
    file: str  # the file's name, or its start for the tribunal table
    column: str  # a percentage column (a share) or a count column
    what: str  # in words, for the report
    share: bool = True
    count: str | None = None  # the share's numerator column
    base: tuple[str, ...] = ()  # the share's denominator column (or columns summed)


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("plans_issued", "timeliness_20_week.csv", "plans_issued_den",
                "new EHC plans issued", share=False),
        Measure("plans_issued_excl", "timeliness_20_week.csv", "plans_issued_den_ex",
                "new EHC plans issued, leaving out exceptions", share=False),
        Measure("within_20_weeks", "timeliness_20_week.csv", "pc_plans_issued_within_20_weeks",
                "new EHC plans issued within 20 weeks, including exceptions",
                count="plans_issued_within_20_weeks", base=("plans_issued_den",)),
        Measure("within_20_weeks_excl", "timeliness_20_week.csv", "PC_plans_issued_20_weeks_ex",
                "new EHC plans issued within 20 weeks, leaving out exceptions",
                count="plans_issued_20_weeks_ex", base=("plans_issued_den_ex",)),
        Measure("weeks_20_to_52", "timeliness_20_week.csv", "pc_plans_issued_gt20weeks_ltYear",
                "new EHC plans issued after 20 weeks and within 52, including exceptions",
                count="plans_issued_gt20weeks_ltYear", base=("plans_issued_den",)),
        Measure("weeks_20_to_52_excl", "timeliness_20_week.csv",
                "PC_plans_issued_gt20weeks_ltYear_ex",
                "new EHC plans issued after 20 weeks and within 52, leaving out exceptions",
                count="plans_issued_gt20weeks_ltYear_ex", base=("plans_issued_den_ex",)),
        Measure("over_52_weeks", "timeliness_20_week.csv", "pc_plans_issued_gt_1_year",
                "new EHC plans issued after 52 weeks, including exceptions",
                count="plans_issued_gt_1_year", base=("plans_issued_den",)),
        Measure("over_52_weeks_excl", "timeliness_20_week.csv", "PC_plans_issued_gt_1_year_ex",
                "new EHC plans issued after 52 weeks, leaving out exceptions",
                count="plans_issued_gt_1_year_ex", base=("plans_issued_den_ex",)),
        Measure("requests_received", "requests.csv", "requests_received_in_year",
                "requests for an EHC needs assessment received", share=False),
        Measure("decided_within_6_weeks", "requests.csv", "request_outcome_six_weeks_pc",
                "requests for an assessment decided within 6 weeks",
                count="request_outcome_six_weeks",
                base=("request_outcome_six_weeks", "request_outcome_over_6_weeks")),
        Measure("no_plan_within_16_weeks", "assessments.csv", "outcome_decision_within_time_pc",
                "decisions not to issue a plan made within 16 weeks",
                count="outcome_decision_within_time",
                base=("outcome_decision_within_time", "outcome_decision_over_time")),
        Measure("reviews_expected", "annual_reviews.csv", "review_expected",
                "annual reviews expected", share=False),
        Measure("reviews_held", "annual_reviews.csv", "total_review_meeting",
                "annual reviews with a meeting recorded", share=False),
        Measure("reviews_decided_within_4_weeks", "annual_reviews.csv", "pc_decsion_4weeks",
                "annual review decisions sent within 4 weeks of the meeting",
                count="number_decsion_4weeks",
                base=("number_decsion_4weeks", "number_decision_gt_4weeks")),
        Measure("plans_in_january", "caseload.csv", "ehcplans",
                "EHC plans in place in January", share=False),
        Measure("tribunal_appeal_rate", "send_tribunal_appeal_rates", "rate",
                "appeals registered with the SEND Tribunal per appealable decision",
                count="registered", base=("decisions",)),
    )
}  # fmt: skip
TRIBUNAL = MEASURES["tribunal_appeal_rate"]


@dataclass(frozen=True, slots=True)
class Area:
    code: str  # the LA's three-digit code, a region's code (E12...) or ENGLAND
    name: str
    level: str  # NATIONAL, REGIONAL or LOCAL
    region_code: str | None = None
    region_name: str | None = None


@dataclass(frozen=True, slots=True)
class Figure:
    """One published figure for an area, a measure and a year; ``value`` None when DfE does
    not give it, with ``reason`` in words."""

    area: Area
    measure: Measure
    year: int | None
    value: float | None
    reason: str | None
    release: str  # the release folder's name
    count: int | None = None
    base: int | None = None
    note: str | None = None

    @property
    def shown(self) -> str:
        """The value in words: ``33.3%``, ``2,354``, or why it is not shown."""
        if self.value is None:
            return f"not available offline: {self.reason}"
        if self.measure.share:
            return f"{self.value * 100:.1f}%"
        return f"{self.value:,.0f}"


_Row = dict[str, str]


@dataclass(slots=True)
class _Table:
    rows: dict[tuple[str, int], _Row] = field(default_factory=dict)  # (area code, year) -> row
    columns: frozenset[str] = frozenset()


def _year(text: str) -> int | None:
    """``2024`` -> 2024; an academic year ``202425`` -> 2025 (its January)."""
    text = text.strip()
    if re.fullmatch(r"\d{4}", text):
        return int(text)
    if re.fullmatch(r"\d{6}", text):
        return int(text[:4]) + 1
    return None


def _number(text: str) -> tuple[float | None, str | None]:
    """A cell as a number, or None and the reason DfE gives (``x``, ``c``, ``z``, ``low``)."""
    cell = text.strip().replace(",", "")
    if cell in ("-", "–"):
        return 0.0, None  # the tribunal table's zero
    reason = MARKERS.get(cell.lower())
    if reason is not None:
        return None, reason
    percent = cell.endswith("%")
    try:
        value = float(cell.rstrip("%"))
    except ValueError:
        return None, f"not a number ({text.strip()!r})"
    return (value / 100 if percent else value), None


class Release:
    """One release folder of DfE's EHC plan statistics (read once, on opening)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise PublishedError(f"{folder}: no such folder of published figures")
        self.folder = folder
        self.name = folder.name
        readme = folder / "README.md"
        title = None
        if readme.is_file():
            for line in readme.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    title = line[2:].strip()
                    break
        self.title = title or f'DfE "Education, health and care plans" ({folder.name})'
        self._tables: dict[str, _Table] = {}
        self._areas: dict[str, Area] = {}
        files = sorted(p.name for p in folder.glob("*.csv"))
        if not files:
            raise PublishedError(f"{folder}: no CSV files of published figures in it")
        tribunal = [n for n in files if n.startswith(TRIBUNAL.file)]
        for name in files:
            if name not in tribunal:
                self._tables[name] = self._read(folder / name)
        for name in tribunal[-1:]:  # last: its LAs are named by the files above
            self._tables[TRIBUNAL.file] = self._tribunal(folder / name)

    def __repr__(self) -> str:
        return f"Release({self.name!r})"

    # --- reading -----------------------------------------------------------------------------

    def _read(self, path: Path) -> _Table:
        table = _Table()
        with open(path, encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            table.columns = frozenset(reader.fieldnames or ())
            for line, row in enumerate(reader, 2):
                breakdown = (row.get("breakdown") or "All").strip()
                if not breakdown.lower().startswith("all"):
                    continue  # a breakdown by age, sex, ethnicity...: not read
                year = _year(row.get("time_period") or "")
                area = self._area(row)
                if year is None or area is None:
                    raise PublishedError(
                        f"{path}, line {line}: expected time_period and an area "
                        f"(geographic_level, old_la_code or region_code)"
                    )
                table.rows[(area.code, year)] = row
        return table

    def _area(self, row: _Row) -> Area | None:
        level = (row.get("geographic_level") or "").strip()
        region_code = (row.get("region_code") or "").strip() or None
        region_name = (row.get("region_name") or "").strip() or None
        if level == NATIONAL:
            area = Area(ENGLAND, (row.get("country_name") or "England").strip(), NATIONAL)
        elif level == REGIONAL and region_code:
            area = Area(region_code, region_name or region_code, REGIONAL)
        elif level == LOCAL and (row.get("old_la_code") or "").strip():
            code = row["old_la_code"].strip()
            name = (row.get("la_name") or code).strip()
            area = Area(code, name, LOCAL, region_code, region_name)
        else:
            return None
        self._areas.setdefault(area.code, area)
        return area

    def _tribunal(self, path: Path) -> _Table:
        """The appeal-rate table: title rows, a row of years over a row of column names, a
        row per LA (``Name<footnote>``, ``LA code``, then three columns a year), region
        headings, England's total, notes. Read by the LA code; names are kept only for an
        LA the statistics files do not name."""
        table = _Table(columns=frozenset({"registered", "decisions", "rate"}))
        with open(path, encoding="utf-8-sig", newline="") as stream:
            lines = list(csv.reader(stream))
        header = next(
            (n for n, r in enumerate(lines) if len(r) > 1 and r[1].strip() == "LA code"), None
        )
        if header is None or header + 1 >= len(lines):
            raise PublishedError(f"{path}: no header row with an 'LA code' column")
        years, names = lines[header], lines[header + 1]
        columns: dict[tuple[int, str], int] = {}  # (year, registered|decisions|rate) -> column
        year = None
        for n in range(2, len(names)):
            year = _year(years[n]) if n < len(years) and years[n].strip() else year
            label = names[n].strip().lower()
            if year is None or label.startswith("in development"):
                continue
            for key, start in (
                ("registered", "appeals registered"),
                ("decisions", "total appealable decisions"),
                ("rate", "send tribunal appeal rate"),
            ):
                if label.startswith(start):
                    columns.setdefault((year, key), n)
        if not columns:
            raise PublishedError(f"{path}, line {header + 2}: no year's columns found")
        for row in lines[header + 2 :]:
            if len(row) < 2:
                continue
            name = re.sub(r"[\d,]+$", "", row[0].strip()).strip()
            code = row[1].strip()
            if re.fullmatch(r"\d{3}", code):
                area = self._areas.get(code) or Area(code, name, LOCAL)
                self._areas.setdefault(code, area)
            elif name.lower() == "england total":
                area = self._areas.get(ENGLAND) or Area(ENGLAND, "England", NATIONAL)
                self._areas.setdefault(ENGLAND, area)
            else:
                continue  # a region's heading, a note, England excluding suppressed
            for (y, key), n in columns.items():
                cells = table.rows.setdefault((area.code, y), {})
                cells[key] = row[n] if n < len(row) else ""
        return table

    # --- asking ------------------------------------------------------------------------------

    def areas(self) -> list[Area]:
        return sorted(self._areas.values(), key=lambda a: (a.level != NATIONAL, a.code))

    def area(self, code: str) -> Area:
        """The area of an LA code, a region code or ENGLAND; raises UnknownArea."""
        found = self._areas.get(code.strip())
        if found is None:
            raise UnknownArea(code, self.name)
        return found

    def region(self, code: str) -> Area | None:
        """The region an LA is in (None for England or a region)."""
        area = self.area(code)
        if area.region_code is None:
            return None
        return self._areas.get(area.region_code) or Area(
            area.region_code, area.region_name or area.region_code, REGIONAL
        )

    def measure(self, key: str) -> Measure:
        """A measure by its key in MEASURES, or by DfE's own column name as data-guidance.txt
        gives it (``PC_plans_issued_20_weeks_ex``, the ``dfe_column`` of projections.dfe): a
        column of MEASURES, else any column of the release's files (a share when its name
        starts or ends with ``pc``). Raises PublishedError for a key found nowhere."""
        found = MEASURES.get(key) or next((m for m in MEASURES.values() if m.column == key), None)
        if found is not None:
            return found
        for file, table in sorted(self._tables.items()):
            if key in table.columns and file != TRIBUNAL.file:
                lower = key.lower()
                share = lower.startswith("pc_") or lower.endswith("_pc")
                return Measure(key, file, key, f"DfE's {key} ({file})", share=share)
        raise PublishedError(
            f"unknown published measure {key!r}: neither one of {sorted(MEASURES)} nor a column "
            f"of {self.name}"
        )

    def has(self, measure: str) -> bool:
        """Whether this release publishes the measure (a newer one may publish more)."""
        m = self.measure(measure)
        table = self._tables.get(m.file)
        return table is not None and m.column in table.columns

    def years(self, measure: str) -> list[int]:
        """The years in which the measure has a figure for any area, oldest first."""
        m = self.measure(measure)
        table = self._tables.get(m.file)
        if table is None or m.column not in table.columns:
            return []
        found = {
            y for (_, y), row in table.rows.items() if _number(row.get(m.column, ""))[0] is not None
        }
        return sorted(found)

    def latest_year(self, measure: str) -> int | None:
        years = self.years(measure)
        return years[-1] if years else None

    def figure(self, code: str, measure: str, year: int | None = None) -> Figure:
        """The published figure of an area (LA code, region code or ENGLAND) for a measure in
        a calendar year (None: the latest year the release has it for any area). Raises
        UnknownArea for a code the release does not know; a figure DfE does not give, or a
        measure this release does not publish, is a Figure with no value and the reason."""
        m = self.measure(measure)
        area = self.area(code)
        when = self.latest_year(measure) if year is None else year
        table = self._tables.get(m.file)
        if table is None or m.column not in table.columns:
            return Figure(area, m, when, None, f"not published in {self.name}", self.name)
        row = table.rows.get((area.code, when)) if when is not None else None
        if row is None:
            missing = f"{self.name} has no figure for {area.name} in {when}"
            return Figure(area, m, when, None, missing, self.name)
        value, reason = _number(row.get(m.column, ""))
        if m.share and value is not None and m.file != TRIBUNAL.file:
            value = round(value / 100, 6)  # DfE's columns hold 33.3 for 33.3% (tribunal: "3.3%")
        count = _whole(row.get(m.count, "")) if m.count else None
        bases = [_whole(row.get(c, "")) for c in m.base]
        base = sum(b for b in bases if b is not None) if bases and None not in bases else None
        return Figure(area, m, when, value, reason, self.name, count, base)

    def neighbours(self, codes: Sequence[str], measure: str, year: int | None = None) -> Figure:
        """The median of the figures of ``codes`` (statistical neighbours) that DfE gives;
        ``note`` says how many it is over. Raises UnknownArea for a code not in the release."""
        m = self.measure(measure)
        figures = [self.figure(code, measure, year) for code in codes]
        when = figures[0].year if figures else (self.latest_year(measure) if year is None else year)
        given = [f.value for f in figures if f.value is not None]
        area = Area("neighbours", "Statistical neighbours", "Neighbours")
        if not given:
            reason = "no statistical neighbour has this figure" if codes else "none configured"
            return Figure(area, m, when, None, reason, self.name)
        note = f"median of {len(given)} of {len(codes)} neighbours"
        if len(given) < len(codes):
            note += f" ({len(codes) - len(given)} not published)"
        return Figure(area, m, when, statistics.median(given), None, self.name, note=note)


def _whole(text: str) -> int | None:
    value, _ = _number(text)
    return None if value is None else round(value)


@functools.cache
def _newest() -> Release:
    return open_release()


def figure(code: str, measure: str, year: int | None = None) -> Figure:
    """``open_release().figure(code, measure, year)``: the newest packaged release, read once
    per process (a council's own release: ``open_release(folder).figure``)."""
    return _newest().figure(code, measure, year)


def _release_year(name: str) -> tuple[int, str]:
    years = re.findall(r"\d{4}", name)
    return (int(years[-1]) if years else 0, name)


def packaged() -> list[Path]:
    """The release folders shipped in reports/published/, oldest first."""
    root = resources.files("reports").joinpath(PACKAGED)
    found = [Path(str(p)) for p in root.iterdir() if p.is_dir() and any(_csvs(Path(str(p))))]
    return sorted(found, key=lambda p: _release_year(p.name))


def _csvs(folder: Path) -> Iterator[Path]:
    return folder.glob("*.csv")


def open_release(choice: str | Path | None = None) -> Release:
    """A release: ``choice`` a folder of DfE's files, or the name of a packaged release
    (``dfe-ehc-plans-2025``); None: the newest packaged one (by the year in its name)."""
    shipped = packaged()
    if choice is None or str(choice).strip() == "":
        if not shipped:
            raise PublishedError("no published figures are packaged in reports/published/")
        return Release(shipped[-1])
    path = Path(choice)
    if path.is_dir():
        return Release(path)
    by_name = {p.name: p for p in shipped}
    if str(choice) in by_name:
        return Release(by_name[str(choice)])
    raise PublishedError(
        f"{choice}: neither a folder nor a packaged release (packaged: "
        f"{', '.join(by_name) or 'none'})"
    )


def unknown(release: Release, codes: Iterable[str]) -> list[str]:
    """The codes the release has no area for."""
    known = {a.code for a in release.areas()}
    return [c for c in codes if c not in known]
