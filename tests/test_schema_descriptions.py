"""The data dictionary: `sendwatch schema` describes every event type and every field, in
words a council's data analyst can act on (issue 19, item 5), and docs/contract.md holds the
tables that ``python -m events.dictionary`` prints from the same models."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events import EVENT_TYPES, decode, json_schema
from events.codec import from_record
from events.dictionary import GROUPS, markdown
from tests.history import measures

ROOT = Path(__file__).resolve().parent.parent
# words that mark a description as a stub rather than an explanation
PLACEHOLDERS = ("todo", "tbd", "fixme", "xxx", "description", "lorem")
SHORTEST = 12  # characters: "`true` or ..." and up; anything shorter says nothing


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["$defs"][ref.rsplit("/", 1)[1]]


def event_schemas() -> dict[str, dict[str, Any]]:
    """Each type's event schema, by type, found through the discriminator's mapping."""
    schema = json_schema()
    return {
        kind: resolve(schema, {"$ref": ref})
        for kind, ref in schema["discriminator"]["mapping"].items()
    }


def assert_says_something(text: Any, where: str) -> None:
    assert isinstance(text, str), f"{where}: no description"
    words = text.strip()
    assert len(words) >= SHORTEST, f"{where}: description too short: {words!r}"
    lowered = words.lower()
    for stub in PLACEHOLDERS:
        assert stub not in lowered.split(), f"{where}: placeholder {stub!r} in {words!r}"
    assert "``" not in words, f"{where}: reStructuredText markup in {words!r}"


def test_every_event_type_in_the_schema_has_a_description() -> None:
    events = event_schemas()
    assert sorted(events) == sorted(EVENT_TYPES)
    for kind, event in events.items():
        assert_says_something(event.get("description"), kind)


def test_every_envelope_field_of_every_type_has_a_description() -> None:
    # the envelope: event_id, schema, case_id, occurred_at, recorded_at, type, source,
    # council and data, in every type's schema alike
    envelope = {"event_id", "schema", "case_id", "occurred_at", "recorded_at", "type",
                "source", "council", "data"}  # fmt: skip
    for kind, event in event_schemas().items():
        properties = event["properties"]
        assert set(properties) == envelope, kind
        for name, field in properties.items():
            assert_says_something(field.get("description"), f"{kind}: {name}")


def test_every_data_field_of_every_type_has_a_description() -> None:
    schema = json_schema()
    fields = 0
    for kind, event in event_schemas().items():
        data = resolve(schema, event["properties"]["data"])
        assert_says_something(data.get("description"), f"{kind}: data")
        for name, field in data.get("properties", {}).items():
            assert_says_something(field.get("description"), f"{kind}: data.{name}")
            fields += 1
    # the contract's 32 types have 48 data fields between them (eotas.agreed at schema 2)
    assert fields == 48


def test_the_data_of_types_that_share_no_fields_is_still_described_per_type() -> None:
    # eight types carry an empty data object: each has its own description, not one shared
    schema = json_schema()
    empty = {
        kind: resolve(schema, event["properties"]["data"])["description"]
        for kind, event in event_schemas().items()
        if not resolve(schema, event["properties"]["data"]).get("properties")
    }
    assert len(empty) == 8
    assert len(set(empty.values())) == len(empty)


def test_types_with_no_data_fields_say_so() -> None:
    schema = json_schema()
    for kind, event in event_schemas().items():
        if not resolve(schema, event["properties"]["data"]).get("properties"):
            assert "`data` has no fields" in " ".join(event["description"].split()), kind


# --- docs/contract.md ---------------------------------------------------------------------


def test_the_contract_guide_holds_the_tables_made_from_the_models() -> None:
    # python -m events.dictionary prints them; the guide must hold exactly that text
    assert markdown() in (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def test_the_dictionary_groups_every_type_once_in_the_contracts_order() -> None:
    listed = [kind for _, kinds in GROUPS for kind in kinds]
    assert listed == list(EVENT_TYPES)


def example_lines() -> list[str]:
    """Every line of every ```json block of docs/contract.md."""
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_every_example_in_the_contract_guide_is_a_valid_event() -> None:
    lines = example_lines()
    assert len(lines) >= 20
    kinds = set()
    for line in lines:
        record = decode(line, arrival=None)  # raises InvalidEvent naming the field
        kinds.add(record["type"])
    # an example from each group of types
    for _, group in GROUPS:
        assert kinds & set(group), group


def test_the_schema_command_points_to_the_contract_guide() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", "schema", "--help"],
        capture_output=True,
        check=True,
        text=True,
    )
    assert "docs/contract.md" in done.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The event contract") :]
    assert "(docs/contract.md)" in section[: section.index("\n## ", 1)]


def test_the_contract_guides_worked_examples_give_the_figures_it_states() -> None:
    lines = example_lines()
    events = [from_record(decode(line, arrival=None)) for line in lines]
    kept = [e for e in events if e.type != "event.retracted"]
    figures = measures(kept, "2026-12-31", "2025-01-01", "2026-12-31")
    # request Mon 6 Jan 2025: decided to assess Fri 14 Feb, day 39 of 42: on time
    assert (figures["assess_decision"]["completed"], figures["assess_decision"]["on_time"]) == (
        1,
        1,
    )
    # final plan Fri 30 May, day 144 of 140: late, but excepted (absence), recorded 2 June
    plan = figures["final_plan"]
    assert (plan["completed"], plan["on_time"], plan["excepted"]) == (1, 0, 1)
    assert plan["rate_excl_exceptions"] is None  # nothing left once the exception is out
    # meeting Mon 20 Apr 2026, decision Mon 11 May (due 18 May); amended Mon 29 Jun (due 6 Jul)
    for name in ("review_decision", "amended_plan", "review_due"):
        assert (figures[name]["completed"], figures[name]["on_time"]) == (1, 1), name
    # transfer in September 2027: due 15 Feb 2027, still open at the end of 2026
    assert figures["phase_transfer"]["open"] == 1
    # email Fri 14 Mar 2025 (day 0), a person's reply Thu 20 Mar (working day 4): on time
    contact = figures["contact_response"]
    assert (contact["completed"], contact["on_time"]) == (1, 1)
    # the refusal of 3 Mar 2025, appealed and conceded: overturned
    assert figures["first_time_right"]["overturned"] == 1
    # the retraction of 3 June 2025 takes the exception back: the late plan counts as late
    retracted = measures(events, "2026-12-31", "2025-01-01", "2026-12-31")["final_plan"]
    assert (retracted["excepted"], retracted["rate_excl_exceptions"]) == (0, 0.0)
    # as at the end of 2 June 2025 (before the retraction was recorded) it is still excepted
    before = datetime(2025, 6, 2, 23, 0, tzinfo=UTC)
    as_at = measures(events, "2026-12-31", "2025-01-01", "2026-12-31", before)["final_plan"]
    assert as_at["excepted"] == 1
