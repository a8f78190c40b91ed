"""The event contract (CONTRACT.md section 1, v1.1): every type with a good and a bad example,
and each rule of section 1.1 by name."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args, get_origin

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
from events.codec import BOM, from_stored
from events.envelope import OLD_DATA_MODELS
from events.types import DATA_MODELS
from projections.case import fold_case
from sendwatch.api import event_lines
from streams.ingest import Decoded, decode_lines, split_lines

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
    record = decode(envelope(kind, good), arrival=ARRIVAL)
    assert record["type"] == kind
    assert record["data"] == good  # stored as it came
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


# --- contract v1.1 (CONTRACT.md section 1.1) ------------------------------------------------

# Every type's data as CONTRACT.md lists it, in its notation: `name?` is optional, `a|b` a
# closed set, `bool`, `date` and `[string]` are types, anything else is a string (an indented
# line goes on with the line above). The documented shapes are schema 1 (``eotas.agreed`` is
# read at schema 2 and upcast).
CONTRACT_DATA = """
request.received {requested_by: parent|young_person|school|health|social_care|other, setting_id?}
assessment.decided {decision: assess|refuse}
plan.decided {decision: issue|not_issue}
plan.draft_issued {}
plan.issued {setting_id?, setting_type?,
    primary_need?: SPLD|MLD|SLD|PMLD|SEMH|SLCN|HI|VI|MSI|PD|ASD|DS|OTH}
exception.applied {clock: assess_decision|no_plan_decision|final_plan|tribunal_order,
    ground: school_closure|early_years_closure|personal_circumstances|absence|not_recorded,
    family_told: bool?, order_id?}
request.withdrawn {}
plan.ceased {reason}
review.meeting_held {}
review.decided {decision: maintain|amend|cease}
amendment.proposed {}
plan.amended {}
review.compliance_checked {setting_id, compliant: bool, failures: [string]}
transfer.due {transfer_date: date, kind: school|post16}
transfer.setting_named {setting_id?}
appeal.registered {appeal_id,
    against: refusal_to_assess|refusal_to_issue|contents|placement|
    refusal_to_amend|refusal_to_reassess|cease}
appeal.concluded {appeal_id, outcome: withdrawn|conceded|appellant_won|la_won}
tribunal.order_made {order_id,
    kind: assess|make_plan|amend_plan|name_setting|maintain|reconsider,
    basis: order|unopposed|mediation, appeal_id?}
tribunal.order_step_done {order_id, step: notify|draft|final, outcome?: plan|no_plan}
education.lost {reason: no_suitable_placement|excluded|health|other}
education.resumed {provision: school|eotas|alternative}
eotas.requested {}
eotas.agreed {hours_per_week?, annual_cost?}
eotas.started {}
eotas.ended {}
contact.received {contact_id, channel: email|phone|portal|letter}
contact.responded {contact_id, automated: bool}
caseworker.assigned {caseworker_id, team?}
plan.audited {section_b: met|not_met,
    section_e: met|not_met, section_f: met|not_met,
    grade?: outstanding|good|requires_improvement|inadequate}
sen_support.started {setting_id}
sen_support.ended {setting_id?}
event.retracted {event_id, reason}
"""


def _contract_fields() -> dict[str, dict[str, tuple[bool, str]]]:
    """type -> field -> (required, what: "string", "bool", "date", "[string]", or "a|b")."""
    out: dict[str, dict[str, tuple[bool, str]]] = {}
    for line in CONTRACT_DATA.replace("\n    ", " ").strip().splitlines():
        kind, body = line.split(" ", 1)
        fields: dict[str, tuple[bool, str]] = {}
        for item in filter(None, (part.strip() for part in body.strip("{}").split(","))):
            name, _, what = (part.replace(" ", "") for part in item.partition(":"))
            optional = name.endswith("?") or what.endswith("?")
            fields[name.rstrip("?")] = (not optional, what.rstrip("?") or "string")
        out[kind] = fields
    return out


def _model_what(annotation: Any) -> str:
    """A data model field's type in the contract's notation."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return "|".join(args)
    if args and get_origin(annotation) is not list:  # an optional: X | None
        return _model_what(args[0])
    if get_origin(annotation) is list:
        return f"[{_model_what(args[0])}]"
    return {str: "string", bool: "bool", float: "number", int: "number"}[annotation]


def test_each_types_data_fields_are_exactly_the_contracts() -> None:
    contract = _contract_fields()
    assert sorted(contract) == sorted(EVENT_TYPES)
    for kind, fields in contract.items():
        model = OLD_DATA_MODELS.get((kind, 1), DATA_MODELS[kind])  # the documented schema 1
        got = {
            name: (
                info.is_required(),
                "date"
                if (info.json_schema_extra or {}) == {"format": "date"}
                else _model_what(info.annotation),
            )
            for name, info in model.model_fields.items()
        }
        # the contract leaves the EOTAS package's numbers untyped: read them as numbers
        want = {
            name: (required, "number" if kind == "eotas.agreed" else what)
            for name, (required, what) in fields.items()
        }
        assert got == want, kind


def test_no_personal_data_a_data_field_the_type_does_not_define_is_rejected_naming_it() -> None:
    # the example: a child's name, date of birth and address in the data
    personal = {"child_name": "Amelia Example", "date_of_birth": "2014-02-03"}
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {"setting_id": "URN-1"} | personal), arrival=ARRIVAL)
    assert error.value.reason == (
        "sendwatch keeps no personal data: `data.child_name` is not a field of `plan.issued`; "
        "sendwatch keeps no personal data: `data.date_of_birth` is not a field of `plan.issued`"
    )
    # an older schema of a versioned type is closed too
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("eotas.agreed", {"home_address": "1 Lane"}), arrival=ARRIVAL)
    assert error.value.reason == (
        "sendwatch keeps no personal data: `data.home_address` is not a field of `eotas.agreed`"
    )


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_no_personal_data_every_type_rejects_an_unknown_data_field(kind: str) -> None:
    _, good, _, _ = next(e for e in EXAMPLES if e[0] == kind)
    with pytest.raises(InvalidEvent) as error:
        decode(envelope(kind, good | {"child_name": "A"}), arrival=ARRIVAL)
    assert error.value.reason == (
        f"sendwatch keeps no personal data: `data.child_name` is not a field of `{kind}`"
    )


@pytest.mark.parametrize("field", ["child_name", "schema_version", "Event_ID"])
def test_no_personal_data_a_top_level_field_the_contract_does_not_define_is_rejected(
    field: str,
) -> None:
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {}, **{field: "x"}), arrival=ARRIVAL)
    assert error.value.reason == (
        f"sendwatch keeps no personal data: `{field}` is not a field of `plan.issued`"
    )


def test_contract_v1_1_data_fields_are_accepted() -> None:
    for kind, data in (
        ("plan.issued", {"setting_id": "URN-1", "primary_need": "ASD"}),
        ("exception.applied", {"clock": "final_plan", "ground": "not_recorded"}),
        ("caseworker.assigned", {"caseworker_id": "W7", "team": "North Kent"}),
        ("sen_support.ended", {"setting_id": "URN-1"}),
    ):
        assert decode(envelope(kind, data), arrival=ARRIVAL)["data"] == data
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {"primary_need": "autism"}), arrival=ARRIVAL)
    assert error.value.reason.startswith("data.primary_need: Input should be 'SPLD', 'MLD'")


@pytest.mark.parametrize(
    ("over", "data", "reason"),
    [
        (
            {"occurred_at": 1735689600},
            {},
            "occurred_at: expected an ISO 8601 date or datetime (such as 2025-03-14 or "
            "2025-03-14T09:30:00+00:00) as a string, not the number 1735689600",
        ),
        (
            {"occurred_at": "1735689600"},
            {},
            "occurred_at: '1735689600' is not an ISO 8601 date or datetime (such as 2025-03-14 "
            "or 2025-03-14T09:30:00+00:00)",
        ),
        ({"recorded_at": 1735689600.5}, {}, "recorded_at: expected an ISO 8601 date or datetime"),
        (
            {"type": "transfer.due"},
            {"transfer_date": "1735689600", "kind": "school"},
            "data.transfer_date: '1735689600' is not an ISO 8601 date (YYYY-MM-DD)",
        ),
        (
            {"type": "transfer.due"},
            {"transfer_date": 1735689600, "kind": "school"},
            "data.transfer_date: expected an ISO 8601 date (YYYY-MM-DD) as a string, "
            "not the number 1735689600",
        ),
    ],
)
def test_dates_are_iso_8601_strings_never_numbers_or_unix_timestamps(
    over: dict[str, Any], data: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEvent) as error:
        decode(envelope(over.pop("type", "plan.issued"), data, **over), arrival=ARRIVAL)
    assert error.value.reason.startswith(reason), error.value.reason


@pytest.mark.parametrize(
    "written",
    # forms Python's fromisoformat reads but the contract's readers need not (a week date,
    # the basic format, and "2025010112", which Python reads as 1 January 2025)
    ["20250314", "2025-W11-5", "2025010112", "2025-03-14T09", "2025-03-14X09:30", "14/03/2025"],
)
def test_dates_only_the_extended_iso_8601_form_is_read(written: str) -> None:
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {}, occurred_at=written), arrival=ARRIVAL)
    assert error.value.reason.startswith(f"occurred_at: {written!r} is not an ISO 8601")


@pytest.mark.parametrize(
    "written",
    [
        "2025-03-14",
        "2025-03-14T09:30",
        "2025-03-14 09:30:00",
        "2025-03-14T09:30:00.123456",
        "2025-03-14T09:30:00Z",
        "2025-03-14T09:30:00+05:30",
    ],
)
def test_dates_the_extended_forms_are_read(written: str) -> None:
    assert decode(envelope("plan.issued", {}, occurred_at=written), arrival=ARRIVAL)


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("occurred_at", "0001-01-01T00:00:00+05:00"),  # its UTC time would overflow
        ("occurred_at", "9999-12-31T23:59:59-05:00"),  # and this one
        ("occurred_at", "9999-12-31"),  # a clock's due date would overflow
        ("occurred_at", "1999-12-31"),
        ("occurred_at", "2101-01-01"),
        ("recorded_at", "0001-01-01T00:00:00+05:00"),
        ("recorded_at", "2101-01-01T00:00:00"),
        ("data.transfer_date", "9999-01-01"),
        ("data.transfer_date", "1999-09-01"),
    ],
)
def test_dates_are_plausible_2000_to_2100(field: str, written: str) -> None:
    if field == "data.transfer_date":
        text = envelope("transfer.due", {"transfer_date": written, "kind": "school"})
    else:
        text = envelope("plan.issued", {}, **{field: written})
    for arrival in (ARRIVAL, None):
        with pytest.raises(InvalidEvent) as error:
            decode(text, arrival=arrival)
        assert error.value.reason == (
            f"{field}: {written} is not a plausible date (expected 2000-01-01 to 2100-12-31)"
        )


def test_dates_the_first_and_last_plausible_days_are_accepted() -> None:
    # a history read from a file (no arrival) has nothing to compare occurred_at with
    for day in (
        "2000-01-01",
        "2000-01-01T00:00:00+14:00",
        "2100-12-31",
        "2100-12-31T23:59:59-12:00",
    ):
        event = read_event(envelope("plan.issued", {}, occurred_at=day), arrival=None)
        assert event.day.year in (1999, 2000, 2100, 2101)  # its London day
    due = envelope("transfer.due", {"transfer_date": "2100-12-31", "kind": "post16"})
    assert read_event(due, arrival=ARRIVAL).data["transfer_date"] == "2100-12-31"


@pytest.mark.parametrize(
    ("field", "written", "why"),
    [
        ("occurred_at", "2025-02-30", "day is out of range for month"),
        ("occurred_at", "2025-06-01T25:00:00", "hour must be in 0..23"),
        ("recorded_at", "2025-13-01T09:00:00", "month must be in 1..12"),
        ("data.transfer_date", "2026-02-29", "day is out of range for month"),  # not a leap year
    ],
)
def test_dates_that_do_not_exist_are_rejected(field: str, written: str, why: str) -> None:
    if field == "data.transfer_date":
        text = envelope("transfer.due", {"transfer_date": written, "kind": "school"})
    else:
        text = envelope("plan.issued", {}, **{field: written})
    with pytest.raises(InvalidEvent) as error:
        decode(text, arrival=ARRIVAL)
    assert error.value.reason.startswith(f"{field}: {written} is not a real date")
    assert why in error.value.reason


def test_dates_transfer_date_is_stored_as_it_came_and_folds() -> None:
    record, event = decode_event(
        envelope("transfer.due", {"transfer_date": "2026-09-01", "kind": "school"}),
        arrival=ARRIVAL,
    )
    assert record["data"]["transfer_date"] == "2026-09-01"
    assert event.data["transfer_date"] == "2026-09-01"
    # phase transfer is due on 15 February of the transfer's calendar year
    (clock,) = fold_case("KC-1", [event]).clocks
    assert clock.due == date(2026, 2, 15)


def test_no_events_from_the_future_occurred_at_at_most_a_day_after_recorded_at() -> None:
    recorded = "2025-01-01T09:00:00Z"
    with pytest.raises(InvalidEvent) as error:
        decode(
            envelope("plan.issued", {}, occurred_at="2099-01-01", recorded_at=recorded),
            arrival=None,
        )
    assert error.value.reason == (
        "occurred_at: 2099-01-01 is more than a day after recorded_at (2025-01-01T09:00:00Z): "
        "no events from the future"
    )
    # exactly a day later is allowed; a second more is not
    for occurred, allowed in (
        ("2025-01-02T09:00:00Z", True),
        ("2025-01-02T09:00:01Z", False),
        ("2025-01-02", True),  # London midnight (GMT): 00:00 UTC on 2 January
        ("2025-01-03", False),  # 00:00 UTC on 3 January, 15 hours too late
    ):
        text = envelope("plan.issued", {}, occurred_at=occurred, recorded_at=recorded)
        try:
            decode(text, arrival=ARRIVAL)
        except InvalidEvent as refused:
            assert not allowed, refused.reason
        else:
            assert allowed, occurred
    # in summer London is UTC+1: 09:00 on 2 July in London is 08:00 UTC, a day after 08:00
    summer = envelope(
        "plan.issued", {}, occurred_at="2025-07-02T09:00:00", recorded_at="2025-07-01T09:00:00"
    )
    assert decode(summer, arrival=None)


def test_no_events_from_the_future_without_recorded_at_arrival_is_the_limit() -> None:
    # ARRIVAL is 09:00 UTC on 1 July 2025: 2 July is allowed, 3 July is not
    assert decode(envelope("plan.issued", {}, occurred_at="2025-07-02"), arrival=ARRIVAL)
    with pytest.raises(InvalidEvent) as error:
        decode(envelope("plan.issued", {}, occurred_at="2025-07-03"), arrival=ARRIVAL)
    assert error.value.reason == (
        "occurred_at: 2025-07-03 is more than a day after its arrival "
        "(2025-07-01T09:00:00+00:00): no events from the future"
    )
    # a history read from a file has no arrival: nothing to check against
    assert read_event(envelope("plan.issued", {}, occurred_at="2099-01-01"), arrival=None)


def _with_data_text(text: str) -> bytes:
    """A valid event whose data's JSON text starts with ``text``."""
    return envelope("plan.issued", {"setting_id": "URN-1"}).replace(
        b'"data":{', b'"data":{' + text.encode(), 1
    )


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ('"n":NaN,', "not valid JSON: NaN and Infinity are not JSON numbers"),
        ('"n":Infinity,', "not valid JSON: NaN and Infinity are not JSON numbers"),
        ('"n":-Infinity,', "not valid JSON: NaN and Infinity are not JSON numbers"),
        ('"n":1e400,', "not valid JSON: number is infinity when parsed as double"),
    ],
)
def test_json_is_plain_nan_and_infinity_are_rejected(written: str, reason: str) -> None:
    for read in (lambda t: decode(t, arrival=ARRIVAL), lambda t: read_event(t, arrival=None)):
        with pytest.raises(InvalidEvent) as error:
            read(_with_data_text(written))
        assert error.value.reason.startswith(reason), error.value.reason


def test_json_is_plain_integers_outside_2_to_the_53_are_rejected() -> None:
    def pence(amount: int) -> bytes:
        return envelope("eotas.agreed", {"annual_cost_pence": amount}, schema=2)

    assert decode(pence(2**53), arrival=ARRIVAL)["data"]["annual_cost_pence"] == 2**53
    with pytest.raises(InvalidEvent) as error:
        decode(pence(2**53 + 1), arrival=ARRIVAL)
    assert error.value.reason.startswith(
        "data.annual_cost_pence: the number 9007199254740993 is outside ±2^53"
    )
    # beyond 64 bits (orjson reads it as a float) and in a field the type does not define
    for written in ('"n":18446744073709551616,', '"n":-9007199254740993,'):
        with pytest.raises(InvalidEvent) as error:
            decode(_with_data_text(written), arrival=ARRIVAL)
        assert error.value.reason.startswith("data.n: the number "), error.value.reason
        assert "is outside ±2^53" in error.value.reason


@pytest.mark.parametrize("depth", [9, 40, 300, 2000])
def test_json_is_plain_objects_nested_deeper_than_8_are_rejected(depth: int) -> None:
    # the event is level 1 and data level 2: [..] nested depth - 2 more is depth levels
    text = _with_data_text('"n":' + "[" * (depth - 2) + "]" * (depth - 2) + ",")
    with pytest.raises(InvalidEvent) as error:
        decode(text, arrival=ARRIVAL)
    if depth > 1024:  # deeper than orjson reads at all
        assert error.value.reason.startswith("not valid JSON: depth limit exceeded")
    else:
        assert error.value.reason == (
            "data.n[0][0][0][0][0][0]: objects and arrays nested more than 8 deep "
            "(an event is flat JSON)"
        )


def test_json_is_plain_events_over_64_kib_are_rejected() -> None:
    def sized(size: int) -> bytes:
        text = envelope("plan.issued", {}, source="")
        return envelope("plan.issued", {}, source="s" * (size - len(text)))

    assert len(sized(65_536)) == 65_536
    assert decode(sized(65_536), arrival=ARRIVAL)
    with pytest.raises(InvalidEvent) as error:
        decode(sized(65_537), arrival=ARRIVAL)
    assert error.value.reason == (
        "event: 65,537 bytes, over the limit of 65,536 bytes (64 KiB) for one event"
    )


def test_json_is_plain_invalid_utf8_is_rejected_never_raised() -> None:
    for broken in (b"\xff\xfe", b"\xc3", b"\xed\xa0\x80"):
        text = envelope("plan.issued", {}, source="ab").replace(b"ab", b"a" + broken)
        with pytest.raises(InvalidEvent) as error:
            decode(text, arrival=ARRIVAL)
        assert error.value.reason.startswith("not valid JSON: str is not valid UTF-8")
    with pytest.raises(InvalidEvent) as error:  # a str that cannot be UTF-8 at all
        decode('{"event_id": "\ud800"}', arrival=ARRIVAL)
    assert error.value.reason.startswith("not valid UTF-8")


def _outcomes(decoded: Iterable[Decoded]) -> list[tuple[int, str | None]]:
    return [(d.line, d.rejected.reason if d.rejected else None) for d in decoded]


def test_a_byte_order_mark_at_the_start_of_a_file_or_a_body_is_ignored() -> None:
    one, two = envelope("plan.issued", {}), envelope("plan.issued", {}, event_id="e-2")
    body = BOM + one + b"\n" + BOM + two + b"\n"
    got = _outcomes(decode_lines(io.BytesIO(body), origin="f.jsonl", arrival=lambda: ARRIVAL))
    # the first line's mark is ignored; one inside the file is not: that line is not JSON
    assert got[0] == (1, None)
    assert got[1][0] == 2 and (got[1][1] or "").startswith("not valid JSON")
    # the HTTP body: as JSON and as JSONL
    assert event_lines(BOM + one, "application/json") == one
    assert event_lines(BOM + one, "application/x-ndjson") == one


def test_crlf_and_lf_end_lines_alike_and_a_bare_cr_is_a_byte_of_its_line_on_every_path() -> None:
    one, two = envelope("plan.issued", {}), envelope("plan.issued", {}, event_id="e-2")
    bodies = [
        one + b"\n" + two + b"\n",
        one + b"\r\n" + two + b"\r\n",
        one + b"\r\n" + two,
        one + b"\r" + two + b"\n",  # a bare CR: one line, which is not one JSON value
        one.replace(b'"type"', b'\r"type"') + b"\n" + two,  # a CR as JSON whitespace
    ]
    for body in bodies:
        from_file = _outcomes(decode_lines(io.BytesIO(body), origin="x", arrival=lambda: ARRIVAL))
        posted = event_lines(body, "application/x-ndjson")
        from_post = _outcomes(
            decode_lines(split_lines(posted), origin="x", arrival=lambda: ARRIVAL)
        )
        assert from_file == from_post, body
    assert [r is None for _, r in _outcomes(decode_lines(split_lines(bodies[1]), origin="x"))] == [
        True,
        True,
    ]
    (only,) = _outcomes(decode_lines(split_lines(bodies[3]), origin="x"))
    assert only[1] is not None and only[1].startswith("not valid JSON: unexpected content after")


def test_a_json_array_item_too_deep_to_write_back_is_a_rejected_item_not_an_error() -> None:
    # orjson writes at most 254 levels: an item nested 300 deep cannot be one line again
    good = envelope("plan.issued", {})
    deep = envelope("plan.issued", {"setting_id": "URN-1"}, event_id="e-2").replace(
        b'"data":{', b'"data":{"n":' + b"[" * 300 + b"]" * 300 + b",", 1
    )
    body = b"[" + b",".join((good, deep, good)) + b"]"
    lines = split_lines(event_lines(body, "application/json"))
    assert len(lines) == 3
    got = _outcomes(decode_lines(lines, origin="POST", arrival=lambda: ARRIVAL))
    assert got[0] == (1, None) and got[2] == (3, None)
    assert got[1] == (
        2,
        "data.n[0][0][0][0][0][0]: objects and arrays nested more than 8 deep "
        "(an event is flat JSON)",
    )


def test_the_decoder_raises_nothing_but_invalid_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort: an error no check foresaw is a rejection naming it."""

    def broken(value: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("events.codec.parse_occurred", broken)
    monkeypatch.setattr("events.codec._OCCURRED", {})  # nothing remembered: parsed afresh
    text = envelope("plan.issued", {})
    for read in (
        lambda: decode(text, arrival=ARRIVAL),
        lambda: decode_event(text, arrival=ARRIVAL),
        lambda: read_event(text, arrival=None),
    ):
        with pytest.raises(InvalidEvent) as error:
            read()
        assert error.value.reason == "event: could not be read: RuntimeError: a bug"
    (item,) = decode_lines([text], origin="f.jsonl")
    assert item.rejected is not None
    assert item.rejected.origin == "f.jsonl line 1"
    assert item.rejected.reason == "event: could not be read: RuntimeError: a bug"


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (
            {"occurred_at": "9999-12-31"},
            "stored record: occurred_at: 9999-12-31 is not a plausible",
        ),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "stored record: "),
        ({"occurred_at": 1735689600}, "stored record: "),
        ({"recorded_at": "yesterday"}, "stored record: "),
        (
            {"type": "transfer.due", "data": {"transfer_date": "1735689600", "kind": "school"}},
            "stored record: data.transfer_date: '1735689600' is not a date",
        ),
        ({"data": [1]}, "stored record: data: expected a JSON object"),
        ({"type": "eotas.agreed", "data": {"annual_cost": "x"}}, "stored record: "),
    ],
)
def test_a_stored_record_that_is_not_one_is_rejected_never_raised(
    stored: dict[str, Any], reason: str
) -> None:
    record = decode(envelope("plan.issued", {}), arrival=ARRIVAL) | stored
    with pytest.raises(InvalidEvent) as error:
        from_stored(orjson.dumps(record))
    assert error.value.reason.startswith(reason), error.value.reason
