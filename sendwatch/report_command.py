"""``sendwatch report``: read the settings, load the events, write the HTML and the PDF.

The shell's part of the report: the settings (``sendwatch.settings``, listed in the
README's "Settings" table: ``SENDWATCH_REPORT_CUTOFF_DAYS``,
``SENDWATCH_REPORT_SUPPRESS_BELOW``, ``SENDWATCH_TARGETS``, the same standards as the
dashboard and the API, ``SENDWATCH_REPORT_BENCHMARKS``, and whose published figures it
compares with: ``SENDWATCH_COUNCIL``, ``SENDWATCH_NEIGHBOURS``,
``SENDWATCH_PUBLISHED_RELEASE``; the schools' names: ``SENDWATCH_SETTING_NAMES``), the
events from a file or the log (``streams.replay.load_projector``), the warnings;
``reports.build.build_report`` makes the report from the projector.

Exit codes: 0 written; 1 no valid event in the input; 2 a usage error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from events.envelope import LONDON
from projections import Projector
from projections.projector import Quarantined
from reports import benchmarks as published
from reports.benchmarks import Benchmarks
from reports.build import ReportSettings, build_report
from reports.figures import Month
from reports.names import NamesError, load_names
from reports.published import PublishedError, UnknownArea, open_release
from sendwatch import settings
from sendwatch.source import quarantine_warning
from sendwatch.tuning import paused_collector
from streams.log import LogError, check_log
from streams.replay import load_projector


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
        config.council,
        config.neighbour_codes(),
        config.published_release,
        config.setting_names,
    )


def report_benchmarks(chosen: ReportSettings) -> Benchmarks:
    """The published figures the report compares with: DfE's release (the newest packaged one,
    or SENDWATCH_PUBLISHED_RELEASE) for the council's LA code, its region and its statistical
    neighbours, and the benchmarks file. Raises ValueError naming the setting that is wrong."""
    extra = published.load(chosen.benchmarks)
    try:
        release = open_release(chosen.release)
    except PublishedError as error:
        raise ValueError(f"SENDWATCH_PUBLISHED_RELEASE: {error}") from None
    try:
        return published.for_council(release, chosen.council or "", chosen.neighbours, extra)
    except UnknownArea as error:
        raise ValueError(f"SENDWATCH_NEIGHBOURS: {error}") from None


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
    if events is not None:
        size = None if events == "-" else Path(events).stat().st_size
        task = progress.add_task("Reading events", total=size)
        loaded = load_projector(
            events,
            db,
            pause=paused_collector,
            read=lambda stream: _lines(stream, progress, task),
        )
        progress.update(task, total=progress.tasks[task].completed)
        for item in loaded.rejected:
            console.print(f"rejected {item.origin}: {item.reason}", markup=False)
        return loaded.projector, loaded.dead_letters, loaded.source
    task = progress.add_task("Reading the event log", total=None)
    # never makes a log (checked by report_command)
    loaded = load_projector(None, db, pause=paused_collector)
    progress.update(task, total=1, completed=1)
    return loaded.projector, loaded.dead_letters, loaded.source


def report_command(month: str, events: str | None, db: Path, out: Path, as_known_now: bool) -> int:
    """Write report-YYYY-MM.html and report-YYYY-MM.pdf into ``out``; returns the exit code."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # an error: one line
    try:
        when = Month.parse(month)
        chosen = report_settings()
        marks = report_benchmarks(chosen)
        if chosen.setting_names is not None:
            try:  # a wrong file is a usage error, said before any work
                load_names(chosen.setting_names)
            except NamesError as error:
                raise ValueError(f"SENDWATCH_SETTING_NAMES: {error}") from None
    except (ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if events is None:
        try:
            check_log(db, create=False)  # a log, which it only reads: nothing is written
        except LogError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")
            return 2
    if events is not None and events != "-" and not Path(events).is_file():
        console.print(f"[red]error:[/red] cannot read {events}: no such file")
        return 2

    def warn(quarantined: Sequence[Quarantined]) -> None:
        warning = quarantine_warning(quarantined)
        if warning is not None:
            console.print(warning, markup=False)

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
        html_path, pdf_path = build_report(
            projector,
            when,
            chosen=chosen,
            marks=marks,
            source=source,
            dead_letters=dead_letters,
            out=out,
            as_known_now=as_known_now,
            progress=progress,
            on_quarantined=warn,
            today=datetime.now(LONDON).date(),  # the month not over yet: a partial month
            pause=paused_collector,
        )
    console.print(f"wrote {html_path} and {pdf_path}")
    return 0
