"""Real services on loopback, shared by the integration tests and the benchmarks: a free
port, a process started with its output in a log and stopped afterwards once it answers an
HTTP endpoint, a real Prometheus scraping a target, a real Alertmanager and webhooks for its
receivers, promtool, and the agreed metric names."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

# The agreed metric names (the one list): dashboards and rules may use no other.
AGREED_METRICS = frozenset(
    {
        "sendwatch_clock_completed",
        "sendwatch_clock_on_time",
        "sendwatch_clock_excepted",
        "sendwatch_clock_excepted_on_time",
        "sendwatch_clock_rate",
        "sendwatch_clock_open",
        "sendwatch_clock_overdue",
        "sendwatch_clock_due_soon",
        "sendwatch_appeals_registered",
        "sendwatch_appeals_concluded",
        "sendwatch_first_time_right_decisions",
        "sendwatch_first_time_right_overturned",
        "sendwatch_first_time_right_rate",
        "sendwatch_first_time_right_appeals_pending",
        "sendwatch_first_time_right_appeal_window_open",
        "sendwatch_out_of_education_children",
        "sendwatch_out_of_education_longest_seconds",
        "sendwatch_eotas_requested",
        "sendwatch_eotas_started",
        "sendwatch_eotas_request_to_start_median_seconds",
        "sendwatch_caseworker_cases",
        "sendwatch_caseworker_changes",
        "sendwatch_caseworker_cases_with_3_or_more",
        "sendwatch_plan_audits",
        "sendwatch_plan_audit_sections_met",
        "sendwatch_review_compliance_checked",
        "sendwatch_review_compliance_compliant",
        "sendwatch_sen_support_children",
        "sendwatch_scorecard_status",
        "sendwatch_scorecard_value",
        "sendwatch_scorecard_target",
        "sendwatch_scorecard_floor",
        "sendwatch_dead_letters_total",
        "sendwatch_events_accepted_total",
        "sendwatch_events_duplicate_total",
        "sendwatch_events_rejected_total",
        "sendwatch_events_applied",
        "sendwatch_cases",
        "sendwatch_quarantined_cases",
        "sendwatch_last_event_age_seconds",
        "sendwatch_alerts_firing",
        "sendwatch_alert_notifications_total",
        "sendwatch_consumer_lag",
        "sendwatch_worker_partitions",
    }
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def installed(*names: str, package: str) -> str:
    """The path of the first of ``names`` on PATH; the test fails if none is installed."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    pytest.fail(f"{names[0]} is not installed (Debian package: {package})")


def promtool() -> str:
    return installed("promtool", package="prometheus")


# promtool's lint findings that are excused: none (anything, or a parse error, fails).
KNOWN_LINT: set[str] = set()


def promtool_problems(text: str) -> list[str]:
    """What ``promtool check metrics`` finds in an exposition, less the known lint."""
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True
    )
    found = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    if checked.returncode not in (0, 3):  # 3: lint findings only; 1: the text did not parse
        return found or [f"promtool exited {checked.returncode}"]
    return [line for line in found if line not in KNOWN_LINT]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """The first true value ``check`` returns (tried every 0.1 s); the test fails after
    ``timeout`` seconds without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(
    what: str,
    command: Sequence[str],
    *,
    ready: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    seconds: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` started with its output in ``log``, once a GET of ``ready`` answers 200;
    stopped afterwards. Raises RuntimeError, with the log, if it exits or does not answer
    within ``seconds``."""
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited: {log.read_text()}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer in {seconds:g} s: {log.read_text()}")
            time.sleep(0.1)
        yield process
    finally:
        stop(process)


@contextmanager
def prometheus(workdir: Path, target: str, job: str) -> Iterator[str]:
    """A real Prometheus (Debian's package) scraping ``target`` (host:port) every second as
    ``job``, its data and log in ``workdir``: its URL once it is ready."""
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
            }
        ),
        encoding="utf-8",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        installed("prometheus", package="prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with serving("prometheus", command, ready=f"{url}/-/ready", log=workdir / "prometheus.log"):
        yield url


@contextmanager
def alertmanager(config: Mapping[str, Any], workdir: Path) -> Iterator[str]:
    """A real Alertmanager (Debian's package) routing by ``config``, its configuration file,
    data and log in ``workdir``: its URL once it is ready."""
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        installed("alertmanager", "prometheus-alertmanager", package="prometheus-alertmanager"),
        f"--config.file={path}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    log = workdir / "alertmanager.log"
    with serving("Alertmanager", command, ready=f"{url}/-/ready", log=log, seconds=30):
        yield url


class Receivers:
    """Alertmanager's receivers as webhooks on loopback: every notification posted to
    ``base``/<receiver>, with when it came (``time.monotonic()``) and the receiver's name."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, dict[str, Any]]] = []  # (when, receiver, body)
        self._lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receivers._lock:
                    receivers.got.append((time.monotonic(), self.path.strip("/"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, receiver: str) -> list[dict[str, Any]]:
        """The notifications sent to ``receiver``, in the order they came."""
        with self._lock:
            return [body for _, name, body in self.got if name == receiver]

    def between(self, start: float, end: float) -> list[tuple[float, str, dict[str, Any]]]:
        """The notifications that came from ``start`` to before ``end`` (monotonic)."""
        with self._lock:
            return [g for g in self.got if start <= g[0] < end]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
