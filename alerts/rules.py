"""Alert rules as data: a YAML file the council can edit, validated with pydantic.

Two kinds of rule. Per case (``cases``): a clock due within N days, or overdue; each open,
non-excepted clock of each case is judged, and a tribunal order's interim step too. Aggregate:
a clock's rate against its target and floor (``rates``, Kent's red/amber/green), the
multi-window burn rate of a rate (``burn_rates``), counts of overdue clocks (``overdue``),
dead letters (``dead_letters``), cases set aside by the projections (``quarantined``) and a
stalled ingest (``ingest_stalled``).

The same ``RuleSet`` drives the engine (``alerts.engine``) and the generated Prometheus rules
(``observability.promrules``). ``load_rules`` raises ``RulesError`` whose message names the rule and
the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from projections.law import CLOCK_IDS
from projections.scorecard import POINTS, Point

Severity = Literal["warning", "critical", "page"]
Window = Literal["7d", "28d", "12m"]
Exceptions = Literal["included", "excluded"]
SEVERITIES: tuple[str, ...] = ("warning", "critical", "page")

# Alert names of the aggregate rules (the per-case rules name their own).
RATE_BELOW_TARGET = "RateBelowTarget"
RATE_BELOW_FLOOR = "RateBelowFloor"
RATE_BUDGET_BURN = "RateBudgetBurn"
OVERDUE_CLOCKS = "OverdueClocks"
DEAD_LETTERS = "DeadLetters"
DEAD_LETTERS_INCREASING = "DeadLettersIncreasing"
CASES_QUARANTINED = "CasesQuarantined"
INGEST_STALLED = "IngestStalled"
AGGREGATE_NAMES = frozenset(
    {
        RATE_BELOW_TARGET,
        RATE_BELOW_FLOOR,
        RATE_BUDGET_BURN,
        OVERDUE_CLOCKS,
        DEAD_LETTERS,
        DEAD_LETTERS_INCREASING,
        CASES_QUARANTINED,
        INGEST_STALLED,
    }
)


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and the field."""


def _clock(value: str) -> str:
    if value not in CLOCK_IDS:
        raise ValueError(f"unknown clock {value!r} (one of {', '.join(CLOCK_IDS)})")
    return value


ClockId = Annotated[str, AfterValidator(_clock)]
Team = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
AlertName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
Duration = Annotated[str, Field(pattern=r"^[1-9][0-9]*[smhdw]$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseRule(_Rule):
    """One alert per open, non-excepted clock of a case that the condition holds for."""

    name: AlertName
    when: Literal["due_soon", "overdue"]
    severity: Severity
    clocks: tuple[ClockId, ...] = Field(default=CLOCK_IDS, min_length=1)
    within_days: int = Field(default=7, ge=0, le=366)  # due_soon: due from today to today+N
    interim: bool = True  # tribunal orders: judge the interim step (notify, draft) too
    # the team of a case whose caseworker.assigned names none (else "unassigned"): a case's
    # alert carries its caseworker's team and the caseworker (pseudonymous staff ids)
    team: Team | None = None


class _Standard(_Rule):
    """A clock's rate with a target and a floor: from the petition point unless given."""

    clock: ClockId
    exceptions: Exceptions = "included"
    point: int | None = Field(default=None, ge=1, le=10)
    target: float | None = Field(default=None, gt=0, le=1)
    floor: float | None = Field(default=None, ge=0, le=1)
    team: Team | None = None

    @model_validator(mode="after")
    def _target_and_floor(self) -> Self:
        if self.point is None and self.target is None:
            raise ValueError("give a target (or the petition point it comes from)")
        return self

    def standard(self, points: tuple[Point, ...] = POINTS) -> tuple[float, float | None]:
        """(target, floor): the rule's own, else the petition point's."""
        target, floor = self.target, self.floor
        if self.point is not None:
            point = next(p for p in points if p.number == self.point)
            target = point.target if target is None else target
            floor = point.floor if floor is None else floor
        if target is None:
            raise RulesError(f"petition point {self.point} has no target: give one")
        return target, floor


class RateRule(_Standard):
    """Amber (``RateBelowTarget``, warning) below the target, red (``RateBelowFloor``,
    critical) below the floor, once ``min_completed`` clocks completed in the window."""

    window: Window = "12m"
    min_completed: int = Field(default=20, ge=1)


class BurnWindow(_Rule):
    long: Window
    short: Window
    factor: float = Field(gt=0)
    severity: Severity

    @model_validator(mode="after")
    def _long_is_longer(self) -> Self:
        order = {"7d": 0, "28d": 1, "12m": 2}
        if order[self.long] <= order[self.short]:
            raise ValueError(f"long window {self.long} must be longer than short {self.short}")
        return self


class BurnRateRule(_Standard):
    """The miss ratio (1 - rate) over the error budget (1 - target), above ``factor`` in both
    windows, with at least ``min_completed`` clocks completed in the long window."""

    min_completed: int = Field(default=20, ge=1)
    windows: tuple[BurnWindow, ...] = Field(min_length=1)


class OverdueRule(_Rule):
    """More than ``above`` open clocks past their due date (no clock: all clocks)."""

    clock: ClockId | None = None
    above: int = Field(ge=0)
    severity: Severity
    team: Team | None = None


class DeadLetterRule(_Rule):
    above: int = Field(default=0, ge=0)
    severity: Severity = "warning"
    team: Team | None = None
    increase_window: Duration = "1h"  # Prometheus only: new dead letters in this window


class QuarantineRule(_Rule):
    """More than ``above`` cases set aside because the projections could not fold them:
    their clocks are not watched until the fault is fixed."""

    above: int = Field(default=0, ge=0)
    severity: Severity = "critical"
    team: Team | None = None


class StallRule(_Rule):
    hours: float = Field(gt=0)
    severity: Severity = "warning"
    team: Team | None = None


class Delivery(_Rule):
    resend_seconds: float = Field(default=60, gt=0)
    valid_for_resends: float = Field(default=4, ge=2)
    case_link: str = "{base_url}/#case/{case_id}"
    aggregates: bool = True

    @model_validator(mode="after")
    def _link_fields(self) -> Self:
        unknown = set(re.findall(r"{([^}]*)}", self.case_link)) - {"base_url", "case_id"}
        if unknown:
            raise ValueError(
                f"case_link may use {{base_url}} and {{case_id}} only, not {sorted(unknown)}"
            )
        return self


class RuleSet(_Rule):
    version: Literal[1] = 1
    team: Team = "send-casework"
    delivery: Delivery = Delivery()
    cases: tuple[CaseRule, ...] = ()
    rates: tuple[RateRule, ...] = ()
    burn_rates: tuple[BurnRateRule, ...] = ()
    overdue: tuple[OverdueRule, ...] = ()
    dead_letters: DeadLetterRule | None = None
    quarantined: QuarantineRule | None = None
    ingest_stalled: StallRule | None = None

    @model_validator(mode="after")
    def _distinct_names(self) -> Self:
        seen: set[str] = set()
        for rule in self.cases:
            if rule.name in AGGREGATE_NAMES:
                raise ValueError(f"case rule name {rule.name} is taken by an aggregate rule")
            if rule.name in seen:
                raise ValueError(f"two case rules are named {rule.name}")
            seen.add(rule.name)
        return self

    def team_of(self, rule: Any) -> str:
        team: str | None = getattr(rule, "team", None)
        return team or self.team


def default_rules_text() -> str:
    return resources.files("alerts").joinpath("default_rules.yml").read_text(encoding="utf-8")


def parse_rules(text: str, origin: str = "rules", points: tuple[Point, ...] = POINTS) -> RuleSet:
    """Validate a rules YAML text; ``RulesError`` names the rule and the field at fault."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulesError(f"{origin}: not valid YAML: {error}") from None
    if not isinstance(raw, Mapping):
        raise RulesError(f"{origin}: expected a mapping of rule kinds at the top")
    try:
        rules = RuleSet.model_validate(raw)
    except ValidationError as error:
        raise RulesError(_explain(error, raw, origin)) from None
    for kind in ("rates", "burn_rates"):
        for n, rule in enumerate(getattr(rules, kind)):
            try:
                target, floor = rule.standard(points)
            except RulesError as error:
                raise RulesError(f"{origin}: {kind}[{n}] ({rule.clock}): {error}") from None
            if floor is not None and floor > target:
                raise RulesError(
                    f"{origin}: {kind}[{n}] ({rule.clock}): floor {floor} is above target {target}"
                )
            if kind == "rates" and floor is None:
                raise RulesError(f"{origin}: {kind}[{n}] ({rule.clock}): give a floor")
            if kind == "burn_rates" and target >= 1:
                raise RulesError(
                    f"{origin}: {kind}[{n}] ({rule.clock}): a target of {target} leaves no "
                    "error budget to burn"
                )
    return rules


def load_rules(path: str | Path | None = None, points: tuple[Point, ...] = POINTS) -> RuleSet:
    """The rules in ``path`` (a council's YAML file), or the built-in set."""
    if path is None:
        return parse_rules(default_rules_text(), "default_rules.yml", points)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(f"cannot read rules file {path}: {error.strerror}") from None
    return parse_rules(text, str(path), points)


def _explain(error: ValidationError, raw: Mapping[str, Any], origin: str) -> str:
    """Each problem as ``origin: cases[1] (ClockOverdue).severity: message``."""
    lines = []
    problems = error.errors()
    locs = [problem["loc"] for problem in problems]
    for problem in problems:
        loc = problem["loc"]
        if any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs):
            continue  # a container's complaint about a part already explained
        where = ""
        node: Any = raw
        for part in loc:
            if isinstance(part, int):
                where += f"[{part}]"
                node = node[part] if isinstance(node, list) and part < len(node) else None
                if isinstance(node, Mapping):
                    label = node.get("name") or node.get("clock")
                    if isinstance(label, str):
                        where += f" ({label})"
            else:
                where += f".{part}" if where else str(part)
                node = node.get(part) if isinstance(node, Mapping) else None
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{origin}: {where or 'top level'}: {message}")
    return "\n".join(lines)


def firing_by_severity(alerts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many of ``alerts`` (a source's alert list) are firing, by severity: an entry
    counts when its ``state`` is "firing" (or absent)."""
    firing = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        severity = alert.get("severity")
        if alert.get("state", "firing") == "firing" and severity in firing:
            firing[severity] += 1
    return firing
