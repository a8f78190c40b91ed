"""The embedded event log: an append-only SQLite file (WAL) with a global position.

Idempotency is structural: ``event_id`` is UNIQUE and an append is ``INSERT OR IGNORE`` in the
same transaction as everything else of its batch, so a duplicate can never be stored twice,
whatever crashed when. Input that fails validation goes to ``dead_letters`` with where it came
from and why, in the same transaction as the batch it arrived in: nothing is lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from events import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Rejected:
    """One input that failed validation: where it came from, why, and the input itself."""

    origin: str  # "events.jsonl line 12", "POST /api/events line 3", "kafka p0 offset 9"
    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Appended:
    accepted: int
    duplicates: int
    rejected: int
    head: int  # the log's last position after the batch


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received_at: str
    origin: str
    reason: str
    raw: bytes


def connect(path: str | Path, *, autocheckpoint: bool = True) -> sqlite3.Connection:
    """A connection to a sendwatch SQLite file (the log, and the alerts kept beside it):
    write-ahead logging, autocommit unless a transaction is begun, usable from any thread.

    ``autocheckpoint`` False: commits never copy the write-ahead log into the file (SQLite
    does that every 1,000 pages, with an fsync, inside the commit that crosses the mark);
    the file's owner then calls ``EventLog.checkpoint``, off the request's path.
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives the process being killed; only a power cut can
    # lose the last commits, never corrupt the file.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=10000")
    if not autocheckpoint:
        db.execute("PRAGMA wal_autocheckpoint=0")
    return db


class EventLog:
    """One SQLite file. Safe for one writer process and any number of readers."""

    def __init__(self, path: str | Path, *, autocheckpoint: bool = True) -> None:
        """``autocheckpoint`` as for ``connect``: False when the owner calls ``checkpoint``."""
        self.path = Path(path)
        self.autocheckpoint = autocheckpoint
        self._db = connect(self.path, autocheckpoint=autocheckpoint)
        self._db.executescript(SCHEMA)
        self._checkpointer: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, through a connection of its own
        (PASSIVE: it never waits for, nor blocks, the writer or the readers)."""
        if self._checkpointer is None:
            self._checkpointer = connect(self.path)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def append(self, records: Sequence[Record], rejected: Sequence[Rejected] = ()) -> Appended:
        """Store a batch atomically: accepted records (a known event_id is a duplicate and
        changes nothing) and the dead letters that came with them."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO events(event_id, body) VALUES (?, ?)",
                [(r["event_id"], orjson.dumps(r)) for r in records],
            )
            accepted = db.total_changes - before
            if rejected:
                now = datetime.now(UTC).isoformat()
                db.executemany(
                    "INSERT INTO dead_letters(received_at, origin, reason, raw) VALUES (?,?,?,?)",
                    [(now, r.origin, r.reason, r.raw) for r in rejected],
                )
            head = self._head()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Appended(accepted, len(records) - accepted, len(rejected), head)

    def _head(self) -> int:
        row = self._db.execute("SELECT max(position) FROM events").fetchone()
        return int(row[0] or 0)

    def head(self) -> int:
        """The position of the last event (0 for an empty log)."""
        return self._head()

    def read(self, after: int = 0, batch: int = 10_000) -> Iterator[tuple[int, Record]]:
        """Stored records in position order, from just after ``after``."""
        for rows in self.read_raw(after, batch):
            for position, body in rows:
                yield position, orjson.loads(body)

    def read_raw(self, after: int = 0, batch: int = 10_000) -> Iterator[list[tuple[int, bytes]]]:
        """``read`` in lists of (position, stored JSON) rows, for a reader that decodes them
        itself (a replay of millions of records spares a generator step for each)."""
        cursor = self._db.execute(
            "SELECT position, body FROM events WHERE position > ? ORDER BY position", (after,)
        )
        while rows := cursor.fetchmany(batch):
            yield rows

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def dead_letter_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self._db.execute(
            "SELECT id, received_at, origin, reason, raw FROM dead_letters ORDER BY id DESC "
            "LIMIT ?",
            (limit,),
        ).fetchall()
        return [DeadLetter(*row) for row in rows]
