"""DfE's measures as DfE publishes them: one calendar year, counted DfE's way, from case files.

DfE's "Education, health and care plans" statistics count a calendar year (not sendwatch's
rolling periods) and each file has its own cohort: plans issued in the year, requests received
in the year, decisions made in the year, and so on. ``dfe_measures`` computes each published
figure from the clocks the fold keeps (``projections.case``), names the DfE column it stands
beside (``dfe_column``, as in the release's data-guidance.txt) and says in ``note`` where DfE's
definition differs from sendwatch's own clocks. docs/dfe-measures.md documents every figure.

Limits are ``projections.law``'s: "within N weeks" is on or before day 7N after the start (the
day the request was received, or the meeting held, is day 0).

Pure: no I/O and no clock reads. The case files are folded as at some "now" (events after it
ignored): a figure that depends on what is still open (requests ongoing, reviews outstanding)
is as at that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from projections.case import CaseFile, Clock
from projections.law import CLOCKS, DFE_LONG_WAIT_DAYS

PLAN_DAYS = CLOCKS["final_plan"].days or 0  # 140: 20 weeks
ASSESS_DAYS = CLOCKS["assess_decision"].days or 0  # 42: 6 weeks
NO_PLAN_DAYS = CLOCKS["no_plan_decision"].days or 0  # 112: 16 weeks
REVIEW_DAYS = CLOCKS["review_decision"].days or 0  # 28: 4 weeks

# The earliest calendar year worth asking about: EHC plans began on 1 September 2014.
FIRST_YEAR = 2014
LAST_YEAR = 2100  # the contract's last plausible date

GROUPS: tuple[str, ...] = (
    "timeliness_20_week",
    "requests",
    "assessments",
    "annual_reviews",
    "phase_transfers",
)
# The DfE file each group stands beside (phase transfers: published from reporting year 2026,
# not in the 2025 release kept under /work/shared/data).
GROUP_FILES: dict[str, str | None] = {
    "timeliness_20_week": "timeliness_20_week.csv",
    "requests": "requests.csv",
    "assessments": "assessments.csv",
    "annual_reviews": "annual_reviews.csv",
    "phase_transfers": None,
}
GROUP_TITLES: dict[str, str] = {
    "timeliness_20_week": "New EHC plans issued in the year, and how long they took",
    "requests": "Requests for an EHC needs assessment",
    "assessments": "EHC needs assessments ending in a decision not to issue a plan",
    "annual_reviews": "Annual reviews of EHC plans",
    "phase_transfers": "Phase transfers",
}


def share(numerator: int, denominator: int) -> float | None:
    """A share 0..1 rounded to 4 decimals, as CONTRACT.md section 3 rounds rates; None when
    the denominator is 0."""
    return None if denominator == 0 else round(numerator / denominator, 4)


def average_weeks(days: list[int]) -> float | None:
    """The mean of waits in days, in weeks to 1 decimal (as DfE publishes); None if none."""
    return None if not days else round(sum(days) / len(days) / 7, 1)


def _in(day: date | None, year: int) -> bool:
    return day is not None and day.year == year


# --- the notes: where DfE's definition differs from sendwatch's own clocks ---------------------

_YEAR = "DfE counts a calendar year (1 January to 31 December), not sendwatch's rolling 12 months."
_RATE = (
    "A share from 0 to 1 to 4 decimals; DfE publishes the same figure as a percentage to 1 decimal."
)
_ISSUED = (
    "Counts new plans issued in the year (the first plan after a request for assessment, "
    "whenever the request was received), not clocks stopped in a period: a plan whose request "
    "was received in one year and issued in the next counts in the year of issue. A plan "
    "issued with no request in the events (an older plan, or one from another council) is not "
    "counted."
)
_WEEKS = (
    f"Weeks from the day the request was received (day 0) to the day the plan was issued: "
    f"within 20 weeks means issued on or before day {PLAN_DAYS}; over 20 and up to 52 weeks "
    f"means day {PLAN_DAYS + 1} to day {DFE_LONG_WAIT_DAYS}; over 52 weeks means day "
    f"{DFE_LONG_WAIT_DAYS + 1} or later."
)
_EXCEPTED = (
    "Excluding exceptions drops from numerator and denominator every plan whose request had an "
    "exception to the 20-week limit recorded (regulation 13(3)), on any ground: a flag on the "
    "plan, as DfE's week20 flag, whether or not the exception caused the delay."
)
_INCLUDED = "Including exceptions: every new plan issued in the year counts."
_AVERAGE = (
    "Published by DfE from reporting year 2026 (no column in the 2025 release): the mean of "
    "the weeks from request to issue, to 1 decimal."
)
_RECEIVED = (
    "Requests received in the year. A request received while another is open for the same "
    "child starts nothing (CONTRACT.md section 2) and is not counted again."
)
_OUTCOME = (
    "Of the requests received in the year, by what became of them as at the day the figures "
    "were computed: decided to assess, decided not to assess, withdrawn before a decision, or "
    "still ongoing. A request that ended in a plan, or in a decision not to issue one, was "
    "assessed even if no decision to assess was recorded."
)
_SIX_WEEKS = (
    f"DfE counts decisions made in the year (to assess or not), whenever the request was "
    f"received, not the requests received in it. Within 6 weeks means decided on or before "
    f"day {ASSESS_DAYS} after the request was received. Exceptions are included: DfE "
    f"publishes no figure without them, while sendwatch's own 6-week clock leaves them out."
)
_NO_PLAN = (
    f"Decisions not to issue a plan made in the year, whenever the request was received. "
    f"Within 16 weeks means the family was told on or before day {NO_PLAN_DAYS} after the "
    f"request was received. Exceptions are included: DfE publishes no figure without them, "
    f"while sendwatch's own 16-week clock leaves them out."
)
_EXPECTED = (
    "Annual reviews falling due in the year: each plan's review is due 12 months after the "
    "plan was issued or the last review decided (CFA 2014 s44(1)). A plan ceased, or replaced, "
    "before its review fell due is not expected. DfE counts it from the plans in place at its "
    "January census instead; sendwatch counts each review cycle once, by its due date."
)
_MEETINGS = (
    "Annual review meetings held in the year (DfE's column for meetings recorded in that "
    "year). sendwatch counts every meeting held; SEN2 keeps only the latest for each plan. A "
    "meeting whose plan ceased before the decision is not counted."
)
_FOUR_WEEKS = (
    f"Of the review meetings held in the year, those whose decision (maintain, amend or "
    f"cease) was sent on or before day {REVIEW_DAYS} after the meeting (the meeting is day 0), "
    f"whenever the decision was made. A decision not yet made is counted as outstanding, in "
    f"neither."
)
_TRANSFERS = (
    "Published by DfE from reporting year 2026 (no column in the 2025 release). Phase "
    "transfers whose deadline falls in the year: 15 February of the year of transfer, or 31 "
    "March for a move from secondary school to post-16 education (regulation 18(1)). A "
    "transfer cancelled on or before its deadline (the plan ceased, or the transfer was "
    "replaced by another) is not due. Finalised by the deadline means the new setting was "
    "named in the plan on or before it."
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One published figure: its value, the DfE column it stands beside, and how it is
    counted where that differs from sendwatch's own clocks."""

    value: int | float | None
    dfe_column: str | None
    dfe_file: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "dfe_column": self.dfe_column,
            "dfe_file": self.dfe_file,
            "note": self.note,
        }


def _refusals(case: CaseFile) -> set[str]:
    return {d.event_id for d in case.decisions if d.kind == "assessment.decided:refuse"}


def _runs(cases: Iterable[CaseFile]) -> tuple[dict[str, list[Clock]], set[str]]:
    """Every case's runs by clock id, and the ids of the events refusing an assessment."""
    by_clock: dict[str, list[Clock]] = {}
    refused: set[str] = set()
    for case in cases:
        refused |= _refusals(case)
        for run in case.clocks:
            by_clock.setdefault(run.clock, []).append(run)
    return by_clock, refused


def _timeliness(plans: list[Clock], year: int) -> dict[str, Figure]:
    f = GROUP_FILES["timeliness_20_week"]
    issued = [(run.stop - run.start).days for run in plans if run.stop and _in(run.stop, year)]
    issued_ex = [
        (run.stop - run.start).days
        for run in plans
        if run.stop and _in(run.stop, year) and not run.excepted
    ]

    def bands(days: list[int]) -> tuple[int, int, int]:
        within = sum(1 for d in days if d <= PLAN_DAYS)
        over_year = sum(1 for d in days if d > DFE_LONG_WAIT_DAYS)
        return within, len(days) - within - over_year, over_year

    w, mid, long = bands(issued)
    wx, midx, longx = bands(issued_ex)
    n, nx = len(issued), len(issued_ex)
    incl = f"{_YEAR} {_ISSUED} {_INCLUDED}"
    excl = f"{_YEAR} {_ISSUED} {_EXCEPTED}"
    return {
        "plans_issued": Figure(n, "plans_issued_den", f, incl),
        "plans_issued_ex": Figure(nx, "plans_issued_den_ex", f, excl),
        "within_20_weeks": Figure(w, "plans_issued_within_20_weeks", f, f"{incl} {_WEEKS}"),
        "within_20_weeks_ex": Figure(wx, "plans_issued_20_weeks_ex", f, f"{excl} {_WEEKS}"),
        "rate_within_20_weeks": Figure(
            share(w, n), "pc_plans_issued_within_20_weeks", f, f"{incl} {_WEEKS} {_RATE}"
        ),
        "rate_within_20_weeks_ex": Figure(
            share(wx, nx), "PC_plans_issued_20_weeks_ex", f, f"{excl} {_WEEKS} {_RATE}"
        ),
        "over_20_up_to_52_weeks": Figure(
            mid, "plans_issued_gt20weeks_ltYear", f, f"{incl} {_WEEKS}"
        ),
        "over_20_up_to_52_weeks_ex": Figure(
            midx, "plans_issued_gt20weeks_ltYear_ex", f, f"{excl} {_WEEKS}"
        ),
        "rate_over_20_up_to_52_weeks": Figure(
            share(mid, n), "pc_plans_issued_gt20weeks_ltYear", f, f"{incl} {_WEEKS} {_RATE}"
        ),
        "rate_over_20_up_to_52_weeks_ex": Figure(
            share(midx, nx), "PC_plans_issued_gt20weeks_ltYear_ex", f, f"{excl} {_WEEKS} {_RATE}"
        ),
        "over_52_weeks": Figure(long, "plans_issued_gt_1_year", f, f"{incl} {_WEEKS}"),
        "over_52_weeks_ex": Figure(longx, "plans_issued_gt_1_year_ex", f, f"{excl} {_WEEKS}"),
        "rate_over_52_weeks": Figure(
            share(long, n), "pc_plans_issued_gt_1_year", f, f"{incl} {_WEEKS} {_RATE}"
        ),
        "rate_over_52_weeks_ex": Figure(
            share(longx, nx), "PC_plans_issued_gt_1_year_ex", f, f"{excl} {_WEEKS} {_RATE}"
        ),
        "average_weeks": Figure(average_weeks(issued), None, None, f"{incl} {_AVERAGE}"),
        "average_weeks_ex": Figure(average_weeks(issued_ex), None, None, f"{excl} {_AVERAGE}"),
    }


def _requests(
    requests: list[Clock], assessed: set[tuple[str, date]], refused: set[str], year: int
) -> dict[str, Figure]:
    """``assessed``: the requests (key, day received) that ended in a plan or a decision not
    to issue one: assessed, even if no decision to assess was recorded."""
    f = GROUP_FILES["requests"]
    received = [run for run in requests if _in(run.start, year)]
    to_assess = not_assess = withdrawn = ongoing = 0
    for run in received:
        if run.stop is not None:
            if run.stopped_by in refused:
                not_assess += 1
            else:
                to_assess += 1
        elif run.cancelled is not None:
            withdrawn += 1
        elif (run.key, run.start) in assessed:
            to_assess += 1
        else:
            ongoing += 1
    decided = [(run.stop - run.start).days for run in requests if run.stop and _in(run.stop, year)]
    within = sum(1 for d in decided if d <= ASSESS_DAYS)
    outcome = f"{_YEAR} {_OUTCOME}"
    timing = f"{_YEAR} {_SIX_WEEKS}"
    return {
        "requests_received": Figure(
            len(received), "requests_received_in_year", f, f"{_YEAR} {_RECEIVED}"
        ),
        "decided_to_assess": Figure(to_assess, "requests_decided_to_assess", f, outcome),
        "decided_not_to_assess": Figure(not_assess, "requests_decided_not_to_assess", f, outcome),
        "withdrawn": Figure(withdrawn, "requests_withdrawn", f, outcome),
        "decision_not_made": Figure(ongoing, "requests_decision_not_made", f, outcome),
        "decisions_made": Figure(
            len(decided),
            None,
            f,
            f"{timing} The sum of DfE's request_outcome_six_weeks and "
            "request_outcome_over_6_weeks.",
        ),
        "decided_within_6_weeks": Figure(within, "request_outcome_six_weeks", f, timing),
        "decided_over_6_weeks": Figure(
            len(decided) - within, "request_outcome_over_6_weeks", f, timing
        ),
        "rate_decided_within_6_weeks": Figure(
            share(within, len(decided)), "request_outcome_six_weeks_pc", f, f"{timing} {_RATE}"
        ),
    }


def _assessments(no_plans: list[Clock], year: int) -> dict[str, Figure]:
    f = GROUP_FILES["assessments"]
    days = [(run.stop - run.start).days for run in no_plans if run.stop and _in(run.stop, year)]
    within = sum(1 for d in days if d <= NO_PLAN_DAYS)
    note = f"{_YEAR} {_NO_PLAN}"
    return {
        "decided_not_to_issue": Figure(len(days), "assess_not_issued", f, note),
        "not_to_issue_within_16_weeks": Figure(within, "outcome_decision_within_time", f, note),
        "not_to_issue_over_16_weeks": Figure(
            len(days) - within, "outcome_decision_over_time", f, note
        ),
        "rate_not_to_issue_within_16_weeks": Figure(
            share(within, len(days)), "outcome_decision_within_time_pc", f, f"{note} {_RATE}"
        ),
    }


def _reviews(due: list[Clock], decisions: list[Clock], year: int) -> dict[str, Figure]:
    f = GROUP_FILES["annual_reviews"]
    expected = sum(
        1
        for run in due
        if _in(run.due, year) and (run.cancelled is None or run.cancelled > run.due)
    )
    meetings = [run for run in decisions if _in(run.start, year) and run.cancelled is None]
    decided = [(run.stop - run.start).days for run in meetings if run.stop is not None]
    within = sum(1 for d in decided if d <= REVIEW_DAYS)
    timing = f"{_YEAR} {_FOUR_WEEKS}"
    return {
        "reviews_expected": Figure(expected, "review_expected", f, f"{_YEAR} {_EXPECTED}"),
        "review_meetings_held": Figure(
            len(meetings), f"review_meeting_{year % 100:02d}", f, f"{_YEAR} {_MEETINGS}"
        ),
        "decided_within_4_weeks": Figure(within, "number_decsion_4weeks", f, timing),
        "decided_after_4_weeks": Figure(
            len(decided) - within, "number_decision_gt_4weeks", f, timing
        ),
        "decision_outstanding": Figure(
            len(meetings) - len(decided), "review_decision_outstanding", f, timing
        ),
        "rate_decided_within_4_weeks": Figure(
            share(within, len(decided)), "pc_decsion_4weeks", f, f"{timing} {_RATE}"
        ),
    }


def _transfers(transfers: list[Clock], year: int) -> dict[str, Figure]:
    runs = [
        run
        for run in transfers
        if _in(run.due, year) and (run.cancelled is None or run.cancelled > run.due)
    ]
    on_time = sum(1 for run in runs if run.stop is not None and run.stop <= run.due)
    late = sum(1 for run in runs if run.stop is not None and run.stop > run.due)
    note = f"{_YEAR} {_TRANSFERS}"
    return {
        "transfers_due": Figure(len(runs), None, None, note),
        "finalised_by_deadline": Figure(on_time, None, None, note),
        "finalised_after_deadline": Figure(late, None, None, note),
        "not_finalised": Figure(len(runs) - on_time - late, None, None, note),
        "rate_finalised_by_deadline": Figure(
            share(on_time, len(runs)), None, None, f"{note} {_RATE}"
        ),
    }


def dfe_figures(cases: Iterable[CaseFile], year: int) -> dict[str, dict[str, Figure]]:
    """Every figure of ``dfe_measures``, by group (``GROUPS``) and name."""
    by_clock, refused = _runs(cases)

    def runs(clock: str) -> list[Clock]:
        return by_clock.get(clock, [])

    assessed = {(r.key, r.start) for r in runs("final_plan") if r.stop is not None}
    assessed |= {(r.key, r.start) for r in runs("no_plan_decision")}

    return {
        "timeliness_20_week": _timeliness(runs("final_plan"), year),
        "requests": _requests(runs("assess_decision"), assessed, refused, year),
        "assessments": _assessments(runs("no_plan_decision"), year),
        "annual_reviews": _reviews(runs("review_due"), runs("review_decision"), year),
        "phase_transfers": _transfers(runs("phase_transfer"), year),
    }


def dfe_measures(cases: Iterable[CaseFile], year: int) -> dict[str, Any]:
    """DfE's measures for the calendar year ``year``, as JSON: ``{"year", "from", "to",
    <group>: {<figure>: {"value", "dfe_column", "dfe_file", "note"}}}`` (groups: ``GROUPS``)."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year: expected a calendar year from {FIRST_YEAR} to {LAST_YEAR}")
    figures = dfe_figures(cases, year)
    out: dict[str, Any] = {
        "year": year,
        "from": date(year, 1, 1).isoformat(),
        "to": date(year, 12, 31).isoformat(),
    }
    for group in GROUPS:
        out[group] = {name: figure.to_json() for name, figure in figures[group].items()}
    return out
