"""Replay: feed a projector from the embedded log or straight from a JSONL file.

Nothing here tunes the process: a caller that replays much wraps the call in the shell's
``sendwatch.tuning.paused_collector`` (``load_projector`` is given it as ``pause``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from events import Event, from_body
from projections import Projector
from projections.projector import Pause
from streams.ingest import decode_lines
from streams.log import Appended, EventLog, Rejected
from streams.snapshots import open_snapshot


def catch_up(
    projector: Projector,
    log: EventLog,
    touched: set[str] | None = None,
    skip: Container[str] = (),
    limit: int | None = None,
) -> int:
    """Apply every event stored after the projector's position; returns how many were new.
    ``touched``, if given, gains the case id of each new event whose type is not in ``skip``.
    ``limit``: stop once at least this many records have been read (a caller that holds a
    lock meanwhile catches up in slices, letting go of it between them).

    The log's positions have no gaps (INTEGER PRIMARY KEY, appended in transactions that
    take the write lock), so reading from the high-water mark on never skips an event.
    A whole replay into a projector that holds nothing settles each case as it goes
    (``Projector.replay_cases``).
    """
    new = read = 0
    apply = projector.apply
    batch = 10_000 if limit is None else max(1, min(limit, 10_000))
    if touched is None and limit is None and projector.empty:
        return _replay(projector, log)
    for rows in log.read_raw(after=projector.position, batch=batch):
        if touched is None:
            # the log's ids are unique, and these are after the projector's position
            new += projector.apply_all([from_body(body) for _, body in rows], unique=True)
        else:
            for _, body in rows:
                event = from_body(body)
                if apply(event):
                    new += 1
                    if event.type not in skip:
                        touched.add(event.case_id)
        projector.position = rows[-1][0]  # every row of the batch applied
        read += len(rows)
        if limit is not None and read >= limit:
            break
    return new


def _replay(projector: Projector, log: EventLog) -> int:
    """``catch_up`` of a whole log into a projector that holds nothing: each case's records
    gathered by SQLite and settled (``Projector.replay_cases``)."""
    upto = log.head()
    if upto <= projector.position:
        return 0
    new = projector.replay_cases(log.read_by_case(projector.position, upto))
    projector.position = upto  # every record up to it was applied
    return new


def apply_appended(
    projector: Projector, log: EventLog, events: Sequence[Event], appended: Appended
) -> int:
    """After ``log.append`` of the records of ``events``: apply the events from memory when
    the projector was current and the batch is all the log gained (it then holds exactly
    those records, and a duplicate id is skipped by both: when the log found none, the ids
    are not looked up, so the first POST after a replay builds no index of every id);
    otherwise ``catch_up`` reads the log. Returns how many events were new."""
    if projector.position + appended.accepted != appended.head:
        return catch_up(projector, log)  # another writer appended too
    if appended.accepted == len(events):  # no repeat, of the log or in the batch: all new
        new = projector.apply_all(events, unique=True)  # no index of every id made for it
        projector.position = appended.head
        return new
    apply = projector.apply
    new = sum(1 for event in events if apply(event))
    projector.position = appended.head
    return new


@contextmanager
def open_lines(path: str | Path) -> Iterator[BinaryIO]:
    """A JSONL file, or standard input for ``-``."""
    if str(path) == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as stream:
            yield stream


def replay_lines(projector: Projector, lines: Iterable[bytes], *, origin: str) -> list[Rejected]:
    """Validate and apply a history; returns the lines rejected (nothing is applied of them).
    No record is kept, so nothing of a record's stored form (such as its default council)
    is made.

    A history file is read as a record of the past: an event without ``recorded_at`` counts
    as recorded when it occurred (the embedded log stamps arrival time instead). Nothing is
    folded yet: the first measures settle the cases (``Projector.settle``), the first case
    files fold them.
    """
    rejected: list[Rejected] = []
    batch: list[Event] = []
    for item in decode_lines(lines, origin=origin, arrival=lambda: None, records=False):
        if item.event is not None:
            batch.append(item.event)
            if len(batch) >= REPLAY_BATCH:
                projector.apply_all(batch)  # as ``apply`` each, in the replay's own loop
                batch = []
        elif item.rejected is not None:
            rejected.append(item.rejected)
    projector.apply_all(batch)
    return rejected


REPLAY_BATCH = 10_000


@dataclass(slots=True)
class Loaded:
    """A projector loaded from a JSONL file or the embedded log (``load_projector``)."""

    projector: Projector
    dead_letters: int  # the file's rejected lines, or the log's dead letters
    rejected: list[Rejected]  # the file's rejected lines, in order (none from a log)
    source: str  # where from, in words: "a file of events" or "the embedded event log"
    snapshot: str = ""  # from a log: the snapshot the replay started from, or why none


def load_projector(
    events: str | Path | None,
    db: str | Path | None = None,
    *,
    pause: Pause = nullcontext,
    read: Callable[[BinaryIO], Iterable[bytes]] = iter,
) -> Loaded:
    """The one way a command loads a projector: from the JSONL file ``events`` (``-``: standard
    input), its bad lines rejected (``replay_lines``), or else from the embedded log at ``db``,
    which must exist (``EventLog.open_existing``: nothing is made or written), starting from
    its snapshot (``streams.snapshots``) when there is a usable one and applying the tail.

    ``pause``: what the projector's bulk work and the replay run inside (the shell's
    ``paused_collector``); ``read``: the file's lines from its stream (a progress bar's hook).
    Raises OSError if the file cannot be read, ``LogError`` if ``db`` is not a log.
    """
    projector = Projector(pause=pause)
    if events is not None:
        origin = "stdin" if str(events) == "-" else str(events)
        with open_lines(events) as stream, pause():
            rejected = replay_lines(projector, read(stream), origin=origin)
        return Loaded(projector, len(rejected), rejected, "a file of events")
    if db is None:
        raise ValueError("load_projector: neither a file of events nor a log")
    with EventLog.open_existing(db) as log, pause():
        saved, snapshot = open_snapshot(log, db, pause)
        if saved is not None:
            projector = saved
        catch_up(projector, log)
        dead = log.dead_letter_count()
    return Loaded(projector, dead, [], "the embedded event log", snapshot)
