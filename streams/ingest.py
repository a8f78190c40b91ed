"""Ingest: JSONL lines in, validated records and dead letters out, to a sink.

``decode_lines`` is the one loop that turns raw lines into records or rejections (used by
``ingest`` and by the replays of ``sendwatch metrics``). ``ingest`` is the one pipeline that
takes input to where it is kept: a file (``sendwatch ingest``, with ``--db`` or
``--broker``), a POST (either service) and the coming importers all go through it, to a
``Sink``: the embedded log (``streams.log.EventLog``) or the Kafka producer
(``streams.kafka.TopicSink``), a batch at a time.

Lines end at a line feed, on every path: a file read line by line and a body split with
``split_lines`` give the same lines (a carriage return before the line feed is part of the
ending; anywhere else it is a byte of the line, as JSON whitespace or not). A UTF-8
byte-order mark at the start of the input is ignored (CONTRACT.md section 1.1).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from events import Event, InvalidEvent, Record, decode, decode_event, read_event
from events.codec import BOM, MAX_BYTES, unreadable
from streams.log import Rejected

FIRST_REASONS = 10


@dataclass(slots=True)
class Decoded:
    """The outcome of one input line: a record to store (and its event, to apply), or a
    rejection. Not frozen: one is made for every line, and a frozen dataclass's
    ``__init__`` costs three times as much (0.5 µs against 0.15, measured)."""

    line: int
    record: Record | None
    rejected: Rejected | None
    event: Event | None = None


Arrival = Callable[[], datetime | None]


def split_lines(body: bytes) -> list[bytes]:
    """A JSONL body's lines, split at line feeds only, as a file is read: never
    ``bytes.splitlines``, which also ends a line at a bare carriage return."""
    return body.split(b"\n")


def arrival_now() -> datetime:
    return datetime.now(UTC)


def decode_lines(
    lines: Iterable[bytes],
    *,
    origin: str,
    arrival: Arrival = arrival_now,
    council: str | None = None,
    events: bool = False,
    records: bool = True,
    where: Callable[[int], str] | None = None,
) -> Iterator[Decoded]:
    """Decode JSONL input line by line; blank lines are skipped, never rejected. Every
    other line gives a ``Decoded``, a record or a rejection: nothing raises.

    ``origin`` names the input in reasons ("events.jsonl" gives "events.jsonl line 12");
    ``where``, if given, names line N instead (an importer's lines come from files and rows).
    ``arrival`` stamps ``recorded_at`` where absent; it is asked again every 1,000 lines.
    When it answers None the event counts as recorded when it occurred (a history file).
    ``events``: each record's ``Event`` too, for a caller that applies them; ``records``
    False: only the events (``events.read_event``), for a caller that stores nothing.
    """
    stamp = arrival()
    for number, line in enumerate(lines, start=1):
        if number % 1000 == 0:
            stamp = arrival()
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        line = _unended(line)  # the same bytes from a file as from a body split at LF
        if not line.strip():
            continue
        event = None
        try:
            if not records:
                record, event = None, read_event(line, arrival=stamp)
            elif events:
                record, event = decode_event(line, arrival=stamp, council=council)
            else:
                record = decode(line, arrival=stamp, council=council)
        except Exception as error:  # InvalidEvent; anything else too, never to stop ingest
            reason = error.reason if isinstance(error, InvalidEvent) else unreadable(error)
            named = f"{origin} line {number}" if where is None else where(number)
            yield Decoded(number, None, Rejected(named, reason, kept_raw(line)))
        else:
            yield Decoded(number, record, None, event)


def kept_raw(raw: bytes) -> bytes:
    """What a dead letter keeps of a rejected input: all of it up to the size an event may
    have, else its first ``MAX_BYTES`` and a note of how large it was (a 50 MB line must not
    become a 50 MB dead letter: it may be an attack, and it may hold personal data)."""
    if len(raw) <= MAX_BYTES:
        return raw
    return raw[:MAX_BYTES] + f" … [cut by sendwatch: {len(raw):,} bytes in all]".encode()


def _unended(line: bytes) -> bytes:
    """The line without its ending (LF or CRLF), as it is decoded and kept if rejected."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


class Stored(Protocol):
    """What a sink did with one batch."""

    @property
    def accepted(self) -> int: ...  # records newly kept

    @property
    def duplicates(self) -> int: ...  # records of an event already kept (changing nothing)

    @property
    def conflicts(self) -> Sequence[tuple[int, Rejected]]:
        """Records refused because their event id is kept for a different event: (index in
        the batch's records, its dead letter), in the batch's order."""
        ...


class Sink(Protocol):
    """Where ``ingest`` puts each batch: its valid records and its rejected lines (dead
    letters). Once ``store`` returns, the batch is durably kept (a fsynced commit, or every
    message acknowledged by the broker)."""

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Stored:
        """``lines``: each record's input line (named in a conflict's dead letter);
        ``events``: each record's ``Event``, when ``ingest`` was asked for them."""
        ...


@dataclass
class IngestSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # lines rejected, and records refused as conflicts
    lines: int = 0  # the last input line read
    first_rejections: list[Rejected] = field(default_factory=list)
    # every refusal (rejection or conflict) as (line, reason), in line order, when asked for
    refused: list[tuple[int, str]] = field(default_factory=list)

    def add(self, accepted: int, duplicates: int, rejected: list[Rejected]) -> None:
        self.accepted += accepted
        self.duplicates += duplicates
        self.rejected += len(rejected)
        room = FIRST_REASONS - len(self.first_rejections)
        if room > 0:
            self.first_rejections.extend(rejected[:room])


def ingest(
    lines: Iterable[bytes],
    sink: Sink,
    *,
    origin: str,
    council: str | None = None,
    batch: int | None = 5_000,
    events: bool = False,
    refusals: bool = False,
    pause: Callable[[], AbstractContextManager[object]] = nullcontext,
    on_commit: Callable[[IngestSummary], None] | None = None,
    where: Callable[[int], str] | None = None,
) -> IngestSummary:
    """Validate JSONL input and store it in ``sink`` in batches of ``batch`` lines (None:
    all of it in one); returns what was accepted, duplicated and rejected.

    Each batch (its records and its dead letters) is stored at once; ``on_commit`` is told
    after each, so every line up to ``summary.lines`` is then durably acknowledged.
    ``recorded_at`` is stamped with the batch's arrival time where absent. ``events``: hand
    the sink each record's ``Event`` too (a sink that applies them); ``refusals``: list every
    refused line with its reason in ``summary.refused`` (an answer to a POST); ``pause``:
    what the decoding runs inside (the shell's ``paused_collector``; never the storing);
    ``where``: names a rejected line, as for ``decode_lines``.
    """
    summary = IngestSummary()
    records: list[Record] = []
    record_lines: list[int] = []  # each record's input line, for a conflict's dead letter
    decoded: list[Event] = []
    rejected: list[Rejected] = []
    rejected_lines: list[int] = []
    limit = batch if batch is not None else sys.maxsize

    def commit() -> None:
        done = sink.store(records, rejected, origin=origin, lines=record_lines, events=decoded)
        conflicts = done.conflicts
        summary.add(done.accepted, done.duplicates, [*rejected, *(r for _, r in conflicts)])
        if refusals:
            summary.refused += zip(rejected_lines, (r.reason for r in rejected), strict=True)
            summary.refused += ((record_lines[i], r.reason) for i, r in conflicts)
        records.clear()
        record_lines.clear()
        decoded.clear()
        rejected.clear()
        rejected_lines.clear()
        if on_commit is not None:
            on_commit(summary)

    items = decode_lines(lines, origin=origin, council=council, events=events, where=where)
    ended = False
    while not ended:
        with pause():
            for item in items:
                summary.lines = item.line
                if item.record is not None:
                    records.append(item.record)
                    record_lines.append(item.line)
                    if item.event is not None:
                        decoded.append(item.event)
                elif item.rejected is not None:
                    rejected.append(item.rejected)
                    rejected_lines.append(item.line)
                if len(records) + len(rejected) >= limit:
                    break
            else:
                ended = True
        commit()
    summary.refused.sort()
    return summary
