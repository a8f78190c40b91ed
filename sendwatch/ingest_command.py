"""``sendwatch ingest``: a file to the embedded log (or to Kafka), with progress and a summary.

The log is made if there is none (in a folder that exists); a path that is not a sendwatch
log is refused, naming it. Each batch is fsynced before it is acknowledged (``--acks``).
Dead letters older than SENDWATCH_DEAD_LETTER_DAYS (default 90) are purged afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sendwatch import settings
from streams.ingest import IngestSummary, ingest
from streams.log import EventLog, LogError
from streams.replay import open_lines


def report_summary(summary: IngestSummary, console: Console) -> int:
    """Print the summary; the exit code is 0 if anything was accepted, else 1. When more
    than half the lines were rejected, a warning line says so (the exit code stays 0 if
    anything was accepted: what was accepted is stored)."""
    console.print(
        f"accepted {summary.accepted:,}, duplicates {summary.duplicates:,}, "
        f"rejected {summary.rejected:,}"
    )
    for item in summary.first_rejections:
        console.print(f"  rejected {item.origin}: {item.reason}", markup=False)
    if summary.rejected > len(summary.first_rejections):
        console.print(f"  … and {summary.rejected - len(summary.first_rejections):,} more")
    lines = summary.accepted + summary.duplicates + summary.rejected
    if summary.rejected * 2 > lines:
        console.print(
            f"[bold red]warning:[/bold red] {summary.rejected:,} of {lines:,} lines were "
            "rejected (more than half): is this the right file, in sendwatch's event format? "
            "The rejected lines are dead letters (sendwatch dead-letters list)"
        )
    return 0 if summary.accepted else 1


def ingest_command(
    path: str,
    *,
    db: Path,
    broker: str | None,
    topic: str,
    partitions: int,
    acks: bool,
    console: Console,
) -> int:
    if path != "-" and not os.path.exists(path):
        console.print(f"[red]error:[/red] no such file: {escape(path)}")
        return 2
    if path != "-" and not os.path.isfile(path):
        console.print(f"[red]error:[/red] {escape(path)} is not a file of events")
        return 2
    if path != "-" and not os.access(path, os.R_OK):
        console.print(f"[red]error:[/red] cannot read {escape(path)}: permission denied")
        return 2
    origin = "stdin" if path == "-" else path
    if broker is not None:
        from streams.kafka import BrokerError, produce_file

        try:
            config = settings.load()
            summary = produce_file(
                path,
                broker=broker,
                topic=topic,
                partitions=partitions,
                council=config.council,
                replication=config.kafka_replication,
            )
        except BrokerError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
        return report_summary(summary, console)
    try:
        keep_days = settings.dead_letter_days()
        log = EventLog(db)
    except (ValueError, LogError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    size = os.path.getsize(path) if path != "-" else None
    with (
        log,
        open_lines(path) as stream,
        Progress(
            TextColumn("ingesting"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} bytes"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as progress,
    ):
        task = progress.add_task("ingest", total=size)

        def on_commit(summary: IngestSummary) -> None:
            if size is not None:
                progress.update(task, completed=stream.tell())
            if acks:
                sys.stdout.write(f"ack {summary.lines}\n")
                sys.stdout.flush()

        summary = ingest(
            stream, log, origin=origin, council=settings.council(), on_commit=on_commit
        )
        purged = log.expire_dead_letters(keep_days)
    code = report_summary(summary, console)
    if purged:
        console.print(f"purged {purged:,} dead letters received more than {keep_days} days ago")
    return code
