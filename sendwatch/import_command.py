"""``sendwatch import MAPPING DIR``: a council system's export (CSV, Excel) to the event log
through a mapping file (docs/mapping.md), with progress and a summary.

The rows become event lines (``exchange.rows.convert``) that go through the one ingest pipeline
(``streams.ingest.ingest``) to the embedded log or to Kafka, so each event is validated like any
other input. A row that cannot be converted becomes a dead letter in the same batch as the
events around it, named by file, row and column (``RowRejections``, below, hands them to the
sink). ``--check`` converts and validates everything and writes nothing. ``--snapshot``
compares the export with what the source imported before (``exchange.snapshot``): changed
rows are retracted and corrected, removed rows retracted. The summary ends with what the data
supports, clock by clock and measure by measure (``exchange.coverage``); ``--json FILE``
writes the whole summary as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from events import Event, Record
from exchange.coverage import WORDS, Covered, coverage
from exchange.mapping import Mapping, MappingError, load_mapping
from exchange.pseudonym import Pseudonyms
from exchange.rows import Conversion, Made, RowRejection, convert
from exchange.snapshot import SnapshotCounts, compare
from sendwatch import settings
from streams.ingest import IngestSummary, Sink, Stored, ingest
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
    snapshot: SnapshotCounts | None = None
    withheld_because: str | None = None  # why a snapshot's removals were not applied


class RowRejections:
    """A sink in front of the real one: each batch also stores the rows rejected while it was
    read (dead letters named by file, row and column); ``where`` names each line handed to
    the pipeline by the file and row it came from, for the pipeline's own rejections."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.pending: list[Rejected] = []
        self.origins: list[str] = []  # the row of each line handed to the pipeline

    def where(self, line: int) -> str:
        return self.origins[line - 1]

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Stored:
        both = [*rejected, *self.pending]
        self.pending.clear()
        return self.sink.store(records, both, origin=origin, lines=lines, events=events)


@dataclass(frozen=True, slots=True)
class Counted:
    """What ``Nowhere`` did with a batch (``streams.ingest.Stored``)."""

    accepted: int
    duplicates: int
    conflicts: tuple[tuple[int, Rejected], ...] = ()


class Nowhere:
    """The sink of ``--check``: it stores nothing, and counts as duplicates the event ids
    repeated within this import (the log is not read)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def store(
        self,
        records: Sequence[Record],
        rejected: Sequence[Rejected],
        *,
        origin: str,
        lines: Sequence[int],
        events: Sequence[Event],
    ) -> Counted:
        seen = self.seen
        before = len(seen)
        seen.update(record["event_id"] for record in records)
        accepted = len(seen) - before
        return Counted(accepted, len(records) - accepted)


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
    snapshot: bool = False,
    json_out: str | None = None,
    console: Console,
) -> int:
    config = settings.load()
    if config.import_secret is None:
        console.print(
            "[red]error:[/red] SENDWATCH_IMPORT_SECRET is not set: sendwatch import needs the "
            "council's secret key (at least 16 characters) to turn identifiers into case ids"
        )
        return 2
    if snapshot and broker is not None:
        console.print(
            "[red]error:[/red] --snapshot compares the export with what the source imported "
            "before, which it reads from the embedded log: use --db, not --broker"
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
        items: Iterator[Made | RowRejection] = convert(
            mapping,
            where,
            pseudonyms,
            summary.conversion,
            progress=lambda rows: progress.update(task, completed=rows),
        )
        try:
            if snapshot:
                items = _snapshot(items, summary, mapping, db)
            if check:
                _import(items, summary, origin, config.council, Nowhere())
            elif broker is not None:
                _to_kafka(items, summary, origin, broker, topic, partitions, config)
            else:
                _to_log(items, summary, origin, db, config)
        except (OSError, LookupError, UnicodeDecodeError) as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
    covered = coverage(mapping.types(), summary.conversion.types, mapping.coverage)
    if json_out is not None:
        text = orjson.dumps(
            summary_json(summary, mapping, covered, check=check), option=orjson.OPT_INDENT_2
        )
        if json_out == "-":
            print(text.decode())
        else:
            try:
                Path(json_out).write_bytes(text + b"\n")
            except OSError as error:
                console.print(f"[red]error:[/red] --json: cannot write {escape(json_out)}: {error}")
                return 2
    return report(summary, mapping, covered, console, check=check)


def _snapshot(
    items: Iterator[Made | RowRejection], summary: ImportSummary, mapping: Mapping, db: Path
) -> Iterator[Made | RowRejection]:
    """The export compared with what the source imported before (``exchange.snapshot``):
    every row is converted first, then the lines that bring the log to this export follow
    the rows rejected. Removals are withheld when a row was rejected or a table matched no
    file, so that a bad cell or a missing file never retracts what the source said before."""
    made: list[Made] = []
    for item in items:
        if isinstance(item, RowRejection):
            yield item
        else:
            made.append(item)
    absent = [
        name
        for name, read in summary.conversion.tables.items()
        if not read.files and any(rule.table == name for rule in mapping.events)
    ]
    rejected = len(summary.rows_rejected)
    if absent:
        summary.withheld_because = f"no file of table {', '.join(absent)} was found"
    elif rejected:
        rows = "row was" if rejected == 1 else "rows were"
        summary.withheld_because = f"{rejected:,} {rows} rejected (fix them and import again)"
    previous: list[dict[str, Any]] = []
    if db.exists():
        try:
            with EventLog.open_existing(db) as log:
                previous = [dict(r) for r in log.with_prefix(f"{mapping.source}:")]
        except (ValueError, LogError) as error:
            raise OSError(str(error)) from None
    at = datetime.now(UTC).isoformat(timespec="seconds")
    plan = compare(
        previous,
        made,
        source=mapping.source,
        at=at,
        removals=summary.withheld_because is None,
    )
    summary.snapshot = plan.counts
    yield from plan.made


def _lines(
    items: Iterator[Made | RowRejection], summary: ImportSummary, sink: RowRejections
) -> Iterator[bytes]:
    for item in items:
        if isinstance(item, RowRejection):
            summary.rows_rejected.append(item)
            sink.pending.append(Rejected(item.origin, item.reason, item.kept))
            continue
        if summary.first is None or item.occurred < summary.first:
            summary.first = item.occurred
        if summary.last is None or item.occurred > summary.last:
            summary.last = item.occurred
        sink.origins.append(item.origin)
        yield item.line


def _import(
    items: Iterator[Made | RowRejection],
    summary: ImportSummary,
    origin: str,
    council: str,
    store: Sink,
) -> None:
    """The converted rows through the one ingest pipeline into ``store``."""
    sink = RowRejections(store)
    summary.events = ingest(
        _lines(items, summary, sink), sink, origin=origin, council=council, where=sink.where
    )


def _to_log(
    items: Iterator[Made | RowRejection],
    summary: ImportSummary,
    origin: str,
    db: Path,
    config: settings.Settings,
) -> None:
    try:
        log = EventLog(db)
    except (ValueError, LogError) as error:
        raise OSError(str(error)) from None
    with log:
        _import(items, summary, origin, config.council, log)
        log.expire_dead_letters(config.dead_letter_days)


def _to_kafka(
    items: Iterator[Made | RowRejection],
    summary: ImportSummary,
    origin: str,
    broker: str,
    topic: str,
    partitions: int,
    config: settings.Settings,
) -> None:
    from streams.kafka import BrokerError, EventProducer, TopicSink, parse_broker

    try:
        with EventProducer(
            parse_broker(broker), topic, partitions, config.kafka_replication
        ) as producer:
            _import(items, summary, origin, config.council, TopicSink(producer))
    except BrokerError as error:
        raise OSError(str(error)) from None


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def summary_json(
    summary: ImportSummary, mapping: Mapping, covered: list[Covered], *, check: bool
) -> dict[str, Any]:
    """The summary as JSON (``--json``): every rejected row, not only the first ten."""
    events = summary.events
    return {
        "source": mapping.source,
        "check": check,
        "events": {
            "accepted": events.accepted,
            "duplicates": events.duplicates,
            "rejected": events.rejected,
            "first_rejections": [
                {"origin": r.origin, "reason": r.reason} for r in events.first_rejections
            ],
        },
        "types": dict(sorted(summary.conversion.types.items())),
        "tables": {
            name: {"files": read.files, "rows": read.rows}
            for name, read in summary.conversion.tables.items()
        },
        "rows_rejected": [
            {"file": r.file, "row": r.row, "column": r.column, "reason": r.reason}
            for r in summary.rows_rejected
        ],
        "dates": {"first": summary.first, "last": summary.last},
        "coverage": {c.subject: c.to_json() for c in covered},
        "snapshot": None
        if summary.snapshot is None
        else {**summary.snapshot.to_json(), "removals_withheld_because": summary.withheld_because},
    }


def report(
    summary: ImportSummary,
    mapping: Mapping,
    covered: list[Covered],
    console: Console,
    *,
    check: bool,
) -> int:
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
        console.print(f"table {name}: {_plural(read.rows, 'row')} ({found})", markup=False)
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
    counts = summary.snapshot
    if counts is not None:
        would = "would be " if check else ""
        console.print(
            f"snapshot: {counts.unchanged:,} unchanged, {counts.new:,} new, "
            f"{counts.changed:,} changed ({would}retracted and corrected), "
            f"{counts.removed:,} removed ({would}retracted), {counts.restored:,} restored",
            markup=False,
        )
        if counts.removals_withheld:
            console.print(
                f"  {_plural(counts.removals_withheld, 'event')} whose rows are gone "
                f"{'was' if counts.removals_withheld == 1 else 'were'} left in force: "
                f"{summary.withheld_because}",
                markup=False,
            )
    console.print("what this data supports (clocks and measures):")
    for verdict in WORDS:
        subjects = [c for c in covered if c.verdict == verdict]
        if not subjects:
            continue
        console.print(f"  {verdict}: {', '.join(c.subject for c in subjects)}", markup=False)
        for c in subjects:
            if c.note:
                console.print(f"    {c.subject}: {c.note}", markup=False)
    return 0 if events.accepted or events.duplicates else 1
