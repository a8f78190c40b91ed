"""Which alerts ``GET /api/alerts`` lists: its filters over the alerts' JSON (``Alert.to_json``).

``?severity=&team=&caseworker=&alertname=&state=&kind=``: each keeps the alerts whose field
is one of the values given (comma-separated, so ``severity=page,critical`` keeps both);
``kind`` is ``case`` (one case's alert) or ``service`` (about the whole service: a rate, a
count, dead letters, quarantine, a stalled feed). The listing's order is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alerts.rules import SEVERITIES

FIELDS = ("severity", "team", "caseworker", "alertname", "state", "kind")
STATES = ("firing", "resolved")
KINDS = ("case", "service")
Filters = dict[str, frozenset[str]]


def parse_filters(params: Mapping[str, str]) -> Filters:
    """The filters among ``params`` (a query string's), each a set of values; ``ValueError``
    names the parameter and the value at fault."""
    filters: Filters = {}
    for name in FIELDS:
        raw = params.get(name)
        if raw is None or raw.strip() == "":
            continue
        values = frozenset(v.strip() for v in raw.split(",") if v.strip())
        allowed = {"severity": SEVERITIES, "state": STATES, "kind": KINDS}.get(name)
        if allowed is not None:
            unknown = sorted(values - set(allowed))
            if unknown:
                raise ValueError(
                    f"{name}: expected {', '.join(allowed)} (comma-separated), got "
                    f"{', '.join(repr(u) for u in unknown)}"
                )
        filters[name] = values
    return filters


def kind(alert: Mapping[str, Any]) -> str:
    return "service" if alert.get("case_id") is None else "case"


def matches(alert: Mapping[str, Any], filters: Filters) -> bool:
    for name, values in filters.items():
        value = kind(alert) if name == "kind" else alert.get(name)
        if value not in values:
            return False
    return True


def select(alerts: Iterable[Mapping[str, Any]], filters: Filters) -> list[Mapping[str, Any]]:
    """The alerts the filters keep, in the order given."""
    return [a for a in alerts if matches(a, filters)]
