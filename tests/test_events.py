"""The event contract (CONTRACT.md section 1): every type with a good and a bad example."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from events import (
    EVENT_TYPES,
    InvalidEvent,
    decode,
    decode_event,
    from_record,
    json_schema,
    read_event,
)

ARRIVAL = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)

# (type, good data, bad data, the field the bad one must name)
EXAMPLES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "request.received",
        {"requested_by": "school", "setting_id": "URN-1"},
        {"requested_by": "grandparent"},
        "data.requested_by",
    ),
    ("assessment.decided", {"decision": "assess"}, {"decision": "maybe"}, "data.decision"),
    ("plan.decided", {"decision": "not_issue"}, {}, "data.decision"),
    ("plan.draft_issued", {}, [], "data"),
    (
        "plan.issued",
        {"setting_id": "URN-1", "setting_type": "special"},
        {"setting_id": 7},
        "data.setting_id",
    ),
    (
        "exception.applied",
        {"clock": "final_plan", "ground": "absence", "family_told": True},
        {"clock": "review_due", "ground": "absence"},
        "data.clock",
    ),
    ("request.withdrawn", {}, "withdrawn", "data"),
    ("plan.ceased", {"reason": "moved to Wales"}, {}, "data.reason"),
    ("review.meeting_held", {}, 3, "data"),
    ("review.decided", {"decision": "amend"}, {"decision": "keep"}, "data.decision"),
    ("amendment.proposed", {}, None, "data"),
    ("plan.amended", {}, [1], "data"),
    (
        "review.compliance_checked",
        {"setting_id": "URN-1", "compliant": False, "failures": ["no health advice"]},
        {"setting_id": "URN-1", "compliant": "true", "failures": []},
        "data.compliant",
    ),
    (
        "transfer.due",
        {"transfer_date": "2026-09-01", "kind": "post16"},
        {"transfer_date": "2026-02-30", "kind": "school"},
        "data.transfer_date",
    ),
    (
        "transfer.setting_named",
        {"setting_id": "URN-9"},
        {"setting_id": ["URN-9"]},
        "data.setting_id",
    ),
    (
        "appeal.registered",
        {"appeal_id": "A1", "against": "placement"},
        {"appeal_id": "A1", "against": "everything"},
        "data.against",
    ),
    (
        "appeal.concluded",
        {"appeal_id": "A1", "outcome": "conceded"},
        {"appeal_id": "", "outcome": "conceded"},
        "data.appeal_id",
    ),
    (
        "tribunal.order_made",
        {"order_id": "T1", "kind": "make_plan", "basis": "mediation"},
        {"order_id": "T1", "kind": "make_plan", "basis": "tribunal"},
        "data.basis",
    ),
    (
        "tribunal.order_step_done",
        {"order_id": "T1", "step": "final", "outcome": "no_plan"},
        {"order_id": "T1", "step": "last"},
        "data.step",
    ),
    ("education.lost", {"reason": "excluded"}, {"reason": "holiday"}, "data.reason"),
    ("education.resumed", {"provision": "eotas"}, {}, "data.provision"),
    ("eotas.requested", {}, "yes", "data"),
    (
        "eotas.agreed",
        {"hours_per_week": 15, "annual_cost": 18000},
        {"hours_per_week": -1},
        "data.hours_per_week",
    ),
    ("eotas.started", {}, 0, "data"),
    ("eotas.ended", {}, False, "data"),
    (
        "contact.received",
        {"contact_id": "K1", "channel": "phone"},
        {"contact_id": "K1", "channel": "fax"},
        "data.channel",
    ),
    (
        "contact.responded",
        {"contact_id": "K1", "automated": True},
        {"contact_id": "K1"},
        "data.automated",
    ),
    ("caseworker.assigned", {"caseworker_id": "W7"}, {"caseworker_id": ""}, "data.caseworker_id"),
    (
        "plan.audited",
        {"section_b": "met", "section_e": "not_met", "section_f": "met", "grade": "good"},
        {"section_b": "met", "section_e": "met", "section_f": "met", "grade": "fine"},
        "data.grade",
    ),
    ("sen_support.started", {"setting_id": "URN-1"}, {}, "data.setting_id"),
    ("sen_support.ended", {}, "ended", "data"),
    (
        "event.retracted",
        {"event_id": "e1", "reason": "wrong case"},
        {"event_id": "e1"},
        "data.reason",
    ),
]


def envelope(kind: str, data: Any, **over: Any) -> bytes:
    body = {
        "event_id": "e-1",
        "type": kind,
        "case_id": "KC-1",
        "occurred_at": "2025-03-14",
        "data": data,
    } | over
    return orjson.dumps(body)


def test_every_contract_type_has_an_example() -> None:
    assert sorted(k for k, *_ in EXAMPLES) == sorted(EVENT_TYPES)
    assert len(EVENT_TYPES) == 32


@pytest.mark.parametrize(("kind", "good", "bad", "field"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_good_is_accepted_and_bad_is_rejected_naming_the_field(
    kind: str, good: dict[str, Any], bad: Any, field: str
) -> None:
    record = decode(envelope(kind, good | {"extra_field": "kept"}), arrival=ARRIVAL)
    assert record["type"] == kind
    assert record["data"]["extra_field"] == "kept"  # unknown data fields are kept
    assert from_record(record).day == date(2025, 3, 14)
    with pytest.raises(InvalidEvent) as error:
        decode(envelope(kind, bad), arrival=ARRIVAL)
    assert error.value.reason.startswith(field), error.value.reason


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"event_id": ""}, "event_id:"),
        ({"event_id": "x" * 129}, "event_id:"),
        ({"case_id": "Jane Smith"}, "case_id:"),
        ({"case_id": "x" * 65}, "case_id:"),
        ({"occurred_at": "14/03/2025"}, "occurred_at:"),
        ({"recorded_at": "yesterday"}, "recorded_at:"),
        ({"type": "plan.lost"}, "type: unknown event type 'plan.lost'"),
        ({"schema": 9}, "schema:"),
        ({"schema": "1"}, "schema:"),
    ],
)
def test_envelope_rules(over: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {}, **over), arrival=ARRIVAL)
    assert error.value.reason.startswith(reason), error.value.reason


def test_not_json_and_not_an_object() -> None:
    for text, reason in (
        (b"{oops", "not valid JSON"),
        (b"[1, 2]", "event: expected a JSON object"),
    ):
        with pytest.raises(InvalidEvent) as error:
            decode(text, arrival=ARRIVAL)
        assert error.value.reason.startswith(reason)


def test_naive_times_are_london_and_recorded_at_is_stamped_on_arrival() -> None:
    # 00:30 on 1 July 2025 in London is 23:30 UTC on 30 June: the legal date is 1 July
    summer = from_record(
        decode(envelope("plan.issued", {}, occurred_at="2025-07-01T00:30:00"), arrival=ARRIVAL)
    )
    assert summer.day == date(2025, 7, 1)
    assert summer.recorded_at == ARRIVAL
    # an aware time is converted to London: 23:30 UTC on 30 June is 1 July in London (BST)
    aware = from_record(
        decode(
            envelope(
                "plan.issued",
                {},
                occurred_at="2025-06-30T23:30:00Z",
                recorded_at="2025-07-01T08:00:00",
            ),
            arrival=ARRIVAL,
        )
    )
    assert aware.day == date(2025, 7, 1)
    assert aware.recorded_at == datetime(2025, 7, 1, 7, 0, tzinfo=UTC)  # 08:00 BST


def test_council_defaults_from_settings_and_is_kept_when_given() -> None:
    assert decode(envelope("plan.issued", {}), arrival=ARRIVAL, council="886")["council"] == "886"
    given = decode(envelope("plan.issued", {}, council="887"), arrival=ARRIVAL, council="886")
    assert given["council"] == "887"


def test_eotas_agreed_schema_1_is_upcast_to_pence_on_read() -> None:
    """Schema 1 carried the annual cost in pounds; schema 2 carries whole pence. The stored
    record keeps what came; reading it gives the current schema."""
    v1 = decode(
        envelope("eotas.agreed", {"hours_per_week": 20, "annual_cost": 18250.75}), arrival=ARRIVAL
    )
    assert v1["schema"] == 1 and v1["data"]["annual_cost"] == 18250.75
    read = from_record(v1)
    assert read.data == {"hours_per_week": 20, "annual_cost_pence": 1825075}
    v2 = decode(
        envelope("eotas.agreed", {"hours_per_week": 20, "annual_cost_pence": 1825075}, schema=2),
        arrival=ARRIVAL,
    )
    assert from_record(v2).data == read.data
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("eotas.agreed", {"annual_cost_pence": "lots"}, schema=2), arrival=ARRIVAL)
    assert error.value.reason.startswith("data.annual_cost_pence")


@pytest.mark.parametrize(
    "text",
    [
        envelope("plan.issued", {}, occurred_at="2025-07-01T00:30:00"),
        envelope("plan.issued", {}, occurred_at="2025-06-30T23:30:00Z", recorded_at="2025-07-01"),
        envelope("plan.issued", {}, occurred_at="2025-03-30", recorded_at="2025-03-30T01:30:00"),
        envelope("eotas.agreed", {"hours_per_week": 20, "annual_cost": 18250.75}),
        envelope("eotas.agreed", {"hours_per_week": 2, "annual_cost_pence": 9}, schema=2),
    ],
)
def test_the_event_decoded_with_its_record_is_the_event_read_back_from_it(text: bytes) -> None:
    """The live service applies the event ``decode_event`` makes beside the record it
    stores; a replay reads the record back with ``from_record``: the two are equal."""
    for arrival in (ARRIVAL, None):
        record, event = decode_event(text, arrival=arrival)
        assert event == from_record(orjson.loads(orjson.dumps(record)))
        assert event.recorded_at.utcoffset() == from_record(record).recorded_at.utcoffset()
        assert read_event(text, arrival=arrival) == event  # no record kept: the same event


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_reading_only_the_event_accepts_and_rejects_exactly_as_decoding(kind: str) -> None:
    """A replay from a file and the Kafka worker keep no record (``read_event``): the same
    validation, the same reasons, the same events as ``decode_event``."""
    _, good, bad, _ = next(e for e in EXAMPLES if e[0] == kind)
    for text in (envelope(kind, good), envelope(kind, good, recorded_at="2025-03-15T09:00:00")):
        assert read_event(text, arrival=ARRIVAL) == decode_event(text, arrival=ARRIVAL)[1]
    for text in (envelope(kind, bad), envelope(kind, good, occurred_at="14/03/2025"), b"[1]"):
        with pytest.raises(InvalidEvent) as kept:
            decode_event(text, arrival=ARRIVAL)
        with pytest.raises(InvalidEvent) as read:
            read_event(text, arrival=ARRIVAL)
        assert read.value.reason == kept.value.reason


def test_schema_command_prints_one_document_covering_every_type() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", "schema"], capture_output=True, check=True
    )
    document = json.loads(done.stdout)
    assert document == json.loads(json.dumps(json_schema()))
    tags = set(document["discriminator"]["mapping"])
    assert tags == set(EVENT_TYPES)
