"""The one place that maps measures to Prometheus: a custom collector read at scrape time.

A service (the embedded one, or a Kafka worker) builds an ``Exposition`` from its projection
state when Prometheus scrapes, and ``ExpositionCollector`` turns it into the metric families
of the agreed list. Nothing is pushed from elsewhere; labels come only from small fixed sets
(clock, window, outcome, severity, point, ...), never a case id or a setting id.

Windows: clocks completed in the 7 or 28 days ending today (today included), and "12m", the
contract's default period (``Period.default(now)``). Open, overdue and due-soon counts, and
everything that is not about completed clocks, do not depend on the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.rules import SEVERITIES
from observability.health import Health
from projections import Period
from projections.law import APPEAL_AGAINST, APPEAL_OUTCOMES, CLOCK_IDS
from projections.measures import CLOCK_FIELDS, windows
from projections.scorecard import POINTS, Point, scorecard_json

WINDOWS: tuple[str, ...] = ("7d", "28d", "12m")
RAG_CODE: dict[str, int] = {"green": 0, "amber": 1, "red": 2, "no data": -1, "not rated": -1}


@dataclass(frozen=True, slots=True)
class IngestCounters:
    """Events this process was given (``_total`` counters: they restart at 0)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Exposition:
    """What /metrics shows, read from the projection state at one moment."""

    measures: Mapping[str, Mapping[str, Any]]  # window ("7d", "28d", "12m") -> contract JSON
    scorecard: list[dict[str, Any]]  # ``scorecard_json`` of the 12-month measures
    health: Health
    counters: IngestCounters
    alerts_firing: Mapping[str, int]  # severity -> alerts now firing
    notifications: Mapping[str, int]  # "sent" / "failed" -> Alertmanager deliveries
    last_event_age: float | None  # seconds since the newest event's recorded_at
    consumer_lag: Mapping[int, int] | None = None  # Kafka worker only: partition -> messages
    partitions: int | None = None  # Kafka worker only: partitions assigned
    extra: dict[str, Any] = field(default_factory=dict)


def build_exposition(
    measures_for: Callable[[Period], Mapping[str, Any]],
    *,
    now: date,
    wall_clock: datetime,
    health: Health,
    counters: IngestCounters,
    alerts_firing: Mapping[str, int],
    notifications: Mapping[str, int],
    points: tuple[Point, ...] = POINTS,
    consumer_lag: Mapping[int, int] | None = None,
    partitions: int | None = None,
) -> Exposition:
    """An ``Exposition`` from any source's measures function (one call per window), with
    how many alerts fire by severity (``Source.firing_counts``, or ``firing_by_severity``
    of a list)."""
    by_window = {name: measures_for(period) for name, period in windows(now).items()}
    age = None
    if health.last_recorded_at is not None:
        age = max(0.0, (wall_clock - health.last_recorded_at).total_seconds())
    return Exposition(
        measures=by_window,
        scorecard=scorecard_json(by_window["12m"], points),
        health=health,
        counters=counters,
        alerts_firing=alerts_firing,
        notifications=notifications,
        last_event_age=age,
        consumer_lag=consumer_lag,
        partitions=partitions,
    )


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class ExpositionCollector(Collector):
    """Yields the agreed metric families from a fresh ``Exposition`` at every scrape."""

    def __init__(self, read: Callable[[], Exposition]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked collector: the families are read at scrape time

    def collect(self) -> Iterator[Metric]:
        x = self._read()
        yield from _clocks(x)
        yield from _appeals(x)
        yield from _outcomes(x)
        yield from _scorecard(x)
        yield from _operations(x)


def _clocks(x: Exposition) -> Iterator[Metric]:
    help_text = {
        "completed": "Clocks that stopped in the window (cancelled clocks never count).",
        "on_time": "Clocks completed in the window that stopped on or before their due date.",
        "excepted": "Clocks completed in the window that had an exception applied.",
        "excepted_on_time": "Excepted clocks completed in the window that were on time.",
    }
    for f in CLOCK_FIELDS:
        family = _gauge(f"sendwatch_clock_{f}", help_text[f], ["clock", "window"])
        for window in WINDOWS:
            for clock in CLOCK_IDS:
                family.add_metric([clock, window], x.measures[window][clock][f])
        yield family
    year = x.measures["12m"]
    rate = _gauge(
        "sendwatch_clock_rate",
        "Share of clocks completed in the window that were on time (absent when none).",
        ["clock", "window", "exceptions"],
    )
    for clock in CLOCK_IDS:
        for exceptions, key in (
            ("included", "rate_incl_exceptions"),
            ("excluded", "rate_excl_exceptions"),
        ):
            value = year[clock][key]
            if value is not None:
                rate.add_metric([clock, "12m", exceptions], value)
    yield rate
    for name, key, text in (
        ("open", "open", "Clocks running now."),
        ("overdue", "overdue", "Open clocks past their due date, not excepted."),
        ("due_soon", "due_within_7_days", "Open clocks due within 7 days, not excepted."),
    ):
        family = _gauge(f"sendwatch_clock_{name}", text, ["clock"])
        for clock in CLOCK_IDS:
            family.add_metric([clock], year[clock][key])
        yield family


def _appeals(x: Exposition) -> Iterator[Metric]:
    appeals = x.measures["12m"]["appeals"]
    registered = _gauge(
        "sendwatch_appeals_registered", "Appeals registered in the 12 months.", ["against"]
    )
    concluded = _gauge(
        "sendwatch_appeals_concluded",
        "Appeals concluded in the 12 months, by outcome.",
        ["against", "outcome"],
    )
    for against in APPEAL_AGAINST:
        registered.add_metric([against], appeals[against]["registered"])
        for outcome in APPEAL_OUTCOMES:
            concluded.add_metric([against, outcome], appeals[against][outcome])
    yield registered
    yield concluded


def _single(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    family = _gauge(name, documentation, [])
    if value is not None:
        family.add_metric([], value)
    yield family


def _seconds(days: float | None) -> float | None:
    """Days in Prometheus's base unit (``promtool check metrics`` refuses a ``_days`` name)."""
    return None if days is None else days * 86400


def _outcomes(x: Exposition) -> Iterator[Metric]:
    m = x.measures["12m"]
    ftr, edu, cw = m["first_time_right"], m["education"], m["caseworkers"]
    quality, review = m["plan_quality"], m["review_compliance"]
    singles: tuple[tuple[str, str, float | None], ...] = (
        (
            "sendwatch_first_time_right_decisions",
            "Appealable decisions made in the 12 months.",
            ftr["decisions"],
        ),
        (
            "sendwatch_first_time_right_overturned",
            "Of those decisions, how many the LA later conceded or lost.",
            ftr["overturned"],
        ),
        (
            "sendwatch_first_time_right_rate",
            "1 - overturned / decisions (absent when no decisions).",
            ftr["rate"],
        ),
        (
            "sendwatch_first_time_right_appeals_pending",
            "Of those decisions, how many have an appeal registered and not yet concluded.",
            ftr["appeals_pending"],
        ),
        (
            "sendwatch_first_time_right_appeal_window_open",
            "Of those decisions, how many a family may still appeal (within 2 months, none yet).",
            ftr["appeal_window_open"],
        ),
        (
            "sendwatch_out_of_education_children",
            "Children without suitable education now.",
            edu["out_of_education_now"],
        ),
        (
            "sendwatch_out_of_education_longest_seconds",
            "Longest current spell without suitable education (whole days, in seconds).",
            edu["longest_days_out"] * 86400,
        ),
        ("sendwatch_eotas_requested", "EOTAS requests in the 12 months.", edu["eotas_requested"]),
        (
            "sendwatch_eotas_started",
            "EOTAS packages started in the 12 months.",
            edu["eotas_started"],
        ),
        (
            "sendwatch_eotas_request_to_start_median_seconds",
            "Median time from EOTAS request to start, over starts in the 12 months (days, "
            "in seconds).",
            _seconds(edu["median_days_request_to_start"]),
        ),
        ("sendwatch_caseworker_cases", "Cases with a caseworker in the 12 months.", cw["cases"]),
        (
            "sendwatch_caseworker_changes",
            "Changes of caseworker in the 12 months.",
            cw["changes"],
        ),
        (
            "sendwatch_caseworker_cases_with_3_or_more",
            "Cases with 3 or more caseworkers in the 12 months.",
            cw["cases_with_3_or_more"],
        ),
        ("sendwatch_plan_audits", "Plans audited in the 12 months.", quality["audited"]),
        (
            "sendwatch_review_compliance_checked",
            "Annual reviews checked for compliance in the 12 months.",
            review["checked"],
        ),
        (
            "sendwatch_review_compliance_compliant",
            "Of those checks, how many found the review compliant.",
            review["compliant"],
        ),
        (
            "sendwatch_sen_support_children",
            "Children on SEN support now.",
            m["sen_support"]["open_now"],
        ),
    )
    for name, text, value in singles:
        yield from _single(name, text, value)
    sections = _gauge(
        "sendwatch_plan_audit_sections_met",
        "Audited plans whose section met the standard, in the 12 months.",
        ["section"],
    )
    for section in ("b", "e", "f"):
        sections.add_metric([section], quality[f"section_{section}_met"])
    yield sections


def _scorecard(x: Exposition) -> Iterator[Metric]:
    status = _gauge(
        "sendwatch_scorecard_status",
        "Petition point status: 0 green, 1 amber, 2 red, -1 no data or not rated.",
        ["point"],
    )
    value = _gauge("sendwatch_scorecard_value", "Petition point value (12 months).", ["point"])
    target = _gauge("sendwatch_scorecard_target", "Petition point target.", ["point"])
    floor = _gauge("sendwatch_scorecard_floor", "Petition point floor standard.", ["point"])
    for item in x.scorecard:
        point = [str(item["point"])]
        status.add_metric(point, RAG_CODE[item["rag"]])
        for family, key in ((value, "value"), (target, "target"), (floor, "floor")):
            if item[key] is not None:
                family.add_metric(point, item[key])
    yield from (status, value, target, floor)


def _operations(x: Exposition) -> Iterator[Metric]:
    h = x.health
    for name, text, total in (
        (
            "sendwatch_dead_letters",
            "Dead letters stored (input that failed validation).",
            h.dead_letters,
        ),
        ("sendwatch_events_accepted", "Events accepted by this process.", x.counters.accepted),
        (
            "sendwatch_events_duplicate",
            "Duplicate events ignored by this process.",
            x.counters.duplicates,
        ),
        ("sendwatch_events_rejected", "Events rejected by this process.", x.counters.rejected),
    ):
        yield CounterMetricFamily(name, text, value=total)
    yield from _single("sendwatch_events_applied", "Events applied by the projections.", h.events)
    yield from _single("sendwatch_cases", "Cases known to the projections.", h.cases)
    yield from _single(
        "sendwatch_quarantined_cases",
        "Cases set aside because the projections could not fold them (GET /api/quarantine).",
        len(h.quarantined),
    )
    yield from _single(
        "sendwatch_last_event_age_seconds",
        "Seconds since the newest event's recorded_at (absent before the first event).",
        x.last_event_age,
    )
    firing = _gauge("sendwatch_alerts_firing", "Alerts firing now, by severity.", ["severity"])
    for severity in SEVERITIES:
        firing.add_metric([severity], x.alerts_firing.get(severity, 0))
    yield firing
    sent = CounterMetricFamily(
        "sendwatch_alert_notifications",
        "Alert notifications to Alertmanager, by result.",
        labels=["result"],
    )
    for result in ("sent", "failed"):
        sent.add_metric([result], x.notifications.get(result, 0))
    yield sent
    if x.consumer_lag is not None:
        lag = _gauge("sendwatch_consumer_lag", "Messages behind the high watermark.", ["partition"])
        for partition, behind in sorted(x.consumer_lag.items()):
            lag.add_metric([str(partition)], behind)
        yield lag
    if x.partitions is not None:
        yield from _single(
            "sendwatch_worker_partitions", "Partitions assigned to this worker.", x.partitions
        )
