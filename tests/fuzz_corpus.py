"""A mutation corpus: valid events, and the same events broken in every way an attacker or a
careless export could break them, one JSON text a line.

``corpus(seed)`` is deterministic. Each line is bytes with no ``\\n`` in it; a line may carry
a ``\\r`` (a stray carriage return, or a CRLF ending). The first line may start with a UTF-8
byte-order mark. The corpus holds exact repeats and conflicting repeats of event ids too.
The end-to-end tests send it through every ingest path and account for every line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import orjson

from tests.running_service import history

BOM = b"\xef\xbb\xbf"

# Values that break a field: wrong types, dates at the extremes and from the future,
# Unix timestamps, huge and negative numbers, oversize strings, empty containers.
BAD_VALUES: tuple[Any, ...] = (
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x" * 300,
    [],
    {},
    2**64,
    -(2**63),
    2**53 + 1,
    "1735689600",
    1735689600,
    "9999-12-31",
    "0001-01-01",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2099-01-01",
    "1999-12-31",
    "2100-12-31T23:59:59-14:00",
    "2025-02-30",
    "2025-06-01T25:00:00",
    "NaN",
    "not a date",
    "KC A with spaces",
    "é" * 40,
    {"nested": {"deeper": [1, 2, {"x": None}]}},
)

PERSONAL = {"child_name": "Amelia Example", "date_of_birth": "2014-02-03", "home_address": "1 Lane"}


def _nested(depth: int) -> Any:
    value: Any = 1
    for n in range(depth):
        value = {"a": value} if n % 2 else [value]
    return value


def _set(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    fields = [*event, "data"]
    target = rng.choice(fields)
    value = rng.choice(BAD_VALUES)
    if (
        target == "data"
        and isinstance(event.get("data"), dict)
        and event["data"]
        and rng.random() < 0.7
    ):
        data = dict(event["data"])
        data[rng.choice(list(data))] = value
        return {**event, "data": data}
    return {**event, target: value}


def _drop(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    event = dict(event)
    if event.get("data") and rng.random() < 0.5:
        data = dict(event["data"])
        del data[rng.choice(list(data))]
        event["data"] = data
    else:
        del event[rng.choice(list(event))]
    return event


def _personal(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    name, value = rng.choice(list(PERSONAL.items()))
    if rng.random() < 0.6:
        return {**event, "data": {**event.get("data", {}), name: value}}
    return {**event, name: value}


def _deep(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return {**event, "data": {**event.get("data", {}), "extra": _nested(rng.choice((9, 40, 300)))}}


def _huge(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return {**event, "source": "y" * rng.choice((70_000, 200_000))}


def _retype(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    kinds = ("plan.issued", "transfer.due", "event.retracted", "nonsense.type", "", "REQUEST")
    return {**event, "type": rng.choice(kinds)}


STRUCTURED: tuple[Callable[[dict[str, Any], random.Random], dict[str, Any]], ...] = (
    _set,
    _set,
    _set,
    _drop,
    _personal,
    _deep,
    _huge,
    _retype,
)


def _text(line: bytes, rng: random.Random) -> bytes:
    """A mutation of the JSON text itself."""
    choice = rng.randrange(12)
    if choice == 0:
        return line[: rng.randrange(1, max(2, len(line)))]  # truncated
    if choice == 1:
        at = rng.randrange(len(line))
        return line[:at] + rng.choice((b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80")) + line[at:]
    if choice == 2:
        return line.replace(b'"data":{', b'"data":{"n":NaN,', 1)
    if choice == 3:
        return line.replace(b'"data":{', b'"data":{"n":Infinity,', 1)
    if choice == 4:
        return line.replace(b'"data":{', b'"data":{"n":1e400,', 1)
    if choice == 5:
        return line.replace(b'"data":{', b'"data":{"n":-Infinity,', 1)
    if choice == 6:
        return line + b"\r"  # a CRLF ending
    if choice == 7:
        at = rng.randrange(len(line))
        return line[:at] + b"\r" + line[at:]  # a stray carriage return
    if choice == 8:
        return BOM + line  # a byte-order mark that is not at the start of the file
    if choice == 9:
        return b"[" * 300 + b"]" * 300
    if choice == 10:
        return rng.choice((b"null", b"42", b'"text"', b"[]", b"{}", b"true", b"[{}]"))
    number = rng.choice((b"1e400", b"1735689600", b"-1", b"1.5e9"))
    return line.replace(b'"occurred_at":"', b'"occurred_at":' + number + b',"x":"', 1)


def _dumps(value: Any) -> bytes:
    """JSON text of any value, huge integers included (orjson refuses those over 64 bits)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def corpus(seed: int = 1, mutated: int = 600) -> list[bytes]:
    """Valid events (each case's history, once), ``mutated`` broken lines, exact repeats and
    conflicting repeats of ids, shuffled: the same seed gives the same lines."""
    rng = random.Random(seed)
    valid = history()
    lines = [orjson.dumps(e) for e in valid]
    for n in range(mutated):
        base = dict(rng.choice(valid))
        base["event_id"] = f"fuzz-{seed}-{n}"
        if rng.random() < 0.6:
            line = _dumps(rng.choice(STRUCTURED)(base, rng))
        else:
            line = _text(orjson.dumps(base), rng)
        lines.append(line.replace(b"\n", b" "))
    for event in rng.sample(valid, 5):
        lines.append(orjson.dumps(event))  # an exact repeat: a duplicate
        changed = {**event, "occurred_at": "2025-01-02"}
        lines.append(orjson.dumps(changed))  # the same id, other content: a dead letter
    rng.shuffle(lines)
    lines[0] = BOM + lines[0]
    return lines


def as_file(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def counted(lines: list[bytes]) -> int:
    """How many lines an ingest path must account for (blank lines are not events)."""
    text = as_file(lines)
    if text.startswith(BOM):
        text = text[len(BOM) :]
    return sum(1 for line in text.split(b"\n") if line.strip())
