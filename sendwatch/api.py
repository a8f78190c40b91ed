"""The HTTP API of CONTRACT.md section 4, over any ``sendwatch.source.Source``.

The embedded service and the Kafka worker serve the same app: only the ``Source`` differs.
Errors are JSON ``{"detail": "..."}`` that say what is wrong: 401 names the missing or
invalid bearer token, 400 the bad query parameter or where a JSON body is malformed, 413 an
oversized body (nothing of it is stored), 415 an unknown content type, 409 a case that is
quarantined (its events could not be folded: the answer says why, as ``GET /api/quarantine``
does for every such case).

``POST /api/events`` takes ``application/json`` (one event object, or an array of them) or
JSONL (``application/x-ndjson``, ``application/jsonl`` or ``text/plain``). A JSON body that is
not well-formed is refused whole (400, naming the line, nothing stored): it cannot be told
into items. Items that break the contract are not an error: the valid items are stored and
the others reported in ``rejected`` with their line (for a JSON array: the item's position,
from 1) and reason, and kept as dead letters. A JSONL line that is not valid JSON is such an
item, as it is for ``sendwatch ingest`` and on Kafka: each line is an event of its own. If no
item at all is valid the answer is 422, with the same body (the dead letters are kept).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from alerts.alertmanager import SilencesError, silences
from alerts.query import parse_filters as alert_filters
from alerts.query import select as select_alerts
from events.codec import BOM, MAX_DEPTH
from events.envelope import LONDON
from projections import CLOCK_IDS, CLOCKS, Period
from projections.calendar import add_months
from projections.law import ClockRule
from projections.measures import completed_by_period
from projections.queue import DIMENSIONS, Filters
from projections.scorecard import POINTS, Point, scorecard_json
from sendwatch.access import COMPATIBLE_NAME, Access, Denied, Principal, Role, Token
from sendwatch.audit import AuditError, AuditLog, parse_since
from sendwatch.query import Query, make_query, parse_date
from sendwatch.queue import add_queue_routes, filtered_measures
from sendwatch.source import Source

STATIC = Path(__file__).with_name("static")
MAX_BODY = 32 * 1024 * 1024  # bytes: about 100,000 events; send larger histories in batches
MEASURES_PARAMETERS = ("from", "to", "now", "as_at")
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain")
ORIGIN = "POST /api/events"

# The role each route needs (docs/security.md); None: open to all, as the dashboard's page,
# /healthz and /metrics always were. A route missing here needs admin (and
# tests/test_roles.py fails until its role is decided).
ROUTE_ROLES: dict[str, Role | None] = {
    "GET /": None,
    "GET /healthz": None,
    "GET /metrics": None,
    "GET /openapi.json": None,  # the API's description: no data
    "GET /api/quarantine": Role.READER,
    "GET /api/measures": Role.READER,
    "GET /api/queue": Role.READER,
    "GET /api/scorecard": Role.READER,
    "GET /api/clocks": Role.READER,
    "GET /api/trend": Role.READER,
    "GET /api/dfe": Role.READER,
    "GET /api/published": Role.READER,
    "GET /api/cases/{case_id}": Role.READER,
    "GET /api/alerts": Role.READER,
    "GET /api/silences": Role.READER,
    "POST /api/events": Role.WRITER,
    "GET /api/audit": Role.ADMIN,
    # a dead letter keeps the input as it came, which may hold what should never have been
    # sent (a name, a birth date): admins only, like purging them
    "GET /api/dead-letters": Role.ADMIN,
    "DELETE /api/dead-letters": Role.ADMIN,
}
# The routes that answer with one case's details: each answer is recorded in the audit log.
CASE_ROUTES = frozenset({"GET /api/cases/{case_id}"})


@runtime_checkable
class DeadLetterSource(Protocol):
    """A source that keeps its dead letters where the API can list and purge them (the
    embedded log; a Kafka worker's are on a topic)."""

    def dead_letter_list(self, limit: int | None) -> dict[str, Any]: ...

    def purge_dead_letters(self, before: datetime) -> tuple[int, int]: ...


@runtime_checkable
class TrendSource(Protocol):
    """A source that can also tell a clock's monthly trend (the dashboard's chart)."""

    def trend(self, clock: str, months: int, now: date) -> list[dict[str, Any]]: ...


class BodyError(Exception):
    """A request body refused whole: nothing of it is stored."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def _whole_number(params: Mapping[str, str], name: str) -> int | None:
    """The query parameter ``name`` as a whole number of alerts (None if absent); 400 names
    the parameter otherwise."""
    value = params.get(name)
    if value is not None and not (value.isascii() and value.isdigit()):
        raise HTTPException(400, f"{name}: expected a whole number of alerts, got {value!r}")
    return None if value is None else int(value)


def event_lines(body: bytes, content_type: str) -> bytes:
    """The body as JSONL, item n on line n; raises ``BodyError`` for a JSON body that is not
    well-formed, or a body with no events. A JSONL line that is not valid JSON is left to the
    decoder, which rejects it with its line like any invalid event. A UTF-8 byte-order mark
    at the start of the body is ignored. An array item that cannot be written back as one
    line of JSON (orjson writes at most 254 levels of nesting) is never an error of the
    whole body: its line is the item cut short below the decoder's depth limit, which the
    decoder rejects, with its position, for its nesting."""
    if body.startswith(BOM):
        body = body[len(BOM) :]
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BodyError(
                400,
                f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg} "
                "(for one event per line, send Content-Type: application/x-ndjson)",
            ) from None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BodyError(400, "the body has no events (an empty array)")

        def cut(item: Any, depth: int) -> Any:
            """The item with whatever is nested below ``depth`` levels replaced by null."""
            if depth == 0:
                return None
            if isinstance(item, dict):
                return {key: cut(child, depth - 1) for key, child in item.items()}
            if isinstance(item, list):
                return [cut(child, depth - 1) for child in item]
            return item

        lines = []
        for item in items:
            try:
                lines.append(orjson.dumps(item))
            except Exception:  # nested too deep to write; whatever else, never a 500
                try:
                    lines.append(orjson.dumps(cut(item, MAX_DEPTH + 2)))
                except Exception:
                    lines.append(b'"an item that could not be written back as JSON"')
        return b"\n".join(lines)
    if kind and kind not in JSONL_TYPES:
        raise BodyError(
            415,
            f"Content-Type {kind!r} is not accepted: send application/json (an event or an "
            "array of events) or application/x-ndjson (one event per line)",
        )
    if not body.strip():
        raise BodyError(400, "the body has no events")
    return body


async def _read_body(request: Request, limit: int) -> bytes:
    too_big = f"the body is larger than {limit:,} bytes: send the events in smaller batches"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def clock_trend(
    by_day: Mapping[date, Mapping[tuple[Any, ...], int]], clock: str, now: date, months: int
) -> list[dict[str, Any]]:
    """One clock's completions and rates in each of the last ``months`` calendar months to
    ``now`` (the current month so far last, marked ``partial`` unless ``now`` is its last
    day), counted as the contract's measures count them, from the ``dated`` tallies summed by
    day (``Projector.dated_sums``)."""
    first = add_months(now.replace(day=1), -(months - 1))
    periods = []
    for n in range(months):
        start = add_months(first, n)
        periods.append(Period(start, min(add_months(start, 1) - timedelta(days=1), now)))
    return [
        {
            "month": period.start.strftime("%Y-%m"),
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "partial": period.end < add_months(period.start, 1) - timedelta(days=1),
            **figures[clock],
        }
        for period, figures in zip(periods, completed_by_period(by_day, periods), strict=True)
    ]


def clock_description(rule: ClockRule) -> dict[str, Any]:
    """A clock's id, title, label (its name with its limit), limit in words (None: by kind or
    by date, see DOMAIN.md) and citation, for people: all worded by ``projections.law``."""
    return {
        "id": rule.id,
        "title": rule.title,
        "label": rule.label,
        "limit": rule.limit,
        "citation": rule.citation,
    }


def create_app(
    source: Source,
    *,
    token: str | None = None,
    registry: CollectorRegistry,
    points: tuple[Point, ...] = POINTS,
    max_body: int = MAX_BODY,
    access: Access | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The app: the contract's endpoints, ``/api/scorecard``, ``/api/trend``, the dashboard.

    ``access``: the tokens and proxy the API accepts; or ``token`` alone, an admin token
    named ``api-token``. ``audit``: where reads of one case are recorded (None: nowhere,
    for tests of other things)."""
    app = FastAPI(
        title="sendwatch",
        summary="Live evidence of whether a council keeps its legal duties to children with SEND",
        docs_url=None,
        redoc_url=None,
    )
    if access is None:
        if token is None:
            raise ValueError("create_app needs access or a token")
        access = Access((Token(COMPATIBLE_NAME, Role.ADMIN, SecretStr(token)),))
    allowed = access

    def route_of(request: Request) -> str:
        """``GET /api/cases/{case_id}``: the method and the route's path pattern."""
        route = request.scope.get("route")
        return f"{request.method} {getattr(route, 'path', request.url.path)}"

    def principal(request: Request) -> Principal:
        """Who sent ``request``, if their role is enough for its route (``ROUTE_ROLES``);
        401 if no one, 403 naming the role needed if it is too low."""
        route = route_of(request)
        needed = ROUTE_ROLES.get(route, Role.ADMIN)
        header = allowed.proxy_header
        try:
            who = allowed.identify(
                request.headers.get("authorization"),
                request.headers.get(header) if header else None,
                request.client.host if request.client else None,
            )
            if needed is not None:
                allowed.require(who, needed, route)
        except Denied as denied:
            challenge = {"WWW-Authenticate": denied.challenge} if denied.challenge else None
            raise HTTPException(denied.status, denied.detail, headers=challenge) from None
        return who

    def authorise(request: Request) -> None:
        """401 or 403 unless the request's sender may use its route."""
        principal(request)

    def audited(request: Request, who: Principal, case_id: str) -> None:
        """Record that ``who`` read ``case_id``; 503 (and the case not shown) if the audit
        log cannot be written."""
        if audit is None:
            return
        try:
            audit.record(
                who=who.name,
                credential=who.credential,
                path="api",
                route=route_of(request),
                case_id=case_id,
            )
        except AuditError as error:
            raise HTTPException(503, f"{error}: the case is not shown unaudited") from None

    def query_of(request: Request, allowed: tuple[str, ...] = MEASURES_PARAMETERS) -> Query:
        params = request.query_params
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise HTTPException(
                400, f"unknown query parameter {unknown[0]!r} (expected {', '.join(allowed)})"
            )
        try:
            return make_query(
                start=params.get("from"),
                end=params.get("to"),
                now=params.get("now"),
                as_at=params.get("as_at"),
                default_now=source.now(),
            )
        except ValueError as error:
            raise HTTPException(400, str(error)) from None

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz")
    def healthz() -> Response:
        h = source.health()
        body = {
            "ok": h.ok,
            "events": h.events,
            "cases": h.cases,
            "dead_letters": h.dead_letters,
            "last_recorded_at": h.last_recorded_at.isoformat() if h.last_recorded_at else None,
            # cases set aside (CONTRACT.md 1.1): the service serves every other case, so
            # they do not make it unhealthy; GET /api/quarantine says why
            "quarantine": h.quarantine_summary(),
            **h.detail,
        }
        return _json(body, 200 if h.ok else 503)

    @app.get("/api/quarantine")
    def quarantine(request: Request) -> Response:
        authorise(request)
        listed = source.health().quarantined
        return _json({"cases": len(listed), "quarantined": [q.to_json() for q in listed]})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/measures")
    def measures(request: Request) -> Response:
        authorise(request)
        # filtered by the dimensions (team, caseworker, ...): over the matching cases only
        query = query_of(request, (*MEASURES_PARAMETERS, *DIMENSIONS))
        return _json(filtered_measures(source, query, Filters.of(request.query_params)))

    add_queue_routes(app, source, authorise)  # GET /api/queue (sendwatch/queue.py)

    @app.get("/api/scorecard")
    def scorecard(request: Request) -> Response:
        authorise(request)
        query = query_of(request)
        return _json(
            {
                "now": query.now.isoformat(),
                "from": query.period.start.isoformat(),
                "to": query.period.end.isoformat(),
                "points": scorecard_json(source.measures(query), points),
            }
        )

    @app.get("/api/clocks")
    def clocks(request: Request) -> Response:
        authorise(request)
        return _json({"clocks": [clock_description(rule) for rule in CLOCKS.values()]})

    @app.get("/api/trend")
    def trend(request: Request, clock: str = "final_plan", months: int = 12) -> Response:
        authorise(request)
        if clock not in CLOCKS:
            raise HTTPException(
                400, f"clock: unknown clock {clock!r} (expected one of {', '.join(CLOCK_IDS)})"
            )
        if not 1 <= months <= 36:
            raise HTTPException(400, f"months: expected 1 to 36, got {months}")
        if not isinstance(source, TrendSource):
            raise HTTPException(404, "this service does not keep the monthly trend")
        now = source.now()
        return _json(
            {
                "clock": clock,
                "title": CLOCKS[clock].title,
                "now": now.isoformat(),
                "months": source.trend(clock, months, now),
            }
        )

    @app.get("/api/dfe")
    def dfe(request: Request) -> Response:
        """DfE's measures for a calendar year, as ``sendwatch dfe --format json`` prints them."""
        from sendwatch.dfe_command import DfeSource, when_and_year

        authorise(request)
        params = request.query_params
        unknown = sorted(set(params) - {"year", "now"})
        if unknown:
            raise HTTPException(400, f"unknown query parameter {unknown[0]!r} (expected year, now)")
        try:
            when, year = when_and_year(
                params.get("now") or source.now().isoformat(), params.get("year")
            )
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        if not isinstance(source, DfeSource):
            raise HTTPException(404, "this service does not compute DfE's measures")
        return _json(source.dfe(year, when))

    @app.get("/api/published")
    def published(request: Request, year: int | None = None) -> Response:
        """The figures DfE has published for the council, its region, England and its
        statistical neighbours, for the latest year before ``year`` (default: the year of
        the service's now), beside ``/api/dfe``'s measures (sendwatch/dfe_published.py)."""
        from sendwatch.dfe_published import published_json

        authorise(request)
        when = year if year is not None else source.now().year
        try:
            return _json(published_json(when, getattr(source, "council", None)))
        except ValueError as error:
            raise HTTPException(500, str(error)) from None

    @app.get("/api/cases/{case_id}")
    def case(request: Request, case_id: str, now: str | None = None) -> Response:
        who = principal(request)
        try:
            when = parse_date(now, "now") if now else source.now()
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        view = source.case(case_id, when)
        if view is None:
            aside = next((q for q in source.health().quarantined if q.case_id == case_id), None)
            if aside is not None:
                return _json(
                    {
                        "detail": f"case {case_id!r} is quarantined: its events could not be "
                        f"folded ({aside.error}; {aside.stage}), so its clocks are not shown "
                        f"or counted; its {len(aside.event_ids)} events are kept "
                        "(GET /api/quarantine)",
                        "quarantined": aside.to_json(),
                    },
                    409,
                )
            raise HTTPException(404, f"no case {case_id!r}")
        audited(request, who, case_id)
        return _json(view)

    @app.get("/api/alerts")
    def alerts(request: Request) -> Response:
        """The alerts, firing first (``?limit=N``: the first N); filtered by ``?severity=
        &team=&caseworker=&alertname=&state=&kind=`` and paged by ``&offset=``, with
        ``total`` (how many match) whenever a filter or an offset is given, or no limit."""
        authorise(request)
        params = request.query_params
        limit, offset = _whole_number(params, "limit"), _whole_number(params, "offset") or 0
        try:
            filters = alert_filters(params)
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        answer: dict[str, Any] = {"now": source.now().isoformat(), "firing": source.firing_counts()}
        end = None if limit is None else offset + limit
        if not filters and not offset and limit is not None:  # the dashboard's first few, fast
            answer["alerts"] = source.alerts(limit)
            return _json(answer)
        if set(filters) <= {"state"} and filters.get("state", {"firing"}) == {"firing"}:
            # firing alerts come first: the first ``end`` hold every firing one among them
            listed = source.alerts(end) if filters else source.alerts(None)
            chosen = select_alerts(listed, filters)
            total = sum(answer["firing"].values()) if filters else len(chosen)
        else:
            chosen = select_alerts(source.alerts(None), filters)
            total = len(chosen)
        answer.update(alerts=chosen[offset:end], total=total, offset=offset, limit=limit)
        return _json(answer)

    @app.get("/api/silences")
    def alert_silences(request: Request) -> Response:
        """Alertmanager's active and pending silences (``GET /api/v2/silences``), when the
        service knows its address (``--alertmanager`` or SENDWATCH_ALERTMANAGER)."""
        authorise(request)
        address: str | None = getattr(source, "alertmanager", None)
        if not address:
            return _json(
                {
                    "configured": False,
                    "detail": "No Alertmanager is configured, so no silences can be shown: "
                    "start sendwatch run with --alertmanager URL or set SENDWATCH_ALERTMANAGER.",
                    "silences": [],
                }
            )
        try:
            listed = silences(address)
        except SilencesError as error:
            return _json({"configured": True, "detail": str(error), "silences": []}, 502)
        return _json({"configured": True, "alertmanager": address, "silences": listed})

    @app.get("/api/audit")
    def audit_reads(request: Request) -> Response:
        """The audit log's reads of cases, as ``sendwatch audit --format json`` (admins only;
        reading the audit is not a read of a case)."""
        authorise(request)
        params = request.query_params
        unknown = sorted(set(params) - {"case", "since"})
        if unknown:
            raise HTTPException(
                400, f"unknown query parameter {unknown[0]!r} (expected case, since)"
            )
        if audit is None:
            raise HTTPException(404, "this service keeps no audit log")
        try:
            since = parse_since(params.get("since"))
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        reads = audit.reads(case_id=params.get("case"), since=since)
        return _json({"reads": [read.to_json() for read in reads]})

    def _letters() -> DeadLetterSource:
        if not isinstance(source, DeadLetterSource):
            raise HTTPException(404, "this service keeps its dead letters on the broker's topic")
        return source

    @app.get("/api/dead-letters")
    def dead_letters(request: Request, limit: int = 100) -> Response:
        """The dead letters stored, newest first, as ``sendwatch dead-letters list --format
        json`` (admins only: a dead letter keeps its input)."""
        authorise(request)
        if not 0 <= limit <= 10_000:
            raise HTTPException(400, f"limit: expected 0 (all) to 10000, got {limit}")
        return _json(_letters().dead_letter_list(limit or None))

    @app.delete("/api/dead-letters")
    def purge_dead_letters(request: Request, before: str | None = None) -> Response:
        """Delete the dead letters received before a day (Europe/London), as ``sendwatch
        dead-letters purge --before``; the dead_letters measure keeps counting them."""
        authorise(request)
        if before is None:
            raise HTTPException(400, "before: the day before which to purge, YYYY-MM-DD")
        try:
            day = parse_date(before, "before")
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        purged, stored = _letters().purge_dead_letters(datetime.combine(day, time.min, LONDON))
        return _json({"purged": purged, "stored": stored, "before": day.isoformat()})

    @app.post("/api/events")
    async def post_events(request: Request) -> Response:
        authorise(request)
        try:
            body = await _read_body(request, max_body)
            lines = event_lines(body, request.headers.get("content-type", ""))
        except BodyError as error:
            return _json({"detail": error.detail}, error.status)
        except ClientDisconnect:  # gone mid-body: nothing of it is stored, no one to answer
            logging.getLogger("uvicorn.error").warning(
                "a client closed its connection before its POST /api/events body was read "
                "whole: nothing of it was stored"
            )
            return Response(status_code=400)
        done = await run_in_threadpool(source.post_events, lines, ORIGIN)
        answer: dict[str, Any] = {
            "accepted": done.accepted,
            "duplicates": done.duplicates,
            "rejected": done.rejected,
        }
        if done.rejected and not done.accepted and not done.duplicates:
            answer["detail"] = "no valid event in the body (the rejected items are dead letters)"
            return _json(answer, 422)
        return _json(answer)

    return app
