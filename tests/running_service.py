"""A real ``sendwatch run`` on a free loopback port, for the service's tests, and a small
history of events that touches every kind of measure the dashboard shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.services import free_port, serving

TOKEN = "test-token-7f3a"
NOW = "2025-06-30"  # the service's frozen "now" in these tests
NDJSON_TYPE = {"Content-Type": "application/x-ndjson"}


def ev(
    event_id: str, kind: str, case: str, on: str, recorded: str | None = None, **data: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "case_id": case,
        "occurred_at": on,
        "recorded_at": recorded or f"{on}T17:00:00+01:00",
        "data": data,
    }


def history() -> list[dict[str, Any]]:
    """About forty events over eight cases, every date worked out against 2025-06-30."""
    return [
        # A: request 6 Jan; decision to assess 10 Feb (35 days, within 6 weeks); final plan
        # 19 May (133 days, within 20 weeks): both on time.
        ev("a1", "request.received", "KC-A", "2025-01-06", requested_by="parent"),
        ev("a2", "assessment.decided", "KC-A", "2025-02-10", decision="assess"),
        ev("a3", "plan.decided", "KC-A", "2025-04-14", decision="issue"),
        ev("a4", "plan.draft_issued", "KC-A", "2025-04-28"),
        ev("a5", "plan.issued", "KC-A", "2025-05-19", setting_id="URN-1"),
        ev("a6", "caseworker.assigned", "KC-A", "2025-01-07", caseworker_id="cw-1"),
        ev("a7", "caseworker.assigned", "KC-A", "2025-03-03", caseworker_id="cw-2"),
        ev(
            "a8",
            "plan.audited",
            "KC-A",
            "2025-06-02",
            section_b="met",
            section_e="not_met",
            section_f="met",
        ),
        # B: request 2 Dec 2024; decision 27 Jan (56 days: late); exception (personal
        # circumstances) on the final plan; plan 2 Jun (182 days: late, but excepted).
        ev("b1", "request.received", "KC-B", "2024-12-02", requested_by="school"),
        ev("b2", "assessment.decided", "KC-B", "2025-01-27", decision="assess"),
        ev(
            "b3",
            "exception.applied",
            "KC-B",
            "2025-03-10",
            clock="final_plan",
            ground="personal_circumstances",
            family_told=True,
        ),
        ev("b4", "plan.decided", "KC-B", "2025-04-07", decision="issue"),
        ev("b5", "plan.issued", "KC-B", "2025-06-02"),
        ev("b6", "caseworker.assigned", "KC-B", "2024-12-03", caseworker_id="cw-3"),
        # C: request 1 May: the assessment decision was due 12 June: overdue on 30 June;
        # the final plan is due 18 September: open.
        ev("c1", "request.received", "KC-C", "2025-05-01", requested_by="parent"),
        # D: request 20 June: decision due 1 August, open and not yet due within 7 days.
        ev("d1", "request.received", "KC-D", "2025-06-20", requested_by="health"),
        # E: refused 3 March (within 6 weeks of 27 January); appeal conceded 2 June.
        ev("e1", "request.received", "KC-E", "2025-01-27", requested_by="parent"),
        ev("e2", "assessment.decided", "KC-E", "2025-03-03", decision="refuse"),
        ev(
            "e3",
            "appeal.registered",
            "KC-E",
            "2025-04-01",
            appeal_id="ap-1",
            against="refusal_to_assess",
        ),
        ev("e4", "appeal.concluded", "KC-E", "2025-06-02", appeal_id="ap-1", outcome="conceded"),
        # F: contact on Monday 23 June answered by a person on Wednesday 25 June (day 2);
        # another on Tuesday 24 June answered only automatically: still open, due 1 July.
        ev("f1", "contact.received", "KC-F", "2025-06-23", contact_id="m1", channel="email"),
        ev("f2", "contact.responded", "KC-F", "2025-06-25", contact_id="m1", automated=False),
        ev("f3", "contact.received", "KC-F", "2025-06-24", contact_id="m2", channel="phone"),
        ev("f4", "contact.responded", "KC-F", "2025-06-24", contact_id="m2", automated=True),
        # G: out of education since 1 May (60 days on 30 June); EOTAS asked 5 May.
        ev("g1", "education.lost", "KC-G", "2025-05-01", reason="no_suitable_placement"),
        ev("g2", "eotas.requested", "KC-G", "2025-05-05"),
        # H: on SEN support at a school since March; its annual review checked compliant.
        ev("h1", "sen_support.started", "KC-H", "2025-03-01", setting_id="URN-2"),
        ev(
            "h2",
            "review.compliance_checked",
            "KC-H",
            "2025-04-15",
            setting_id="URN-2",
            compliant=True,
            failures=[],
        ),
        # recorded late: occurred in May, known only on 29 June (as-at questions see this)
        ev(
            "h3",
            "sen_support.started",
            "KC-I",
            "2025-05-20",
            "2025-06-29T10:00:00+01:00",
            setting_id="URN-3",
        ),
    ]


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events) + b"\n"


@dataclass
class RunningService:
    url: str
    db: Path
    process: subprocess.Popen[bytes]

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def alerts_judged(self, seconds: float = 30) -> dict[str, Any]:
        """Wait until the alert process has judged everything the log holds (``/healthz``);
        returns that answer. Fails if it has not within ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            health: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=10).json()
            if not health["alerts_pending"]:
                return health
            assert time.monotonic() < deadline, f"alerts not judged in {seconds} s: {health}"
            time.sleep(0.05)


def sendwatch_run_command(db: Path, port: int, now: str = NOW, *more: str) -> list[str]:
    """The command line of ``sendwatch run`` over ``db`` on loopback ``port`` (an empty log
    is made if there is none)."""
    command = [sys.executable, "-m", "sendwatch.cli", "run", "--db", str(db)]
    return [*command, "--port", str(port), "--now", now, *more]


@contextmanager
def running_service(
    db: Path,
    *,
    now: str = NOW,
    extra_env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[RunningService]:
    """``sendwatch run`` on a free port; fails loudly if it does not answer in 60 s."""
    port = free_port()
    env = {**os.environ, "SENDWATCH_API_TOKEN": TOKEN, **(extra_env or {})}
    url = f"http://127.0.0.1:{port}"
    with serving(
        "sendwatch run",
        sendwatch_run_command(db, port, now, *extra_args),
        ready=f"{url}/healthz",
        log=db.with_suffix(f".{port}.log"),
        env=env,
    ) as process:
        yield RunningService(url, db, process)
