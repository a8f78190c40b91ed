"""The decoder's fast path (msgspec Structs made from the models, ``events.structs``) answers
exactly as the pydantic models do: the same accept or reject, the same stored record and
event on accept, the same reason on reject (the models give every reason; the fast path
only decides sooner that an event is good).

Properties (hypothesis) over the valid and mutated events of tests/test_decoder_properties.py,
mutations aimed at the edges of the models' patterns and bounds, and the mutation corpus of
tests/fuzz_corpus.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

import events.structs
from events.codec import (
    BOM,
    InvalidEvent,
    _decode,
    decode,
    from_body,
    from_record,
    from_stored,
)
from events.envelope import DATA_ADAPTERS, EVENT_ADAPTER, VERSIONED
from events.structs import _dated, accepts, data_accepts, digit_blind, parsed, python_pattern
from events.types import DATE_OR_DATETIME_PATTERN, EVENT_TYPES
from tests import fuzz_corpus
from tests.test_decoder_properties import (
    EDGE_DATETIMES,
    EXTREME_DATETIMES,
    SETTLING,
    Draw,
    _dumps,
    mutated_dicts,
    mutated_texts,
    outcome,
    valid_events,
)

ARRIVAL = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)


def models_accept(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def answer(text: bytes, arrival: datetime | None, store: bool, fast: bool) -> Any:
    """What the decoder makes of ``text``, with the fast path or with the models alone: the
    record (every value of its own type: 20 is not 20.0; its fields in their order when it
    is to be stored as it came), the London day, the second and the instant it was
    recorded; or the reason."""
    try:
        record, day, second, recorded = _decode(text, arrival, "886", store, fast)
    except InvalidEvent as error:
        return ("rejected", error.reason)
    exact = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return ("accepted", exact, list(record) if store else sorted(record), day, second, recorded)


def same_answers(text: bytes) -> str:
    outcome = ""
    for arrival in (ARRIVAL, None):
        for store in (True, False):
            fast = answer(text, arrival, store, fast=True)
            assert fast == answer(text, arrival, store, fast=False), text[:300]
            outcome = fast[0]
    return outcome


# --- what the fast validator says, against the models ------------------------------------

# values at the edges of the models' patterns and bounds: a final newline (which Python's
# ``$`` lets through and pydantic's does not), non-ASCII digits, lengths either side of a
# limit, numbers either side of a bound, booleans and floats for integers
EDGES = st.sampled_from(
    [
        "KC-1\n",
        "KC-1\r",
        "\nKC-1",
        "KC 1",
        "a" * 64,
        "a" * 65,
        "",
        "x" * 128,
        "x" * 129,
        "é" * 128,
        "😀" * 128,
        "😀" * 129,
        "2025-01-01\n",
        "2025-01-01T09:30:00Z\n",
        "٢٠٢٥-01-01",
        "2025-01-01t09:30:00",
        "2025-01-01T09:30:00.1234567",
        "2025-01-01T09:30:00.123456+01:00",
        "2025-01-01T09:30+01:00",
        "2025-01-01T09:30:00+0100",
        "2025-01-01 09:30:00z",
        "20250101",
        "2025-W01-1",
        0,
        1,
        2,
        3,
        -1,
        True,
        False,
        1.0,
        2.0,
        -0.0,
        168,
        168.0,
        168.00000000000003,
        2**53,
        2**53 + 1,
        float(2**53),
        90071992547409,
        90071992547410,
        None,
        [],
        ["a", 1],
        [None],
        {},
    ]
)
ENVELOPE = ("event_id", "case_id", "occurred_at", "recorded_at", "schema", "source", "council")
DATA_FIELDS = (
    "setting_id",
    "transfer_date",
    "hours_per_week",
    "annual_cost",
    "annual_cost_pence",
    "failures",
    "family_told",
    "appeal_id",
    "event_id",
    "reason",
)


@st.composite
def edged_dicts(draw: Draw) -> dict[str, Any]:
    event: dict[str, Any] = draw(st.one_of(valid_events(), mutated_dicts()))
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()) or not isinstance(event.get("data"), dict):
            event[draw(st.sampled_from(ENVELOPE))] = draw(EDGES)
        else:
            event["data"] = {**event["data"], draw(st.sampled_from(DATA_FIELDS)): draw(EDGES)}
    if draw(st.booleans()):  # the edge on a type with several schemas, at either
        event["type"] = "eotas.agreed"
    return event


def as_parsed(event: dict[str, Any]) -> Any:
    """The event as the decoder would see it after orjson; None when it is not JSON."""
    try:
        return orjson.loads(_dumps(event))
    except orjson.JSONDecodeError:  # NaN and the like: refused before any validation
        return None


def fast_and_models_agree(value: Any) -> None:
    if not isinstance(value, dict):
        return
    assert accepts(value) == models_accept(EVENT_ADAPTER, value), value
    kind, data = value.get("type"), value.get("data", {})
    if isinstance(kind, str) and (kind in VERSIONED or value.get("schema") not in (None, 1)):
        given = value.get("schema")
        for schema in {1, 2, 3, given} if type(given) is int else {1, 2, 3}:
            adapter = DATA_ADAPTERS.get((kind, schema))
            expected = adapter is not None and models_accept(adapter, data)
            assert data_accepts(kind, schema, data) == expected, (kind, schema, data)


@SETTLING
@given(st.one_of(valid_events(), mutated_dicts(), edged_dicts()))
def test_the_fast_validator_accepts_exactly_what_the_models_accept(event: dict[str, Any]) -> None:
    fast_and_models_agree(as_parsed(event))


@settings(max_examples=300, deadline=None)
@given(valid_events())
def test_every_valid_event_passes_the_fast_validator(event: dict[str, Any]) -> None:
    value = as_parsed(event)
    if event["type"] in VERSIONED:
        schema = event.get("schema", 1)
        assert data_accepts(event["type"], schema, value["data"])
    assert accepts(value)


def test_a_case_id_ending_in_a_newline_is_refused_as_the_models_refuse_it() -> None:
    """pydantic matches patterns with Rust's regex, where ``$`` is the end of the text;
    Python's ``$`` also matches before a final newline, so the fast path's patterns end in
    ``\\Z`` instead."""
    event = {
        "event_id": "e1",
        "type": "plan.issued",
        "case_id": "KC-1\n",
        "occurred_at": "2025-03-14\n",
    }
    assert not models_accept(EVENT_ADAPTER, event)
    assert not accepts(event)
    assert not accepts({**event, "occurred_at": "2025-03-14"})
    assert accepts({**event, "case_id": "KC-1", "occurred_at": "2025-03-14"})
    assert python_pattern("^[a-z]{1,3}$") == r"^[a-z]{1,3}\Z"


def test_a_case_id_seen_before_is_not_checked_again_but_a_bad_one_still_fails() -> None:
    good = {
        "event_id": "e1",
        "type": "plan.issued",
        "case_id": "KC-cached",
        "occurred_at": "2025-03-14",
    }
    assert accepts(good) and "KC-cached" in events.structs._good_cases
    assert accepts(good)  # from the memory of good case ids
    assert not accepts({**good, "case_id": "KC cached"})  # a space: not in the pattern
    assert "KC cached" not in events.structs._good_cases


def test_a_model_field_msgspec_cannot_check_alike_stops_the_import() -> None:
    with pytest.raises(TypeError, match="anchor or class"):
        python_pattern(r"^\d{4}$")  # \d is any Unicode digit in Python, ASCII in Rust
    with pytest.raises(TypeError, match="ending with"):
        python_pattern(r"^[a-z]+")


# --- the whole decoder, fast path against models --------------------------------------------


@SETTLING
@given(mutated_texts())
def test_every_mutated_text_gets_the_same_answer_from_the_fast_path_and_the_models(
    text: bytes,
) -> None:
    same_answers(text)


@SETTLING
@given(st.one_of(valid_events(), edged_dicts()))
def test_every_event_at_the_edges_gets_the_same_answer_from_both(event: dict[str, Any]) -> None:
    same_answers(_dumps(event))


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, len(fuzz_corpus.STRUCTURED) - 1))
def test_the_fuzz_corpus_mutations_get_the_same_answer_from_both(
    rng: random.Random, which: int
) -> None:
    base: dict[str, Any] = dict(rng.choice(fuzz_corpus.history()))
    event = fuzz_corpus.STRUCTURED[which](base, rng)
    text = fuzz_corpus._dumps(event)
    same_answers(text)
    same_answers(fuzz_corpus._text(orjson.dumps(base), rng))


def test_the_fuzz_corpus_gets_the_same_answers_line_by_line() -> None:
    outcomes = {same_answers(line) for line in fuzz_corpus.corpus(seed=7, mutated=400)}
    assert outcomes == {"accepted", "rejected"}


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_type_has_a_fast_validator(kind: str) -> None:
    assert kind in events.structs.EVENT_STRUCTS


# --- the memories of values known good ------------------------------------------------------

DATED = TypeAdapter(Annotated[str, Field(strict=True, pattern=DATE_OR_DATETIME_PATTERN)])
PIECES = st.sampled_from(
    [
        *("2025", "-", "01", "12", "T", " ", "t", ":", "30", "00", ".", "123456", "1234567"),
        *("Z", "z", "+", "-05:00", "+01:00", "\n", "٢", "0", "W"),
    ]
)


@settings(max_examples=3_000, deadline=None)
@given(
    st.one_of(
        st.lists(PIECES, max_size=14).map("".join),
        EXTREME_DATETIMES,
        EDGE_DATETIMES,
        st.text(alphabet="0123456789-T:Z+. \n", max_size=32),
    )
)
def test_a_date_is_judged_by_its_remembered_shape_exactly_as_by_the_pattern(
    value: str,
) -> None:
    """The dates' pattern treats every digit alike, so a value whose shape (digits written
    as 0) matched before matches: remembering shapes never lets through what pydantic's
    own matching refuses, nor refuses what it lets through."""
    assert _dated(value) == models_accept(DATED, value), value
    assert _dated(value) == models_accept(DATED, value), value  # the second time, remembered


# --- one pass: msgspec parses and validates the text of an event read and not stored --------


def parsed_as_orjson_parses(text: bytes) -> None:
    """What ``parsed`` returns is the event exactly as orjson parses it (every value of the
    same type), and one the models accept; None decides nothing."""
    got = parsed(text)
    if got is None:
        return
    value = orjson.loads(text)
    assert orjson.dumps(got, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        value, option=orjson.OPT_SORT_KEYS
    )
    assert models_accept(EVENT_ADAPTER, value)


@SETTLING
@given(st.one_of(mutated_texts(), valid_events().map(_dumps), edged_dicts().map(_dumps)))
def test_one_pass_gives_the_event_as_orjson_parses_it_and_only_if_the_models_accept_it(
    text: bytes,
) -> None:
    parsed_as_orjson_parses(text)


JSON_TRAPS = [
    # a repeated field: the last one counts (orjson's reading), a repeated type that differs
    # is refused
    (
        b'{"event_id":"e1","event_id":"e2","type":"plan.issued","case_id":"K","occurred_at":'
        b'"2025-03-14"}',
        {"event_id": "e2"},
    ),
    (
        b'{"event_id":"e1","type":"plan.issued","type":"plan.amended","case_id":"K",'
        b'"occurred_at":"2025-03-14"}',
        None,
    ),
    # an integer where a float may be stays an integer; 1e400 is out of range
    (
        b'{"event_id":"e1","type":"eotas.agreed","case_id":"K","occurred_at":"2025-03-14",'
        b'"data":{"hours_per_week":20}}',
        None,
    ),  # a type with two schemas: the usual way
    # a lone surrogate, a byte that is not UTF-8, a byte-order mark, NaN
    (b'{"event_id":"\\ud800","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"}', None),
    (b'{"event_id":"\xff","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"}', None),
    (
        BOM + b'{"event_id":"e1","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"}',
        None,
    ),
    (
        b'{"event_id":"e1","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14",'
        b'"data":{"n":NaN}}',
        None,
    ),
    (
        b'{"event_id":"e1","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14",'
        b'"schema":1.0}',
        None,
    ),
    # trailing whitespace and a CRLF ending are JSON whitespace to both
    (
        b'{"event_id":"e1","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"} \r\n',
        {"event_id": "e1"},
    ),
]


@pytest.mark.parametrize(("text", "expected"), JSON_TRAPS)
def test_one_pass_reads_the_json_traps_as_orjson_or_leaves_them_to_it(
    text: bytes, expected: dict[str, Any] | None
) -> None:
    got = parsed(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and expected.items() <= got.items()
        parsed_as_orjson_parses(text)
    same_answers(text)


def test_an_integer_where_a_float_may_be_stays_an_integer() -> None:
    """pydantic (strict) takes an integer for a float, and orjson keeps it an integer: so
    does the fast path (20, not 20.0), in both schemas of ``eotas.agreed``."""
    assert data_accepts("eotas.agreed", 2, {"hours_per_week": 20})
    assert data_accepts("eotas.agreed", 1, {"annual_cost": 18250})
    assert not data_accepts("eotas.agreed", 2, {"hours_per_week": True})
    assert not data_accepts("eotas.agreed", 2, {"hours_per_week": 169})
    text = (
        b'{"event_id":"e1","type":"eotas.agreed","schema":2,"case_id":"K",'
        b'"occurred_at":"2025-03-14","data":{"hours_per_week":20}}'
    )
    record, *_ = _decode(text, ARRIVAL, None, True, True)
    assert type(record["data"]["hours_per_week"]) is int


@pytest.mark.parametrize(
    ("pattern", "blind"),
    [
        (r"^[0-9]{4}-[0-9]{2}\Z", True),
        (r"^[0-9]{2}(?:[T ][0-9]{2}(?:Z|[+-][0-9]{2})?)?\Z", True),
        (r"^[0-9]{2}\.[0-9]\Z", True),
        (r"^1[0-9]\Z", False),  # a 1 but no other digit first
        (r"^[0-5][0-9]\Z", False),  # minutes: 0 to 5, not any digit
        (r"^[0-9a]\Z", False),
        (r"^.[0-9]\Z", False),  # any character, a digit too
        (r"^\d\Z", False),  # any Unicode digit
        (r"^[/-:]\Z", False),  # a range: / to :, the digits among them
        (r"^[^T][0-9]\Z", False),  # anything but T: a digit too
    ],
)
def test_a_pattern_is_digit_blind_only_if_every_digit_is_alike_to_it(
    pattern: str, blind: bool
) -> None:
    assert digit_blind(pattern) is blind


EVENT_ID_BYTES = [
    *(b"\x00", b"\x01", b"\t", b"\n", b"\x1f"),  # raw control characters: not JSON
    *(b"\x7f", b"\xc2\x85", b"\xf0\x9f\x98\x80"),  # DEL, NEL, an emoji: plain characters
    *(b"\\/", b"\\u0000", b"\\ud83d\\ude00", b"\\uD83D\\uDE00"),  # escapes, a surrogate pair
    *(b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"),  # a surrogate, overlong, > U+10FFFF
]
AROUND = [b" %s\r\n", b"\x0c%s", b"%s\x00", b"%s{}", b"[%s]"]


@pytest.mark.parametrize("inside", EVENT_ID_BYTES)
def test_one_pass_reads_the_characters_of_a_string_as_orjson_does(inside: bytes) -> None:
    text = b'{"event_id":"e%s1","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"}'
    parsed_as_orjson_parses(text % inside)
    same_answers(text % inside)


@pytest.mark.parametrize("around", AROUND)
def test_one_pass_reads_what_is_around_an_event_as_orjson_does(around: bytes) -> None:
    text = (
        around % b'{"event_id":"e","type":"plan.issued","case_id":"K","occurred_at":"2025-03-14"}'
    )
    parsed_as_orjson_parses(text)
    same_answers(text)


@settings(max_examples=300, deadline=None)
@given(valid_events(), st.sampled_from([None, ARRIVAL]))
def test_a_stored_record_is_read_back_by_the_replay_as_the_record_itself_reads(
    event: dict[str, Any], arrival: datetime | None
) -> None:
    """The replay reads a stored record's text straight into an event (``from_body``,
    msgspec) rather than parsing it and reading the record (``from_record``): the same
    event, field for field, for every valid event in its stored form (old schemas upcast,
    ``recorded_at`` stamped on arrival or given, the council filled in or its own)."""
    record = decode(_dumps(event), arrival=arrival, council="886")
    body = orjson.dumps(record)
    assert from_body(body) == from_record(orjson.loads(body))


def test_a_stored_record_msgspec_cannot_read_is_read_by_the_record_path() -> None:
    """A record an older sendwatch stored with a ``recorded_at`` not in RFC 3339 form (here
    ISO 8601's basic format, which Python reads and msgspec does not) is still read, as
    ``from_record`` reads it."""
    body = orjson.dumps(
        {
            "event_id": "e1",
            "type": "plan.issued",
            "case_id": "KC-1",
            "occurred_at": "2025-03-14",
            "recorded_at": "20250314T093000+00:00",
            "schema": 1,
        }
    )
    event = from_body(body)
    assert event == from_record(orjson.loads(body))
    assert event.recorded_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC) and event.data == {}


@settings(max_examples=400, deadline=None)
@given(st.one_of(valid_events(), mutated_dicts()), st.sampled_from([None, ARRIVAL]), st.data())
def test_the_workers_records_path_reads_a_record_exactly_as_the_record_path_does(
    event: dict[str, Any], arrival: datetime | None, data: st.DataObject
) -> None:
    """A Kafka message marked as a stored record is read by msgspec into typed fields
    (``_plainly_stored``) when it passes the same checks, else by the record path: the same
    event, or the same reason, either way, for every valid event's stored record and for
    mutated ones sent as records (a message that lies about being one)."""
    import events.codec

    try:
        body = orjson.dumps(decode(_dumps(event), arrival=arrival, council="886"))
    except InvalidEvent:
        body = _dumps(event)
    if data.draw(st.booleans()):  # and as forged records: fields of the stored form mutated
        try:
            record = orjson.loads(body)
        except (orjson.JSONDecodeError, TypeError):  # not JSON orjson reads: sent as it is
            record = None
        if isinstance(record, dict) and record:
            name = data.draw(st.sampled_from(sorted(record)))
            record[name] = data.draw(st.sampled_from(["", "1999-12-31", 7, None, "x", {}]))
            body = orjson.dumps(record)
    fast = outcome(lambda: from_stored(body))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events.codec, "_plainly_stored", lambda value: None)
        slow = outcome(lambda: from_stored(body))
    assert fast == slow


def test_a_record_with_a_field_the_envelope_lacks_is_judged_by_the_record_path() -> None:
    """A message sent as a stored record with a field no envelope has, holding a number
    orjson refuses (out of a double's range), is refused as the record path refuses it: the
    msgspec path, which would skip the field unread, leaves it to that path (found by the
    property above)."""
    import events.codec

    body = (
        b'{"event_id":"e1","type":"assessment.decided","case_id":"KC-1",'
        b'"occurred_at":"2024-01-01","data":{"decision":"assess"},'
        b'"recorded_at":"2024-01-02T00:00:00+00:00","schema":1,"child_name":1e400}'
    )
    assert events.codec._plainly_stored(body) is None
    assert outcome(lambda: from_stored(body))[0] == "rejected"
