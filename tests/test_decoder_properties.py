"""Properties of the one decoder (hypothesis): whatever the input, every line is accepted or
rejected with a reason, nothing else escapes, and every accepted event folds (CONTRACT.md
section 1.1: "nothing accepted can stop the system").

Valid events of every type are mutated in every field (wrong types, dates at the extremes
with offsets, timestamps as numbers and numeric strings, NaN, Infinity and 1e400 written in
the JSON text, huge integers, deep nesting, unknown fields, oversize strings) and in their
bytes (invalid UTF-8, a byte-order mark, carriage returns, truncation).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tell
from hypothesis import strategies as st
from msgspec.structs import replace
from pydantic import TypeAdapter, ValidationError

from events import EVENT_TYPES, Event, InvalidEvent, decode, decode_event, from_record, read_event
from events.codec import BOM, _reason, from_stored
from events.envelope import (
    DATA_ADAPTERS,
    EVENT_ADAPTER,
    OLD_DATA_MODELS,
    VERSIONED,
    model_adapter,
)
from events.types import DATA_MODELS
from projections import Period
from projections.case import fold_case
from projections.measures import contribution, standing
from streams.ingest import decode_lines, split_lines
from tests.history import event as make_event

ARRIVAL = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
# "now" at the edges of the plausible years and in the simulated history's time
NOWS = (date(2000, 1, 1), date(2024, 6, 30), date(2025, 7, 1), date(2100, 12, 31))
OFFSETS = (
    None,
    UTC,
    timezone(timedelta(hours=5)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
)
SETTLING = settings(
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _data(kind: str, draw: Draw) -> dict[str, Any]:
    """Valid data of each type (at its contract schema; ``eotas.agreed`` at either)."""
    pick = lambda *xs: draw(st.sampled_from(xs))  # noqa: E731
    some_id = lambda: pick("a", "b", "URN-1")  # noqa: E731
    maybe = lambda field, value: {field: value} if draw(st.booleans()) else {}  # noqa: E731
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "request.received": lambda: (
            {"requested_by": pick("parent", "school", "health")} | maybe("setting_id", some_id())
        ),
        "assessment.decided": lambda: {"decision": pick("assess", "refuse")},
        "plan.decided": lambda: {"decision": pick("issue", "not_issue")},
        "plan.draft_issued": dict,
        "plan.issued": lambda: (
            maybe("setting_id", some_id())
            | maybe("setting_type", "special")
            | maybe("primary_need", pick("ASD", "SEMH", "OTH"))
        ),
        "exception.applied": lambda: (
            {
                "clock": pick(
                    "assess_decision", "no_plan_decision", "final_plan", "tribunal_order"
                ),
                "ground": pick("absence", "school_closure", "not_recorded"),
            }
            | maybe("family_told", pick(True, False))
            | maybe("order_id", some_id())
        ),
        "request.withdrawn": dict,
        "plan.ceased": lambda: {"reason": "moved away"},
        "review.meeting_held": dict,
        "review.decided": lambda: {"decision": pick("maintain", "amend", "cease")},
        "amendment.proposed": dict,
        "plan.amended": dict,
        "review.compliance_checked": lambda: {
            "setting_id": some_id(),
            "compliant": pick(True, False),
            "failures": pick([], ["no health advice"]),
        },
        "transfer.due": lambda: {
            "transfer_date": pick("2025-09-01", "2026-01-05", "2000-01-01", "2100-12-31"),
            "kind": pick("school", "post16"),
        },
        "transfer.setting_named": lambda: maybe("setting_id", some_id()),
        "appeal.registered": lambda: {
            "appeal_id": some_id(),
            "against": pick("refusal_to_assess", "contents", "cease", "refusal_to_amend"),
        },
        "appeal.concluded": lambda: {
            "appeal_id": some_id(),
            "outcome": pick("conceded", "la_won", "appellant_won", "withdrawn"),
        },
        "tribunal.order_made": lambda: (
            {
                "order_id": some_id(),
                "kind": pick("assess", "make_plan", "maintain", "name_setting"),
                "basis": pick("order", "unopposed"),
            }
            | maybe("appeal_id", some_id())
        ),
        "tribunal.order_step_done": lambda: (
            {
                "order_id": some_id(),
                "step": pick("notify", "draft", "final"),
            }
            | maybe("outcome", pick("plan", "no_plan"))
        ),
        "education.lost": lambda: {"reason": pick("excluded", "other")},
        "education.resumed": lambda: {"provision": pick("school", "eotas")},
        "eotas.requested": dict,
        "eotas.agreed": lambda: (
            maybe("hours_per_week", pick(0, 12.5, 168)) | maybe("annual_cost", pick(0, 18250.75))
        ),
        "eotas.started": dict,
        "eotas.ended": dict,
        "contact.received": lambda: {"contact_id": some_id(), "channel": pick("email", "phone")},
        "contact.responded": lambda: {"contact_id": some_id(), "automated": pick(True, False)},
        "caseworker.assigned": lambda: {"caseworker_id": some_id()} | maybe("team", "North"),
        "plan.audited": lambda: (
            {
                "section_b": "met",
                "section_e": pick("met", "not_met"),
                "section_f": "met",
            }
            | maybe("grade", pick("good", "inadequate"))
        ),
        "sen_support.started": lambda: {"setting_id": some_id()},
        "sen_support.ended": lambda: maybe("setting_id", some_id()),
        "event.retracted": lambda: {"event_id": pick("c1", "c2", "x"), "reason": "wrong case"},
    }
    return makers[kind]()


@st.composite
def valid_events(draw: Draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(EVENT_TYPES))
    day = draw(st.dates(date(2024, 1, 1), date(2025, 6, 30)))
    when: str = day.isoformat()
    if draw(st.booleans()):
        moment = datetime.combine(day, datetime.min.time()) + timedelta(
            seconds=draw(st.integers(0, 86_399))
        )
        when = moment.replace(tzinfo=draw(st.sampled_from(OFFSETS))).isoformat()
    out: dict[str, Any] = {
        "event_id": draw(st.sampled_from(["e1", "e2", "x" * 128])),
        "type": kind,
        "case_id": draw(st.sampled_from(["KC-1", "a.b:c_d-9"])),
        "occurred_at": when,
        "data": _data(kind, draw),
    }
    if draw(st.booleans()):
        recorded = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            hours=draw(st.integers(24, 24 * 400))  # never more than a day before it occurred
        )
        out["recorded_at"] = recorded.isoformat()
    if kind == "eotas.agreed" and draw(st.booleans()):
        out["schema"] = 2
        cost = out["data"].pop("annual_cost", None)
        if cost is not None:
            out["data"]["annual_cost_pence"] = round(cost * 100)
    for field, value in (("source", "synergy"), ("council", "886")):
        if draw(st.booleans()):
            out[field] = value
    return out


# --- what a mutation puts in a field -----------------------------------------------------

# JSON text that orjson.dumps cannot write (or that is not JSON at all), put in place of a
# marker string after dumping
RAW_TOKENS = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"1.7976931348623157e308",
    b"9007199254740993",
    b"-9007199254740993",
    b"18446744073709551616",
    b"1" + b"0" * 40,
    b"[" * 9 + b"]" * 9,
    b"[" * 254 + b"]" * 254,
    b"[" * 300 + b"]" * 300,
    b"{" + b'"a":{' * 20 + b"}" * 21,
    b"[" * 1100 + b"]" * 1100,
)


def _iso(moment: datetime | date) -> str:
    return moment.isoformat()


EXTREME_DATETIMES = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(OFFSETS),
).map(_iso)
EDGE_DAYS = st.sampled_from(
    [
        date(1, 1, 1),
        date(1999, 12, 31),
        date(2000, 1, 1),
        date(2100, 12, 31),
        date(2101, 1, 1),
        date(9999, 12, 31),
    ]
)
EDGE_DATETIMES = st.builds(
    lambda day, seconds, tz: (
        datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)
    ).replace(tzinfo=tz),
    EDGE_DAYS.filter(lambda d: d < date(9999, 12, 31)),
    st.integers(0, 86_399),
    st.sampled_from(OFFSETS),
).map(_iso)
TIMESTAMPS = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 2**34).map(str),
    st.sampled_from(["1735689600", "1735689600.5", "20250101", "2025010112", "2025-W01-1"]),
)
DATE_VALUES = st.one_of(
    EXTREME_DATETIMES,
    EDGE_DATETIMES,
    EDGE_DAYS.map(_iso),
    st.dates().map(_iso),
    TIMESTAMPS,
    st.sampled_from(["2025-02-30", "2025-06-01T25:00:00", "2025-13-01", "2099-01-01", ""]),
)
BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.text(max_size=200).map(lambda s: s * 50),  # long strings
    st.lists(st.integers(-(2**63), 2**63), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63), max_size=3),
    DATE_VALUES,
    st.sampled_from(RAW_TOKENS).map(lambda t: ("raw", t)),
)
UNKNOWN_FIELDS = st.one_of(
    st.sampled_from(["child_name", "date_of_birth", "home_address", "Type", "schema_version"]),
    st.text(max_size=12),
)
FIELDS = st.sampled_from(
    [
        "event_id",
        "type",
        "case_id",
        "occurred_at",
        "recorded_at",
        "schema",
        "source",
        "council",
        "data",
    ]
)


def _dumps(event: dict[str, Any]) -> bytes:
    """The event as JSON text, with each ("raw", token) written as that token."""
    tokens: list[bytes] = []

    def mark(value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "raw":
            tokens.append(value[1])
            return f"\x00raw{len(tokens) - 1}\x00"
        if isinstance(value, dict):
            return {key: mark(child) for key, child in value.items()}
        if isinstance(value, list):
            return [mark(child) for child in value]
        return value

    text = orjson.dumps(mark(event))
    for n, token in enumerate(tokens):
        text = text.replace(orjson.dumps(f"\x00raw{n}\x00"), token)
    return text


@st.composite
def mutated_dicts(draw: Draw) -> dict[str, Any]:
    event = draw(valid_events())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.integers(0, 6))
        data = event.get("data")
        if how == 0:  # a top-level field set to a bad value
            event[draw(FIELDS)] = draw(BAD_VALUES)
        elif how == 1 and isinstance(data, dict):  # a data field, defined or not
            names = [*data, "transfer_date", "annual_cost_pence", "hours_per_week"]
            name = draw(st.one_of(st.sampled_from(names), UNKNOWN_FIELDS))
            event["data"] = {**data, name: draw(BAD_VALUES)}
        elif how == 2:  # a date at the extremes, or a timestamp
            field = draw(st.sampled_from(["occurred_at", "recorded_at", "transfer_date"]))
            if field == "transfer_date":
                event["type"] = "transfer.due"
                event["data"] = {"transfer_date": draw(DATE_VALUES), "kind": "school"}
            else:
                event[field] = draw(DATE_VALUES)
        elif how == 3 and event:  # a field dropped
            name = draw(st.sampled_from(sorted(event)))
            del event[name]
        elif how == 4:  # a field the contract does not define (personal data)
            target = event if draw(st.booleans()) or not isinstance(data, dict) else data
            target[draw(UNKNOWN_FIELDS)] = draw(st.one_of(st.text(max_size=10), BAD_VALUES))
        elif how == 5:  # another type with this data
            event["type"] = draw(st.one_of(st.sampled_from(EVENT_TYPES), st.text(max_size=8)))
        elif how == 6:  # an oversize string: the event about 64 KiB
            event["source"] = "s" * draw(st.integers(65_000, 66_000))
    return event


@st.composite
def mutated_texts(draw: Draw) -> bytes:
    """A mutated event's JSON text, perhaps mutated again as bytes."""
    text = _dumps(draw(mutated_dicts())) if draw(st.booleans()) else _dumps(draw(valid_events()))
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.integers(0, 6))
        at = draw(st.integers(0, len(text)))
        if how == 0:  # bytes that may not be UTF-8 (or not JSON)
            some = draw(
                st.one_of(
                    st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x85"]),
                    st.binary(min_size=1, max_size=4),
                )
            )
            text = text[:at] + some + text[at:]
        elif how == 1:
            text = text[:at]  # truncated
        elif how == 2:
            text = BOM + text
        elif how == 3:  # a stray carriage return (JSON whitespace between tokens, or not)
            text = text[:at] + b"\r" + text[at:]
        elif how == 4:
            text = text + b"\r\n"
        elif how == 5:  # a number written where a value starts
            token = draw(st.sampled_from(RAW_TOKENS[:10]))
            text = text.replace(b'"data":{', b'"data":{"n":' + token + b",", 1)
        elif how == 6:
            text = text.replace(b":", b": ", 1)  # harmless whitespace
    return text


# --- the properties -----------------------------------------------------------------------

COMPANIONS = [
    make_event("request.received", "C", "2024-03-01", eid="c1", requested_by="parent"),
    make_event("assessment.decided", "C", "2024-04-01", eid="c2", decision="assess"),
    make_event("plan.issued", "C", "2024-08-01", eid="c3"),
    make_event("contact.received", "C", "2024-05-02", eid="c4", contact_id="a", channel="email"),
    make_event(
        "tribunal.order_made",
        "C",
        "2024-06-03",
        eid="c5",
        order_id="a",
        kind="assess",
        basis="order",
    ),
    make_event(
        "transfer.due", "C", "2024-09-01", eid="c6", transfer_date="2025-09-01", kind="school"
    ),
    make_event("caseworker.assigned", "C", "2024-03-02", eid="c7", caseworker_id="w1"),
    make_event("education.lost", "C", "2024-10-01", eid="c8", reason="excluded"),
    make_event("sen_support.started", "C", "2024-02-01", eid="c9", setting_id="URN-1"),
    make_event(
        "appeal.registered", "C", "2024-04-20", eid="c10", appeal_id="a", against="contents"
    ),
    make_event("eotas.requested", "C", "2024-11-01", eid="c11"),
]


def folds_without_raising(event: Event) -> None:
    """The accepted event folds alone and among a few valid events of its case, and its
    case's tallies are made, at several nows and with none."""
    companions = [replace(e, case_id=event.case_id) for e in COMPANIONS]
    for events in ([event], [*companions, event]):
        fold_case(event.case_id, events)
        for now in NOWS:
            case = fold_case(event.case_id, events, now)
            standing(case, now)
            # the case's share of every measure: standing, its dated tallies (``dated``) in
            # the 12 months to now, and whether it had three caseworkers
            contribution(case, Period.default(now), now)


def outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    """("accepted", result) or ("rejected", reason); any other exception fails the test."""
    try:
        return "accepted", read()
    except InvalidEvent as error:
        assert isinstance(error.reason, str) and error.reason.strip(), repr(error.reason)
        assert len(error.reason) < 2_000  # a reason never carries a whole input
        return "rejected", error.reason


def accepted_or_rejected(text: bytes) -> None:
    for arrival in (ARRIVAL, None):
        kept = outcome(lambda at=arrival: decode_event(text, arrival=at))
        read = outcome(lambda at=arrival: read_event(text, arrival=at))
        plain = outcome(lambda at=arrival: decode(text, arrival=at))
        tell(kept[0])  # how many of each, in --hypothesis-show-statistics
        if kept[0] == "rejected":
            assert read == kept and plain == kept  # one validation, one reason
            continue
        record, event = kept[1]
        assert read == ("accepted", event)
        assert plain[0] == "accepted"
        stored = orjson.dumps(record)  # what the log stores can be written...
        assert from_record(orjson.loads(stored)) == event  # ...and read back
        assert from_stored(stored) == event
        folds_without_raising(event)


@SETTLING
@given(mutated_texts())
def test_every_mutated_event_is_accepted_or_rejected_with_a_reason_and_folds(text: bytes) -> None:
    accepted_or_rejected(text)


@settings(max_examples=300, deadline=None)
@given(valid_events())
def test_every_valid_event_is_accepted_and_folds(event: dict[str, Any]) -> None:
    record, decoded = decode_event(orjson.dumps(event), arrival=None)
    assert record["data"] == event["data"]  # stored as it came
    folds_without_raising(decoded)


@SETTLING
@given(st.binary(max_size=300))
def test_any_bytes_at_all_are_accepted_or_rejected(text: bytes) -> None:
    accepted_or_rejected(text)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(mutated_texts(), st.just(b"")), min_size=1, max_size=6),
    st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=6, max_size=6),
    st.booleans(),
)
def test_every_line_of_a_body_is_accounted_for_alike_from_a_file_and_a_post(
    lines: list[bytes], endings: list[bytes], bom: bool
) -> None:
    body = (BOM if bom else b"") + b"".join(
        line.replace(b"\n", b"") + end for line, end in zip(lines, endings, strict=False)
    )

    def outcomes(source: Any) -> list[tuple[int, str | None]]:
        return [
            (d.line, d.rejected.reason if d.rejected else None)
            for d in decode_lines(source, origin="x", arrival=lambda: ARRIVAL)
        ]

    from_file = outcomes(io.BytesIO(body))
    from_post = outcomes(split_lines(body))
    assert from_file == from_post
    # one outcome for each line that is not blank, in order
    expected = [
        n
        for n, line in enumerate(body.split(b"\n"), start=1)
        if (line[len(BOM) :] if n == 1 and line.startswith(BOM) else line).strip()
    ]
    assert [n for n, _ in from_file] == expected


MODELS = model_adapter()
DATA_MODEL_ADAPTERS = {
    key: TypeAdapter(OLD_DATA_MODELS.get(key, DATA_MODELS[key[0]])) for key in DATA_ADAPTERS
}


def _verdict(adapter: TypeAdapter[Any], value: Any) -> str | None:
    """None if ``adapter`` accepts ``value``, else the reason the decoder would give."""
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        return _reason(error)
    return None


@SETTLING
@given(mutated_dicts())
def test_the_fast_validator_accepts_and_rejects_exactly_as_the_models(
    event: dict[str, Any],
) -> None:
    """The decoder validates against TypedDicts made from the models (twice as fast); the
    models are the contract's definitions and its JSON Schema: they agree on every input."""
    try:
        value = orjson.loads(_dumps(event))
    except orjson.JSONDecodeError:  # NaN and the like: never validated
        return
    if not isinstance(value, dict):
        return
    kind = value.get("type")
    if (
        isinstance(kind, str) and kind in VERSIONED
    ):  # data at its own version: each (type, schema) against its model
        data = value.get("data")
        for key, adapter in DATA_ADAPTERS.items():
            if key[0] == kind:
                assert (_verdict(adapter, data) is None) == (
                    _verdict(DATA_MODEL_ADAPTERS[key], data) is None
                )
        return
    fast, model = _verdict(EVENT_ADAPTER, value), _verdict(MODELS, value)
    assert (fast is None) == (model is None), (fast, model)
    if fast != model:  # data left out, of a type with a required field: said as a whole
        assert "data" not in value and "data: Field required" in (fast or ""), (fast, model)
