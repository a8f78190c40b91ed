"""The coverage report of an import (exchange/coverage.py, docs/mapping.md "Coverage"): per
clock and per measure, whether the imported data supports it, in the summary and as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from events import DATA_MODELS
from exchange.coverage import CLOCK_EVENTS, MEASURE_EVENTS, coverage
from exchange.mapping import MappingError, load_mapping, parse_mapping
from projections.law import CLOCK_IDS
from sendwatch.cli import app
from tests.test_import import MAPPING
from tests.test_sen2_import import MAPPING as SEN2
from tests.test_sen2_import import SECRET, YEAR_2024, write_return


def test_every_clock_of_the_law_and_every_measure_has_its_events() -> None:
    assert tuple(CLOCK_EVENTS) == CLOCK_IDS
    named = [t for starts, stops in CLOCK_EVENTS.values() for t in (*starts, *stops)]
    named += [t for groups in MEASURE_EVENTS.values() for ts in groups.values() for t in ts]
    assert set(named) <= set(DATA_MODELS)


def test_verdicts_follow_what_the_mapping_can_make_and_what_the_data_held() -> None:
    mapping = parse_mapping(MAPPING, name="m.yml")  # requests, decisions, withdrawals, plans
    got = {
        c.subject: c for c in coverage(mapping.types(), {"request.received": 3, "plan.issued": 1})
    }
    assert got["final_plan"].verdict == "supported"
    # assessment.decided can be made (the outcome column maps to it) but none was made
    assert got["assess_decision"].verdict == "partly"
    assert got["assess_decision"].missing == ("stop",)
    nothing = {c.subject: c.verdict for c in coverage(mapping.types(), {})}
    assert nothing["final_plan"] == "none in this data"
    assert got["contact_response"].verdict == "not supported"
    # decisions can be made, appeals never: right first time is at most partly supported
    assert got["first_time_right"].verdict == "partly"
    assert got["first_time_right"].missing == ("appeals",)  # plan.issued is a decision


def test_a_coverage_note_about_no_clock_is_refused_naming_its_line() -> None:
    text = MAPPING + "coverage:\n  final_plans: a typo\n"
    with pytest.raises(MappingError, match=r"line \d+: coverage.final_plans: 'final_plans' is not"):
        parse_mapping(text, name="m.yml")


def test_a_sen2_import_says_what_the_return_cannot_support(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = write_return(tmp_path / "2025", YEAR_2024, "blade")
    requests = folder / "Blade-Export_16-01-2025_requests.csv"
    text = requests.read_text(encoding="utf-8")
    assert "2024-Jan-08 00:00:00" in text  # A's request, on row 2
    requests.write_text(text.replace("2024-Jan-08 00:00:00", "2024-Jan-32 00:00:00", 1))
    result = CliRunner().invoke(
        app,
        ["import", "sen2", str(folder), "--db", "s.db", "--json", "summary.json"],
        env={"SENDWATCH_IMPORT_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = orjson.loads((tmp_path / "summary.json").read_bytes())
    verdicts = {subject: c["verdict"] for subject, c in summary["coverage"].items()}
    assert verdicts["assess_decision"] == "supported"
    assert verdicts["final_plan"] == "supported"
    assert verdicts["contact_response"] == "not supported"
    assert verdicts["caseworkers"] == "not supported"
    assert verdicts["tribunal_order"] == "not supported"
    assert verdicts["plan_quality"] == "not supported"
    assert verdicts["first_time_right"] == "partly"
    assert "right first time" in summary["coverage"]["first_time_right"]["note"]
    (bad,) = summary["rows_rejected"]
    assert bad["file"].endswith("requests.csv") and bad["row"] == 2
    assert bad["column"] == "received" and "is not a date" in bad["reason"]
    assert summary["dates"]["first"] <= summary["dates"]["last"]
    assert summary["types"]["request.received"] >= 1
    # and the same in words in the summary
    (line,) = [x for x in result.output.splitlines() if x.startswith("  not supported:")]
    assert "tribunal_order" in line and "contact_response" in line and "caseworkers" in line
    assert "first_time_right: no appeals are in the return" in result.output


def test_the_shipped_sen2_mapping_notes_only_known_subjects() -> None:
    mapping = load_mapping(SEN2)
    assert set(mapping.coverage) <= {*CLOCK_IDS, *MEASURE_EVENTS}
    assert "first_time_right" in mapping.coverage
