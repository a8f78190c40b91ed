"""The audit log (docs/security.md): every read of one case, through the API (a real
``sendwatch run`` and the in-process app) and through ``sendwatch case``, is recorded with
who, when (UTC), which case and the path; the table refuses UPDATE and DELETE; appends are
fsynced; ``sendwatch audit`` lists and filters it; listing it is not a read of a case."""

from __future__ import annotations

import getpass
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from sendwatch.access import Access, Role, Token, parse_networks
from sendwatch.api import CASE_ROUTES, ROUTE_ROLES
from sendwatch.audit import AuditError, AuditLog, audit_path, parse_since
from sendwatch.cli import app as cli
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import EventLog
from tests.running_service import NOW, TOKEN, history, jsonl, running_service

READER = "reader-token-0123456789"
ADMIN = "admin-token-0123456789"


def test_the_audit_log_sits_beside_the_event_log() -> None:
    assert audit_path("data/sendwatch.db") == Path("data/sendwatch.audit.db")
    assert audit_path("kent.jsonl") == Path("kent.audit.db")


def test_a_case_read_through_the_api_is_recorded_with_the_tokens_name(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    tokens = (
        Token("dashboard", Role.READER, SecretStr(READER)),
        Token("it-admin", Role.ADMIN, SecretStr(ADMIN)),
    )
    audit = AuditLog(tmp_path / "events.audit.db")
    with TestClient(embedded_app(source, access=Access(tokens), audit=audit)) as http:
        admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/x-ndjson"}
        assert http.post("/api/events", content=jsonl(history()), headers=admin).status_code == 200
        before = datetime.now(UTC)
        reader = {"Authorization": f"Bearer {READER}"}
        assert http.get("/api/cases/KC-A", headers=reader).status_code == 200
        # no case, or no token: nothing of a case is shown, nothing is recorded
        assert http.get("/api/cases/KC-NONE", headers=reader).status_code == 404
        assert http.get("/api/cases/KC-B").status_code == 401
        reads = audit.reads()
        assert [(r.who, r.credential, r.path, r.route, r.case_id) for r in reads] == [
            ("dashboard", "token", "api", "GET /api/cases/{case_id}", "KC-A")
        ]
        assert before <= datetime.fromisoformat(reads[0].read_at) <= datetime.now(UTC)
        assert reads[0].read_at.endswith("+00:00")  # UTC
        # reading the audit (admins only) is not a read of a case
        listed = http.get("/api/audit?case=KC-A", headers={"Authorization": f"Bearer {ADMIN}"})
        assert listed.status_code == 200
        assert [r["who"] for r in listed.json()["reads"]] == ["dashboard"]
        assert http.get("/api/audit", headers=reader).status_code == 403
        assert len(audit.reads()) == 1
    audit.close()
    log.close()


def test_every_route_that_shows_one_case_is_a_readers_route() -> None:
    assert {"GET /api/cases/{case_id}"} == CASE_ROUTES
    assert all(ROUTE_ROLES[route] is Role.READER for route in CASE_ROUTES)


def test_a_case_read_through_a_proxy_is_recorded_with_the_proxys_user(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    tokens = (Token("it-admin", Role.ADMIN, SecretStr(ADMIN)),)
    access = Access(tokens, "X-Forwarded-User", Role.READER, parse_networks("127.0.0.1"))
    audit = AuditLog(tmp_path / "events.audit.db")
    app = embedded_app(source, access=access, audit=audit)
    with TestClient(app, client=("127.0.0.1", 40000)) as http:
        admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/x-ndjson"}
        assert http.post("/api/events", content=jsonl(history()), headers=admin).status_code == 200
        answer = http.get("/api/cases/KC-C", headers={"X-Forwarded-User": "j.smith"})
        assert answer.status_code == 200
    assert [(r.who, r.credential, r.case_id) for r in audit.reads()] == [
        ("j.smith", "proxy", "KC-C")
    ]
    audit.close()
    log.close()


def test_a_case_is_not_shown_if_its_read_cannot_be_recorded(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    audit = AuditLog(tmp_path / "events.audit.db")
    audit.close()  # a closed connection: every append fails
    with TestClient(embedded_app(source, token=TOKEN, audit=audit)) as http:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
        assert http.post("/api/events", content=jsonl(history()), headers=auth).status_code == 200
        answer = http.get("/api/cases/KC-A", headers=auth)
        assert answer.status_code == 503
        assert "not shown unaudited" in answer.json()["detail"]
        assert "KC-A" not in answer.text.replace("events.audit.db", "")
    log.close()


def test_a_case_read_through_a_real_sendwatch_run_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with running_service(db) as service, service.client() as http:
        posted = http.post(
            "/api/events",
            content=jsonl(history()),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert posted.status_code == 200
        assert http.get("/api/cases/KC-G").status_code == 200
        listed = http.get("/api/audit").json()["reads"]
    assert [(r["who"], r["path"], r["case_id"]) for r in listed] == [("api-token", "api", "KC-G")]
    with AuditLog(tmp_path / "events.audit.db", create=False) as audit:
        assert [r.case_id for r in audit.reads()] == ["KC-G"]


# --- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SENDWATCH_AUDIT_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "kent.jsonl"
    path.write_bytes(jsonl(history()))
    return path


def test_sendwatch_case_records_the_operating_system_user(events_file: Path) -> None:
    result = CliRunner().invoke(cli, ["case", "KC-B", "--events", str(events_file)])
    assert result.exit_code == 0, result.output
    with AuditLog(events_file.with_name("kent.audit.db"), create=False) as audit:
        reads = audit.reads()
    assert [(r.who, r.credential, r.path, r.route, r.case_id) for r in reads] == [
        (getpass.getuser(), "os-user", "cli", "sendwatch case", "KC-B")
    ]


def test_sendwatch_case_of_an_unknown_case_records_nothing(events_file: Path) -> None:
    result = CliRunner().invoke(cli, ["case", "KC-NONE", "--events", str(events_file)])
    assert result.exit_code == 1
    assert not events_file.with_name("kent.audit.db").exists()


def test_sendwatch_audit_lists_and_filters(events_file: Path, tmp_path: Path) -> None:
    # three reads: KC-A and KC-B now, KC-A again; then one recorded as of 2026-01-05
    for case in ("KC-A", "KC-B", "KC-A"):
        result = CliRunner().invoke(cli, ["case", case, "--events", str(events_file)])
        assert result.exit_code == 0, result.output
    log = events_file.with_name("kent.audit.db")
    with AuditLog(log) as audit:
        audit.record(
            who="dashboard",
            credential="token",
            path="api",
            route="GET /api/cases/{case_id}",
            case_id="KC-C",
            at=datetime(2020, 1, 5, 9, 30, tzinfo=UTC),
        )
    db = tmp_path / "kent.db"  # sendwatch audit --db kent.db reads kent.audit.db

    def listed(*args: str) -> list[str]:
        result = CliRunner().invoke(cli, ["audit", "--db", str(db), "--format", "json", *args])
        assert result.exit_code == 0, result.output
        return [r["case_id"] for r in orjson.loads(result.stdout)["reads"]]

    assert listed() == ["KC-A", "KC-B", "KC-A", "KC-C"]
    assert listed("--case", "KC-A") == ["KC-A", "KC-A"]
    assert listed("--since", "2021-01-01") == ["KC-A", "KC-B", "KC-A"]
    assert listed("--case", "KC-C", "--since", "2020-01-05") == ["KC-C"]
    assert listed("--since", "2020-01-05T10:00:00+00:00", "--case", "KC-C") == []
    table = CliRunner().invoke(cli, ["audit", "--db", str(db)])
    assert table.exit_code == 0 and "4 reads of cases" in table.stdout
    assert "KC-B" in table.stdout and getpass.getuser() in table.stdout
    with AuditLog(log) as audit:
        assert len(audit.reads()) == 4  # listing is not a read of a case


def test_sendwatch_audit_refuses_a_missing_log_and_a_bad_since(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["audit", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2
    assert "no audit log at" in missing.output and "none.audit.db" in missing.output
    (tmp_path / "x.audit.db").touch()
    with AuditLog(tmp_path / "x.audit.db"):
        pass
    bad = CliRunner().invoke(cli, ["audit", "--db", str(tmp_path / "x.db"), "--since", "soon"])
    assert bad.exit_code == 2 and "--since: expected a date" in bad.output


# --- append-only, fsynced -----------------------------------------------------------------


def test_the_audit_table_refuses_update_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "a.audit.db"
    with AuditLog(path) as audit:
        audit.record(who="w", credential="token", path="api", route="r", case_id="KC-A")
    db = sqlite3.connect(path)  # straight to the file, not through sendwatch
    with pytest.raises(sqlite3.IntegrityError, match="append-only: a row cannot be changed"):
        db.execute("UPDATE case_reads SET who = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: a row cannot be deleted"):
        db.execute("DELETE FROM case_reads")
    db.close()
    with AuditLog(path) as audit:
        assert [(r.who, r.case_id) for r in audit.reads()] == [("w", "KC-A")]


def test_appends_are_fsynced_before_they_return(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.audit.db") as audit:
        assert audit.synchronous == 2  # FULL


def test_an_event_log_is_not_taken_for_an_audit_log(tmp_path: Path) -> None:
    EventLog(tmp_path / "events.db").close()
    with pytest.raises(AuditError, match="is not an audit log"):
        AuditLog(tmp_path / "events.db")


def test_since_is_a_day_in_utc_or_a_time_with_its_offset() -> None:
    assert parse_since("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="needs its offset"):
        parse_since("2026-01-05T09:00:00")
