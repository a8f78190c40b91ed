"""Schema versions of each type's ``data`` and the small chained upcasters between them.

An event is stored as it was accepted, with the schema version it came in; it is upcast to
the current schema each time it is read. Each upcaster turns version N into N+1, so a chain
of small steps brings any older event to the current shape (as pyeventsourcing does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSONObject = dict[str, Any]
Upcaster = Callable[[JSONObject], JSONObject]


def _eotas_agreed_1_to_2(data: JSONObject) -> JSONObject:
    """Schema 1 gave ``annual_cost`` in pounds as a number; schema 2 keeps whole pence."""
    out = {k: v for k, v in data.items() if k != "annual_cost"}
    cost = data.get("annual_cost")
    if cost is not None:
        if isinstance(cost, bool) or not isinstance(cost, int | float):
            raise ValueError("data.annual_cost: must be a number of pounds")
        out["annual_cost_pence"] = round(cost * 100)
    return out


# (type, from_version) -> upcaster to from_version + 1
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("eotas.agreed", 1): _eotas_agreed_1_to_2,
}

# The current schema of every type; a type not listed is at schema 1.
CURRENT_SCHEMA: dict[str, int] = {"eotas.agreed": 2}


def current_schema(event_type: str) -> int:
    return CURRENT_SCHEMA.get(event_type, 1)


def upcast(event_type: str, schema: int, data: JSONObject) -> JSONObject:
    """Bring ``data`` from ``schema`` to the type's current schema.

    Raises ValueError for a schema newer than this code knows.
    """
    target = current_schema(event_type)
    if schema > target:
        raise ValueError(
            f"schema: {event_type} schema {schema} is newer than this version of sendwatch "
            f"knows (newest {target})"
        )
    while schema < target:
        data = UPCASTERS[(event_type, schema)](data)
        schema += 1
    return data
