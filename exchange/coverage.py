"""What an import can support: per clock and per measure, whether the mapping makes the events
it needs and whether this import's data held any (docs/mapping.md, "Coverage").

A council that loads its SEN2 return must not read a 100% "right first time" as good news when
the return holds no appeals, nor a caseworker figure made of nothing. ``coverage`` says so per
clock and measure, from the event types the mapping can make and the types this import made,
with the mapping's own notes (``coverage:`` in the mapping file) beside them.
"""

from __future__ import annotations

from collections.abc import Mapping as Counts
from dataclasses import dataclass
from typing import Any, Literal

from projections.law import CLOCK_IDS

# Per clock (CONTRACT.md section 2, projections/law.py): the events that start it and those
# that stop it. tests/test_coverage.py holds this to the law's clock ids and the contract's
# types.
CLOCK_EVENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assess_decision": (("request.received",), ("assessment.decided",)),
    "no_plan_decision": (("request.received",), ("plan.decided",)),
    "final_plan": (("request.received",), ("plan.issued",)),
    "review_due": (("plan.issued", "review.decided"), ("review.decided",)),
    "review_decision": (("review.meeting_held",), ("review.decided",)),
    "amended_plan": (("amendment.proposed",), ("plan.amended",)),
    "phase_transfer": (("transfer.due",), ("transfer.setting_named",)),
    "tribunal_order": (("tribunal.order_made",), ("tribunal.order_step_done",)),
    "contact_response": (("contact.received",), ("contact.responded",)),
}

# Per measure besides the clocks (CONTRACT.md section 3): the groups of events it needs, each
# group named by what it is for; a measure is supported when every group has a type made.
MEASURE_EVENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "appeals": {"appeals": ("appeal.registered", "appeal.concluded")},
    "first_time_right": {
        "decisions": (
            "assessment.decided",
            "plan.decided",
            "plan.issued",
            "plan.amended",
            "review.decided",
            "plan.ceased",
        ),
        "appeals": ("appeal.registered", "appeal.concluded"),
    },
    "education": {
        "out of education": ("education.lost", "education.resumed"),
        "EOTAS": ("eotas.requested", "eotas.started"),
    },
    "caseworkers": {"assignments": ("caseworker.assigned",)},
    "plan_quality": {"audits": ("plan.audited",)},
    "review_compliance": {"checks": ("review.compliance_checked",)},
    "sen_support": {"SEN support": ("sen_support.started", "sen_support.ended")},
}

SUBJECTS: tuple[str, ...] = (*CLOCK_EVENTS, *MEASURE_EVENTS)

Verdict = Literal["supported", "partly", "none in this data", "not supported"]
WORDS: dict[Verdict, str] = {
    "supported": "the data makes the events it needs",
    "partly": "the data makes some of the events it needs",
    "none in this data": "the mapping can make its events, but this data held none",
    "not supported": "the mapping makes none of the events it needs",
}


@dataclass(frozen=True, slots=True)
class Covered:
    subject: str
    verdict: Verdict
    needs: dict[str, tuple[str, ...]]  # group -> event types
    missing: tuple[str, ...]  # the groups no event of this import falls in
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "needs": {group: list(types) for group, types in self.needs.items()},
            "missing": list(self.missing),
            "note": self.note,
        }


def _needs(subject: str) -> dict[str, tuple[str, ...]]:
    if subject in CLOCK_EVENTS:
        starts, stops = CLOCK_EVENTS[subject]
        return {"start": starts, "stop": stops}
    return MEASURE_EVENTS[subject]


def coverage(
    can: set[str], made: Counts[str, int], notes: Counts[str, str] | None = None
) -> list[Covered]:
    """Per clock (in the law's order) and then per measure: what an import supports, from
    the event types its mapping ``can`` make (``Mapping.types``), the number of each it
    ``made``, and the mapping's ``notes`` (its ``coverage:``)."""
    notes = notes or {}
    found = {kind for kind, n in made.items() if n}
    out: list[Covered] = []
    for subject in (*CLOCK_IDS, *MEASURE_EVENTS):
        needs = _needs(subject)
        missing = tuple(g for g, types in needs.items() if not found.intersection(types))
        mappable = [g for g, types in needs.items() if can.intersection(types)]
        verdict: Verdict
        if not missing:
            verdict = "supported"
        elif len(missing) < len(needs):
            verdict = "partly"  # some of what it needs is in the data
        elif len(mappable) == len(needs):
            verdict = "none in this data"
        else:
            verdict = "not supported"  # nothing in the data, and the mapping cannot make it all
        out.append(Covered(subject, verdict, needs, missing, notes.get(subject)))
    return out
