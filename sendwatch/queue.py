"""``GET /api/queue`` and the dimension filters of ``GET /api/measures``.

The queue is the open clocks due or overdue (``projections.queue``), one row a case and
clock, filtered by the dimensions (``team``, ``caseworker``, ``setting``, ``council``,
``need``), ``clock`` and ``state`` (``overdue`` or ``due``), sorted (``sort=due|late|clock|
team|caseworker``, ``order=asc|desc``) and paged (``limit``, default 50, and ``offset``;
``total`` counts every matching row). ``format=csv`` (or ``Accept: text/csv``) gives the
same rows as CSV with a header row: every matching row unless ``limit`` or ``offset`` is
given, then the same page as the JSON.

There are no identities in the API (one token), so "my queue" is the dashboard's: it
remembers the caseworker id chosen on it (in the browser's localStorage) and opens the queue
filtered to it. Rows carry only pseudonymous ids.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol, runtime_checkable

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from projections.law import CLOCK_IDS, CLOCKS
from projections.queue import (
    COLUMNS,
    DIMENSIONS,
    SORTS,
    STATES,
    WITHIN_DAYS,
    Filters,
    sort_rows,
    to_csv,
)
from sendwatch.query import Query, parse_date
from sendwatch.source import Source

QUEUE_PARAMETERS = (
    *DIMENSIONS,
    "clock",
    "state",
    "within",
    "sort",
    "order",
    "limit",
    "offset",
    "format",
    "now",
)
PAGE = 50  # rows a page by default
MAX_PAGE = 10_000
MAX_WITHIN = 366


@runtime_checkable
class QueueSource(Protocol):
    """A source that can list the work queue and filter the measures by dimension."""

    def queue(
        self,
        now: date,
        within: int,
        filters: Filters,
        clock: str | None,
        state: str | None,
    ) -> list[dict[str, Any]]: ...

    def measures_where(self, query: Query, filters: Filters) -> dict[str, Any]: ...


def filtered_measures(source: Source, query: Query, filters: Filters) -> dict[str, Any]:
    """The measures over the cases matching ``filters`` (all of them: ``source.measures``)."""
    if not filters:
        return source.measures(query)
    if not isinstance(source, QueueSource):
        raise HTTPException(404, "this service does not filter the measures by dimension")
    return source.measures_where(query, filters)


def _whole(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise HTTPException(
            400, f"{name}: expected a whole number from {low} to {high}, got {value!r}"
        )
    return int(value)


def _choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise HTTPException(400, f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def add_queue_routes(app: FastAPI, source: Source, authorise: Callable[[Request], None]) -> None:
    """Add ``GET /api/queue`` to the app."""

    @app.get("/api/queue")
    def queue(request: Request) -> Response:
        authorise(request)
        params = request.query_params
        unknown = sorted(set(params) - set(QUEUE_PARAMETERS))
        if unknown:
            raise HTTPException(
                400,
                f"unknown query parameter {unknown[0]!r} (expected {', '.join(QUEUE_PARAMETERS)})",
            )
        if not isinstance(source, QueueSource):
            raise HTTPException(404, "this service does not list work queues")
        try:
            now = parse_date(params["now"], "now") if params.get("now") else source.now()
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        clock = _choice(params.get("clock"), "clock", CLOCK_IDS)
        state = _choice(params.get("state"), "state", STATES)
        sort = _choice(params.get("sort"), "sort", SORTS) or "due"
        order = _choice(params.get("order"), "order", ("asc", "desc")) or "asc"
        fmt = _choice(params.get("format"), "format", ("json", "csv"))
        if fmt is None:
            fmt = "csv" if "text/csv" in request.headers.get("accept", "") else "json"
        within = _whole(params.get("within"), "within", WITHIN_DAYS, 0, MAX_WITHIN)
        paged = fmt == "json" or "limit" in params or "offset" in params
        limit = _whole(params.get("limit"), "limit", PAGE, 1, MAX_PAGE)
        offset = _whole(params.get("offset"), "offset", 0, 0, 10**9)
        filters = Filters.of(params)
        rows = source.queue(now, within, filters, clock, state)
        sort_rows(rows, sort, order)
        total = len(rows)
        page = rows[offset : offset + limit] if paged else rows
        if fmt == "csv":
            return Response(
                to_csv(page),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="queue-{now}.csv"'},
            )
        body = {
            "now": now.isoformat(),
            "within": within,
            "filters": {
                **{name: getattr(filters, name) for name in DIMENSIONS},
                "clock": clock,
                "state": state,
            },
            "sort": sort,
            "order": order,
            "total": total,
            "offset": offset,
            "limit": limit,
            "columns": list(COLUMNS),
            "clocks": {rule.id: rule.title for rule in CLOCKS.values()},
            "rows": page,
        }
        return Response(orjson.dumps(body), media_type="application/json")
