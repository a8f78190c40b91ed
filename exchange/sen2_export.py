"""The SEN2 return from events: the modules of DfE's person-level survey for a census date,
in the COLLECT "Blade" CSV layout, and their validation (docs/sen2-export.md).

The rows are the exact inverse of the shipped import mapping (``exchange/mappings/sen2.yml``):
``sendwatch import sen2`` of an export gives back, for every case, the events SEN2 can carry
for that census (the round trip of ``tests/test_sen2_export.py``). Where the guide and the
import mapping could disagree (what ``assessmentoutcomedate`` means), the mapping wins and
docs/sen2-export.md says so.

``build`` walks each case's events (in the fold's order, retractions already applied: a
``CaseFile.history``) into requests, plans and placements, keeps those in scope for the
census, and lays them out as rows; ``validate`` checks the rows (so a council's hand edits can
be checked too); ``write`` writes the CSVs and the report. Nothing here reads the log.

sendwatch holds no personal details: ``upn`` carries the pseudonymous case id, which the
council replaces with the child's UPN from its own system; names, birth dates and postcodes
are columns left empty for the council to fill.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from events import Event
from projections.case import apply_order
from projections.law import CLOCKS, TRANSFER_DEADLINE

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The Blade columns of each module, in file order. Those the import reads are named as
# sen2.yml reads them; the others (personal details, flags sendwatch does not hold) are left
# empty for the council, and their names follow witan.sen2's Blade reader (unverified).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sen2": ("sen2tableid", "collection", "year", "referencedate", "sourcelevel", "lea"),
    "person": (
        "persontableid",
        "sen2tableid",
        "surname",
        "forename",
        "personbirthdate",
        "gender",
        "ethnicity",
        "postcode",
        "upn",
        "uniquelearnernumber",
        "upnunknown",
    ),
    "requests": (
        "requeststableid",
        "persontableid",
        "receiveddate",
        "requestsource",
        "rya",
        "requestoutcomedate",
        "requestoutcome",
        "requestmediation",
        "requesttribunal",
        "exported",
    ),
    "assessment": (
        "assessmenttableid",
        "requeststableid",
        "assessmentoutcome",
        "assessmentoutcomedate",
        "assessmentmediation",
        "assessmenttribunal",
        "week20",
    ),
    "namedplan": ("namedplantableid", "assessmenttableid", "startdate", "ceasedate", "ceasereason"),
    # Since 2024/2025 module 5a also holds the latest review meeting, the review decision and
    # the phase transfer: their Blade names here (reviewmeeting onwards) are unverified.
    "activeplans": (
        "activeplanstableid",
        "requeststableid",
        "transferla",
        "lastreview",
        "reviewmeeting",
        "reviewoutcome",
        "phasetransferdue",
        "phasetransferkind",
        "phasetransferfinal",
    ),
    "placementdetail": (
        "placementdetailtableid",
        "activeplanstableid",
        "urn",
        "ukprn",
        "sensetting",
        "placementrank",
        "entrydate",
        "leavingdate",
    ),
    "senneed": ("senneedtableid", "activeplanstableid", "sentype", "sentyperank"),
}
MODULES = tuple(COLUMNS)

# The codes, as sen2.yml maps them (its inverse). Request outcome (module 2): A assess, J not
# to assess, W withdrawn, H historical; empty: ongoing. Assessment outcome (module 3): Y issue,
# N not to issue, W withdrawn, A not yet decided, H historical.
REQUEST_OUTCOMES = ("A", "J", "W", "H")
ASSESSMENT_OUTCOMES = ("Y", "N", "W", "A", "H")
CEASE_REASONS = {
    "reached the maximum age": "1",
    "needs met without a plan": "2",
    "moved on to higher education": "3",
    "moved on to paid employment": "4",
    "transferred to another council": "5",
    "young person no longer engaging in education or training": "6",
    "moved outside England": "7",
    "deceased": "8",
    "other": "9",
}
# Review decision (module 5a, 2024 on; unverified): M maintain, A amend, C cease. Phase
# transfer kind (not known to be in SEN2 at all; unverified): S school, P post-16.
REVIEW_OUTCOMES = {"maintain": "M", "amend": "A", "cease": "C"}
TRANSFER_KINDS = {"school": "S", "post16": "P"}
SEN_SETTINGS = ("OLA", "OPA", "EHE", "EYP", "OTH", "NEET", "NIEC", "NIEO")
SEN_TYPES = ("SPLD", "MLD", "SLD", "PMLD", "SEMH", "SLCN", "HI", "VI", "MSI", "PD", "ASD", "DS")
SEN_TYPES_ALL = (*SEN_TYPES, "OTH")
YES, NO = "1", "0"
CODE_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("requests", "requestoutcome"): ("", *REQUEST_OUTCOMES),
    ("assessment", "assessmentoutcome"): ASSESSMENT_OUTCOMES,
    ("assessment", "week20"): (YES, NO),
    ("namedplan", "ceasereason"): ("", *CEASE_REASONS.values()),
    ("activeplans", "reviewoutcome"): ("", *REVIEW_OUTCOMES.values()),
    ("activeplans", "phasetransferkind"): ("", *TRANSFER_KINDS.values()),
    ("placementdetail", "sensetting"): ("", *SEN_SETTINGS),
    ("senneed", "sentype"): SEN_TYPES_ALL,
}


def _days(clock: str) -> int:
    days = CLOCKS[clock].days
    assert days is not None
    return days


DATE_COLUMNS = {
    "requests": ("receiveddate", "requestoutcomedate"),
    "assessment": ("assessmentoutcomedate",),
    "namedplan": ("startdate", "ceasedate"),
    "activeplans": ("lastreview", "reviewmeeting", "phasetransferdue", "phasetransferfinal"),
    "placementdetail": ("entrydate", "leavingdate"),
}

# A deadline, not a day something happened: it may fall after census day.
DEADLINES = {("activeplans", "phasetransferdue")}

ASSESS_DECISION_DAYS = _days("assess_decision")  # 6 weeks (law.py: reg 5(1))
FINAL_PLAN_DAYS = _days("final_plan")  # 20 weeks (law.py: reg 13(2))

# Each check: its name and what it finds (the validation report lists them all).
CHECKS: dict[str, str] = {
    "outcome_date_missing": "an outcome is given without its date",
    "request_outcome_missing": "a request received more than 6 weeks before census day has "
    "no outcome: confirm it is still ongoing, or add the decision",
    "assessment_outcome_missing": "an assessment whose request was received more than 20 "
    "weeks before census day has no outcome: confirm it is still ongoing, or add the decision",
    "dates_out_of_order": "dates must run received <= request outcome <= assessment outcome "
    "<= plan start <= cease date (and entry <= leaving, plan start <= last review)",
    "date_after_census": "a date falls after census day",
    "code_not_in_list": "a code is not one of its item's codes",
    "plan_without_request": "a plan started in the census year has no request (only a "
    "historical one, H): a new plan needs its request in the return",
    "review_overdue": "an active plan older than 12 months has no review decision in the 12 "
    "months before census day",
    "cease_reason_missing": "a ceased plan has no cease reason",
}

# What the council adds from its own system: module, items, why.
COUNCIL_ADDS: tuple[tuple[str, str, str], ...] = (
    (
        "person",
        "upn (or uniquelearnernumber for a young person with no UPN)",
        "upn holds sendwatch's pseudonymous case id: replace it with the child's UPN",
    ),
    (
        "person",
        "surname, forename, personbirthdate, gender, ethnicity, postcode, upnunknown",
        "personal details: sendwatch holds none",
    ),
    (
        "requests",
        "requestsource, rya, requestmediation, requesttribunal, exported",
        "not held as SEN2 codes by sendwatch (request source codes unverified)",
    ),
    (
        "assessment",
        "assessmentmediation, assessmenttribunal",
        "mediation and tribunal flags of the decision",
    ),
    (
        "plandetail",
        "the whole module (urn, ukprn, sensetting of the setting named in each plan)",
        "not produced: sendwatch's setting ids are not URNs",
    ),
    ("activeplans", "transferla", "the LA a plan transferred from, not held"),
    (
        "activeplans",
        "reviewmeeting, reviewoutcome, phasetransferdue, phasetransferkind, phasetransferfinal",
        "produced under Blade names that are unverified: rename them to the guide's",
    ),
    (
        "activeplans",
        "the date a draft amended plan was issued (2024 on)",
        "not produced: without the date the amendment was made, an imported draft would "
        "leave the amendment clock open",
    ),
    (
        "placementdetail",
        "every school and college placement (urn, ukprn, entrydate, leavingdate, rank)",
        "sendwatch holds only EOTAS (OLA) and out-of-education (NIEO) spells",
    ),
    (
        "senneed",
        "sentype for each active plan whose primary need sendwatch does not know",
        "primary need is optional on plan.issued",
    ),
)


def blade_date(day: date) -> str:
    """``2022-Sep-28 00:00:00``: the Blade export's dates (month names in English, whatever
    the locale)."""
    return f"{day.year:04d}-{MONTHS[day.month - 1]}-{day.day:02d} 00:00:00"


def parse_blade_date(text: str) -> date:
    year, month, rest = text.split("-", 2)
    return date(int(year), MONTHS.index(month) + 1, int(rest[:2]))


def census_year(census: date) -> tuple[date, date]:
    """The calendar year a census reports on: the one before the census date's."""
    return date(census.year - 1, 1, 1), date(census.year - 1, 12, 31)


# --- a case's events as SEN2's records ------------------------------------------------------


@dataclass
class Request:
    received: date
    assess: str | None = None  # "assess" or "refuse"
    assess_date: date | None = None
    plan_decision: str | None = None  # "issue" or "not_issue"
    plan_decision_date: date | None = None
    withdrawn: date | None = None
    week20: bool = False
    issued: date | None = None
    end: date | None = None  # the day its outcome was final (refused, no plan, withdrawn, plan)

    def open_on(self, day: date) -> bool:
        return self.received <= day and (self.end is None or self.end >= day)


@dataclass
class Plan:
    start: date
    request: Request | None
    primary_need: str | None = None
    ceased: date | None = None
    reason: str | None = None
    replaced: date | None = None  # the day a later plan was issued while this one was kept
    reviews: list[date] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # each review's decision, as reviews
    meetings: list[date] = field(default_factory=list)
    transfer: Transfer | None = None  # the latest phase transfer while the plan was kept


@dataclass
class Transfer:
    """A phase transfer: its deadline (15 February, or 31 March for post-16, of the year of
    the move), its kind, and the day the new setting was named (if by census day)."""

    deadline: date
    kind: str
    named: date | None = None


@dataclass
class Spell:
    setting: str  # OLA (EOTAS) or NIEO (out of education)
    entered: date
    left: date | None = None


@dataclass
class Records:
    requests: list[Request] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    spells: list[Spell] = field(default_factory=list)


def records(events: Iterable[Event], census: date) -> Records:
    """A case's requests, plans and spells as known on census day (later events ignored)."""
    out = Records()
    request: Request | None = None  # the open request
    last: Request | None = None  # the latest request, open or not
    plan: Plan | None = None  # the plan being maintained
    open_spells: dict[str, Spell] = {}
    for event in sorted(events, key=apply_order):
        day, kind, data = event.day, event.type, event.data
        if day > census:
            break
        if kind == "request.received":
            if request is None:
                request = last = Request(day)
                out.requests.append(request)
        elif kind == "assessment.decided" and request is not None and request.assess is None:
            if request.plan_decision is not None:
                continue  # too late: the decision on the plan implies the one to assess
            request.assess, request.assess_date = data["decision"], day
            if data["decision"] == "refuse":
                request.end, request = day, None
        elif kind == "plan.decided" and request is not None and request.plan_decision is None:
            request.plan_decision, request.plan_decision_date = data["decision"], day
            if data["decision"] == "not_issue":
                request.end, request = day, None
        elif kind == "request.withdrawn" and request is not None:
            request.withdrawn = request.end = day
            request = None
        elif kind == "exception.applied" and data.get("clock") == "final_plan":
            if last is not None:
                last.week20 = True
        elif kind == "plan.issued":
            if plan is not None:
                plan.replaced = day  # a new plan while it was maintained: no cease in SEN2
            kept = plan
            plan = Plan(day, request, data.get("primary_need"))
            if kept is not None:  # a transfer or a pending review meeting runs on (the fold)
                plan.transfer, plan.meetings = kept.transfer, kept.meetings[-1:]
            out.plans.append(plan)
            if request is not None:
                request.issued = request.end = day
                request = None
        elif kind == "plan.ceased" and plan is not None:
            plan.ceased, plan.reason = day, data.get("reason")
            plan = None
        elif kind == "review.decided" and plan is not None:
            plan.reviews.append(day)
            plan.decisions.append(data["decision"])
        elif kind == "review.meeting_held" and plan is not None:
            plan.meetings.append(day)
        elif kind == "transfer.due" and plan is not None:
            moved = date.fromisoformat(data["transfer_date"])
            month, mday = TRANSFER_DEADLINE[data["kind"]]
            deadline = date(moved.year, month, mday)
            held = plan.transfer
            if held is None or (held.deadline, held.kind) != (deadline, data["kind"]):
                plan.transfer = Transfer(deadline, data["kind"])  # the same again: no change
        elif kind == "transfer.setting_named" and plan is not None:
            if plan.transfer is not None and plan.transfer.named is None:
                plan.transfer.named = day
        elif kind in ("eotas.started", "education.lost"):
            setting = "OLA" if kind == "eotas.started" else "NIEO"
            if setting not in open_spells:
                open_spells[setting] = spell = Spell(setting, day)
                out.spells.append(spell)
        elif kind in ("eotas.ended", "education.resumed"):
            ended = open_spells.pop("OLA" if kind == "eotas.ended" else "NIEO", None)
            if ended is not None:
                ended.left = day
    return out


# --- the modules ----------------------------------------------------------------------------

Row = dict[str, str]


@dataclass
class Sen2Export:
    census: date
    council: str
    modules: dict[str, list[Row]]
    cases: int = 0
    # cease reasons in sendwatch's words with no SEN2 code: (reason, plans), for the council
    uncoded: Counter[str] = field(default_factory=Counter)


def _row(module: str, **values: str) -> Row:
    row = dict.fromkeys(COLUMNS[module], "")
    row.update(values)
    return row


def _d(day: date | None) -> str:
    return "" if day is None else blade_date(day)


def build(cases: Iterable[tuple[str, Sequence[Event]]], census: date, council: str) -> Sen2Export:
    """The modules for ``census`` from each case's (case id, events). In scope
    (docs/sen2-export.md): requests received in the census year or still open at its start;
    plans issued by census day and not ceased before the year began (the request of an
    older plan is a historical request, H); for plans active on census day their latest
    review meeting, review decision and phase transfer, their EOTAS and out-of-education
    spells from the year's start, and the primary need if known."""
    first, _ = census_year(census)
    modules: dict[str, list[Row]] = {name: [] for name in MODULES}
    modules["sen2"].append(
        _row(
            "sen2",
            sen2tableid="1",
            collection="SEN2",
            year=str(census.year),
            referencedate=blade_date(census),
            sourcelevel="L",
            lea=council,
        )
    )
    ids: Counter[str] = Counter()

    def new_id(module: str) -> str:
        ids[module] += 1
        return str(ids[module])

    count = 0
    uncoded: Counter[str] = Counter()
    for case_id, events in sorted(cases, key=lambda pair: pair[0]):
        held = records(events, census)
        requests = [
            r for r in held.requests if r.received >= first or r.end is None or r.end >= first
        ]
        plans = [
            p
            for p in held.plans
            if (p.ceased is None or p.ceased >= first)
            and (p.replaced is None or p.replaced >= first)
        ]
        if not requests and not plans:
            continue
        count += 1
        person = new_id("person")
        modules["person"].append(_row("person", persontableid=person, sen2tableid="1", upn=case_id))
        request_ids: dict[int, str] = {}
        assessment_ids: dict[int, str] = {}
        for request in requests:
            rid, aid = _request_rows(modules, new_id, person, request)
            request_ids[id(request)] = rid
            if aid is not None:
                assessment_ids[id(request)] = aid
        for plan in plans:
            if plan.request is not None and id(plan.request) in assessment_ids:
                rid, aid = request_ids[id(plan.request)], assessment_ids[id(plan.request)]
            else:  # a plan whose request is not in scope (or not held): a historical request
                rid = new_id("requests")
                received = plan.request.received if plan.request is not None else None
                modules["requests"].append(
                    _row(
                        "requests",
                        requeststableid=rid,
                        persontableid=person,
                        receiveddate=_d(received),
                        requestoutcome="H",
                    )
                )
                aid = new_id("assessment")
                modules["assessment"].append(
                    _row(
                        "assessment",
                        assessmenttableid=aid,
                        requeststableid=rid,
                        assessmentoutcome="H",
                        week20=NO,
                    )
                )
            reason = _cease_code(plan.reason)
            if plan.ceased is not None and not reason:
                uncoded[plan.reason or "(none)"] += 1
            modules["namedplan"].append(
                _row(
                    "namedplan",
                    namedplantableid=new_id("namedplan"),
                    assessmenttableid=aid,
                    startdate=_d(plan.start),
                    ceasedate=_d(plan.ceased),
                    ceasereason=reason if plan.ceased is not None else "",
                )
            )
            if plan.ceased is not None or plan.replaced is not None:
                continue
            active = new_id("activeplans")
            modules["activeplans"].append(
                _row(
                    "activeplans",
                    activeplanstableid=active,
                    requeststableid=rid,
                    lastreview=_d(plan.reviews[-1] if plan.reviews else None),
                    reviewmeeting=_d(plan.meetings[-1] if plan.meetings else None),
                    reviewoutcome=REVIEW_OUTCOMES[plan.decisions[-1]] if plan.decisions else "",
                    **_transfer_items(plan.transfer),
                )
            )
            for spell in held.spells:
                if spell.left is not None and spell.left < first:
                    continue
                modules["placementdetail"].append(
                    _row(
                        "placementdetail",
                        placementdetailtableid=new_id("placementdetail"),
                        activeplanstableid=active,
                        sensetting=spell.setting,
                        placementrank="1",
                        entrydate=_d(spell.entered),
                        leavingdate=_d(spell.left),
                    )
                )
            if plan.primary_need is not None:
                modules["senneed"].append(
                    _row(
                        "senneed",
                        senneedtableid=new_id("senneed"),
                        activeplanstableid=active,
                        sentype=plan.primary_need,
                        sentyperank="1",
                    )
                )
    return Sen2Export(census, council, modules, count, uncoded)


def _transfer_items(transfer: Transfer | None) -> dict[str, str]:
    if transfer is None:
        return {}
    return {
        "phasetransferdue": _d(transfer.deadline),
        "phasetransferkind": TRANSFER_KINDS[transfer.kind],
        "phasetransferfinal": _d(transfer.named),
    }


def _cease_code(reason: str | None) -> str:
    """SEN2's cease reason for sendwatch's: the words sen2.yml maps the codes to, or the code
    itself; anything else is left for the council to code (never guessed)."""
    if reason is None:
        return ""
    if reason in CEASE_REASONS.values():
        return reason
    return CEASE_REASONS.get(reason, "")


def _request_rows(
    modules: dict[str, list[Row]], new_id: Any, person: str, request: Request
) -> tuple[str, str | None]:
    """The request's module 2 row and, if it was agreed to assess, its module 3 row."""
    rid = new_id("requests")
    plan_reached = request.plan_decision is not None or request.issued is not None
    if request.assess == "assess":
        outcome, when = "A", request.assess_date
    elif request.assess is None and plan_reached:
        outcome, when = "A", None  # a decision on the plan with none recorded to assess
    elif request.assess == "refuse":
        outcome, when = "J", request.assess_date
    elif request.withdrawn is not None:
        outcome, when = "W", request.withdrawn
    else:
        outcome, when = "", None  # ongoing
    modules["requests"].append(
        _row(
            "requests",
            requeststableid=rid,
            persontableid=person,
            receiveddate=_d(request.received),
            requestoutcomedate=_d(when),
            requestoutcome=outcome,
        )
    )
    if outcome != "A":
        return rid, None
    if request.plan_decision is not None:
        result = "Y" if request.plan_decision == "issue" else "N"
        decided = request.plan_decision_date
    elif request.withdrawn is not None:
        result, decided = "W", request.withdrawn
    elif request.issued is not None:
        result, decided = "Y", None  # a plan issued with no decision event: date unknown
    else:
        result, decided = "A", None  # not yet decided
    aid = new_id("assessment")
    modules["assessment"].append(
        _row(
            "assessment",
            assessmenttableid=aid,
            requeststableid=rid,
            assessmentoutcome=result,
            assessmentoutcomedate=_d(decided),
            week20=YES if request.week20 else NO,
        )
    )
    return rid, aid


# --- validation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    check: str
    module: str
    row: int  # as a spreadsheet numbers it: the header is row 1
    table_id: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "module": self.module,
            "row": self.row,
            "table_id": self.table_id,
            "detail": self.detail,
        }


@dataclass
class Validation:
    census: date
    council: str
    in_scope: dict[str, int]
    failures: list[Failure]
    council_adds: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        counts = Counter(f.check for f in self.failures)
        first, last = census_year(self.census)
        return {
            "census": self.census.isoformat(),
            "census_year": [first.isoformat(), last.isoformat()],
            "council": self.council,
            "in_scope": self.in_scope,
            "checks": [
                {"check": name, "what": what, "failed": counts[name]}
                for name, what in CHECKS.items()
            ],
            "failures": [f.to_json() for f in self.failures],
            "council_adds": self.council_adds,
            "identifiers": "upn holds sendwatch's pseudonymous case id: the council replaces "
            "it with the UPN (or ULN) from its own system before submitting",
        }

    def text(self) -> str:
        first, last = census_year(self.census)
        lines = [
            f"SEN2 return for census day {self.census} (LA {self.council}): "
            f"census year {first} to {last}",
            "",
            "In scope (rows per module):",
        ]
        lines += [f"  {module}: {n:,}" for module, n in self.in_scope.items()]
        counts = Counter(f.check for f in self.failures)
        lines += ["", f"Checks ({len(self.failures):,} failures):"]
        lines += [f"  {counts[name]:>6,}  {name}: {what}" for name, what in CHECKS.items()]
        if self.failures:
            lines += ["", "Failures by module and row:"]
            lines += [
                f"  {f.module} row {f.row} (id {f.table_id}): {f.check}: {f.detail}"
                for f in self.failures
            ]
        lines += ["", "The council adds from its own system:"]
        lines += [f"  {a['module']}: {a['items']} ({a['why']})" for a in self.council_adds]
        lines += [
            "",
            "upn holds sendwatch's pseudonymous case id: replace it with the child's UPN "
            "(or ULN) before submitting. Personal details are empty columns to fill.",
        ]
        return "\n".join(lines) + "\n"


def validate(export: Sen2Export) -> Validation:
    """Every check of ``CHECKS`` over the export's rows (the rows, not the events, so a
    return edited by hand can be checked again)."""
    census = export.census
    first, _ = census_year(census)
    m = export.modules
    failures: list[Failure] = []

    def fail(check: str, module: str, n: int, row: Row, detail: str) -> None:
        failures.append(Failure(check, module, n + 2, row[COLUMNS[module][0]], detail))

    def day(row: Row, column: str) -> date | None:
        text = row.get(column, "")
        if not text:
            return None
        try:
            return parse_blade_date(text)
        except (ValueError, IndexError):
            return None

    for (module, column), codes in CODE_LISTS.items():
        for n, row in enumerate(m[module]):
            if row.get(column, "") not in codes:
                allowed = ", ".join(c or "(empty)" for c in codes)
                fail("code_not_in_list", module, n, row, f"{column} {row[column]!r}: {allowed}")
    for module, columns in DATE_COLUMNS.items():
        for n, row in enumerate(m[module]):
            for column in columns:
                text = row.get(column, "")
                when = day(row, column)
                if text and when is None:
                    fail("code_not_in_list", module, n, row, f"{column} {text!r} is not a date")
                elif when is not None and when > census and (module, column) not in DEADLINES:
                    fail("date_after_census", module, n, row, f"{column} {when} after {census}")

    requests = {r["requeststableid"]: r for r in m["requests"]}
    assessments = {a["assessmenttableid"]: a for a in m["assessment"]}
    plans_of: dict[str, Row] = {}  # request id -> its plan
    for n, row in enumerate(m["requests"]):
        outcome, when = row["requestoutcome"], day(row, "requestoutcomedate")
        received = day(row, "receiveddate")
        if outcome in ("A", "J", "W") and when is None:
            fail("outcome_date_missing", "requests", n, row, f"outcome {outcome} with no date")
        if outcome == "" and received is not None:
            due = received + timedelta(days=ASSESS_DECISION_DAYS)
            if due < census:
                fail(
                    "request_outcome_missing",
                    "requests",
                    n,
                    row,
                    f"received {received}, decision due by {due}",
                )
        if received and when and when < received:
            fail("dates_out_of_order", "requests", n, row, f"outcome {when} before {received}")
    for n, row in enumerate(m["assessment"]):
        parent = requests.get(row["requeststableid"], {})
        received, agreed = day(parent, "receiveddate"), day(parent, "requestoutcomedate")
        outcome, when = row["assessmentoutcome"], day(row, "assessmentoutcomedate")
        if outcome in ("Y", "N", "W") and when is None:
            fail("outcome_date_missing", "assessment", n, row, f"outcome {outcome} with no date")
        if outcome == "A" and received is not None:
            due = received + timedelta(days=FINAL_PLAN_DAYS)
            if due < census:
                fail(
                    "assessment_outcome_missing",
                    "assessment",
                    n,
                    row,
                    f"request received {received}, plan due by {due}",
                )
        if when and agreed and when < agreed:
            fail(
                "dates_out_of_order",
                "assessment",
                n,
                row,
                f"outcome {when} before the request's outcome {agreed}",
            )
    for n, row in enumerate(m["namedplan"]):
        assessment = assessments.get(row["assessmenttableid"], {})
        request = requests.get(assessment.get("requeststableid", ""), {})
        start, ceased = day(row, "startdate"), day(row, "ceasedate")
        plans_of[request.get("requeststableid", "")] = row
        before = [
            (day(request, "receiveddate"), "the request received"),
            (day(request, "requestoutcomedate"), "the decision to assess"),
            (day(assessment, "assessmentoutcomedate"), "the decision to issue"),
        ]
        if assessment.get("assessmentoutcome") != "H":
            for earlier, what in before:
                if start and earlier and start < earlier:
                    fail("dates_out_of_order", "namedplan", n, row, f"start {start} before {what}")
        elif start is not None and start >= first:
            fail(
                "plan_without_request",
                "namedplan",
                n,
                row,
                f"plan started {start} with a historical request (H)",
            )
        if start and ceased and ceased < start:
            fail("dates_out_of_order", "namedplan", n, row, f"ceased {ceased} before {start}")
        if ceased is not None and not row["ceasereason"]:
            fail("cease_reason_missing", "namedplan", n, row, f"ceased {ceased}")
    year_ago = _year_before(census)
    for n, row in enumerate(m["activeplans"]):
        plan = plans_of.get(row["requeststableid"], {})
        start, review = day(plan, "startdate"), day(row, "lastreview")
        if start and review and review < start:
            fail("dates_out_of_order", "activeplans", n, row, f"review {review} before {start}")
        if start is not None and start < year_ago and (review is None or review < year_ago):
            last = "never reviewed" if review is None else f"last review {review}"
            fail("review_overdue", "activeplans", n, row, f"plan started {start}, {last}")
    for n, row in enumerate(m["placementdetail"]):
        entered, left = day(row, "entrydate"), day(row, "leavingdate")
        if entered and left and left < entered:
            fail("dates_out_of_order", "placementdetail", n, row, f"left {left} before {entered}")
    failures.sort(key=lambda f: (MODULES.index(f.module), f.row, f.check))
    adds = [{"module": a, "items": b, "why": c} for a, b, c in COUNCIL_ADDS]
    no_need = len(m["activeplans"]) - len(m["senneed"])
    adds[-1]["why"] += f": {no_need:,} active plans without one"
    adds[0]["why"] += f" ({len(m['person']):,} people)"
    if export.uncoded:
        words = "; ".join(f"{text!r} ({n:,})" for text, n in export.uncoded.most_common())
        adds.append(
            {
                "module": "namedplan",
                "items": "ceasereason of the plans listed under cease_reason_missing",
                "why": f"sendwatch's reasons with no SEN2 code (plans): {words}",
            }
        )
    in_scope = {module: len(rows) for module, rows in m.items()}
    return Validation(census, export.council, in_scope, failures, adds)


def _year_before(census: date) -> date:
    try:
        return census.replace(year=census.year - 1)
    except ValueError:  # 29 February
        return census.replace(year=census.year - 1, day=28)


# --- files ----------------------------------------------------------------------------------


def file_name(census: date, module: str) -> str:
    return f"Blade-Export_{census.day:02d}-{census.month:02d}-{census.year:04d}_{module}.csv"


def write(export: Sen2Export, validation: Validation, folder: Path) -> list[Path]:
    """The module CSVs, ``validation.json`` and ``validation.txt`` in ``folder`` (made if
    missing); the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for module, rows in export.modules.items():
        path = folder / file_name(export.census, module)
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=COLUMNS[module])
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    report = folder / "validation.json"
    report.write_bytes(orjson.dumps(validation.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    text = folder / "validation.txt"
    text.write_text(validation.text(), encoding="utf-8")
    return [*written, report, text]
