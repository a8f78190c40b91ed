"""The `data` of every event type in contract v1.1 (CONTRACT.md section 1), one model a type.

Closed sets of values are ``Literal``s (validated in strict mode from the parsed JSON, where
an enum would want an instance of itself). A field a type does not define is rejected
(``extra="forbid"``): sendwatch keeps no personal data (section 1.1). Dates are ISO 8601
strings, checked by pattern here and for being real and plausible by ``events.codec``; the
stored record keeps them as they came.
"""

from __future__ import annotations

from typing import Any, Literal

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


def _id(description: str) -> Any:
    """A required identifier of 1 to 128 characters, described for the data dictionary."""
    return Field(min_length=1, max_length=128, description=description)


SETTING = (
    "The school, college or other setting, as the council's own reference for it (such as "
    "its URN, for example `URN-140218`): never a child's name or address."
)

# --- assessment and plans ------------------------------------------------------------------


class RequestReceived(Data):
    """The council has received a request for an EHC needs assessment. Send it with the date
    the request arrived. It starts the 6-week clock for deciding whether to assess, the
    20-week clock for issuing the final plan; should the council later decide not to issue
    a plan, that decision's 16 weeks also count from here. A second request while one is
    still open (its final plan neither issued nor cancelled) is kept in the history but
    starts nothing."""

    requested_by: RequestedBy = Field(
        description="Who asked for the assessment: `parent`, `young_person`, `school`, "
        "`health`, `social_care` or `other`."
    )
    setting_id: str | None = Field(
        default=None,
        description="The setting the child attends or that made the request. "
        + SETTING
        + " Optional: leave it out when there is none or it is not known.",
    )


class AssessmentDecided(Data):
    """The council has decided whether to carry out an EHC needs assessment. It stops the
    6-week clock. A refusal also cancels the request's 20-week clock (it is not counted) and
    is a decision a family may appeal."""

    decision: AssessDecision = Field(
        description="`assess` (the council will assess) or `refuse` (it will not)."
    )


class PlanDecided(Data):
    """After an assessment, the council has decided whether to issue an EHC plan. A decision
    `not_issue` completes the 16-week clock (counted from the request), cancels the 20-week
    clock and may be appealed; a decision `issue` leaves the 20-week clock running until the
    final plan is issued."""

    decision: PlanDecision = Field(
        description="`issue` (a plan will be written) or `not_issue` (no plan)."
    )


class Empty(Data):
    """Base of the types whose ``data`` has no fields (send `{}` or leave `data` out)."""


class PlanDraftIssued(Empty):
    """The council has sent the family the draft EHC plan. It is kept in the case's history
    and starts or stops no clock. `data` has no fields."""


class PlanIssued(Data):
    """The council has issued the final EHC plan. It stops the 20-week clock that began with
    the request and starts the 12-month annual review clock. Issuing a plan is a decision a
    family may appeal (its contents or the placement)."""

    setting_id: str | None = Field(
        default=None,
        description="The setting named in the plan. "
        + SETTING
        + " Optional: leave it out when the plan names none yet.",
    )
    setting_type: str | None = Field(
        default=None,
        description="The kind of setting named, in the council's own words (for example "
        "`mainstream`, `special`, `independent_special`, `further_education`). Optional.",
    )
    primary_need: PrimaryNeed | None = Field(
        default=None,
        description="The child's primary need as a SEN2 code: `SPLD`, `MLD`, `SLD`, `PMLD`, "
        "`SEMH`, `SLCN`, `HI`, `VI`, `MSI`, `PD`, `ASD`, `DS` or `OTH`. Optional: leave it "
        "out when it is not recorded.",
    )


class ExceptionApplied(Data):
    """One of the exceptions in the regulations applies to a clock of this case (for
    example the family was away from the area for four weeks or more), so the time limit
    does not bind. The clock raises no breach alert and is left out of the rate "excluding
    exceptions". It applies even when sent after the clock stopped."""

    clock: ExceptionClock = Field(
        description="The clock it lifts: `assess_decision` (6 weeks), `no_plan_decision` "
        "(16 weeks), `final_plan` (20 weeks) or `tribunal_order`."
    )
    ground: ExceptionGround = Field(
        description="Why: `school_closure` or `early_years_closure` (advice asked just before "
        "a closure of 4 weeks or more), `personal_circumstances` (exceptional circumstances "
        "of the child or family), `absence` (away from the area), or `not_recorded` (the "
        "source says an exception applies but not which, as SEN2's 20-week flag)."
    )
    family_told: bool | None = Field(
        default=None,
        description="`true` if the family was told of the exception and the reason, `false` "
        "if not. Optional: leave it out when it is not known.",
    )
    order_id: str | None = Field(
        default=None,
        description="For the `tribunal_order` clock, which order it applies to (the "
        "`order_id` of its `tribunal.order_made`). Optional: left out, it applies to the "
        "case's latest order.",
    )


class RequestWithdrawn(Empty):
    """The request for an assessment has been withdrawn. Every open clock of that request is
    cancelled and not counted. `data` has no fields."""


class PlanCeased(Data):
    """The council has stopped maintaining the EHC plan. It cancels the plan's open annual
    review, review decision, amended plan and phase transfer clocks; tribunal orders and
    contacts run on. Ceasing a plan is a decision a family may appeal."""

    reason: str = Field(
        description="Why the plan ceased, in the council's words or a code (such as SEN2's "
        "cease reason: needs met, moved to another council, over the age limit). Required; "
        "never a child's personal details."
    )


# --- reviews, amendments, phase transfer ---------------------------------------------------


class ReviewMeetingHeld(Empty):
    """An annual review meeting for the plan has been held. It starts the 4-week clock for
    the council to tell the family whether it will keep, amend or cease the plan. A second
    meeting while a decision is still pending starts nothing. `data` has no fields."""


class ReviewDecided(Data):
    """The council has told the family its decision after an annual review. It stops the
    4-week review decision clock and the 12-month annual review clock, and (unless the
    decision is to cease) starts the next 12 months. Keeping the plan unchanged or ceasing it
    may be appealed."""

    decision: ReviewDecision = Field(
        description="`maintain` (keep the plan as it is), `amend` (change it) or `cease` "
        "(stop maintaining it)."
    )


class AmendmentProposed(Empty):
    """The council has sent the family proposed amendments to the plan. It starts the
    8-week clock for the final amended plan. A second proposal while one is pending starts
    nothing. `data` has no fields."""


class PlanAmended(Empty):
    """The council has issued the final amended plan. It stops the 8-week amended plan clock
    (it does not restart the 12 months to the next review) and is a decision a family may
    appeal. `data` has no fields."""


class ReviewComplianceChecked(Data):
    """The council has checked whether a setting carried out an annual review lawfully. It
    feeds the review compliance measure by setting; it starts or stops no clock."""

    setting_id: str = Field(
        min_length=1, description="The setting that held the review. " + SETTING + " Required."
    )
    compliant: bool = Field(description="`true` if the review met every requirement.")
    failures: list[str] = Field(
        description="What was not met, each in a few words (such as `no parent views`); an "
        "empty list `[]` when there are none. Required."
    )


class TransferDue(Data):
    """The child has a move between phases of education coming up (into primary, secondary
    or post-16), so the plan must be reviewed and amended to name the new setting by a set
    date. It starts the phase transfer clock: due on 15 February of the year of the transfer
    (31 March for a move into post-16). A second one with another date or kind replaces the
    open one (which is cancelled); the same one again changes nothing."""

    transfer_date: str = Field(
        pattern=DATE_PATTERN,
        description="The date the child moves, as `YYYY-MM-DD` (2000-01-01 to 2100-12-31). "
        "Required.",
        json_schema_extra={"format": "date"},
    )
    kind: TransferKind = Field(
        description="`school` (a move between schools, such as primary to secondary) or "
        "`post16` (secondary school to post-16)."
    )


class TransferSettingNamed(Data):
    """The plan has been amended to name the child's setting after the transfer. It stops
    the phase transfer clock."""

    setting_id: str | None = Field(
        default=None,
        description="The setting named. " + SETTING + " Optional: leave it out when not known.",
    )


# --- appeals and tribunal ------------------------------------------------------------------


class AppealRegistered(Data):
    """A family has appealed to the First-tier Tribunal (SEND) against a decision of the
    council. It is linked to the case's latest decision of that kind on or before this date,
    which feeds the "right first time" measure."""

    appeal_id: str = _id(
        "The council's reference for the appeal (1 to 128 characters), as sent again in "
        "`appeal.concluded` and `tribunal.order_made`. Required."
    )
    against: AppealAgainst = Field(
        description="What the appeal is against: `refusal_to_assess`, `refusal_to_issue` (a "
        "plan), `contents` (of the plan), `placement` (the setting named), "
        "`refusal_to_amend`, `refusal_to_reassess` or `cease` (ceasing the plan)."
    )


class AppealConcluded(Data):
    """An appeal has ended. An appeal the council conceded or lost counts the decision as
    overturned in the "right first time" measure."""

    appeal_id: str = _id("Which appeal: the `appeal_id` of its `appeal.registered`. Required.")
    outcome: AppealOutcome = Field(
        description="`withdrawn` (by the family), `conceded` (the council gave way before the "
        "hearing), `appellant_won` (decided at least partly for the family) or `la_won` "
        "(decided for the council)."
    )


class TribunalOrderMade(Data):
    """The tribunal has ordered the council to do something (or the council has told the
    tribunal it will not oppose an appeal, or agreed it at mediation). It starts the
    tribunal order clock, whose deadline depends on the kind of order."""

    order_id: str = _id(
        "The council's reference for the order (1 to 128 characters), as sent again in "
        "`tribunal.order_step_done`. Required."
    )
    kind: OrderKind = Field(
        description="What must be done: `assess` (2 weeks to say it will, then 10 or 14 "
        "weeks), `make_plan` (draft 5 weeks, final 11 weeks), `amend_plan` (5 weeks), "
        "`name_setting` (2 weeks), `maintain` (at once) or `reconsider` (2 weeks)."
    )
    basis: OrderBasis = Field(
        description="Where the duty comes from: `order` (the tribunal's order), `unopposed` "
        "(the council's notice that it will not oppose the appeal) or `mediation` (a "
        "mediation agreement)."
    )
    appeal_id: str | None = Field(
        default=None,
        description="The appeal it ended (its `appeal_id`). Optional: leave it out when not "
        "known or there was none.",
    )


class TribunalOrderStepDone(Data):
    """The council has done a step of what a tribunal order requires. The final step stops
    the order's clock."""

    order_id: str = _id("Which order: the `order_id` of its `tribunal.order_made`. Required.")
    step: OrderStep = Field(
        description="`notify` (told the family it will assess), `draft` (draft plan sent) or "
        "`final` (the ordered action done: it stops the clock)."
    )
    outcome: OrderOutcome | None = Field(
        default=None,
        description="For an `assess` order's `final` step: `plan` (a plan was issued: 14 "
        "weeks) or `no_plan` (the family was told there will be none: 10 weeks). Optional: "
        "leave it out for other steps and orders.",
    )


# --- education, EOTAS, contact, caseworkers, quality, SEN support --------------------------


class EducationLost(Data):
    """The child has stopped receiving suitable education (no school place, excluded, too
    unwell to attend). It opens a spell out of education, counted until
    `education.resumed`."""

    reason: LostReason = Field(
        description="Why: `no_suitable_placement`, `excluded`, `health` or `other`."
    )


class EducationResumed(Data):
    """The child is receiving suitable education again. It closes the open spell out of
    education."""

    provision: Provision = Field(
        description="What the child now has: `school` (a school or college place), `eotas` "
        "(education otherwise than at school) or `alternative` (alternative provision)."
    )


class EotasRequested(Empty):
    """Education otherwise than at school (EOTAS) has been asked for. The time from here to
    `eotas.started` is measured. `data` has no fields."""


HOURS_IN_A_WEEK = 168
HOURS = "Hours of education a week in the package (0 to 168). Optional."


class EotasAgreedV1(Data):
    """The council has agreed an EOTAS package (schema 1 of `eotas.agreed`, still read:
    the annual cost in pounds). It is kept in the case's history and starts or stops no
    clock."""

    hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_IN_A_WEEK, description=HOURS)
    annual_cost: float | None = Field(
        default=None,
        ge=0,
        le=MAX_EXACT // 100,
        description="The package's cost a year in pounds (such as `18500.5`). Optional.",
    )


class EotasAgreed(Data):
    """The council has agreed an EOTAS package (send `"schema": 2`: money in whole pence).
    It is kept in the case's history and starts or stops no clock."""

    hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_IN_A_WEEK, description=HOURS)
    annual_cost_pence: int | None = Field(
        default=None,
        ge=0,
        le=MAX_EXACT,
        description="The package's cost a year in whole pence (£18,500.50 is `1850050`), so "
        "sums are exact. Optional.",
    )


class EotasStarted(Empty):
    """An EOTAS package has started for the child. It counts as an EOTAS start, measured
    from the latest `eotas.requested` before it. `data` has no fields."""


class EotasEnded(Empty):
    """An EOTAS package has ended. It is kept in the case's history. `data` has no
    fields."""


class ContactReceived(Data):
    """A family's email, call, portal message or letter has reached the SEND service. It
    starts the 5-working-day clock for a reply from a person (the day received is day 0;
    weekends and bank holidays in England and Wales do not count)."""

    contact_id: str = _id(
        "The council's reference for the contact (1 to 128 characters), as sent again in "
        "`contact.responded`. Required."
    )
    channel: Channel = Field(description="How it came: `email`, `phone`, `portal` or `letter`.")


class ContactResponded(Data):
    """The service has replied to a contact. A reply from a person stops the 5-working-day
    clock; an automated one (an acknowledgement) does not."""

    contact_id: str = _id("Which contact: the `contact_id` of its `contact.received`. Required.")
    automated: bool = Field(
        description="`true` for an automatic acknowledgement (does not stop the clock), "
        "`false` for a reply from a person."
    )


class CaseworkerAssigned(Data):
    """A caseworker has been given the case (the first or a new one). Changes of caseworker
    are counted per case."""

    caseworker_id: str = _id(
        "A pseudonymous staff reference (1 to 128 characters), never a name. Required."
    )
    team: str | None = Field(
        default=None,
        description="The team or locality the caseworker works in. Optional.",
    )


class PlanAudited(Data):
    """A plan has been audited for quality. It feeds the plan quality measure: how many
    audited plans meet the standard for sections B, E and F."""

    section_b: Met = Field(
        description="Section B (all the child's needs described): `met` or `not_met`."
    )
    section_e: Met = Field(
        description="Section E (outcomes that are specific and measurable): `met` or `not_met`."
    )
    section_f: Met = Field(
        description="Section F (provision specified and quantified): `met` or `not_met`."
    )
    grade: Grade | None = Field(
        default=None,
        description="The overall grade: `outstanding`, `good`, `requires_improvement` or "
        "`inadequate`. Optional.",
    )


class SenSupportStarted(Data):
    """A setting has started giving the child SEN support (help for special educational
    needs without an EHC plan). The child counts as on SEN support at that setting until
    `sen_support.ended`."""

    setting_id: str = Field(
        min_length=1, description="The setting giving the support. " + SETTING + " Required."
    )


class SenSupportEnded(Data):
    """The child's SEN support has ended."""

    setting_id: str | None = Field(
        default=None,
        min_length=1,
        description="The setting whose support ended. " + SETTING + " Optional: with it, only "
        "the support at that setting ends (so a move between settings on one day is an end "
        "and a start); left out, whatever support is open ends.",
    )


class EventRetracted(Data):
    """An earlier event was a mistake: from this event's `recorded_at` on, it counts as
    never having happened (questions asked "as at" an earlier time still see it). A
    retracted retraction brings its event back. To correct an event, retract it and send
    the corrected one under a new `event_id`."""

    event_id: str = _id("The `event_id` of the event to undo. Required.")
    reason: str = Field(
        description="Why it is retracted, in a few words (such as `entered on the wrong "
        "case`). Required; never personal details."
    )


# The current (newest) schema of each type's data. Older schemas are upcast on read
# (see ``events.upcast``); the contract's documented shapes are schema 1.
DATA_MODELS: dict[str, type[Data]] = {
    "request.received": RequestReceived,
    "assessment.decided": AssessmentDecided,
    "plan.decided": PlanDecided,
    "plan.draft_issued": PlanDraftIssued,
    "plan.issued": PlanIssued,
    "exception.applied": ExceptionApplied,
    "request.withdrawn": RequestWithdrawn,
    "plan.ceased": PlanCeased,
    "review.meeting_held": ReviewMeetingHeld,
    "review.decided": ReviewDecided,
    "amendment.proposed": AmendmentProposed,
    "plan.amended": PlanAmended,
    "review.compliance_checked": ReviewComplianceChecked,
    "transfer.due": TransferDue,
    "transfer.setting_named": TransferSettingNamed,
    "appeal.registered": AppealRegistered,
    "appeal.concluded": AppealConcluded,
    "tribunal.order_made": TribunalOrderMade,
    "tribunal.order_step_done": TribunalOrderStepDone,
    "education.lost": EducationLost,
    "education.resumed": EducationResumed,
    "eotas.requested": EotasRequested,
    "eotas.agreed": EotasAgreed,
    "eotas.started": EotasStarted,
    "eotas.ended": EotasEnded,
    "contact.received": ContactReceived,
    "contact.responded": ContactResponded,
    "caseworker.assigned": CaseworkerAssigned,
    "plan.audited": PlanAudited,
    "sen_support.started": SenSupportStarted,
    "sen_support.ended": SenSupportEnded,
    "event.retracted": EventRetracted,
}

EVENT_TYPES: tuple[str, ...] = tuple(DATA_MODELS)
