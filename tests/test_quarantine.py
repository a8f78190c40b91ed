"""Quarantine, not collapse (CONTRACT.md section 1.1): if folding or tallying a case ever
raises, only that case is set aside (listed with its error and event ids, counted, alerted
on); every other case carries on, exactly as if the case were not there.

The fault is injected: ``poisoned`` swaps one event type's handler in
``projections.case.HANDLERS`` for one that raises for a single event id (as a bug, or an
event that got past validation, would), and ``raising_on`` makes a case's tallies raise on
one "now" only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import projections.case
import projections.projector
from alerts.engine import Engine, aggregate_findings
from alerts.rules import load_rules
from events import Event
from projections import Period, Projector, fold_case
from projections.case import apply_order
from sendwatch.cli import app as cli
from streams.kafka_worker import PartitionState, apply_messages
from tests.history import event
from tests.running_service import NOW as SERVICE_NOW
from tests.running_service import history, jsonl
from tests.test_properties import CASES, NOW, PERIOD, histories

RULES = load_rules()
AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
FAULT = "RuntimeError: poisoned by the test"


@contextmanager
def poisoned(event_id: str, kind: str) -> Iterator[None]:
    """The handler of ``kind`` raises for the event ``event_id`` (and only for it)."""
    handlers = projections.case.HANDLERS
    original = handlers.get(kind)

    def handler(case: Any, event: Event) -> None:
        if event.event_id == event_id:
            raise RuntimeError("poisoned by the test")
        if original is not None:
            original(case, event)

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(handlers, kind, handler)
        yield


@contextmanager
def raising_on(name: str, case_id: str, now: date) -> Iterator[None]:
    """The projector's ``standing`` or ``dated`` raises for one case on one "now"."""
    original: Callable[..., Any] = getattr(projections.projector, name)

    def tally(case: Any, *rest: Any) -> Any:
        # the "now" it tallies on: its argument, or (a ``dated`` that takes none) the
        # projector's, whose live tallies call it
        when = next((a for a in rest if isinstance(a, date)), None)
        if when is None:
            when = sys._getframe(1).f_locals.get("now")
        if case.case_id == case_id and when == now:
            raise ValueError(f"{name} poisoned on {when}")
        return original(case, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(projections.projector, name, tally)
        yield


def ev(kind: str, case: str, on: str, /, eid: str, **data: Any) -> Event:
    return event(kind, case, on, eid=eid, recorded=f"{on}T12:00:00Z", **data)


# Three cases, dates against NOW (30 September 2025):
# P: request 6 Jan 2025, assessment decided 3 Feb (the poisoned event), plan issued 2 Jun.
# Q: request 6 Jan, plan issued 19 May (133 days: within 20 weeks).
# R: request 1 Sep: the 6-week decision is due 13 Oct, open.
def three_cases() -> list[Event]:
    return [
        ev("request.received", "P", "2025-01-06", "p1", requested_by="parent"),
        ev("assessment.decided", "P", "2025-02-03", "p2", decision="assess"),
        ev("plan.issued", "P", "2025-06-02", "p3"),
        ev("request.received", "Q", "2025-01-06", "q1", requested_by="parent"),
        ev("assessment.decided", "Q", "2025-02-10", "q2", decision="assess"),
        ev("plan.issued", "Q", "2025-05-19", "q3"),
        ev("request.received", "R", "2025-09-01", "r1", requested_by="school"),
    ]


def measured(events: list[Event], now: date = NOW, period: Period = PERIOD) -> dict[str, Any]:
    projector = Projector()
    projector.apply_all(events)
    return projector.measures(now, period)


def without(events: list[Event], case_id: str) -> list[Event]:
    return [e for e in events if e.case_id != case_id]


# --- the projector ----------------------------------------------------------------------


def test_a_case_whose_fold_raises_is_set_aside_and_the_rest_measure_as_without_it() -> None:
    events = three_cases()
    with poisoned("p2", "assessment.decided"):
        projector = Projector()
        projector.apply_all(events)
        assert projector.measures(NOW, PERIOD) == measured(without(events, "P"))
        (aside,) = projector.quarantined()
        assert projector.case_file("P") is None
        assert [c.case_id for c in projector.case_files(NOW)] == ["Q", "R"]
    assert aside.case_id == "P"
    assert aside.error == FAULT
    assert aside.stage == "fold"
    assert aside.last_event_id == "p2"  # the event being applied when it raised
    assert sorted(aside.event_ids) == ["p1", "p2", "p3"]  # kept: they were accepted
    assert aside.where.startswith("tests/test_quarantine.py:")
    assert aside.recorded_at == datetime(2025, 6, 2, 12, tzinfo=UTC)  # its newest
    assert projector.event_count == 7 and projector.case_count == 3
    json = aside.to_json()
    assert json["events"] == 3 and json["error"] == FAULT


def test_a_live_extension_that_raises_sets_the_case_aside() -> None:
    """Events in date order extend each case's fold in place: the poisoned one raises
    there, after the case's tallies were counted, and they are taken out again."""
    events = sorted(three_cases(), key=apply_order)
    with poisoned("p3", "plan.issued"):
        live = Projector()
        for e in events:
            live.apply(e)
            live.measures(NOW, PERIOD)  # tallies kept current after each event
            live.measures(NOW, Period(NOW - timedelta(days=90), NOW))
        assert live.measures(NOW, PERIOD) == measured(without(events, "P"))
        window = Period(NOW - timedelta(days=90), NOW)
        assert live.measures(NOW, window) == measured(without(events, "P"), period=window)
        assert [q.last_event_id for q in live.quarantined()] == ["p3"]


def test_events_for_a_quarantined_case_are_kept_and_every_other_case_carries_on() -> None:
    events = three_cases()
    later = [
        ev("plan.ceased", "P", "2025-07-01", "p4", reason="moved away"),  # kept with P
        ev("assessment.decided", "R", "2025-09-15", "r2", decision="refuse"),
        ev("request.received", "S", "2025-09-20", "s1", requested_by="parent"),
    ]
    with poisoned("p2", "assessment.decided"):
        projector = Projector()
        projector.apply_all(events)
        projector.measures(NOW, PERIOD)
        assert projector.apply_all(later) == 3
        assert projector.apply(later[0]) is False  # still idempotent on its id
        assert projector.measures(NOW, PERIOD) == measured(without(events + later, "P"))
        (aside,) = projector.quarantined()
    assert sorted(aside.event_ids) == ["p1", "p2", "p3", "p4"]
    assert projector.event_count == 10


def test_retracting_the_event_at_fault_brings_the_case_back() -> None:
    events = three_cases()
    fix = ev("event.retracted", "P", "2025-07-01", "p9", event_id="p2", reason="wrong record")
    with poisoned("p2", "assessment.decided"):
        projector = Projector()
        projector.apply_all(events)
        projector.measures(NOW, PERIOD)
        assert len(projector.quarantined()) == 1
        projector.apply(fix)
        assert projector.quarantined() == []
        assert projector.measures(NOW, PERIOD) == measured([*events, fix])
        assert projector.case_file("P") is not None


def test_a_snapshot_keeps_a_quarantined_cases_events_for_a_fixed_version() -> None:
    events = three_cases()
    with poisoned("p2", "assessment.decided"):
        projector = Projector()
        projector.apply_all(events)
        projector.measures(NOW, PERIOD)
        snapshot = projector.save_snapshot()
        restored = Projector.load_snapshot(snapshot)
        assert [q.case_id for q in restored.quarantined()] == ["P"]
    fixed = Projector.load_snapshot(snapshot)  # the same state read by a version without the fault
    assert fixed.quarantined() == []
    assert fixed.measures(NOW, PERIOD) == measured(events)


def test_an_event_that_cannot_be_placed_in_its_case_is_kept_and_the_case_set_aside() -> None:
    """An event that got past validation with a type no code knows: ``apply_order`` raises
    before anything is folded. The event is kept, its case set aside, nothing else moves."""
    events = three_cases()
    stray = Event("x1", "plan.teleported", "Q", date(2025, 3, 1), 0, AT, {})
    projector = Projector()
    projector.apply_all(events)
    projector.measures(NOW, PERIOD)
    assert projector.apply(stray) is True
    assert projector.apply(stray) is False
    assert projector.measures(NOW, PERIOD) == measured(without(events, "Q"))
    (aside,) = projector.quarantined()
    assert (aside.case_id, aside.last_event_id) == ("Q", "x1")
    assert aside.error.startswith("KeyError: 'plan.teleported'")
    assert "x1" in aside.event_ids


@pytest.mark.parametrize("name", ["standing", "dated"])
def test_a_case_whose_tallies_raise_on_one_now_is_set_aside(name: str) -> None:
    events = three_cases()
    other = NOW - timedelta(days=40)
    with raising_on(name, "Q", NOW):
        projector = Projector()
        projector.apply_all(events)
        # folded first: settled by the first measures instead, a case's tallies on any
        # "now" would come from what it added up to once (``Projector.settle``)
        assert len(list(projector.case_files())) == 3
        before = projector.measures(other, PERIOD)  # Q is counted on another day
        assert before == measured(events, other)
        assert projector.measures(NOW, PERIOD) == measured(without(events, "Q"))
        (aside,) = projector.quarantined()
        assert aside.stage == f"tally on {NOW.isoformat()}"
        assert aside.error == f"ValueError: {name} poisoned on {NOW}"
        assert aside.last_event_id is None  # no one event was being applied
        # set aside for every reading, so the figures of every day agree on it
        assert projector.measures(other, PERIOD) == measured(without(events, "Q"), other)
        assert projector.case_file("Q") is None


def test_a_fold_as_at_that_raises_sets_the_case_aside() -> None:
    """The fold of what was known at ``as_at`` (1 August: P's caseworker of 10 September
    was not yet recorded, so P is folded again without it) raises for P alone: P is set
    aside, and the as-at figures, and every other, are those of the others."""
    events = [*three_cases(), ev("caseworker.assigned", "P", "2025-09-10", "p5", caseworker_id="w")]
    as_at = datetime(2025, 8, 1, tzinfo=UTC)
    fold = projections.projector.fold_events

    def as_at_fold(case_id: str, keyed: list[Any], *rest: Any, **options: Any) -> Any:
        if case_id == "P" and type(keyed) is list:  # a selection, not the case's own list
            raise ArithmeticError("as-at fold poisoned")
        return fold(case_id, keyed, *rest, **options)

    projector = Projector()
    projector.apply_all(events)
    projector.measures(NOW, PERIOD)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(projections.projector, "fold_events", as_at_fold)
        got = projector.measures(NOW, PERIOD, as_at)
    clean = Projector()
    clean.apply_all(without(events, "P"))
    assert got == clean.measures(NOW, PERIOD, as_at)
    (aside,) = projector.quarantined()
    assert aside.stage == f"fold to {NOW.isoformat()} as at {as_at.isoformat()}"
    assert projector.measures(NOW, PERIOD) == measured(without(events, "P"))


def expected_quarantine(events: list[Event], poison: Event) -> set[str]:
    """The poisoned event's case, if folding it applies the poisoned event (a retraction
    may undo it)."""
    mine = [e for e in events if e.case_id == poison.case_id]
    try:
        fold_case(poison.case_id, mine)
    except RuntimeError:
        return {poison.case_id}
    return set()


@settings(max_examples=80, deadline=None)
@given(histories(), st.data())
def test_any_poisoned_event_changes_only_its_case(events: list[Event], data: Any) -> None:
    """Whichever event raises, and whatever order the events arrive in (measures of several
    "now"s and periods asked between events, so cases are extended, refolded and re-tallied
    live): every measure equals that of the other cases alone, and exactly the poisoned
    case is listed."""
    asked = [
        (NOW, PERIOD),
        (NOW, Period(NOW - timedelta(days=90), NOW)),
        (NOW - timedelta(days=40), PERIOD),
    ]
    poison = data.draw(st.sampled_from(events))
    arrival = data.draw(st.permutations(events))
    afresh = data.draw(st.booleans())  # the live windows made afresh, not case by case
    with poisoned(poison.event_id, poison.type), pytest.MonkeyPatch.context() as patch:
        if afresh:
            patch.setattr(projections.projector, "REWINDOW", 0)
        aside = expected_quarantine(events, poison)
        live = Projector()
        for e in arrival:
            live.apply(e)
            for now, period in data.draw(st.lists(st.sampled_from(asked), max_size=2)):
                live.measures(now, period)
        replay = Projector()
        replay.apply_all(events)
        others = [e for e in events if e.case_id not in aside]
        for projector in (live, replay):
            for now, period in asked:
                assert projector.measures(now, period) == measured(others, now, period)
            assert {q.case_id for q in projector.quarantined()} == aside
            files = {c.case_id for c in projector.case_files(NOW)}
            assert files == {e.case_id for e in events} - aside
            assert all(projector.case_file(case) is None for case in aside)
    assert set(CASES) >= {e.case_id for e in events}


# --- alerts -------------------------------------------------------------------------------


def test_the_cases_quarantined_alert_fires_while_a_case_is_set_aside() -> None:
    # R's 6-week decision (due 13 Oct) is due within 7 days on 8 Oct: a per-case alert.
    events = three_cases()
    fix = ev("event.retracted", "R", "2025-10-08", "r9", event_id="r1", reason="test")
    with poisoned("r1", "request.received"):
        projector = Projector()
        projector.apply_all(events)
        engine = Engine(RULES)
        engine.update(projector, date(2025, 10, 8), AT)
        firing = {a["alertname"]: a for a in engine.active() if a["state"] == "firing"}
        alert = firing["CasesQuarantined"]
        assert alert["severity"] == "critical" and alert["team"] == "sendwatch-ops"
        assert alert["summary"] == "1 case set aside: the projections could not fold its events"
        assert "(R)" in alert["description"] and "GET /api/quarantine" in alert["description"]
        assert alert["case_id"] is None  # an aggregate: no case is a label
        assert not any(a["case_id"] == "R" for a in firing.values())  # R is not judged
        projector.apply(fix)
        engine.update(projector, date(2025, 10, 8), AT + timedelta(minutes=1), cases={"R"})
    states = {a["alertname"]: a["state"] for a in engine.active()}
    assert states["CasesQuarantined"] == "resolved"


def test_the_cases_quarantined_alert_names_the_first_ten_cases() -> None:
    measures = {w: measured([]) for w in ("7d", "28d", "12m")}
    ids = [f"K{n:02}" for n in range(12)]
    (found,) = [
        f
        for f in aggregate_findings(
            RULES, measures, dead_letters=0, last_recorded=None, at=AT, quarantined=ids
        )
        if f.alertname == "CasesQuarantined"
    ]
    assert found.value == 12.0 and found.threshold == 0.0
    assert "K00, K01, K02, K03, K04, K05, K06, K07, K08, K09 and 2 more" in found.description
    none = aggregate_findings(RULES, measures, dead_letters=0, last_recorded=None, at=AT)
    assert not any(f.alertname == "CasesQuarantined" for f in none)


# --- the Kafka worker's fold ----------------------------------------------------------------


def test_a_kafka_partition_applies_and_folds_past_a_poisoned_case() -> None:
    """The worker's live apply and its bulk fold (``Projector.tally`` at the end of a
    partition's reading) run the same projector: a poisoned case never escapes them."""
    records = [
        {
            "event_id": e.event_id,
            "type": e.type,
            "case_id": e.case_id,
            "occurred_at": e.day.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
            "data": e.data,
        }
        for e in three_cases()
    ]
    messages = [
        (offset, record["case_id"].encode(), orjson.dumps(record), -1, ())
        for offset, record in enumerate(records)
    ]
    with poisoned("q3", "plan.issued"):
        state = PartitionState(0)
        applied = apply_messages(state, messages[:5])
        state.projector.tally(NOW, PERIOD)  # the bulk fold
        applied = apply_messages(state, messages[5:])  # live: q3 extends Q and raises
        assert applied.new == 2 and state.position == 7
        assert render_of(state.projector) == measured(without(three_cases(), "Q"))
        assert [q.case_id for q in state.projector.quarantined()] == ["Q"]


def render_of(projector: Projector) -> dict[str, Any]:
    return projector.measures(NOW, PERIOD)


def test_a_worker_lists_the_quarantined_cases_of_every_partition_it_owns() -> None:
    from sendwatch.kafka_service import quarantined_in

    first, second = PartitionState(0), PartitionState(1)
    with poisoned("q1", "request.received"), poisoned("p1", "request.received"):
        first.projector.apply_all(e for e in three_cases() if e.case_id != "P")
        second.projector.apply_all(e for e in three_cases() if e.case_id == "P")
        assert [q.case_id for q in quarantined_in([second, first])] == ["P", "Q"]


# --- the commands -----------------------------------------------------------------------


def test_sendwatch_metrics_over_a_poisoned_file_exits_0_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(history()))
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(jsonl([e for e in history() if e["case_id"] != "KC-B"]))
    args = ["metrics", "--now", SERVICE_NOW]
    expected = CliRunner().invoke(cli, [*args, "--events", str(clean)])
    assert expected.exit_code == 0, expected.output
    with poisoned("b4", "plan.decided"):
        result = CliRunner().invoke(cli, [*args, "--events", str(path)])
        case = CliRunner().invoke(cli, ["case", "KC-B", "--events", str(path)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == orjson.loads(expected.stdout)  # as without KC-B
    assert "warning: 1 case set aside (quarantined)" in result.stderr
    assert f"KC-B: {FAULT}" in result.stderr and "at event b4" in result.stderr
    assert case.exit_code == 1
    assert "case 'KC-B' is quarantined" in case.stderr


def test_sendwatch_metrics_over_a_poisoned_log_exits_0_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(history()))
    db = tmp_path / "events.db"
    assert CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)]).exit_code == 0
    with poisoned("b4", "plan.decided"):
        result = CliRunner().invoke(cli, ["metrics", "--db", str(db), "--now", SERVICE_NOW])
    assert result.exit_code == 0, result.output
    assert "warning: 1 case set aside (quarantined)" in result.stderr
    assert orjson.loads(result.stdout)["final_plan"]["completed"] == 1  # KC-A's, not KC-B's


def test_sendwatch_report_over_a_poisoned_file_completes_and_says_so(tmp_path: Path) -> None:
    from sendwatch.report_command import report_command

    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(history()))
    with poisoned("b4", "plan.decided"):
        code = report_command(
            month="2025-06",
            events=str(path),
            db=tmp_path / "none.db",
            out=tmp_path,
            as_known_now=False,
        )
    assert code == 0
    html = (tmp_path / "report-2025-06.html").read_text(encoding="utf-8")
    assert "1 case could not be processed" in html
    assert (tmp_path / "report-2025-06.pdf").stat().st_size > 0


# --- sendwatch run, its alert process, a restart ----------------------------------------------

SITECUSTOMIZE = '''
"""Poisons the fold in every Python process started with this folder on PYTHONPATH: the
handler of plan.decided raises for the event b4 (KC-B's), as a fault would."""
import projections.case as case

_original = case.HANDLERS["plan.decided"]


def _poisoned(file, event):
    if event.event_id == "b4":
        raise RuntimeError("poisoned by the test")
    _original(file, event)


case.HANDLERS["plan.decided"] = _poisoned
'''


def test_sendwatch_run_starts_serves_and_alerts_over_a_log_with_a_poisoned_case(
    tmp_path: Path,
) -> None:
    """The fault is in both processes of ``sendwatch run`` (a ``sitecustomize`` on
    PYTHONPATH): the service starts on the log, serves every other case, names KC-B in
    /healthz (still ok: the alert process is not failing), and the alert process judges the
    log and fires CasesQuarantined; a restart does the same."""
    import os

    from tests.running_service import running_service

    poison = tmp_path / "poison"
    poison.mkdir()
    (poison / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(history()))
    db = tmp_path / "events.db"
    assert CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)]).exit_code == 0
    env = {"PYTHONPATH": os.pathsep.join([str(poison), os.environ.get("PYTHONPATH", "")])}
    for _ in range(2):  # and a restart on the same log
        with running_service(db, extra_env=env) as service, service.client() as http:
            health = service.alerts_judged()
            assert health["ok"] is True and health["alerts_failing"] is False
            assert health["quarantine"] == {"cases": 1, "case_ids": ["KC-B"], "more": 0}
            alerts = http.get("/api/alerts").json()["alerts"]
            firing = {a["alertname"] for a in alerts if a["state"] == "firing"}
            assert "CasesQuarantined" in firing
            assert not any(a["case_id"] == "KC-B" for a in alerts if a["state"] == "firing")
            assert http.get("/api/cases/KC-B").status_code == 409
            assert http.get("/api/cases/KC-A").status_code == 200
            listed = http.get("/api/quarantine").json()["quarantined"]
            assert [(q["case_id"], q["last_event_id"]) for q in listed] == [("KC-B", "b4")]
