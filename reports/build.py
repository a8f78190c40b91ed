"""The report from a projector: compute the figures, write the HTML and the PDF.

``build_report`` is given a loaded projector and plain parameters (the month, the cutoff
days, the small-number threshold, the scorecard's points, the published benchmarks); reading
the settings, opening the log or the file and printing warnings are the shell's
(``sendwatch/report_command.py``, the ``sendwatch report`` command).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.progress import Progress

from projections import Projector
from projections.projector import Pause, Quarantined
from projections.scorecard import POINTS, Point
from reports.benchmarks import Benchmarks
from reports.dfe_year import section as dfe_section
from reports.dfe_year import year_to_date
from reports.disclosure import SUPPRESS_BELOW, Disclosure
from reports.document import Options, render_html, write_pdf
from reports.figures import CUTOFF_DAYS, Month, compute, report_files
from reports.names import load_names
from reports.published import open_release


@dataclass(frozen=True, slots=True)
class ReportSettings:
    cutoff_days: int = CUTOFF_DAYS
    suppress_below: int = SUPPRESS_BELOW
    points: tuple[Point, ...] = POINTS
    standards_overridden: bool = False
    benchmarks: Path | None = None
    council: str | None = None  # the LA code whose published figures the report compares
    neighbours: tuple[str, ...] = ()  # its statistical neighbours' LA codes
    release: str | None = None  # the folder (or packaged name) of DfE's published figures
    setting_names: Path | None = None  # the council's CSV of URN to name (urn,name)


def _unwarned(quarantined: Sequence[Quarantined]) -> None:
    pass


def build_report(
    projector: Projector,
    when: Month,
    *,
    chosen: ReportSettings,
    marks: Benchmarks,
    source: str,
    dead_letters: int,
    out: Path,
    as_known_now: bool,
    progress: Progress,
    on_quarantined: Callable[[Sequence[Quarantined]], None] = _unwarned,
    today: date | None = None,
    pause: Pause = nullcontext,
) -> tuple[Path, Path]:
    """Write report-YYYY-MM.html and report-YYYY-MM.pdf into ``out`` (made if missing) from
    ``projector``; returns their paths. ``source`` names where the events came from, in
    words; ``dead_letters`` how many were rejected there. ``on_quarantined`` is told the
    cases the figures leave out (CONTRACT.md 1.1), once they are computed. ``today`` (UK
    time): on or before the month's last day, its last point is a partial month. ``pause``:
    what the figures are worked out inside (the shell's ``paused_collector``)."""
    steps = [
        "folding cases",
        "measuring the month, the month before and both 12 months",
        "monthly trend, ledger, orders",
        "checking the records",
    ] + (["comparing with the original report"] if as_known_now else [])
    steps.append("DfE's measures, year to date")
    task = progress.add_task("Computing figures", total=len(steps))

    def step(what: str) -> None:
        progress.update(task, description=f"Computing figures: {what}")
        progress.advance(task, 0 if what == steps[0] else 1)

    with pause():  # every case folded and measured: millions of objects made
        step(steps[0])
        files = report_files(projector, when, chosen.cutoff_days, as_known_now)  # folded once
        figures = compute(
            projector,
            when,
            cutoff_days=chosen.cutoff_days,
            as_known_now=as_known_now,
            on_step=step,
            files=files,
        )
        step(steps[-1])  # the same cases, the calendar year to the month's end, DfE's way
        dfe = year_to_date(projector, when.last, figures.as_at, files)
        del files
    quarantined = projector.quarantined()  # cases the figures leave out (CONTRACT.md 1.1)
    on_quarantined(quarantined)
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
        names=load_names(chosen.setting_names) if chosen.setting_names else {},
        partial_month=today is not None and today <= when.last,
    )
    disclosure = options.disclosure
    ytd = dfe_section(dfe, open_release(chosen.release), chosen.council, disclosure, when.last)
    html = render_html(figures, marks, options, dfe=ytd)
    progress.advance(writing)
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"report-{when.iso()}.html"
    pdf_path = out / f"report-{when.iso()}.pdf"
    html_path.write_bytes(html.encode("utf-8"))
    progress.advance(writing)
    write_pdf(html, pdf_path)
    progress.advance(writing)
    return html_path, pdf_path
