"""A whole replay of the log settles each case (``Projector.replay_cases``): its records,
gathered by case, folded once into the sums the measures are made from, and its events
kept as one blob, with no event object, case file or tally of its own. Every reading is still
a replay's, field for field: the measures on any day, every case file, the filters, the
ids, a snapshot of it, and whatever arrives afterwards (later events, retractions,
repeats). The alert engine's daily pass over every case folds the settled ones for that
reading only."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Event, from_body
from events.upcast import current_schema
from projections import Projector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import catch_up
from tests.test_fold_snapshot import LATE, NOWS, PERIODS, readings
from tests.test_properties import NOW, PERIOD, histories


def stored(event: Event) -> bytes:
    """An event's stored record, as the log keeps it (``from_body`` reads it back)."""
    record: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type,
        "case_id": event.case_id,
        "occurred_at": event.day.isoformat(),
        "recorded_at": event.recorded_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
        "schema": current_schema(event.type),
    }
    if event.council is not None:
        record["council"] = event.council
    body = orjson.dumps(record)
    assert from_body(body) == event
    return body


def settled(events: list[Event]) -> Projector:
    """A projector that replayed ``events`` as the log's replay does: each case's stored
    records as one JSON array (``EventLog.read_by_case``), the cases in no set order."""
    by_case: dict[str, list[bytes]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(stored(e))
    projector = Projector()
    assert projector.empty
    cases = [(case_id, b"[" + b",".join(records) + b"]") for case_id, records in by_case.items()]
    assert projector.replay_cases(reversed(cases)) == len(events)
    return projector


def whole(events: list[Event]) -> Projector:
    projector = Projector()
    projector.apply_all(events)
    return projector


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_a_settled_replay_and_whatever_follows_it_equal_a_replay_of_it_all(
    events: list[Event], data: Any
) -> None:
    """Settled up to any point, measures asked on any day, the rest applied (later events,
    retractions and repeats of a case still settled): every answer is the replay's."""
    split = data.draw(st.integers(1, len(events)))
    projector = settled(events[:split])
    assert projector.dormant_count == projector.case_count  # none kept awake
    assert projector.event_count == split
    asked = data.draw(st.sampled_from([*NOWS, None]))
    if asked is not None:
        assert projector.measures(asked, PERIOD) == whole(events[:split]).measures(asked, PERIOD)
    for e in events[split:] + events[: data.draw(st.integers(0, split))]:  # repeats too
        projector.apply(e)
    everything = whole(events)
    for now in sorted({max(e.day for e in events), LATE}):
        assert projector.measures(now) == everything.measures(now)
    assert projector.measures(LATE, PERIODS[2]) == everything.measures(LATE, PERIODS[2])
    assert all(projector.knows(e.event_id) for e in events)
    assert not projector.knows("none-such")
    assert readings(projector) == readings(everything)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_a_settled_replay_reads_as_a_replay_and_stays_settled_for_the_alerts_pass(
    events: list[Event],
) -> None:
    """Measures on days after every event come from the settled sums with no case folded;
    the alert engine's pass (``case_files(keep=False)``) gives a replay's case files on any
    day and leaves every case settled; its snapshot loads to the same answers."""
    projector, replay = settled(events), whole(events)
    cases = projector.case_count
    last = max(e.day for e in events)
    for now in (last, last + timedelta(days=30), LATE):
        for period in PERIODS:
            assert projector.measures(now, period) == replay.measures(now, period)
    assert projector.dormant_count == cases
    for now in (None, NOW - timedelta(days=40), last):
        assert list(projector.case_files(now, keep=False)) == list(replay.case_files(now))
    assert projector.dormant_count == cases
    loaded = Projector.load_snapshot(projector.save_snapshot())
    assert loaded.event_count == len(events) and loaded.dormant_count == cases
    assert readings(loaded) == readings(replay)


def test_catch_up_settles_a_whole_replay_and_not_a_tail(tmp_path: Path) -> None:
    """``catch_up`` into an empty projector settles every case; into one holding cases it
    applies the tail as events (a settled case it touches is woken and folded)."""
    from tests.history import jsonl
    from tests.test_fold_snapshot import _log, _records

    records = _records(6)
    path = _log(tmp_path / "log.db", records[:4])
    with EventLog(path) as log:
        projector = Projector()
        assert catch_up(projector, log) == 4
        assert projector.dormant_count == 4 and projector.position == 4
        ingest(jsonl(records[4:]).splitlines(keepends=True), log, origin="test")
        assert catch_up(projector, log) == 2
        assert projector.dormant_count == 4 and projector.case_count == 6
        fresh = Projector()
        catch_up(fresh, log)
    assert fresh.dormant_count == 6
    assert readings(projector) == readings(fresh)


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_cases_applied_as_events_and_settled_read_as_a_replay(
    events: list[Event], data: Any
) -> None:
    """``settle`` of cases applied as events (a JSONL file's replay, a Kafka partition read
    in bulk; ids looked up or not; kept as blobs or as events), then more events: every
    answer is the replay's, the ids are known from what was settled, and a snapshot of it
    reads the same."""
    split = data.draw(st.integers(1, len(events)))
    projector = Projector()
    unique = data.draw(st.booleans())
    projector.apply_all(events[:split], unique=unique)
    compact = data.draw(st.booleans())  # as blobs, or the events kept as they are
    assert projector.settle(compact) == projector.case_count == projector.dormant_count
    assert projector.settle() == 0  # nothing left to settle
    assert projector.event_count == split
    for e in events[split:] + events[: data.draw(st.integers(0, split))]:  # repeats too
        projector.apply(e)
    everything = whole(events)
    assert all(projector.knows(e.event_id) for e in events)
    assert projector.measures(LATE, PERIODS[2]) == everything.measures(LATE, PERIODS[2])
    assert readings(Projector.load_snapshot(projector.save_snapshot())) == readings(everything)
    assert readings(projector) == readings(everything)


def test_the_first_measures_settle_and_then_settle_leaves_kept_tallies_alone() -> None:
    """The first measures of cases applied as events settle them, but for a case with an
    event after the "now" asked (folded as ever); once measures are kept, ``settle``
    settles nothing (the kept tallies would not hold the cases)."""
    from tests.history import event

    projector = Projector()
    projector.apply(event("request.received", "C1", "2025-01-06", requested_by="parent"))
    projector.apply(event("request.received", "C3", "2025-01-06", requested_by="parent"))
    projector.apply(event("assessment.decided", "C3", "2025-02-20", decision="assess"))
    assert projector.measures(date(2025, 2, 1), PERIOD)["assess_decision"]["open"] == 2
    assert projector.dormant_count == 1  # C1; C3 has an event after that "now"
    projector.apply(event("request.received", "C2", "2025-01-07", requested_by="parent"))
    assert projector.settle() == 0 and projector.dormant_count == 1
    assert projector.measures(NOW, PERIOD)["assess_decision"]["open"] == 2
    assert projector.measures(NOW, PERIOD) == whole(
        projector.events_of("C1") + projector.events_of("C2") + projector.events_of("C3")
    ).measures(NOW, PERIOD)


def test_the_log_gathers_each_cases_records_between_two_positions(tmp_path: Path) -> None:
    """``EventLog.read_by_case``: every stored record after one position and up to another,
    each once, with its own case's records and no other's."""
    from tests.history import raw
    from tests.test_fold_snapshot import _log, _records

    more = [
        raw("assessment.decided", "C1", "2025-02-10", decision="assess"),
        raw("request.withdrawn", "C0", "2025-02-11"),
        raw("assessment.decided", "C2", "2025-02-12", decision="refuse"),
    ]
    with EventLog(_log(tmp_path / "log.db", [*_records(4), *more])) as log:
        stored_records = dict(log.read())
        head = log.head()
        for after, upto in ((0, head), (1, head - 1), (head, head)):
            gathered = {
                case_id: orjson.loads(blob) for case_id, blob in log.read_by_case(after, upto)
            }
            expected: dict[str, list[Any]] = {}
            for position, record in stored_records.items():
                if after < position <= upto:
                    expected.setdefault(record["case_id"], []).append(record)
            assert {c: sorted(r, key=str) for c, r in gathered.items()} == {
                c: sorted(r, key=str) for c, r in expected.items()
            }


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_the_work_queue_wakes_only_the_settled_cases_it_may_list(
    events: list[Event], data: Any
) -> None:
    """The work queue of a settled replay, or of its snapshot, on a day after every event
    is a replay's row for row, and wakes only the cases with an open run not excepted (the
    rest give it no row); on a day before the last event it reads every case."""
    from projections.queue import queue_rows

    replay = whole(events)
    last = max(e.day for e in events)
    now = last + timedelta(days=data.draw(st.integers(0, 400)))
    within = data.draw(st.sampled_from([0, 7, 28, 400]))
    expected = queue_rows(replay.case_files(now), now, within)
    waited = {
        case.case_id
        for case in replay.case_files()
        if any(r.stop is None and r.cancelled is None and not r.excepted for r in case.running)
    }
    for projector in (settled(events), Projector.load_snapshot(settled(events).save_snapshot())):
        assert queue_rows(projector.queue_files(now), now, within) == expected
        assert projector.dormant_count == projector.case_count - len(waited)
        assert projector.measures(now) == replay.measures(now)
    earlier = last - timedelta(days=data.draw(st.integers(1, 60)))
    assert queue_rows(settled(events).queue_files(earlier), earlier, within) == queue_rows(
        replay.case_files(earlier), earlier, within
    )
