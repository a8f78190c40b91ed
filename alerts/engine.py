"""Alert evaluation and lifecycle: rules over the projector's state, at a given day and time.

Evaluation is pure: ``case_findings`` judges one case's open clocks on a day ``now``;
``aggregate_findings`` judges the measures of the rules' windows, the dead letters, the cases
set aside by the projections and the newest event's age at a wall-clock moment ``at``. A
``Finding`` is a condition that holds, with a stable fingerprint: the rule, the case, the
clock, the clock run's key and (for a tribunal order) the step.

``Engine`` keeps the lifecycle. An alert fires once, when its fingerprint first holds
(``startsAt`` = that moment); stays firing, unchanged, while it holds; and resolves
(``endsAt`` = that moment) when it no longer does: the clock stopped, was excepted or
cancelled, or its event was retracted. If the condition holds again later, that is a new
firing. Evaluation is driven by events (only the cases a batch touched are judged again) and
by time (when the day changes every case is judged again, so a clock becomes overdue at
midnight with no new event). With a store, every change is saved before it is announced, so a
restarted service finds its alerts again: the same fingerprints, the same ``startsAt``.
"""

from __future__ import annotations

import heapq
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any, Protocol

from alerts.rules import (
    CASES_QUARANTINED,
    DEAD_LETTERS,
    INGEST_STALLED,
    OVERDUE_CLOCKS,
    RATE_BELOW_FLOOR,
    RATE_BELOW_TARGET,
    RATE_BUDGET_BURN,
    SEVERITIES,
    CaseRule,
    RuleSet,
)
from events.envelope import LONDON
from projections import CaseFile, Clock
from projections.law import CLOCK_IDS, CLOCKS, ORDER_DEADLINES
from projections.measures import windows as window_periods
from projections.reading import ProjectionReader
from projections.scorecard import POINTS, Point

QUARANTINED_NAMED = 10  # case ids a CasesQuarantined alert names (GET /api/quarantine has all)
RESOLVED_KEPT = timedelta(hours=24)  # resolved alerts stay listed (and deliverable) this long
PRUNE_EVERY = timedelta(minutes=1)  # how often resolved alerts past RESOLVED_KEPT are dropped
SEVERITY_RANK = {"page": 0, "critical": 1, "warning": 2}
UNASSIGNED = "unassigned"  # the team and caseworker of a case no caseworker.assigned names
Measures = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's condition that holds now, with everything a person needs to act on it."""

    fingerprint: str
    alertname: str
    severity: str
    team: str  # a case's: its caseworker's team (``UNASSIGNED`` if none); else the rule's
    summary: str
    description: str
    clock: str | None = None
    case_id: str | None = None  # pseudonymous; never a metric label
    caseworker: str | None = None  # a case's: pseudonymous staff id, or ``UNASSIGNED``
    key: str | None = None  # the clock run (request event, order id, contact id)
    step: str | None = None  # tribunal orders: "final" or the interim step
    due: date | None = None
    regulation: str | None = None
    link: str | None = None
    window: str | None = None  # rates: "12m"; burn rates: "28d/7d"
    value: float | None = None
    threshold: float | None = None

    def labels(self) -> dict[str, str]:
        """Alertmanager's identity and routing labels (no text that changes)."""
        labels = {"alertname": self.alertname, "severity": self.severity, "team": self.team}
        for name in ("caseworker", "clock", "case_id", "key", "step", "window"):
            value = getattr(self, name)
            if value is not None:
                labels[name] = value
        return labels


@dataclass(slots=True)
class Alert:
    finding: Finding
    state: str  # "firing" or "resolved"
    starts_at: datetime
    ends_at: datetime | None = None
    sent_at: datetime | None = None  # last delivery of the current state (not persisted)
    delivered: bool = False  # resolved: the resolution reached Alertmanager

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint

    def to_json(self) -> dict[str, Any]:
        f = self.finding
        return {
            "fingerprint": f.fingerprint,
            "alertname": f.alertname,
            "severity": f.severity,
            "state": self.state,
            "team": f.team,
            "caseworker": f.caseworker,
            "clock": f.clock,
            "case_id": f.case_id,
            "key": f.key,
            "step": f.step,
            "due": f.due.isoformat() if f.due else None,
            "regulation": f.regulation,
            "summary": f.summary,
            "description": f.description,
            "link": f.link,
            "window": f.window,
            "value": f.value,
            "threshold": f.threshold,
            "startsAt": instant(self.starts_at),
            "endsAt": instant(self.ends_at) if self.ends_at else None,
            "delivered": self.delivered,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Alert:
        due = body.get("due")
        finding = Finding(
            fingerprint=body["fingerprint"],
            alertname=body["alertname"],
            severity=body["severity"],
            team=body["team"],
            summary=body["summary"],
            description=body["description"],
            clock=body.get("clock"),
            case_id=body.get("case_id"),
            caseworker=body.get("caseworker"),
            key=body.get("key"),
            step=body.get("step"),
            due=date.fromisoformat(due) if due else None,
            regulation=body.get("regulation"),
            link=body.get("link"),
            window=body.get("window"),
            value=body.get("value"),
            threshold=body.get("threshold"),
        )
        ends = body.get("endsAt")
        return cls(
            finding,
            body["state"],
            datetime.fromisoformat(body["startsAt"]),
            datetime.fromisoformat(ends) if ends else None,
            delivered=bool(body.get("delivered", False)),
        )


def instant(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second (what is stored is what is sent, after a restart too)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=4096)  # a few hundred distinct due dates, formatted thousands of times
def long_date(day: date) -> str:
    """British style: Wednesday 21 May 2025."""
    return f"{day:%A} {day.day} {day:%B %Y}"


# --- per-case evaluation (pure) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseJudge:
    """The per-case rules prepared for speed: rules by clock, each with its horizon."""

    rules: RuleSet
    link: str  # the case link pattern with the base URL filled in, "{case_id}" left
    by_clock: dict[str, tuple[CaseRule, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: RuleSet, base_url: str) -> CaseJudge:
        link = rules.delivery.case_link.replace("{base_url}", base_url.rstrip("/"))
        by_clock = {
            clock: tuple(r for r in rules.cases if clock in r.clocks) for clock in CLOCK_IDS
        }
        return cls(rules, link, {c: rs for c, rs in by_clock.items() if rs})


def case_findings(
    case: CaseFile, now: date, judge: CaseJudge, known: Mapping[str, Alert] | None = None
) -> list[Finding]:
    """Every per-case rule that holds for this case's open, non-excepted clocks on ``now``.

    ``known``: the alerts already kept, by fingerprint; a firing one with the same due date
    has the same finding, which is reused rather than written again (a case touched by a
    new event keeps most of its findings)."""
    found: list[Finding] = []
    by_clock = judge.by_clock
    who: tuple[str, str | None] | None = None  # the case's caseworker and team, when needed
    for run in case.clocks:
        if run.stop is not None or run.cancelled is not None or run.excepted:
            continue
        rules = by_clock.get(run.clock)
        if rules is None:
            continue
        for rule in rules:
            soon = now + timedelta(days=rule.within_days)
            if _holds(rule, run.due, now, soon):
                who = who or assignment(case)
                found.append(
                    _case_finding(case.case_id, run, rule, judge, None, run.due, who, known)
                )
            if rule.interim and run.kind is not None:
                interim = run.interim()
                if (
                    interim is not None
                    and interim[2] is None
                    and _holds(rule, interim[1], now, soon)
                ):
                    who = who or assignment(case)
                    found.append(
                        _case_finding(
                            case.case_id, run, rule, judge, interim[0], interim[1], who, known
                        )
                    )
    return found


def assignment(case: CaseFile) -> tuple[str, str | None]:
    """(caseworker, team) of the case's latest ``caseworker.assigned``, as the fold keeps
    them (``data.caseworker_id`` and the optional ``data.team``); (``UNASSIGNED``, None) when
    the case has had none."""
    return case.caseworker or UNASSIGNED, case.team or None


def _holds(rule: CaseRule, due: date, now: date, soon: date) -> bool:
    if rule.when == "overdue":
        return due < now
    return now <= due <= soon


def _case_finding(
    case_id: str,
    run: Clock,
    rule: CaseRule,
    judge: CaseJudge,
    step: str | None,
    due: date,
    who: tuple[str, str | None],
    known: Mapping[str, Alert] | None = None,
) -> Finding:
    order = ORDER_DEADLINES.get(run.kind or "")
    if order is not None and step is None:
        step = "final"
    fingerprint = f"{rule.name}:{case_id}:{run.clock}:{run.key}:{step or ''}"
    caseworker, team = who[0], who[1] or rule.team or UNASSIGNED
    alert = None if known is None else known.get(fingerprint)
    if (
        alert is not None
        and alert.state == "firing"
        and alert.finding.due == due
        and alert.finding.team == team
        and alert.finding.caseworker == caseworker
    ):
        return alert.finding
    law = CLOCKS[run.clock]
    if order is not None and step is not None:
        what = (order.interim_what or order.what) if step != "final" else order.what
        subject = f"Tribunal order {run.key} ({run.kind})"
        if step != "final":
            subject += f", {step} step"
    else:
        what, subject = law.stops, law.title
    link = judge.link.replace("{case_id}", case_id)
    overdue = rule.when == "overdue"
    summary = f"{case_id}: {subject} {'overdue' if overdue else 'due soon'}: due {due:%d %b %Y}"
    description = (
        f"{subject} for case {case_id} {'was' if overdue else 'is'} due on {long_date(due)}"
        f"{', and has not happened' if overdue else ''}. What must happen: {what}. "
        f"Started on {long_date(run.start)} ({law.starts}). "
        f"Under {run.citation}. Case page: {link}"
    )
    return Finding(
        fingerprint=fingerprint,
        alertname=rule.name,
        severity=rule.severity,
        team=team,
        summary=summary,
        description=description,
        clock=run.clock,
        case_id=case_id,
        caseworker=caseworker,
        key=run.key,
        step=step,
        due=due,
        regulation=run.citation,
        link=link,
    )


# --- aggregate evaluation (pure) ------------------------------------------------------------


def needed_windows(rules: RuleSet) -> set[str]:
    """The windows whose measures the aggregate rules read ("12m" always: overdue counts)."""
    needed = {"12m"}
    needed.update(r.window for r in rules.rates)
    for burn in rules.burn_rates:
        for w in burn.windows:
            needed.update((w.long, w.short))
    return needed


def _ratio(m: Measures, excluded: bool) -> tuple[float | None, int]:
    """(on-time share, its denominator) from the counts, as the Prometheus rules compute it."""
    completed, on_time = m["completed"], m["on_time"]
    if excluded:
        completed -= m["excepted"]
        on_time -= m["excepted_on_time"]
    return (None if completed <= 0 else on_time / completed), completed


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def aggregate_findings(
    rules: RuleSet,
    measures: Mapping[str, Measures],
    *,
    dead_letters: int,
    last_recorded: datetime | None,
    at: datetime,
    points: tuple[Point, ...] = POINTS,
    quarantined: Sequence[str] = (),
) -> list[Finding]:
    """The aggregate rules over the measures of each window (``measures["12m"]`` etc.);
    ``quarantined``: the ids of the cases the projections set aside."""
    found: list[Finding] = []
    for rule in rules.rates:
        target, floor = rule.standard(points)
        m = measures[rule.window][rule.clock]
        rate, denominator = _ratio(m, rule.exceptions == "excluded")
        if rate is None or denominator < rule.min_completed or rate >= target:
            continue
        red = floor is not None and rate < floor
        title = CLOCKS[rule.clock].title
        found.append(
            Finding(
                fingerprint=f"{RATE_BELOW_FLOOR if red else RATE_BELOW_TARGET}:{rule.clock}:"
                f"{rule.exceptions}:{rule.window}",
                alertname=RATE_BELOW_FLOOR if red else RATE_BELOW_TARGET,
                severity="critical" if red else "warning",
                team=rules.team_of(rule),
                summary=f"{title}: {_pct(rate)} on time over {rule.window}, "
                + (f"below the floor of {_pct(floor or 0)}" if red else f"below {_pct(target)}"),
                description=f"{title}: {_pct(rate)} of {denominator} clocks completed in the "
                f"{rule.window} window were on time (exceptions {rule.exceptions}). "
                f"Target {_pct(target)}"
                + (f", floor {_pct(floor)}" if floor is not None else "")
                + (": red, below the floor standard." if red else ": amber, target not met.")
                + f" Under {CLOCKS[rule.clock].citation}.",
                clock=rule.clock,
                regulation=CLOCKS[rule.clock].citation,
                window=rule.window,
                value=round(rate, 4),
                threshold=floor if red else target,
            )
        )
    for burn in rules.burn_rates:
        target, _ = burn.standard(points)
        budget = 1 - target
        excluded = burn.exceptions == "excluded"
        title = CLOCKS[burn.clock].title
        for w in burn.windows:
            long_rate, long_n = _ratio(measures[w.long][burn.clock], excluded)
            short_rate, _ = _ratio(measures[w.short][burn.clock], excluded)
            if long_rate is None or short_rate is None or long_n < burn.min_completed:
                continue
            long_burn, short_burn = (1 - long_rate) / budget, (1 - short_rate) / budget
            if long_burn <= w.factor or short_burn <= w.factor:
                continue
            windows = f"{w.long}/{w.short}"
            found.append(
                Finding(
                    fingerprint=f"{RATE_BUDGET_BURN}:{burn.clock}:{burn.exceptions}:{windows}:"
                    f"{w.severity}",
                    alertname=RATE_BUDGET_BURN,
                    severity=w.severity,
                    team=rules.team_of(burn),
                    summary=f"{title}: missing {_pct(1 - long_rate)} over {w.long} and "
                    f"{_pct(1 - short_rate)} over {w.short}, {long_burn:.1f} times the budget",
                    description=f"{title}: the share missed is {long_burn:.1f} times the error "
                    f"budget ({_pct(budget)}, for a target of {_pct(target)}) over the last "
                    f"{w.long} ({long_n} completed) and {short_burn:.1f} times over the last "
                    f"{w.short}; the alert needs more than {w.factor} in both. "
                    f"Under {CLOCKS[burn.clock].citation}.",
                    clock=burn.clock,
                    regulation=CLOCKS[burn.clock].citation,
                    window=windows,
                    value=round(long_burn, 4),
                    threshold=w.factor,
                )
            )
    year = measures["12m"]
    for over in rules.overdue:
        clocks = (over.clock,) if over.clock else CLOCK_IDS
        count = sum(year[c]["overdue"] for c in clocks)
        if count <= over.above:
            continue
        what = CLOCKS[over.clock].title if over.clock else "All clocks"
        found.append(
            Finding(
                fingerprint=f"{OVERDUE_CLOCKS}:{over.clock or '*'}:{over.severity}",
                alertname=OVERDUE_CLOCKS,
                severity=over.severity,
                team=rules.team_of(over),
                summary=f"{what}: {count} open clocks overdue (more than {over.above})",
                description=f"{what}: {count} open clocks are past their due date and not "
                f"excepted; the alert is set for more than {over.above}.",
                clock=over.clock,
                value=float(count),
                threshold=float(over.above),
            )
        )
    dead = rules.dead_letters
    if dead is not None and dead_letters > dead.above:
        found.append(
            Finding(
                fingerprint=f"{DEAD_LETTERS}:{dead.severity}",
                alertname=DEAD_LETTERS,
                severity=dead.severity,
                team=rules.team_of(dead),
                summary=f"{dead_letters} events rejected and waiting in the dead-letter store",
                description=f"{dead_letters} input lines failed validation and are kept in the "
                "dead-letter store with the reason; their events are not counted until they "
                "are corrected and sent again.",
                value=float(dead_letters),
                threshold=float(dead.above),
            )
        )
    aside = rules.quarantined
    if aside is not None and len(quarantined) > aside.above:
        n = len(quarantined)
        named = ", ".join(quarantined[:QUARANTINED_NAMED])
        if n > QUARANTINED_NAMED:
            named += f" and {n - QUARANTINED_NAMED} more"
        cases, its, it_is = ("case", "its", "it is") if n == 1 else ("cases", "their", "they are")
        found.append(
            Finding(
                fingerprint=f"{CASES_QUARANTINED}:{aside.severity}",
                alertname=CASES_QUARANTINED,
                severity=aside.severity,
                team=rules.team_of(aside),
                summary=f"{n} {cases} set aside: the projections could not fold {its} events",
                description=f"The projections raised an error folding {n} {cases} ({named}), "
                f"so {it_is} quarantined: the events are kept, but the clocks are not "
                "counted in the measures and raise no alert until the fault is fixed (a "
                "retraction of the event at fault, or a corrected version of sendwatch). "
                "Every other case carries on. GET /api/quarantine lists each case with the "
                "error and its event ids.",
                value=float(n),
                threshold=float(aside.above),
            )
        )
    stall = rules.ingest_stalled
    if stall is not None and last_recorded is not None:
        age = at - last_recorded
        if age > timedelta(hours=stall.hours):
            hours = age.total_seconds() / 3600
            found.append(
                Finding(
                    fingerprint=f"{INGEST_STALLED}:{stall.severity}",
                    alertname=INGEST_STALLED,
                    severity=stall.severity,
                    team=rules.team_of(stall),
                    summary=f"No event recorded for {hours:.0f} hours",
                    description=f"The newest event was recorded at {instant(last_recorded)}, "
                    f"{hours:.0f} hours ago (the alert is set for {stall.hours:g} hours): check "
                    "the feeds from the council's systems.",
                    value=round(age.total_seconds()),
                    threshold=stall.hours * 3600,
                )
            )
    return found


# --- lifecycle --------------------------------------------------------------------------------


ListingKey = tuple[bool, bool, int, str, str, str]
NEVER_DUE = "9999-12-31"  # sorts after every ISO date


def listing_order(alert: Alert) -> ListingKey:
    """Where an alert comes in ``GET /api/alerts``: firing first; the alerts about the whole
    service (rates, counts, dead letters, quarantine, a stalled feed: a dozen at most) before
    the thousands about one case, so the first page shows them; the gravest first, the soonest
    due first."""
    f = alert.finding
    due = f.due.isoformat() if f.due else None
    return _listing_key(alert.state, f.severity, due, f.case_id, f.fingerprint)


def listing_key(body: Mapping[str, Any]) -> ListingKey:
    """``listing_order`` of an alert's JSON (``Alert.to_json``)."""
    return _listing_key(
        body["state"], body["severity"], body.get("due"), body.get("case_id"), body["fingerprint"]
    )


def _listing_key(
    state: str, severity: str, due: str | None, case_id: str | None, fingerprint: str
) -> ListingKey:
    return (
        state != "firing",
        case_id is not None,
        SEVERITY_RANK.get(severity, 9),
        due or NEVER_DUE,
        case_id or "",
        fingerprint,
    )


def in_listing_order(
    entries: Collection[tuple[ListingKey, dict[str, Any]]], limit: int | None = None
) -> list[dict[str, Any]]:
    """The alerts' JSON of (``listing_order`` key, JSON) entries, in that order; only the
    first ``limit`` if given (without sorting them all)."""
    if limit is not None and limit < len(entries):
        return [body for _, body in heapq.nsmallest(limit, entries, key=itemgetter(0))]
    return [body for _, body in sorted(entries, key=itemgetter(0))]


class AlertStore(Protocol):
    """Where alerts outlive the process (``alerts.store.SqliteAlertStore``)."""

    def load(self) -> list[Alert]: ...

    def save(self, alerts: Iterable[Alert], forget: Iterable[str] = ()) -> None: ...


@dataclass(frozen=True, slots=True)
class Changes:
    fired: list[Alert]
    resolved: list[Alert]


class Engine:
    """The alerts of one service: evaluated, kept, saved, and handed to delivery.

    Thread-safe. ``listeners`` are called (outside the lock) after a change.
    """

    def __init__(
        self,
        rules: RuleSet,
        *,
        base_url: str = "http://127.0.0.1:8000",
        points: tuple[Point, ...] = POINTS,
        store: AlertStore | None = None,
    ) -> None:
        self.rules = rules
        self.points = points
        self.judge = CaseJudge.of(rules, base_url)
        self.store = store
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.RLock()
        self._alerts: dict[str, Alert] = {}
        self._by_case: dict[str, set[str]] = {}  # firing per-case fingerprints by case
        self._aggregates: set[str] = set()  # firing aggregate fingerprints
        self._dirty: set[str] = set()
        # each alert's place in the listing and its JSON, until it changes
        self._json: dict[str, tuple[ListingKey, dict[str, Any]]] = {}
        self._listing: list[dict[str, Any]] | None = None  # ``active()``, until a change
        self._forget: set[str] = set()
        self._day: date | None = None  # the day every case was last judged on
        self._pruned: datetime | None = None  # when resolved alerts were last pruned
        self._saving = threading.Lock()
        if store is not None:
            for alert in store.load():
                self._remember(alert)

    def _remember(self, alert: Alert) -> None:
        self._alerts[alert.fingerprint] = alert
        if alert.state != "firing":
            return
        case_id = alert.finding.case_id
        if case_id is None:
            self._aggregates.add(alert.fingerprint)
        else:
            self._by_case.setdefault(case_id, set()).add(alert.fingerprint)

    # --- evaluation -------------------------------------------------------------------

    @property
    def day(self) -> date | None:
        """The day every case was last judged on (None before the first ``update``)."""
        return self._day

    def begin_day(self, now: date) -> set[str]:
        """Judge day ``now`` case by case instead of in one ``update`` pass (a caller that
        judges every case in slices, with ``update(cases=...)``, between which it serves
        requests): the day is set, and the cases with firing per-case alerts are returned,
        to be judged with every other case (one gone from the projections is resolved).
        Findings are reused as in any ``update`` of some cases, so only an engine without
        stored alerts of an earlier process should judge a day this way."""
        with self._lock:
            self._day = now
            return set(self._by_case)

    def update(
        self,
        projector: ProjectionReader,
        now: date,
        at: datetime,
        *,
        dead_letters: int = 0,
        cases: Iterable[str] | None = None,
        save: bool = True,
        aggregates: bool = True,
    ) -> Changes:
        """Judge the rules on day ``now`` at moment ``at``.

        ``cases``: the cases whose events changed (judged again); ``None`` means only that
        time has passed, and every case is judged again when ``now`` is a new day. The
        aggregate rules are judged every time, unless ``aggregates`` is False (a caller
        judging many cases in slices judges them with the last). ``save`` False leaves the
        changes for the next ``save`` (the service saves every second, off the request's
        path).
        """
        with self._lock:
            if self._day != now:
                # every finding written afresh (the rules or the base URL may have changed
                # since the stored alerts were written); the cases of a batch reuse them
                judged: dict[str, list[Finding]] = {
                    case.case_id: case_findings(case, now, self.judge)
                    for case in projector.case_files(now, keep=False)  # none kept for it
                }
                stale = set(self._by_case) - set(judged)
                judged.update((case_id, []) for case_id in stale)
                self._day = now
            else:
                judged = {}
                for case_id in cases or ():
                    case = projector.case_file(case_id, now)
                    judged[case_id] = (
                        [] if case is None else case_findings(case, now, self.judge, self._alerts)
                    )
            fired: list[Alert] = []
            resolved: list[Alert] = []
            for case_id, findings in judged.items():
                before = self._by_case.get(case_id, set())
                if not findings and not before:
                    continue
                after = self._reconcile(before, findings, at, fired, resolved)
                if after:
                    self._by_case[case_id] = after
                else:
                    self._by_case.pop(case_id, None)
            if aggregates:
                self._judge_aggregates(projector, now, at, dead_letters, fired, resolved)
            if self._pruned is None or at - self._pruned >= PRUNE_EVERY:
                self._prune(at)
                self._pruned = at
            changes = Changes(fired, resolved)
        if save:
            self.save()
        if fired or resolved:
            for listener in self.listeners:
                listener()
        return changes

    def _judge_aggregates(
        self,
        projector: ProjectionReader,
        now: date,
        at: datetime,
        dead_letters: int,
        fired: list[Alert],
        resolved: list[Alert],
    ) -> None:
        needed = needed_windows(self.rules)
        periods = window_periods(now)
        measures = {w: projector.measures(now, periods[w], None, dead_letters) for w in needed}
        # the stall is judged at ``at``, or at the end of ``now`` when that is earlier (a
        # frozen --now in the past: a demo of a past period is not a stalled feed)
        midnight = datetime.combine(now + timedelta(days=1), time(), LONDON)
        found = aggregate_findings(
            self.rules,
            measures,
            dead_letters=dead_letters,
            last_recorded=projector.last_recorded,
            at=min(at, midnight),
            points=self.points,
            quarantined=[q.case_id for q in projector.quarantined()],
        )
        self._aggregates = self._reconcile(self._aggregates, found, at, fired, resolved)

    def _reconcile(
        self,
        before: set[str],
        findings: list[Finding],
        at: datetime,
        fired: list[Alert],
        resolved: list[Alert],
    ) -> set[str]:
        after: set[str] = set()
        for finding in findings:
            fp = finding.fingerprint
            after.add(fp)
            alert = self._alerts.get(fp)
            if alert is not None and alert.state == "firing":
                if alert.finding != finding:  # the text changed (a rate moved): keep startsAt
                    alert.finding = finding
                    self._touch(fp)
                continue
            alert = Alert(finding, "firing", at)
            self._alerts[fp] = alert
            self._touch(fp)
            self._forget.discard(fp)
            fired.append(alert)
        for fp in before - after:
            alert = self._alerts[fp]
            alert.state, alert.ends_at = "resolved", at
            alert.sent_at, alert.delivered = None, False
            self._touch(fp)
            resolved.append(alert)
        return after

    def _touch(self, fp: str) -> None:
        """An alert changed: to be saved, and listed afresh."""
        self._dirty.add(fp)
        self._json.pop(fp, None)
        self._listing = None

    def _prune(self, at: datetime) -> None:
        gone = [
            fp
            for fp, a in self._alerts.items()
            if a.state == "resolved" and a.ends_at is not None and at - a.ends_at > RESOLVED_KEPT
        ]
        for fp in gone:
            del self._alerts[fp]
            self._dirty.discard(fp)
            self._json.pop(fp, None)
            self._forget.add(fp)
            self._listing = None

    def save(self) -> None:
        """Write the alerts changed since the last save to the store, if there is one.

        The changes are taken under the engine's lock, and written outside it (one save at
        a time, so an older state never overwrites a newer one): judging goes on meanwhile.
        A failed write keeps them to be written next time."""
        with self._saving:
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                forget, self._forget = self._forget, set()
                if self.store is None or not (dirty or forget):
                    return
                alerts = [replace(self._alerts[fp]) for fp in dirty]
            try:
                self.store.save(alerts, forget)
            except Exception as error:  # keep serving; the changes are saved next time
                print(f"sendwatch: could not save alerts: {error}", file=sys.stderr, flush=True)
                with self._lock:
                    self._dirty.update(fp for fp in dirty if fp in self._alerts)
                    self._forget.update(fp for fp in forget if fp not in self._alerts)

    # --- reading ----------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Firing and recently resolved alerts (copies): firing first, the gravest first."""
        with self._lock:
            listed = [replace(a) for a in self._alerts.values()]
        listed.sort(key=listing_order)
        return listed

    def active(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The JSON of ``GET /api/alerts``, in the order of ``alerts()`` (the first ``limit``
        if given). Each alert's JSON is kept until the alert changes (share it, do not
        modify it)."""
        with self._lock:
            if self._listing is None:
                keyed = []
                for fp, alert in self._alerts.items():
                    entry = self._json.get(fp)
                    if entry is None:
                        json = alert.to_json()
                        entry = self._json[fp] = (listing_key(json), json)
                    keyed.append(entry)
                if limit is not None:  # the gravest few, without sorting them all
                    return in_listing_order(keyed, limit)
                self._listing = in_listing_order(keyed)
            return self._listing[:limit]

    def firing_counts(self) -> dict[str, int]:
        """How many alerts are firing, by severity."""
        counts = dict.fromkeys(SEVERITIES, 0)
        with self._lock:
            for alert in self._alerts.values():
                if alert.state == "firing":
                    counts[alert.finding.severity] += 1
        return counts

    # --- delivery bookkeeping ---------------------------------------------------------

    def pending(self, at: datetime, resend: timedelta, deliver_aggregates: bool) -> list[Alert]:
        """Alerts to send now: firing ones not sent within ``resend``, resolutions not yet
        delivered. Copies: the engine's own records change only through ``sent``. Saved
        first: nothing is sent that a restart would not know about."""
        self.save()
        with self._lock:
            return [
                replace(a)
                for a in self._alerts.values()
                if (deliver_aggregates or a.finding.case_id is not None)
                and (
                    (a.state == "firing" and (a.sent_at is None or at - a.sent_at >= resend))
                    or (a.state == "resolved" and not a.delivered)
                )
            ]

    def sent(self, alerts: Iterable[Alert], at: datetime) -> None:
        """Record a delivery of these alerts in the state they were sent in."""
        with self._lock:
            for sent in alerts:
                alert = self._alerts.get(sent.fingerprint)
                if alert is None or alert.state != sent.state or alert.starts_at != sent.starts_at:
                    continue  # changed meanwhile: the new state is pending
                alert.sent_at = at
                if alert.state == "resolved" and not alert.delivered:
                    alert.delivered = True
                    self._touch(alert.fingerprint)
        self.save()

    def __iter__(self) -> Iterator[Alert]:
        return iter(self.alerts())
