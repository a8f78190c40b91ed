"""The `data` of every event type in contract v1 (CONTRACT.md section 1), one model a type.

Closed sets of values are enums; unknown fields are kept (``extra="allow"``), never rejected.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Data(BaseModel):
    """Base of every event's ``data``: unknown fields are kept as they came."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


# --- closed sets ---------------------------------------------------------------------------


class RequestedBy(StrEnum):
    parent = "parent"
    young_person = "young_person"
    school = "school"
    health = "health"
    social_care = "social_care"
    other = "other"


class AssessDecision(StrEnum):
    assess = "assess"
    refuse = "refuse"


class PlanDecision(StrEnum):
    issue = "issue"
    not_issue = "not_issue"


class ExceptionClock(StrEnum):
    assess_decision = "assess_decision"
    no_plan_decision = "no_plan_decision"
    final_plan = "final_plan"
    tribunal_order = "tribunal_order"


class ExceptionGround(StrEnum):
    school_closure = "school_closure"
    early_years_closure = "early_years_closure"
    personal_circumstances = "personal_circumstances"
    absence = "absence"


class ReviewDecision(StrEnum):
    maintain = "maintain"
    amend = "amend"
    cease = "cease"


class TransferKind(StrEnum):
    school = "school"
    post16 = "post16"


class AppealAgainst(StrEnum):
    refusal_to_assess = "refusal_to_assess"
    refusal_to_issue = "refusal_to_issue"
    contents = "contents"
    placement = "placement"
    refusal_to_amend = "refusal_to_amend"
    refusal_to_reassess = "refusal_to_reassess"
    cease = "cease"


class AppealOutcome(StrEnum):
    withdrawn = "withdrawn"
    conceded = "conceded"
    appellant_won = "appellant_won"
    la_won = "la_won"


class OrderKind(StrEnum):
    assess = "assess"
    make_plan = "make_plan"
    amend_plan = "amend_plan"
    name_setting = "name_setting"
    maintain = "maintain"
    reconsider = "reconsider"


class OrderBasis(StrEnum):
    order = "order"
    unopposed = "unopposed"
    mediation = "mediation"


class OrderStep(StrEnum):
    notify = "notify"
    draft = "draft"
    final = "final"


class OrderOutcome(StrEnum):
    plan = "plan"
    no_plan = "no_plan"


class LostReason(StrEnum):
    no_suitable_placement = "no_suitable_placement"
    excluded = "excluded"
    health = "health"
    other = "other"


class Provision(StrEnum):
    school = "school"
    eotas = "eotas"
    alternative = "alternative"


class Channel(StrEnum):
    email = "email"
    phone = "phone"
    portal = "portal"
    letter = "letter"


class Met(StrEnum):
    met = "met"
    not_met = "not_met"


class Grade(StrEnum):
    outstanding = "outstanding"
    good = "good"
    requires_improvement = "requires_improvement"
    inadequate = "inadequate"


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
    transfer_date: date
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


class EotasAgreedV1(Data):
    """Schema 1 of ``eotas.agreed``: the annual cost in pounds, as a number."""

    hours_per_week: float | None = Field(default=None, ge=0)
    annual_cost: float | None = Field(default=None, ge=0)


class EotasAgreed(Data):
    """Schema 2 of ``eotas.agreed``: money as whole pence, so sums are exact."""

    hours_per_week: float | None = Field(default=None, ge=0)
    annual_cost_pence: int | None = Field(default=None, ge=0)


class ContactReceived(Data):
    contact_id: str = Id
    channel: Channel


class ContactResponded(Data):
    contact_id: str = Id
    automated: bool


class CaseworkerAssigned(Data):
    caseworker_id: str = Id


class PlanAudited(Data):
    section_b: Met
    section_e: Met
    section_f: Met
    grade: Grade | None = None


class SenSupportStarted(Data):
    setting_id: str = Field(min_length=1)


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
    "sen_support.ended": Empty,
    "event.retracted": EventRetracted,
}

EVENT_TYPES: tuple[str, ...] = tuple(DATA_MODELS)
