"""projections/law.py is the one place a legal fact is stated: the closed sets of the events'
``data`` (events/types.py, which may not import projections) agree with its tables, and a
limit is put into words one way wherever it is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from events import types
from projections import law

# Each closed set of events/types.py that the law also has, with the law's table of it.
SAME_SETS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("ExceptionClock", types.ExceptionClock, law.EXCEPTION_CLOCKS),
    ("ExceptionGround", types.ExceptionGround, law.EXCEPTION_GROUND_VALUES),
    ("TransferKind", types.TransferKind, law.TRANSFER_KINDS),
    ("AppealAgainst", types.AppealAgainst, law.APPEAL_AGAINST),
    ("AppealOutcome", types.AppealOutcome, law.APPEAL_OUTCOMES),
    ("OrderKind", types.OrderKind, law.ORDER_KINDS),
    ("OrderBasis", types.OrderBasis, law.ORDER_BASES),
    ("OrderStep", types.OrderStep, law.ORDER_STEPS),
    ("OrderOutcome", types.OrderOutcome, law.ORDER_OUTCOMES),
]


@pytest.mark.parametrize(("name", "literal", "table"), SAME_SETS, ids=[s[0] for s in SAME_SETS])
def test_a_closed_set_of_the_events_is_the_laws_table(
    name: str, literal: Any, table: tuple[str, ...]
) -> None:
    # the same values in the same order (the report lists them in the law's order)
    assert get_args(literal) == table, f"events.types.{name} differs from projections.law"


def test_the_grounds_are_the_regulations_four_and_not_recorded() -> None:
    # Regs 5(4), 10(4), 13(3): grounds (a) to (d), each worded with its letter, in order;
    # "not_recorded" (SEN2's flag) is a value the events accept, not a ground in law
    assert [words[:3] for words in law.EXCEPTION_GROUNDS.values()] == ["(a)", "(b)", "(c)", "(d)"]
    assert law.GROUND_NOT_RECORDED not in law.EXCEPTION_GROUNDS


def test_the_exception_clocks_and_the_dfe_clocks_are_clocks() -> None:
    assert set(law.EXCEPTION_CLOCKS).issubset(law.CLOCK_IDS)
    # DfE publishes the 6, 16 and 20-week clocks leaving out exceptions
    assert law.DFE_EXCLUDING_EXCEPTIONS.issubset(law.EXCEPTION_CLOCKS)
    assert sorted(law.CLOCKS[c].days or 0 for c in law.DFE_EXCLUDING_EXCEPTIONS) == [42, 112, 140]


def test_an_event_that_opens_a_clock_is_an_event_type() -> None:
    assert law.OPENERS.issubset(types.EVENT_TYPES)


def test_an_appealable_decision_is_an_event_the_contract_has() -> None:
    for against, decisions in law.APPEALABLE.items():
        for decision in decisions:
            event_type = decision.split(":")[0]
            assert event_type in types.EVENT_TYPES, against


@pytest.mark.parametrize(
    ("clock", "words"),
    [
        ("assess_decision", "6 weeks"),  # 42 days
        ("no_plan_decision", "16 weeks"),  # 112 days
        ("final_plan", "20 weeks"),  # 140 days
        ("review_due", "12 months"),
        ("review_decision", "4 weeks"),  # 28 days
        ("amended_plan", "8 weeks"),  # 56 days
        ("contact_response", "5 working days"),
        ("phase_transfer", None),  # by a date: 15 February (31 March for post-16)
        ("tribunal_order", None),  # by the order's kind
    ],
)
def test_a_clocks_limit_in_words(clock: str, words: str | None) -> None:
    rule = law.CLOCKS[clock]
    assert law.limit_words(rule) == rule.limit == words


def test_days_in_words_are_weeks_when_whole_weeks() -> None:
    assert law.days_words(140) == "20 weeks"
    assert law.days_words(7) == "1 week"
    assert law.days_words(45) == "45 days"
    assert law.days_words(1) == "1 day"


def test_a_title_states_no_limit_the_label_adds_it() -> None:
    for rule in law.CLOCKS.values():
        limit = law.limit_words(rule)
        # the name never repeats the limit; the label is the name and the limit
        assert limit is None or limit not in rule.name, rule.id
        assert rule.label == (rule.name if limit is None else f"{rule.name} ({limit})")
    # the final plan is known by its limit ("the 20-week clock"): its title shows it
    assert law.CLOCKS["final_plan"].title == "Final EHC plan issued (20 weeks)"
    assert law.CLOCKS["assess_decision"].title == "Decision whether to assess"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("assess", "14 weeks (10 weeks if no plan); notify within 2 weeks"),
        ("make_plan", "11 weeks; draft within 5 weeks"),
        ("amend_plan", "5 weeks"),
        ("name_setting", "2 weeks"),
        ("maintain", "the same day"),
        ("reconsider", "2 weeks"),
    ],
)
def test_an_order_kinds_deadlines_in_words(kind: str, words: str) -> None:
    assert law.order_limit_words(law.ORDER_DEADLINES[kind]) == words


def test_an_orders_interim_step_says_what_it_requires() -> None:
    for order in law.ORDER_DEADLINES.values():
        assert (order.interim_step is None) == (order.interim_what is None), order.kind


def test_the_reports_words_for_the_exceptions_come_from_the_law() -> None:
    """Regs 5(4), 10(4) and 13(3): the 6, 16 and 20-week limits, four grounds; 44(3) for
    orders. The report's exceptions chapter puts them into words from projections.law."""
    from reports.document import exception_law

    assert exception_law() == {
        "limits": "6, 16 and 20-week",
        "grounds": "four",
        "citation": "regulations 5(4), 10(4) and 13(3)",
        "orders": "regulation 44(3)",
    }


def test_the_event_clock_table_names_event_types_and_clocks() -> None:
    """``EVENT_CLOCKS`` names only event types and clocks, and leaves out exactly the types
    the fold never lets change a clock (``CLOCKLESS``) and retractions (which undo events)."""
    from events import EVENT_TYPES
    from projections.case import CLOCKLESS

    actions = {"starts", "stops", "cancels", "excepts", "redates"}
    for kind, effects in law.EVENT_CLOCKS.items():
        assert kind in EVENT_TYPES
        for effect in effects:
            assert effect.action in actions and (
                effect.clock in law.CLOCKS or effect.clock == law.ANY_CLOCK
            )
    assert set(law.EVENT_CLOCKS) == set(EVENT_TYPES) - CLOCKLESS - {"event.retracted"}


def test_the_readme_shows_the_event_clock_table() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert law.wiring_table() in readme
