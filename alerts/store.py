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

from alerts.engine import Alert, listed

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS alerting (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    saves INTEGER NOT NULL,
    status BLOB NOT NULL
);
"""


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
        rows = self._db.execute("SELECT body FROM alerts ORDER BY fingerprint").fetchall()
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

    def load_saved(self) -> tuple[int, list[Alert]]:
        """``load`` with the count of saves it reflects, read together (one transaction)."""
        db = self._db
        db.execute("BEGIN")
        try:
            return self.saves(), self.load()
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
        """Write these alerts and delete the forgotten fingerprints, atomically."""
        rows = [(a.fingerprint, a.state, orjson.dumps(a.to_json())) for a in alerts]
        gone = [(fp,) for fp in forget]
        if not rows and not gone:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO alerts(fingerprint, state, body) VALUES (?, ?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET state = excluded.state, "
                "body = excluded.body",
                rows,
            )
            db.executemany("DELETE FROM alerts WHERE fingerprint = ?", gone)
            db.execute(
                "INSERT INTO alerting(id, saves, status) VALUES (1, 1, '{}') "
                "ON CONFLICT(id) DO UPDATE SET saves = saves + 1"
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class SavedAlerts:
    """The alerts another process judges and saves into ``store``, as it last saved them:
    read again only after a new save. Thread-safe."""

    def __init__(self, store: SqliteAlertStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._saves = -1
        self._listing: list[dict[str, Any]] = []

    def active(self) -> list[dict[str, Any]]:
        """The JSON of ``GET /api/alerts``, as ``alerts.engine.Engine.active``."""
        with self._lock:
            if self._store.saves() != self._saves:
                self._saves, alerts = self._store.load_saved()
                self._listing = listed(alerts)
            return list(self._listing)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self._store.status()
