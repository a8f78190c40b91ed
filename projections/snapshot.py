"""The snapshot format: a projector's folded state at a log position, as bytes.

A snapshot is a cache (DESIGN.md): loading one and applying the log's tail gives what a
replay from zero gives, and a snapshot that cannot be trusted (damaged, or written by
another fold) is refused with ``SnapshotError``, so that the caller replays instead.

Layout: ``MAGIC``, then the header's length (8 bytes, big-endian), the header (JSON), the
cases' blobs one after another, and the blob of every event id. The header holds the fold's
fingerprint, the position, where each case's blob lies with its dimensions (a number in a
table of the distinct ones), where the ids lie, the CRC-32 of the blobs, and the tallies the
projector kept current (the sums by day, the standing totals, each period's share): the
measures are ready without folding a single case. Each case's events are one blob (a JSON
array of ``Event``s, each an array of its fields, written and read by msgspec), decoded only
when the case is next touched; the ids are read only when something asks for them.

``FOLD_VERSION`` is the fold's version: bump it when what the fold makes of events changes.
The fingerprint also covers the source of the law table, the fold and the measures, so a
changed law table discards every snapshot written before it even if nobody bumped it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import orjson

from events import Event

FOLD_VERSION = 2  # 2: each event keeps its council
MAGIC = b"sendwatch snapshot\n"
_LENGTH = 8
# what a snapshot's fold depends on: a change to any of these discards it
_SOURCES = (
    "projections/law.py",
    "projections/calendar.py",
    "projections/case.py",
    "projections/measures.py",
    "projections/projector.py",
    "projections/snapshot.py",
    "events/codec.py",
    "events/upcast.py",
)
_ROOT = Path(__file__).resolve().parent.parent


class SnapshotError(ValueError):
    """A snapshot that cannot be used: damaged, or written by another fold."""


@cache
def fold_fingerprint() -> str:
    """``FOLD_VERSION`` and a digest of the source of the law table, the fold and the
    measures: a snapshot is read only by the code that wrote it."""
    digest = hashlib.sha256(str(FOLD_VERSION).encode())
    for name in _SOURCES:
        path = _ROOT / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return f"{FOLD_VERSION}:{digest.hexdigest()[:32]}"


def encode_events(events: Iterable[Event]) -> bytes:
    """One case's events as one blob (their ``data`` at the current schema): a JSON array
    of ``Event``s, each an array of its fields, written by msgspec in C (0.7 s against 3.0 s
    for building the lists in Python, profiled on a Kent-sized three years' snapshot)."""
    return _ENCODE(events if type(events) is list else list(events))


def decode_events(case_id: str, blob: bytes | memoryview) -> list[Event]:
    """``encode_events``'s events again, of the case ``case_id`` (read by msgspec in C);
    raises ``SnapshotError`` if the blob is not such events of that case."""
    try:
        events = _DECODE(blob)
    except msgspec.DecodeError as error:  # its ValidationError too
        raise SnapshotError(f"damaged: the events of case {case_id}: {error}") from None
    if any(event.case_id != case_id for event in events):
        raise SnapshotError(f"damaged: the events of case {case_id} name another case")
    return events


def blob_ids(blob: bytes | memoryview) -> list[str]:
    """The event ids in ``encode_events``'s blob, read by msgspec without the rest of each
    event."""
    return [event.event_id for event in _EVENT_IDS(blob)]


class _FirstId(msgspec.Struct, array_like=True):
    event_id: str  # an ``Event``'s first field


class Stamp(msgspec.Struct, array_like=True, gc=False):
    """An ``Event``'s fields up to ``recorded_at``, without its ``data``: what a reader of
    every event's id and dates needs (the report's count and fingerprint of its events)."""

    event_id: str
    type: str
    case_id: str
    day: date
    second: int
    recorded_at: datetime


def blob_stamps(blob: bytes | memoryview) -> list[Stamp]:
    """The ``Stamp`` of each event in ``encode_events``'s blob, read by msgspec without
    each event's ``data``."""
    return _STAMPS(blob)


def encode_ids(ids: Iterable[str]) -> bytes:
    """Every event id of a snapshot, as one JSON array."""
    return _ENCODE(list(ids))


def decode_ids(blob: bytes) -> list[str]:
    """``encode_ids``'s ids again; raises ``SnapshotError`` if the blob is not such ids."""
    try:
        return _IDS(blob)
    except msgspec.DecodeError as error:  # its ValidationError too
        raise SnapshotError(f"damaged: its event ids: {error}") from None


def holds_id(blob: bytes, event_id: str) -> bool:
    """Whether ``encode_ids``'s blob holds ``event_id``, without reading the whole array:
    its JSON text, between the array's brackets or commas, found by a scan of the bytes."""
    text = _ENCODE(event_id)
    return any(before + text + after in blob for before in (b"[", b",") for after in (b",", b"]"))


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(list[Event]).decode
_IDS = msgspec.json.Decoder(list[str]).decode
_EVENT_IDS = msgspec.json.Decoder(list[_FirstId]).decode
_STAMPS = msgspec.json.Decoder(list[Stamp]).decode


def encode_tally(tally: Mapping[tuple[Any, ...], int]) -> list[Any]:
    return [[list(key), count] for key, count in tally.items()]


def decode_tally(rows: Iterable[Any]) -> dict[tuple[Any, ...], int]:
    return {tuple(key): count for key, count in rows}


def pack(header: dict[str, Any], blobs: list[bytes]) -> bytes:
    """The snapshot's bytes: ``header`` (with the blobs' CRC-32 and length) and the blobs."""
    body = b"".join(blobs)
    header = {**header, "fold": fold_fingerprint(), "crc": zlib.crc32(body), "size": len(body)}
    text = orjson.dumps(header)
    return b"".join((MAGIC, len(text).to_bytes(_LENGTH, "big"), text, body))


def unpack(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header and the blobs of a snapshot; raises ``SnapshotError`` (saying why) if it
    is not one, is damaged, or was written by another fold."""
    if not data.startswith(MAGIC):
        raise SnapshotError("not a sendwatch snapshot (its first line is not the marker)")
    start = len(MAGIC) + _LENGTH
    length = int.from_bytes(data[len(MAGIC) : start], "big")
    try:
        header = orjson.loads(data[start : start + length])
    except orjson.JSONDecodeError as error:
        raise SnapshotError(f"damaged: its header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise SnapshotError("damaged: its header is not an object")
    if header.get("fold") != fold_fingerprint():
        raise SnapshotError(
            f"written by another fold ({header.get('fold')}, this is {fold_fingerprint()})"
        )
    body = memoryview(data)[start + length :]
    if len(body) != header.get("size") or zlib.crc32(body) != header.get("crc"):
        raise SnapshotError("damaged: its blobs do not match their length and checksum")
    return header, body
