"""The contract's validators as msgspec Structs, made from the pydantic models at import.

The models (``events.types``, ``events.envelope.Envelope``) stay the one definition of the
contract, its JSON Schema and its reasons. This module reads their fields, types and
constraints and builds the same checks for msgspec: a Struct for each event type, tagged on
``type`` (``EVENT_STRUCTS``), closed (``forbid_unknown_fields``) and strict like the models,
and one for each (type, schema) of a type whose ``data`` has had several schemas
(``DATA_STRUCTS``). The fields' patterns are checked with ``re`` after msgspec (whose own
pattern check costs twice as much): ``case_id``'s once for each new case, the dates' once
for each new shape.

``parsed`` parses an event's JSON text and validates it in one pass (what ``read_event``
uses); ``accepts`` validates an event orjson has parsed (what ``decode`` uses, which stores
the record as it came). Only the answer is taken from here: ``events.codec`` asks the
models for the reason of an event these reject, so a reason is always in their words and
a rejection here that the models would accept costs only time. A model field this module
cannot translate exactly stops the import (``TypeError``) rather than check less than the
model; ``tests/test_decoder_fastpath.py`` holds the two to the same answers.

Measured (bench/decode.py, 200,000 simulated events, CPU time against bare orjson decoding
in the same run): ``read_event`` 5.1-5.7x (6.8-7.4x before), ``decode`` 6.7-7.3x
(7.7-8.1x); what remains is mostly the dates' arithmetic and the ``Event`` itself.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import BaseModel

from events.envelope import OLD_DATA_MODELS, VERSIONED, Envelope
from events.types import DATA_MODELS, DATE_OR_DATETIME_PATTERN
from events.upcast import current_schema

_BOUNDS = {
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
    annotated_types.Ge: "ge",
    annotated_types.Le: "le",
    annotated_types.Gt: "gt",
    annotated_types.Lt: "lt",
}
_SCALARS = (str, int, float, bool)


def python_pattern(pattern: str) -> str:
    """A pydantic pattern as Python's ``re`` reads it alike. pydantic matches with Rust's
    regex crate, where ``$`` is the end of the text; in Python ``$`` also matches before a
    final newline, so ``"KC-1\\n"`` would pass. The patterns here end with ``$`` and use no
    other anchor or class whose meaning differs."""
    if not pattern.endswith("$") or pattern.endswith("\\$"):
        raise TypeError(f"pattern {pattern!r}: expected one ending with $")
    body = pattern[:-1]
    if "$" in body.replace("\\$", "") or re.search(r"\\[dwsbDWSB]", body):
        raise TypeError(f"pattern {pattern!r}: an anchor or class that differs in Python")
    return body + r"\Z"


def _constraints(metadata: list[Any], where: str) -> tuple[dict[str, Any], str | None]:
    """msgspec's constraints of a field, and its pattern apart (checked outside msgspec,
    whose pattern check costs twice a call of ``re``'s own)."""
    out: dict[str, Any] = {}
    pattern = None
    for item in metadata:
        bound = _BOUNDS.get(type(item))
        if bound is not None:
            out[bound] = getattr(item, bound)
            continue
        given = {k: v for k, v in vars(item).items() if v is not None}
        if type(item).__name__ == "_PydanticGeneralMetadata" and set(given) == {"pattern"}:
            pattern = python_pattern(given["pattern"])
            continue
        raise TypeError(f"{where}: cannot check {item!r} with msgspec")
    return out, pattern


def _typed(annotation: Any, constraints: dict[str, Any], where: str) -> Any:
    """The msgspec type of a model field: constraints go on the part that is not None."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        parts = [
            part if part is type(None) else _typed(part, constraints, where)
            for part in get_args(annotation)
        ]
        return Union[tuple(parts)]  # noqa: UP007
    if origin is Literal and not constraints and all(type(a) is str for a in get_args(annotation)):
        return annotation
    if annotation in _SCALARS or origin is list:
        if origin is list:
            (item,) = get_args(annotation)
            annotation = list[_typed(item, {}, where)]  # type: ignore[misc]
        if annotation is bool and constraints:
            raise TypeError(f"{where}: constraints on a boolean")
        if annotation is float:  # an integer stays one, as orjson reads it (the models allow it)
            return Union[_bounded(int, constraints), _bounded(float, constraints)]  # noqa: UP007
        return _bounded(annotation, constraints)
    raise TypeError(f"{where}: cannot check {annotation!r} with msgspec")


def _bounded(annotation: Any, constraints: dict[str, Any]) -> Any:
    return Annotated[annotation, msgspec.Meta(**constraints)] if constraints else annotation


Patterns = tuple[tuple[str, Callable[[str], object]], ...]


def _fields(model: type[BaseModel], skip: tuple[str, ...] = ()) -> tuple[list[Any], Patterns]:
    """The Struct fields of a model (by alias), and the patterns of its string fields."""
    fields: list[Any] = []
    patterns: list[tuple[str, Callable[[str], object]]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in skip:
            continue
        where = f"{model.__name__}.{key}"
        constraints, pattern = _constraints(info.metadata, where)
        kind = _typed(info.annotation, constraints, where)
        if pattern is not None:
            patterns.append((key, re.compile(pattern).search))
        if info.is_required():
            fields.append((name, kind, msgspec.field(name=key)))
        else:
            # left out, a field is UNSET (and not in ``to_builtins``): as it came
            fields.append((name, kind, msgspec.field(name=key, default=msgspec.UNSET)))
    return fields, tuple(patterns)


def _struct(name: str, fields: list[Any], **options: Any) -> type[msgspec.Struct]:
    return msgspec.defstruct(
        name, fields, kw_only=True, forbid_unknown_fields=True, gc=False, module=__name__, **options
    )


def _data_struct(model: type[BaseModel]) -> tuple[type[msgspec.Struct], Patterns]:
    fields, patterns = _fields(model)
    return _struct(f"{model.__name__}Data", fields), patterns


def _event_struct(kind: str, model: type[BaseModel]) -> tuple[type[msgspec.Struct], Patterns]:
    """The Struct of one event type (its ``data`` as any object for a type with several
    schemas), and the patterns of its data's fields."""
    data: Any = dict[str, Any]
    patterns: Patterns = ()
    if kind not in VERSIONED:
        data, patterns = _data_struct(model)
    fields, _ = _fields(Envelope, skip=("type",))
    # data may be left out only when its type has no required field
    if any(info.is_required() for info in model.model_fields.values()):
        fields.append(("data", data))
    else:
        fields.append(("data", data, msgspec.UNSET))
    return _struct(model.__name__ + "Event", fields, tag=kind, tag_field="type"), patterns


_ENVELOPE_PATTERNS = dict(_fields(Envelope)[1])
if _ENVELOPE_PATTERNS.keys() != {"case_id", "occurred_at", "recorded_at"}:
    raise TypeError("Envelope: expected patterns on case_id and the two dates only")
_CASE_ID = _ENVELOPE_PATTERNS.pop("case_id")
_OCCURRED_AT = _ENVELOPE_PATTERNS.pop("occurred_at")
_RECORDED_AT = _ENVELOPE_PATTERNS.pop("recorded_at")
_DATED = python_pattern(DATE_OR_DATETIME_PATTERN)
if {_OCCURRED_AT.__self__.pattern, _RECORDED_AT.__self__.pattern} != {_DATED}:  # type: ignore[attr-defined]
    raise TypeError("Envelope: expected both dates to have the pattern of events.types")


def digit_blind(pattern: str) -> bool:
    """Whether ``pattern`` treats every ASCII digit alike: it admits a digit only through
    ``[0-9]``, and no other character class (ranges and negations are taken to admit one),
    wildcard or escape does. Then a string matches if and only if every string of its
    shape does (each digit written as 0)."""
    rest = re.sub(r"\[0-9\]|\{[0-9]+(?:,[0-9]+)?\}", "", pattern)
    classes = re.findall(r"\[([^\]]*)\]", rest)
    outside = re.sub(r"\[[^\]]*\]", "", rest).replace("\\.", "").replace("(?:", "(")
    return all(not re.search(r"^\^|[0-9\\]|.-.", c) for c in classes) and not re.search(
        r"[0-9\\.\[\]]", outside.removesuffix("\\Z")
    )


if not digit_blind(_DATED):
    raise TypeError(f"{_DATED!r}: expected a pattern that treats every digit alike")
_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")

# Each event type's Struct (without patterns) and its data's patterns, by type.
EVENT_STRUCTS: dict[str, tuple[type[msgspec.Struct], Patterns]] = {
    kind: _event_struct(kind, model) for kind, model in DATA_MODELS.items()
}
# The validator of each (type, schema) of a type with several data schemas.
DATA_STRUCTS: dict[tuple[str, int], tuple[type[msgspec.Struct], Patterns]] = {
    (kind, version): _data_struct(model) for (kind, version), model in OLD_DATA_MODELS.items()
} | {(kind, current_schema(kind)): _data_struct(DATA_MODELS[kind]) for kind in VERSIONED}

_convert = msgspec.convert
_decode = msgspec.json.Decoder(Union[tuple(s for s, _ in EVENT_STRUCTS.values())]).decode  # noqa: UP007
_to_builtins = msgspec.to_builtins
_Invalid = msgspec.ValidationError
_good_cases: set[str] = set()
_good_shapes: set[bytes] = set()
_REMEMBERED = 1 << 17  # case ids (and shapes) known good, at most (then forgotten)


def _dated(value: str) -> bool:
    """Whether a date or datetime (a string) matches the envelope's pattern. The pattern
    treats every digit alike (``digit_blind``), so an ASCII value matches if and only if its
    shape (each digit written as 0: "2025-03-14T09:30:00Z" is "0000-00-00T00:00:00Z") is
    the shape of a value that matched; there are a few dozen shapes, and looking one up
    costs half a match."""
    if value.isascii():
        shape = value.encode().translate(_AS_ZERO)
        if shape in _good_shapes:
            return True
        if _OCCURRED_AT(value) is None:
            return False
        if len(_good_shapes) < _REMEMBERED:
            _good_shapes.add(shape)
        return True
    return _OCCURRED_AT(value) is not None


def accepts(record: dict[str, Any]) -> bool:
    """Whether the models accept this parsed event (its ``data`` as any object, for a type
    with several schemas: ``data_accepts`` checks it at its own). Never raises."""
    kind = record.get("type")
    if type(kind) is not str or kind not in EVENT_STRUCTS:
        return False
    struct, patterns = EVENT_STRUCTS[kind]
    try:
        _convert(record, struct)
    except (_Invalid, TypeError, ValueError):
        return False
    return _patterns_match(record, patterns)


def parsed(text: bytes) -> dict[str, Any] | None:
    """An event's JSON text parsed and validated in one pass: the event as orjson parses it
    (each field as it came, in the Structs' order), if the models accept it; None when that
    is not decided here (the text is not valid JSON, an event the models reject, or one of a
    type with several data schemas), for the caller to parse and validate the usual way.
    msgspec refuses invalid UTF-8, lone surrogates, NaN and numbers out of range as orjson
    does, and keeps the last of repeated fields as orjson does (a repeated ``type`` that
    differs it refuses). Never raises."""
    try:
        record: dict[str, Any] = _to_builtins(_decode(text))
    except Exception:  # any doubt: the usual way decides
        return None
    kind = record["type"]
    if kind in VERSIONED:
        return None
    return record if _patterns_match(record, EVENT_STRUCTS[kind][1]) else None


def _patterns_match(record: dict[str, Any], patterns: Patterns) -> bool:
    """The patterns of an event whose fields msgspec found of the right types (so the
    patterns' fields are strings, or None where the model allows it)."""
    case_id = record["case_id"]
    if case_id not in _good_cases:
        if _CASE_ID(case_id) is None:
            return False
        if len(_good_cases) >= _REMEMBERED:
            _good_cases.clear()
        _good_cases.add(case_id)
    if not _dated(record["occurred_at"]):
        return False
    recorded_at = record.get("recorded_at")
    if recorded_at is not None and not _dated(recorded_at):
        return False
    return not patterns or _matched(record.get("data"), patterns)


def _matched(data: Any, patterns: Patterns) -> bool:
    if data is None:  # left out: nothing to match
        return True
    for name, search in patterns:
        value = data.get(name)
        if value is not None and search(value) is None:
            return False
    return True


def data_accepts(kind: str, schema: int, data: Any) -> bool:
    """Whether the model of ``kind``'s data at ``schema`` accepts ``data``; False for a
    schema it has not got. Never raises."""
    found = DATA_STRUCTS.get((kind, schema))
    if found is None:
        return False
    struct, patterns = found
    try:
        _convert(data, struct)
    except (_Invalid, TypeError, ValueError):
        return False
    return not patterns or _matched(data, patterns)
