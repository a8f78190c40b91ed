"""``sendwatch report``: load the events, compute the figures, write the HTML and the PDF.

Settings (``sendwatch.settings``, listed in the README's "Settings" table):
``SENDWATCH_REPORT_CUTOFF_DAYS``, ``SENDWATCH_REPORT_SUPPRESS_BELOW``, ``SENDWATCH_TARGETS``
(the same standards as the dashboard and the API) and ``SENDWATCH_REPORT_BENCHMARKS``.

Exit codes: 0 written; 1 no valid event in the input; 2 a usage error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from projections import Projector
from projections.scorecard import POINTS, Point
from reports import benchmarks as published
from reports.disclosure import SUPPRESS_BELOW, Disclosure
from reports.document import Options, render_html, write_pdf
from reports.figures import CUTOFF_DAYS, Month, compute
from sendwatch import settings
from sendwatch.source import quarantine_warning


@dataclass(frozen=True, slots=True)
class ReportSettings:
    cutoff_days: int = CUTOFF_DAYS
    suppress_below: int = SUPPRESS_BELOW
    points: tuple[Point, ...] = POINTS
    standards_overridden: bool = False
    benchmarks: Path | None = None


def report_settings() -> ReportSettings:
    """The report's settings (``sendwatch.settings``, the one place they are read); raises
    ValueError naming the one wrong."""
    config = settings.load()
    try:
        points = config.scorecard_points()  # the same standards as the dashboard and API
    except (OSError, yaml.YAMLError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"SENDWATCH_TARGETS: cannot use {config.targets}: {error}") from None
    return ReportSettings(
        config.report_cutoff_days,
        config.report_suppress_below,
        points,
        config.targets is not None,
        config.report_benchmarks,
    )


def _lines(stream: BinaryIO, progress: Progress, task: TaskID) -> Iterator[bytes]:
    """The file's lines, moving the progress bar on by the bytes read."""
    done = 0
    for n, line in enumerate(stream, 1):
        done += len(line)
        if n % 20_000 == 0:
            progress.update(task, completed=done)
        yield line
    progress.update(task, completed=done)


def _load(
    events: str | None, db: Path, progress: Progress, console: Console
) -> tuple[Projector, int, str]:
    """A projector over the JSONL file or the embedded log; dead letters; where from."""
    from streams.replay import catch_up, open_lines, replay_lines

    projector = Projector()
    if events is not None:
        size = None if events == "-" else Path(events).stat().st_size
        task = progress.add_task("Reading events", total=size)
        with open_lines(events) as stream:
            rejected = replay_lines(
                projector,
                _lines(stream, progress, task),
                origin=events if events != "-" else "stdin",
            )
        progress.update(task, total=progress.tasks[task].completed)
        for item in rejected:
            console.print(f"rejected {item.origin}: {item.reason}", markup=False)
        return projector, len(rejected), "a file of events"
    from streams.log import EventLog

    task = progress.add_task("Reading the event log", total=None)
    with EventLog.open_existing(db) as log:  # never makes one (checked by report_command)
        catch_up(projector, log)
        dead = log.dead_letter_count()
    progress.update(task, total=1, completed=1)
    return projector, dead, "the embedded event log"


def report_command(month: str, events: str | None, db: Path, out: Path, as_known_now: bool) -> int:
    """Write report-YYYY-MM.html and report-YYYY-MM.pdf into ``out``; returns the exit code."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # an error: one line
    try:
        when = Month.parse(month)
        chosen = report_settings()
        marks = published.load(chosen.benchmarks)
    except (ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if events is None:
        from rich.markup import escape

        from streams.log import LogError, check_log

        try:
            check_log(db, create=False)  # a log, which it only reads: nothing is written
        except LogError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
    if events is not None and events != "-" and not Path(events).is_file():
        console.print(f"[red]error:[/red] cannot read {events}: no such file")
        return 2
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        projector, dead_letters, source = _load(events, db, progress, console)
        if projector.event_count == 0:
            console.print("[red]error:[/red] no valid event in the input")
            return 1
        steps = [
            "folding cases",
            "measuring the month",
            "measuring the month before",
            "measuring the rolling 12 months",
            "measuring the 12 months before",
            "monthly trend, ledger, orders",
            "checking the records",
        ] + (["comparing with the original report"] if as_known_now else [])
        task = progress.add_task("Computing figures", total=len(steps))

        def step(what: str) -> None:
            progress.update(task, description=f"Computing figures: {what}")
            progress.advance(task, 0 if what == steps[0] else 1)

        figures = compute(
            projector, when, cutoff_days=chosen.cutoff_days, as_known_now=as_known_now, on_step=step
        )
        quarantined = projector.quarantined()  # cases the figures leave out (CONTRACT.md 1.1)
        warning = quarantine_warning(quarantined)
        if warning is not None:
            console.print(warning, markup=False)
        progress.update(task, completed=len(steps), description="Computing figures")
        writing = progress.add_task("Writing HTML and PDF", total=3)
        options = Options(
            cutoff_days=chosen.cutoff_days,
            disclosure=Disclosure(chosen.suppress_below),
            points=chosen.points,
            standards_overridden=chosen.standards_overridden,
            source=source,
            dead_letters=dead_letters,
            quarantined=len(quarantined),
        )
        html = render_html(figures, marks, options)
        progress.advance(writing)
        out.mkdir(parents=True, exist_ok=True)
        html_path = out / f"report-{when.iso()}.html"
        pdf_path = out / f"report-{when.iso()}.pdf"
        html_path.write_bytes(html.encode("utf-8"))
        progress.advance(writing)
        write_pdf(html, pdf_path)
        progress.advance(writing)
    console.print(f"wrote {html_path} and {pdf_path}")
    return 0
