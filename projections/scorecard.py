"""The families' ten petition points as a scorecard, red/amber/green in Kent's convention.

Green: the target is met. Amber: the floor standard is met but not the target. Red: below
the floor. A point with nothing to judge (no cases in the period) is "no data"; a point
that sendwatch counts but has no agreed standard for is "not rated". Targets and floors are
local policy, not law: these defaults can be overridden (see ``with_overrides``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from projections.law import CLOCK_IDS, CLOCKS, limit_words

Measures = Mapping[str, Any]


def _share(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _contact(m: Measures) -> float | None:
    rate: float | None = m["contact_response"]["rate_incl_exceptions"]
    return rate


def _first_time_right(m: Measures) -> float | None:
    rate: float | None = m["first_time_right"]["rate"]
    return rate


def _all_clocks(m: Measures) -> float | None:
    return _share(
        sum(m[c]["on_time"] for c in CLOCK_IDS), sum(m[c]["completed"] for c in CLOCK_IDS)
    )


def _final_plan(m: Measures) -> float | None:
    rate: float | None = m["final_plan"]["rate_excl_exceptions"]
    return rate


def _plan_quality(m: Measures) -> float | None:
    q = m["plan_quality"]
    met = q["section_b_met"] + q["section_e_met"] + q["section_f_met"]
    return _share(met, 3 * q["audited"])


def _tribunal(m: Measures) -> float | None:
    rate: float | None = m["tribunal_order"]["rate_incl_exceptions"]
    return rate


def _education(m: Measures) -> float | None:
    days: int = m["education"]["longest_days_out"]
    return float(days) if m["education"]["out_of_education_now"] else 0.0


def _reviews(m: Measures) -> float | None:
    r = m["review_compliance"]
    return _share(r["compliant"], r["checked"])


def _caseworkers(m: Measures) -> float | None:
    c = m["caseworkers"]
    return None if c["cases"] == 0 else 1 - c["cases_with_3_or_more"] / c["cases"]


def _sen_support(m: Measures) -> float | None:
    return float(m["sen_support"]["open_now"])


@dataclass(frozen=True, slots=True)
class Point:
    number: int
    asked: str  # what the families asked for, in their words
    measure: str  # what sendwatch measures, in plain English
    value: Callable[[Measures], float | None]
    unit: str  # "share" (0..1) or "days" or "children"
    target: float | None
    floor: float | None
    higher_is_better: bool = True


POINTS: tuple[Point, ...] = (
    Point(
        1,
        "A human reply to emails and calls within 5 days",
        f"Contacts answered by a person within {limit_words(CLOCKS['contact_response'])}",
        _contact,
        "share",
        0.90,
        0.75,
    ),
    Point(
        2,
        "The right decision first time",
        "Appealable decisions not later conceded or lost at tribunal",
        _first_time_right,
        "share",
        0.95,
        0.90,
    ),
    Point(
        3,
        "Compliance with the Code and the Children and Families Act 2014",
        "All statutory clocks met on time, together",
        _all_clocks,
        "share",
        0.90,
        0.70,
    ),
    Point(
        4,
        "Statutory timescales met",
        f"Final EHC plans issued within {limit_words(CLOCKS['final_plan'])} (excluding exceptions)",
        _final_plan,
        "share",
        0.60,
        0.46,
    ),
    Point(
        5,
        "High quality plans",
        "Audited plan sections B, E and F meeting the standard",
        _plan_quality,
        "share",
        0.80,
        0.60,
    ),
    Point(
        6,
        "Tribunal orders complied with on time",
        "Tribunal orders complied with by their deadline",
        _tribunal,
        "share",
        1.00,
        0.90,
    ),
    Point(
        7,
        "Education when there is no suitable school place",
        "Longest current spell of a child without suitable education",
        _education,
        "days",
        28.0,
        56.0,
        higher_is_better=False,
    ),
    Point(
        8,
        "Settings carry out lawful annual reviews",
        "Annual reviews found compliant when checked",
        _reviews,
        "share",
        0.90,
        0.75,
    ),
    Point(
        9,
        "Consistent caseworkers and accurate records",
        "Cases with fewer than 3 caseworkers in the period",
        _caseworkers,
        "share",
        0.95,
        0.85,
    ),
    Point(
        10,
        "Settings identify and support SEN without a plan",
        "Children on SEN support now (counted, not rated)",
        _sen_support,
        "children",
        None,
        None,
    ),
)


@dataclass(frozen=True, slots=True)
class Status:
    point: Point
    value: float | None
    rag: str  # "green", "amber", "red", "no data", "not rated"

    @property
    def words(self) -> str:
        """The status in words, so colour is never the only signal."""
        return {
            "green": "Green: target met",
            "amber": "Amber: floor met, target not met",
            "red": "Red: below the floor standard",
            "no data": "No data in the period",
            "not rated": "Counted, no standard set",
        }[self.rag]


def rate(point: Point, value: float | None) -> str:
    if point.target is None or point.floor is None:
        return "not rated"
    if value is None:
        return "no data"
    sign = 1 if point.higher_is_better else -1
    if sign * value >= sign * point.target:
        return "green"
    return "amber" if sign * value >= sign * point.floor else "red"


def scorecard(measures: Measures, points: tuple[Point, ...] = POINTS) -> list[Status]:
    out = []
    for point in points:
        value = point.value(measures)
        out.append(Status(point, value, rate(point, value)))
    return out


def with_overrides(overrides: Mapping[int, Mapping[str, float]]) -> tuple[Point, ...]:
    """The points with targets and floors replaced, e.g. ``{4: {"target": 0.5}}``."""
    out = []
    for p in POINTS:
        given = overrides.get(p.number, {})
        target, floor = given.get("target", p.target), given.get("floor", p.floor)
        out.append(replace(p, target=target, floor=floor))
    return tuple(out)


def scorecard_json(measures: Measures, points: tuple[Point, ...] = POINTS) -> list[dict[str, Any]]:
    """The scorecard as JSON for the API, the dashboard and the report."""
    return [
        {
            "point": s.point.number,
            "asked": s.point.asked,
            "measure": s.point.measure,
            "unit": s.point.unit,
            "value": None if s.value is None else round(s.value, 4),
            "target": s.point.target,
            "floor": s.point.floor,
            "higher_is_better": s.point.higher_is_better,
            "rag": s.rag,
            "status": s.words,
        }
        for s in scorecard(measures, points)
    ]
