"""Published figures shown beside the report's own, with sources.

Most come from DfE's published statistics (``reports.published``: a release's own CSV files),
chosen by the council's LA code: the council's latest figure for each clock DfE publishes,
England's, its region's and its statistical neighbours' (``for_council``). reports/benchmarks.yml
holds only what those files do not (the Ministry of Justice's tribunal outcomes); a figure in it
that belongs to one council carries ``council: <LA code>`` and is shown to that council alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from projections.law import CLOCK_IDS, DFE_EXCLUDING_EXCEPTIONS
from reports.published import EES_URL, ENGLAND, Figure, Release, UnknownArea

RATES = ("rate_incl_exceptions", "rate_excl_exceptions")


@dataclass(frozen=True, slots=True)
class Source:
    key: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Published:
    """One published figure: a share of cases (0 to 1) for an area and a year."""

    area: str
    year: str
    value: float | None
    source: Source
    note: str | None = None  # how it differs, its counts, or why there is no value
    what: str | None = None  # for figures that are not a clock's rate
    council: str | None = None  # the LA code it belongs to: shown to that council alone
    detail: bool = False  # listed in the method appendix only (each statistical neighbour)


@dataclass(frozen=True, slots=True)
class ClockBenchmark:
    clock: str
    measure: str  # which rate of the clock the figures compare with
    figures: tuple[Published, ...]

    @property
    def england(self) -> Published | None:
        """The most recent England figure (drawn on the clock's chart)."""
        found = [f for f in self.figures if f.area == "England" and f.value is not None]
        return max(found, key=lambda f: f.year, default=None)

    def latest(self, area: str) -> Published | None:
        found = [f for f in self.figures if f.area == area and f.value is not None]
        return max(found, key=lambda f: f.year, default=None)


@dataclass(frozen=True, slots=True)
class Benchmarks:
    clocks: dict[str, ClockBenchmark]
    appeals: tuple[Published, ...]
    sources: tuple[Source, ...]
    notes: tuple[str, ...] = ()  # what the comparison leaves out, and why, in words
    appeal_rates: tuple[Published, ...] = ()  # appeals registered per appealable decision


def load(path: Path | None = None) -> Benchmarks:
    """The packaged benchmarks.yml, or another file of the same shape."""
    if path is None:
        text = resources.files("reports").joinpath("benchmarks.yml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse(yaml.safe_load(text))


def parse(document: Any) -> Benchmarks:
    """Check and convert the YAML document; raises ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("benchmarks: expected a mapping")
    sources = {
        key: Source(key, " ".join(str(item["title"]).split()), item.get("url"))
        for key, item in (document.get("sources") or {}).items()
    }

    def published(item: dict[str, Any], where: str) -> Published:
        source = sources.get(item.get("source", ""))
        if source is None:
            raise ValueError(f"{where}: unknown source {item.get('source')!r}")
        value = item.get("value")
        if value is not None and not 0 <= float(value) <= 1:
            raise ValueError(f"{where}: value must be a share between 0 and 1, got {value}")
        what = item.get("what")
        council = item.get("council")
        return Published(
            str(item["area"]),
            str(item["year"]),
            None if value is None else float(value),
            source,
            item.get("note"),
            None if what is None else " ".join(str(what).split()),
            None if council is None else str(council),
        )

    clocks = {}
    for clock, entry in (document.get("clocks") or {}).items():
        if clock not in CLOCK_IDS:
            raise ValueError(f"benchmarks: unknown clock {clock!r}")
        measure = entry.get("measure", "rate_excl_exceptions")
        if measure not in RATES:
            raise ValueError(f"benchmarks.{clock}.measure: expected one of {RATES}")
        clocks[clock] = ClockBenchmark(
            clock,
            measure,
            tuple(published(f, f"benchmarks.{clock}") for f in entry.get("figures") or ()),
        )
    appeals = tuple(published(f, "benchmarks.appeals") for f in document.get("appeals") or ())
    used = {f.source.key for b in clocks.values() for f in b.figures} | {
        f.source.key for f in appeals
    }
    return Benchmarks(clocks, appeals, tuple(s for k, s in sources.items() if k in used))


# Each clock DfE publishes a timeliness figure for, and the published measure that compares
# with its headline rate (leaving out exceptions for the clocks DfE publishes so).
COMPARED: dict[str, str] = {
    "assess_decision": "decided_within_6_weeks",
    "no_plan_decision": "no_plan_within_16_weeks",
    "final_plan": "within_20_weeks_excl",
    "review_decision": "reviews_decided_within_4_weeks",
}
NEIGHBOUR_TOOL = "children's services statistical neighbour benchmarking tool"


def _counts(figure: Figure) -> str | None:
    if figure.value is None:
        return f"not available offline: {figure.reason}"
    if figure.count is not None and figure.base is not None:
        return f"{figure.count:,} of {figure.base:,}"
    return None


def _published(figure: Figure, source: Source, area: str, detail: bool = False) -> Published:
    note = figure.note if figure.value is not None and figure.note else _counts(figure)
    return Published(
        area,
        "" if figure.year is None else str(figure.year),
        figure.value,
        source,
        note,
        figure.measure.what,
        detail=detail,
    )


def for_council(
    release: Release,
    council: str,
    neighbours: tuple[str, ...] = (),
    extra: Benchmarks | None = None,
) -> Benchmarks:
    """The published figures a council's report compares with: for each clock in COMPARED,
    the council's own latest figure, England's, its region's and (when ``neighbours`` are
    given) the median of theirs, each listed in the appendix; the tribunal appeal rates; and
    ``extra`` (reports/benchmarks.yml), less any figure that belongs to another council.
    Where the release has no figure (DfE's marker, or the council's code is not in it), the
    figure says so in words; no other council's figure stands in for it. Raises UnknownArea
    for a neighbour the release does not know."""
    for code in neighbours:
        release.area(code)  # UnknownArea names it
    dfe = Source(
        release.name,
        f"{release.title}, Explore Education Statistics (the release sendwatch read: "
        f"folder {release.name})",
        EES_URL,
    )
    tribunal = Source(
        f"{release.name}-tribunal",
        "Ministry of Justice and DfE, SEND Tribunal appeal rates by local authority (a "
        f"supporting table of the same release, folder {release.name})",
        EES_URL,
    )
    try:
        own = release.area(council)
    except UnknownArea:
        own = None
    name = own.name if own is not None else f"This council (LA code {council})"
    region = release.region(council) if own is not None else None
    notes = []
    if own is None:
        notes.append(
            f"The published figures ({release.name}) have no local authority with the LA code "
            f"{council} (SENDWATCH_COUNCIL), so the council's own published figures are not "
            "shown; England's are."
        )
    if not neighbours:
        compared = "England" + (f" and with its region ({region.name})" if region else "")
        notes.append(
            f"Statistical neighbours are not configured, so the council is compared with "
            f"{compared} only. To compare it with the councils most like it, set "
            f"SENDWATCH_NEIGHBOURS to their LA codes, from DfE's {NEIGHBOUR_TOOL}."
        )

    def rows(measure: str, source: Source, by_region: bool = True) -> tuple[Published, ...]:
        year = release.latest_year(measure)
        out = []
        if own is not None:
            out.append(_published(release.figure(council, measure, year), source, name))
        else:
            reason = f"not available offline: LA code {council} is not in {release.name}"
            out.append(Published(name, str(year or ""), None, source, reason))
        out.append(_published(release.figure(ENGLAND, measure, year), source, "England"))
        if region is not None and by_region:
            out.append(_published(release.figure(region.code, measure, year), source, region.name))
        if neighbours:
            median = release.neighbours(neighbours, measure, year)
            out.append(_published(median, source, "Statistical neighbours (median)"))
            for code in neighbours:
                each = release.figure(code, measure, year)
                out.append(_published(each, source, f"{each.area.name} (neighbour)", True))
        return tuple(out)

    clocks = {}
    for clock, measure in COMPARED.items():
        field = (
            "rate_excl_exceptions" if clock in DFE_EXCLUDING_EXCEPTIONS else "rate_incl_exceptions"
        )
        clocks[clock] = ClockBenchmark(clock, field, rows(measure, dfe))
    appeal_rates = rows("tribunal_appeal_rate", tribunal, by_region=False)  # LAs only
    mine = extra or Benchmarks({}, (), ())
    for clock, mark in mine.clocks.items():
        kept = tuple(f for f in mark.figures if f.council in (None, council))
        if clock in clocks and mark.measure == clocks[clock].measure:
            kept = clocks[clock].figures + kept
        clocks[clock] = ClockBenchmark(clock, mark.measure, kept)
    appeals = tuple(f for f in mine.appeals if f.council in (None, council))
    used = {f.source.key for b in clocks.values() for f in b.figures}
    used |= {f.source.key for f in (*appeals, *appeal_rates)}
    sources = tuple(s for s in (dfe, tribunal, *mine.sources) if s.key in used)
    return Benchmarks(clocks, appeals, sources, tuple(notes), appeal_rates)
