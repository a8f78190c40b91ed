"""``sendwatch import --snapshot`` (docs/mapping.md, "Snapshots"): an export that is the
source's whole truth, compared with what the source imported before. A changed row becomes a
retraction plus the corrected event, a removed row a retraction, a row that comes back as it
was a restoration; the log stays append-only and as-at questions still get the old figures."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exchange.rows import Made
from exchange.snapshot import base_id, compare
from sendwatch.cli import app
from streams.log import EventLog
from tests.test_import import MAPPING, SECRET, write_export

AT = "2026-12-07T12:00:00+00:00"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"SENDWATCH_IMPORT_SECRET": SECRET})
    return result.exit_code, result.output


def stored(db: Path) -> list[dict[str, Any]]:
    with EventLog.open_existing(db) as log:
        return [dict(record) for _, record in log.read()]


def live(records: list[dict[str, Any]]) -> set[tuple[str, str, str, bytes]]:
    """The events in force, worked out independently of exchange.snapshot: an event is in
    force unless a retraction in force names it (a retracted retraction restores it)."""
    retractions: dict[str, list[str]] = {}
    for r in records:
        if r["type"] == "event.retracted":
            retractions.setdefault(r["data"]["event_id"], []).append(r["event_id"])

    def in_force(event_id: str) -> bool:
        return not any(in_force(x) for x in retractions.get(event_id, ()))

    return {
        (r["case_id"], r["type"], r["occurred_at"], orjson.dumps(r["data"]))
        for r in records
        if r["type"] != "event.retracted" and in_force(r["event_id"])
    }


def edit(folder: Path, cell: str, value: object) -> None:
    book = openpyxl.load_workbook(folder / "requests.xlsx")
    book["Requests"][cell] = value
    book.save(folder / "requests.xlsx")


def drop_row(folder: Path, row: int) -> None:
    book = openpyxl.load_workbook(folder / "requests.xlsx")
    book["Requests"].delete_rows(row)
    book.save(folder / "requests.xlsx")


@pytest.fixture
def export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The mapping in the working folder and the source's export written: the export's
    folder and the log to import it into."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "casefile.yml").write_text(MAPPING, encoding="utf-8")
    folder, db = tmp_path / "export", tmp_path / "s.db"
    write_export(folder)
    return folder, db


def import_snapshot(folder: Path, db: Path) -> tuple[int, str]:
    """``sendwatch import casefile.yml FOLDER --db DB --snapshot``: exit code and output."""
    return run("import", "casefile.yml", str(folder), "--db", str(db), "--snapshot")


def assess_decision(db: Path, *extra: str) -> dict[str, Any]:
    code, output = run(
        "metrics", "--db", str(db), "--from", "2023-01-01", "--to", "2024-12-31",
        "--now", "2024-12-31", *extra,
    )  # fmt: skip
    assert code == 0, output
    figures: dict[str, Any] = orjson.loads(output)["assess_decision"]
    return figures


def test_a_changed_row_is_retracted_and_corrected_a_removed_row_retracted(
    export: tuple[Path, Path],
) -> None:
    folder, db = export
    code, output = import_snapshot(folder, db)
    assert code == 0, output
    assert "snapshot: 0 unchanged, 7 new, 0 changed" in output
    first = stored(db)
    # assess_decision (42 days): Ann 28 Sep -> 15 Nov 2023 is 48 days, late; Cat 5 Mar ->
    # 20 Apr 2024 is 46 days, late
    before = assess_decision(db)
    assert (before["completed"], before["on_time"]) == (2, 0)

    # next month's export: Cat's decision corrected to 10 Apr (36 days: on time), and Bob's
    # row (a request and its withdrawal) gone
    edit(folder, "E4", "10/04/2024")
    drop_row(folder, 3)
    code, output = import_snapshot(folder, db)
    assert code == 0, output
    assert "snapshot: 4 unchanged, 0 new, 1 changed (retracted and corrected), 2 removed" in (
        output
    )
    after = stored(db)
    assert after[: len(first)] == first  # append-only: nothing stored was changed
    added = after[len(first) :]
    assert sorted(r["type"] for r in added) == ["assessment.decided", *["event.retracted"] * 3]
    assert live(after) == live(first) - {
        r for r in live(first) if r[2] in ("2024-02-01", "2024-03-01", "2024-04-20")
    } | {next(r for r in live(after) if r[2] == "2024-04-10")}
    now = assess_decision(db)
    assert (now["completed"], now["on_time"]) == (2, 1)
    # as at the moment of the first import, the old figures
    as_at = max(r["recorded_at"] for r in first)
    old = assess_decision(db, "--as-at", as_at)
    assert (old["completed"], old["on_time"]) == (2, 0)

    # the same export again changes nothing
    code, output = import_snapshot(folder, db)
    assert "snapshot: 5 unchanged, 0 new, 0 changed" in output and "0 removed" in output
    assert stored(db) == after

    # Bob's row is back as it was: his two events are restored, not added again
    write_export(folder)
    edit(folder, "E4", "10/04/2024")
    code, output = import_snapshot(folder, db)
    assert "2 restored" in output, output
    again = stored(db)
    assert len(again) == len(after) + 2  # two retractions of retractions
    assert {r[2] for r in live(again)} == {r[2] for r in live(first)} - {"2024-04-20"} | {
        "2024-04-10"
    }


def test_a_rejected_row_or_a_missing_file_withholds_removals(
    export: tuple[Path, Path],
) -> None:
    folder, db = export
    import_snapshot(folder, db)
    first = stored(db)
    write_export(folder, bad_date=True)  # Cat's request date 31/02/2024: her row rejected
    drop_row(folder, 3)  # and Bob's row gone
    code, output = import_snapshot(folder, db)
    assert code == 0, output
    assert "left in force: 1 row was rejected (fix them and import again)" in output
    assert live(stored(db)) == live(first)  # Bob's events are not retracted
    (folder / "requests.xlsx").unlink()
    code, output = import_snapshot(folder, db)
    assert "no file of table requests was found" in output
    assert live(stored(db)) == live(first)


def test_snapshot_refuses_kafka(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "casefile.yml").write_text(MAPPING, encoding="utf-8")
    code, output = run(
        "import", "casefile.yml", ".", "--snapshot", "--broker", "127.0.0.1:1"
    )  # fmt: skip
    assert code == 2 and "use --db, not --broker" in output


# The pure comparison, as a property: whatever sequence of snapshots a source sends, after
# each the events in force are exactly that snapshot's, and sending it again adds nothing.

Snapshot = dict[int, int]  # row key -> the value of its one field
snapshots = st.lists(
    st.dictionaries(st.integers(0, 5), st.integers(0, 2), max_size=6), min_size=1, max_size=6
)


def made(snapshot: Snapshot) -> list[Made]:
    lines = []
    for key, value in sorted(snapshot.items()):
        event = {
            "event_id": f"src:{key:040x}",
            "type": "plan.ceased",
            "case_id": f"case{key}",
            "occurred_at": "2025-01-01",
            "source": "src",
            "data": {"reason": f"reason {value}"},
        }
        lines.append(Made(orjson.dumps(event), f"row {key}", "2025-01-01"))
    return lines


def append(log: list[dict[str, Any]], lines: list[Made]) -> int:
    """INSERT OR IGNORE by event id, as the log does."""
    ids = {r["event_id"] for r in log}
    added = 0
    for item in lines:
        record = orjson.loads(item.line)
        if record["event_id"] not in ids:
            ids.add(record["event_id"])
            log.append(record)
            added += 1
    return added


@settings(max_examples=200, deadline=None)
@given(snapshots)
def test_after_any_sequence_of_snapshots_the_events_in_force_are_the_last(
    sequence: list[Snapshot],
) -> None:
    log: list[dict[str, Any]] = []
    clock = itertools.count()
    for snapshot in sequence:
        at = f"2026-01-01T00:00:{next(clock) % 60:02d}"
        append(log, compare(log, made(snapshot), source="src", at=at, removals=True).made)
        in_force = {(case, data) for case, _, _, data in live(log)}
        assert in_force == {
            (f"case{k}", orjson.dumps({"reason": f"reason {v}"})) for k, v in snapshot.items()
        }
        # every version of a row's event keeps the row's id before its revision suffix
        assert {base_id(r["event_id"]) for r in log if r["type"] == "plan.ceased"} <= {
            f"src:{k:040x}" for s in sequence for k in s
        }
        again = compare(log, made(snapshot), source="src", at=at, removals=True)
        assert append(log, again.made) == 0
        assert again.counts.unchanged == len(snapshot)
