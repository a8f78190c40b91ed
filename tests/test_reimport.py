"""Idempotent re-import (issue 19): event ids come from the source, the row's key and the rule,
so importing rows again, in any order and any number of times, changes nothing, and next
month's export adds only what is new. Run over the worked example of docs/mapping.md
(docs/examples/one-row-per-event.yml), which this also keeps correct."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sendwatch.cli import app
from streams.log import EventLog

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples"
MAPPING = EXAMPLE / "one-row-per-event.yml"
HEADER, *ROWS = (EXAMPLE / "one-row-per-event" / "events.csv").read_text().splitlines()
SECRET = "a council secret for the re-import tests"


def load(db: Path, rows: list[str], folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "events.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["import", str(MAPPING), str(folder), "--db", str(db)],
        env={"SENDWATCH_IMPORT_SECRET": SECRET},
    )
    # exit 1: no event was made (no rows, or only a note)
    assert result.exit_code == (0 if "accepted 0, duplicates 0" not in result.output else 1)
    return result.output


def log(db: Path) -> set[bytes]:
    """The log's events, as compared: everything but the arrival time."""
    with EventLog.open_existing(db) as stored:
        return {
            orjson.dumps(
                {k: v for k, v in r.items() if k != "recorded_at"}, option=orjson.OPT_SORT_KEYS
            )
            for _, r in stored.read()
        }


def test_the_worked_example_imports_every_activity_but_the_note() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.db"
        output = load(db, ROWS, Path(tmp) / "x")
        assert "accepted 9, duplicates 0, rejected 0" in output
        events: list[dict[str, Any]] = [orjson.loads(line) for line in log(db)]
    made = {(e["type"], e["occurred_at"]): e["data"] for e in events}
    assert made[("request.received", "2025-09-04")] == {"requested_by": "parent"}
    assert made[("request.received", "2025-10-02")] == {"requested_by": "school"}
    assert made[("assessment.decided", "2025-11-20")] == {"decision": "refuse"}
    assert made[("plan.issued", "2026-01-20")] == {"setting_id": "118432"}
    assert made[("caseworker.assigned", "2025-09-05")] == {
        "caseworker_id": "cw-17",
        "team": "North Kent",
    }
    assert made[("review.decided", "2025-12-01")] == {"decision": "maintain"}
    assert all(e["source"] == "casework" for e in events)
    assert not any(b"K00" in line or b"Example" in line for line in log_lines(events))


def log_lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


rows = st.lists(st.sampled_from(range(len(ROWS))), unique=True)


@settings(max_examples=25, deadline=None)
@given(first=rows, second=rows, order=st.randoms(use_true_random=False))
def test_any_rows_imported_again_in_any_order_change_nothing(
    first: list[int], second: list[int], order: Any
) -> None:
    """Import ``first`` (in its drawn order), then ``first`` again shuffled, then next month's
    export ``first + second``: the log equals that of importing ``first + second`` once."""
    union = sorted(set(first) | set(second))
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        db, once = here / "s.db", here / "once.db"
        load(db, [ROWS[i] for i in first], here / "a")
        after_first = log(db)
        again = list(first)
        order.shuffle(again)
        load(db, [ROWS[i] for i in again], here / "b")
        assert log(db) == after_first
        load(db, [ROWS[i] for i in union], here / "c")
        load(once, [ROWS[i] for i in reversed(union)], here / "d")
        assert log(db) == log(once)
        assert after_first <= log(db)
