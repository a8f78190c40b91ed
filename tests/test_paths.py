"""Paths and a user's mistakes: a command that reads an event log never makes one, a path that
is not a sendwatch log is refused in one line naming it (exit 2, nothing written to it or
beside it), and no command answers a mistake with a traceback."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from alerts.store import SqliteAlertStore, alerts_path
from sendwatch.cli import app as cli
from streams.log import APPLICATION_ID, EventLog, connect
from tests.running_service import history, jsonl

READERS: list[Callable[[Path], list[str]]] = [  # every command that reads a log
    lambda db: ["metrics", "--db", str(db)],
    lambda db: ["case", "KC-A", "--db", str(db)],
    lambda db: ["report", "--month", "2025-06", "--db", str(db), "--out", str(db.parent / "r")],
    lambda db: ["run", "--db", str(db), "--port", "1"],  # refused before the port is tried
    lambda db: ["dead-letters", "list", "--db", str(db)],
    lambda db: ["dead-letters", "purge", "--before", "2025-01-01", "--db", str(db)],
]
READER_NAMES = ["metrics", "case", "report", "run", "dead-letters list", "dead-letters purge"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def refused(result: Result, *fragments: str) -> str:
    """The command ended with exit 2 and one line saying why, with no traceback; the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (what "nothing written" compares)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def a_log(folder: Path) -> Path:
    db = folder / "events.db"
    path = folder / "in.jsonl"
    path.write_bytes(jsonl(history()))
    assert invoke("ingest", str(path), "--db", str(db)).exit_code == 0
    return db


# --- a log is never made by a command that reads one ----------------------------------------


# ``sendwatch run`` is a writer too: on a path with no log it makes one (below)
ONLY_READERS = [
    command for command, name in zip(READERS, READER_NAMES, strict=True) if name != "run"
]


@pytest.mark.parametrize("command", ONLY_READERS, ids=[n for n in READER_NAMES if n != "run"])
def test_a_command_that_reads_a_log_never_makes_one(
    tmp_path: Path, command: Callable[[Path], list[str]]
) -> None:
    db = tmp_path / "missing.db"
    line = refused(invoke(*command(db)))
    assert line == (
        f"error: no event log at {db} (create one with: sendwatch ingest FILE --db {db})"
    )
    assert snapshot(tmp_path) == {}  # nothing made: not the log, nor a lock, nor alerts


def not_logs(folder: Path) -> dict[str, tuple[Path, str]]:
    """Paths that are not a sendwatch log, and what the refusal says of each."""
    text = folder / "notes.txt"
    text.write_text("not a database\n")
    empty = folder / "empty.db"
    empty.write_bytes(b"")
    other = folder / "other.db"
    with sqlite3.connect(other) as made:
        made.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    made.close()
    alerts = alerts_path(folder / "sendwatch.db")  # sendwatch.alerts.db
    SqliteAlertStore(connect(alerts)).close()
    (folder / "a-folder").mkdir()
    return {
        "a folder": (folder / "a-folder", "is a folder, not an event log"),
        "a missing folder": (folder / "nowhere" / "events.db", "no folder"),
        "a text file": (text, "is not an event log (not a SQLite database)"),
        "an empty file": (empty, "is an empty file, not an event log"),
        "another SQLite database": (other, "is not an event log (a SQLite database of"),
        "the alerts database": (alerts, "is not an event log (it holds sendwatch's alerts)"),
    }


@pytest.mark.parametrize("command", READERS, ids=READER_NAMES)
def test_a_path_that_is_not_a_log_is_refused_naming_it_and_left_as_it_was(
    tmp_path: Path, command: Callable[[Path], list[str]]
) -> None:
    """Before: ``metrics --db sendwatch.alerts.db`` printed zeros and made the log's tables
    inside the alerts database."""
    cases = not_logs(tmp_path)
    if command(tmp_path)[0] == "run":
        del cases["an empty file"]  # run makes a log of an empty file, as of no file
    before = snapshot(tmp_path)
    for what, (path, says) in cases.items():
        line = refused(invoke(*command(path)), str(path), says)
        assert line, what
        assert snapshot(tmp_path) == before, f"{what}: something was written"


def test_run_on_a_path_with_no_log_makes_an_empty_one_and_says_so(tmp_path: Path) -> None:
    """A new deployment: ``sendwatch run`` where there is no log yet starts on an empty one
    (here it then stops at once, the port being taken), in a folder that exists only."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    try:
        missing = tmp_path / "nowhere" / "events.db"
        refused(invoke("run", "--db", str(missing), "--port", port), "no folder")
        db = tmp_path / "events.db"
        result = invoke("run", "--db", str(db), "--port", port)
        assert f"there was no event log at {db}: made a new, empty one" in result.output
        assert result.exit_code == 2 and "is in use" in result.output
        with EventLog.open_existing(db) as log:
            assert log.count() == 0
    finally:
        taken.close()


def test_ingest_makes_a_marked_log_but_only_in_a_folder_that_exists(tmp_path: Path) -> None:
    events = tmp_path / "in.jsonl"
    events.write_bytes(jsonl(history()))
    missing = tmp_path / "nowhere" / "events.db"
    refused(
        invoke("ingest", str(events), "--db", str(missing)),
        f"cannot make an event log at {missing}: no folder {missing.parent}",
    )
    assert not missing.parent.exists()
    cases = not_logs(tmp_path)
    for what in ("a folder", "a text file", "another SQLite database", "the alerts database"):
        path, says = cases[what]
        before = snapshot(tmp_path)
        refused(invoke("ingest", str(events), "--db", str(path)), str(path), says)
        assert snapshot(tmp_path) == before, what
    db = tmp_path / "events.db"
    assert invoke("ingest", str(events), "--db", str(db)).exit_code == 0
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert check.execute("PRAGMA user_version").fetchone()[0] == 1
    check.close()


def test_a_log_made_before_the_mark_is_still_recognised_and_read_without_writing(
    tmp_path: Path,
) -> None:
    """Earlier versions made no mark: their logs are known by the tables ``events`` and
    ``dead_letters`` with their columns; a reader leaves the file as it was."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:
        old.execute("PRAGMA journal_mode=WAL")  # as every earlier version made it
        old.executescript(
            """
            CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
                                 body BLOB NOT NULL);
            CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, received_at TEXT NOT NULL,
                                       origin TEXT NOT NULL, reason TEXT NOT NULL,
                                       raw BLOB NOT NULL);
            """
        )
        for n, event in enumerate(history(), 1):
            body = orjson.dumps({**event, "schema": 1, "council": "886"})
            old.execute("INSERT INTO events VALUES (?, ?, ?)", (n, event["event_id"], body))
    old.close()
    before = snapshot(tmp_path)
    result = invoke("metrics", "--db", str(db), "--now", "2025-06-30")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["dead_letters"] == 0
    assert snapshot(tmp_path) == before
    with EventLog(db) as writer:  # a writer uses it as it is (the purged count comes later)
        assert writer.count() == len(history())


# --- a user's mistakes: one line, never a traceback ----------------------------------------


@pytest.mark.parametrize(
    "month",
    ["9999-12", "1999-12", "2101-01", "2025-13", "2025-00", "2025-1", "March", "２０２５-０６"],
)
def test_report_takes_a_plausible_month_only(tmp_path: Path, month: str) -> None:
    db = a_log(tmp_path)
    refused(
        invoke("report", "--month", month, "--db", str(db), "--out", str(tmp_path / "r")),
        "--month: expected a month YYYY-MM from 2000-01 to 2100-12",
    )
    assert not (tmp_path / "r").exists()


MISTAKES = [
    (["metrics", "--now", "9999-12-31"], "now: expected a date from 2000-01-01 to 2100-12-31"),
    (["metrics", "--as-at", "0001-01-01T00:00:00+05:00"], "as_at: expected"),
    (["metrics", "--from", "2025-02-01", "--to", "2025-01-01"], "is after to"),
    (["metrics", "--format", "xml"], "--format"),
    (["metrics", "--events", "{folder}"], "cannot read"),
    (["case", "KC-A", "--now", "yesterday"], "now: expected a date"),
    (["case", "KC-A", "--format", "xml"], "--format"),
    (["simulate", "--years", "0"], "--years"),
    (["simulate", "--years", "100000"], "--years"),
    (["simulate", "--years", "1", "--out", "{folder}/nowhere/x.jsonl"], "cannot write"),
    (["simulate", "--end", "2025-13-01"], "end: expected a date"),
    (["ingest", "{folder}/nothing.jsonl"], "no such file"),
    (["ingest", "{folder}"], "is not a file of events"),
    (["ingest", "{folder}/in.jsonl", "--partitions", "0", "--broker", "kafka://h:1"], "--part"),
    (["report", "--month", "2025-06", "--out", "{folder}/in.jsonl"], "is a file, not a folder"),
    (["report", "--month", "2025-06", "--events", "{folder}/nothing.jsonl"], "cannot read"),
    (["run", "--port", "70000"], "--port: expected 1 to 65535"),
    (["run", "--now", "9999-01-01"], "now: expected a date from"),
    (["run", "--rules", "{folder}/nothing.yml"], "rules"),
    (["worker", "--broker", "nonsense"], "broker"),
    (["worker", "--broker", "kafka://h:1", "--port", "0"], "--port"),
    (["dead-letters", "list", "--limit", "-1"], "--limit"),
    (["dead-letters", "list", "--format", "xml"], "--format"),
    (["dead-letters", "purge", "--before", "soon"], "before: expected a date"),
    (["grafana", "dashboards", "--out", "{folder}/in.jsonl"], "is a file, not a folder"),
    (["grafana", "dashboards", "--out", "{folder}/g", "--alerting", "{folder}/x/a.yml"], "no f"),
]


@pytest.mark.parametrize(("args", "says"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_no_command_answers_a_mistake_with_a_traceback(
    tmp_path: Path, args: list[str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # --db defaults to sendwatch.db here
    a_log(tmp_path)
    (tmp_path / "events.db").rename(tmp_path / "sendwatch.db")
    before = snapshot(tmp_path)
    refused(invoke(*(a.replace("{folder}", str(tmp_path)) for a in args)), says)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["0", "-5", "ninety", "9.5"])
def test_a_bad_dead_letter_expiry_is_refused_naming_the_setting(
    tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDWATCH_DEAD_LETTER_DAYS", value)
    events = tmp_path / "in.jsonl"
    events.write_bytes(jsonl(history()))
    refused(
        invoke("ingest", str(events), "--db", str(tmp_path / "e.db")),
        "SENDWATCH_DEAD_LETTER_DAYS: expected a whole number of days",
    )


def test_run_refuses_a_port_in_use_before_printing_the_address_or_a_token(
    tmp_path: Path,
) -> None:
    """Before: it printed the dashboard's address and a new token, then failed to bind."""
    db = a_log(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "sendwatch.cli", "run", "--db", str(db), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2
    assert run.stdout == ""  # no address, no token
    assert run.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is in use: is sendwatch already running? "
        f"Try --port {port + 1}"
    )
    assert not alerts_path(db).exists()  # no alert process was started


# --- dead letters on demand ------------------------------------------------------------------


def test_dead_letters_are_listed_and_purged_on_demand_and_still_counted(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    events = tmp_path / "in.jsonl"
    events.write_bytes(jsonl(history()) + b"{bad\nnot json either\n")
    assert invoke("ingest", str(events), "--db", str(db)).exit_code == 0
    listed = orjson.loads(
        invoke("dead-letters", "list", "--db", str(db), "--format", "json").stdout
    )
    assert (listed["stored"], listed["purged"]) == (2, 0)
    assert [d["raw"] for d in listed["dead_letters"]] == ["not json either", "{bad"]  # newest first
    assert [d["origin"] for d in listed["dead_letters"]] == [
        f"{events} line {len(history()) + 2}",
        f"{events} line {len(history()) + 1}",
    ]
    table = invoke("dead-letters", "list", "--db", str(db), "--limit", "1")
    assert table.exit_code == 0 and "1 of 2 dead letters stored (0 purged)" in table.stdout
    kept = invoke("dead-letters", "purge", "--before", "2025-01-01", "--db", str(db))
    assert kept.stdout.strip() == "purged 0 dead letters received before 2025-01-01 (2 stored)"
    gone = invoke("dead-letters", "purge", "--before", "2100-12-31", "--db", str(db))
    assert gone.stdout.strip() == "purged 2 dead letters received before 2100-12-31 (0 stored)"
    after = orjson.loads(invoke("dead-letters", "list", "--db", str(db), "--format", "json").stdout)
    assert (after["stored"], after["purged"], after["dead_letters"]) == (0, 2, [])
    measures = orjson.loads(invoke("metrics", "--db", str(db), "--now", "2025-06-30").stdout)
    assert measures["dead_letters"] == 2  # every line ever rejected, purged or not
