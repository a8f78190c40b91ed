"""The service's handle on its alert process (``sendwatch.alert_process``): started by module
name, restarted if it ends, stopped by closing its input.

It lives apart from the process's main loop, which runs an ``EmbeddedSource``: the service
(``sendwatch.embedded_service``) imports this module, the alert process imports the service,
and neither imports the other back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from alerts.store import alerts_path
from streams.log import lock_beside

RESTART_SECONDS = 10.0  # at least this long between restarts of a process that ended
STOP_SECONDS = 60.0  # for its last judgement and save, once asked to stop
JUDGE_RUNNING = 75  # exit status: another alert process judges this log (EX_TEMPFAIL)
LOCK_WAIT_SECONDS = 10.0  # how long the service's alert process waits for the judge's lock


def judge_lock(db: Path) -> Path:
    """The lock that one alert process per log holds, beside its alerts."""
    return lock_beside(alerts_path(db), "judge")


class AlertProcess:
    """The service's handle on its alert process: started, restarted if it ends, stopped.

    One that refuses because another alert process judges the log (``JUDGE_RUNNING``, after
    waiting ``LOCK_WAIT_SECONDS`` for it) is said once and started again at once, quietly,
    so that it takes over when the other ends."""

    def __init__(
        self,
        db: Path,
        *,
        base_url: str,
        now: str | None,
        rules: Path | None,
        alertmanager: str | None,
    ) -> None:
        command = [sys.executable, "-m", "sendwatch.alert_process", "--db", str(db)]
        command += ["--base-url", base_url, "--parent", str(os.getpid())]
        command += ["--wait", str(LOCK_WAIT_SECONDS)]
        for flag, value in (("--now", now), ("--rules", rules), ("--alertmanager", alertmanager)):
            if value:
                command += [flag, str(value)]
        self.command = command
        self.db = db
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._waiting = False  # another alert process judges the log: said once

    def start(self) -> None:
        self._started = time.monotonic()
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, process_group=0)

    def check(self) -> None:
        """Restart the process if it has ended (at most every ``RESTART_SECONDS``)."""
        process = self._process
        if process is None or process.poll() is None:
            return
        if process.returncode == JUDGE_RUNNING:  # it waited for the lock, in vain
            if not self._waiting:
                self._waiting = True
                print(
                    f"sendwatch: another alert process is judging {self.db} (it holds "
                    f"{judge_lock(self.db)}); this service's takes over when it ends",
                    file=sys.stderr,
                    flush=True,
                )
            self.start()
            return
        self._waiting = False
        if time.monotonic() - self._started < RESTART_SECONDS:
            return
        print(
            f"sendwatch: the alert process ended (exit status {process.returncode}); "
            "starting it again",
            file=sys.stderr,
            flush=True,
        )
        self.start()

    def stop(self) -> None:
        """Close its input, then wait for its last judgement and save (killed after 60 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            print("sendwatch: the alert process did not stop: killed", file=sys.stderr)
            process.kill()
            process.wait()
