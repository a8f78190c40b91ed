"""The one event decoder: raw JSON in, a validated stored record and a hot-path ``Event`` out.

Two entry points:
- ``decode``: untrusted input (a JSONL line, a Kafka message, an HTTP item). It parses the
  text once, with orjson, and validates the parsed object against the pydantic models
  (strict, closed: a field the contract does not define is rejected), then checks what they
  do not: that the dates are real and plausible, and that the event is plain JSON
  (CONTRACT.md section 1.1). The models' checks run as msgspec Structs made from them
  (``events.structs``); an event those reject is validated again by pydantic, whose errors
  give the reason (and whose answer stands). It returns the record to store: the event as
  it came, with ``schema`` filled in and ``recorded_at`` normalised to UTC (stamped on
  arrival if absent).
- ``from_record``: a record this code stored earlier (the embedded log, a Kafka topic after
  validation). No validation, only the upcast to the current schema: this is the replay path.

``decode``, ``decode_event``, ``read_event`` and ``from_stored`` raise ``InvalidEvent`` and
nothing else, whatever the input: any other error is turned into one, so that no input can
stop a caller.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec
import orjson
from pydantic import ValidationError

from events.envelope import (
    DATA_ADAPTERS,
    EVENT_ADAPTER,
    VERSIONED,
    parse_instant,
    parse_occurred,
)
from events.structs import accepts, data_accepts, parsed
from events.types import DATA_MODELS, DATE_PATTERN, EVENT_TYPES, MAX_EXACT
from events.upcast import current_schema, upcast

Record = dict[str, Any]

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, ignored at the start of a file or a body
MAX_BYTES = 64 * 1024  # one event's JSON text, in bytes
MAX_DEPTH = 8  # objects and arrays, the event itself being the first
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100
_EARLIEST, _LATEST = f"{EARLIEST_YEAR:04}", f"{LATEST_YEAR:04}"
FUTURE = timedelta(days=1)  # how far occurred_at may be after recorded_at
# the fields each type's data has that are dates (ISO 8601 strings, kept as they came)
DATA_DATES: dict[str, tuple[str, ...]] = {"transfer.due": ("transfer_date",)}
DATE_FIELDS = frozenset({"occurred_at", "recorded_at", "transfer_date"})
_NOT_A_NUMBER = re.compile(rb"[:,\[]\s*-?(?:NaN|Infinity)")
_SHOWN = 40  # characters of an input value or field name quoted in a reason


class InvalidEvent(ValueError):
    """Input that breaks the contract; ``reason`` names the field and what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Event(msgspec.Struct, gc=False, array_like=True):
    """An accepted event in the shape the projections fold (no pydantic in the hot path).

    Treat it as immutable. A msgspec Struct rather than a dataclass: a replay builds a
    million of them, and a Struct is built in C and holds no garbage-collector header
    (``gc=False``: an event never refers back to anything that refers to it).
    ``array_like``: msgspec writes and reads one as a JSON array of its fields, in C (a
    snapshot's cases: ``projections.snapshot``)."""

    event_id: str
    type: str
    case_id: str
    day: date  # Europe/London calendar date of occurred_at: drives the legal clocks
    second: int  # second of that day it occurred (0 for a bare date): a tie-breaker only
    recorded_at: datetime  # aware, UTC: drives as-at questions
    data: dict[str, Any]  # at the type's current schema
    council: str | None = None  # the envelope's DfE local-authority code, if it has one


class _Stored(msgspec.Struct, gc=False):
    """A stored record as the replay (``from_body``) and the Kafka worker's records path
    (``_plainly_stored``) read it: only the fields the fold needs, ``recorded_at`` parsed
    by msgspec in C (the stored form is always RFC 3339 UTC), and ``type`` read as one of
    the known types, so every event of a type shares one string (a replay of a million
    events holds 32 type strings, not a million)."""

    event_id: str
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    case_id: str
    occurred_at: str
    recorded_at: datetime
    data: dict[str, Any] | None = None
    schema: int = 1
    council: str | None = None


class _Whole(_Stored, forbid_unknown_fields=True):
    """``_Stored`` of a record with no field an envelope does not have: a field msgspec
    would skip unread (``_Stored`` reads what the fold needs) might hold what the record
    path refuses (a number out of range), so ``_plainly_stored`` leaves such a record to
    it."""

    source: str | None = None


_STORED = msgspec.json.Decoder(_Stored)
_WHOLE = msgspec.json.Decoder(_Whole)
_STORED_LIST = msgspec.json.Decoder(list[_Stored])
# occurred_at text -> (London day, second): a history has far fewer distinct values than
# events (a day is shared by hundreds), and the same date object is then shared too
_OCCURRED: dict[str, tuple[date, int]] = {}
_OCCURRED_MAX = 200_000
_COUNCILS: dict[str, str] = {}


def occurred(value: str) -> tuple[date, int]:
    """``parse_occurred``, remembered (a replay parses each distinct value once)."""
    found = _OCCURRED.get(value)
    if found is None:
        if len(_OCCURRED) >= _OCCURRED_MAX:
            _OCCURRED.clear()
        found = _OCCURRED[value] = parse_occurred(value)
    return found


def from_body(body: bytes) -> Event:
    """``from_record`` of a stored record's JSON text, read straight into typed fields by
    msgspec (the replay path: about twice as fast as orjson and ``from_record``). A record
    msgspec cannot read so (an older sendwatch's form) is read by ``from_record``."""
    try:
        stored = _STORED.decode(body)
    except msgspec.ValidationError:
        return from_record(orjson.loads(body))
    return _event_of_stored(stored)


def from_bodies(text: bytes) -> list[Event]:
    """``from_body`` of each stored record in a JSON array of them (one case's, as
    ``EventLog.read_by_case`` gathers them), read by one msgspec call: 0.72 µs an event
    against 1.0 for ``from_body`` one by one (measured)."""
    try:
        return [_event_of_stored(stored) for stored in _STORED_LIST.decode(text)]
    except msgspec.ValidationError:
        return [from_record(record) for record in orjson.loads(text)]


def _event_of_stored(stored: _Stored) -> Event:
    found = _OCCURRED.get(stored.occurred_at)  # as ``occurred``, without its call
    day, second = occurred(stored.occurred_at) if found is None else found
    kind = stored.type
    data = stored.data or {}
    if stored.schema != 1 or kind == "eotas.agreed":
        data = upcast(kind, stored.schema, data)
    council = stored.council
    if council is not None:  # one string for each council's code, as for the types
        council = _COUNCILS.setdefault(council, council)
    return Event(
        stored.event_id, kind, stored.case_id, day, second, stored.recorded_at, data, council
    )


def _shown(value: Any) -> str:
    """A value quoted in a reason, cut short: a reason never carries a whole input."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _date_reason(where: str, kind: str, item: Any) -> str:
    given = item.get("input")
    what = (
        "an ISO 8601 date (YYYY-MM-DD)"
        if kind == "date"
        else ("an ISO 8601 date or datetime (such as 2025-03-14 or 2025-03-14T09:30:00+00:00)")
    )
    if isinstance(given, str):
        return f"{where}: {_shown(given)!r} is not {what}"
    if isinstance(given, int | float) and not isinstance(given, bool):
        return f"{where}: expected {what} as a string, not the number {_shown(given)}"
    return f"{where}: expected {what} as a string"


def _reason(error: ValidationError, kind: str | None = None, prefix: str = "") -> str:
    parts = []
    for item in error.errors(include_url=False):
        code = item["type"]
        if code in ("model_attributes_type", "model_type", "dict_type") and not item["loc"]:
            return "event: expected a JSON object"
        if code == "union_tag_invalid":
            return f"type: unknown event type {_shown(item['ctx']['tag'])!r}"
        if code == "union_tag_not_found":
            return "type: Field required"
        # a discriminated union puts the type's name first: "request.received.data.x"
        loc = [_shown(str(p)) for p in item["loc"]]
        if loc and loc[0] in DATA_MODELS:
            kind = loc[0]
            loc = loc[1:]
        if prefix:
            loc = [prefix, *loc]
        where = ".".join(loc) or "event"
        if code == "extra_forbidden":
            of = f"`{kind}`" if kind else "an event"
            parts.append(f"sendwatch keeps no personal data: `{where}` is not a field of {of}")
            continue
        if loc and loc[-1] in DATE_FIELDS and code in ("string_type", "string_pattern_mismatch"):
            parts.append(_date_reason(where, "date" if loc[-1] == "transfer_date" else "", item))
            continue
        message = item["msg"]
        if code in ("model_type", "model_attributes_type", "dict_type"):
            message = "expected a JSON object"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _not_plain(value: Any, path: str = "", depth: int = 1) -> str | None:
    """What makes a parsed event not plain JSON (section 1.1), naming where, or None: objects
    and arrays nested deeper than ``MAX_DEPTH``, numbers outside +-2^53. Asked only of an
    event that failed validation: an accepted event is always plain, as the contract's
    fields are flat and its numbers bounded."""
    stack: list[tuple[Any, int, str]] = [(value, depth, path)]
    while stack:
        item, depth, path = stack.pop()
        if type(item) is dict or type(item) is list:
            if depth > MAX_DEPTH:
                return (
                    f"{path}: objects and arrays nested more than {MAX_DEPTH} deep "
                    "(an event is flat JSON)"
                )
            pairs = item.items() if type(item) is dict else enumerate(item)
            for key, child in pairs:
                if type(child) in (dict, list, int, float):
                    name = _shown(str(key))
                    where = (
                        (f"{path}[{key}]" if type(item) is list else f"{path}.{name}")
                        if path
                        else name
                    )
                    stack.append((child, depth + 1, where))
        elif (type(item) is int or type(item) is float) and abs(item) > MAX_EXACT:
            return (
                f"{path}: the number {_shown(item)} is outside ±2^53 "
                "(not every JSON reader would keep it exact)"
            )
    return None


def decode(text: bytes | str, *, arrival: datetime | None, council: str | None = None) -> Record:
    """Validate one event's JSON text and return the normalised record to store.

    ``arrival`` (aware, UTC) stamps ``recorded_at`` when the event has none; None means
    "when it occurred" (for a history read straight from a file). ``council`` is the
    default local-authority code. Raises ``InvalidEvent`` naming the field and what is
    wrong, and nothing else.
    """
    return _decode(text, arrival, council)[0]


def decode_event(
    text: bytes | str, *, arrival: datetime | None, council: str | None = None
) -> tuple[Record, Event]:
    """``decode``, and the hot-path event of the record (what ``from_record`` would make
    of it, from the values already parsed rather than by reading the record again)."""
    record, day, second, recorded = _decode(text, arrival, council)
    return record, _event_of(record, day, second, recorded)


def read_event(text: bytes | str, *, arrival: datetime | None) -> Event:
    """``decode_event`` for a caller that applies the event and stores no record (a replay
    from a file, the Kafka worker): the same validation and the same event, without
    writing the record's stored form (its ``recorded_at`` text, the default council).
    msgspec parses and validates the text in one pass (``events.structs.parsed``)."""
    record, day, second, recorded = _decode(text, arrival, None, store=False)
    return _event_of(record, day, second, recorded)


def _event_of(record: Record, day: date, second: int, recorded: datetime) -> Event:
    try:
        return _event(record, record["type"], day, second, recorded)
    except Exception as error:  # an upcaster that fails is a rejection, never a crash
        raise InvalidEvent(unreadable(error)) from None


def unreadable(error: Exception) -> str:
    """The last resort: an error no check foresaw, as a rejection that names it."""
    detail = str(error)
    if len(detail) > 200:
        detail = detail[:200] + "…"
    return f"event: could not be read: {type(error).__name__}: {detail}"


def _decode(
    text: bytes | str,
    arrival: datetime | None,
    council: str | None,
    store: bool = True,
    fast: bool = True,
) -> tuple[Record, date, int, datetime]:
    """``fast=False`` validates with pydantic alone (what the fast path is tested against)."""
    try:
        return _checked(text, arrival, council, store, fast)
    except InvalidEvent:
        raise
    except Exception as error:
        raise InvalidEvent(unreadable(error)) from None


def _checked(
    text: bytes | str, arrival: datetime | None, council: str | None, store: bool, fast: bool
) -> tuple[Record, date, int, datetime]:
    if type(text) is not bytes:
        try:
            text = text.encode() if isinstance(text, str) else bytes(text)
        except UnicodeEncodeError as error:
            raise InvalidEvent(f"not valid UTF-8: {error.reason}") from None
    if len(text) > MAX_BYTES:
        size = len(text.rstrip(b"\r\n"))  # the event, without its line's end
        if size > MAX_BYTES:
            raise InvalidEvent(
                f"event: {size:,} bytes, over the limit of {MAX_BYTES:,} bytes (64 KiB) "
                "for one event"
            )
    # an event read and not stored is parsed and validated by msgspec in one pass (its
    # fields in the Structs' order, not the text's); else, or if that is not sure of it,
    # orjson parses it, msgspec validates it, and pydantic has the last word on a rejection
    record = parsed(text) if fast and not store else None
    if record is None:
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            if _NOT_A_NUMBER.search(text):
                raise InvalidEvent(
                    f"not valid JSON: NaN and Infinity are not JSON numbers ({error})"
                ) from None
            raise InvalidEvent(f"not valid JSON: {error}") from None
        if type(record) is not dict:
            raise InvalidEvent("event: expected a JSON object")
        if not (fast and accepts(record)):
            try:
                EVENT_ADAPTER.validate_python(record)  # strict: what passes is stored as it came
            except ValidationError as error:
                raise InvalidEvent(_not_plain(record) or _reason(error)) from None
    kind = record["type"]
    occurred_at = record["occurred_at"]
    # (the years' test on the text, inline: the pattern has made its first four characters
    # ASCII digits, so comparing them as text is comparing the years)
    if not _EARLIEST <= occurred_at[:4] <= _LATEST:
        _plausible(occurred_at, "occurred_at")
    try:
        day, second = occurred(occurred_at)
    except ValueError as error:
        raise InvalidEvent(
            f"occurred_at: {occurred_at} is not a real date or time ({error})"
        ) from None
    recorded_at = record.get("recorded_at")
    if recorded_at is not None:
        if not _EARLIEST <= recorded_at[:4] <= _LATEST:
            _plausible(recorded_at, "recorded_at")
        try:
            recorded = parse_instant(recorded_at)
        except ValueError as error:
            raise InvalidEvent(
                f"recorded_at: {recorded_at} is not a real date or time ({error})"
            ) from None
        if day > recorded.date():  # recorded is UTC: see _not_from_the_future
            _not_from_the_future(occurred_at, day, recorded, f"recorded_at ({recorded_at})")
    elif arrival is not None:
        recorded = arrival
        _not_from_the_future(
            occurred_at, day, arrival, f"its arrival ({arrival.isoformat(timespec='seconds')})"
        )
    else:
        recorded = parse_instant(occurred_at)
    if kind in DATA_DATES:
        data = record["data"]
        for name in DATA_DATES[kind]:
            if data.get(name) is not None:
                _real_date(data[name], f"data.{name}")
    schema = record.get("schema", 1)
    if kind in VERSIONED or schema != 1:
        data = record.get("data", {})
        if not (fast and data_accepts(kind, schema, data)):
            _check_version(kind, schema, data)
    record["schema"] = schema
    if store:
        record["recorded_at"] = recorded.isoformat()
        if council is not None and record.get("council") is None:
            record["council"] = council
    return record, day, second, recorded


def _plausible(value: str, field: str) -> None:
    """Years 2000 to 2100, checked on the text (which the envelope's pattern has made start
    with four ASCII digits) before any arithmetic: converting "0001-01-01T00:00:00+05:00" to
    UTC overflows, and so does a clock's due date in 9999."""
    if not EARLIEST_YEAR <= int(value[:4]) <= LATEST_YEAR:
        raise InvalidEvent(
            f"{field}: {_shown(value)} is not a plausible date "
            f"(expected {EARLIEST_YEAR}-01-01 to {LATEST_YEAR}-12-31)"
        )


def _real_date(value: str, field: str) -> date:
    _plausible(value, field)
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidEvent(f"{field}: {value} is not a real date ({error})") from None


def _not_from_the_future(occurred_at: str, day: date, limit: datetime, what: str) -> None:
    """``occurred_at`` at most a day after ``limit`` (section 1.1: no events from the
    future). An event whose London day is not after ``limit``'s UTC day (the usual case)
    passes without working out its instant: it happened before the next UTC midnight, at
    or before which London's midnight falls."""
    if limit.tzinfo is UTC and day <= limit.date():
        return
    if parse_instant(occurred_at) > limit + FUTURE:
        raise InvalidEvent(
            f"occurred_at: {occurred_at} is more than a day after {what}: no events from the future"
        )


def _check_version(kind: str, schema: int, data: Any) -> None:
    adapter = DATA_ADAPTERS.get((kind, schema))
    if adapter is None:
        newest = current_schema(kind)
        raise InvalidEvent(
            f"schema: {kind} has no schema {schema} (this version of sendwatch reads 1 to {newest})"
        )
    try:
        adapter.validate_python(data)
    except ValidationError as error:
        raise InvalidEvent(_not_plain(data, "data", 2) or _reason(error, kind, "data")) from None


def from_record(record: Record) -> Event:
    """The hot-path event of a stored (already validated) record, upcast to current schema."""
    kind = record["type"]
    day, second = occurred(record["occurred_at"])
    return _event(record, kind, day, second, datetime.fromisoformat(record["recorded_at"]))


def _event(record: Record, kind: str, day: date, second: int, recorded: datetime) -> Event:
    data = record.get("data") or {}
    schema = record.get("schema", 1)
    if schema != 1 or kind == "eotas.agreed":
        data = upcast(kind, schema, data)
    return Event(
        record["event_id"],
        kind,
        record["case_id"],
        day,
        second,
        recorded,
        data,
        record.get("council"),
    )


def encode(record: Record) -> bytes:
    return orjson.dumps(record)


def _plainly_stored(value: bytes | str) -> Event | None:
    """``_stored``'s event of a record msgspec reads into typed fields and that passes the
    same checks (the worker's records path: no dict made of the record), or None for
    anything else, which ``_stored`` then reads and judges, with its reasons. A type with
    dates in its data is left to ``_stored``."""
    try:
        stored = _WHOLE.decode(value)
    except msgspec.DecodeError:  # its ValidationError too
        return None
    year = stored.occurred_at[:4]
    if (
        not stored.event_id
        or not stored.case_id
        or stored.recorded_at.tzinfo is None
        or stored.type in DATA_DATES
        or not (year.isascii() and year.isdigit() and _EARLIEST <= year <= _LATEST)
    ):
        return None
    try:
        return _event_of_stored(stored)
    except Exception:  # a date that is not real, an upcaster that fails: ``_stored`` says
        return None


def from_stored(value: bytes | str) -> Event:
    """The hot-path event of a message that says it holds a record sendwatch stored (it was
    validated by ``decode`` before it was produced): no pydantic, only ``from_record`` and
    the few checks that keep a record that is not one out of the fold. Raises
    ``InvalidEvent`` (never anything else) for a value that is not such a record, so that it
    is rejected like any bad message instead of stopping its reader."""
    try:
        event = _stored(value)
    except InvalidEvent:
        raise
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"stored record: not valid JSON: {error}") from None
    except KeyError as error:
        raise InvalidEvent(f"stored record: {_shown(error.args[0])}: Field required") from None
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        message = str(error)  # the check's own words: cut only if very long
        raise InvalidEvent(f"stored record: {message[:200]}") from None
    except Exception as error:  # the last resort: nothing else escapes
        raise InvalidEvent(f"stored record: {unreadable(error)}") from None
    return event


def _stored(value: bytes | str) -> Event:
    event = _plainly_stored(value)
    if event is not None:
        return event
    record = orjson.loads(value)
    if type(record) is not dict:
        raise InvalidEvent("stored record: expected a JSON object")
    event = from_record(record)
    if type(event.event_id) is not str or not event.event_id:
        raise InvalidEvent("stored record: event_id: expected a non-empty string")
    if type(event.case_id) is not str or not event.case_id:
        raise InvalidEvent("stored record: case_id: expected a non-empty string")
    if event.type not in DATA_MODELS:
        raise InvalidEvent(f"stored record: type: unknown event type {_shown(event.type)!r}")
    if type(event.data) is not dict:
        raise InvalidEvent("stored record: data: expected a JSON object")
    if event.recorded_at.tzinfo is None:
        raise InvalidEvent("stored record: recorded_at: expected a time with its UTC offset")
    # what the fold does arithmetic on must be plausible (an older sendwatch stored any year),
    # as decode judges it: the year as written
    _plausible(record["occurred_at"], "stored record: occurred_at")
    for name in DATA_DATES.get(event.type, ()):
        given = event.data.get(name)
        if type(given) is not str or re.fullmatch(DATE_PATTERN, given) is None:
            raise InvalidEvent(f"stored record: data.{name}: {_shown(given)!r} is not a date")
        _real_date(given, f"stored record: data.{name}")
    return event
