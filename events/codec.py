"""The one event decoder: raw JSON in, a validated stored record and a hot-path ``Event`` out.

Two entry points:
- ``decode``: untrusted input (a JSONL line, a Kafka message, an HTTP item). Validates with
  pydantic and returns the record to store: the event as it came (unknown fields kept), with
  ``schema`` filled in and ``recorded_at`` normalised to UTC (stamped on arrival if absent).
- ``from_record``: a record this code stored earlier (the embedded log, a Kafka topic after
  validation). No validation, only the upcast to the current schema: this is the replay path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from events.envelope import (
    DATA_ADAPTERS,
    EVENT_ADAPTER,
    VERSIONED,
    parse_instant,
    parse_occurred,
)
from events.types import DATA_MODELS
from events.upcast import current_schema, upcast

Record = dict[str, Any]


class InvalidEvent(ValueError):
    """Input that breaks the contract; ``reason`` names the field and what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Event:
    """An accepted event in the shape the projections fold (no pydantic in the hot path).

    Treat it as immutable; it is not frozen only because a frozen dataclass is slower to
    build, and a replay builds a million of them."""

    event_id: str
    type: str
    case_id: str
    day: date  # Europe/London calendar date of occurred_at: drives the legal clocks
    second: int  # second of that day it occurred (0 for a bare date): a tie-breaker only
    recorded_at: datetime  # aware, UTC: drives as-at questions
    data: dict[str, Any]  # at the type's current schema


def _reason(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors(include_url=False):
        if item["type"] == "json_invalid":
            return f"not valid JSON: {item['ctx'].get('error', item['msg'])}"
        if item["type"] in ("model_attributes_type", "dict_type") and not item["loc"]:
            return "event: expected a JSON object"
        if item["type"] == "union_tag_invalid":
            return f"type: unknown event type {item['ctx']['tag']!r}"
        if item["type"] == "union_tag_not_found":
            return "type: Field required"
        # a discriminated union puts the type's name first: "request.received.data.x"
        loc = [str(p) for p in item["loc"]]
        if loc and loc[0] in DATA_MODELS:
            loc = loc[1:]
        where = ".".join(loc) or "event"
        if prefix:
            where = f"{prefix}.{where}"
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def decode(text: bytes | str, *, arrival: datetime | None, council: str | None = None) -> Record:
    """Validate one event's JSON text and return the normalised record to store.

    ``arrival`` stamps ``recorded_at`` when the event has none; None means "when it
    occurred" (for a history read straight from a file). ``council`` is the default
    local-authority code. Raises ``InvalidEvent`` naming the field and what is wrong.
    """
    return _decode(text, arrival, council)[0]


def decode_event(
    text: bytes | str, *, arrival: datetime | None, council: str | None = None
) -> tuple[Record, Event]:
    """``decode``, and the hot-path event of the record (what ``from_record`` would make
    of it, from the values already parsed rather than by reading the record again)."""
    record, day, second, recorded = _decode(text, arrival, council)
    return record, _event(record, record["type"], day, second, recorded)


def read_event(text: bytes | str, *, arrival: datetime | None) -> Event:
    """``decode_event`` for a caller that applies the event and stores no record (a replay
    from a file, the Kafka worker): the same validation and the same event, without
    writing the record's stored form (its ``recorded_at`` text, the default council)."""
    record, day, second, recorded = _decode(text, arrival, None, store=False)
    return _event(record, record["type"], day, second, recorded)


def _decode(
    text: bytes | str, arrival: datetime | None, council: str | None, store: bool = True
) -> tuple[Record, date, int, datetime]:
    try:
        envelope = EVENT_ADAPTER.validate_json(text)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None
    try:
        day, second = parse_occurred(envelope.occurred_at)
    except ValueError:
        raise InvalidEvent(
            f"occurred_at: not an ISO 8601 date or datetime: {envelope.occurred_at!r}"
        ) from None
    recorded = arrival or parse_instant(envelope.occurred_at)
    if envelope.recorded_at is not None:
        try:
            recorded = parse_instant(envelope.recorded_at)
        except ValueError:
            raise InvalidEvent(
                f"recorded_at: not an ISO 8601 datetime: {envelope.recorded_at!r}"
            ) from None
    record: Record = orjson.loads(text)
    kind = envelope.type
    if kind in VERSIONED or envelope.schema_version != 1:
        _check_version(kind, envelope.schema_version, record.get("data", {}))
    record["schema"] = envelope.schema_version
    if store:
        record["recorded_at"] = recorded.isoformat()
        if council is not None and record.get("council") is None:
            record["council"] = council
    return record, day, second, recorded


def _check_version(kind: str, schema: int, data: Any) -> None:
    adapter = DATA_ADAPTERS.get((kind, schema))
    if adapter is None:
        newest = current_schema(kind)
        raise InvalidEvent(
            f"schema: {kind} has no schema {schema} (this version of sendwatch reads 1 to {newest})"
        )
    try:
        adapter.validate_json(orjson.dumps(data))
    except ValidationError as error:
        raise InvalidEvent(_reason(error, "data")) from None


def from_record(record: Record) -> Event:
    """The hot-path event of a stored (already validated) record, upcast to current schema."""
    kind = record["type"]
    day, second = parse_occurred(record["occurred_at"])
    return _event(record, kind, day, second, datetime.fromisoformat(record["recorded_at"]))


def _event(record: Record, kind: str, day: date, second: int, recorded: datetime) -> Event:
    data = record.get("data") or {}
    schema = record.get("schema", 1)
    if schema != 1 or kind == "eotas.agreed":
        data = upcast(kind, schema, data)
    return Event(record["event_id"], kind, record["case_id"], day, second, recorded, data)


def encode(record: Record) -> bytes:
    return orjson.dumps(record)


def from_stored(value: bytes | str) -> Event:
    """The hot-path event of a message that says it holds a record sendwatch stored (it was
    validated by ``decode`` before it was produced): no pydantic, only ``from_record`` and
    the few checks that keep a record that is not one out of the fold. Raises
    ``InvalidEvent`` (never anything else) for a value that is not such a record, so that it
    is rejected like any bad message instead of stopping its reader."""
    try:
        record = orjson.loads(value)
        if type(record) is not dict:
            raise InvalidEvent("stored record: expected a JSON object")
        event = from_record(record)
    except InvalidEvent:
        raise
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"stored record: not valid JSON: {error}") from None
    except KeyError as error:
        raise InvalidEvent(f"stored record: {error.args[0]}: Field required") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise InvalidEvent(f"stored record: {error}") from None
    if type(event.event_id) is not str or not event.event_id:
        raise InvalidEvent("stored record: event_id: expected a non-empty string")
    if type(event.case_id) is not str or not event.case_id:
        raise InvalidEvent("stored record: case_id: expected a non-empty string")
    if event.type not in DATA_MODELS:
        raise InvalidEvent(f"stored record: type: unknown event type {event.type!r}")
    if type(event.data) is not dict:
        raise InvalidEvent("stored record: data: expected a JSON object")
    if event.recorded_at.tzinfo is None:
        raise InvalidEvent("stored record: recorded_at: expected a time with its UTC offset")
    return event
