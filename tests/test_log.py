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
from tests.running_service import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


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


def test_ingest_says_loudly_when_most_lines_were_rejected_but_keeps_what_it_accepted(
    tmp_path: Path,
) -> None:
    """Exit 0 while anything was accepted; a warning line when more than half the lines
    were rejected (3 of 4 here), none when half or fewer were (1 of 2)."""
    good = jsonl([raw("plan.issued", "C1", "2025-01-06", eid="w1")])
    mostly_bad = tmp_path / "mostly-bad.jsonl"
    mostly_bad.write_bytes(good + b"{bad\nnope\n[1]\n")
    half = tmp_path / "half.jsonl"
    half.write_bytes(jsonl([raw("plan.issued", "C2", "2025-01-06", eid="w2")]) + b"{bad\n")
    db = str(tmp_path / "log.db")
    loud = sendwatch("ingest", str(mostly_bad), "--db", db)
    assert loud.returncode == 0 and "accepted 1, duplicates 0, rejected 3" in loud.stderr
    (warning,) = [line for line in loud.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: 3 of 4 lines were rejected (more than half)")
    quiet = sendwatch("ingest", str(half), "--db", db)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


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


def test_a_replay_of_the_log_still_refuses_an_event_it_applied_when_sent_again(
    tmp_path: Path,
) -> None:
    """A replay of the log applies without looking each id up (the log's ids are unique):
    an event sent again afterwards, live, is still known and changes nothing, and one that
    is new is applied; the counts are the same either way."""
    events = [raw("plan.issued", f"C{n}", "2025-01-06", eid=f"e{n}") for n in range(4)]
    again = decode_event(orjson.dumps(events[2]), arrival=None)[1]
    fresh = decode_event(orjson.dumps(raw("plan.issued", "C9", "2025-01-07")), arrival=None)[1]
    with EventLog(tmp_path / "log.db") as log:
        ingest(lines(jsonl(events)), log, origin="a")
        replayed = Projector()
        catch_up(replayed, log)
    assert replayed.event_count == 4 and replayed.knows("e2")
    assert replayed.apply(again) is False and replayed.event_count == 4
    assert replayed.apply(fresh) is True and replayed.event_count == 5
    assert [c.case_id for c in replayed.case_files()] == ["C0", "C1", "C2", "C3", "C9"]


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


# --- one id, one event (CONTRACT.md 1.1) ----------------------------------------------------


def test_an_id_used_again_for_a_different_event_is_a_dead_letter_naming_its_line(
    tmp_path: Path,
) -> None:
    """CONTRACT.md 1.1 "One id, one event": an event_id that arrives again with other content
    is a dead letter, never silently ignored; an exact repeat (even with another
    ``recorded_at``, or none, stamped on arrival) is a duplicate, as before."""
    first = raw("plan.issued", "C1", "2025-01-06", eid="e1", recorded="2025-01-06T10:00:00")
    repeat = {**first, "recorded_at": "2025-02-01T09:00:00+00:00"}  # exported again
    stamped = {key: value for key, value in first.items() if key != "recorded_at"}
    other_case = {**first, "case_id": "C2"}
    other_day = {**first, "occurred_at": "2025-01-07"}
    with EventLog(tmp_path / "log.db") as log:
        ingest(lines(jsonl([first])), log, origin="a.jsonl")
        summary = ingest(
            lines(jsonl([repeat, other_case, stamped, other_day])), log, origin="b.jsonl"
        )
        assert (summary.accepted, summary.duplicates, summary.rejected) == (0, 2, 2)
        letters = sorted(log.dead_letters(), key=lambda d: d.id)
        ((_, stored),) = log.read()
    assert [(d.origin, d.reason) for d in letters] == [
        ("b.jsonl line 2", "event_id already used for a different event"),
        ("b.jsonl line 4", "event_id already used for a different event"),
    ]
    assert orjson.loads(letters[0].raw)["case_id"] == "C2"  # the input as it arrived
    assert stored["case_id"] == "C1" and stored["occurred_at"] == "2025-01-06"  # unchanged
    assert [(r.origin, r.reason) for r in summary.first_rejections] == [
        (d.origin, d.reason) for d in letters
    ]


def test_an_id_repeated_within_one_batch_with_other_content_is_a_dead_letter(
    tmp_path: Path,
) -> None:
    """The first of the batch is stored; a later one with the same id and the same content
    is a duplicate, with other content a dead letter (``Appended.conflicts`` says which)."""
    batch = [
        raw("plan.issued", "C1", "2025-01-06", eid="e1"),
        raw("plan.issued", "C1", "2025-01-06", eid="e1"),  # the same again
        raw("plan.issued", "C9", "2025-01-06", eid="e1"),  # another case under its id
        raw("plan.issued", "C2", "2025-01-07", eid="e2"),
    ]
    records = [decode_event(orjson.dumps(e), arrival=None)[0] for e in batch]
    with EventLog(tmp_path / "log.db") as log:
        done = log.append(records, origin="POST /api/events", lines=[1, 2, 3, 4])
        assert (done.accepted, done.duplicates, done.rejected, done.head) == (2, 1, 1, 2)
        ((index, letter),) = done.conflicts
        assert index == 2 and letter.origin == "POST /api/events line 3"
        assert log.dead_letter_count() == 1
        assert [record["case_id"] for _, record in log.read()] == ["C1", "C2"]


def test_a_post_lists_a_conflicting_id_in_rejected_with_its_line(tmp_path: Path) -> None:
    """The same rule through ``POST /api/events``: the answer's ``rejected`` names the line,
    beside the lines the decoder refused, in line order, and nothing of it is applied."""
    from tests.test_api import Service

    service = Service(tmp_path)
    try:
        first = raw("plan.issued", "C1", "2025-01-06", eid="e1")
        assert service.post(jsonl([first])).json()["accepted"] == 1
        body = (
            jsonl(
                [
                    {**first, "case_id": "C2"},  # line 1: the id of another event
                    raw("plan.issued", "C3", "2025-01-08", eid="e3"),
                    first,  # line 3: an exact repeat
                ]
            )
            + b"not json\n"
        )  # line 4
        answer = service.post(body)
        assert answer.status_code == 200
        got = answer.json()
        assert (got["accepted"], got["duplicates"]) == (1, 1)
        assert [(r["line"], r["reason"][:15]) for r in got["rejected"]] == [
            (1, "event_id alread"),
            (4, "not valid JSON:"),
        ]
        assert service.stored() == (2, 2)  # e1 and e3; two dead letters
        assert service.source.health().dead_letters == 2
        assert service.http.get("/api/cases/C2", headers=AUTH).status_code == 404
    finally:
        service.http.close()
        service.log.close()


# --- dead letters expire ---------------------------------------------------------------------


def test_purging_dead_letters_keeps_the_count_of_every_line_ever_rejected(tmp_path: Path) -> None:
    """Dead letters keep raw input, so they are purged by date; the ``dead_letters`` measure
    counts lines rejected, so a purge leaves it as it was (the purged are counted in the log's
    ``meta`` table)."""
    from datetime import UTC, datetime, timedelta

    with EventLog(tmp_path / "log.db") as log:
        ingest(lines(b"bad one\n", b"bad two\n"), log, origin="old.jsonl")
        log._db.execute(  # received 100 days ago
            "UPDATE dead_letters SET received_at = ?",
            ((datetime.now(UTC) - timedelta(days=100)).isoformat(),),
        )
        ingest(lines(b"bad three\n"), log, origin="new.jsonl")
        assert (log.stored_dead_letters(), log.dead_letter_count()) == (3, 3)
        assert log.expire_dead_letters(90) == 2  # the two older than 90 days
        assert [d.origin for d in log.dead_letters()] == ["new.jsonl line 1"]
        assert (log.stored_dead_letters(), log.purged_dead_letters()) == (1, 2)
        assert log.dead_letter_count() == 3
        assert log.expire_dead_letters(90) == 0  # nothing more to purge
        assert log.purge_dead_letters(datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert (log.stored_dead_letters(), log.dead_letter_count()) == (0, 3)
    with EventLog.open_existing(tmp_path / "log.db") as reopened:
        assert reopened.dead_letter_count() == 3


def test_a_projector_catches_up_in_slices_without_skipping(tmp_path: Path) -> None:
    """``catch_up(limit=n)`` stops after n records (a caller holding a lock lets go between
    slices); slice after slice it reaches what one catch-up reaches."""
    with EventLog(tmp_path / "log.db") as log:
        ingest(
            lines(jsonl([raw("plan.issued", f"C{n}", "2025-01-06") for n in range(7)])),
            log,
            origin="a",
        )
        sliced, whole = Projector(), Projector()
        assert [catch_up(sliced, log, limit=3) for _ in range(4)] == [3, 3, 1, 0]
        catch_up(whole, log)
    assert sliced.position == whole.position == 7
    assert sliced.event_count == whole.event_count == 7
