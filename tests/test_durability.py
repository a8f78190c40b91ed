"""Durable acknowledgements: every append that is acknowledged (a batch of ``sendwatch ingest``,
a ``POST /api/events``) is committed through a connection that fsyncs each commit
(``PRAGMA synchronous`` FULL, 2) before the answer, so a power cut loses nothing accepted.
The tests read the appending connection's setting at the moment of each append: not a timing.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sendwatch.cli import app as cli
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import Appended, EventLog, connect
from tests.running_service import NOW, TOKEN, history, jsonl, running_service

FULL, NORMAL = 2, 1  # PRAGMA synchronous
NDJSON = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}


@pytest.fixture
def synchronous_at_append(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """``PRAGMA synchronous`` of the appending connection, read inside every
    ``EventLog.append`` made while the test runs."""
    seen: list[int] = []
    append = EventLog.append

    def reading(self: EventLog, *args: Any, **kwargs: Any) -> Appended:
        seen.append(self.synchronous())
        return append(self, *args, **kwargs)

    monkeypatch.setattr(EventLog, "append", reading)
    yield seen


def test_the_log_syncs_every_commit_whoever_opens_it(tmp_path: Path) -> None:
    """A new log, an existing one opened by a reader, and the service's (which checkpoints
    from its timer) all append through a connection with synchronous FULL, in WAL mode."""
    with EventLog(tmp_path / "new.db") as made:
        assert made.synchronous() == FULL
        made.append([])
    with EventLog.open_existing(tmp_path / "new.db") as reopened:
        assert reopened.synchronous() == FULL
    with EventLog.open_existing(tmp_path / "new.db", autocheckpoint=False) as served:
        assert served.synchronous() == FULL
        mode = served._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_sendwatch_ingest_acknowledges_only_synced_batches(
    tmp_path: Path, synchronous_at_append: list[int]
) -> None:
    """Each batch that ``ingest --acks`` acknowledges was appended with synchronous FULL."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(history()))
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 0, result.output
    assert synchronous_at_append and set(synchronous_at_append) == {FULL}


def test_a_post_is_answered_only_after_a_synced_append(
    tmp_path: Path, synchronous_at_append: list[int]
) -> None:
    with EventLog(tmp_path / "events.db", autocheckpoint=False) as log:
        source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), judge_alerts=False)
        with TestClient(embedded_app(source, token=TOKEN)) as http:
            answer = http.post("/api/events", content=jsonl(history()), headers=NDJSON)
            assert answer.json()["accepted"] == len(history())
            again = http.post("/api/events", content=jsonl(history()[:3]), headers=NDJSON)
            assert again.json()["duplicates"] == 3
    assert synchronous_at_append == [FULL, FULL]  # one transaction per POST, each synced


def test_the_alerts_file_syncs_at_checkpoints_only(tmp_path: Path) -> None:
    """The alerts are judged again from the log by the alert process whenever it starts, so
    their file may lose its last saves to a power cut (NORMAL): they are not acknowledged
    input, and a second of a backfill changes thousands of them."""
    db = connect(tmp_path / "events.alerts.db")
    try:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
    finally:
        db.close()


def test_a_post_cut_short_stores_nothing_and_logs_one_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A client that closes its connection mid-body: nothing of the body is stored, and the
    service says so in one line (it logged a traceback)."""
    db = tmp_path / "events.db"
    with running_service(db) as service:
        port = int(service.url.rsplit(":", 1)[1])
        head = (
            "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/x-ndjson\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(head.encode() + jsonl(history())[:200])
        log = db.with_suffix(f".{port}.log")
        said = "a client closed its connection before its POST /api/events body was read"
        deadline = time.monotonic() + 30
        while said not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with service.client() as http:
            assert http.get("/healthz").json()["events"] == 0
            assert http.post("/api/events", content=jsonl(history()), headers=NDJSON).is_success
    assert "Traceback" not in log.read_text()
