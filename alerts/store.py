"""Alerts that outlive the process: a table ``alerts`` in a SQLite file of their own, beside
the event log's (``alerts_path``: ``events.db`` keeps its alerts in ``events.alerts.db``).

One row per fingerprint (firing, or resolved and kept a while), each save one transaction
(the service saves every second, and before anything is delivered), so a restarted service
finds the same alerts with the same ``startsAt`` and neither loses nor repeats one.

The file is the alerts' own so that saving them never holds the event log's write lock: a
second of a backfill changes about 8,000 alerts, whose save took 180 ms (measured), and
every POST waited for it while the alerts shared the log's file (as they did before; the
first start of this version moves them out of it: ``SqliteAlertStore.adopt``).

Beside them, one row (``alerting``) counts the saves and holds the status of the process that
judges the alerts, for another process that serves them (``sendwatch run``: the HTTP process
reads what its alert process saved, and reads the alerts again only after a new save).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from alerts.engine import Alert, ListingKey, in_listing_order, listing_key
from alerts.rules import firing_by_severity

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body BLOB NOT NULL,
    saved INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alerts_by_save ON alerts(saved);
CREATE TABLE IF NOT EXISTS alerting (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    saves INTEGER NOT NULL,
    purged INTEGER NOT NULL DEFAULT 0,
    status BLOB NOT NULL
);
"""
FORGOTTEN = "forgotten"  # the state of a row whose alert was forgotten (kept a while)
KEEP_FORGOTTEN = 3_600  # saves (an hour of the service's) a forgotten row is kept for
BUMP = (  # one more save; the first makes the row
    "INSERT INTO alerting(id, saves, status) VALUES (1, 1, '{}') "
    "ON CONFLICT(id) DO UPDATE SET saves = saves + 1"
)


def alerts_path(log: str | Path) -> Path:
    """The alerts' file beside the event log ``log``: ``events.db`` -> ``events.alerts.db``."""
    log = Path(log)
    return log.with_name(f"{log.stem}.alerts{log.suffix}")


class SqliteAlertStore:
    """The ``alerts`` table over a connection opened by the file's owner (in the service,
    ``streams.log.connect`` on ``alerts_path`` of the event log); the store closes it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteAlertStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def load(self) -> list[Alert]:
        rows = self._db.execute(
            "SELECT body FROM alerts WHERE state != ? ORDER BY fingerprint", (FORGOTTEN,)
        ).fetchall()
        return [Alert.from_json(orjson.loads(body)) for (body,) in rows]

    def adopt(self, log: str | Path) -> int:
        """Move the alerts an earlier version kept in the event log's own file (its table
        ``alerts``) into this store, and drop that table; returns how many moved. Each
        file's change is atomic: after a crash between the two, the next start moves them
        again, and an alert already here is kept as it is."""
        db = self._db
        db.execute("ATTACH DATABASE ? AS log", (str(log),))
        try:
            found = db.execute(
                "SELECT 1 FROM log.sqlite_master WHERE type = 'table' AND name = 'alerts'"
            ).fetchone()
            if found is None:
                return 0
            db.execute("BEGIN IMMEDIATE")
            try:
                moved = db.execute(
                    "INSERT OR IGNORE INTO main.alerts(fingerprint, state, body) "
                    "SELECT fingerprint, state, body FROM log.alerts"
                ).rowcount
                db.execute("DROP TABLE log.alerts")
                db.execute(BUMP)  # a reader of the changes reads everything again
                db.execute("UPDATE alerting SET purged = saves")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(moved)
        finally:
            db.execute("DETACH DATABASE log")

    def saves(self) -> int:
        """How many saves have written something (0 before the first)."""
        row = self._db.execute("SELECT saves FROM alerting").fetchone()
        return 0 if row is None else int(row[0])

    def changes(self, since: int) -> tuple[int, bool, list[tuple[str, str, bytes]]]:
        """What the saves after the ``since``-th changed, read together (one transaction):
        (the count of saves, whether the rows are every alert rather than the changes,
        (fingerprint, state, stored JSON) rows). A forgotten alert's row has the state
        ``FORGOTTEN``; a reader further behind than such rows are kept (``since`` -1 for
        the first read) is given every alert instead."""
        db = self._db
        db.execute("BEGIN")
        try:
            row = db.execute("SELECT saves, purged FROM alerting").fetchone()
            saves, purged = (0, 0) if row is None else (int(row[0]), int(row[1]))
            every = since < 0 or since < purged
            query = "SELECT fingerprint, state, body FROM alerts WHERE "
            if every:
                rows = db.execute(query + "state != ?", (FORGOTTEN,)).fetchall()
            else:
                rows = db.execute(query + "saved > ?", (since,)).fetchall()
            return saves, every, rows
        finally:
            db.execute("COMMIT")

    def status(self) -> dict[str, Any]:
        """What the judging process last said of itself (``write_status``); {} before."""
        row = self._db.execute("SELECT status FROM alerting").fetchone()
        status: dict[str, Any] = {} if row is None else orjson.loads(row[0])
        return status

    def write_status(self, status: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO alerting(id, saves, status) VALUES (1, 0, ?) "
            "ON CONFLICT(id) DO UPDATE SET status = excluded.status",
            (orjson.dumps(status),),
        )

    def save(self, alerts: Iterable[Alert], forget: Iterable[str] = ()) -> None:
        """Write these alerts and forget the fingerprints ``forget``, atomically: one more
        save, whose count each row it writes keeps (``changes``). A forgotten alert's row
        is kept ``KEEP_FORGOTTEN`` saves as ``FORGOTTEN``, so readers of the changes learn
        that it is gone, then deleted."""
        encoded = [(a.fingerprint, a.state, orjson.dumps(a.to_json())) for a in alerts]
        gone = list(forget)
        if not encoded and not gone:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(BUMP)
            saves = self.saves()
            db.executemany(
                "INSERT INTO alerts(fingerprint, state, body, saved) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET state = excluded.state, "
                "body = excluded.body, saved = excluded.saved",
                [(*row, saves) for row in encoded],
            )
            db.executemany(
                "UPDATE alerts SET state = ?, body = x'', saved = ? WHERE fingerprint = ?",
                [(FORGOTTEN, saves, fp) for fp in gone],
            )
            horizon = saves - KEEP_FORGOTTEN
            if horizon > 0:
                db.execute(
                    "DELETE FROM alerts WHERE saved <= ? AND state = ?", (horizon, FORGOTTEN)
                )
                db.execute("UPDATE alerting SET purged = max(purged, ?)", (horizon,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


FIRST_LISTED = 20  # the gravest alerts the judging process writes in its status


class SavedAlerts:
    """The alerts another process judges and saves into ``store``, as it last saved them:
    after a new save, only the alerts it changed are read again (a backfill's dashboard
    asked for thousands of alerts every second, and reading them all took seconds).
    Thread-safe."""

    def __init__(self, store: SqliteAlertStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._saves = -1
        self._entries: dict[str, tuple[ListingKey, dict[str, Any]]] = {}
        self._listing: list[dict[str, Any]] | None = None  # made when all are asked for

    def active(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The JSON of ``GET /api/alerts``, as ``alerts.engine.Engine.active`` (share the
        alerts' JSON, do not modify it): the first ``limit`` if given."""
        with self._lock:  # one connection, shared by the server's threads
            if limit is not None:  # as the judging process last said, if it said enough
                first = self._store.status().get("first")
                if first is not None and (limit <= len(first) or len(first) < FIRST_LISTED):
                    return list(first[:limit])
            self._read()
            if self._listing is None:
                if limit is not None:  # the gravest few, without sorting them all
                    return in_listing_order(self._entries.values(), limit)
                self._listing = in_listing_order(self._entries.values())
            return self._listing[:limit]

    def firing_counts(self) -> dict[str, int]:
        """How many alerts are firing, by severity (as the judging process last said, or
        counted from the alerts saved, before it has said)."""
        with self._lock:
            said: dict[str, int] | None = self._store.status().get("firing")
            if said is not None:
                return said
            self._read()
            return firing_by_severity(json for _, json in self._entries.values())

    def _read(self) -> None:
        """What the saves since the last read changed (the stored JSON is ``to_json``'s)."""
        if self._store.saves() == self._saves:
            return
        self._saves, every, rows = self._store.changes(self._saves)
        if every:
            self._entries = {}
        entries = self._entries
        for fingerprint, state, body in rows:
            if state == FORGOTTEN:
                entries.pop(fingerprint, None)
            else:
                json = orjson.loads(body)
                entries[fingerprint] = (listing_key(json), json)
        self._listing = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self._store.status()
