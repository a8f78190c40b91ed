"""``sendwatch ingest``: a file to the embedded log (or to Kafka), with progress and a summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sendwatch import settings
from streams.ingest import IngestSummary, ingest
from streams.log import EventLog
from streams.replay import open_lines


def report_summary(summary: IngestSummary, console: Console) -> int:
    """Print the summary; the exit code is 0 if anything was accepted, else 1."""
    console.print(
        f"accepted {summary.accepted:,}, duplicates {summary.duplicates:,}, "
        f"rejected {summary.rejected:,}"
    )
    for item in summary.first_rejections:
        console.print(f"  rejected {item.origin}: {item.reason}", markup=False)
    if summary.rejected > len(summary.first_rejections):
        console.print(f"  … and {summary.rejected - len(summary.first_rejections):,} more")
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
        console.print(f"[red]error:[/red] no such file: {path}")
        return 2
    origin = "stdin" if path == "-" else path
    if broker is not None:
        from streams.kafka import BrokerError, produce_file

        try:
            summary = produce_file(
                path, broker=broker, topic=topic, partitions=partitions, council=settings.council()
            )
        except BrokerError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
        return report_summary(summary, console)
    size = os.path.getsize(path) if path != "-" else None
    with (
        EventLog(db) as log,
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
    return report_summary(summary, console)
