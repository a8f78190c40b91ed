"""``sendwatch import MAPPING DIR``: a council system's export (CSV, Excel) to the event log
through a mapping file (docs/mapping.md), with progress and a summary.

The rows become event lines (``exchange.rows.convert``) that go through the one ingest pipeline
(``streams.ingest.ingest``) to the embedded log or to Kafka, so each event is validated like any
other input. A row that cannot be converted becomes a dead letter in the same batch as the
events around it, named by file, row and column (``RowRejections``, below, hands them to the
sink). ``--check`` converts and validates everything and writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from events import Event, Record
from exchange.mapping import Mapping, MappingError, load_mapping
from exchange.pseudonym import Pseudonyms
from exchange.rows import Conversion, Made, RowRejection, convert
from sendwatch import settings
from streams.ingest import IngestSummary, Sink, Stored, decode_lines, ingest
from streams.log import EventLog, LogError, Rejected

SHOWN = 10  # rejected rows listed in the summary
BUILT_IN = {"sen2": "sen2.yml"}


@dataclass
class ImportSummary:
    events: IngestSummary = field(default_factory=IngestSummary)
    conversion: Conversion = field(default_factory=Conversion)
    rows_rejected: list[RowRejection] = field(default_factory=list)
    first: str | None = None  # the earliest and latest occurred_at of the events made
    last: str | None = None


class RowRejections:
    """A sink in front of the real one: each batch also stores the rows rejected while it was
    read (dead letters named by file, row and column), and the pipeline's own rejections are
    renamed from "line N" of the generated stream to the file and row they came from."""

    def __init__(self, sink: Sink, origin: str) -> None:
        self.sink = sink
        self.origin = origin
        self.pending: list[Rejected] = []
        self.origins: list[str] = []  # the row of each line handed to the pipeline

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Stored:
        prefix = f"{self.origin} line "
        renamed = [
            Rejected(self.origins[int(r.origin[len(prefix) :]) - 1], r.reason, r.raw)
            if r.origin.startswith(prefix)
            else r
            for r in rejected
        ]
        both = [*renamed, *self.pending]
        self.pending.clear()
        return self.sink.store(records, both, origin=origin, lines=lines, events=events)


def built_in(name: str) -> Path | None:
    """The packaged mapping called ``name`` (``sen2``), or None if this build has none."""
    found = resources.files("exchange") / "mappings" / BUILT_IN[name]
    return Path(str(found)) if found.is_file() else None


def import_command(
    mapping_path: str,
    folder: str,
    *,
    db: Path,
    broker: str | None,
    topic: str,
    partitions: int,
    check: bool,
    console: Console,
) -> int:
    config = settings.load()
    if config.import_secret is None:
        console.print(
            "[red]error:[/red] SENDWATCH_IMPORT_SECRET is not set: sendwatch import needs the "
            "council's secret key (at least 16 characters) to turn identifiers into case ids"
        )
        return 2
    if mapping_path in BUILT_IN and not os.path.exists(mapping_path):
        packaged = built_in(mapping_path)
        if packaged is None:
            console.print(
                f"[red]error:[/red] the {mapping_path.upper()} mapping is not in this build of "
                f"sendwatch yet (exchange/mappings/{BUILT_IN[mapping_path]}): give a mapping "
                "file instead (docs/mapping.md)"
            )
            return 2
        mapping_path = str(packaged)
    try:
        mapping = load_mapping(mapping_path)
    except MappingError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    where = Path(folder)
    if not where.is_dir():
        console.print(f"[red]error:[/red] no such folder: {escape(folder)}")
        return 2
    pseudonyms = Pseudonyms(config.import_secret.get_secret_value())
    summary = ImportSummary()
    origin = f"import {where.name or folder}"
    with Progress(
        TextColumn("importing"),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=None)
        items = convert(
            mapping,
            where,
            pseudonyms,
            summary.conversion,
            progress=lambda rows: progress.update(task, completed=rows),
        )
        try:
            if check:
                _check(items, summary, origin, config.council)
            elif broker is not None:
                code = _to_kafka(items, summary, origin, broker, topic, partitions, config)
                if code:
                    return code
            else:
                code = _to_log(items, summary, origin, db, config)
                if code:
                    return code
        except (OSError, LookupError, UnicodeDecodeError) as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
    return report(summary, mapping, console, check=check)


def _lines(
    items: Iterator[Made | RowRejection], summary: ImportSummary, sink: RowRejections | None
) -> Iterator[bytes]:
    for item in items:
        if isinstance(item, RowRejection):
            summary.rows_rejected.append(item)
            if sink is not None:
                sink.pending.append(Rejected(item.origin, item.reason, item.kept))
            continue
        if summary.first is None or item.occurred < summary.first:
            summary.first = item.occurred
        if summary.last is None or item.occurred > summary.last:
            summary.last = item.occurred
        if sink is not None:
            sink.origins.append(item.origin)
        yield item.line


def _to_log(
    items: Iterator[Made | RowRejection],
    summary: ImportSummary,
    origin: str,
    db: Path,
    config: settings.Settings,
) -> int:
    try:
        log = EventLog(db)
    except (ValueError, LogError) as error:
        raise OSError(str(error)) from None
    with log:
        sink = RowRejections(log, origin)
        summary.events = ingest(
            _lines(items, summary, sink), sink, origin=origin, council=config.council
        )
        log.expire_dead_letters(config.dead_letter_days)
    return 0


def _to_kafka(
    items: Iterator[Made | RowRejection],
    summary: ImportSummary,
    origin: str,
    broker: str,
    topic: str,
    partitions: int,
    config: settings.Settings,
) -> int:
    from streams.kafka import BrokerError, EventProducer, TopicSink, parse_broker

    try:
        with EventProducer(
            parse_broker(broker), topic, partitions, config.kafka_replication
        ) as producer:
            sink = RowRejections(TopicSink(producer), origin)
            summary.events = ingest(
                _lines(items, summary, sink), sink, origin=origin, council=config.council
            )
    except BrokerError as error:
        raise OSError(str(error)) from None
    return 0


def _check(
    items: Iterator[Made | RowRejection], summary: ImportSummary, origin: str, council: str
) -> None:
    """Validate every event as the pipeline would, storing nothing; duplicates are ids
    repeated within this import (the log is not read)."""
    seen: set[str] = set()
    events = summary.events
    origins: list[str] = []

    def lines() -> Iterator[bytes]:
        for item in items:
            if isinstance(item, Made):
                origins.append(item.origin)
            yield from _lines(iter((item,)), summary, None)

    for decoded in decode_lines(lines(), origin=origin, council=council):
        events.lines = decoded.line
        if decoded.rejected is not None:
            rejected = decoded.rejected
            named = Rejected(origins[decoded.line - 1], rejected.reason, rejected.raw)
            events.add(0, 0, [named])
        elif decoded.record is not None:
            event_id = decoded.record["event_id"]
            if event_id in seen:
                events.add(0, 1, [])
            else:
                seen.add(event_id)
                events.add(1, 0, [])


def report(summary: ImportSummary, mapping: Mapping, console: Console, *, check: bool) -> int:
    """Print the summary; the exit code is 0 if any event was accepted or already kept."""
    events = summary.events
    verb = "would be accepted" if check else "accepted"
    console.print(
        f"events: {verb} {events.accepted:,}, duplicates {events.duplicates:,}, "
        f"rejected {events.rejected:,}" + (" (--check: nothing written)" if check else "")
    )
    for item in events.first_rejections:
        console.print(f"  rejected {item.origin}: {item.reason}", markup=False)
    for name, read in summary.conversion.tables.items():
        found = (
            ", ".join(read.files) if read.files else f"no file matches {mapping.tables[name].file}"
        )
        console.print(f"table {name}: {read.rows:,} rows ({found})", markup=False)
    rows = summary.rows_rejected
    console.print(f"rows rejected: {len(rows):,}")
    for row in rows[:SHOWN]:
        console.print(f"  {row.origin}: {row.reason}", markup=False)
    if len(rows) > SHOWN:
        console.print(f"  … and {len(rows) - SHOWN:,} more (sendwatch dead-letters list)")
    if summary.first is not None:
        console.print(
            f"dates covered: {summary.first[:10]} to {summary.last and summary.last[:10]}"
        )
    else:
        console.print("dates covered: none (no event was made)")
    return 0 if events.accepted or events.duplicates else 1
