"""The `data` of every event type in contract v1.1 (CONTRACT.md section 1), one model a type.

Closed sets of values are ``Literal``s (validated in strict mode from the parsed JSON, where
an enum would want an instance of itself). A field a type does not define is rejected
(``extra="forbid"``): sendwatch keeps no personal data (section 1.1). Dates are ISO 8601
strings, checked by pattern here and for being real and plausible by ``events.codec``; the
stored record keeps them as they came.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# An ISO 8601 calendar date, YYYY-MM-DD (extended format): what ``date.fromisoformat``
# reads exactly as written. Python also reads other forms (a week date, the basic format,
# and "2025010112" as 1 January), so nothing else may reach a reader.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# A date, or a date and a time to the minute or second (fractions allowed), with an offset
# or Z or neither (then it is Europe/London time); "T" or a space between them.
DATE_OR_DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
# JSON numbers every reader holds exactly (section 1.1: integers outside +-2^53 are refused)
MAX_EXACT = 2**53


class Data(BaseModel):
    """Base of every event's ``data``: a field the type does not define is rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- closed sets ---------------------------------------------------------------------------

RequestedBy = Literal["parent", "young_person", "school", "health", "social_care", "other"]
AssessDecision = Literal["assess", "refuse"]
PlanDecision = Literal["issue", "not_issue"]
ExceptionClock = Literal["assess_decision", "no_plan_decision", "final_plan", "tribunal_order"]
ExceptionGround = Literal[
    "school_closure",
    "early_years_closure",
    "personal_circumstances",
    "absence",
    "not_recorded",  # the source says an exception applies, not which ground (SEN2's flag)
]
ReviewDecision = Literal["maintain", "amend", "cease"]
TransferKind = Literal["school", "post16"]
AppealAgainst = Literal[
    "refusal_to_assess",
    "refusal_to_issue",
    "contents",
    "placement",
    "refusal_to_amend",
    "refusal_to_reassess",
    "cease",
]
AppealOutcome = Literal["withdrawn", "conceded", "appellant_won", "la_won"]
OrderKind = Literal["assess", "make_plan", "amend_plan", "name_setting", "maintain", "reconsider"]
OrderBasis = Literal["order", "unopposed", "mediation"]
OrderStep = Literal["notify", "draft", "final"]
OrderOutcome = Literal["plan", "no_plan"]
LostReason = Literal["no_suitable_placement", "excluded", "health", "other"]
Provision = Literal["school", "eotas", "alternative"]
Channel = Literal["email", "phone", "portal", "letter"]
Met = Literal["met", "not_met"]
Grade = Literal["outstanding", "good", "requires_improvement", "inadequate"]
# SEN2's primary need codes
PrimaryNeed = Literal[
    "SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "DS", "OTH"
]

Id = Field(min_length=1, max_length=128)

# --- assessment and plans ------------------------------------------------------------------


class RequestReceived(Data):
    requested_by: RequestedBy
    setting_id: str | None = None


class AssessmentDecided(Data):
    decision: AssessDecision


class PlanDecided(Data):
    decision: PlanDecision


class Empty(Data):
    pass


class PlanIssued(Data):
    setting_id: str | None = None
    setting_type: str | None = None
    primary_need: PrimaryNeed | None = None


class ExceptionApplied(Data):
    clock: ExceptionClock
    ground: ExceptionGround
    family_told: bool | None = None
    order_id: str | None = None


class PlanCeased(Data):
    reason: str


# --- reviews, amendments, phase transfer ---------------------------------------------------


class ReviewDecided(Data):
    decision: ReviewDecision


class ReviewComplianceChecked(Data):
    setting_id: str = Field(min_length=1)
    compliant: bool
    failures: list[str]


class TransferDue(Data):
    transfer_date: str = Field(
        pattern=DATE_PATTERN,
        description="ISO 8601 date, YYYY-MM-DD, 2000-01-01 to 2100-12-31",
        json_schema_extra={"format": "date"},
    )
    kind: TransferKind


class TransferSettingNamed(Data):
    setting_id: str | None = None


# --- appeals and tribunal ------------------------------------------------------------------


class AppealRegistered(Data):
    appeal_id: str = Id
    against: AppealAgainst


class AppealConcluded(Data):
    appeal_id: str = Id
    outcome: AppealOutcome


class TribunalOrderMade(Data):
    order_id: str = Id
    kind: OrderKind
    basis: OrderBasis
    appeal_id: str | None = None


class TribunalOrderStepDone(Data):
    order_id: str = Id
    step: OrderStep
    outcome: OrderOutcome | None = None


# --- education, EOTAS, contact, caseworkers, quality, SEN support --------------------------


class EducationLost(Data):
    reason: LostReason


class EducationResumed(Data):
    provision: Provision


HOURS_IN_A_WEEK = 168


class EotasAgreedV1(Data):
    """Schema 1 of ``eotas.agreed``: the annual cost in pounds, as a number."""

    hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_IN_A_WEEK)
    annual_cost: float | None = Field(default=None, ge=0, le=MAX_EXACT // 100)


class EotasAgreed(Data):
    """Schema 2 of ``eotas.agreed``: money as whole pence, so sums are exact."""

    hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_IN_A_WEEK)
    annual_cost_pence: int | None = Field(default=None, ge=0, le=MAX_EXACT)


class ContactReceived(Data):
    contact_id: str = Id
    channel: Channel


class ContactResponded(Data):
    contact_id: str = Id
    automated: bool


class CaseworkerAssigned(Data):
    caseworker_id: str = Id
    team: str | None = None  # the team or locality the caseworker works in


class PlanAudited(Data):
    section_b: Met
    section_e: Met
    section_f: Met
    grade: Grade | None = None


class SenSupportStarted(Data):
    setting_id: str = Field(min_length=1)


class SenSupportEnded(Data):
    """With ``setting_id``, only the SEN support at that setting ends."""

    setting_id: str | None = Field(default=None, min_length=1)


class EventRetracted(Data):
    event_id: str = Id
    reason: str


# The current (newest) schema of each type's data. Older schemas are upcast on read
# (see ``events.upcast``); the contract's documented shapes are schema 1.
DATA_MODELS: dict[str, type[Data]] = {
    "request.received": RequestReceived,
    "assessment.decided": AssessmentDecided,
    "plan.decided": PlanDecided,
    "plan.draft_issued": Empty,
    "plan.issued": PlanIssued,
    "exception.applied": ExceptionApplied,
    "request.withdrawn": Empty,
    "plan.ceased": PlanCeased,
    "review.meeting_held": Empty,
    "review.decided": ReviewDecided,
    "amendment.proposed": Empty,
    "plan.amended": Empty,
    "review.compliance_checked": ReviewComplianceChecked,
    "transfer.due": TransferDue,
    "transfer.setting_named": TransferSettingNamed,
    "appeal.registered": AppealRegistered,
    "appeal.concluded": AppealConcluded,
    "tribunal.order_made": TribunalOrderMade,
    "tribunal.order_step_done": TribunalOrderStepDone,
    "education.lost": EducationLost,
    "education.resumed": EducationResumed,
    "eotas.requested": Empty,
    "eotas.agreed": EotasAgreed,
    "eotas.started": Empty,
    "eotas.ended": Empty,
    "contact.received": ContactReceived,
    "contact.responded": ContactResponded,
    "caseworker.assigned": CaseworkerAssigned,
    "plan.audited": PlanAudited,
    "sen_support.started": SenSupportStarted,
    "sen_support.ended": SenSupportEnded,
    "event.retracted": EventRetracted,
}

EVENT_TYPES: tuple[str, ...] = tuple(DATA_MODELS)
