"""Alerts that outlive the process: a table ``alerts`` in the event log's SQLite file.

One row per fingerprint (firing, or resolved and kept a while), each save one transaction
(the service saves every second, and before anything is delivered), so a restarted service
finds the same alerts with the same ``startsAt`` and neither loses nor repeats one. The
table sits beside the event log's tables and is written through its own connection (WAL:
the log's writer and this one take turns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import orjson

from alerts.engine import Alert

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


class SqliteAlertStore:
    """The ``alerts`` table over a connection opened by the file's owner (in the service,
    ``streams.log.connect`` on the event log's file); the store closes it."""

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
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
