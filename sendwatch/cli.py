"""The ``sendwatch`` command. Each command is a thin shell over the layer that does the work.

Exit codes: 0 success; 1 nothing usable (no valid event, nothing accepted); 2 usage errors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from sendwatch import settings

app = typer.Typer(
    name="sendwatch",
    help="Live evidence of whether a council keeps its legal duties to children with SEND.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    Path, typer.Option("--db", help="The embedded event log (SQLite file).", show_default=True)
]
DEFAULT_DB = Path("sendwatch.db")


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


@app.command()
def schema() -> None:
    """Print the JSON Schema of every event type (contract v1).

    Example: sendwatch schema > sendwatch-events.schema.json
    """
    from events import json_schema

    _print_json(json_schema())


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="A JSONL file of events, or - for stdin.")],
    db: DbOption = DEFAULT_DB,
    broker: Annotated[
        str | None, typer.Option(help="Send to Kafka instead: kafka://HOST:PORT")
    ] = None,
    topic: Annotated[str, typer.Option(help="Kafka topic (with --broker).")] = "sendwatch-events",
    partitions: Annotated[
        int, typer.Option(help="Partitions if the topic must be created (with --broker).")
    ] = 12,
    acks: Annotated[
        bool, typer.Option("--acks", help="Print a line after each durable batch (for scripts).")
    ] = False,
) -> None:
    """Append events from a JSONL file to the event log (embedded, or Kafka with --broker).

    Example: sendwatch ingest events.jsonl --db sendwatch.db
    """
    from sendwatch.ingesting import ingest_command

    code = ingest_command(
        path, db=db, broker=broker, topic=topic, partitions=partitions, acks=acks, console=err
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
    from sendwatch.simulation import simulate as generate
    from sendwatch.simulation import write_jsonl

    try:
        last = parse_date(end, "end") if end else today()
    except ValueError as error:
        raise fail(str(error)) from None
    history = generate(seed=seed, years=years, end=last, council=settings.council())
    count = write_jsonl(sys.stdout.buffer if out == "-" else out, history)
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
    result = projector.measures(query.now, query.period, query.as_at, dead_letters)
    _warn_quarantined(projector)
    if format == "json":
        _print_json(result)
    else:
        from sendwatch.tables import measures_table

        Console().print(measures_table(result, query))
    if not valid:
        raise typer.Exit(1)


def _load(events: str | None, db: Path) -> tuple[Any, int, bool]:
    """A projector over a JSONL file (bad lines reported on stderr) or the embedded log."""
    from projections import Projector
    from streams.replay import catch_up, open_lines, replay_lines

    projector = Projector()
    if events is not None:
        try:
            with open_lines(events) as lines:
                rejected = replay_lines(
                    projector,
                    lines,
                    origin=events if events != "-" else "stdin",
                )
        except OSError as error:
            raise fail(f"cannot read {events}: {error.strerror}") from None
        for item in rejected:
            err.print(f"rejected {item.origin}: {item.reason}", markup=False)
        if not projector.event_count and rejected:
            err.print("no valid event in the input")
        return projector, len(rejected), projector.event_count > 0 or not rejected
    if not db.exists():
        raise fail(f"no event log at {db} (run `sendwatch ingest` first, or give --events)")
    from streams.log import EventLog

    with EventLog(db) as log:
        catch_up(projector, log)
        return projector, log.dead_letter_count(), True


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
    if format == "json":
        _print_json(view)
    else:
        from sendwatch.tables import case_tables

        for table in case_tables(view):
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
) -> None:
    """Run the embedded service: event log, live projections, HTTP API, /metrics, dashboard.

    Example: SENDWATCH_API_TOKEN=secret sendwatch run --db sendwatch.db --port 8000
    """
    from sendwatch.service import serve

    serve(db=db, host=host, port=port, now=now, alertmanager=alertmanager, rules=rules)


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
    from reports.build import report_command

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
    from sendwatch.worker import worker_command

    worker_command(
        broker=broker, topic=topic, port=port, now=now, alertmanager=alertmanager, host=host
    )


grafana = typer.Typer(help="Grafana dashboards as code.", no_args_is_help=True)
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
    from alerts.grafana import write_alerting, write_dashboards

    points = settings.scorecard_points()  # the colours follow SENDWATCH_TARGETS, if set
    for path in write_dashboards(out, points):
        err.print(f"wrote {path}")
    if alerting is not None:
        err.print(f"wrote {write_alerting(alerting, points)}")


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
    from alerts.grafana_push import PushError, push

    try:
        push(url, token, prometheus_url, err, points=settings.scorecard_points())
    except PushError as error:
        raise fail(str(error), 1) from None


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


if __name__ == "__main__":
    main()
