"""The embedded event log: idempotent appends, dead letters, ingest, and durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

from events import Event, decode_event, from_record
from projections import Projector
from streams.ingest import ingest
from streams.log import EventLog
from streams.replay import apply_appended, catch_up
from tests.history import jsonl, raw, sendwatch


def lines(*events: bytes) -> list[bytes]:
    return [e for e in b"".join(events).splitlines(keepends=True)]


def test_append_is_idempotent_on_event_id(tmp_path: Path) -> None:
    events = [
        raw("plan.issued", "C1", "2025-01-06", eid="e1"),
        raw("plan.issued", "C2", "2025-01-07", eid="e2"),
    ]
    with EventLog(tmp_path / "log.db") as log:
        first = ingest(lines(jsonl(events)), log, origin="a.jsonl")
        again = ingest(
            lines(jsonl([*events, raw("plan.issued", "C3", "2025-01-08", eid="e3")])),
            log,
            origin="b.jsonl",
        )
        assert (first.accepted, first.duplicates) == (2, 0)
        assert (again.accepted, again.duplicates) == (1, 2)
        assert log.count() == 3 and log.head() == 3
        # the same id twice in one batch is stored once
        twice = ingest(
            lines(jsonl([raw("plan.issued", "C4", "2025-01-09", eid="e4")] * 2)),
            log,
            origin="c.jsonl",
        )
        assert (twice.accepted, twice.duplicates) == (1, 1)
        assert [p for p, _ in log.read()] == [1, 2, 3, 4]  # positions have no gaps


def test_recorded_at_is_stamped_on_arrival_when_absent(tmp_path: Path) -> None:
    event = raw("plan.issued", "C1", "2025-01-06")
    del event["recorded_at"]
    with EventLog(tmp_path / "log.db") as log:
        ingest(lines(jsonl([event])), log, origin="a.jsonl")
        ((_, record),) = log.read()
    assert from_record(record).recorded_at.year >= 2026  # today, not the occurrence date


def test_dead_letters_keep_the_input_where_it_came_from_and_why(tmp_path: Path) -> None:
    good = jsonl([raw("plan.issued", "C1", "2025-01-06")])
    bad = orjson.dumps(raw("plan.decided", "C1", "2025-01-06", decision="perhaps")) + b"\n"
    with EventLog(tmp_path / "log.db") as log:
        summary = ingest(lines(good, b"\n", b"not json\n", bad), log, origin="feed.jsonl")
        assert (summary.accepted, summary.rejected) == (1, 2)
        letters = sorted(log.dead_letters(), key=lambda d: d.id)
    assert [d.origin for d in letters] == ["feed.jsonl line 3", "feed.jsonl line 4"]
    assert letters[0].raw == b"not json" and letters[0].reason.startswith("not valid JSON")
    assert letters[1].reason.startswith("data.decision") and b"perhaps" in letters[1].raw


def test_ingest_command_summary_and_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl([raw("plan.issued", "C1", "2025-01-06", eid="x1")]) + b"{bad\n")
    db = tmp_path / "log.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return sendwatch("ingest", *args)

    first = run(str(path), "--db", str(db))
    assert first.returncode == 0
    assert "accepted 1, duplicates 0, rejected 1" in first.stderr
    assert f"{path} line 2: not valid JSON" in first.stderr
    second = run(str(path), "--db", str(db))
    assert second.returncode == 1  # nothing accepted
    assert "accepted 0, duplicates 1, rejected 1" in second.stderr
    assert run(str(tmp_path / "missing.jsonl"), "--db", str(db)).returncode == 2
    assert run("--db", str(db)).returncode == 2  # no PATH: a usage error


def test_projector_catches_up_from_its_position_without_gaps(tmp_path: Path) -> None:
    with EventLog(tmp_path / "log.db") as log:
        ingest(
            lines(jsonl([raw("plan.issued", f"C{n}", "2025-01-06") for n in range(5)])),
            log,
            origin="a",
        )
        p = Projector()
        assert catch_up(p, log) == 5 and p.position == 5
        ingest(lines(jsonl([raw("plan.issued", "C9", "2025-01-06")])), log, origin="b")
        assert catch_up(p, log) == 1 and p.position == 6 and p.event_count == 6


def test_a_batch_just_appended_is_applied_from_memory_exactly_as_read_back(
    tmp_path: Path,
) -> None:
    """``apply_appended`` (the service's POST) gives what ``catch_up`` gives: with a
    duplicate in the batch, with an id already stored, and when another writer appended
    between two batches (then it reads the log)."""

    def records(*events: dict[str, object]) -> list[tuple[dict[str, object], Event]]:
        return [decode_event(orjson.dumps(e), arrival=None) for e in events]

    def append(batch: list[tuple[dict[str, object], Event]]) -> int:
        appended = log.append([record for record, _ in batch])
        return apply_appended(live, log, [event for _, event in batch], appended)

    first = records(raw("plan.issued", "C1", "2025-01-06", eid="e1"))
    second = records(
        raw("plan.issued", "C2", "2025-01-07", eid="e2"),
        raw("plan.issued", "C3", "2025-01-08", eid="e1"),  # an id already stored
        raw("plan.issued", "C4", "2025-01-09", eid="e3"),
        raw("plan.issued", "C5", "2025-01-10", eid="e3"),  # repeated within the batch
    )
    other = records(raw("plan.issued", "C6", "2025-01-11", eid="e4"))
    third = records(raw("plan.issued", "C7", "2025-01-12", eid="e5"))
    with EventLog(tmp_path / "log.db") as log:
        live = Projector()
        assert append(first) == 1
        assert append(second) == 2
        with EventLog(tmp_path / "log.db") as writer:  # another writer appends meanwhile
            writer.append([record for record, _ in other])
        assert append(third) == 2
        replayed = Projector()
        catch_up(replayed, log)
    assert live.position == replayed.position == 5
    assert sorted(live.case_files(), key=lambda c: c.case_id) == sorted(
        replayed.case_files(), key=lambda c: c.case_id
    )
    assert {c.case_id for c in live.case_files()} == {"C1", "C2", "C4", "C6", "C7"}


def test_kill_9_during_a_large_ingest_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """A real subprocess is killed with SIGKILL mid-ingest; every line it acknowledged is in
    the log exactly once, and re-running the ingest completes the log with no duplicate."""
    total = 200_000
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as out:
        for n in range(total):
            out.write(
                orjson.dumps(
                    raw(
                        "contact.received",
                        f"C{n % 5000}",
                        "2025-01-06",
                        eid=f"big-{n}",
                        contact_id=f"k{n}",
                        channel="email",
                    )
                )
            )
            out.write(b"\n")
    db = tmp_path / "log.db"
    ingesting = subprocess.Popen(
        [sys.executable, "-m", "sendwatch.cli", "ingest", str(path), "--db", str(db), "--acks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert ingesting.stdout is not None
    acknowledged = 0
    for line in ingesting.stdout:
        acknowledged = int(line.split()[1])
        if acknowledged >= 40_000:
            os.kill(ingesting.pid, signal.SIGKILL)
            break
    ingesting.wait()
    assert ingesting.returncode == -signal.SIGKILL
    assert 40_000 <= acknowledged < total  # killed mid-ingest

    with sqlite3.connect(db) as check:
        stored = {row[0] for row in check.execute("SELECT event_id FROM events")}
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {f"big-{n}" for n in range(acknowledged)} <= stored

    rerun = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", "ingest", str(path), "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"accepted {total - len(stored):,}, duplicates {len(stored):,}" in rerun.stderr
    with EventLog(db) as log:
        assert log.count() == total
        ids = [record["event_id"] for _, record in log.read()]
    assert len(ids) == len(set(ids)) == total
