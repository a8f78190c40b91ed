"""The statutory clocks as data, each with its citation: one file for a lawyer to review.

Sources: Children and Families Act 2014 ("CFA"); the Special Educational Needs and Disability
Regulations 2014, SI 2014/1530 ("Regs"); the SEND Code of Practice 0-25 (2015) ("Code").
"Within N weeks" means on or before the start date + 7N days. A change in the law is a
change to one line here: the simulator, the report, the alerts and the API take the limits,
the grounds and their words from this file, and tests/test_law.py holds the closed sets of
``events.types`` to its tables. What each event does to the clocks (``EVENT_CLOCKS``) is
stated here as well, and tests/test_properties.py holds the fold (``projections.case``) to
it both ways: a change to that table fails the tests until the fold makes the same change.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def days_words(days: int) -> str:
    """A limit of calendar days in words: ``20 weeks`` when it is whole weeks, else ``45 days``."""
    weeks, rest = divmod(days, 7)
    return _count(weeks, "week") if not rest and weeks else _count(days, "day")


@dataclass(frozen=True, slots=True)
class ClockRule:
    id: str
    name: str  # plain English, for people, without the limit (see ``title`` and ``label``)
    starts: str
    stops: str
    days: int | None = None  # calendar days
    months: int | None = None  # calendar months (the day clamped to the month's end)
    working_days: int | None = None  # Monday to Friday, England and Wales bank holidays off
    citation: str = ""
    known_by_limit: bool = False  # people name it by its limit ("the 20-week clock")

    @property
    def limit(self) -> str | None:
        """The limit in words (``limit_words``)."""
        return limit_words(self)

    @property
    def title(self) -> str:
        """The clock's name as tables and headings show it: with its limit when people know
        the clock by it (``Final EHC plan issued (20 weeks)``), else the bare name."""
        limit = limit_words(self)
        return f"{self.name} ({limit})" if self.known_by_limit and limit else self.name

    @property
    def label(self) -> str:
        """The name with its limit, wherever the clock has a limit in days, months or
        working days (``Decision whether to assess (6 weeks)``)."""
        limit = limit_words(self)
        return f"{self.name} ({limit})" if limit else self.name


def limit_words(rule: ClockRule) -> str | None:
    """A clock's limit in words: ``6 weeks``, ``12 months``, ``5 working days``; None for a
    clock whose deadline is set by its kind or by a date (tribunal orders, phase transfer)."""
    if rule.days is not None:
        return days_words(rule.days)
    if rule.months is not None:
        return _count(rule.months, "month")
    if rule.working_days is not None:
        return _count(rule.working_days, "working day")
    return None


CLOCKS: dict[str, ClockRule] = {
    rule.id: rule
    for rule in (
        ClockRule(
            "assess_decision",
            "Decision whether to assess",
            "request for an EHC needs assessment received",
            "decision to assess or to refuse",
            days=6 * 7,
            citation="SEND Regs 2014 reg 4(1) and 5(1); CFA 2014 s36",
        ),
        ClockRule(
            "no_plan_decision",
            "Decision not to issue a plan",
            "request for an EHC needs assessment received",
            "notice that no EHC plan will be issued (counted only when that is the decision)",
            days=16 * 7,
            citation="SEND Regs 2014 reg 10(1)",
        ),
        ClockRule(
            "final_plan",
            "Final EHC plan issued",
            "request for an EHC needs assessment received",
            "final EHC plan issued",
            days=20 * 7,
            citation="SEND Regs 2014 reg 13(2)",
            known_by_limit=True,
        ),
        ClockRule(
            "review_due",
            "Annual review of the plan",
            "plan issued, or the previous review decision",
            "review decision",
            months=12,
            citation="CFA 2014 s44(1); SEND Code of Practice 9.169",
        ),
        ClockRule(
            "review_decision",
            "Decision after a review meeting",
            "annual review meeting held",
            "the LA notifies its decision to maintain, amend or cease",
            days=4 * 7,
            citation="SEND Regs 2014 reg 20(10)",
        ),
        ClockRule(
            "amended_plan",
            "Amended plan issued",
            "proposed amendments sent",
            "final amended plan issued",
            days=8 * 7,
            citation="SEND Regs 2014 reg 22(3)",
        ),
        ClockRule(
            "phase_transfer",
            "Plan amended for a phase transfer",
            "transfer due recorded",
            "new setting named in the plan",
            citation="SEND Regs 2014 reg 18(1)",
        ),
        ClockRule(
            "tribunal_order",
            "Tribunal order complied with",
            "order sent (or unopposed-appeal notice, or mediation agreement)",
            "the ordered action done",
            citation="SEND Regs 2014 reg 44 (orders), 45 (unopposed appeals), 42 (mediation)",
        ),
        ClockRule(
            "contact_response",
            "Human reply to a family's contact",
            "email, call, portal message or letter received (day 0)",
            "first reply from a person (an automated reply does not count)",
            working_days=5,
            citation="Petition point 1: local standard of 5 working days",
        ),
    )
}

CLOCK_IDS: tuple[str, ...] = tuple(CLOCKS)


Condition = tuple[tuple[str, object], ...]  # (data field, value) pairs


@dataclass(frozen=True, slots=True)
class Effect:
    """One thing an event does to a clock's run (``EVENT_CLOCKS``). ``action``:
    - ``starts``: a run begins (a plan clock or a request's clocks only if no run of them is
      open: otherwise the event starts nothing);
    - ``stops``: the open run ends, on time or late by its due day;
    - ``cancels``: the open run ends and counts neither way;
    - ``excepts``: an exception ground applies to the run (it is counted apart);
    - ``redates``: the run's due day changes.

    ``when``: only when the event's data has these values; ``unless``: not when it has them.
    ``held``: only when an opener of that clock was set aside earlier the same day because a
    run was open then: once this event has ended that run, the held opener starts the next
    (CONTRACT.md section 2)."""

    action: str
    clock: str  # a clock id, or ANY_CLOCK: the clock the event names
    when: Condition = ()
    unless: Condition = ()
    held: bool = False

    def applies(self, data: dict[str, object]) -> bool:
        """Whether it can happen for an event with this ``data``."""
        return all(data.get(k) == v for k, v in self.when) and not any(
            data.get(k) == v for k, v in self.unless
        )


ANY_CLOCK = "the clock the event names"
_REQUEST = ("assess_decision", "final_plan")  # the clocks a request starts


def _starts(*clocks: str, when: Condition = (), held: bool = False) -> tuple[Effect, ...]:
    return tuple(Effect("starts", clock, when=when, held=held) for clock in clocks)


def _cancels(*clocks: str, when: Condition = ()) -> tuple[Effect, ...]:
    return tuple(Effect("cancels", clock, when=when) for clock in clocks)


# What each event type does to the clocks, and when: the fold's wiring
# (``projections.case``), stated here for review beside the limits and held to the fold by
# ``tests/test_properties.py`` (every change a fold makes when an event is applied is one
# listed here, and each listed change is made). A type not listed changes no clock.
NOT_ISSUE: Condition = (("decision", "not_issue"),)
REFUSE: Condition = (("decision", "refuse"),)
EVENT_CLOCKS: dict[str, tuple[Effect, ...]] = {
    "request.received": _starts(*_REQUEST),
    "assessment.decided": (
        Effect("stops", "assess_decision"),
        *_cancels("final_plan", when=REFUSE),
        *_starts(*_REQUEST, when=REFUSE, held=True),
    ),
    "plan.decided": (
        *_cancels("final_plan", when=NOT_ISSUE),
        # the decision not to issue: a run from the request's day to this decision
        Effect("starts", "no_plan_decision", when=NOT_ISSUE),
        Effect("stops", "no_plan_decision", when=NOT_ISSUE),
        *_starts(*_REQUEST, when=NOT_ISSUE, held=True),
    ),
    "plan.issued": (
        Effect("stops", "final_plan"),
        *_starts(*_REQUEST, held=True),
        # a new plan restarts the annual review cycle
        Effect("cancels", "review_due"),
        Effect("starts", "review_due"),
    ),
    "exception.applied": (Effect("excepts", ANY_CLOCK),),
    "request.withdrawn": (*_cancels(*_REQUEST), *_starts(*_REQUEST, held=True)),
    "plan.ceased": (
        *_cancels("review_due", "phase_transfer", "review_decision", "amended_plan"),
        *_starts("review_decision", "amended_plan", held=True),
    ),
    "review.meeting_held": _starts("review_decision"),
    "review.decided": (
        Effect("stops", "review_decision"),
        Effect("starts", "review_decision", held=True),
        Effect("stops", "review_due"),
        Effect("starts", "review_due", unless=(("decision", "cease"),)),
    ),
    "amendment.proposed": _starts("amended_plan"),
    "plan.amended": (Effect("stops", "amended_plan"), Effect("starts", "amended_plan", held=True)),
    # another transfer than the one open supersedes it; the same one again changes nothing
    "transfer.due": (Effect("cancels", "phase_transfer"), Effect("starts", "phase_transfer")),
    "transfer.setting_named": (Effect("stops", "phase_transfer"),),
    "tribunal.order_made": _starts("tribunal_order"),  # once for each order
    "tribunal.order_step_done": (
        Effect("stops", "tribunal_order", when=(("step", "final"),)),
        # an order to assess that ends with no plan: 10 weeks, not 14 (ORDER_DEADLINES)
        Effect("redates", "tribunal_order", when=(("step", "final"), ("outcome", "no_plan"))),
    ),
    "contact.received": _starts("contact_response"),  # once for each contact
    "contact.responded": (Effect("stops", "contact_response", unless=(("automated", True),)),),
}

# Regs 5(4), 10(4) and 13(3): the grounds on which the 6, 16 and 20-week limits need not be
# met, in the regulations' order (a) to (d), with their words. Reg 44(3) applies the same to
# tribunal orders.
EXCEPTION_GROUNDS: dict[str, str] = {
    "school_closure": "(a) a school closure of 4 weeks or more",
    "early_years_closure": "(b) an early years provider's closure of 4 weeks or more",
    "personal_circumstances": "(c) exceptional personal circumstances",
    "absence": "(d) absence from the area for 4 weeks or more",
}
# The source says an exception applies, not which ground (SEN2's flag): not a ground in law,
# but a value ``exception.applied`` accepts.
GROUND_NOT_RECORDED = "not_recorded"
EXCEPTION_GROUND_VALUES: tuple[str, ...] = (*EXCEPTION_GROUNDS, GROUND_NOT_RECORDED)
# The clocks an exception can apply to (Regs 5(4), 10(4), 13(3) and 44(3)).
EXCEPTION_CLOCKS: tuple[str, ...] = (
    "assess_decision",
    "no_plan_decision",
    "final_plan",
    "tribunal_order",
)
# Where the law sets out the exceptions: for the clocks of a request, and for tribunal orders.
EXCEPTION_CITATION = "regulations 5(4), 10(4) and 13(3)"
ORDER_EXCEPTION_CITATION = "regulation 44(3)"
# The clocks DfE publishes leaving out exceptions (the 6, 16 and 20-week limits): the report
# headlines them the same way, the other clocks including them.
DFE_EXCLUDING_EXCEPTIONS: frozenset[str] = frozenset(
    {"assess_decision", "no_plan_decision", "final_plan"}
)
# DfE's longest band of plan timeliness, not a limit in law: plans issued "after 52 weeks"
# (DfE, Education, health and care plans statistics, timeliness_20_week.csv columns
# plans_issued_gt_1_year and plans_issued_gt20weeks_ltYear).
DFE_LONG_WAIT_DAYS = 52 * 7

# Phase transfer (reg 18(1)): the plan must be amended by 15 February of the calendar year of
# the transfer (31 March for a move from secondary school to post-16 education).
TRANSFER_DEADLINE: dict[str, tuple[int, int]] = {"school": (2, 15), "post16": (3, 31)}
TRANSFER_KINDS: tuple[str, ...] = tuple(TRANSFER_DEADLINE)


@dataclass(frozen=True, slots=True)
class OrderDeadline:
    """What a tribunal order of a kind requires and by when (days from the order)."""

    kind: str
    what: str
    final_days: int
    final_days_no_plan: int | None = None  # `assess`: when the outcome is "no plan"
    interim_step: str | None = None
    interim_days: int | None = None
    interim_what: str | None = None  # what the interim step requires, for people


def order_limit_words(order: OrderDeadline) -> str:
    """An order kind's deadlines in words: ``14 weeks (10 weeks if no plan); notify within 2
    weeks``."""
    text = "the same day" if order.final_days == 0 else days_words(order.final_days)
    if order.final_days_no_plan is not None:
        text += f" ({days_words(order.final_days_no_plan)} if no plan)"
    if order.interim_step is not None and order.interim_days is not None:
        text += f"; {order.interim_step} within {days_words(order.interim_days)}"
    return text


ORDER_DEADLINES: dict[str, OrderDeadline] = {
    d.kind: d
    for d in (
        OrderDeadline(
            "assess",
            "assess, then issue a plan or notify that no plan will be made",
            final_days=14 * 7,
            final_days_no_plan=10 * 7,
            interim_step="notify",
            interim_days=2 * 7,
            interim_what="tell the family that it will assess",
        ),
        OrderDeadline(
            "make_plan",
            "make and maintain a plan",
            final_days=11 * 7,
            interim_step="draft",
            interim_days=5 * 7,
            interim_what="send the draft plan",
        ),
        OrderDeadline("amend_plan", "amend Sections B and F (and I)", final_days=5 * 7),
        OrderDeadline("name_setting", "amend Section I only", final_days=2 * 7),
        OrderDeadline("maintain", "continue to maintain the plan", final_days=0),
        # 2 weeks: the sources are not certain of this one.
        OrderDeadline("reconsider", "reconsider a decision", final_days=2 * 7),
    )
}

ORDER_KINDS: tuple[str, ...] = tuple(ORDER_DEADLINES)
# The steps an order's record can report: an interim step of some kind, or the final one.
ORDER_STEPS: tuple[str, ...] = (
    *dict.fromkeys(d.interim_step for d in ORDER_DEADLINES.values() if d.interim_step),
    "final",
)
ORDER_OUTCOMES: tuple[str, ...] = ("plan", "no_plan")  # an order to assess ends in one

ORDER_CITATION: dict[str, str] = {
    "order": "SEND Regs 2014 reg 44",
    "unopposed": "SEND Regs 2014 reg 45",
    "mediation": "SEND Regs 2014 reg 42",
}
ORDER_BASES: tuple[str, ...] = tuple(ORDER_CITATION)

# Appealable decisions (CFA 2014 s51(2)) and which appeals each can be the subject of. An
# appeal is linked to the latest such decision on the same case on or before it was registered.
APPEALABLE: dict[str, tuple[str, ...]] = {
    "refusal_to_assess": ("assessment.decided:refuse",),
    "refusal_to_issue": ("plan.decided:not_issue",),
    "contents": ("plan.issued", "plan.amended"),
    "placement": ("plan.issued", "plan.amended"),
    "refusal_to_amend": ("review.decided:maintain",),
    "refusal_to_reassess": (),
    "cease": ("plan.ceased", "review.decided:cease"),
}
APPEAL_AGAINST: tuple[str, ...] = tuple(APPEALABLE)
APPEAL_OUTCOMES: tuple[str, ...] = ("withdrawn", "conceded", "appellant_won", "la_won")
OVERTURNED: frozenset[str] = frozenset({"conceded", "appellant_won"})

# On one day, an event that starts a clock or opens a record applies before one that stops
# or closes it (CONTRACT.md section 2).
OPENERS: frozenset[str] = frozenset(
    {
        "request.received",
        "review.meeting_held",
        "amendment.proposed",
        "transfer.due",
        "appeal.registered",
        "tribunal.order_made",
        "contact.received",
        "education.lost",
        "eotas.requested",
        "sen_support.started",
    }
)


def wiring_table() -> str:
    """``EVENT_CLOCKS`` as a Markdown table, for people (the README shows it): effects
    alike but for their clock are told once, their clocks joined."""
    rows = ["| event | what it does to the clocks |", "|---|---|"]
    for kind, effects in EVENT_CLOCKS.items():
        told = []
        for _, group in groupby(effects, key=lambda e: (e.action, e.when, e.unless, e.held)):
            alike = list(group)
            told.append(_words(alike[0], [effect.clock for effect in alike]))
        rows.append(f"| `{kind}` | {'; '.join(told)} |")
    return "\n".join(rows)


_VERBS = {
    "starts": "starts {}",
    "stops": "stops {}",
    "cancels": "cancels {}",
    "excepts": "excepts {}",
    "redates": "moves the due day of {}",
}


def _words(effect: Effect, clocks: list[str]) -> str:
    named = ["the clock it names" if c == ANY_CLOCK else f"`{c}`" for c in clocks]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    text = _VERBS[effect.action].format(listed)
    if effect.held:
        text += " (the next run, for an opener held that day)"
    conditions = [f"`{k}` is `{_shown(v)}`" for k, v in effect.when]
    conditions += [f"`{k}` is not `{_shown(v)}`" for k, v in effect.unless]
    if conditions:
        text += " when " + " and ".join(conditions)
    return text


def _shown(value: object) -> str:
    return "true" if value is True else "false" if value is False else str(value)
