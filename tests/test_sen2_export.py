"""The SEN2 export (exchange/sen2_export.py, docs/sen2-export.md): a hand-built history gives
the rows worked out by hand; each validation check catches its failure; and the return, read
back by the real importer (exchange/mappings/sen2.yml), gives back the events SEN2 carries."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from events import Event
from exchange.mapping import load_mapping
from exchange.pseudonym import Pseudonyms
from exchange.rows import Conversion, Made, convert
from exchange.sen2_export import (
    CHECKS,
    Sen2Export,
    blade_date,
    build,
    file_name,
    records,
    validate,
    write,
)
from projections import Projector
from projections.case import apply_order, fold_case
from projections.dfe import dfe_measures
from projections.law import TRANSFER_DEADLINE
from tests.history import event, jsonl, raw

MAPPING = Path(__file__).resolve().parent.parent / "exchange" / "mappings" / "sen2.yml"
SECRET = "a council secret for the tests"
CENSUS = date(2026, 1, 15)  # census year: 2025-01-01 to 2025-12-31


def export_of(events: Iterable[Event], census: date = CENSUS) -> Sen2Export:
    by_case: dict[str, list[Event]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    return build(by_case.items(), census, "886")


def failed(events: Iterable[Event], census: date = CENSUS) -> set[tuple[str, str, int]]:
    return {(f.check, f.module, f.row) for f in validate(export_of(events, census)).failures}


def d(text: str) -> str:
    return blade_date(date.fromisoformat(text))


# --- a small history, row by row ----------------------------------------------------------

# Case A: request 2025-02-03; assess 2025-03-10 (5 weeks); decision to issue 2025-05-19;
# plan issued 2025-06-16 (19 weeks); still active on census day, never reviewed (too new).
# Case B: request 2025-04-01, refused 2025-05-06.
# Case C: plan issued 2021-09-01 (before sendwatch: no request), reviewed 2024-09-20 and
# 2025-09-15, out of education 2025-10-01 to 2025-11-03.
# Case D: plan issued 2020-05-05, ceased 2024-12-20 (before the census year: out of scope).
# Case E: request 2025-12-08 (5 weeks before census day: ongoing, not late).
SMALL = [
    event("request.received", "A", "2025-02-03", requested_by="parent"),
    event("assessment.decided", "A", "2025-03-10", decision="assess"),
    event("plan.decided", "A", "2025-05-19", decision="issue"),
    event("plan.issued", "A", "2025-06-16", primary_need="ASD"),
    event("request.received", "B", "2025-04-01", requested_by="school"),
    event("assessment.decided", "B", "2025-05-06", decision="refuse"),
    event("plan.issued", "C", "2021-09-01"),
    event("review.decided", "C", "2024-09-20", decision="maintain"),
    event("review.decided", "C", "2025-09-15", decision="amend"),
    event("education.lost", "C", "2025-10-01", reason="excluded"),
    event("education.resumed", "C", "2025-11-03", provision="school"),
    event("plan.issued", "D", "2020-05-05"),
    event("plan.ceased", "D", "2024-12-20", reason="moved outside England"),
    event("request.received", "E", "2025-12-08", requested_by="parent"),
    # after census day: not known to the return
    event("plan.ceased", "A", "2026-02-01", reason="deceased"),
]


def picked(rows: list[dict[str, str]], *columns: str) -> list[tuple[str, ...]]:
    return [tuple(row[c] for c in columns) for row in rows]


def test_a_small_history_gives_the_rows_worked_out_by_hand() -> None:
    m = export_of(SMALL).modules
    assert picked(m["sen2"], "year", "referencedate", "lea") == [
        ("2026", "2026-Jan-15 00:00:00", "886")
    ]
    # people A, B, C, E in case-id order; D's plan ceased before 2025
    assert picked(m["person"], "persontableid", "upn", "surname") == [
        ("1", "A", ""),
        ("2", "B", ""),
        ("3", "C", ""),
        ("4", "E", ""),
    ]
    assert picked(m["requests"], "persontableid", "receiveddate", "requestoutcome") == [
        ("1", d("2025-02-03"), "A"),
        ("2", d("2025-04-01"), "J"),
        ("3", "", "H"),  # C's plan predates sendwatch: a historical request
        ("4", d("2025-12-08"), ""),  # E: ongoing
    ]
    assert picked(m["requests"], "requestoutcomedate") == [
        (d("2025-03-10"),),
        (d("2025-05-06"),),
        ("",),
        ("",),
    ]
    assert picked(m["assessment"], "requeststableid", "assessmentoutcome") == [
        ("1", "Y"),
        ("3", "H"),
    ]
    assert m["assessment"][0]["assessmentoutcomedate"] == d("2025-05-19")
    assert picked(m["namedplan"], "assessmenttableid", "startdate", "ceasedate") == [
        ("1", d("2025-06-16"), ""),  # A's cease on 2026-02-01 is after census day
        ("2", d("2021-09-01"), ""),
    ]
    assert picked(m["activeplans"], "requeststableid", "lastreview", "reviewoutcome") == [
        ("1", "", ""),
        ("3", d("2025-09-15"), "A"),  # the latest review only: a decision to amend
    ]
    assert picked(m["placementdetail"], "activeplanstableid", "sensetting", "entrydate") == [
        ("2", "NIEO", d("2025-10-01"))
    ]
    assert m["placementdetail"][0]["leavingdate"] == d("2025-11-03")
    assert picked(m["senneed"], "activeplanstableid", "sentype", "sentyperank") == [
        ("1", "ASD", "1")
    ]
    # a clean history: no check fails
    assert validate(export_of(SMALL)).failures == []


def test_an_active_plan_carries_its_latest_meeting_decision_and_phase_transfer() -> None:
    history = [
        event("plan.issued", "T", "2022-03-01"),
        event("review.meeting_held", "T", "2025-02-10"),
        event("review.decided", "T", "2025-03-03", decision="amend"),
        # a move to post-16 on 1 Sep 2026: the setting is to be named by 31 Mar 2026; the same
        # transfer recorded again on 3 Nov changes nothing; named on 12 Jan 2026
        event("transfer.due", "T", "2025-10-06", transfer_date="2026-09-01", kind="post16"),
        event("transfer.due", "T", "2025-11-03", transfer_date="2026-09-01", kind="post16"),
        event("transfer.setting_named", "T", "2026-01-12", setting_id="COLLEGE-1"),
        # the next meeting, still to be decided on census day
        event("review.meeting_held", "T", "2025-12-15"),
    ]
    items = ("lastreview", "reviewoutcome", "reviewmeeting")
    items += ("phasetransferdue", "phasetransferkind", "phasetransferfinal")
    row = export_of(history).modules["activeplans"][0]
    assert tuple(row[i] for i in items) == (
        d("2025-03-03"),
        "A",
        d("2025-12-15"),
        d("2026-03-31"),
        "P",
        d("2026-01-12"),
    )
    # a year earlier (census 16 Jan 2025): no meeting, decision nor transfer yet, and the
    # items are empty
    row = export_of(history, date(2025, 1, 16)).modules["activeplans"][0]
    assert {i: row[i] for i in items} == dict.fromkeys(items, "")
    # a cease decision whose plan is still active (an appeal, say) is C; a school transfer
    # due 15 Feb of the year of the move, S, not yet named
    history[2] = event("review.decided", "T", "2025-03-03", decision="cease")
    history[3:6] = [
        event("transfer.due", "T", "2025-10-06", transfer_date="2026-09-01", kind="school")
    ]
    row = export_of(history).modules["activeplans"][0]
    assert tuple(row[i] for i in items) == (
        d("2025-03-03"),
        "C",
        d("2025-12-15"),
        d("2026-02-15"),
        "S",
        "",
    )


def test_files_are_named_and_headed_as_the_blade_export(tmp_path: Path) -> None:
    export = export_of(SMALL)
    written = write(export, validate(export), tmp_path)
    assert tmp_path / "Blade-Export_15-01-2026_requests.csv" in written
    with (tmp_path / file_name(CENSUS, "requests")).open(newline="") as stream:
        header = next(csv.reader(stream))
    assert header[:3] == ["requeststableid", "persontableid", "receiveddate"]
    report = orjson.loads((tmp_path / "validation.json").read_bytes())
    assert report["in_scope"]["person"] == 4
    assert {c["check"] for c in report["checks"]} == set(CHECKS)
    assert "upn" in (tmp_path / "validation.txt").read_text()


# --- each check catches its failure --------------------------------------------------------


def test_outcome_date_missing_a_plan_issued_with_no_decision_to_issue() -> None:
    # assess 2025-03-10, plan issued 2025-06-16 with no plan.decided: outcome Y, date unknown
    history = [
        event("request.received", "A", "2025-02-03", requested_by="parent"),
        event("assessment.decided", "A", "2025-03-10", decision="assess"),
        event("plan.issued", "A", "2025-06-16"),
    ]
    assert failed(history) == {("outcome_date_missing", "assessment", 2)}
    # a decision to issue 2025-05-19 with no decision to assess held: outcome A, date unknown
    history = [
        event("request.received", "A", "2025-02-03", requested_by="parent"),
        event("plan.decided", "A", "2025-05-19", decision="issue"),
    ]
    assert failed(history) == {("outcome_date_missing", "requests", 2)}


def test_request_outcome_missing_past_six_weeks() -> None:
    # received 2025-11-24: decision due 2026-01-05, before census day 2026-01-15
    assert failed([event("request.received", "A", "2025-11-24", requested_by="parent")]) == {
        ("request_outcome_missing", "requests", 2)
    }
    # received 2025-12-08: due 2026-01-19, after census day: ongoing, no failure
    assert failed([event("request.received", "A", "2025-12-08", requested_by="parent")]) == set()


def test_assessment_outcome_missing_past_twenty_weeks() -> None:
    # received 2025-06-02, assess 2025-07-07: plan due 2025-10-20, none by census day
    history = [
        event("request.received", "A", "2025-06-02", requested_by="parent"),
        event("assessment.decided", "A", "2025-07-07", decision="assess"),
    ]
    assert failed(history) == {("assessment_outcome_missing", "assessment", 2)}


def test_plan_without_request_in_the_census_year() -> None:
    # a plan issued 2025-05-01 with no request held (a tribunal's order, say)
    assert failed([event("plan.issued", "A", "2025-05-01")]) == {
        ("plan_without_request", "namedplan", 2)
    }
    # one issued 2023-05-01 is a historical plan: its request H is expected; reviewed 2025-04-30
    older = [event("plan.issued", "A", "2023-05-01")]
    older.append(event("review.decided", "A", "2025-04-30", decision="maintain"))
    assert failed(older) == set()


def test_review_overdue_no_review_in_the_last_twelve_months() -> None:
    # plan issued 2024-01-10 (over 12 months before 2026-01-15), last review 2025-01-14:
    # a year and a day before census day
    history = [
        event("plan.issued", "A", "2024-01-10"),
        event("review.decided", "A", "2025-01-14", decision="maintain"),
    ]
    assert failed(history) == {("review_overdue", "activeplans", 2)}
    # reviewed on 2025-01-15, exactly 12 months before: not overdue
    history[1] = event("review.decided", "A", "2025-01-15", decision="maintain")
    assert failed(history) == set()


def test_cease_reason_missing_when_sendwatch_words_have_no_code() -> None:
    history = [
        event("plan.issued", "A", "2023-05-01"),
        event("plan.ceased", "A", "2025-03-01", reason="moved out of the area"),
    ]
    assert failed(history) == {("cease_reason_missing", "namedplan", 2)}
    validation = validate(export_of(history))
    assert any("moved out of the area" in add["why"] for add in validation.council_adds)
    # the words sen2.yml maps code 5 to are coded
    history[1] = event("plan.ceased", "A", "2025-03-01", reason="transferred to another council")
    assert failed(history) == set()
    assert export_of(history).modules["namedplan"][0]["ceasereason"] == "5"


# The next three can only fail in rows edited by hand (sendwatch's events cannot put dates
# out of order, after census day, or codes outside their lists): the rows of the small
# history's export are edited, as a council would before checking again.


def edited(module: str, n: int, column: str, value: str) -> set[tuple[str, str, int]]:
    export = export_of(SMALL)
    export.modules[module][n][column] = value
    return {(f.check, f.module, f.row) for f in validate(export).failures}


def test_dates_out_of_order_in_an_edited_return() -> None:
    # A's plan start moved to 2025-05-01: before the decision to issue (2025-05-19)
    assert edited("namedplan", 0, "startdate", d("2025-05-01")) == {
        ("dates_out_of_order", "namedplan", 2)
    }
    # B's refusal dated 2025-03-01: before its receipt (2025-04-01)
    assert edited("requests", 1, "requestoutcomedate", d("2025-03-01")) == {
        ("dates_out_of_order", "requests", 3)
    }


def test_date_after_census_in_an_edited_return() -> None:
    assert edited("activeplans", 1, "lastreview", d("2026-01-16")) == {
        ("date_after_census", "activeplans", 3)
    }
    # a phase transfer's deadline is not a day something happened: 15 Feb after census day
    # 15 Jan 2026 is not a failure
    assert edited("activeplans", 1, "phasetransferdue", d("2026-02-15")) == set()


def test_code_not_in_list_in_an_edited_return() -> None:
    assert edited("requests", 0, "requestoutcome", "X") == {("code_not_in_list", "requests", 2)}
    assert edited("placementdetail", 0, "sensetting", "SCH") == {
        ("code_not_in_list", "placementdetail", 2)
    }


def test_every_check_has_a_test_that_asserts_it_fails() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert [name for name in CHECKS if f'("{name}", ' not in source] == []


# --- the round trip -------------------------------------------------------------------------


def reimport(export: Sen2Export, folder: Path) -> list[dict[str, Any]]:
    """The export written, then read by the real importer (sen2.yml), as event dicts."""
    write(export, validate(export), folder)
    items = list(convert(load_mapping(MAPPING), folder, Pseudonyms(SECRET), Conversion()))
    assert [i for i in items if not isinstance(i, Made)] == []  # no row rejected
    return [orjson.loads(i.line) for i in items if isinstance(i, Made)]


Key = tuple[str, str, str]  # case id, type, day


def carried(cases: Mapping[str, Sequence[Event]], census: date) -> set[Key]:
    """What the return carries, worked from the events by SEN2.md's scope (a spec written
    independently of the exporter's walk): per request in scope its receipt and decisions;
    per plan in scope its issue and cease; per plan active on census day its latest review
    meeting, its latest review decision, its latest phase transfer (due: dated on the day
    the setting was named, else on the deadline; and the setting named) and its EOTAS and
    out-of-education spells since the year began; the 20-week flag at the decision to
    issue."""
    first = date(census.year - 1, 1, 1)
    out: set[Key] = set()
    for case, events in cases.items():
        held = records(events, census)
        for r in held.requests:
            if r.received < first and r.end is not None and r.end < first:
                continue
            out.add((case, "request.received", r.received.isoformat()))
            if r.assess is not None and r.assess_date is not None:
                out.add((case, "assessment.decided", r.assess_date.isoformat()))
            # assessed: agreed, or a plan decided or issued with no decision to assess held
            plan_reached = r.plan_decision is not None or r.issued is not None
            assessed = r.assess == "assess" or (r.assess is None and plan_reached)
            outcome = r.plan_decision_date
            if not assessed and r.assess is None and r.withdrawn is not None:
                out.add((case, "request.withdrawn", r.withdrawn.isoformat()))
            elif assessed and r.plan_decision is None and r.withdrawn is not None:
                out.add((case, "request.withdrawn", r.withdrawn.isoformat()))
                outcome = r.withdrawn
            if assessed and outcome is not None and r.plan_decision is not None:
                out.add((case, "plan.decided", outcome.isoformat()))
            if assessed and r.week20 and outcome is not None:
                out.add((case, "exception.applied", outcome.isoformat()))
        active = False
        for p in held.plans:
            if (p.ceased is not None and p.ceased < first) or (
                p.replaced is not None and p.replaced < first
            ):
                continue
            out.add((case, "plan.issued", p.start.isoformat()))
            if p.ceased is not None:
                out.add((case, "plan.ceased", p.ceased.isoformat()))
            elif p.replaced is None:
                active = True
                if p.reviews:
                    out.add((case, "review.decided", max(p.reviews).isoformat()))
                if p.meetings:
                    out.add((case, "review.meeting_held", max(p.meetings).isoformat()))
                if p.transfer is not None:
                    named = p.transfer.named
                    due = p.transfer.deadline if named is None else named
                    out.add((case, "transfer.due", due.isoformat()))
                    if named is not None:
                        out.add((case, "transfer.setting_named", named.isoformat()))
        if active:
            for s in held.spells:
                if s.left is not None and s.left < first:
                    continue
                began, ended = (
                    ("eotas.started", "eotas.ended")
                    if s.setting == "OLA"
                    else ("education.lost", "education.resumed")
                )
                out.add((case, began, s.entered.isoformat()))
                if s.left is not None:
                    out.add((case, ended, s.left.isoformat()))
    return out


def test_the_small_history_comes_back_through_the_importer(tmp_path: Path) -> None:
    cases: dict[str, list[Event]] = {}
    for e in SMALL:
        cases.setdefault(e.case_id, []).append(e)
    back = reimport(export_of(SMALL), tmp_path)
    names = {Pseudonyms(SECRET).case_id(c): c for c in cases}
    got = {(names[e["case_id"]], e["type"], e["occurred_at"][:10]) for e in back}
    # worked by hand: what SMALL's return carries
    assert got == {
        ("A", "request.received", "2025-02-03"),
        ("A", "assessment.decided", "2025-03-10"),
        ("A", "plan.decided", "2025-05-19"),
        ("A", "plan.issued", "2025-06-16"),
        ("B", "request.received", "2025-04-01"),
        ("B", "assessment.decided", "2025-05-06"),
        ("C", "plan.issued", "2021-09-01"),
        ("C", "review.decided", "2025-09-15"),
        ("C", "education.lost", "2025-10-01"),
        ("C", "education.resumed", "2025-11-03"),
        ("E", "request.received", "2025-12-08"),
    }
    assert got == carried(cases, CENSUS)
    decisions = {e["data"].get("decision") for e in back if e["type"] == "assessment.decided"}
    assert decisions == {"assess", "refuse"}


def simulated(seed: int, end: date) -> dict[str, list[Event]]:
    from simulation.council import simulate

    projector = Projector()
    for record in simulate(seed=seed, years=3, end=end):
        projector.apply(event_of(record))
    return {case.case_id: case.history for case in projector.case_files()}


def event_of(record: dict[str, Any]) -> Event:
    from events import decode, from_record

    return from_record(decode(orjson.dumps(record), arrival=None))


SIMULATED: dict[int, dict[str, list[Event]]] = {}


def sample(seed: int, size: int = 1000) -> dict[str, list[Event]]:
    """About a thousand of a simulated council's cases (three years to 2026-03-31)."""
    if seed not in SIMULATED:
        every = simulated(seed, date(2026, 3, 31))
        SIMULATED[seed] = dict(sorted(every.items())[:: max(1, len(every) // size)])
    return SIMULATED[seed]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.sampled_from([1, 2]), census=st.sampled_from([date(2025, 1, 16), CENSUS]))
def test_export_then_import_gives_back_what_sen2_carries(
    tmp_path_factory: pytest.TempPathFactory, seed: int, census: date
) -> None:
    cases = sample(seed)
    folder = tmp_path_factory.mktemp("sen2")
    back = reimport(build(cases.items(), census, "886"), folder)
    names = {Pseudonyms(SECRET).case_id(c): c for c in cases}
    got = {(names[e["case_id"]], e["type"], e["occurred_at"][:10]) for e in back}
    expected = carried(cases, census)
    assert got == expected
    assert len(expected) > 200  # the sample exercises the return
    # and, apart from the 20-week flag (dated by the decision) and the phase transfer due
    # (dated by the return), each is an original event
    original = {(c, e.type, e.day.isoformat()) for c, es in cases.items() for e in es}
    assert {k for k in got if k[1] not in DATED_BY_THE_RETURN} <= original


DATED_BY_THE_RETURN = ("exception.applied", "transfer.due")


def values(group: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: figure["value"] for name, figure in group.items()}


# --- the round trip of DfE's measures, over consecutive returns -------------------------------

# Three consecutive returns (the third Thursday of January, as DfE's census days fall): a
# return holds each active plan's LATEST review meeting, decision and phase transfer only,
# so "reviews expected in 2025" (due 12 months after a decision made in 2024) needs the
# 2025 return as well as the 2026 one, and the 2024 one for decisions of early 2024.
CENSUSES = (date(2024, 1, 18), date(2025, 1, 16), date(2026, 1, 15))
YEAR = 2025  # the last complete calendar year: the 2026 return's census year
FIFTH_A = ("review.meeting_held", "review.decided", "transfer.setting_named")


def reimport_all(cases: Mapping[str, Sequence[Event]], folder: Path) -> dict[str, list[Event]]:
    """Each census's return, exported and read back by the importer, into one log: an event
    in two returns (the same case, day and rule: the same id) is one event, with the same
    content (else the log would refuse the second as a dead letter)."""
    log: dict[str, dict[str, Any]] = {}
    for census in CENSUSES:
        for record in reimport(build(cases.items(), census, "886"), folder / str(census)):
            assert log.setdefault(record["event_id"], record) == record
    again: dict[str, list[Event]] = {}
    for record in log.values():
        e = event_of(record)
        again.setdefault(e.case_id, []).append(e)
    return again


def lost(case: str, events: Sequence[Event], returns: set[Key]) -> list[str]:
    """Why the returns cannot give back this case's reviews and phase transfers of the two
    years before the last census (empty if they can), from the events and what the returns
    carry (``carried``): a review meeting, a review decision or a setting named that no
    return holds (two in one year between censuses: the return keeps the latest; or after
    a census, by a plan that ceased before the next); a transfer no return holds; or a
    transfer held without its setting named whose plan ceased before its deadline (the
    import dates it on the deadline, after the cease, so it is due; in the events it was
    cancelled)."""
    since, last = date(YEAR - 1, 1, 1), CENSUSES[-1]
    why = []
    ceased = [e.day for e in events if e.type == "plan.ceased"]
    for e in events:
        if not since <= e.day <= last:
            continue
        if e.type in FIFTH_A and (case, e.type, e.day.isoformat()) not in returns:
            why.append(f"{e.type} {e.day}")
        elif e.type == "transfer.due":
            moved = date.fromisoformat(e.data["transfer_date"])
            month, day = TRANSFER_DEADLINE[e.data["kind"]]
            deadline = date(moved.year, month, day)
            named = [
                n.day
                for n in events
                if n.type == "transfer.setting_named" and e.day <= n.day <= last
            ]
            dated = [d for d in [*named[:1], deadline] if (case, e.type, d.isoformat()) in returns]
            if not dated:
                why.append(f"transfer due {deadline} not held")
            elif dated[0] == deadline and any(e.day <= c < deadline for c in ceased):
                why.append(f"transfer due {deadline}: plan ceased before it")
    return why


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.sampled_from([1, 2, 3]))
def test_dfe_measures_from_the_events_equal_those_from_three_returns(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    cases = sample(seed)
    returns = set().union(*(carried(cases, census) for census in CENSUSES))
    comparable = {c: es for c, es in cases.items() if not lost(c, es, returns)}
    # the histories where the returns lose a review or a transfer are few (docs/sen2-export.md,
    # "What the round trip shows": 6-9% of the cases in these samples)
    assert len(comparable) >= 0.85 * len(cases)
    again = reimport_all(cases, tmp_path_factory.mktemp("sen2"))
    last = CENSUSES[-1]

    def measures(histories: Mapping[str, Sequence[Event]]) -> dict[str, Any]:
        return dfe_measures([fold_case(c, es, last) for c, es in histories.items()], YEAR)

    # over every case: requests, assessments and 20-week timeliness agree
    before, after = measures(cases), measures(again)
    for group in ("timeliness_20_week", "requests", "assessments"):
        assert after[group] == before[group], group
    # over the cases whose reviews and transfers the returns hold: every group, every figure
    # (value, column, note)
    pseudonym = Pseudonyms(SECRET).case_id
    kept = {pseudonym(c) for c in comparable}
    before = measures(comparable)
    after = measures({c: es for c, es in again.items() if c in kept})
    assert after == before
    reviews, transfers = before["annual_reviews"], before["phase_transfers"]
    assert reviews["review_meetings_held"]["value"] > 50  # the sample exercises the reviews
    assert transfers["transfers_due"]["value"] > 5


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    ("request.received", {"requested_by": "parent"}),
                    ("assessment.decided", {"decision": "assess"}),
                    ("assessment.decided", {"decision": "refuse"}),
                    ("plan.decided", {"decision": "issue"}),
                    ("plan.decided", {"decision": "not_issue"}),
                    ("request.withdrawn", {}),
                    ("exception.applied", {"clock": "final_plan", "ground": "absence"}),
                    ("plan.issued", {}),
                    ("plan.ceased", {"reason": "deceased"}),
                    ("review.decided", {"decision": "maintain"}),
                    ("review.decided", {"decision": "amend"}),
                    ("review.decided", {"decision": "cease"}),
                    ("review.meeting_held", {}),
                    ("transfer.due", {"transfer_date": "2025-09-01", "kind": "school"}),
                    ("transfer.due", {"transfer_date": "2026-09-01", "kind": "post16"}),
                    ("transfer.setting_named", {}),
                    ("eotas.started", {}),
                    ("eotas.ended", {}),
                    ("education.lost", {"reason": "other"}),
                    ("education.resumed", {"provision": "school"}),
                ]
            ),
            st.integers(0, 900),
        ),
        max_size=14,
    )
)
@settings(max_examples=60, deadline=None)
def test_random_histories_round_trip(steps: list[tuple[tuple[str, dict[str, Any]], int]]) -> None:
    # each step on its own day (from 2023-08-01, up to ~2.5 years), one case
    import tempfile

    start = date(2023, 8, 1)
    history = [
        event(kind, "R-1", (start + timedelta(days=day)).isoformat(), **data)
        for (kind, data), day in steps
    ]
    days = [e.day for e in history]
    if len(set(days)) != len(days):
        return  # SEN2 keeps one event of a kind per child per day: distinct days only
    history.sort(key=apply_order)
    cases = {"R-1": history}
    with tempfile.TemporaryDirectory() as folder:
        back = reimport(build(cases.items(), CENSUS, "886"), Path(folder))
    got = {("R-1", e["type"], e["occurred_at"][:10]) for e in back}
    assert got == carried(cases, CENSUS)
    original = {("R-1", e.type, e.day.isoformat()) for e in history}
    assert {k for k in got if k[1] not in DATED_BY_THE_RETURN} <= original
    reviews = [e for e in back if e["type"] == "review.decided"]
    decided = {e["occurred_at"][:10]: e["data"]["decision"] for e in reviews}
    for e in history:  # a review's decision comes back as it was
        if e.type == "review.decided" and e.day.isoformat() in decided:
            assert decided[e.day.isoformat()] == e.data["decision"]


# --- the command ----------------------------------------------------------------------------


def test_the_command_writes_the_return_and_refuses_a_bad_census(tmp_path: Path) -> None:
    from sendwatch.cli import app

    source = tmp_path / "events.jsonl"
    source.write_bytes(
        jsonl(
            [
                raw("request.received", "A", "2025-02-03", requested_by="parent"),
                raw("assessment.decided", "A", "2025-03-10", decision="assess"),
            ]
        )
    )
    runner = CliRunner()
    out = tmp_path / "out"
    ran = runner.invoke(
        app,
        ["export", "sen2", "--census", "2026-01-15", "--events", str(source), "--out", str(out)],
    )
    assert ran.exit_code == 0, ran.output
    assert (out / "Blade-Export_15-01-2026_assessment.csv").is_file()
    # received 2025-02-03, assess 2025-03-10, nothing since: plan due 2025-06-23
    assert "assessment_outcome_missing 1" in ran.output
    for bad in ("2026-02-30", "1999-01-15", "2101-01-15", "15/01/2026"):
        refused = runner.invoke(
            app, ["export", "sen2", "--census", bad, "--events", str(source), "--out", str(out)]
        )
        assert refused.exit_code == 2
        assert "--census" in refused.output and len(refused.output.strip().splitlines()) == 1


def test_the_commands_round_trip_export_then_import_sen2(tmp_path: Path) -> None:
    """``sendwatch export sen2`` then ``sendwatch import sen2`` into a log: the log holds one
    event per event the return carries (the small history: 11, worked out above)."""
    from sendwatch.cli import app
    from streams.log import EventLog

    source = tmp_path / "events.jsonl"
    source.write_bytes(jsonl(small_raw()))
    runner = CliRunner(env={"SENDWATCH_IMPORT_SECRET": SECRET})
    out = tmp_path / "sen2"
    exported = runner.invoke(
        app,
        ["export", "sen2", "--census", "2026-01-15", "--events", str(source), "--out", str(out)],
    )
    assert exported.exit_code == 0, exported.output
    db = tmp_path / "sen2.db"
    imported = runner.invoke(app, ["import", "sen2", str(out), "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    assert "rows rejected: 0" in imported.output
    with EventLog.open_existing(db) as log:
        assert log.count() == 11


def small_raw() -> list[dict[str, Any]]:
    """SMALL as a council system would send it."""
    return [raw(e.type, e.case_id, e.day.isoformat(), eid=e.event_id, **e.data) for e in SMALL]
