"""The ``sendwatch`` command. Each command is a thin shell over the layer that does the work.

Exit codes: 0 success; 1 nothing usable (no valid event, nothing accepted); 2 usage errors
(a bad option, a path that is not an event log, a port in use), each told in one line on
standard error, never as a traceback.

A command that reads a log (``metrics``, ``case``, ``report``, ``run``, ``dead-letters``)
never makes one: it opens it with ``streams.log.EventLog.open_existing``, which refuses a
missing file, a folder or a file that is not a sendwatch log, writing nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from sendwatch import settings

app = typer.Typer(
    name="sendwatch",
    help="Live evidence of whether a council keeps its legal duties to children with SEND."
    "\n\nExample: sendwatch simulate --years 1 --out kent.jsonl",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    Path, typer.Option("--db", help="The embedded event log (SQLite file).", show_default=True)
]
DEFAULT_DB = Path("sendwatch.db")
# the options of the commands that can write to Kafka instead of the embedded log
BrokerOption = Annotated[str | None, typer.Option(help="Send to Kafka instead: kafka://HOST:PORT")]
TopicOption = Annotated[str, typer.Option(help="Kafka topic (with --broker).")]
PartitionsOption = Annotated[
    int, typer.Option(help="Partitions if the topic must be created (with --broker).")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@app.callback()
def _settings_are_checked() -> None:
    # every SENDWATCH_* setting (and .env) is checked before any command runs: a bad value
    # is refused in one line naming it, exit 2, whichever command would have used it
    try:
        settings.load()
    except settings.SettingsError as error:
        raise fail(str(error)) from None


def _points() -> Any:
    """The scorecard's points (``settings.scorecard_points``); one line and exit 2 if
    SENDWATCH_TARGETS cannot be used."""
    import yaml

    try:
        return settings.scorecard_points()
    except (OSError, yaml.YAMLError, ValueError, TypeError, AttributeError) as error:
        raise fail(f"SENDWATCH_TARGETS: cannot use it: {error}") from None


def _folder(path: Path, option: str) -> None:
    """An output folder: it may not exist yet (it is made), but may not be a file."""
    if path.exists() and not path.is_dir():
        raise fail(f"{option}: {path} is a file, not a folder")


@app.command()
def snapshot(
    db: DbOption = DEFAULT_DB,
    now: Annotated[
        str | None, typer.Option(help="The day whose measures are kept ready (default: today).")
    ] = None,
) -> None:
    """Save the log's folded state beside it (<db>.snapshot), so that run, metrics and
    report start from it and apply only the events after it.

    Example: sendwatch snapshot --db sendwatch.db
    """
    from sendwatch.query import make_query
    from sendwatch.snapshot_command import take_snapshot
    from streams.log import LogError

    try:
        when = make_query(now=now).now
    except ValueError as error:
        raise fail(str(error)) from None
    try:
        print(take_snapshot(db, when))
    except LogError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"cannot write the snapshot beside {db}: {error.strerror}") from None


def open_log(db: Path) -> Any:
    """The event log at ``db`` (an ``EventLog``), which must exist; one line and exit 2
    if it does not or is not a log."""
    from streams.log import EventLog, LogError

    try:
        return EventLog.open_existing(db)
    except LogError as error:
        raise fail(str(error)) from None


def _print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


@app.command()
def schema() -> None:
    """Print the JSON Schema of every event type (contract v1.1), each type and field described.

    The same in words, with worked examples: docs/contract.md.

    Example: sendwatch schema > sendwatch-events.schema.json
    """
    from events import json_schema

    _print_json(json_schema())


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="A JSONL file of events, or - for stdin.")],
    db: DbOption = DEFAULT_DB,
    broker: BrokerOption = None,
    topic: TopicOption = "sendwatch-events",
    partitions: PartitionsOption = 12,
    acks: Annotated[
        bool, typer.Option("--acks", help="Print a line after each durable batch (for scripts).")
    ] = False,
) -> None:
    """Append events from a JSONL file to the event log (embedded, or Kafka with --broker).

    Example: sendwatch ingest events.jsonl --db sendwatch.db
    """
    from sendwatch.ingest_command import ingest_command

    if partitions < 1:
        raise fail(f"--partitions: expected at least 1, got {partitions}")
    code = ingest_command(
        path, db=db, broker=broker, topic=topic, partitions=partitions, acks=acks, console=err
    )
    raise typer.Exit(code)


@app.command("import")
def import_(
    mapping: Annotated[
        str, typer.Argument(help="A mapping file (docs/mapping.md), or sen2 for the built-in one.")
    ],
    folder: Annotated[str, typer.Argument(metavar="DIR", help="The folder of CSV/Excel files.")],
    db: DbOption = DEFAULT_DB,
    broker: BrokerOption = None,
    topic: TopicOption = "sendwatch-events",
    partitions: PartitionsOption = 12,
    check: Annotated[
        bool, typer.Option("--check", help="Convert and validate everything; write nothing.")
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="The export is the source's whole truth: retract and correct changed rows, "
            "retract removed ones (embedded log only).",
        ),
    ] = False,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json", metavar="FILE", help="Also write the summary as JSON (- for stdout)."
        ),
    ] = None,
) -> None:
    """Import a council system's export (CSV, Excel) as events through a mapping file;
    identifiers become case ids keyed with SENDWATCH_IMPORT_SECRET. The summary says what
    the data supports, clock by clock and measure by measure.

    Example: sendwatch import sen2 returns/2025 --db sendwatch.db
    """
    from sendwatch.import_command import import_command

    if partitions < 1:
        raise fail(f"--partitions: expected at least 1, got {partitions}")
    code = import_command(
        mapping,
        folder,
        db=db,
        broker=broker,
        topic=topic,
        partitions=partitions,
        check=check,
        snapshot=snapshot,
        json_out=json_out,
        console=err,
    )
    raise typer.Exit(code)


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 1,
    years: Annotated[int, typer.Option(help="Years of history.")] = 3,
    end: Annotated[
        str | None, typer.Option(help="Last day of the history (default: today).")
    ] = None,
    out: Annotated[str, typer.Option(help="Output JSONL file, or - for stdout.")] = "-",
) -> None:
    """Write a realistic synthetic history of a Kent-sized council (JSONL).

    Example: sendwatch simulate --seed 7 --years 2 --out kent.jsonl
    """
    from sendwatch.query import parse_date, today
    from sendwatch.tuning import paused_collector
    from simulation.council import simulate as generate
    from simulation.council import write_jsonl

    try:
        last = parse_date(end, "end") if end else today()
    except ValueError as error:
        raise fail(str(error)) from None
    if years < 1 or last.year - years < 2000:  # plausible dates only (CONTRACT.md 1.1)
        raise fail(
            f"--years: expected 1 to {last.year - 2000} (a history from 2000 on), got {years}"
        )
    history = generate(
        seed=seed, years=years, end=last, council=settings.council(), pause=paused_collector
    )
    try:
        count = write_jsonl(sys.stdout.buffer if out == "-" else out, history)
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror}") from None
    err.print(f"wrote {count:,} events ({years} years to {last}, seed {seed})")


@app.command()
def metrics(
    events: Annotated[
        str | None, typer.Option(help="A JSONL file (or - for stdin); default: the --db log.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day of the period (default: 12 months to --to)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of the period (default: --now).")
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="The day open clocks are judged at (default: today).")
    ] = None,
    as_at: Annotated[
        str | None, typer.Option("--as-at", help="Use only what was recorded by then.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="json or table.")] = "json",
    team: Annotated[
        str | None, typer.Option(help="Only the cases of this team (latest assignment).")
    ] = None,
    caseworker: Annotated[
        str | None, typer.Option(help="Only the cases of this caseworker (pseudonymous id).")
    ] = None,
    setting: Annotated[
        str | None, typer.Option(help="Only the cases whose plan names this setting.")
    ] = None,
    council: Annotated[
        str | None, typer.Option(help="Only the cases of this council (DfE LA code).")
    ] = None,
    need: Annotated[
        str | None, typer.Option(help="Only the cases with this primary need (SEN2 code).")
    ] = None,
) -> None:
    """Compute the compliance measures of CONTRACT.md section 3.

    Example: sendwatch metrics --events kent.jsonl --now 2025-03-31 --format table
    """
    from sendwatch.query import make_query

    if format not in ("json", "table"):
        raise fail(f"--format: expected json or table, got {format!r}")
    try:
        query = make_query(start=start, end=end, now=now, as_at=as_at)
    except ValueError as error:
        raise fail(str(error)) from None
    projector, dead_letters, valid = _load(events, db)
    from projections.queue import Filters

    only = Filters(team, caseworker, setting, council, need)
    if only:  # the measures of the matching cases alone
        from sendwatch import settings

        ours = settings.council()
        cases = projector.case_ids_where(
            lambda case: only.matches(case, ours), query.now, query.as_at
        )
        result = projector.measures_of(cases, query.now, query.period, query.as_at, dead_letters)
    else:
        result = projector.measures(query.now, query.period, query.as_at, dead_letters)
    _warn_quarantined(projector)
    if format == "json":
        _print_json(result)
    else:
        from sendwatch.tables import measures_table

        Console().print(measures_table(result, query))
    if not valid:
        raise typer.Exit(1)


@app.command()
def dfe(
    year: Annotated[
        int | None, typer.Option(help="The calendar year (default: the last complete one).")
    ] = None,
    events: Annotated[
        str | None, typer.Option(help="A JSONL file (or - for stdin); default: the --db log.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    now: Annotated[
        str | None, typer.Option(help="The day the events are read as at (default: today).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="json or table.")] = "json",
) -> None:
    """DfE's measures for a calendar year, counted as DfE publishes them (docs/dfe-measures.md).

    Example: sendwatch dfe --year 2025 --events kent.jsonl --format table
    """
    from sendwatch.dfe_command import dfe_json, dfe_table, when_and_year

    if format not in ("json", "table"):
        raise fail(f"--format: expected json or table, got {format!r}")
    try:
        when, chosen = when_and_year(now, year)
    except ValueError as error:
        raise fail(f"--{error}") from None
    projector, _, valid = _load(events, db)
    result = dfe_json(projector.case_files(when), chosen, when)
    _warn_quarantined(projector)
    if format == "json":
        _print_json(result)
    else:
        Console().print(dfe_table(result))
    if not valid:
        raise typer.Exit(1)


def _load(events: str | None, db: Path) -> tuple[Any, int, bool]:
    """A projector over a JSONL file (bad lines reported on stderr) or the embedded log."""
    from sendwatch.tuning import paused_collector
    from streams.log import LogError
    from streams.replay import load_projector

    try:
        loaded = load_projector(events, db, pause=paused_collector)
    except LogError as error:
        raise fail(str(error)) from None
    except OSError as error:
        if events is None:
            raise
        raise fail(f"cannot read {events}: {error.strerror}") from None
    projector = loaded.projector
    if events is None:
        return projector, loaded.dead_letters, True
    for item in loaded.rejected:
        err.print(f"rejected {item.origin}: {item.reason}", markup=False)
    if not projector.event_count and loaded.rejected:
        err.print("no valid event in the input")
    return projector, loaded.dead_letters, projector.event_count > 0 or not loaded.rejected


def _warn_quarantined(projector: Any) -> None:
    """One line on stderr if cases were set aside (CONTRACT.md 1.1): the figures leave them
    out, and the command still succeeds."""
    from sendwatch.source import quarantine_warning

    warning = quarantine_warning(projector.quarantined())
    if warning is not None:
        err.print(warning, markup=False)


@app.command()
def case(
    case_id: Annotated[str, typer.Argument(help="The pseudonymous case reference.")],
    events: Annotated[str | None, typer.Option(help="A JSONL file; default: the --db log.")] = None,
    db: DbOption = DEFAULT_DB,
    now: Annotated[str | None, typer.Option(help="The day to judge open clocks at.")] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Show one case's clocks (start, due, stop, state, regulation) and its history.

    Example: sendwatch case KC-7Q2M4XA --events kent.jsonl
    """
    from projections.views import case_view
    from sendwatch.query import parse_date, today

    if format not in ("json", "table"):
        raise fail(f"--format: expected table or json, got {format!r}")
    try:
        when = parse_date(now, "now") if now else today()
    except ValueError as error:
        raise fail(str(error)) from None
    projector, _, _ = _load(events, db)
    found = projector.case_file(case_id, when)
    if found is None:
        aside = projector.quarantined_case(case_id)
        if aside is not None:
            raise fail(
                f"case {case_id!r} is quarantined: its events could not be folded "
                f"({aside.error}; {aside.stage}); its {len(aside.event_ids)} events are kept",
                1,
            )
        raise fail(f"no case {case_id!r} in the events", 1)
    view = case_view(found, when)
    _audit_case_read(case_id, events, db)  # before anything of the case is shown
    if format == "json":
        _print_json(view)
    else:
        from sendwatch.tables import case_tables

        for table in case_tables(view):
            Console().print(table)


def _audit_file(events: str | None, db: Path) -> Path:
    """The audit log: SENDWATCH_AUDIT_DB, or beside the events file or the --db log."""
    from sendwatch.audit import audit_path

    chosen = settings.load().audit_db
    if chosen is not None:
        return chosen
    return audit_path(events if events and events != "-" else db)


def _audit_case_read(case_id: str, events: str | None, db: Path) -> None:
    """Record that the operating-system user read ``case_id`` with ``sendwatch case``; one
    line and exit 2 (the case not shown) if the audit log cannot be written."""
    from sendwatch.audit import AuditError, AuditLog, os_user

    try:
        with AuditLog(_audit_file(events, db)) as audit:
            audit.record(
                who=os_user(),
                credential="os-user",
                path="cli",
                route="sendwatch case",
                case_id=case_id,
            )
    except AuditError as error:
        raise fail(f"{error}: the case is not shown unaudited") from None


@app.command()
def audit(
    db: DbOption = DEFAULT_DB,
    case: Annotated[str | None, typer.Option("--case", help="Only the reads of this case.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only the reads from this day (YYYY-MM-DD, UTC) or time on."),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the audit log: who read which case, when (UTC) and through which path (api or
    cli). The log is beside the --db log (sendwatch.audit.db), or SENDWATCH_AUDIT_DB;
    listing it is not a read of a case.

    Example: sendwatch audit --db sendwatch.db --case KC-7Q2M4XA --since 2026-01-01
    """
    from sendwatch.audit import AuditError, AuditLog, audit_path, parse_since

    if format not in ("json", "table"):
        raise fail(f"--format: expected table or json, got {format!r}")
    try:
        start = parse_since(since)
    except ValueError as error:
        raise fail(f"--{error}") from None
    path = settings.load().audit_db or audit_path(db)
    try:
        with AuditLog(path, create=False) as log:
            reads = log.reads(case_id=case, since=start)
    except AuditError as error:
        raise fail(str(error)) from None
    if format == "json":
        _print_json({"audit_log": str(path), "reads": [read.to_json() for read in reads]})
        return
    from rich.table import Table

    table = Table(title=f"{len(reads):,} reads of cases in {path}")
    for column in ("read at (UTC)", "who", "credential", "path", "route", "case"):
        table.add_column(column)
    for read in reads:
        cells = (read.read_at, read.who, read.credential, read.path, read.route, read.case_id)
        table.add_row(*(escape(cell) for cell in cells))
    Console().print(table)


@app.command()
def run(
    db: DbOption = DEFAULT_DB,
    port: Annotated[int, typer.Option(help="HTTP port on 127.0.0.1.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    now: Annotated[
        str | None, typer.Option(help="Freeze 'now' at this date (demos, tests).")
    ] = None,
    alertmanager: Annotated[
        str | None, typer.Option(help="Alertmanager URL that breach alerts are sent to.")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Alert rules YAML (default: the built-in set).")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The address staff open the dashboard at (e.g. behind the council's proxy): "
            "alerts link to cases there. Default: SENDWATCH_PUBLIC_URL, else the address "
            "listened on."
        ),
    ] = None,
) -> None:
    """Run the embedded service: event log, live projections, HTTP API, /metrics, dashboard.

    A missing --db is made, empty (a new deployment: events then come by POST /api/events or
    sendwatch ingest), and said so; anything else at that path must be an event log. Only one
    sendwatch run may serve a log at a time.

    Example: SENDWATCH_API_TOKEN=secret sendwatch run --db sendwatch.db --port 8000
    """
    from sendwatch.embedded_service import serve

    if not 1 <= port <= 65535:
        raise fail(f"--port: expected 1 to 65535, got {port}")
    # the options, else the settings (SENDWATCH_PUBLIC_URL, SENDWATCH_ALERTMANAGER)
    for option, value in (("--public-url", public_url), ("--alertmanager", alertmanager)):
        try:
            settings.http_address(value)
        except ValueError as error:
            raise fail(f"{option}: {error}") from None
    public_url = settings.http_address(public_url) or settings.public_url()
    alertmanager = settings.http_address(alertmanager) or settings.alertmanager()
    serve(
        db=db,
        host=host,
        port=port,
        now=now,
        alertmanager=alertmanager,
        rules=rules,
        public_url=public_url,
    )


def plausible_month(text: str) -> None:
    """``--month``: YYYY-MM from 2000-01 to 2100-12 (CONTRACT.md 1.1's plausible dates)."""
    year, dash, number = text.partition("-")
    digits = year + number
    fits = dash and len(year) == 4 and len(number) == 2 and digits.isascii() and digits.isdigit()
    if not fits or not 2000 <= int(year) <= 2100 or not 1 <= int(number) <= 12:
        raise fail(f"--month: expected a month YYYY-MM from 2000-01 to 2100-12, got {text!r}")


@app.command()
def report(
    month: Annotated[str, typer.Option(help="The month reported, YYYY-MM.")],
    events: Annotated[str | None, typer.Option(help="A JSONL file; default: the --db log.")] = None,
    db: DbOption = DEFAULT_DB,
    out: Annotated[Path, typer.Option(help="Folder to write the report into.")] = Path("."),
    as_known_now: Annotated[
        bool,
        typer.Option("--as-known-now", help="Revised figures with everything known today."),
    ] = False,
) -> None:
    """Write the monthly scrutiny report (HTML and PDF).

    Example: sendwatch report --month 2025-03 --events kent.jsonl --out reports/
    """
    from sendwatch.report_command import report_command

    plausible_month(month)
    _folder(out, "--out")
    raise typer.Exit(
        report_command(month=month, events=events, db=db, out=out, as_known_now=as_known_now)
    )


@app.command()
def worker(
    broker: Annotated[str, typer.Option(help="Kafka broker: kafka://HOST:PORT")],
    topic: Annotated[str, typer.Option(help="The event topic.")] = "sendwatch-events",
    port: Annotated[int, typer.Option(help="HTTP port for /metrics and the API.")] = 6066,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    now: Annotated[str | None, typer.Option(help="Freeze 'now' at this date.")] = None,
    alertmanager: Annotated[str | None, typer.Option(help="Alertmanager URL.")] = None,
) -> None:
    """Run a Faust worker on Kafka: the same projections, sharing the topic's partitions.

    Broker timings and tuning come from SENDWATCH_KAFKA_* variables (docs/kafka.md).

    Example: sendwatch worker --broker kafka://127.0.0.1:9092 --port 6066
    """
    from sendwatch.kafka_service import worker_command

    if not 1 <= port <= 65535:
        raise fail(f"--port: expected 1 to 65535, got {port}")
    worker_command(
        broker=broker, topic=topic, port=port, now=now, alertmanager=alertmanager, host=host
    )


dead_letters = typer.Typer(
    help="The dead letters: input rejected with its reason (kept 90 days by default).\n\n"
    "Example: sendwatch dead-letters list --db sendwatch.db --limit 20",
    no_args_is_help=True,
)
app.add_typer(dead_letters, name="dead-letters")


@dead_letters.command("list")
def dead_letters_list(
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option(help="How many, newest first (0: every one).")] = 100,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the dead letters stored in the log, newest first: where each came from, why,
    and the input itself. They are purged SENDWATCH_DEAD_LETTER_DAYS days (default 90)
    after they arrived, as the input may hold personal data.

    Example: sendwatch dead-letters list --db sendwatch.db --limit 20
    """
    if format not in ("json", "table"):
        raise fail(f"--format: expected table or json, got {format!r}")
    if limit < 0:
        raise fail(f"--limit: expected 0 (every one) or more, got {limit}")
    with open_log(db) as log:
        letters = log.dead_letters(limit or None)
        stored, purged = log.stored_dead_letters(), log.purged_dead_letters()
    if format == "json":
        _print_json(
            {
                "stored": stored,
                "purged": purged,
                "dead_letters": [d.to_json() for d in letters],
            }
        )
        return
    from rich.table import Table

    table = Table(
        title=f"{len(letters):,} of {stored:,} dead letters stored ({purged:,} purged)",
        title_justify="left",
    )
    for column in ("id", "received", "origin", "reason", "input"):
        table.add_column(column, overflow="fold")
    for d in letters:
        raw = bytes(d.raw).decode("utf-8", "replace")
        table.add_row(
            str(d.id),
            d.received_at[:19],
            d.origin,
            d.reason,
            raw if len(raw) <= 200 else raw[:200] + " …",
        )
    Console().print(table)


@dead_letters.command("purge")
def dead_letters_purge(
    before: Annotated[
        str, typer.Option(help="Purge those received before this day (Europe/London).")
    ],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Delete the dead letters received before a day. The count of lines ever rejected
    (the dead_letters measure) stays as it was: purged ones are still counted.

    Example: sendwatch dead-letters purge --before 2025-01-01 --db sendwatch.db
    """
    from datetime import datetime, time

    from events.envelope import LONDON
    from sendwatch.query import parse_date

    try:
        day = parse_date(before, "before")
    except ValueError as error:
        raise fail(f"--{error}") from None
    with open_log(db) as log:
        purged = log.purge_dead_letters(datetime.combine(day, time.min, LONDON))
        left = log.stored_dead_letters()
    print(f"purged {purged:,} dead letters received before {day} ({left:,} stored)")


grafana = typer.Typer(
    help="Grafana dashboards as code.\n\n"
    "Example: sendwatch grafana dashboards --out deploy/grafana/dashboards",
    no_args_is_help=True,
)
app.add_typer(grafana, name="grafana")


@grafana.command("dashboards")
def grafana_dashboards(
    out: Annotated[Path, typer.Option(help="Folder for the dashboard JSON files.")],
    alerting: Annotated[
        Path | None,
        typer.Option(help="Also write Grafana's alert rules as a provisioning file here."),
    ] = None,
) -> None:
    """Generate the Grafana dashboards (service managers', operations).

    Example: sendwatch grafana dashboards --out deploy/grafana/dashboards
    --alerting deploy/grafana/provisioning/alerting/sendwatch.yaml
    """
    from observability.grafana import write_alerting, write_dashboards

    points = _points()  # the colours follow SENDWATCH_TARGETS, if set
    _folder(out, "--out")
    if alerting is not None and not alerting.parent.is_dir():
        raise fail(f"--alerting: no folder {alerting.parent}")
    try:
        for path in write_dashboards(out, points):
            err.print(f"wrote {path}")
        if alerting is not None:
            err.print(f"wrote {write_alerting(alerting, points)}")
    except OSError as error:
        raise fail(f"cannot write {error.filename}: {error.strerror}") from None


@grafana.command("push")
def grafana_push(
    url: Annotated[str, typer.Option(help="Grafana's address, e.g. https://grafana.kent.gov.uk")],
    token: Annotated[
        str, typer.Option(help="A Grafana service-account token.", envvar="GRAFANA_TOKEN")
    ],
    prometheus_url: Annotated[
        str, typer.Option(help="Prometheus as Grafana reaches it.")
    ] = "http://prometheus:9090",
) -> None:
    """Push the datasource, folder, dashboards and alert rules to Grafana (idempotent).

    Example: sendwatch grafana push --url https://grafana.example --token $GRAFANA_TOKEN
    """
    from observability.grafana_push import PushError, push

    try:
        push(url, token, prometheus_url, err, points=_points())
    except PushError as error:
        raise fail(str(error), 1) from None


export = typer.Typer(
    help="Returns to DfE made from the events.\n\n"
    "Example: sendwatch export sen2 --census 2026-01-15 --events kent.jsonl --out sen2-2026",
    no_args_is_help=True,
)
app.add_typer(export, name="export")


@export.command("sen2")
def export_sen2(
    census: Annotated[str, typer.Option(help="Census day, YYYY-MM-DD (15 Jan 2026: 2026-01-15).")],
    out: Annotated[Path, typer.Option(help="Folder for the Blade CSVs and the validation.")],
    events: Annotated[str | None, typer.Option(help="A JSONL file; default: the --db log.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write the SEN2 return for a census day (COLLECT "Blade" CSVs) and its validation
    report; upn holds the pseudonymous case id (docs/sen2-export.md).

    Example: sendwatch export sen2 --census 2026-01-15 --events kent.jsonl --out sen2-2026
    """
    from sendwatch.export_command import export_sen2 as run_export
    from sendwatch.export_command import parse_census

    problem = parse_census(census)
    if problem is not None:
        raise fail(problem)
    _folder(out, "--out")
    raise typer.Exit(run_export(census=census, out=out, events=events, db=db, console=err))


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


if __name__ == "__main__":
    main()
