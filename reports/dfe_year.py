"""The report's "How this year will look in DfE's statistics": DfE's measures, year to date.

DfE publishes each June the timeliness figures councillors see in the press, for the calendar
year before. This section computes the same measures (``projections.dfe.dfe_measures``) for the
calendar year of the reported month, from 1 January to the month's last day, from the case
files folded as the rest of the report folds them (``now`` the month's last day, events as
recorded by the reporting cutoff), and sets each beside the council's latest published figure
for a year before it, and England's (``reports.published``). Every figure the report computes
passes through ``Disclosure``; a share whose count of cases on time is suppressed is not shown
either, since the share and the total would give the count away.

``year_to_date`` reads the projector; ``section`` is pure: the same arguments give the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from projections import CaseFile, Projector
from projections.dfe import GROUP_TITLES, dfe_measures
from reports.disclosure import NO_CASES, NOT_SHOWN, Disclosure
from reports.published import ENGLAND, Release, UnknownArea

COUNT, SHARE, WEEKS = "count", "share", "weeks"


@dataclass(frozen=True, slots=True)
class Row:
    """One of DfE's measures in the section: the figure (a key of its group in
    ``dfe_measures``), its numerator and the keys summed for its denominator."""

    group: str
    label: str
    figure: str
    kind: str = SHARE
    count: str | None = None
    base: tuple[str, ...] = ()


ROWS: tuple[Row, ...] = (
    Row("timeliness_20_week", "New EHC plans issued", "plans_issued", COUNT),
    Row("timeliness_20_week", "New EHC plans issued, leaving out exceptions",
        "plans_issued_ex", COUNT),
    Row("timeliness_20_week", "Issued within 20 weeks, including exceptions",
        "rate_within_20_weeks", SHARE, "within_20_weeks", ("plans_issued",)),
    Row("timeliness_20_week", "Issued within 20 weeks, leaving out exceptions",
        "rate_within_20_weeks_ex", SHARE, "within_20_weeks_ex", ("plans_issued_ex",)),
    Row("timeliness_20_week", "Issued after 20 weeks and within 52, including exceptions",
        "rate_over_20_up_to_52_weeks", SHARE, "over_20_up_to_52_weeks", ("plans_issued",)),
    Row("timeliness_20_week", "Issued after 20 weeks and within 52, leaving out exceptions",
        "rate_over_20_up_to_52_weeks_ex", SHARE, "over_20_up_to_52_weeks_ex",
        ("plans_issued_ex",)),
    Row("timeliness_20_week", "Issued after 52 weeks, including exceptions",
        "rate_over_52_weeks", SHARE, "over_52_weeks", ("plans_issued",)),
    Row("timeliness_20_week", "Issued after 52 weeks, leaving out exceptions",
        "rate_over_52_weeks_ex", SHARE, "over_52_weeks_ex", ("plans_issued_ex",)),
    Row("timeliness_20_week", "Average weeks from request to plan, including exceptions",
        "average_weeks", WEEKS, None, ("plans_issued",)),
    Row("timeliness_20_week", "Average weeks from request to plan, leaving out exceptions",
        "average_weeks_ex", WEEKS, None, ("plans_issued_ex",)),
    Row("requests", "Decisions whether to assess made within 6 weeks",
        "rate_decided_within_6_weeks", SHARE, "decided_within_6_weeks", ("decisions_made",)),
    Row("assessments", "Decisions not to issue a plan made within 16 weeks",
        "rate_not_to_issue_within_16_weeks", SHARE, "not_to_issue_within_16_weeks",
        ("decided_not_to_issue",)),
    Row("annual_reviews", "Annual review decisions sent within 4 weeks of the meeting",
        "rate_decided_within_4_weeks", SHARE, "decided_within_4_weeks",
        ("decided_within_4_weeks", "decided_after_4_weeks")),
    Row("phase_transfers", "Phase transfers finalised by the deadline",
        "rate_finalised_by_deadline", SHARE, "finalised_by_deadline", ("transfers_due",)),
)  # fmt: skip

# Sentences of projections.dfe's notes that the section says once, in its introduction, or
# that do not apply to a report printing percentages (nor do those naming DfE's columns).
_SAID_ONCE = ("DfE counts a calendar year", "A share from 0 to 1")
_SENTENCE = re.compile(r"(?<=\.)\s+(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Shown:
    """One row as printed."""

    group: str
    label: str
    value: str  # the year to date, as the report may show it
    counted: str  # "784 of 2,424", or "" for a count
    council: str  # the council's published figure with its year, or why there is none
    england: str


@dataclass(frozen=True, slots=True)
class Note:
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class DfeYear:
    """The section: DfE's measures for ``start`` to ``end``, beside published figures."""

    year: int
    start: date
    end: date
    complete: bool  # the reported month is December: the whole calendar year
    published_in: str  # when DfE will publish the year's figures: "June 2026"
    council: str  # the council's name in the release, or its LA code
    release: str  # the release folder read
    release_title: str
    rows: tuple[Shown, ...]
    notes: tuple[Note, ...]
    measures: Mapping[str, Any]  # dfe_measures for the year to date, unsuppressed (for tests)


def year_to_date(
    projector: Projector,
    end: date,
    as_at: datetime | None,
    files: Iterable[CaseFile] | None = None,
) -> dict[str, Any]:
    """``dfe_measures`` for 1 January to ``end`` of ``end``'s year: the case files folded as
    at ``end`` (later events ignored) as known at ``as_at`` (None: everything recorded);
    ``files``: those already folded so (the report's), else folded here and not kept."""
    if files is None:
        files = projector.case_files(end, as_at, keep=False)
    return dfe_measures(files, end.year)


def _value(measures: Mapping[str, Any], group: str, key: str) -> Any:
    return measures[group][key]["value"]


def _exposed(measures: Mapping[str, Any], d: Disclosure) -> bool:
    """Whether the plans' bands would give a small number away: the three bands sum to the
    plans issued, and each figure including exceptions less the same figure leaving them out
    is the plans with an exception; if any of these is from 1 to the threshold less 1, a
    reader could work it out from the others, so the bands are not shown (nor the count
    leaving out exceptions, when the plans with an exception are few)."""
    t = measures["timeliness_20_week"]
    bands = ("within_20_weeks", "over_20_up_to_52_weeks", "over_52_weeks")
    incl = [int(t[b]["value"]) for b in bands]
    excl = [int(t[f"{b}_ex"]["value"]) for b in bands]
    excepted = [a - b for a, b in zip(incl, excl, strict=True)]
    return any(d.hides_count(n) for n in (*incl, *excl, *excepted))


def _shown(row: Row, measures: Mapping[str, Any], d: Disclosure, exposed: bool) -> tuple[str, str]:
    """The year-to-date figure and its counts, as the report may show them. A share's count
    and the rest of its base are both printed, in effect ("8 of 10" says 2 were late): when
    either is suppressed, so are the other and the share."""
    value = _value(measures, row.group, row.figure)
    t = measures["timeliness_20_week"]
    if row.kind == COUNT:
        excepted = int(t["plans_issued"]["value"]) - int(t["plans_issued_ex"]["value"])
        if row.figure == "plans_issued_ex" and d.hides_count(excepted):
            return NOT_SHOWN, ""
        return d.count(int(value)), ""
    base = sum(int(_value(measures, row.group, k)) for k in row.base)
    excepted = int(t["plans_issued"]["value"]) - int(t["plans_issued_ex"]["value"])
    if row.kind == WEEKS and row.base == ("plans_issued_ex",) and d.hides_count(excepted):
        return NOT_SHOWN, ""  # beside the average including them, it gives their waits away
    if row.kind == WEEKS:
        if value is None or base <= 0:
            return NO_CASES, ""
        if not d.shows_rate(base):
            return NOT_SHOWN, f"over {d.count(base)} plans"
        return f"{value:.1f} weeks", f"over {d.count(base)} plans"
    count = int(_value(measures, row.group, row.count)) if row.count else 0
    if base <= 0 or value is None:
        return NO_CASES, f"{d.count(count)} of {d.count(base)}"
    hidden = exposed if row.group == "timeliness_20_week" else d.hides_count(base - count)
    hidden = hidden or d.hides_count(count)
    if hidden:
        part = d.fewer if d.hides_count(count) else NOT_SHOWN
        few = d.hides_count(excepted)
        of = NOT_SHOWN if row.base == ("plans_issued_ex",) and few else d.count(base)
        return NOT_SHOWN, f"{part} of {of}"
    return d.rate(value, base), f"{d.count(count)} of {d.count(base)}"


def _published(release: Release, code: str | None, dfe_column: str | None, before: int) -> str:
    """An area's latest published figure for a year before ``before``, with its year, or why
    there is none, in words."""
    if dfe_column is None or not release.has(dfe_column):
        return f"not published in {release.name} (DfE publishes it from reporting year 2026)"
    if code is None or code == "":
        return "not shown: no LA code is set (SENDWATCH_COUNCIL)"
    try:
        release.area(code)
    except UnknownArea:
        return f"not available offline: LA code {code} is not in {release.name}"
    years = [y for y in release.years(dfe_column) if y < before]
    if not years:
        return f"not available offline: {release.name} has no year before {before}"
    figure = release.figure(code, dfe_column, years[-1])
    if figure.value is None:
        return f"not available offline for {years[-1]}: {figure.reason}"
    return f"{figure.shown} in {years[-1]}"


def _notes(measures: Mapping[str, Any], rows: Sequence[Row]) -> tuple[Note, ...]:
    """Per DfE file, how DfE counts its figures where that differs from the report's clocks:
    the sentences of the rows' notes, each once."""
    out = []
    for group in dict.fromkeys(r.group for r in rows):
        said: dict[str, None] = {}
        for row in rows:
            if row.group != group:
                continue
            for key in (row.figure, row.count, *row.base):
                if key is None:
                    continue
                for sentence in _SENTENCE.split(measures[group][key]["note"]):
                    if sentence and not sentence.startswith(_SAID_ONCE) and "_" not in sentence:
                        said.setdefault(sentence.strip(), None)
        out.append(Note(GROUP_TITLES[group], " ".join(said)))
    return tuple(out)


def section(
    measures: Mapping[str, Any],
    release: Release,
    council: str | None,
    d: Disclosure,
    end: date,
) -> DfeYear:
    """The section for the year to ``end`` (``measures``: ``year_to_date``'s answer), beside
    ``council``'s (an LA code) and England's latest published figures for a year before it."""
    year = int(measures["year"])
    try:
        name = release.area(council or "").name
    except UnknownArea:
        name = f"LA code {council}" if council else "this council"
    rows = []
    exposed = _exposed(measures, d)
    for row in ROWS:
        value, counted = _shown(row, measures, d, exposed)
        column = measures[row.group][row.figure]["dfe_column"]
        rows.append(
            Shown(
                GROUP_TITLES[row.group],
                row.label,
                value,
                counted,
                _published(release, council, column, year),
                _published(release, ENGLAND, column, year),
            )
        )
    return DfeYear(
        year=year,
        start=date(year, 1, 1),
        end=end,
        complete=(end.month, end.day) == (12, 31),
        published_in=f"June {year + 1}",
        council=name,
        release=release.name,
        release_title=release.title,
        rows=tuple(rows),
        notes=_notes(measures, ROWS),
        measures=measures,
    )
