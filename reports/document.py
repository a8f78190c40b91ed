"""The report as a document: figures into the Jinja2 template (HTML), HTML into PDF.

Everything a reader sees passes through ``Disclosure`` here or in the template's filters,
so no count of 1 to 4 and no rate over fewer than 5 cases is printed. Nothing here reads a
clock: the same figures give the same HTML, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from events.envelope import LONDON
from projections.law import (
    CLOCK_IDS,
    CLOCKS,
    EXCEPTION_CITATION,
    EXCEPTION_CLOCKS,
    EXCEPTION_GROUNDS,
    ORDER_DEADLINES,
    ORDER_EXCEPTION_CITATION,
    order_limit_words,
)
from projections.scorecard import POINTS, Point, scorecard_json
from reports import charts, narrative
from reports.benchmarks import Benchmarks
from reports.dfe_year import DfeYear
from reports.disclosure import NOT_SHOWN, Cell, Disclosure, Shown, Table, percent, shown
from reports.figures import Figures, Ledger, OrderRow, Revision, Settled

SETTINGS_LISTED = 25  # settings shown in the review-compliance and SEN support tables
VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class Options:
    """What the report was asked for, as it is printed in the method appendix."""

    cutoff_days: int
    disclosure: Disclosure
    points: tuple[Point, ...] = POINTS
    standards_overridden: bool = False
    source: str = "the embedded event log"  # or "a JSONL file of events"
    dead_letters: int = 0
    quarantined: int = 0  # cases set aside: the projections could not fold their records
    names: Mapping[str, str] = field(default_factory=dict)  # settings' names by URN
    partial_month: bool = False  # the report's month was not over when it was made


def when(moment: datetime) -> str:
    """``the end of 10 July 2025`` for a cutoff at 23:59:59 London time, else the time."""
    local = moment.astimezone(LONDON)
    day = f"{local.day} {local:%B %Y}"
    if (local.hour, local.minute, local.second) == (23, 59, 59):
        return f"the end of {day} (UK time)"
    return f"{local:%H:%M} on {day} (UK time)"


def day_text(value: Any) -> str:
    return f"{value.day} {value:%B %Y}"


# --- the scorecard ------------------------------------------------------------------------

RAG_WORDS = {
    "green": "Green: target met",
    "amber": "Amber: floor met, target not met",
    "red": "Red: below the floor standard",
    "no data": "No data in the period",
    "not rated": "Counted, no standard set",
    "not shown": "Not rated: too few cases, or a share that would reveal a small count",
}


def _point_base(number: int, m: Mapping[str, Any]) -> int | None:
    """How many cases a petition point's value is over (None: the value is a count)."""
    bases = {
        1: lambda: m["contact_response"]["completed"],
        2: lambda: m["first_time_right"]["decisions"],
        3: lambda: sum(m[c]["completed"] for c in CLOCK_IDS),
        4: lambda: m["final_plan"]["completed"] - m["final_plan"]["excepted"],
        5: lambda: m["plan_quality"]["audited"],
        6: lambda: m["tribunal_order"]["completed"],
        7: lambda: m["education"]["out_of_education_now"],
        8: lambda: m["review_compliance"]["checked"],
        9: lambda: m["caseworkers"]["cases"],
    }
    found = bases.get(number)
    return None if found is None else int(found())


def _standard(point: Point, value: float | None) -> str:
    if value is None:
        return "none set"
    if point.unit == "share":
        return percent(value)
    if point.unit == "days":
        return f"{value:,.0f} days"
    return f"{value:,.0f}"


FTR_POINT = 2  # decisions right first time: rated only past the appeal window
# the points whose share is of a printed count's complement, or leaves out exceptions
POINT_SHARES = {FTR_POINT: "first_time_right", 4: "final_plan", 9: "caseworkers"}


def _settled_words(settled: Settled, scope: str, d: Disclosure) -> str:
    """Which period a right-first-time rating is of, and what may still change it."""
    label = settled.month.label if scope == "month" else f"12 months to {settled.month.label}"
    ftr = settled.figures if scope == "month" else settled.year
    pending = int(ftr["appeals_pending"])
    text = f" ({label}: the latest month past the 2-month appeal window"
    if pending:
        text += f"; {d.count(pending)} {plural(pending, d, 'appeal', 'appeals')} still pending"
    return text + ")"


def scorecard_rows(
    month: Mapping[str, Any],
    year: Mapping[str, Any],
    options: Options,
    settled: Settled | None = None,
) -> list[dict[str, Any]]:
    """One row per petition point: the month and the rolling 12 months, rated; right first
    time for the latest month past the appeal window and the 12 months to it (``settled``),
    never on decisions families may still appeal."""
    d = options.disclosure
    if settled is not None:
        month = {**month, "first_time_right": settled.figures}
        year = {**year, "first_time_right": settled.year}
    rows = []
    by_number = {p.number: p for p in options.points}
    cells = {
        "month": scorecard_json(month, options.points),
        "year": scorecard_json(year, options.points),
    }
    for index, point in enumerate(options.points):
        row: dict[str, Any] = {
            "number": point.number,
            "asked": point.asked,
            "measure": point.measure,
            "target": _standard(by_number[point.number], point.target),
            "floor": _standard(by_number[point.number], point.floor),
            "better": "higher is better" if point.higher_is_better else "lower is better",
        }
        for scope, figures in (("month", month), ("year", year)):
            item = cells[scope][index]
            value, rag = item["value"], item["rag"]
            base = _point_base(point.number, figures)
            if point.unit == "share":
                key = POINT_SHARES.get(point.number, "")
                part = None if value is None else narrative.printed_part(key, value, base or 0)
                text = d.rate(value, base or 0, part=part)
                if key in CLOCKS and narrative.exceptions_hidden(key, figures, d):
                    text = NOT_SHOWN
                if value is not None and text == NOT_SHOWN:
                    rag = "not shown"
            elif point.unit == "days":
                if not base:
                    text = "no child without education"
                elif not d.shows_rate(base):
                    text, rag = "not shown", "not shown"
                else:
                    text = f"{value:,.0f} days"
            else:
                text = d.count(int(value or 0))
            words = RAG_WORDS[rag]
            if settled is not None and point.number == FTR_POINT:
                words += _settled_words(settled, scope, d)
            row[scope] = {"text": text, "rag": rag, "words": words}
        rows.append(row)
    return rows


# --- clocks -------------------------------------------------------------------------------


def clock_row(clock: str, c: Mapping[str, Any], d: Disclosure) -> dict[str, str]:
    return {
        "title": CLOCKS[clock].title,
        "completed": d.count(c["completed"]),
        "on_time": d.count(c["on_time"]),
        "rate": d.rate(c["rate_incl_exceptions"], c["completed"], part=c["on_time"]),
        "excepted": d.count(c["excepted"]),
        "rate_excl": NOT_SHOWN
        if d.hides_count(c["excepted"])  # completed less "fewer than 5" would say how many
        else d.rate(
            c["rate_excl_exceptions"],
            c["completed"] - c["excepted"],
            part=c["on_time"] - c["excepted_on_time"],
        ),
        "open": d.count(c["open"]),
        "overdue": d.count(c["overdue"]),
        "due_soon": d.count(c["due_within_7_days"]),
    }


def clock_blocks(
    figures: Figures, benchmarks: Benchmarks, d: Disclosure, partial: bool = False
) -> list[dict[str, Any]]:
    """Per clock: the month, the 12 months and the published figures, and the trend chart
    (``partial``: its last point, the report's month, is not over yet)."""
    out = []
    for clock in CLOCK_IDS:
        rule = CLOCKS[clock]
        field = narrative.headline_field(clock)
        points = []
        for month, m in figures.trend:
            value, base = narrative.headline(clock, m)
            part = m[clock]["on_time"] - (
                m[clock]["excepted_on_time"] if field == "rate_excl_exceptions" else 0
            )
            words = d.rate(value, base, part=part)
            if narrative.exceptions_hidden(clock, m, d) and words.endswith("%"):
                words = NOT_SHOWN
            points.append(
                charts.Point(
                    month.short,
                    value if words.endswith("%") else None,
                    words,
                    partial and month == figures.month,
                )
            )
        mark = benchmarks.clocks.get(clock)
        england = mark.england if mark is not None and mark.measure == field else None
        line = None
        if england is not None and england.value is not None:
            line = (f"England {england.year}: {percent(england.value)}", england.value)
        chart = charts.trend(clock, narrative.headline_subject(clock), points, line)
        rows = []
        for label, m in (
            (figures.month.label, figures.current),
            (f"12 months to {figures.month.label}", figures.year),
        ):
            value, base = narrative.headline(clock, m)
            on_time = m[clock]["on_time"] - (
                m[clock]["excepted_on_time"] if field == "rate_excl_exceptions" else 0
            )
            hidden = narrative.exceptions_hidden(clock, m, d)
            rows.append(
                {
                    "label": label,
                    "counted": NOT_SHOWN if hidden else d.count(base),
                    "on_time": NOT_SHOWN if hidden else d.count(on_time),
                    "share": NOT_SHOWN if hidden else d.rate(value, base, part=on_time),
                }
            )
        published = []
        if mark is not None and mark.measure == field:
            # the latest figure of each area, in the order given (the council's own, England,
            # its region, its statistical neighbours); one with no value says why, in words
            areas = list(dict.fromkeys(f.area for f in mark.figures if not f.detail))
            for area in areas:
                item = mark.latest(area) or next(f for f in mark.figures if f.area == area)
                published.append(
                    {
                        "label": f"{item.area} {item.year}".strip(),
                        "share": "not available" if item.value is None else percent(item.value),
                        "note": item.note or "",
                        "source": item.source.title,
                    }
                )
        out.append(
            {
                "clock": clock,
                "title": rule.title,
                "subject": narrative.headline_subject(clock),
                "excluding": field == "rate_excl_exceptions",
                "citation": rule.citation,
                "starts": rule.starts,
                "stops": rule.stops,
                "limit": narrative.limit(clock),
                "rows": rows,
                "published": published,
                "chart": chart,
                "england": line[0] if line is not None else None,
            }
        )
    return out


# --- right first time -----------------------------------------------------------------


def ftr_rows(figures: Figures, d: Disclosure) -> list[dict[str, Any]]:
    """Right first time for the month and the 12 months to it (provisional while decisions
    may still be appealed), then for the latest month past the appeal window and its 12."""
    periods: list[tuple[str, Mapping[str, Any]]] = [
        (figures.month.label, figures.current["first_time_right"]),
        (f"12 months to {figures.month.label}", figures.year["first_time_right"]),
    ]
    settled = figures.settled
    if settled is not None and settled.month != figures.month:
        label = settled.month.label
        periods += [
            (f"{label} (latest month past the appeal window)", settled.figures),
            (f"12 months to {label}", settled.year),
        ]
    rows = []
    for label, ftr in periods:
        decisions, overturned = int(ftr["decisions"]), int(ftr["overturned"])
        # overturned and not, with the decisions as their printed total
        table = shown(Table(((overturned, decisions - overturned),), row_totals=True), d)
        right = table.share((0, 1), (0, 2))
        still = narrative.still_open(ftr)
        provisional = narrative.provisional(ftr)
        if provisional and right.endswith("%"):
            right = f"{right} (provisional)"
        rows.append(
            {
                "label": label,
                "decisions": table.count((0, 2)),
                "overturned": table.count((0, 0)),
                "open": d.count(still),
                "share": right,
                "provisional": provisional,
            }
        )
    return rows


# --- tables with printed totals: suppressed together ------------------------------------


def _appeals(figures: Mapping[str, Any], d: Disclosure) -> tuple[list[str], Shown]:
    """The appeals table's rows' names and its counts: its "All appeals" row is each
    column's total, so a column never has exactly one hidden count."""
    rows = narrative.appeal_rows(figures)
    keys = list(narrative.OUTCOMES)
    parts = tuple(tuple(r[k] for k in keys) for _, r in rows[:-1])
    return [name for name, _ in rows], shown(Table(parts, column_totals=True), d)


def appeal_table(figures: Mapping[str, Any], d: Disclosure) -> list[tuple[str, dict[str, str]]]:
    """The appeals table as printed."""
    names, table = _appeals(figures, d)
    keys = list(narrative.OUTCOMES)
    return [
        (name, {k: table.count((i, j)) for j, k in enumerate(keys)}) for i, name in enumerate(names)
    ]


def won_share(figures: Mapping[str, Any], d: Disclosure) -> str:
    """The share of decided appeals won by the family, from the table's total row: not shown
    when either total is hidden there."""
    names, table = _appeals(figures, d)
    keys = list(narrative.OUTCOMES)
    won, lost = (
        (len(names) - 1, keys.index("appellant_won")),
        (len(names) - 1, keys.index("la_won")),
    )
    decided = table.table.value(won) + table.table.value(lost)
    if decided and (won in table.hidden or lost in table.hidden):
        return NOT_SHOWN
    share = table.table.value(won) / decided if decided else None
    return d.rate(share, decided, part=table.table.value(won))


ORDER_COLUMNS = ("completed", "on_time", "open", "overdue")


def order_table(rows: tuple[OrderRow, ...], d: Disclosure) -> list[dict[str, str]]:
    """Tribunal orders by kind as printed, then the "All orders" row (each column's total:
    suppressed together, so no kind's count can be subtracted out of it)."""
    table = shown(
        Table(tuple(tuple(getattr(r, k) for k in ORDER_COLUMNS) for r in rows), column_totals=True),
        d,
    )
    completed, on_time = ORDER_COLUMNS.index("completed"), ORDER_COLUMNS.index("on_time")
    return [
        {
            **{k: table.count((n, c)) for c, k in enumerate(ORDER_COLUMNS)},
            "share": table.share((n, on_time), (n, completed)),
        }
        for n in range(len(rows) + 1)
    ]


def ledger_tables(
    month: Ledger, year: Ledger, d: Disclosure
) -> dict[str, list[tuple[str, str, str]]]:
    """The exceptions ledger's three tables (by ground, by time limit, whether the family was
    told), each a split of the same printed total: suppressed so that none gives a hidden
    count away, and the total hidden in all three when any one needs it hidden."""
    texts: dict[str, list[list[str]]] = {"ground": [], "clock": [], "told": []}
    for ledger in (month, year):
        parts = {
            "ground": [n for _, n in ledger.by_ground],
            "clock": [n for _, n in ledger.by_clock],
            "told": [ledger.family_told, ledger.family_not_told, ledger.not_recorded],
        }
        tables = {k: Table(tuple((n,) for n in v), column_totals=True) for k, v in parts.items()}
        printed = {k: shown(t, d) for k, t in tables.items()}
        if any((len(parts[k]), 0) in printed[k].hidden for k in parts):
            printed = {k: shown(t, d, frozenset({(len(parts[k]), 0)})) for k, t in tables.items()}
        for k in parts:
            texts[k].append([printed[k].count((i, 0)) for i in range(len(parts[k]) + 1)])
    labels = {
        "ground": [g for g, _ in month.by_ground] + ["total"],
        "clock": [c for c, _ in month.by_clock] + ["total"],
        "told": ["told", "not_told", "not_recorded", "total"],
    }
    return {
        k: [(label, m, y) for label, m, y in zip(labels[k], *texts[k], strict=True)] for k in labels
    }


# --- tribunal orders ----------------------------------------------------------------------


def order_deadline(kind: str) -> str:
    """An order kind's deadlines in the law's words; ``unknown`` for a kind it has not."""
    rule = ORDER_DEADLINES.get(kind)
    return "unknown" if rule is None else order_limit_words(rule)


# --- revisions ----------------------------------------------------------------------------


def revision_value(value: Any, base: int, path: tuple[str, ...], d: Disclosure) -> str:
    field = path[-1]
    if field.startswith("rate"):
        return d.rate(value, base)
    if field in ("longest_days_out", "median_days_request_to_start"):
        return d.days(value, base)
    return d.count(int(value))


def revision_rows(figures: Figures, d: Disclosure) -> list[dict[str, str]]:
    """The figures that differ as printed (a share that moves in its fourth decimal place
    prints the same and is left out)."""
    if figures.revisions is None:
        return []
    rows = [_revision_row(change, figures, d) for change in figures.revisions.changes]
    return [row for row in rows if row["original"] != row["revised"]]


def _revision_row(change: Revision, figures: Figures, d: Disclosure) -> dict[str, str]:
    return {
        "figure": narrative.figure_label(change.path),
        "period": figures.month.label
        if change.scope == "month"
        else f"12 months to {figures.month.label}",
        "original": revision_value(change.original, change.original_base, change.path, d),
        "revised": revision_value(change.revised, change.revised_base, change.path, d),
    }


def section_title(section: str) -> str:
    if section in CLOCKS:
        return CLOCKS[section].title
    return {
        "appeals": "Appeals",
        "first_time_right": "Decisions right first time",
        "education": "Children out of education and EOTAS",
        "caseworkers": "Caseworker continuity",
        "plan_quality": "Plan quality",
        "review_compliance": "Annual review compliance",
        "sen_support": "SEN support",
    }.get(section, section)


def plural(count: int, d: Disclosure, one: str, many: str) -> str:
    """The noun for a count as printed: "fewer than 5" takes the plural, so a suppressed
    count never shows whether it was one."""
    return one if count == 1 and not d.hides_count(count) else many


def occurred(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return "on an unknown date"
    if first == last:
        return f"on {day_text(first)}"
    if first.year == last.year:
        return f"between {first.day} {first:%B} and {day_text(last)}"
    return f"between {day_text(first)} and {day_text(last)}"


def revision_causes(figures: Figures, d: Disclosure) -> list[dict[str, Any]]:
    """Per section that changed: the late and retracted records that explain it."""
    if figures.revisions is None:
        return []
    sections: dict[str, list[str]] = {}
    for cause in figures.revisions.causes:
        n = cause.count
        records = plural(n, d, "record", "records")
        when = occurred(cause.first, cause.last)
        if cause.kind == "late":
            text = (
                f"{d.count(n)} {cause.event_type} {records} that occurred {when}, "
                "recorded after the cutoff"
            )
        else:
            text = (
                f"{d.count(n)} {plural(n, d, 'retraction', 'retractions')}, recorded after the "
                f"cutoff, of {cause.event_type} {records} that occurred {when}"
            )
        sections.setdefault(cause.section, []).append(text)
    return [
        {"title": section_title(section), "causes": causes} for section, causes in sections.items()
    ]


# --- settings tables ----------------------------------------------------------------------


def setting_name(setting: str, names: Mapping[str, str]) -> str:
    """A setting as the report names it: the council's name for its URN, else the URN."""
    return names.get(setting, setting)


def _reviews_table(
    rows: list[tuple[int, int]], rest: tuple[int, int] | None, d: Disclosure, exact: bool = True
) -> Shown:
    """Settings' reviews as (lawful, not lawful) with each row's total (checked) and each
    column's (the 12 months' figures, printed above): the settings not listed are one row,
    never printed, so no one of them can be worked out from the totals."""
    cells = [(lawful, checked - lawful) for checked, lawful in rows]
    withheld: frozenset[Cell] = frozenset()
    if rest is not None:
        checked, lawful = rest
        cells.append((lawful, checked - lawful))
        withheld = frozenset((len(rows), c) for c in range(3))
    table = Table(tuple(cells), row_totals=True, column_totals=True)
    return shown(table, d, withheld, exact=exact)


def review_settings(
    figures: Mapping[str, Any], d: Disclosure, names: Mapping[str, str] | None = None
) -> tuple[list[dict[str, str]], int, dict[str, str]]:
    """Settings' review compliance, the lowest share first (those whose share cannot be
    shown last); how many are not listed; and the period's total row, suppressed with them
    (the totals and the rows are one table: a total with all but one row printed would give
    the last away)."""
    names = names or {}
    compliance = figures["review_compliance"]
    by_setting = sorted(compliance["by_setting"].items())
    every = [(c["checked"], c["compliant"]) for _, c in by_setting]

    def ranked(ids: list[str], counts: list[tuple[int, int]], table: Shown) -> list[int]:
        """Rows in order: shares shown, lowest first; then the rest by setting."""

        def key(n: int) -> tuple[int, float, str]:
            checked, lawful = counts[n]
            visible = table.share((n, 0), (n, 2)).endswith("%")
            return (0 if visible else 1, lawful / checked if visible else 0.0, ids[n])

        return sorted(range(len(counts)), key=key)

    ids = [setting for setting, _ in by_setting]
    # every setting, to choose which to list (the sums' rule only: hundreds of rows)
    order = ranked(ids, every, _reviews_table(every, None, d, exact=False))
    # one setting left out would be its totals less the rest: list it too
    keep = SETTINGS_LISTED + (1 if len(order) == SETTINGS_LISTED + 1 else 0)
    chosen, left = order[:keep], order[keep:]
    listed = [ids[n] for n in chosen]
    counts = [every[n] for n in chosen]
    rest = None
    if left:
        rest = (sum(every[n][0] for n in left), sum(every[n][1] for n in left))
    table = _reviews_table(counts, rest, d)
    rows = []
    for n in ranked(listed, counts, table):
        rows.append(
            {
                "setting": setting_name(listed[n], names),
                "checked": table.count((n, 2)),
                "compliant": table.count((n, 0)),
                "share": table.share((n, 0), (n, 2)),
            }
        )
    bottom = len(listed) + (1 if rest is not None else 0)
    total = {
        "checked": table.count((bottom, 2)),
        "compliant": table.count((bottom, 0)),
        "share": table.share((bottom, 0), (bottom, 2)),
    }
    return rows, len(left), total


def review_total(figures: Mapping[str, Any], d: Disclosure) -> dict[str, str]:
    """A period's reviews checked and found lawful, with the share (none beside a hidden
    count)."""
    r = figures["review_compliance"]
    table = _reviews_table([(r["checked"], r["compliant"])], None, d)
    return {
        "checked": table.count((0, 2)),
        "compliant": table.count((0, 0)),
        "share": table.share((0, 0), (0, 2)),
    }


def sen_settings(
    figures: Mapping[str, Any], d: Disclosure, names: Mapping[str, str] | None = None
) -> tuple[list[dict[str, str]], int]:
    """Settings with the most children on SEN support; and how many are not listed."""
    names = names or {}
    by_setting = figures["sen_support"]["by_setting"]
    items = sorted(by_setting.items(), key=lambda item: (-item[1], item[0]))
    rows = [
        {"setting": setting_name(s, names), "children": d.count(n)}
        for s, n in items[:SETTINGS_LISTED]
    ]
    return rows, max(0, len(items) - SETTINGS_LISTED)


# --- the document -------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["day"] = day_text
    env.filters["when"] = when
    env.filters["percent"] = percent
    env.filters["capital"] = narrative.capital
    return env


def exception_limits() -> str:
    """The limits an exception lifts, in words, from the law: "6, 16 and 20-week"."""
    weeks = sorted(
        (CLOCKS[c].days or 0) // 7 for c in EXCEPTION_CLOCKS if CLOCKS[c].days is not None
    )
    if len(weeks) == 1:
        return f"{weeks[0]}-week"
    return ", ".join(str(w) for w in weeks[:-1]) + f" and {weeks[-1]}-week"


def exception_law() -> dict[str, str]:
    """What the exceptions chapter says of the law, from ``projections.law``."""
    count = ("one", "two", "three", "four", "five", "six")[len(EXCEPTION_GROUNDS) - 1]
    return {
        "limits": exception_limits(),
        "grounds": count,
        "citation": EXCEPTION_CITATION,
        "orders": ORDER_EXCEPTION_CITATION,
    }


def render_html(
    figures: Figures,
    benchmarks: Benchmarks,
    options: Options,
    questions: list[str] | None = None,
    dfe: DfeYear | None = None,
) -> str:
    """The report's HTML. The same arguments always give the same text. ``dfe``: DfE's
    measures for the year to date beside the published figures (``reports.dfe_year``);
    None leaves that section out."""
    d = options.disclosure
    improved, worse = narrative.movements(figures, d, partial=options.partial_month)
    asked = questions or narrative.questions(figures, d, benchmarks, options.points)
    month_rows = [clock_row(c, figures.current[c], d) for c in CLOCK_IDS]
    year_rows = [clock_row(c, figures.year[c], d) for c in CLOCK_IDS]
    scores = scorecard_rows(figures.current, figures.year, options, figures.settled)
    rated = [row["year"]["rag"] for row in scores]
    css = resources.files("reports").joinpath("templates/report.css").read_text(encoding="utf-8")
    reviews, reviews_more, reviews_year = review_settings(figures.year, d, options.names)
    sen, sen_more = sen_settings(figures.current, d, options.names)
    blocks = clock_blocks(figures, benchmarks, d, options.partial_month)
    template = environment().get_template("report.html.j2")
    return template.render(
        f=figures,
        d=d,
        o=options,
        css=css,
        version=VERSION,
        improved=improved,
        worse=worse,
        questions=asked,
        scorecard=scores,
        rag_count={
            **{rag: rated.count(rag) for rag in ("green", "amber", "red")},
            "other": sum(1 for rag in rated if rag not in ("green", "amber", "red")),
        },
        steps={
            "month": f"{narrative.MONTH_STEP:g}",
            "year": f"{narrative.YEAR_STEP:g}",
            "cases": narrative.MOVEMENT_CASES,
        },
        month_rows=month_rows,
        year_rows=year_rows,
        blocks=blocks,
        final_plan=next(b for b in blocks if b["clock"] == "final_plan"),
        zip=zip,
        benchmarks=benchmarks,
        appeals_month=narrative.appeal_rows(figures.current),
        appeals_year=narrative.appeal_rows(figures.year),
        outcomes=narrative.OUTCOMES,
        grounds=narrative.GROUNDS,
        order_deadline=order_deadline,
        order_what={k: r.what for k, r in ORDER_DEADLINES.items()},
        exception_law=exception_law(),
        clocks=CLOCKS,
        clock_ids=CLOCK_IDS,
        revisions=revision_rows(figures, d),
        causes=revision_causes(figures, d),
        reviews=reviews,
        reviews_more=reviews_more,
        reviews_month=review_total(figures.current, d),
        reviews_year=reviews_year,
        sen=sen,
        sen_more=sen_more,
        ftr_rows=ftr_rows(figures, d),
        appeal_tables=(appeal_table(figures.current, d), appeal_table(figures.year, d)),
        won_share=won_share(figures.year, d),
        order_tables=(order_table(figures.orders_month, d), order_table(figures.orders_year, d)),
        ledger=ledger_tables(figures.ledger_month, figures.ledger_year, d),
        section_title=section_title,
        plural=plural,
        limit=narrative.limit,
        dfe=dfe,
    )


def write_pdf(html: str, path: Path) -> None:
    """Render the HTML to a tagged PDF with WeasyPrint (fonts: DejaVu Sans): its headings,
    tables and the charts' alt text are in the PDF's structure, for screen readers."""
    import weasyprint

    weasyprint.HTML(string=html, base_url=str(path.parent)).write_pdf(path, pdf_tags=True)
