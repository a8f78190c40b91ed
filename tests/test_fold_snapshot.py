"""Snapshots of folded state (DESIGN.md: "Start-up and reports read a snapshot, not all
history"): a snapshot loaded and the rest of the history applied gives exactly what a replay
of the whole history gives; a snapshot that is damaged, of another log, or written by
another fold is refused, and the caller replays instead (it costs a replay, never a figure).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from events import Event
from projections import Period, Projector
from projections import snapshot as snapshot_format
from projections.calendar import add_months
from projections.snapshot import SnapshotError
from sendwatch.cli import app
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import load_projector
from streams.snapshots import open_snapshot, snapshot_path, temporary_path, write_snapshot
from tests.history import jsonl, raw
from tests.test_properties import NOW, PERIOD, START, histories

PERIODS = [
    PERIOD,
    Period(NOW - timedelta(days=30), NOW),
    Period(START, START + timedelta(days=200)),
]
LATE = NOW + timedelta(days=400)  # after every event of ``histories``
NOWS = [NOW, NOW - timedelta(days=40), LATE]


def readings(projector: Projector) -> dict[str, Any]:
    """Everything a reader may ask of a projector, for comparing two of them."""
    return {
        "measures": [projector.measures(now, period) for now in NOWS for period in PERIODS],
        "files": list(projector.case_files()),
        "files_then": list(projector.case_files(NOW - timedelta(days=40))),
        "by_day": dict(projector.dated_sums(NOW)),
        "events": projector.event_count,
        "cases": projector.case_ids(),
        "quarantined": [(q.case_id, q.error) for q in projector.quarantined()],
    }


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_a_snapshot_and_the_rest_of_the_history_equal_a_replay_of_it_all(
    events: list[Event], data: Any
) -> None:
    """Split anywhere, with measures asked on any day before the snapshot (so it keeps
    those tallies), the rest applied to the loaded projector (later events, retractions
    and repeats of a case still dormant in the snapshot) gives the replay's every answer."""
    split = data.draw(st.integers(0, len(events)))
    before = Projector()
    before.apply_all(events[:split])
    for now in data.draw(st.lists(st.sampled_from(NOWS), max_size=2)):
        before.measures(now, data.draw(st.sampled_from(PERIODS)))
    loaded = Projector.load_snapshot(before.save_snapshot())
    assert loaded.dormant_count == before.case_count  # nothing decoded until touched
    first = data.draw(st.sampled_from([*NOWS, None]))
    if first is not None:  # asked before the rest arrives: from the kept tallies
        assert loaded.measures(first, PERIOD) == before.measures(first, PERIOD)
    for e in events[split:] + events[: data.draw(st.integers(0, split))]:  # repeats too
        loaded.apply(e)
    whole = Projector()
    whole.apply_all(events)
    # on days on and after the last event, from what the untouched cases add up to (none
    # is folded): on the last day, on days a clock falls due within 7 days of, and on days
    # an appeal window (2 months) is still open or has just closed on
    last = max(e.day for e in events)
    days = {e.day for e in events}
    dues = {run.due for case in whole.case_files() for run in case.clocks}
    nows = {last + timedelta(days=n) for n in (0, 1, 400)}
    nows |= {add_months(day, 2) + timedelta(days=n) for day in days for n in (-1, 0, 1)}
    nows |= {due + timedelta(days=n) for due in dues for n in (-8, -7, -1, 0, 1)}
    dormant = loaded.dormant_count
    for now in sorted(day for day in nows if day >= last):
        assert loaded.measures(now) == whole.measures(now)
    assert loaded.measures(LATE, PERIODS[2]) == whole.measures(LATE, PERIODS[2])
    # none woken (the first measures may settle cases applied since, with none kept)
    assert loaded.dormant_count >= dormant
    assert readings(loaded) == readings(whole)


def test_a_snapshot_of_a_snapshot_keeps_the_cases_never_touched() -> None:
    """A snapshot saved from a loaded one copies its untouched cases' events as they were."""
    events = [
        *(
            _event("request.received", f"C{n}", "2025-01-06", requested_by="parent")
            for n in range(5)
        ),
        _event("assessment.decided", "C1", "2025-02-10", decision="assess"),
    ]
    whole = Projector()
    whole.apply_all(events)
    once = Projector.load_snapshot(whole.save_snapshot())
    once.measures(NOW, PERIOD)  # from the kept tallies: nothing woken
    twice = Projector.load_snapshot(once.save_snapshot())
    assert twice.dormant_count == 5
    assert readings(twice) == readings(whole)


def _event(kind: str, case: str, on: str, **data: Any) -> Event:
    from tests.history import event

    return event(kind, case, on, **data)


def _records(n: int) -> list[dict[str, Any]]:
    """``n`` requests for assessment, one a case (C0, C1, ...), on 6 January 2025 on."""
    return [
        raw(
            "request.received",
            f"C{k}",
            (date(2025, 1, 6) + timedelta(days=k)).isoformat(),
            requested_by="parent",
        )
        for k in range(n)
    ]


def _log(path: Path, records: list[dict[str, Any]]) -> Path:
    with EventLog(path, create=True) as log:
        ingest(jsonl(records).splitlines(keepends=True), log, origin="test")
    return path


def test_metrics_from_a_snapshot_and_the_tail_equal_a_replay(tmp_path: Path) -> None:
    """``sendwatch snapshot`` saves beside the log; then more events are appended (one for
    a case in the snapshot: its assessment decided); load_projector starts from the
    snapshot and applies only those."""
    records = _records(30)
    db = _log(tmp_path / "s.db", records)
    result = CliRunner().invoke(app, ["snapshot", "--db", str(db), "--now", "2025-09-30"])
    assert result.exit_code == 0, result.output
    assert "30 events" in result.output and snapshot_path(db).exists()
    tail = [
        raw("assessment.decided", "C3", "2025-02-12", decision="assess"),
        *_records(33)[30:],
    ]
    with EventLog(db) as log:
        ingest(jsonl(tail).splitlines(keepends=True), log, origin="test")
    loaded = load_projector(None, db)
    assert loaded.snapshot.startswith("snapshot ") and "position 30" in loaded.snapshot
    fresh = load_projector(None, _log(tmp_path / "fresh.db", records + tail))
    assert fresh.snapshot.startswith("no snapshot")
    assert readings(loaded.projector) == readings(fresh.projector)
    assert loaded.projector.event_count == 34


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",  # cut short (a crash could not do this: it is written atomically)
        "a byte of a case changed",
        "a byte of the header changed",
        "not a snapshot",
        "empty",
    ],
)
def test_a_damaged_snapshot_costs_only_a_replay(tmp_path: Path, damage: str) -> None:
    db = _log(tmp_path / "s.db", _records(10))
    with EventLog(db) as log:
        projector = load_projector(None, db).projector
        path = write_snapshot(projector, db)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) - 7]
    elif damage == "a byte of a case changed":
        data[-3] ^= 0x01
    elif damage == "a byte of the header changed":
        data[len(snapshot_format.MAGIC) + 12] ^= 0x20
    elif damage == "not a snapshot":
        data = bytearray(b"SQLite format 3\x00" + bytes(data[16:]))
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with EventLog.open_existing(db) as log:
        saved, why = open_snapshot(log, db)
    assert saved is None and str(path) in why
    loaded = load_projector(None, db)
    assert loaded.snapshot == why
    assert readings(loaded.projector) == readings(projector)


def test_a_snapshot_of_another_fold_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FOLD_VERSION (or the law table, the fold, the measures) changed since it was written:
    what it holds may not be what this fold makes of the events."""
    db = _log(tmp_path / "s.db", _records(4))
    write_snapshot(load_projector(None, db).projector, db)
    monkeypatch.setattr(snapshot_format, "FOLD_VERSION", snapshot_format.FOLD_VERSION + 1)
    snapshot_format.fold_fingerprint.cache_clear()
    try:
        with pytest.raises(SnapshotError, match="another fold"):
            Projector.load_snapshot(snapshot_path(db).read_bytes())
        loaded = load_projector(None, db)
    finally:
        monkeypatch.undo()
        snapshot_format.fold_fingerprint.cache_clear()
    assert "written by another fold" in loaded.snapshot
    assert loaded.projector.event_count == 4


def test_a_snapshot_of_another_log_is_refused(tmp_path: Path) -> None:
    """A snapshot beside a log it was not taken of (copied, or the log replaced): its event
    at its position is not the log's, or its position is beyond the log's last event."""
    db = _log(tmp_path / "s.db", _records(6))
    write_snapshot(load_projector(None, db).projector, db)
    other = _log(
        tmp_path / "o.db",
        [raw("request.received", f"D{k}", "2025-03-03", requested_by="school") for k in range(8)],
    )
    snapshot_path(other).write_bytes(snapshot_path(db).read_bytes())
    loaded = load_projector(None, other)
    assert "not of this log" in loaded.snapshot
    assert loaded.projector.case_ids() == {f"D{k}" for k in range(8)}
    shorter = _log(tmp_path / "t.db", _records(2))
    snapshot_path(shorter).write_bytes(snapshot_path(db).read_bytes())  # 6 events: beyond 2
    loaded = load_projector(None, shorter)
    assert "beyond the log" in loaded.snapshot and loaded.projector.event_count == 2


def test_the_snapshot_is_replaced_whole(tmp_path: Path) -> None:
    """Written to a temporary file and renamed over the old one: no temporary file is left,
    and the file read back holds the position and every event id."""
    db = _log(tmp_path / "s.db", _records(3))
    projector = load_projector(None, db).projector
    write_snapshot(projector, db)
    write_snapshot(projector, db)
    assert sorted(p.name for p in tmp_path.iterdir() if "snapshot" in p.name) == ["s.db.snapshot"]
    header, body = snapshot_format.unpack(snapshot_path(db).read_bytes())
    assert header["position"] == 3
    start, length = header["ids"]
    ids = snapshot_format.decode_ids(bytes(body[start : start + length]))
    assert sorted(ids) == sorted(e.event_id for c in ("C0", "C1", "C2")
                                 for e in projector.events_of(c))  # fmt: skip


def test_sendwatch_run_saves_its_snapshot_on_shutdown_and_starts_from_it(tmp_path: Path) -> None:
    """The service saves the folded state beside the log when it stops, and starts from it
    the next time: its measures and a case's clocks are what the first run served."""
    from tests.running_service import NDJSON_TYPE, history, running_service
    from tests.running_service import jsonl as lines

    db = tmp_path / "run.db"
    with running_service(db) as service, service.client() as http:
        assert http.post("/api/events", content=lines(history()), headers=NDJSON_TYPE).is_success
        first = http.get("/api/measures").json()
        case = http.get(f"/api/cases/{history()[0]['case_id']}").json()
    assert snapshot_path(db).exists()
    with running_service(db) as service, service.client() as http:
        assert http.get("/api/measures").json() == first
        assert http.get(f"/api/cases/{history()[0]['case_id']}").json() == case
    said = "".join(path.read_text() for path in tmp_path.glob("run.*.log"))
    assert f"starting from no snapshot at {snapshot_path(db)}" in said
    assert f"starting from snapshot {snapshot_path(db)} at position {len(history())}" in said


def test_the_timers_snapshot_is_saved_by_a_child_while_the_lock_is_free(tmp_path: Path) -> None:
    """The service's timer forks a child to save the snapshot (``BackgroundSnapshot``): the
    lock is free again as soon as the child is started, what the service does meanwhile
    does not get into it (it holds the state of the instant it was forked), and the
    snapshot it saves is one the service starts from, at that position."""
    import os
    import threading
    from types import SimpleNamespace

    from sendwatch.embedded_service import BackgroundSnapshot

    db = tmp_path / "run.db"
    with EventLog(db) as log:
        lines = jsonl([raw("plan.issued", f"C{n}", "2025-01-06") for n in range(3)])
        ingest(lines.splitlines(True), log, origin="t")
        loaded = load_projector(None, db)
    source = SimpleNamespace(lock=threading.Lock(), projector=loaded.projector)
    saver = BackgroundSnapshot()
    saver.start(source, db)  # type: ignore[arg-type]
    assert saver.pid is not None and not source.lock.locked()
    with source.lock:  # the service moves on while the child saves
        source.projector.position = 99
    pid = saver.pid
    saver.wait()
    assert saver.pid is None and not saver.running()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # reaped
    with EventLog(db) as log:
        saved, why = open_snapshot(log, db)
    assert saved is not None, why
    assert saved.position == 3 and saved.case_count == 3
    assert saved.measures(NOW) == loaded.projector.measures(NOW)


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_the_cases_a_filter_picks_after_a_snapshot_are_a_replays_and_none_is_folded(
    events: list[Event], data: Any
) -> None:
    """The measures of a team, a caseworker, a setting, a need or a council pick their cases
    by the dimensions the snapshot kept (``case_ids_where``): the same cases as a replay of
    it all picks from its case files, the same measures, and no case is decoded or folded
    to pick them (only those picked, to tally them)."""
    from projections.queue import DIMENSIONS, Filters

    whole = Projector()
    whole.apply_all(events)
    loaded = Projector.load_snapshot(whole.save_snapshot())
    now = max(e.day for e in events)
    name = data.draw(st.sampled_from(DIMENSIONS))
    seen = sorted({getattr(case, name) or "886" for case in whole.case_files()})
    value = data.draw(st.sampled_from([*seen, "none-such"]))
    filters = Filters(**{name: value})

    def wanted(case: Any) -> bool:
        return filters.matches(case, "886")

    expected = sorted(case.case_id for case in whole.case_files(now) if wanted(case))
    picked = loaded.case_ids_where(wanted, now)
    assert sorted(picked) == expected == sorted(whole.case_ids_where(wanted, now))
    assert loaded.dormant_count == whole.case_count
    assert loaded.measures_of(picked, now) == whole.measures_of(expected, now)
    assert loaded.dormant_count == whole.case_count - len(picked)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=8), max_size=6, unique=True),
    st.text(min_size=1, max_size=8),
)
def test_a_snapshots_ids_are_found_by_a_scan_exactly_when_they_are_there(
    ids: list[str], other: str
) -> None:
    """A start-up checks that the snapshot is of its log by the id of the log's event at the
    snapshot's position, scanning the saved ids' JSON (``holds_id``) rather than reading them
    all: it finds every id there, and none that is not, whatever quotes, commas, brackets
    or backslashes the ids hold."""
    blob = snapshot_format.encode_ids(ids)
    assert all(snapshot_format.holds_id(blob, event_id) for event_id in ids)
    assert snapshot_format.holds_id(blob, other) == (other in ids)
    assert snapshot_format.decode_ids(blob) == ids


def test_a_snapshot_child_still_saving_at_shutdown_is_stopped_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service waits for the timer's snapshot child before it saves on its way out, but
    not for ever: one still saving after the limit is killed, and its half-written file is
    removed (the snapshot before it stays the one the service starts from)."""
    import os
    import threading
    import time
    from types import SimpleNamespace

    import sendwatch.embedded_service as service
    from sendwatch.embedded_service import BackgroundSnapshot

    def stuck(projector: Projector, db: Path) -> Path:
        temporary_path(db, os.getpid()).write_bytes(b"half")
        time.sleep(60)
        return snapshot_path(db)

    monkeypatch.setattr(service, "write_snapshot", stuck)
    db = tmp_path / "run.db"
    source = SimpleNamespace(lock=threading.Lock(), projector=Projector())
    saver = BackgroundSnapshot()
    saver.start(source, db)  # type: ignore[arg-type]
    pid = saver.pid
    deadline = time.monotonic() + 10
    while not list(tmp_path.glob("*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the child has begun writing
    started = time.monotonic()
    saver.wait(limit=0.5)
    assert time.monotonic() - started < 5 and saver.pid is None
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no snapshot
    with pytest.raises(ChildProcessError):
        os.waitpid(pid or 0, 0)  # reaped
