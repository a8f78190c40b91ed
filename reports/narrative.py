"""The report's words: plain English for councillors, generated from the figures (pure).

- what improved and what got worse: the month against the month before, and the rolling 12
  months against the 12 months before them, for every share the report rates; a change
  counts when it is at least ``MONTH_STEP`` (or ``YEAR_STEP``) percentage points and both
  shares are over at least ``MOVEMENT_CASES`` cases (and enough to be shown);
- three questions for officers, from the figures furthest below their standard over the
  rolling 12 months: for a statutory clock the law's standard is every case on time; for a
  petition point it is the scorecard's target.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from projections.law import (
    APPEAL_AGAINST,
    CLOCK_IDS,
    CLOCKS,
    DFE_EXCLUDING_EXCEPTIONS,
    EXCEPTION_GROUNDS,
    TRANSFER_DEADLINE,
    limit_words,
)
from projections.scorecard import POINTS, Point
from reports.benchmarks import Benchmarks
from reports.disclosure import Disclosure, percent
from reports.figures import Figures, Ledger

MONTH_STEP = 5.0  # percentage points
YEAR_STEP = 2.0
MOVEMENT_CASES = 20  # a share over fewer cases moves too much by chance to be news
MOVEMENTS_LISTED = 4
# Right first time is provisional while the decisions still open to appeal (window open, or
# an appeal pending) are at least this share of them: enough to move the rate as printed.
PROVISIONAL_SHARE = 0.001

# The clocks DfE publishes leaving out exceptions: the report headlines them the same way.
EXCLUDING_EXCEPTIONS = DFE_EXCLUDING_EXCEPTIONS

NOUNS: dict[str, str] = {
    "assess_decision": "decisions on whether to assess a child's needs",
    "no_plan_decision": "decisions not to issue an EHC plan",
    "final_plan": "final EHC plans",
    "review_due": "annual reviews",
    "review_decision": "decisions after an annual review meeting",
    "amended_plan": "amended plans",
    "phase_transfer": "plans amended for a move to a new school or college",
    "tribunal_order": "tribunal orders",
    "contact_response": "emails, calls and letters from families",
}
VERBS: dict[str, str] = {
    "assess_decision": "made",
    "no_plan_decision": "made",
    "final_plan": "issued",
    "review_due": "decided",
    "review_decision": "made",
    "amended_plan": "issued",
    "contact_response": "answered by a person",
}
AGAINST: dict[str, str] = {
    "refusal_to_assess": "Refusal to assess",
    "refusal_to_issue": "Refusal to issue a plan",
    "contents": "Contents of a plan (Sections B, F)",
    "placement": "Placement (Section I)",
    "refusal_to_amend": "Refusal to amend a plan",
    "refusal_to_reassess": "Refusal to reassess",
    "cease": "Decision to cease a plan",
}
OUTCOMES: dict[str, str] = {
    "registered": "registered",
    "withdrawn": "withdrawn by the family",
    "conceded": "conceded by the council",
    "appellant_won": "won by the family",
    "la_won": "won by the council",
}
GROUNDS: dict[str, str] = EXCEPTION_GROUNDS  # the law's words for each ground
CLOCK_FIELDS: dict[str, str] = {
    "completed": "completed",
    "on_time": "completed on time",
    "excepted": "completed with an exception",
    "excepted_on_time": "with an exception and on time",
    "rate_incl_exceptions": "share on time",
    "rate_excl_exceptions": "share on time, leaving out exceptions",
    "open": "open at the month's end",
    "overdue": "overdue at the month's end",
    "due_within_7_days": "due within 7 days of the month's end",
}
OTHER_FIELDS: dict[tuple[str, str], str] = {
    ("first_time_right", "decisions"): "Appealable decisions made",
    ("first_time_right", "overturned"): "Decisions later conceded or lost at tribunal",
    ("first_time_right", "rate"): "Decisions right first time",
    ("education", "out_of_education_now"): "Children without suitable education at the month's end",
    ("education", "longest_days_out"): "Longest current time without suitable education",
    ("education", "eotas_requested"): "EOTAS requests",
    ("education", "eotas_started"): "EOTAS packages started",
    ("education", "median_days_request_to_start"): "Median days from EOTAS request to start",
    ("caseworkers", "cases"): "Cases with a caseworker",
    ("caseworkers", "changes"): "Changes of caseworker",
    ("caseworkers", "cases_with_3_or_more"): "Cases with 3 or more caseworkers",
    ("plan_quality", "audited"): "Plans audited",
    ("plan_quality", "section_b_met"): "Audits: Section B met the standard",
    ("plan_quality", "section_e_met"): "Audits: Section E met the standard",
    ("plan_quality", "section_f_met"): "Audits: Section F met the standard",
    ("review_compliance", "checked"): "Annual reviews checked",
    ("review_compliance", "compliant"): "Annual reviews found lawful",
    ("sen_support", "open_now"): "Children on SEN support at the month's end",
}


def limit(clock: str) -> str:
    """The clock's limit in words, from the law's table."""
    return limit_words(CLOCKS[clock]) or "its deadline"


def day_and_month(month_day: tuple[int, int]) -> str:
    """``15 February``."""
    month, day = month_day
    return f"{day} {calendar.month_name[month]}"


def on_time_phrase(clock: str) -> str:
    """``issued within 20 weeks``: what being on time means for the clock's cases."""
    if clock == "phase_transfer":
        school, post16 = TRANSFER_DEADLINE["school"], TRANSFER_DEADLINE["post16"]
        return (
            f"amended by {day_and_month(school)} of the year of the move"
            f" ({day_and_month(post16)} for post-16)"
        )
    if clock == "tribunal_order":
        return "carried out by the order's deadline"
    if clock == "review_due":
        return f"decided within {limit(clock)} of the plan or the last review"
    verb = VERBS.get(clock, "completed")
    phrase = f"{verb} within {limit(clock)}"
    if clock == "review_decision":
        phrase += " of the meeting"
    return phrase


def headline_field(clock: str) -> str:
    return "rate_excl_exceptions" if clock in EXCLUDING_EXCEPTIONS else "rate_incl_exceptions"


def headline(clock: str, figures: Mapping[str, Any]) -> tuple[float | None, int]:
    """The clock's headline share and how many cases it is over."""
    c = figures[clock]
    if clock in EXCLUDING_EXCEPTIONS:
        return c["rate_excl_exceptions"], c["completed"] - c["excepted"]
    return c["rate_incl_exceptions"], c["completed"]


def headline_subject(clock: str) -> str:
    """``final EHC plans issued within 20 weeks, leaving out exceptions``."""
    text = f"{NOUNS.get(clock, CLOCKS[clock].title)} {on_time_phrase(clock)}"
    return text + (", leaving out exceptions" if clock in EXCLUDING_EXCEPTIONS else "")


def figure_label(path: tuple[str, ...]) -> str:
    """A figure of the contract's JSON in words (for the list of revised figures)."""
    head = path[0]
    if head in CLOCKS:
        return f"{CLOCKS[head].title}: {CLOCK_FIELDS.get(path[-1], path[-1])}"
    if head == "appeals" and len(path) == 3:
        return f"Appeals against {AGAINST.get(path[1], path[1]).lower()}: {OUTCOMES[path[2]]}"
    return OTHER_FIELDS.get((head, path[-1]), " ".join(path).replace("_", " "))


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def printed_part(key: str, value: float, base: int) -> int:
    """The count a share is worked out from, as the report prints it: the share's cases, or
    for caseworkers the cases with 3 or more (the share is of the rest). A share is not
    printed when that count is suppressed (``Disclosure.rate``'s ``part``)."""
    share = 1 - value if key in COMPLEMENTS else value
    return round(share * base)


COMPLEMENTS = ("caseworkers", "first_time_right")  # shares of what the printed count is not


def exceptions_hidden(clock: str, figures: Mapping[str, Any], disclosure: Disclosure) -> bool:
    """Whether a clock's headline share leaves out a suppressed number of exceptions: its
    base (completed less excepted) beside the completed count would give that number away,
    so neither the base nor the share is printed."""
    return clock in EXCLUDING_EXCEPTIONS and disclosure.hides_count(figures[clock]["excepted"])


# --- right first time: provisional while decisions may still be appealed --------------


def still_open(ftr: Mapping[str, Any]) -> int:
    """Decisions that may still be overturned: an appeal pending, or the window open."""
    return int(ftr.get("appeals_pending", 0)) + int(ftr.get("appeal_window_open", 0))


def provisional(ftr: Mapping[str, Any]) -> bool:
    """Whether a period's rate right first time may still fall by as much as the report
    prints (CONTRACT.md 3: not final while appeals are pending or the window is open)."""
    decisions = int(ftr["decisions"])
    return decisions > 0 and still_open(ftr) >= PROVISIONAL_SHARE * decisions


def lowest(ftr: Mapping[str, Any]) -> float | None:
    """The rate if every decision still open to appeal were overturned."""
    decisions = int(ftr["decisions"])
    if not decisions:
        return None
    return max(0.0, 1 - (int(ftr["overturned"]) + still_open(ftr)) / decisions)


# --- shares the report rates ------------------------------------------------------------


def _shares(figures: Mapping[str, Any]) -> list[tuple[str, str, float | None, int]]:
    """(key, subject, share, cases) for every share compared month on month."""
    out = []
    for clock in CLOCK_IDS:
        value, base = headline(clock, figures)
        out.append((clock, headline_subject(clock), value, base))
    ftr = figures["first_time_right"]
    out.append(
        (
            "first_time_right",
            "appealable decisions not later conceded or lost at tribunal",
            ftr["rate"],
            ftr["decisions"],
        )
    )
    q = figures["plan_quality"]
    met = q["section_b_met"] + q["section_e_met"] + q["section_f_met"]
    out.append(
        (
            "plan_quality",
            "audited plan sections (B, E and F) meeting the standard",
            met / (3 * q["audited"]) if q["audited"] else None,
            q["audited"],
        )
    )
    r = figures["review_compliance"]
    out.append(
        (
            "review_compliance",
            "annual reviews found lawful when checked",
            r["compliant"] / r["checked"] if r["checked"] else None,
            r["checked"],
        )
    )
    cw = figures["caseworkers"]
    out.append(
        (
            "caseworkers",
            "cases that kept to fewer than 3 caseworkers",
            1 - cw["cases_with_3_or_more"] / cw["cases"] if cw["cases"] else None,
            cw["cases"],
        )
    )
    return out


@dataclass(frozen=True, slots=True)
class Movement:
    subject: str
    now: float
    before: float
    now_when: str
    before_when: str

    @property
    def points(self) -> float:
        """The change in percentage points (positive: better)."""
        return round((self.now - self.before) * 100, 1)

    def sentence(self) -> str:
        direction = "up" if self.now > self.before else "down"
        return (
            f"{capital(self.subject)}: {percent(self.now)} {self.now_when}, {direction} from "
            f"{percent(self.before)} {self.before_when}."
        )


def movements(
    figures: Figures, disclosure: Disclosure, *, partial: bool = False
) -> tuple[list[Movement], list[Movement]]:
    """What improved and what got worse (each list largest change first). ``partial``: the
    month is not over, so it is not compared with a whole month before it."""
    month, previous = figures.month, figures.month.shift(-1)
    pairs = (
        (
            figures.current,
            figures.previous,
            f"in {month.label}",
            f"in {previous.label}",
            MONTH_STEP,
        ),
        (
            figures.year,
            figures.prior_year,
            f"in the 12 months to {month.label}",
            "in the 12 months before",
            YEAR_STEP,
        ),
    )
    improved: list[Movement] = []
    worse: list[Movement] = []
    for now_figures, before_figures, now_when, before_when, step in pairs[1:] if partial else pairs:
        befores = {key: (value, base) for key, _, value, base in _shares(before_figures)}
        for key, subject, value, base in _shares(now_figures):
            old, old_base = befores[key]
            if value is None or old is None:
                continue
            if not (disclosure.shows_rate(base) and disclosure.shows_rate(old_base)):
                continue
            parts = (printed_part(key, value, base), printed_part(key, old, old_base))
            if any(disclosure.hides_count(part) for part in parts):
                continue  # the share would give a suppressed count away
            if key in CLOCKS and any(
                exceptions_hidden(key, m, disclosure) for m in (now_figures, before_figures)
            ):
                continue
            if min(base, old_base) < MOVEMENT_CASES:
                continue
            if key == "first_time_right" and (
                provisional(now_figures[key]) or provisional(before_figures[key])
            ):
                continue  # decisions still open to appeal: neither praised nor blamed
            move = Movement(subject, value, old, now_when, before_when)
            if move.points >= step:
                improved.append(move)
            elif move.points <= -step:
                worse.append(move)
    improved.sort(key=lambda m: (-m.points, m.subject))
    worse.sort(key=lambda m: (m.points, m.subject))
    return improved[:MOVEMENTS_LISTED], worse[:MOVEMENTS_LISTED]


# --- questions for officers ------------------------------------------------------------


def _point(points: tuple[Point, ...], number: int) -> Point:
    return next(p for p in points if p.number == number)


def _shortfall(point: Point, value: float | None) -> float:
    """How far below its target a petition point is, as a share of the target (0 to 1)."""
    if value is None or point.target is None:
        return 0.0
    if point.higher_is_better:
        return max(0.0, (point.target - value) / point.target) if point.target else 0.0
    return max(0.0, 1 - point.target / value) if value > 0 else 0.0


def questions(
    figures: Figures,
    disclosure: Disclosure,
    benchmarks: Benchmarks,
    points: tuple[Point, ...] = POINTS,
    count: int = 3,
) -> list[str]:
    """Questions for officers about the figures furthest below their standard."""
    year, month = figures.year, figures.month
    when = f"in the 12 months to {month.label}"
    found: list[tuple[float, str, str]] = []  # (severity, key, question)
    for clock in CLOCK_IDS:
        value, base = headline(clock, year)
        if value is None or not disclosure.shows_rate(base):
            continue
        if disclosure.hides_count(printed_part(clock, value, base)):
            continue
        if exceptions_hidden(clock, year, disclosure):
            continue
        national = ""
        mark = benchmarks.clocks.get(clock)
        england = mark.england if mark is not None else None
        if england is not None and england.value is not None:
            national = f" (England {england.year}: {percent(england.value)})"
        overdue = year[clock]["overdue"]
        late = (
            f" {capital(disclosure.count(overdue))} were overdue at the end of {month.label}."
            if overdue
            else ""
        )
        noun = NOUNS.get(clock, CLOCKS[clock].title)
        question = (
            f"Only {percent(value)} of {noun} {when} were {on_time_phrase(clock)}"
            f"{national}.{late} What is stopping the council meeting this duty, and what "
            f"will be different by when?"
        )
        found.append((1 - value, clock, question))
    ftr = year["first_time_right"]
    if ftr["rate"] is not None and disclosure.shows_rate(ftr["decisions"]) and ftr["overturned"]:
        found.append(
            (
                _shortfall(_point(points, 2), ftr["rate"]),
                "first_time_right",
                f"{capital(disclosure.count(ftr['overturned']))} of "
                f"{disclosure.count(ftr['decisions'])} appealable decisions made {when} were "
                f"later conceded or lost at tribunal. What are officers learning from these "
                f"appeals, so that decisions are right the first time?",
            )
        )
    edu = year["education"]
    children = edu["out_of_education_now"]
    if disclosure.shows_rate(children):
        days = float(edu["longest_days_out"])
        found.append(
            (
                min(1.0, _shortfall(_point(points, 7), days)),
                "education",
                f"{capital(disclosure.count(children))} children were without suitable "
                f"education at the end of {month.label}; the longest had been without it for "
                f"{disclosure.days(days, children)}. What is being done for each of them, and "
                f"when will they be back in education?",
            )
        )
    for key, subject, value, base in _shares(year):
        number = _ASK_POINT.get(key)
        if number is None or value is None or not disclosure.shows_rate(base):
            continue
        if disclosure.hides_count(printed_part(key, value, base)):
            continue
        found.append(
            (
                _shortfall(_point(points, number), value),
                key,
                f"Only {percent(value)} of {subject} {when}. {_ASK[key]}",
            )
        )
    ledger = figures.ledger_year
    if ledger.family_not_told:
        known = ledger.family_told + ledger.family_not_told
        found.append(
            (
                ledger.family_not_told / known,
                "exceptions",
                f"Of the {disclosure.count(ledger.total)} exceptions to the time limits "
                f"applied {when}, the family was not told of "
                f"{disclosure.count(ledger.family_not_told)}. Why not, and how will families "
                f"always be told?",
            )
        )
    found.sort(key=lambda item: (-item[0], item[1]))
    chosen = [question for severity, _, question in found if severity > 0][:count]
    for fallback in _fallbacks(figures, disclosure, ledger):
        if len(chosen) >= count:
            break
        chosen.append(fallback)
    return chosen


_ASK_POINT = {"plan_quality": 5, "review_compliance": 8, "caseworkers": 9}
_ASK = {
    "plan_quality": "How are plans being written so that every need is in Section B, outcomes "
    "in Section E are specific, and the provision in Section F is clear?",
    "review_compliance": "Which settings are falling short, and what help or challenge "
    "will they get?",
    "caseworkers": "What is being done to keep one caseworker with each family?",
}


def _fallbacks(figures: Figures, disclosure: Disclosure, ledger: Ledger) -> list[str]:
    """Questions for a month with too little to rate: about the records themselves."""
    out = [
        f"The figures rest on {disclosure.count(figures.events_used)} records. How confident "
        f"are officers that every decision and deadline is recorded promptly and accurately?"
    ]
    if ledger.total:
        out.append(
            f"{capital(disclosure.count(ledger.total))} exceptions to the time limits were "
            f"applied in the 12 months to {figures.month.label}. How are officers checking that "
            f"each one met the grounds the regulations allow?"
        )
    out.append(
        "How are families told which time limits apply to their child's case, and what "
        "happens when one is missed?"
    )
    out.append("Which of the families' ten points will officers report progress on next month?")
    return out


def appeal_rows(figures: Mapping[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """The appeals table in the FOI shape, in the law's order, with a total row."""
    rows = [(AGAINST.get(a, a), figures["appeals"][a]) for a in APPEAL_AGAINST]
    total = {k: sum(r[k] for _, r in rows) for k in OUTCOMES}
    return [*rows, ("All appeals", total)]
