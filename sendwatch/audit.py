"""The audit log: who read which case, when, and through which path (docs/security.md).

Every read of one case's details (``GET /api/cases/{id}``, which the dashboard's case view
goes through, and ``sendwatch case``) appends a row before the case is shown: who (the
token's name, the proxy's user, or the operating-system user for the CLI), when (UTC), which
case (its pseudonymous id: the log holds no other personal data), the path (``api`` or
``cli``) and the route. If the row cannot be written, the case is not shown.

The log is a SQLite file of its own beside the event log (``sendwatch.db`` ->
``sendwatch.audit.db``, or ``SENDWATCH_AUDIT_DB``), each append fsynced before it returns
(``synchronous=FULL``, as the event log). Its table is append-only: triggers refuse every
UPDATE and DELETE, and sendwatch has no command that changes it. (Whoever may write the file
itself could still replace it: keep it where only the service's account can write.)
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from streams.log import connect

APPLICATION_ID = 0x5357_4155  # "SWAU": PRAGMA application_id of a sendwatch audit log
APPEND_ONLY = "the audit log is append-only"
PATHS = ("api", "cli")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS case_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    read_at TEXT NOT NULL,
    who TEXT NOT NULL,
    credential TEXT NOT NULL,
    path TEXT NOT NULL CHECK (path IN ('api', 'cli')),
    route TEXT NOT NULL,
    case_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_reads_by_case ON case_reads (case_id, id);
CREATE TRIGGER IF NOT EXISTS case_reads_never_updated BEFORE UPDATE ON case_reads
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: a row cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS case_reads_never_deleted BEFORE DELETE ON case_reads
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: a row cannot be deleted'); END;
"""


class AuditError(Exception):
    """An audit log that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True, slots=True)
class CaseRead:
    id: int
    read_at: str  # ISO 8601, UTC
    who: str
    credential: str  # token, proxy or os-user
    path: str  # api or cli
    route: str  # "GET /api/cases/{case_id}", "sendwatch case"
    case_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def audit_path(beside: str | Path) -> Path:
    """The audit log beside an event log or events file: ``sendwatch.db`` ->
    ``sendwatch.audit.db``, ``kent.jsonl`` -> ``kent.audit.db``."""
    path = Path(beside)
    return path.with_name(f"{path.stem}.audit.db")


def parse_since(text: str | None) -> datetime | None:
    """``--since`` / ``?since=``: a day (``2026-01-05``: from its start, UTC) or a moment
    with its offset (``2026-01-05T09:00:00+00:00``); None if not given. ValueError naming
    ``since`` otherwise."""
    if text is None or not text.strip():
        return None
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time.min, UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"since: expected a date YYYY-MM-DD or a time with its offset, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"since: a time needs its offset (e.g. +00:00), got {text!r}")
    return moment


def os_user() -> str:
    """The operating-system user running the CLI (its uid if it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class AuditLog:
    """An audit log file, opened to append (made if missing) or, with ``create`` False, only
    to read an existing one."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise AuditError(
                f"no audit log at {self.path} (it is made at the first read of a case)"
            )
        if create and not self.path.parent.is_dir():
            raise AuditError(
                f"cannot make an audit log at {self.path}: no folder {self.path.parent}"
            )
        self._lock = threading.Lock()  # one connection, shared by the API's threads
        try:
            self._db = connect(self.path, synchronous="FULL")
            mark = int(self._db.execute("PRAGMA application_id").fetchone()[0])
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise AuditError(f"{self.path} is not an audit log: {error}") from None
        if mark != APPLICATION_ID and (mark != 0 or tables):
            self._db.close()
            raise AuditError(f"{self.path} is not an audit log (another SQLite file)")
        if mark == 0:
            if not create:
                self._db.close()
                raise AuditError(f"{self.path} is not an audit log (an empty file)")
            self._db.executescript(f"PRAGMA application_id={APPLICATION_ID};" + SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def synchronous(self) -> int:
        """``PRAGMA synchronous`` of the connection (2: FULL, each append fsynced)."""
        return int(self._db.execute("PRAGMA synchronous").fetchone()[0])

    def record(
        self,
        *,
        who: str,
        credential: str,
        path: str,
        route: str,
        case_id: str,
        at: datetime | None = None,
    ) -> None:
        """Append one read of ``case_id``; fsynced before it returns. Raises AuditError
        if it cannot be written (the caller then does not show the case)."""
        when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO case_reads (read_at, who, credential, path, route, case_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (when, who, credential, path, route, case_id),
                )
        except sqlite3.Error as error:
            raise AuditError(f"cannot write the audit log {self.path}: {error}") from None

    def reads(self, *, case_id: str | None = None, since: datetime | None = None) -> list[CaseRead]:
        """The reads recorded, oldest first; only of ``case_id`` and from ``since``, if given."""
        where, args = [], []
        if case_id is not None:
            where.append("case_id = ?")
            args.append(case_id)
        if since is not None:
            where.append("read_at >= ?")
            args.append(since.astimezone(UTC).isoformat(timespec="microseconds"))
        sql = "SELECT id, read_at, who, credential, path, route, case_id FROM case_reads"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [CaseRead(*row) for row in rows]
