"""Snapshots of folded state beside the embedded log (``<db>.snapshot``).

``write_snapshot`` saves a projector's folded state (``Projector.save_snapshot``) at its log
position, atomically: a temporary file beside it, flushed to disk, renamed over the old one,
and the folder flushed, so a crash leaves the old snapshot or the new one, never half of one.
``open_snapshot`` loads it for a log, or says why it cannot: none yet, damaged, written by
another fold (``projections.snapshot.FOLD_VERSION`` or the law table changed), or not of
this log (ahead of it, or its last event is not the log's at that position). Whatever the
reason, the caller replays the log instead: a snapshot is only ever a cache.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import orjson

from projections import Projector
from projections.projector import Pause
from projections.snapshot import SnapshotError
from streams.log import EventLog

SUFFIX = ".snapshot"


def snapshot_path(db: str | Path) -> Path:
    """Where the snapshot of the log ``db`` is kept: beside it, ``<db>.snapshot``."""
    return Path(f"{db}{SUFFIX}")


def temporary_path(db: str | Path, pid: int) -> Path:
    """Where process ``pid`` writes the snapshot of the log ``db`` before renaming it."""
    path = snapshot_path(db)
    return path.with_name(f"{path.name}.{pid}.tmp")


def write_snapshot(projector: Projector, db: str | Path) -> Path:
    """Save ``projector``'s folded state as the snapshot of the log ``db`` (atomically)."""
    path = snapshot_path(db)
    data = projector.save_snapshot()
    temporary = temporary_path(db, os.getpid())
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


def open_snapshot(
    log: EventLog, db: str | Path, pause: Pause = nullcontext
) -> tuple[Projector | None, str]:
    """The projector saved beside the log ``db`` (at its position: the caller applies the
    log's tail), or None and why it cannot be used."""
    path = snapshot_path(db)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, f"no snapshot at {path}"
    except OSError as error:
        return None, f"{path}: cannot be read ({error.strerror})"
    try:
        projector = Projector.load_snapshot(data, pause)
    except SnapshotError as error:
        return None, f"{path}: {error}"
    position = projector.position
    if position > log.head():
        return None, f"{path}: at position {position}, beyond the log's last event"
    if position:
        rows = next(log.read_raw(after=position - 1, batch=1), [])
        stored = orjson.loads(rows[0][1]).get("event_id") if rows else None
        if not isinstance(stored, str) or not projector.knows(stored):
            return None, f"{path}: not of this log (its event at position {position} differs)"
    return projector, f"snapshot {path} at position {position:,}"
