"""A realistic, deterministic synthetic event history of a council's SEND service.

``simulate`` tells the story of a Kent-sized council (DfE local-authority code 886) over a
window of years: requests for assessment and their decisions, plans and their annual reviews,
amendments and phase transfers, appeals and tribunal orders, contacts from families,
caseworker changes, children out of education and EOTAS, plan audits, SEN support in schools,
and the council's own corrections (retractions). Every target is a field of ``Calibration``;
the defaults are Kent's published figures (DOMAIN.md) or, where none is published, a stated
assumption.

The same seed and arguments always give the same events, byte for byte: the only source of
randomness is one ``random.Random`` seeded with ``seed``, there is no wall clock, and nothing
depends on string hashing or set order.

The events come out as a council system exports them: sorted by ``recorded_at`` then
``event_id`` (ids are numbered in that order). Besides the window itself the history holds
the state at its start: the plans already in the annual review cycle (each with its
``plan.issued`` in the 12 months before the window), children already out of education and
children already on SEN support. Nothing occurs after ``end``, and nothing is recorded after
midnight (UTC) at the end of ``end``: what would be recorded later is not in the export yet.
"""

from __future__ import annotations

import io
import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Final, NamedTuple, cast
from zoneinfo import ZoneInfo

import orjson

from projections.calendar import bank_holidays
from projections.law import CLOCKS, ORDER_DEADLINES, TRANSFER_DEADLINE
from projections.projector import Pause

Data = Mapping[str, Any]

# --- calibration ---------------------------------------------------------------------------

# The area teams the simulated caseworkers work in (Kent's SEN service is organised in four
# areas; the ids match the example team routes of deploy/alertmanager/alertmanager.yml).
TEAMS: Final = ("north", "south", "east", "west")

# Kent FOI figures quoted in the petition (appeals against refusal to assess, 2023): 97
# conceded, 69 won by families, 6 won by the LA; withdrawals (not in the FOI) assumed ~10%.
KENT_APPEAL_OUTCOMES: Final = (
    ("withdrawn", 19.0),
    ("conceded", 97.0),
    ("appellant_won", 69.0),
    ("la_won", 6.0),
)


@dataclass(frozen=True)
class Calibration:
    """What the synthetic council looks like. Defaults are Kent's published figures (DfE
    "Education, health and care plans" statistics and the Kent FOI figures quoted in the
    petition, see DOMAIN.md); fields marked "assumed" have no published source."""

    # requests, assessments and plans (DfE EHC plan statistics, Kent 2024)
    requests_per_year: int = 4000
    refusal_rate: float = 0.55  # share of assessment decisions that refuse
    assess_decision_on_time: float = 0.908  # decided within 6 weeks (excluding exceptions)
    final_plan_on_time: float = 0.333  # issued within 20 weeks (excluding exceptions)
    not_issue_rate: float = 0.07  # assumed: assessed, then no plan
    no_plan_decision_on_time: float = 0.6  # assumed: within 16 weeks
    withdrawal_rate: float = 0.03  # assumed: requests withdrawn before a plan
    exception_rate: float = 0.06  # assumed: requests with an exception on one clock
    family_told_rate: float = 0.85  # assumed: exceptions the family was told about
    requested_by: tuple[tuple[str, float], ...] = (  # assumed mix
        ("parent", 0.56),
        ("school", 0.30),
        ("young_person", 0.03),
        ("health", 0.05),
        ("social_care", 0.04),
        ("other", 0.02),
    )
    # plans in the annual review cycle (DfE: 20,635 Kent plans in January 2025)
    plans_in_cycle: int = 20000
    review_decision_on_time: float = 0.336  # decided within 4 weeks of the meeting (Kent 2024)
    review_meeting_late: float = 0.12  # assumed: meetings held more than 12 months on
    review_amend_share: float = 0.45  # assumed
    review_cease_share: float = 0.04  # assumed
    ceased_outside_review_per_year: float = 0.03  # assumed: moved away, left education
    amendment_on_time: float = 0.45  # assumed: amended plan within 8 weeks
    compliance_check_share: float = 0.35  # assumed: reviews whose lawfulness is checked
    compliant_share: float = 0.65  # assumed: checks finding the review lawful
    audits_per_year: int = 1000  # assumed
    audit_section_met: tuple[float, float, float] = (0.72, 0.58, 0.66)  # assumed: B, E, F
    transfer_share: float = 1 / 6  # assumed: plans with a phase transfer due each autumn
    transfer_post16_share: float = 0.3  # assumed
    transfer_on_time: float = 0.7  # assumed: setting named by 15 February (31 March post-16)
    # appeals and tribunal (DfE: Kent appeal rate 6.6% in 2024; Kent FOI outcomes, 2023)
    appeal_rate: float = 0.066  # appeals registered per appealable decision
    appeal_outcomes: tuple[tuple[str, float], ...] = KENT_APPEAL_OUTCOMES
    mediation_order_rate: float = 0.02  # assumed: refusals settled by a mediation agreement
    order_step_on_time: float = 0.8  # assumed: tribunal order steps done by their deadline
    order_exception_rate: float = 0.03  # assumed
    # contacts (petition point 1: a human reply within 5 working days; all assumed)
    contacts_per_year: int = 40000
    contact_on_time: float = 0.6  # of contacts answered by a person
    contact_automated_only: float = 0.05  # only ever an automated reply
    contact_unanswered: float = 0.04  # no reply logged
    # caseworkers (petition point 9; assumed)
    caseworkers: int = 150
    caseworker_changes_per_year: float = 0.34  # mean changes per open case a year
    # education and EOTAS (assumed)
    out_of_education: int = 300  # children without suitable education at any time
    eotas_requests_per_year: int = 200
    eotas_agreed_share: float = 0.7  # of requests
    eotas_started_share: float = 0.6  # of requests
    # SEN support (assumed: England's 13.6% of pupils applied to Kent's ~230,000)
    sen_support_children: int = 30000
    sen_support_before_request: float = 0.7  # school requests for a child on SEN support there
    # the records themselves (assumed)
    late_recorded_share: float = 0.03  # recorded 15 to 70 days after the event
    retraction_rate: float = 0.001  # events entered in error and retracted

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{item.name}: a share must be between 0 and 1, not {value}")
            if isinstance(value, int) and value < 0:
                raise ValueError(f"{item.name}: must not be negative, not {value}")
        if self.caseworkers < 2:
            raise ValueError("caseworkers: at least 2 are needed for a change of caseworker")


DEFAULT_CALIBRATION: Final = Calibration()

# --- constants of the story ----------------------------------------------------------------

LONDON: Final = ZoneInfo("Europe/London")
DAY: Final = 86_400
SERIAL_BITS: Final = 26  # a record's sort key is its recorded instant, then its serial
PRE_WINDOW_DAYS: Final = 2_400  # the oldest state at the start: SEN support up to ~6 years
POST_WINDOW_DAYS: Final = 400
OFFICE_OPEN: Final = 8 * 3600 + 30 * 60
OFFICE_CLOSE: Final = 18 * 3600

SYNERGY: Final = "synergy"  # the council's case management system
PORTAL: Final = "portal"  # the online request and contact portal
TRIBUNAL_LOG: Final = "tribunal-log"
CRM: Final = "crm"  # email, phone and letter handling
QA_AUDIT: Final = "qa-audit"
REVIEW_AUDIT: Final = "review-audit"
INCLUSION: Final = "inclusion-tracker"  # children missing education
SEN_RETURN: Final = "sen-support-return"  # schools' SEN support returns

EMPTY: Final[Data] = {}


def _limit(clock: str) -> int:
    """A clock's limit from the law: calendar days, or working days for a contact."""
    rule = CLOCKS[clock]
    limit = rule.days if rule.days is not None else rule.working_days
    if limit is None:
        raise ValueError(f"clock {clock}: the law gives it no limit in days")
    return limit


ASSESS_LIMIT: Final = _limit("assess_decision")
NO_PLAN_LIMIT: Final = _limit("no_plan_decision")
FINAL_PLAN_LIMIT: Final = _limit("final_plan")
REVIEW_DECISION_LIMIT: Final = _limit("review_decision")
AMENDMENT_LIMIT: Final = _limit("amended_plan")
CONTACT_LIMIT: Final = _limit("contact_response")  # working days

SETTING_COUNTS: Final = (
    ("mainstream", 560),
    ("special", 24),
    ("independent_special", 45),
    ("further_education", 12),
)
PLACEMENT_MIX: Final = (
    ("mainstream", 0.52),
    ("special", 0.33),
    ("independent_special", 0.09),
    ("further_education", 0.06),
)
POST16_MIX: Final = (("further_education", 0.6), ("mainstream", 0.3), ("special", 0.1))

OUTSIDE_REVIEW_CEASING: Final = (
    "moved out of the area",
    "left education or training",
    "entered employment",
    "turned 25",
)
REVIEW_CEASING: Final = "needs can now be met without a plan"
COMPLIANCE_FAILURES: Final = (
    "advice not circulated two weeks before the meeting",
    "child's views not recorded",
    "report not sent within two weeks of the meeting",
    "outcomes not reviewed",
    "health or social care not invited",
    "parents not invited in time",
)
LOST_REASONS: Final = (
    ("no_suitable_placement", 0.40),
    ("excluded", 0.20),
    ("health", 0.25),
    ("other", 0.15),
)
CHANNELS: Final = (("email", 0.50), ("phone", 0.30), ("portal", 0.15), ("letter", 0.05))
CONTACT_HOURS: Final = {
    "email": (7 * 3600, 22 * 3600),
    "phone": (9 * 3600, 17 * 3600),
    "portal": (6 * 3600, 23 * 3600),
    "letter": (9 * 3600, 16 * 3600),
}
# contacts a year per case, by the case's state (scaled to contacts_per_year)
REQUEST_CONTACTS: Final = 4.0
REFUSED_CONTACTS: Final = 3.0  # for the two months after a refusal
PLAN_CONTACTS: Final = 1.2

# how likely each appealable decision is appealed, relative to one another (assumed); the
# scale that turns these into probabilities comes from ``Calibration.appeal_rate``
APPEAL_PROPENSITY: Final = {
    "refuse": 2.0,
    "not_issue": 3.0,
    "issued": 3.0,
    "amended": 1.0,
    "maintain": 0.15,
    "cease": 3.0,
    "ceased": 0.0,
}
ORDER_KIND: Final = {
    "refusal_to_assess": "assess",
    "refusal_to_issue": "make_plan",
    "contents": "amend_plan",
    "placement": "name_setting",
    "refusal_to_amend": "amend_plan",
    "refusal_to_reassess": "assess",
    "cease": "maintain",
}
Steps = tuple[tuple[str, int], ...]  # (step, deadline in days from the order)
# each order kind's steps and their deadlines in days from the order, from the law
ORDER_STEPS: Final[dict[str, Steps]] = {
    kind: (
        ((d.interim_step, d.interim_days), ("final", d.final_days))
        if d.interim_step is not None and d.interim_days is not None
        else (("final", d.final_days),)
    )
    for kind, d in ORDER_DEADLINES.items()
    if kind != "assess"
}


def _assess_order_steps() -> tuple[Steps, Steps]:
    """An order to assess's steps when it ends in a plan and when it ends in no plan. With a
    plan, the simulated council sends the draft by the no-plan deadline (an assumption: the
    law sets no draft step for it)."""
    d = ORDER_DEADLINES["assess"]
    if d.interim_step is None or d.interim_days is None or d.final_days_no_plan is None:
        raise ValueError("ORDER_DEADLINES['assess']: expected an interim step and a no-plan limit")
    notify = (d.interim_step, d.interim_days)
    plan = (notify, ("draft", d.final_days_no_plan), ("final", d.final_days))
    return plan, (notify, ("final", d.final_days_no_plan))


ASSESS_ORDER_PLAN, ASSESS_ORDER_NO_PLAN = _assess_order_steps()
BASE32: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class _Dice(random.Random):
    """``random.Random`` with quicker whole numbers (one ``random()`` each): the simulation
    draws millions of them."""

    def between(self, lowest: int, highest: int) -> int:
        """A whole number from ``lowest`` to ``highest`` inclusive."""
        return lowest + int(self.random() * (highest - lowest + 1))

    def below(self, count: int) -> int:
        return int(self.random() * count)


class _Choice:
    """A weighted choice among names, drawn with one ``random()``."""

    __slots__ = ("cumulative", "names", "total")

    def __init__(self, mix: Iterable[tuple[str, float]]) -> None:
        pairs = list(mix)
        self.names = [name for name, _ in pairs]
        self.cumulative = _cumulative(weight for _, weight in pairs)
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        return self.names[bisect_right(self.cumulative, rng.random() * self.total)]


class _Retraction(NamedTuple):
    target: int  # the sort key of the retracted record
    reason: str


Record = tuple[int, str, str, str, str, "Data | _Retraction"]


class _AppealResult(NamedTuple):
    outcome: str
    concluded: int


# --- days -----------------------------------------------------------------------------------


def _london_offset(day: date) -> int:
    """Seconds London is ahead of UTC at midday (0 in winter, 3600 in summer)."""
    offset = datetime.combine(day, time(12), LONDON).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


class _Calendar:
    """The days the story can touch, as proleptic ordinals: their ISO text, London's offset
    from UTC, and working days (Monday to Friday, England and Wales bank holidays excluded)."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        days = [date.fromordinal(ordinal) for ordinal in range(first, last + 1)]
        holidays = {
            holiday.toordinal()
            for year in range(days[0].year, days[-1].year + 1)
            for holiday in bank_holidays(year)
        }
        self.iso = [day.isoformat() for day in days]
        self.offset = [_london_offset(day) for day in days]
        working = [d.weekday() < 5 and d.toordinal() not in holidays for d in days]
        self.working = working
        self.next_working = _scan(working, first, forward=True)
        self.previous_working = _scan(working, first, forward=False)
        self.working_days = [first + i for i, flag in enumerate(working) if flag]
        count, self.working_up_to = 0, []  # working days on or before each day
        for flag in working:
            count += flag
            self.working_up_to.append(count)

    def text(self, day: int) -> str:
        return self.iso[day - self.first]

    def on_or_after(self, day: int) -> int:
        """The first working day on or after ``day``."""
        index = day - self.first
        return self.next_working[index] if 0 <= index < len(self.next_working) else day

    def on_or_before(self, day: int) -> int:
        index = day - self.first
        return self.previous_working[index] if 0 <= index < len(self.previous_working) else day

    def is_working(self, day: int) -> bool:
        index = day - self.first
        return 0 <= index < len(self.working) and self.working[index]

    def working_days_after(self, day: int, count: int) -> int:
        """The ``count``-th working day after ``day`` (``day`` itself is day 0)."""
        position = self.working_up_to[day - self.first] + count - 1
        return self.working_days[min(position, len(self.working_days) - 1)]

    def utc_offset(self, day: int) -> int:
        index = day - self.first
        return self.offset[index] if 0 <= index < len(self.offset) else 0


def _scan(working: list[bool], first: int, *, forward: bool) -> list[int]:
    """For each day, the nearest working day on or after it (or on or before it)."""
    size = len(working)
    nearest = [0] * size
    following = first + size if forward else first - 1
    order = range(size - 1, -1, -1) if forward else range(size)
    for index in order:
        if working[index]:
            following = first + index
        nearest[index] = following
    return nearest


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _clock_faces() -> list[str]:
    """``HH:MM:SS`` of every second of a day, for the export's hot loop."""
    return [
        f"{hour:02d}:{minute:02d}:{second:02d}"
        for hour in range(24)
        for minute in range(60)
        for second in range(60)
    ]


# --- settings and people ---------------------------------------------------------------------


class _Settings:
    """Kent-like schools and colleges with made-up URNs (``URN-1xxxxx``), each with a size
    (how often it is picked) and its own likelihood of holding lawful annual reviews."""

    def __init__(self, rng: random.Random, compliant_share: float) -> None:
        total = sum(count for _, count in SETTING_COUNTS)
        numbers = rng.sample(range(100001, 160000), total)
        self.ids: dict[str, list[str]] = {}
        self.sizes: dict[str, list[float]] = {}
        self.compliance: dict[str, float] = {}
        start = 0
        for setting_type, count in SETTING_COUNTS:
            ids = [f"URN-{number}" for number in numbers[start : start + count]]
            start += count
            self.ids[setting_type] = ids
            self.sizes[setting_type] = _cumulative([rng.uniform(0.3, 3.0) for _ in ids])
            for setting_id in ids:
                spread = rng.gauss(compliant_share, 0.15)
                self.compliance[setting_id] = min(0.98, max(0.05, spread))

    def pick(self, rng: random.Random, setting_type: str) -> str:
        sizes = self.sizes[setting_type]
        return self.ids[setting_type][bisect_right(sizes, rng.random() * sizes[-1])]


def _cumulative(weights: Iterable[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# --- the history being written ---------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    """An EHC plan while it exists: its case, when it ends, and where the child is."""

    case: str
    issued: int
    ends: int  # the day it ceased, or a day after the window
    settings: list[tuple[int, str]] = field(default_factory=list)  # (from day, setting_id)
    ceased_by_review: bool = False
    latest: int = 0  # the day of its latest recorded event

    def setting_on(self, day: int) -> str:
        current = self.settings[0][1]
        for start, setting_id in self.settings:
            if start <= day:
                current = setting_id
        return current


class _History:
    """The council's records as they are written: the random source, the calendar, the
    emitted records and the registers the processes share (plans, open cases, settings)."""

    def __init__(
        self, seed: int, years: int, end: date, calibration: Calibration, council: str
    ) -> None:
        self.rng = _Dice(seed)
        self.cal = calibration
        self.council = council
        self.last = end.toordinal()
        self.start = _years_before(end, years).toordinal() + 1
        self.calendar = _Calendar(self.start - PRE_WINDOW_DAYS, self.last + POST_WINDOW_DAYS)
        self.horizon = (self.last + 1) * DAY  # nothing is recorded after this instant
        self.records: list[Record] = []
        self.retracted: dict[int, str] = {}  # sort key of a retracted record -> its event id
        self.case_ids: set[str] = set()  # membership only, never iterated
        self.case_prefix = "KC-" if council == "886" else f"LA{council}-"
        self.plans: list[_Plan] = []
        self.contact_spans: list[tuple[str, int, int, float]] = []
        self.caseworker_of: dict[str, str] = {}
        self.settings = _Settings(self.rng, calibration.compliant_share)
        self.appeal_chance = _appeal_chances(calibration, years)
        self.requesters = _Choice(calibration.requested_by)
        self.outcomes = _Choice(calibration.appeal_outcomes)
        self.appeal_numbers: dict[int, int] = {}
        self.orders = 0
        self.contacts = 0
        self.eotas_requests = 0  # in the window
        self.eotas_schema_2_from = (self.start + self.last) // 2

    # recording

    def emit(self, kind: str, case: str, day: int, data: Data, source: str) -> bool:
        """Record an event that occurred on ``day``; False if it is after the window or not
        recorded by the export."""
        if day > self.last:
            return False
        recorded = self._recorded_instant(day)
        if recorded > self.horizon:
            return False
        self.append(recorded, kind, case, self.calendar.text(day), source, data)
        return True

    def emit_at(
        self, kind: str, case: str, day: int, second: int, data: Data, source: str, delay: int
    ) -> bool:
        """Record an event at a London local time, recorded ``delay`` seconds later."""
        if day > self.last:
            return False
        recorded = day * DAY + second - self.calendar.utc_offset(day) + delay
        if recorded > self.horizon:
            return False
        occurred = f"{self.calendar.text(day)}T{_clock(second)}"
        self.append(recorded, kind, case, occurred, source, data)
        return True

    def emit_for(self, plan: _Plan, kind: str, day: int, data: Data, source: str) -> bool:
        """Record an event of a plan's life, unless the plan has ceased by then."""
        if day >= plan.ends or not self.emit(kind, plan.case, day, data, source):
            return False
        plan.latest = max(plan.latest, day)
        return True

    def append(
        self,
        recorded: int,
        kind: str,
        case: str,
        occurred: str,
        source: str,
        data: Data | _Retraction,
    ) -> int:
        key = (recorded << SERIAL_BITS) | len(self.records)
        self.records.append((key, kind, case, occurred, source, data))
        return key

    def _recorded_instant(self, day: int) -> int:
        """When the council's system recorded an event of ``day``: mostly the same working
        day, some a few days later, a small share weeks late."""
        rng = self.rng
        if rng.random() < self.cal.late_recorded_share:
            lag = rng.between(15, 70)
        else:
            share = rng.random()
            lag = 0 if share < 0.64 else rng.between(1, 3) if share < 0.92 else rng.between(4, 14)
        return self.office_instant(self.calendar.on_or_after(day + lag))

    def office_instant(self, day: int) -> int:
        """A moment of office hours (London) on ``day``, as UTC seconds."""
        second = self.rng.between(OFFICE_OPEN, OFFICE_CLOSE - 1)
        return day * DAY + second - self.calendar.utc_offset(day)

    # days

    def working(self, day: int) -> int:
        return self.calendar.on_or_after(day)

    def on_time(self, start: int, earliest: int, limit: int) -> int:
        """A working day from ``start + earliest`` to the deadline ``start + limit``."""
        day = self.calendar.on_or_after(start + self.rng.between(earliest, limit))
        if day > start + limit:
            day = max(start, self.calendar.on_or_before(start + limit))
        return day

    def late(self, start: int, limit: int, mean_overrun: float, longest: int = 400) -> int:
        """A working day after the deadline ``start + limit``."""
        overrun = min(longest, int(self.rng.expovariate(1 / mean_overrun)))
        return self.calendar.on_or_after(start + limit + 1 + overrun)

    # people and ids

    def new_case(self) -> str:
        while True:
            bits = self.rng.getrandbits(35)
            code = "".join(BASE32[(bits >> shift) & 31] for shift in range(0, 35, 5))
            case = self.case_prefix + code
            if case not in self.case_ids:
                self.case_ids.add(case)
                return case

    def assign_caseworker(self, case: str, day: int) -> None:
        current = self.caseworker_of.get(case)
        while True:
            caseworker = f"CW-{self.rng.between(1, self.cal.caseworkers):03d}"
            if caseworker != current:
                break
        # each caseworker works in one of the area teams (by number: no draw is spent on it)
        team = TEAMS[(int(caseworker[3:]) - 1) % len(TEAMS)]
        data = {"caseworker_id": caseworker, "team": team}
        if self.emit("caseworker.assigned", case, day, data, SYNERGY):
            self.caseworker_of[case] = caseworker

    def appeal_id(self, day: int) -> str:
        year = date.fromordinal(day).year
        number = self.appeal_numbers.get(year, 0) + 1
        self.appeal_numbers[year] = number
        return f"EH{self.council}/{year % 100:02d}/{number:05d}"

    def order_id(self) -> str:
        self.orders += 1
        return f"TO{self.council}-{self.orders:05d}"

    def contact_id(self) -> str:
        self.contacts += 1
        return f"CT-{self.contacts:08d}"

    def plan_case_on(self, day: int) -> str | None:
        """A case whose plan exists on ``day`` (None if a few tries find none)."""
        for _ in range(40):
            plan = self.plans[self.rng.below(len(self.plans))] if self.plans else None
            if plan is not None and plan.issued <= day < plan.ends:
                return plan.case
        return None

    def window_working_day(self) -> int:
        return self.working(self.rng.between(self.start, self.last))

    # the export

    def export(self, prefix: str) -> Iterator[dict[str, Any]]:
        self.records.sort(key=itemgetter(0))
        text = self.calendar.iso
        first = self.calendar.first
        retracted = self.retracted
        faces = _clock_faces()
        council = self.council
        for number, (key, kind, case, occurred, source, data) in enumerate(self.records, 1):
            event_id = f"{prefix}{number:08d}"
            if key in retracted:
                retracted[key] = event_id
            day, second = divmod(key >> SERIAL_BITS, DAY)
            payload: dict[str, Any]
            if isinstance(data, _Retraction):
                payload = {"event_id": retracted[data.target], "reason": data.reason}
            else:
                payload = dict(data)
            event: dict[str, Any] = {
                "event_id": event_id,
                "type": kind,
                "case_id": case,
                "occurred_at": occurred,
                "recorded_at": f"{text[day - first]}T{faces[second]}Z",
                "source": source,
                "council": council,
                "data": payload,
            }
            if "annual_cost_pence" in payload:  # eotas.agreed at its second schema
                event = {"event_id": event_id, "type": kind, "schema": 2} | event
            yield event


def _appeal_chances(cal: Calibration, years: int) -> dict[str, float]:
    """The chance that each kind of appealable decision is appealed, so that appeals come to
    ``appeal_rate`` of all appealable decisions, from the expected yearly count of each over
    the window (a new plan's first review comes a year after it is issued)."""
    decided = cal.requests_per_year * (1 - cal.withdrawal_rate / 2)
    refused = decided * cal.refusal_rate
    assessed = (decided - refused) * (1 - cal.withdrawal_rate / 2)
    issued = assessed * (1 - cal.not_issue_rate)
    ceasing = cal.review_cease_share + cal.ceased_outside_review_per_year
    plans = cal.plans_in_cycle * (1 - ceasing * (years - 1) / 2) + issued * (years - 1) / 2
    reviews = plans
    counts = {
        "refuse": refused,
        "not_issue": assessed * cal.not_issue_rate,
        "issued": issued,
        "amended": reviews * cal.review_amend_share * 0.96,
        "maintain": reviews * (1 - cal.review_amend_share - cal.review_cease_share),
        "cease": reviews * cal.review_cease_share,
        "ceased": reviews * cal.review_cease_share + plans * cal.ceased_outside_review_per_year,
    }
    weighted = sum(APPEAL_PROPENSITY[kind] * count for kind, count in counts.items())
    if weighted <= 0:
        return dict.fromkeys(APPEAL_PROPENSITY, 0.0)
    scale = cal.appeal_rate * sum(counts.values()) / weighted
    return {kind: min(0.95, weight * scale) for kind, weight in APPEAL_PROPENSITY.items()}


# --- requests for assessment -----------------------------------------------------------------

MONTH_WEIGHT: Final = (1.1, 1.1, 1.15, 0.9, 1.0, 1.0, 1.0, 0.55, 1.1, 1.15, 1.15, 0.75)


def _requests(h: _History) -> None:
    """``requests_per_year`` requests, on working days, quieter in August and December."""
    days = [d for d in range(h.start, h.last + 1) if h.calendar.is_working(d)]
    weights = _cumulative(MONTH_WEIGHT[date.fromordinal(d).month - 1] for d in days)
    years = (h.last - h.start + 1) / 365.25
    count = round(h.cal.requests_per_year * years)
    for day in sorted(h.rng.choices(days, cum_weights=weights, k=count)):
        _request_journey(h, day)


class _Path(NamedTuple):
    outcome: str  # withdrawn_early | refuse | withdrawn | not_issue | issue
    excepted: str | None  # the clock with an exception, if any


def _request_path(h: _History) -> _Path:
    rng, cal = h.rng, h.cal
    if rng.random() < cal.withdrawal_rate / 2:
        return _Path("withdrawn_early", None)
    excepted = rng.random() < cal.exception_rate
    if rng.random() < cal.refusal_rate:
        return _Path("refuse", "assess_decision" if excepted else None)
    if rng.random() < cal.withdrawal_rate / 2:
        return _Path("withdrawn", "assess_decision" if excepted else None)
    if rng.random() < cal.not_issue_rate:
        clock = "no_plan_decision" if rng.random() < 0.7 else "assess_decision"
        return _Path("not_issue", clock if excepted else None)
    clock = "final_plan" if rng.random() < 0.8 else "assess_decision"
    return _Path("issue", clock if excepted else None)


def _request_journey(h: _History, day: int) -> None:
    rng, cal = h.rng, h.cal
    case = h.new_case()
    requested_by = h.requesters.pick(rng)
    request: dict[str, Any] = {"requested_by": requested_by}
    on_sen_support = False
    if requested_by == "school":
        setting_id = h.settings.pick(rng, "mainstream")
        request["setting_id"] = setting_id
        if rng.random() < cal.sen_support_before_request:
            started = h.working(day - rng.between(90, 900))
            on_sen_support = h.emit(
                "sen_support.started", case, started, {"setting_id": setting_id}, SEN_RETURN
            )
    online = requested_by in ("parent", "young_person") and rng.random() < 0.7
    source = PORTAL if online else SYNERGY
    h.emit("request.received", case, day, request, source)
    h.assign_caseworker(case, h.working(day + rng.between(0, 5)))

    path = _request_path(h)
    if path.outcome == "withdrawn_early":
        withdrawn = h.working(day + rng.between(5, 40))
        h.emit("request.withdrawn", case, withdrawn, EMPTY, SYNERGY)
        _open_case(h, case, day, withdrawn, REQUEST_CONTACTS)
        return
    decided = _assessment_day(h, day, excepted=path.excepted == "assess_decision")
    if path.excepted == "assess_decision":
        _exception(h, case, "assess_decision", day, decided, ASSESS_LIMIT)
    decision = "refuse" if path.outcome == "refuse" else "assess"
    h.emit("assessment.decided", case, decided, {"decision": decision}, SYNERGY)
    if path.outcome == "refuse":
        _open_case(h, case, day, decided, REQUEST_CONTACTS)
        h.contact_spans.append((case, decided, decided + 60, REFUSED_CONTACTS))
        _after_refusal(h, case, decided)
    elif path.outcome == "withdrawn":
        withdrawn = h.working(decided + rng.between(10, 60))
        h.emit("request.withdrawn", case, withdrawn, EMPTY, SYNERGY)
        _open_case(h, case, day, withdrawn, REQUEST_CONTACTS)
    elif path.outcome == "not_issue":
        _no_plan(h, case, day, decided, excepted=path.excepted == "no_plan_decision")
    else:
        issued = _plan_making(h, case, day, decided, excepted=path.excepted == "final_plan")
        if on_sen_support:
            h.emit("sen_support.ended", case, issued, EMPTY, SEN_RETURN)


def _open_case(h: _History, case: str, start: int, stop: int, contacts: float) -> None:
    """A request's open span: it draws contacts and can change caseworker."""
    h.contact_spans.append((case, start, stop, contacts))
    _caseworker_changes(h, case, start, stop)


def _assessment_day(h: _History, day: int, *, excepted: bool) -> int:
    on_time = h.rng.random() < (0.3 if excepted else h.cal.assess_decision_on_time)
    if on_time:
        return h.on_time(day, 21, ASSESS_LIMIT)
    return h.late(day, ASSESS_LIMIT, 14, longest=55)


# a closure ground needs a closure of 4 weeks or more: in practice the summer holidays
SUMMER_GROUNDS: Final = _Choice(
    (
        ("school_closure", 0.45),
        ("early_years_closure", 0.08),
        ("personal_circumstances", 0.32),
        ("absence", 0.15),
    )
)
TERM_GROUNDS: Final = _Choice((("personal_circumstances", 0.65), ("absence", 0.35)))


def _exception(h: _History, case: str, clock: str, start: int, stop: int, limit: int) -> None:
    """An exception on a clock, applied while it runs; closure grounds only over summer."""
    rng = h.rng
    latest = max(start + 7, min(stop - 1, start + limit))
    day = min(h.working(rng.between(start + 7, latest)), stop)
    grounds = SUMMER_GROUNDS if _spans_summer(start, stop) else TERM_GROUNDS
    data: dict[str, Any] = {"clock": clock, "ground": grounds.pick(rng)}
    told = rng.random()
    if told < h.cal.family_told_rate:
        data["family_told"] = True
    elif told < h.cal.family_told_rate + (1 - h.cal.family_told_rate) * 0.7:
        data["family_told"] = False
    h.emit("exception.applied", case, day, data, SYNERGY)


def _spans_summer(start: int, stop: int) -> bool:
    """Whether a school's summer closure (late July to early September) falls in the span."""
    for year in (date.fromordinal(start).year, date.fromordinal(stop).year):
        if start <= date(year, 9, 1).toordinal() and date(year, 7, 24).toordinal() <= stop:
            return True
    return False


def _after_refusal(h: _History, case: str, refused: int) -> None:
    result = _appeal(h, case, "refuse", refused, has_plan=False)
    if result is None and h.rng.random() < h.cal.mediation_order_rate:
        agreed = h.working(refused + h.rng.between(40, 90))
        _tribunal_order(h, case, "assess", "mediation", None, agreed, makes_plan=True)


def _no_plan(h: _History, case: str, requested: int, assessed: int, *, excepted: bool) -> None:
    rng = h.rng
    on_time = rng.random() < (0.3 if excepted else h.cal.no_plan_decision_on_time)
    earliest = max(assessed - requested + 28, 60)
    if on_time and earliest <= NO_PLAN_LIMIT:
        decided = h.on_time(requested, earliest, NO_PLAN_LIMIT)
    else:
        decided = h.late(requested, max(NO_PLAN_LIMIT, earliest), 40)
    if excepted:
        _exception(h, case, "no_plan_decision", requested, decided, NO_PLAN_LIMIT)
    h.emit("plan.decided", case, decided, {"decision": "not_issue"}, SYNERGY)
    _open_case(h, case, requested, decided, REQUEST_CONTACTS)
    _appeal(h, case, "not_issue", decided, has_plan=False)


def _plan_making(h: _History, case: str, requested: int, assessed: int, *, excepted: bool) -> int:
    """Decision to issue, draft and final plan; returns the day the final plan was issued."""
    rng = h.rng
    on_time = rng.random() < (0.25 if excepted else h.cal.final_plan_on_time)
    earliest = max(100, assessed - requested + 40)
    if on_time and earliest <= FINAL_PLAN_LIMIT:
        issued = h.on_time(requested, earliest, FINAL_PLAN_LIMIT)
    else:
        issued = h.late(requested, max(FINAL_PLAN_LIMIT, earliest), 70)
    drafted = max(h.working(issued - rng.between(15, 35)), h.working(assessed + 14))
    decided = max(h.calendar.on_or_before(drafted - rng.between(0, 10)), h.working(assessed + 7))
    if excepted:
        _exception(h, case, "final_plan", requested, issued, FINAL_PLAN_LIMIT)
    h.emit("plan.decided", case, decided, {"decision": "issue"}, SYNERGY)
    h.emit("plan.draft_issued", case, drafted, EMPTY, SYNERGY)
    h.contact_spans.append((case, requested, issued, REQUEST_CONTACTS))
    _caseworker_changes(h, case, requested, issued)
    _issue_plan(h, case, issued, appealable=True)
    return issued


# --- plans and their annual cycle ------------------------------------------------------------


PLACEMENT: Final = _Choice(PLACEMENT_MIX)
POST16_PLACEMENT: Final = _Choice(POST16_MIX)


def _existing_plans(h: _History) -> None:
    """Plans already in the annual review cycle: issued in the 12 months before the window."""
    for _ in range(h.cal.plans_in_cycle):
        issued = h.working(h.start - h.rng.between(1, 365))
        if issued >= h.start:
            issued = h.calendar.on_or_before(h.start - 1)
        _issue_plan(h, h.new_case(), issued, appealable=False, caseworker=True)


def _placement(h: _History, mix: _Choice = PLACEMENT) -> tuple[str, str]:
    setting_type = mix.pick(h.rng)
    return h.settings.pick(h.rng, setting_type), setting_type


def _issue_plan(
    h: _History, case: str, issued: int, *, appealable: bool, caseworker: bool = False
) -> None:
    setting_id, setting_type = _placement(h)
    data = {"setting_id": setting_id, "setting_type": setting_type}
    if not h.emit("plan.issued", case, issued, data, SYNERGY):
        return
    if caseworker:
        h.assign_caseworker(case, issued)
    plan = _Plan(case, issued, h.last + 1, [(issued, setting_id)])
    if appealable:
        _appeal(h, case, "issued", issued, has_plan=True)
    _plan_life(h, plan)


def _plan_life(h: _History, plan: _Plan) -> None:
    """Annual reviews, phase transfers and caseworker changes until the plan ceases (after a
    review's decision to cease, or because the child moved away or left education)."""
    rng = h.rng
    plan.ends = min(h.last + 1, _ceasing_outside_review(h, plan.issued))
    transfers = _schedule_transfers(h, plan)
    meeting = _first_meeting(h, plan.issued)
    while meeting < plan.ends and meeting <= h.last:
        if _annual_review(h, plan, meeting):
            break
        meeting = h.working(meeting + _days_to_next_review(h))
    for transfer in transfers:
        _record_transfer(h, plan, transfer)
    if plan.ends <= h.last and not plan.ceased_by_review:
        reason = OUTSIDE_REVIEW_CEASING[rng.below(len(OUTSIDE_REVIEW_CEASING))]
        h.emit("plan.ceased", plan.case, plan.ends, {"reason": reason}, SYNERGY)
    h.plans.append(plan)
    h.contact_spans.append((plan.case, plan.issued, plan.ends, PLAN_CONTACTS))
    _caseworker_changes(h, plan.case, plan.issued, plan.ends)


def _ceasing_outside_review(h: _History, issued: int) -> int:
    """When the plan would cease for a reason outside the reviews (moving away and so on)."""
    yearly = h.cal.ceased_outside_review_per_year
    if yearly <= 0:
        return h.last + 1
    earliest = max(issued + 30, h.start)  # plans in the cycle at the start are still there
    return h.working(earliest + int(h.rng.expovariate(yearly / 365)))


def _first_meeting(h: _History, issued: int) -> int:
    meeting = issued + _days_to_next_review(h)
    if meeting < h.start:  # a plan from before the window: its review falls due early on
        meeting = h.start + h.rng.between(0, 60)
    return h.working(meeting)


def _days_to_next_review(h: _History) -> int:
    if h.rng.random() < h.cal.review_meeting_late:
        return h.rng.between(366, 540)
    return h.rng.between(300, 362)


def _annual_review(h: _History, plan: _Plan, meeting: int) -> bool:
    """A review meeting, the council's decision and what follows from it, and perhaps a
    check of the review's lawfulness; True if the plan ceased as a result."""
    rng, cal = h.rng, h.cal
    if not h.emit_for(plan, "review.meeting_held", meeting, EMPTY, SYNERGY):
        return False
    checked = rng.random() < cal.compliance_check_share
    if rng.random() < cal.review_decision_on_time:
        decided = h.on_time(meeting, 1, REVIEW_DECISION_LIMIT)
    else:
        decided = h.late(meeting, REVIEW_DECISION_LIMIT, 40, longest=200)
    share = rng.random()
    if share < cal.review_amend_share:
        decision = "amend"
    elif share < cal.review_amend_share + cal.review_cease_share:
        decision = "cease"
    else:
        decision = "maintain"
    ceased = False
    if h.emit_for(plan, "review.decided", decided, {"decision": decision}, SYNERGY):
        if decision == "amend":
            _amendment(h, plan, decided)
        elif decision == "maintain":
            _appeal(h, plan.case, "maintain", decided, has_plan=True)
        else:
            ceased = _cease_after_review(h, plan, decided)
    if checked:
        _compliance_check(h, plan, meeting)
    return ceased


def _compliance_check(h: _History, plan: _Plan, meeting: int) -> None:
    rng = h.rng
    setting_id = plan.setting_on(meeting)
    compliant = rng.random() < h.settings.compliance[setting_id]
    failures: list[str] = []
    if not compliant:
        failures = rng.sample(COMPLIANCE_FAILURES, rng.between(1, 3))
    data = {"setting_id": setting_id, "compliant": compliant, "failures": failures}
    h.emit_for(
        plan,
        "review.compliance_checked",
        h.working(meeting + rng.between(7, 35)),
        data,
        REVIEW_AUDIT,
    )


def _amendment(h: _History, plan: _Plan, decided: int) -> None:
    rng = h.rng
    proposed = h.working(decided + rng.between(0, 21))
    if not h.emit_for(plan, "amendment.proposed", proposed, EMPTY, SYNERGY):
        return
    if rng.random() < 0.04:  # never finalised
        return
    if rng.random() < h.cal.amendment_on_time:
        amended = h.on_time(proposed, 14, AMENDMENT_LIMIT)
    else:
        amended = h.late(proposed, AMENDMENT_LIMIT, 45, longest=250)
    if h.emit_for(plan, "plan.amended", amended, EMPTY, SYNERGY):
        _appeal(h, plan.case, "amended", amended, has_plan=True)


def _cease_after_review(h: _History, plan: _Plan, decided: int) -> bool:
    """The plan ceases after a decision to cease, unless the family's appeal succeeds."""
    result = _appeal(h, plan.case, "cease", decided, has_plan=True)
    if result is None:
        ceased = h.working(decided + h.rng.between(14, 45))
    elif result.outcome in ("withdrawn", "la_won"):
        ceased = h.working(result.concluded + h.rng.between(7, 30))
    else:
        return False  # ordered to maintain the plan
    ceased = max(ceased, h.working(plan.latest + 1))  # after a late amendment, say
    if ceased >= plan.ends:
        return False
    h.emit("plan.ceased", plan.case, ceased, {"reason": REVIEW_CEASING}, SYNERGY)
    plan.ends = ceased
    plan.ceased_by_review = True
    return True


class _Transfer(NamedTuple):
    due: int
    data: Data
    named: int
    setting_id: str


def _schedule_transfers(h: _History, plan: _Plan) -> list[_Transfer]:
    """Each autumn about one plan in six has a move due the next September: the new setting
    is to be named by 15 February (31 March for post-16). The move changes the setting
    reviews are held at; the events are recorded once the plan's end is known."""
    rng, cal = h.rng, h.cal
    transfers: list[_Transfer] = []
    year = date.fromordinal(plan.issued).year
    moved_last_year = False
    while True:
        autumn = date(year, 9, 15).toordinal()
        if autumn > h.last or autumn >= plan.ends:
            return transfers
        due_now = autumn > plan.issued + 60 and autumn >= h.start and not moved_last_year
        if due_now and rng.random() < cal.transfer_share:
            transfers.append(_phase_transfer(h, plan, year, autumn))
            moved_last_year = True
        else:
            moved_last_year = False
        year += 1


def _phase_transfer(h: _History, plan: _Plan, year: int, autumn: int) -> _Transfer:
    rng = h.rng
    due = h.working(autumn + rng.between(0, 75))
    post16 = rng.random() < h.cal.transfer_post16_share
    transfer_date = date(year + 1, 9, 1)
    data = {"transfer_date": transfer_date.isoformat(), "kind": "post16" if post16 else "school"}
    month, day = TRANSFER_DEADLINE["post16" if post16 else "school"]
    deadline = date(year + 1, month, day).toordinal()
    if rng.random() < h.cal.transfer_on_time:
        named = max(h.on_time(deadline - 120, 0, 120), h.working(due + 14))
    else:
        named = h.late(deadline, 0, 40, longest=160)
    setting_id, _ = _placement(h, POST16_PLACEMENT if post16 else PLACEMENT)
    plan.settings.append((transfer_date.toordinal(), setting_id))
    return _Transfer(due, data, named, setting_id)


def _record_transfer(h: _History, plan: _Plan, transfer: _Transfer) -> None:
    if h.emit_for(plan, "transfer.due", transfer.due, transfer.data, SYNERGY):
        data = {"setting_id": transfer.setting_id}
        h.emit_for(plan, "transfer.setting_named", transfer.named, data, SYNERGY)


def _caseworker_changes(h: _History, case: str, start: int, stop: int) -> None:
    """Changes of caseworker while a case is open: most cases keep theirs, some churn."""
    rng = h.rng
    base = h.cal.caseworker_changes_per_year / 1.4
    rate = base * 5 if rng.random() < 0.1 else base
    if rate <= 0:
        return
    day = max(start, h.start - 30) + int(rng.expovariate(rate / 365))
    while day < stop and day <= h.last:
        h.assign_caseworker(case, h.working(day))
        day += 1 + int(rng.expovariate(rate / 365))


# --- appeals and tribunal orders -------------------------------------------------------------


def _against(h: _History, decision: str) -> str:
    if decision == "refuse":
        return "refusal_to_assess"
    if decision == "not_issue":
        return "refusal_to_issue"
    if decision in ("issued", "amended"):
        return "contents" if h.rng.random() < 0.55 else "placement"
    if decision == "maintain":
        return "refusal_to_amend"
    return "cease"


def _appeal(
    h: _History, case: str, decision: str, decided: int, *, has_plan: bool
) -> _AppealResult | None:
    """Perhaps an appeal against an appealable decision; a conceded or lost appeal brings a
    tribunal order. Returns the outcome, or None if there was no appeal."""
    rng = h.rng
    if rng.random() >= h.appeal_chance[decision]:
        return None
    return _register_appeal(h, case, _against(h, decision), decided, has_plan=has_plan)


def _register_appeal(
    h: _History, case: str, against: str, decided: int, *, has_plan: bool
) -> _AppealResult:
    rng = h.rng
    registered = h.working(decided + rng.between(21, 60))
    appeal_id = h.appeal_id(registered)
    data = {"appeal_id": appeal_id, "against": against}
    h.emit("appeal.registered", case, registered, data, TRIBUNAL_LOG)
    outcome = h.outcomes.pick(rng)
    if outcome == "conceded":
        concluded = h.working(registered + rng.between(40, 180))
    elif outcome == "withdrawn":
        concluded = h.working(registered + rng.between(30, 200))
    else:
        concluded = h.working(registered + rng.between(150, 330))
    data = {"appeal_id": appeal_id, "outcome": outcome}
    if not h.emit("appeal.concluded", case, concluded, data, TRIBUNAL_LOG):
        return _AppealResult(outcome, concluded)
    if outcome in ("conceded", "appellant_won"):
        kind = ORDER_KIND[against]
        if against == "refusal_to_amend" and rng.random() < 0.25:
            kind = "reconsider"
        if outcome == "appellant_won":
            basis, made = "order", h.working(concluded + rng.between(0, 10))
        else:
            basis = "unopposed" if rng.random() < 0.8 else "mediation"
            made = concluded
        makes_plan = not has_plan and kind in ("assess", "make_plan")
        _tribunal_order(h, case, kind, basis, appeal_id, made, makes_plan=makes_plan)
    return _AppealResult(outcome, concluded)


def _tribunal_order(
    h: _History,
    case: str,
    kind: str,
    basis: str,
    appeal_id: str | None,
    made: int,
    *,
    makes_plan: bool,
) -> None:
    """An order (or unopposed-appeal notice, or mediation agreement) and its steps, mostly
    done by their deadlines; an order to assess ends in a plan or in no plan."""
    rng = h.rng
    order_id = h.order_id()
    data: dict[str, Any] = {"order_id": order_id, "kind": kind, "basis": basis}
    if appeal_id is not None:
        data["appeal_id"] = appeal_id
    if not h.emit("tribunal.order_made", case, made, data, TRIBUNAL_LOG):
        return
    if rng.random() < h.cal.order_exception_rate:
        _order_exception(h, case, order_id, made)
    outcome: str | None = None
    steps = ORDER_STEPS.get(kind, ())
    if kind == "assess":
        outcome = "plan" if rng.random() < 0.75 else "no_plan"
        steps = ASSESS_ORDER_PLAN if outcome == "plan" else ASSESS_ORDER_NO_PLAN
    elif kind == "make_plan":
        outcome = "plan"
    done = made
    for step, limit in steps:
        if rng.random() < h.cal.order_step_on_time:
            done = max(done, made if limit == 0 else h.on_time(made, min(limit, 7), limit))
        else:
            done = max(done, h.late(made, limit, 20, longest=120))
        step_data: dict[str, Any] = {"order_id": order_id, "step": step}
        if step == "final" and kind == "assess":
            step_data["outcome"] = outcome
        if not h.emit("tribunal.order_step_done", case, done, step_data, TRIBUNAL_LOG):
            return
    if makes_plan and outcome == "plan":
        _issue_plan(h, case, done, appealable=True)


def _order_exception(h: _History, case: str, order_id: str, made: int) -> None:
    grounds = ("personal_circumstances", "absence")
    data: dict[str, Any] = {
        "clock": "tribunal_order",
        "ground": grounds[h.rng.below(2)],
        "family_told": h.rng.random() < h.cal.family_told_rate,
        "order_id": order_id,
    }
    h.emit("exception.applied", case, h.working(made + h.rng.between(3, 14)), data, TRIBUNAL_LOG)


def _refusals_to_reassess(h: _History) -> None:
    """A few appeals against a refusal to re-assess (which has no event of its own)."""
    years = (h.last - h.start + 1) / 365.25
    for _ in range(_poisson(h.rng, 12 * years)):
        refused = h.window_working_day()
        case = h.plan_case_on(refused)
        if case is not None:
            _register_appeal(h, case, "refusal_to_reassess", refused, has_plan=True)


# --- education, EOTAS and SEN support --------------------------------------------------------


def _spell_length(rng: _Dice) -> int:
    share = rng.random()
    if share < 0.5:
        return rng.between(20, 100)
    if share < 0.9:
        return rng.between(100, 400)
    return rng.between(400, 900)


SPELL_MEAN_DAYS: Final = 0.5 * 60 + 0.4 * 250 + 0.1 * 650
EOTAS_SHORTENING: Final = 1.1  # EOTAS starts end some spells early: start a few more
EOTAS_REASONS: Final = ("no_suitable_placement", "health")
LOST_REASON_CHOICE: Final = _Choice(LOST_REASONS)


def _education(h: _History) -> None:
    """Spells without suitable education, at a rate that keeps ``out_of_education`` children
    out at any time; some lead to EOTAS (about 70% of ``eotas_requests_per_year``) and the
    rest of the EOTAS requests come from plans whose placement is breaking down."""
    rng, cal = h.rng, h.cal
    per_day = cal.out_of_education / SPELL_MEAN_DAYS * EOTAS_SHORTENING
    eligible = per_day * 365 * sum(w for r, w in LOST_REASONS if r in EOTAS_REASONS)
    link = min(1.0, 0.7 * cal.eotas_requests_per_year / eligible) if eligible > 0 else 0.0
    earliest = h.start - 1000
    for _ in range(_poisson(rng, per_day * (h.last - earliest + 1))):
        lost = h.working(rng.between(earliest, h.last))
        natural_end = lost + _spell_length(rng)
        if natural_end >= h.start:
            _education_spell(h, lost, natural_end, link)
    years = (h.last - h.start + 1) / 365.25
    from_plans = round(cal.eotas_requests_per_year * years) - h.eotas_requests
    for _ in range(max(0, from_plans)):
        requested = h.window_working_day()
        case = h.plan_case_on(requested)
        if case is not None:
            _eotas(h, case, requested)


def _education_spell(h: _History, lost: int, natural_end: int, eotas_chance: float) -> None:
    """A child out of education, mostly one with a plan; the spell ends when they go back
    to school or alternative provision, or when an EOTAS package starts."""
    rng = h.rng
    reason = LOST_REASON_CHOICE.pick(rng)
    case = h.plan_case_on(max(lost, h.start)) or h.new_case()
    h.emit("education.lost", case, lost, {"reason": reason}, INCLUSION)
    requested = h.working(lost + rng.between(14, 90))
    started = None
    wants_eotas = reason in EOTAS_REASONS and h.start <= requested < natural_end
    if wants_eotas and rng.random() < eotas_chance:
        started = _eotas(h, case, requested)
    if started is not None:
        h.emit("education.resumed", case, started, {"provision": "eotas"}, INCLUSION)
        return
    provision = "school" if rng.random() < 0.65 else "alternative"
    data = {"provision": provision}
    h.emit("education.resumed", case, h.working(natural_end), data, INCLUSION)


def _eotas(h: _History, case: str, requested: int) -> int | None:
    """An EOTAS request, perhaps agreed and started; returns the day it started."""
    rng, cal = h.rng, h.cal
    if h.emit("eotas.requested", case, requested, EMPTY, SYNERGY) and requested >= h.start:
        h.eotas_requests += 1
    if rng.random() >= cal.eotas_agreed_share:
        return None
    agreed = h.working(requested + rng.between(21, 75))
    hours = rng.choice((10.0, 12.5, 15.0, 20.0, 25.0))
    pounds = round(hours * 38 * rng.uniform(45, 95), 2)
    package: dict[str, Any] = {"hours_per_week": hours}
    if agreed >= h.eotas_schema_2_from:  # the system moved to whole pence mid-window
        package["annual_cost_pence"] = round(pounds * 100)
    else:
        package["annual_cost"] = pounds
    if not h.emit("eotas.agreed", case, agreed, package, SYNERGY):
        return None
    if rng.random() >= cal.eotas_started_share / max(cal.eotas_agreed_share, 1e-9):
        return None
    started = h.working(agreed + rng.between(5, 45))
    if not h.emit("eotas.started", case, started, EMPTY, SYNERGY):
        return None
    if rng.random() < 0.5:
        h.emit("eotas.ended", case, h.working(started + rng.between(90, 720)), EMPTY, SYNERGY)
    return started


def _sen_support(h: _History) -> None:
    """Children on SEN support in mainstream schools: ``sen_support_children`` at any time,
    each for a few months to six years."""
    rng = h.rng
    shortest, longest = 120, 2200
    per_day = h.cal.sen_support_children / ((shortest + longest) / 2)
    earliest = h.start - longest
    for _ in range(_poisson(rng, per_day * (h.last - earliest + 1))):
        started = h.working(rng.between(earliest, h.last))
        ended = h.working(started + rng.between(shortest, longest))
        if ended < h.start:
            continue
        case = h.new_case()
        setting_id = h.settings.pick(rng, "mainstream")
        h.emit("sen_support.started", case, started, {"setting_id": setting_id}, SEN_RETURN)
        h.emit("sen_support.ended", case, ended, EMPTY, SEN_RETURN)


# --- quality, contacts and corrections -------------------------------------------------------

GRADES: Final = {  # by the number of sections met
    3: _Choice((("outstanding", 0.25), ("good", 0.75))),
    2: _Choice((("good", 0.3), ("requires_improvement", 0.7))),
    1: _Choice((("requires_improvement", 0.4), ("inadequate", 0.6))),
    0: _Choice((("inadequate", 1.0),)),
}


def _plan_audits(h: _History) -> None:
    rng, cal = h.rng, h.cal
    years = (h.last - h.start + 1) / 365.25
    for _ in range(round(cal.audits_per_year * years)):
        day = h.window_working_day()
        case = h.plan_case_on(day)
        if case is None:
            continue
        met = [rng.random() < share for share in cal.audit_section_met]
        data: dict[str, Any] = {
            section: "met" if ok else "not_met"
            for section, ok in zip(("section_b", "section_e", "section_f"), met, strict=True)
        }
        if rng.random() < 0.9:
            data["grade"] = GRADES[sum(met)].pick(rng)
        h.emit("plan.audited", case, day, data, QA_AUDIT)


def _contacts(h: _History) -> None:
    """Emails, calls, portal messages and letters from families, more while a request is
    open, scaled to ``contacts_per_year``."""
    rng = h.rng
    spans = []
    weight = 0.0
    for case, start, stop, per_year in h.contact_spans:
        first, last = max(start, h.start), min(stop, h.last)
        if first <= last:
            spans.append((case, first, last - first + 1, per_year))
            weight += per_year * (last - first + 1) / 365
    if weight == 0:
        return
    years = (h.last - h.start + 1) / 365.25
    scale = h.cal.contacts_per_year * years / weight
    for case, first, length, per_year in spans:
        for _ in range(_poisson(rng, scale * per_year * length / 365)):
            _contact(h, case, first + rng.below(length))


CHANNEL: Final = _Choice(CHANNELS)
# the share of on-time human replies sent 0, 1, ... CONTACT_LIMIT working days after
ON_TIME_WORKING_DAYS: Final = _cumulative((0.08, 0.27, 0.2, 0.17, 0.15, 0.13))
if len(ON_TIME_WORKING_DAYS) != CONTACT_LIMIT + 1:
    raise ValueError("ON_TIME_WORKING_DAYS: expected a share for each day up to the limit")


def _contact(h: _History, case: str, day: int) -> None:
    rng, cal = h.rng, h.cal
    channel = CHANNEL.pick(rng)
    if channel in ("phone", "letter") or rng.random() < 0.7:
        day = h.working(day)
    opens, closes = CONTACT_HOURS[channel]
    second = rng.between(opens, closes)
    contact_id = h.contact_id()
    source = PORTAL if channel == "portal" else CRM
    delay = rng.between(5, 300) if channel in ("email", "portal") else rng.between(60, 3600)
    received = {"contact_id": contact_id, "channel": channel}
    if not h.emit_at("contact.received", case, day, second, received, source, delay):
        return
    automatic = {"contact_id": contact_id, "automated": True}
    acknowledged = channel == "portal" or (channel == "email" and rng.random() < 0.5)
    if acknowledged:
        h.emit_at("contact.responded", case, day, second + 60, automatic, source, delay + 5)
    share = rng.random()
    if share < cal.contact_unanswered:
        return
    if share < cal.contact_unanswered + cal.contact_automated_only:
        if not acknowledged:
            h.emit_at("contact.responded", case, day, second + 90, automatic, source, delay + 5)
        return
    if rng.random() < cal.contact_on_time:
        share = rng.random() * ON_TIME_WORKING_DAYS[-1]
        after = bisect_right(ON_TIME_WORKING_DAYS, share)
    else:
        after = CONTACT_LIMIT + 1 + min(40, int(rng.expovariate(1 / 6)))
    answer = rng.between(9 * 3600, 17 * 3600 + 1800)
    if after == 0 and (not h.calendar.is_working(day) or second >= 16 * 3600):
        after = 1
    replied = day if after == 0 else h.calendar.working_days_after(day, after)
    if replied == day:
        answer = min(max(answer, second + 600), DAY - 1)
    human = {"contact_id": contact_id, "automated": False}
    h.emit_at("contact.responded", case, replied, answer, human, CRM, rng.between(1, 600))


def _retractions(h: _History) -> None:
    """Entries made in error (a duplicate, a wrong date, the wrong case) and later retracted
    in the same case; the true events are untouched."""
    rng = h.rng
    count = round(len(h.records) * h.cal.retraction_rate)
    if count == 0:
        return
    for index in rng.sample(range(len(h.records)), count):
        _retract(h, h.records[index])


def _retract(h: _History, record: Record) -> None:
    rng = h.rng
    key, kind, case, occurred, source, data = record
    if isinstance(data, _Retraction):
        return
    recorded = key >> SERIAL_BITS
    mode = rng.random()
    if mode < 0.5:
        reason, recorded = "duplicate entry", recorded + rng.between(60, 4 * 3600)
    elif mode < 0.8:
        day = date.fromisoformat(occurred[:10]).toordinal() - rng.between(1, 14)
        occurred = h.calendar.text(day) + occurred[10:]
        reason, recorded = "entered with the wrong date", recorded - rng.between(60, 3600)
    else:
        case = h.records[rng.below(len(h.records))][2]
        reason, recorded = "recorded against the wrong case", recorded + rng.between(0, 600)
    london_day = h.working(recorded // DAY + rng.between(0, 20))
    retracted_at = h.office_instant(london_day)
    if retracted_at <= recorded:
        retracted_at = recorded + rng.between(600, 3600)
        london_day = (retracted_at + h.calendar.utc_offset(retracted_at // DAY)) // DAY
    if retracted_at > h.horizon or london_day > h.last:
        return
    target = h.append(recorded, kind, case, occurred, source, data)
    h.retracted[target] = ""
    h.append(
        retracted_at,
        "event.retracted",
        case,
        h.calendar.text(london_day),
        source,
        _Retraction(target, reason),
    )


# --- the public interface ---------------------------------------------------------------------


def simulate(
    *,
    seed: int = 1,
    years: int = 3,
    end: date,
    calibration: Calibration = DEFAULT_CALIBRATION,
    council: str = "886",
    pause: Pause = nullcontext,
) -> Iterator[dict[str, Any]]:
    """The synthetic history of ``years`` years ending at ``end``, as JSON-ready event dicts
    in recorded order (``recorded_at``, then ``event_id``). ``pause``: what making the
    history runs inside (the shell passes ``sendwatch.tuning.paused_collector``)."""
    if years < 1:
        raise ValueError("years: at least 1")
    if not council.isascii() or not council.isalnum():
        raise ValueError(
            f"council: expected a DfE local-authority code such as 886, not {council!r}"
        )
    return _generate(seed, years, end, calibration, council, pause)


def _generate(
    seed: int, years: int, end: date, calibration: Calibration, council: str, pause: Pause
) -> Iterator[dict[str, Any]]:
    history = _History(seed, years, end, calibration, council)
    with pause():  # hundreds of thousands of small records
        _existing_plans(history)
        _requests(history)
        _refusals_to_reassess(history)
        _education(history)
        _sen_support(history)
        _plan_audits(history)
        _contacts(history)
        _retractions(history)
    yield from history.export(f"ev-{seed}-")


def write_jsonl(path_or_stream: str | Path | IO[bytes] | IO[str], events: Iterable[Data]) -> int:
    """Write events as JSON lines (orjson) to a path or an open stream; returns the count."""
    if isinstance(path_or_stream, str | Path):
        with open(path_or_stream, "wb") as stream:
            return _write_lines(stream, events)
    if isinstance(path_or_stream, io.TextIOBase):
        buffer = getattr(path_or_stream, "buffer", None)
        if buffer is None:
            return _write_text_lines(cast(IO[str], path_or_stream), events)
        path_or_stream.flush()
        count = _write_lines(buffer, events)
        buffer.flush()
        return count
    return _write_lines(cast(IO[bytes], path_or_stream), events)


BATCH: Final = 10_000


def _write_lines(stream: IO[bytes], events: Iterable[Data]) -> int:
    count, batch = 0, []
    for event in events:
        batch.append(orjson.dumps(event))
        count += 1
        if len(batch) == BATCH:
            stream.write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        stream.write(b"\n".join(batch) + b"\n")
    return count


def _write_text_lines(stream: IO[str], events: Iterable[Data]) -> int:
    count = 0
    for event in events:
        stream.write(orjson.dumps(event).decode() + "\n")
        count += 1
    return count


__all__ = ["DEFAULT_CALIBRATION", "Calibration", "simulate", "write_jsonl"]
