"""The event envelope (CONTRACT.md section 1), the validators of every type's ``data`` by
schema version, and the JSON Schema of the whole contract.

``EVENT_ADAPTER`` validates a whole event, already parsed from its JSON text by orjson (one
parser decides what the text says), in one pass, discriminated on ``type``, against
TypedDicts made from the models (``Envelope`` and ``events.types``), strictly
(``true`` is a boolean, ``"true"`` is not; a date is a string, never a number), and closed
(a field the contract does not define is rejected), so what passes can be stored exactly as
it came. A type whose ``data`` has had several schemas is then checked against the
validator of its own version (``DATA_ADAPTERS``). ``events.codec`` drives both.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal, NotRequired, Union
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from typing_extensions import TypedDict  # pydantic wants this one before Python 3.12

from events.types import DATA_MODELS, DATE_OR_DATETIME_PATTERN, MAX_EXACT, Data, EotasAgreedV1
from events.upcast import current_schema

LONDON = ZoneInfo("Europe/London")
# UTC is datetime.UTC, the C-level one: converting to it is twice as fast as to ZoneInfo("UTC")
CASE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


def parse_occurred(value: str) -> tuple[date, int]:
    """The Europe/London calendar date of an ISO 8601 date or datetime, and the second of
    that day it happened (0 for a bare date). Naive datetimes are London time."""
    if len(value) == 10:
        return date.fromisoformat(value), 0
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON)
    return moment.date(), moment.hour * 3600 + moment.minute * 60 + moment.second


def parse_instant(value: str) -> datetime:
    """An ISO 8601 datetime (or date, meaning its London midnight) as an aware UTC datetime;
    naive values are Europe/London."""
    if len(value) == 10:
        moment = datetime.combine(date.fromisoformat(value), time(), LONDON)
    else:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(UTC)


class Envelope(BaseModel):
    """The fields every event has, whatever its type: which event it is, which case it
    belongs to, when it happened and when it was recorded, and its ``data``. A field not
    listed here is rejected: sendwatch keeps no personal data."""

    # The two timestamps are checked for their form here (a pattern) and for being real and
    # plausible dates by ``events.codec``, outside pydantic, because a Python validator here
    # would halve the decoder's speed. Descriptions are for the data dictionary only: the
    # decoder's validators take the fields' constraints, not their descriptions.
    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: str = Field(
        min_length=1,
        max_length=128,
        description="A unique reference for this event, 1 to 128 characters, chosen by the "
        "sending system and kept stable: sending the same event again changes nothing, but "
        "the same id with different content is rejected. Required.",
    )
    schema_version: int = Field(
        default=1,
        ge=1,
        le=MAX_EXACT,
        alias="schema",
        description="The version of this type's `data` layout. Optional: left out, it is 1; "
        "older versions are still read (`eotas.agreed` is at 2).",
    )
    case_id: str = Field(
        pattern=CASE_ID_PATTERN,
        description="The pseudonymous reference of the child's case, 1 to 64 letters, digits "
        "and `.`, `_`, `:`, `-`; the same for every event of the case. Never a name, UPN or "
        "other identifying detail. Required.",
    )
    occurred_at: str = Field(
        pattern=DATE_OR_DATETIME_PATTERN,
        description="When it happened: an ISO 8601 date (`2025-03-14`) or date and time, "
        "2000 to 2100; a time with no offset is UK time (Europe/London). Its London date "
        "drives the legal clocks. It may be at most a day after `recorded_at`. Required.",
        examples=["2025-03-14", "2025-03-14T09:30:00", "2025-03-14T09:30:00+00:00"],
    )
    recorded_at: str | None = Field(
        default=None,
        pattern=DATE_OR_DATETIME_PATTERN,
        description="When the sending system recorded it, as an ISO 8601 date and time; "
        'questions asked "as at" a moment see only events recorded by then. Optional: '
        "left out, the time it arrives is used.",
    )
    type: str = Field(description="What happened: one of the 32 event types.")
    source: str | None = Field(
        default=None,
        description="The council system it came from, in the council's own words (such as "
        "`synergy`). Optional.",
    )
    council: str | None = Field(
        default=None,
        description="The council's DfE local-authority code (Kent is `886`). Optional: left "
        "out, the deployment's `SENDWATCH_COUNCIL` setting is used.",
    )


def _event_model(event_type: str, data: Any) -> type[Envelope]:
    name = "".join(part.title() for part in re.split(r"[._]", event_type)) + "Event"
    tag: Any = Literal[event_type]
    doc = getattr(data, "__doc__", None)
    return create_model(
        name,
        __base__=Envelope,
        __module__=__name__,
        __doc__=doc,
        type=(tag, Field(description=f"Always `{event_type}` for this type.")),
        data=(
            data,
            Field(
                default_factory=dict,
                validate_default=True,
                description=f"The facts of this `{event_type}`, with exactly the fields "
                "below (none other). It may be left out when no field is required.",
            ),
        ),
    )


def _one_of(models: Any) -> Any:
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


# Older schemas of a type's data that this code still reads (upcast on read).
OLD_DATA_MODELS: dict[tuple[str, int], type[Data]] = {("eotas.agreed", 1): EotasAgreedV1}
VERSIONED = frozenset(kind for kind, _ in OLD_DATA_MODELS)

_CLOSED = ConfigDict(extra="forbid", strict=True)


def _typed_dict(name: str, model: type[BaseModel], **more: Any) -> Any:
    """A TypedDict with the model's fields (by alias) and their constraints, closed and
    strict like the model. The models are the contract's definitions (and its JSON Schema);
    pydantic validates a parsed event against these twice as fast (3.3 µs against 1.5 a
    simulated event, measured: no instance is built), with the same checks and errors."""
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[info.alias or field] = kind if info.is_required() else NotRequired[kind]
    fields.update(more)
    make: Any = TypedDict  # mypy wants a literal name and fields
    typed = make(name, fields)
    typed.__pydantic_config__ = _CLOSED
    return typed


def _required_if_any(data: Any, model: type[BaseModel]) -> Any:
    """``data`` may be left out only when its type has no required field (then it is {})."""
    if any(info.is_required() for info in model.model_fields.values()):
        return data
    return NotRequired[data]


def _event_validator(event_type: str, model: type[Data]) -> Any:
    data = dict[str, Any] if event_type in VERSIONED else _typed_dict(f"{event_type}.data", model)
    return _typed_dict(
        event_type,
        Envelope,
        type=Literal[event_type],
        data=_required_if_any(data, model),
    )


# Validates any event (parsed from JSON by orjson) in one pass. A type with several data
# schemas takes ``data`` as an object here and is checked against its own version afterwards.
EVENT_ADAPTER: TypeAdapter[dict[str, Any]] = TypeAdapter(
    _one_of(_event_validator(t, m) for t, m in DATA_MODELS.items())
)
# The validator of each (type, schema) with more than one schema.
DATA_ADAPTERS: dict[tuple[str, int], TypeAdapter[dict[str, Any]]] = {
    (kind, version): TypeAdapter(_typed_dict(f"{kind}.data.{version}", model))
    for (kind, version), model in OLD_DATA_MODELS.items()
} | {
    (kind, current_schema(kind)): TypeAdapter(_typed_dict(f"{kind}.data", DATA_MODELS[kind]))
    for kind in VERSIONED
}


def model_adapter() -> TypeAdapter[Envelope]:
    """Every event type as the models define it (at its current schema): the source of the
    JSON Schema, and what ``EVENT_ADAPTER`` must agree with."""
    return TypeAdapter(_one_of(_event_model(t, m) for t, m in DATA_MODELS.items()))


def json_schema() -> dict[str, Any]:
    """One JSON Schema document covering every event type at its current schema."""
    schema = model_adapter().json_schema(by_alias=True)
    schema["title"] = "sendwatch event (contract v1.1)"
    return schema


__all__ = [
    "DATA_ADAPTERS",
    "EVENT_ADAPTER",
    "LONDON",
    "UTC",
    "VERSIONED",
    "Envelope",
    "json_schema",
    "model_adapter",
    "parse_instant",
    "parse_occurred",
]
