"""The alerts of the embedded service, judged by a process of their own
(``sendwatch.alert_process``) that follows the event log: the same alerts as judging them
in the service's own process, kept in a file of their own, listed by the service as last
saved, and a process that restarts, stops with the service and never outlives it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

import alerts.store as store_module
from alerts.engine import Alert
from alerts.store import FIRST_LISTED, FORGOTTEN, SavedAlerts, SqliteAlertStore, alerts_path
from sendwatch.embedded_service import EmbeddedSource
from streams.ingest import ingest
from streams.log import EventLog, connect
from tests.running_service import NOW, history, jsonl, running_service

NDJSON = {"Content-Type": "application/x-ndjson"}
TODAY = date.fromisoformat(NOW)


def firing(alerts: list[dict[str, object]]) -> list[tuple[object, object]]:
    return sorted((a["fingerprint"], a["summary"]) for a in alerts if a["state"] == "firing")


def inline_alerts(tmp_path: Path) -> list[tuple[object, object]]:
    """The history's alerts judged in one process, as ``EmbeddedSource`` does by default."""
    with EventLog(tmp_path / "inline.db") as log:
        source = EmbeddedSource(log, frozen_now=TODAY)
        assert source.post_events(jsonl(history()), "test").accepted == len(history())
        return firing(source.alerts())


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in found.split()]


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.1)


# --- in one process: the follower and the reader -------------------------------------------


def test_a_follower_judges_what_a_writer_appended_as_the_writer_would_have(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    with EventLog(db, autocheckpoint=False) as log, EventLog(db) as followed:
        writer = EmbeddedSource(log, frozen_now=TODAY, judge_alerts=False)
        follower = EmbeddedSource(followed, frozen_now=TODAY, deferred_saves=True)
        follower.publish_status()
        assert writer.post_events(jsonl(history()), "test").accepted == len(history())
        health = writer.health().detail
        assert health["alerts_pending"] and health["alerts_judged_to"] == 0
        assert writer.alerts() == []
        assert follower.follow() == len(history())
        assert writer.alerts() == []  # nothing saved yet: the reader lists what was saved
        follower.housekeeping()
        follower.publish_status()
        assert firing(writer.alerts()) == inline_alerts(tmp_path) != []
        # the dashboard's few and counts, from what the follower said beside its saves
        said = writer.alert_store.status()
        assert said["first"] == follower.alerts(FIRST_LISTED) == writer.alerts()[:FIRST_LISTED]
        assert writer.alerts(1) == writer.alerts()[:1]
        assert said["firing"] == writer.firing_counts() == follower.firing_counts()
        assert sum(writer.firing_counts().values()) == len(firing(writer.alerts()))
        health = writer.health().detail
        assert not health["alerts_pending"]
        assert (health["alerts_judged_to"], health["alerts_judged_on"]) == (len(history()), NOW)
        assert follower.follow() == 0  # nothing new


def judged(tmp_path: Path) -> list[Alert]:
    """The history's firing alerts, judged in one process."""
    with EventLog(tmp_path / "judged.db") as log:
        source = EmbeddedSource(log, frozen_now=TODAY)
        source.post_events(jsonl(history()), "test")
        return [Alert.from_json(a) for a in source.alerts() if a["state"] == "firing"]


def test_the_reader_reads_the_alerts_again_only_after_a_save(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    (alert,) = judged(tmp_path)
    resolved = replace(alert, state="resolved", ends_at=alert.starts_at + timedelta(hours=1))
    with (
        SqliteAlertStore(connect(path)) as store,
        SqliteAlertStore(connect(path)) as other,
    ):
        reader = SavedAlerts(other)
        assert reader.active() == [] and other.saves() == 0
        store.save([alert])
        assert [(a["fingerprint"], a["state"]) for a in reader.active()] == [
            (alert.fingerprint, "firing")
        ]
        # a change that is not a save (the count of saves is the same) is not read again
        with sqlite3.connect(path) as raw:
            raw.execute("DELETE FROM alerts")
        assert len(reader.active()) == 1
        store.save([resolved])
        assert [(a["fingerprint"], a["state"]) for a in reader.active()] == [
            (alert.fingerprint, "resolved")
        ]
        assert other.saves() == 2


def test_the_reader_follows_forgotten_alerts_and_reads_everything_when_too_far_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alerts.db"
    (alert,) = judged(tmp_path)
    other = replace(alert, finding=replace(alert.finding, fingerprint="other"))
    monkeypatch.setattr(store_module, "KEEP_FORGOTTEN", 2)
    with (
        SqliteAlertStore(connect(path)) as store,
        SqliteAlertStore(connect(path)) as behind,
        SqliteAlertStore(connect(path)) as keeping_up,
    ):
        late, current = SavedAlerts(behind), SavedAlerts(keeping_up)
        store.save([alert, other])
        assert len(late.active()) == len(current.active()) == 2
        store.save([], forget=[other.fingerprint])  # save 2: "other" forgotten
        assert [a["fingerprint"] for a in current.active()] == [alert.fingerprint]
        assert store.changes(1)[2] == [(other.fingerprint, FORGOTTEN, b"")]
        assert [a.fingerprint for a in store.load()] == [alert.fingerprint]
        store.save([alert])  # save 3
        store.save([alert])  # save 4: the forgotten row (save 2) is deleted
        assert store.changes(1)[1]  # a reader at save 1 is given every alert
        assert [a["fingerprint"] for a in late.active()] == [alert.fingerprint]
        assert [a["fingerprint"] for a in current.active()] == [alert.fingerprint]


def test_the_reader_lists_the_gravest_first_and_counts_those_firing_as_saves_change_them(
    tmp_path: Path,
) -> None:
    """The dashboard asks for the first few and the counts: both follow every save, in the
    order and with the counts of the alerts as saved."""
    from alerts.engine import listing_order

    (alert,) = judged(tmp_path)
    kinds = [("page", None), ("critical", 3), ("warning", 1), ("critical", 1), ("warning", None)]
    made = {
        f"fp-{n}": replace(
            alert,
            finding=replace(
                alert.finding,
                fingerprint=f"fp-{n}",
                severity=severity,
                due=None if days is None else TODAY - timedelta(days=days + n),
            ),
        )
        for n, (severity, days) in enumerate(kinds * 3)
    }
    saved: dict[str, Alert] = {}
    with (
        SqliteAlertStore(connect(tmp_path / "alerts.db")) as store,
        SqliteAlertStore(connect(tmp_path / "alerts.db")) as other,
    ):
        reader = SavedAlerts(other)
        steps: list[tuple[list[Alert], list[str]]] = [
            (list(made.values()), []),
            (
                [replace(made["fp-1"], state="resolved"), replace(made["fp-7"], state="resolved")],
                [],
            ),
            ([], ["fp-0", "fp-1", "fp-12"]),
            ([made["fp-0"]], []),
        ]
        for changed, forgotten in steps:
            store.save(changed, forget=forgotten)
            saved.update((a.fingerprint, a) for a in changed)
            for fingerprint in forgotten:
                del saved[fingerprint]
            expected = [a.fingerprint for a in sorted(saved.values(), key=listing_order)]
            for limit in (2, None):  # the few first (before the whole list is made), then all
                listed = [a["fingerprint"] for a in reader.active(limit)]
                assert listed == expected[:limit]
            counts = {s: 0 for s in ("warning", "critical", "page")}
            for a in saved.values():
                counts[a.finding.severity] += a.state == "firing"
            assert reader.firing_counts() == counts


def test_alerts_an_earlier_version_kept_in_the_log_are_moved_to_their_own_file_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    alerts = judged(tmp_path)
    with EventLog(db) as log:  # the history, and its alerts as an earlier version kept them
        ingest(jsonl(history()).splitlines(), log, origin="test")
    with sqlite3.connect(db) as log_file:
        log_file.execute(
            "CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, state TEXT NOT NULL, "
            "body BLOB NOT NULL)"
        )
        log_file.executemany(
            "INSERT INTO alerts VALUES (?, ?, ?)",
            [(a.fingerprint, a.state, orjson.dumps(a.to_json())) for a in alerts],
        )
    with SqliteAlertStore(connect(alerts_path(db))) as store:
        assert store.adopt(db) == len(alerts)
        assert store.adopt(db) == 0  # once: the log's table is gone
        assert [a.to_json() for a in store.load()] == sorted(
            (a.to_json() for a in alerts), key=lambda a: str(a["fingerprint"])
        )
    with sqlite3.connect(db) as log_file:
        tables = {name for (name,) in log_file.execute("SELECT name FROM sqlite_master")}
    assert "alerts" not in tables and "events" in tables
    # and a service started over that log lists them with their startsAt
    with running_service(db) as service, service.client() as http:
        service.alerts_judged()
        listed = http.get("/api/alerts").json()["alerts"]
    assert {a["fingerprint"]: a["startsAt"] for a in listed if a["state"] == "firing"} == {
        a.fingerprint: a.to_json()["startsAt"] for a in alerts
    }


# --- the real service and its alert process -------------------------------------------------


def test_sendwatch_run_judges_alerts_in_its_alert_process_as_one_process_would(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    with running_service(db) as service, service.client() as http:
        (alerting,) = children(service.process.pid)
        assert http.post("/api/events", content=jsonl(history()), headers=NDJSON).is_success
        health = service.alerts_judged()
        assert (health["alerts_judged_to"], health["alerts_judged_on"]) == (len(history()), NOW)
        listed = http.get("/api/alerts").json()["alerts"]
        assert firing(listed) == inline_alerts(tmp_path) != []
        metrics = http.get("/metrics").text
        critical = sum(1 for a in listed if a["state"] == "firing" and a["severity"] == "critical")
        assert f'sendwatch_alerts_firing{{severity="critical"}} {critical:.1f}' in metrics
        assert alerting in children(service.process.pid)
    assert alerts_path(db).exists()
    with sqlite3.connect(db) as log_file:
        tables = {name for (name,) in log_file.execute("SELECT name FROM sqlite_master")}
    assert "alerts" not in tables  # the log's file holds events and dead letters only


def test_an_alert_process_that_ends_is_started_again(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with running_service(db) as service, service.client() as http:
        (first,) = children(service.process.pid)
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: children(service.process.pid) not in ([], [first]),
            30,
            "a new alert process",
        )
        assert http.post("/api/events", content=jsonl(history()), headers=NDJSON).is_success
        service.alerts_judged()
        assert firing(http.get("/api/alerts").json()["alerts"]) == inline_alerts(tmp_path)
    log = db.with_suffix(f".{service.url.rsplit(':', 1)[1]}.log").read_text()
    assert "the alert process ended (exit status -9); starting it again" in log


def test_the_alert_process_never_outlives_the_service(tmp_path: Path) -> None:
    """Killed outright, the service cannot stop it: its input closes, and it ends by itself."""
    db = tmp_path / "events.db"
    with running_service(db) as service:
        (alerting,) = children(service.process.pid)
        service.process.kill()
        service.process.wait(10)
        wait_for(lambda: not _alive(alerting), 30, "the alert process ended")


def test_ctrl_c_stops_the_service_and_its_alert_process_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with running_service(db) as service, service.client() as http:
        (alerting,) = children(service.process.pid)
        assert os.getpgid(alerting) != os.getpgid(service.process.pid)  # Ctrl-C: not to it
        assert http.post("/api/events", content=jsonl(history()), headers=NDJSON).is_success
        service.process.send_signal(signal.SIGINT)
        assert service.process.wait(60) == 0
        assert not _alive(alerting)
    with SqliteAlertStore(connect(alerts_path(db))) as store:
        assert store.status()["position"] == len(history())  # judged before it ended
        assert sorted((a.fingerprint, a.finding.summary) for a in store.load()) == (
            inline_alerts(tmp_path)
        )


def _alive(pid: int) -> bool:
    """Running (not ended, nor ended and waiting for its parent to collect it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_a_service_with_bad_rules_starts_no_alert_process(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("case_rules: [{nonsense: 1}]\n")
    db = tmp_path / "events.db"
    command = [sys.executable, "-m", "sendwatch.cli", "run", "--db", str(db)]
    run = subprocess.run(
        [*command, "--rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "error:" in run.stderr
    assert not alerts_path(db).exists()


# --- one judge per log, one serving process per log, dying with the service -----------------


def _judge(db: Path, *more: str) -> subprocess.Popen[str]:
    """An alert process started by hand over ``db`` (its input open: it runs until closed)."""
    command = [sys.executable, "-m", "sendwatch.alert_process", "--db", str(db)]
    return subprocess.Popen(
        [*command, "--base-url", "http://127.0.0.1:9", "--now", NOW, *more],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holds_the_judges_lock(db: Path) -> bool:
    from sendwatch.alert_process import take_judge_lock

    held = take_judge_lock(db, 0)
    if held is None:
        return True
    held.close()
    return False


def test_a_second_alert_judge_refuses_and_the_service_takes_over_when_the_first_ends(
    tmp_path: Path,
) -> None:
    """At most one alert judge per log (else both deliver every alert): a second one ends at
    once with one line and exit status 75; the service's own says so once, waits quietly, and
    judges as soon as the other is gone."""
    from sendwatch.alert_process import JUDGE_RUNNING

    db = tmp_path / "events.db"
    EventLog(db).close()
    first = _judge(db)
    try:
        wait_for(lambda: _holds_the_judges_lock(db), 30, "the first judge's lock")
        second = _judge(db)
        _, said = second.communicate(timeout=60)
        assert second.returncode == JUDGE_RUNNING
        assert said.strip() == (
            f"sendwatch.alert_process: another alert process is judging {db} "
            f"(it holds {alerts_path(db)}.judge.lock): this one stops"
        )
        with running_service(db) as service, service.client() as http:
            log = db.with_suffix(f".{service.url.rsplit(':', 1)[1]}.log")
            waiting = "sendwatch: another alert process is judging"
            wait_for(lambda: waiting in log.read_text(), 60, "the service saying it waits")
            assert http.post("/api/events", content=jsonl(history()), headers=NDJSON).is_success
            assert first.stdin is not None
            first.stdin.close()  # the first judge ends: the service's takes over
            assert first.wait(60) == 0
            health = service.alerts_judged(60)
            assert health["alerts_judged_to"] == len(history())
            assert firing(http.get("/api/alerts").json()["alerts"]) == inline_alerts(tmp_path)
        assert log.read_text().count(waiting) == 1  # said once, then retried quietly
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_the_alert_process_dies_with_the_service_even_while_its_input_stays_open(
    tmp_path: Path,
) -> None:
    """The kernel tells it (PR_SET_PDEATHSIG): killed outright, the service leaves no alert
    process behind to overlap a restarted one, even when nothing closes its input (here the
    test holds the input open), and its lock is free for the next judge."""
    db = tmp_path / "events.db"
    EventLog(db).close()
    read, write = os.pipe()
    parent = subprocess.Popen(  # stands for the service: starts the judge, then waits
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "judge = subprocess.Popen([sys.executable, '-m', 'sendwatch.alert_process', '--db',"
            f" {str(db)!r}, '--base-url', 'http://127.0.0.1:9', '--parent', str(os.getpid())],"
            f" stdin={read}, pass_fds=[{read}])\n"
            "print(judge.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=[read],
    )
    try:
        assert parent.stdout is not None
        judge = int(parent.stdout.readline())
        os.close(read)
        wait_for(lambda: _holds_the_judges_lock(db), 60, "the judge's lock")
        parent.kill()
        parent.wait()
        wait_for(lambda: not _alive(judge), 30, "the judge ending with its parent")
        # the kernel may let go of a dead process's flock some milliseconds after /proc
        # shows it ended (seen here): the next judge, which waits for the lock, then has it
        wait_for(lambda: not _holds_the_judges_lock(db), 30, "the judge's lock let go")
    finally:
        os.close(write)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_second_sendwatch_run_on_one_log_refuses_at_start(tmp_path: Path) -> None:
    """Two services on one log would each serve stale figures and both deliver every alert."""
    db = tmp_path / "events.db"
    with running_service(db) as service:
        port = int(service.url.rsplit(":", 1)[1]) + 1
        second = subprocess.run(
            [sys.executable, "-m", "sendwatch.cli", "run", "--db", str(db), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.strip() == (
            f"error: another sendwatch run is serving {db} (it holds {db}.run.lock): "
            "stop it first, or give another --db"
        )
        assert service.process.poll() is None  # the first serves on
        assert len(children(service.process.pid)) == 1  # and no second alert process


def test_the_service_follows_what_sendwatch_ingest_appends_to_its_live_log(
    tmp_path: Path,
) -> None:
    """Appends by another writer show on the dashboard without a restart: the service's timer
    catches up with the log every second (dead letters too)."""
    db = tmp_path / "events.db"
    events = tmp_path / "in.jsonl"
    events.write_bytes(jsonl(history()) + b"{not an event\n")
    with running_service(db) as service, service.client() as http:
        assert http.get("/api/measures").json()["dead_letters"] == 0
        ingested = subprocess.run(
            [sys.executable, "-m", "sendwatch.cli", "ingest", str(events), "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ingested.returncode == 0, ingested.stderr

        def shown() -> bool:
            health = httpx.get(f"{service.url}/healthz", timeout=10).json()
            return bool(health["events"] == len(history()) and health["dead_letters"] == 1)

        wait_for(shown, 30, "the ingested events shown by the service")
        served = http.get("/api/measures").json()
        assert served["dead_letters"] == 1
        assert service.alerts_judged()["alerts_judged_to"] == len(history())
        with EventLog.open_existing(db) as log:
            assert log.count() == len(history())
