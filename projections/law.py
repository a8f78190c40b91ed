"""The statutory clocks as data, each with its citation: one file for a lawyer to review.

Sources: Children and Families Act 2014 ("CFA"); the Special Educational Needs and Disability
Regulations 2014, SI 2014/1530 ("Regs"); the SEND Code of Practice 0-25 (2015) ("Code").
"Within N weeks" means on or before the start date + 7N days. A change in the law is a
change to one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockRule:
    id: str
    title: str  # plain English, for people
    starts: str
    stops: str
    days: int | None = None  # calendar days
    months: int | None = None  # calendar months (the day clamped to the month's end)
    working_days: int | None = None  # Monday to Friday, England and Wales bank holidays off
    citation: str = ""


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
            "Final EHC plan issued (20 weeks)",
            "request for an EHC needs assessment received",
            "final EHC plan issued",
            days=20 * 7,
            citation="SEND Regs 2014 reg 13(2)",
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

# Phase transfer (reg 18(1)): the plan must be amended by 15 February of the calendar year of
# the transfer (31 March for a move from secondary school to post-16 education).
TRANSFER_DEADLINE: dict[str, tuple[int, int]] = {"school": (2, 15), "post16": (3, 31)}


@dataclass(frozen=True, slots=True)
class OrderDeadline:
    """What a tribunal order of a kind requires and by when (days from the order)."""

    kind: str
    what: str
    final_days: int
    final_days_no_plan: int | None = None  # `assess`: when the outcome is "no plan"
    interim_step: str | None = None
    interim_days: int | None = None


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
        ),
        OrderDeadline(
            "make_plan",
            "make and maintain a plan",
            final_days=11 * 7,
            interim_step="draft",
            interim_days=5 * 7,
        ),
        OrderDeadline("amend_plan", "amend Sections B and F (and I)", final_days=5 * 7),
        OrderDeadline("name_setting", "amend Section I only", final_days=2 * 7),
        OrderDeadline("maintain", "continue to maintain the plan", final_days=0),
        # 2 weeks: the sources are not certain of this one.
        OrderDeadline("reconsider", "reconsider a decision", final_days=2 * 7),
    )
}

ORDER_CITATION: dict[str, str] = {
    "order": "SEND Regs 2014 reg 44",
    "unopposed": "SEND Regs 2014 reg 45",
    "mediation": "SEND Regs 2014 reg 42",
}

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
DECISION_KINDS: frozenset[str] = frozenset(k for ks in APPEALABLE.values() for k in ks)
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
