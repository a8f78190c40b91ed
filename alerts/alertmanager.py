"""Delivery of alerts to Alertmanager through its v2 API (``POST /api/v2/alerts``).

Alertmanager identifies an alert by its labels, so each alert is sent with the same labels
every time: ``alertname``, ``severity``, ``team``, ``clock`` and, for a case, ``case_id``
(pseudonymous, for the on-call person to look up), the clock run's ``key`` and the order's
``step``. The annotations say what is due, when, under which regulation, and link to the case
page. A firing alert is sent again every ``resend_seconds``, each time with ``endsAt`` a few
resends ahead, so Alertmanager keeps it while sendwatch is alive; a resolved alert is sent
once with ``endsAt`` = the moment it resolved. A failed delivery is counted and retried with
backoff; it never stops the service.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from alerts.engine import UNASSIGNED, Alert, Engine, instant

BATCH = 500  # alerts per request


def payload(alert: Alert, at: datetime, valid_for: timedelta, base_url: str) -> dict[str, Any]:
    """One ``postableAlert`` of Alertmanager's v2 API."""
    f = alert.finding
    annotations = {"summary": f.summary, "description": f.description}
    if f.due is not None:
        annotations["due"] = f.due.isoformat()
    if f.regulation:
        annotations["regulation"] = f.regulation
    if f.link:
        annotations["case_page"] = f.link
    if f.case_id is not None and f.clock is not None:
        # the team's work queue for this clock: what a digest of the team's alerts links to
        query = {"clock": f.clock, "state": "overdue" if f.severity != "warning" else "due"}
        if f.team != UNASSIGNED:
            query["team"] = f.team
        annotations["team_queue"] = f"{base_url.rstrip('/')}/#queue?{urlencode(query)}"
    ends = alert.ends_at if alert.state == "resolved" and alert.ends_at else at + valid_for
    return {
        "labels": f.labels(),
        "annotations": annotations,
        "startsAt": instant(alert.starts_at),
        "endsAt": instant(ends),
        "generatorURL": f.link or f"{base_url.rstrip('/')}/#alerts",
    }


class DeliveryError(RuntimeError):
    pass


class AlertmanagerClient:
    """``POST /api/v2/alerts`` to one Alertmanager."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def post(self, alerts: list[dict[str, Any]]) -> None:
        try:
            answer = self._http.post(self.url, json=alerts)
        except httpx.HTTPError as error:
            raise DeliveryError(f"cannot reach Alertmanager at {self.url}: {error}") from None
        if answer.status_code != 200:
            raise DeliveryError(
                f"Alertmanager answered {answer.status_code}: {answer.text[:200].strip()}"
            )


class Dispatcher:
    """Sends the engine's pending alerts: at once when something changes, and every
    ``tick`` so firing alerts are re-sent before their ``endsAt``."""

    def __init__(
        self,
        engine: Engine,
        client: AlertmanagerClient,
        *,
        base_url: str,
        counts: dict[str, int] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        delivery = engine.rules.delivery
        self.engine = engine
        self.client = client
        self.base_url = base_url
        self.resend = timedelta(seconds=delivery.resend_seconds)
        self.valid_for = self.resend * delivery.valid_for_resends
        self.aggregates = delivery.aggregates
        self.counts = counts if counts is not None else {"sent": 0, "failed": 0}
        self.wall_clock = wall_clock
        self.last_error: str | None = None
        self._failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        engine.listeners.append(self._wake.set)

    def deliver(self) -> bool:
        """Send everything pending now; False if a request failed (the rest waits)."""
        at = self.wall_clock()
        pending = self.engine.pending(at, self.resend, self.aggregates)
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            try:
                self.client.post([payload(a, at, self.valid_for, self.base_url) for a in batch])
            except DeliveryError as error:
                self.counts["failed"] += len(batch)
                if self.last_error != str(error):
                    print(f"sendwatch: alerts not delivered: {error}", file=sys.stderr, flush=True)
                self.last_error = str(error)
                return False
            self.counts["sent"] += len(batch)
            self.engine.sent(batch, at)
        self.last_error = None
        return True

    def _delay(self) -> float:
        """Until the next look: a quarter of the resend interval (at most 5 s), longer after
        failures (doubling, up to the resend interval)."""
        base = min(self.resend.total_seconds() / 4, 5.0)
        if self._failures:
            return min(self.resend.total_seconds(), base * 2.0**self._failures)
        return base

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = self.deliver()
            except Exception as error:  # never let delivery take the service down
                print(f"sendwatch: alert delivery failed: {error!r}", file=sys.stderr, flush=True)
                ok = False
            self._failures = 0 if ok else min(self._failures + 1, 10)
            self._wake.wait(self._delay())
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop. What was not delivered yet is in the store: the next start sends it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()


def start_delivery(
    alertmanager: str | None, engine: Engine, *, base_url: str, counts: dict[str, int]
) -> Dispatcher | None:
    """A started ``Dispatcher`` of ``engine``'s alerts to the Alertmanager at
    ``alertmanager`` (None, and nothing started, without one); ``counts`` counts the
    deliveries by "sent" and "failed"."""
    if not alertmanager:
        return None
    dispatcher = Dispatcher(
        engine, AlertmanagerClient(alertmanager), base_url=base_url, counts=counts
    )
    dispatcher.start()
    return dispatcher


class SilencesError(RuntimeError):
    """Alertmanager's silences could not be read; the message names its address."""


def silences(
    alertmanager: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None
) -> list[dict[str, Any]]:
    """The active and pending silences (acknowledgements) of the Alertmanager at
    ``alertmanager`` (``GET /api/v2/silences``; expired ones left out), the soonest to end
    first: each with its ``id``, ``status.state``, ``matchers``, ``createdBy``, ``comment``,
    ``startsAt`` and ``endsAt`` as Alertmanager gives them."""
    url = alertmanager.rstrip("/") + "/api/v2/silences"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            answer = client.get(url)
    except httpx.HTTPError as error:
        raise SilencesError(f"cannot reach Alertmanager at {url}: {error}") from None
    if answer.status_code != 200:
        raise SilencesError(
            f"Alertmanager at {url} answered {answer.status_code}: {answer.text[:200].strip()}"
        )
    listed = answer.json()
    if not isinstance(listed, list):
        raise SilencesError(f"Alertmanager at {url} answered something other than a list")
    kept = [s for s in listed if s.get("status", {}).get("state") in ("active", "pending")]
    kept.sort(key=lambda s: (s.get("endsAt", ""), s.get("id", "")))
    return kept
