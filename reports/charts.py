"""The report's charts: SVG from matplotlib, text kept as text, the same bytes every time.

A ``Figure`` is drawn straight to SVG (no pyplot, no GUI backend, no global state).

Each chart comes with its alt text, which says in words everything the chart shows. The
SVG carries no date, and its element ids come from a fixed salt, so the same figures always
give the same bytes (the report's HTML is byte-identical on rebuild).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

INK = "#0b0c0c"
LINE = "#1d70b8"  # blue: the council's share
NATIONAL = "#b25400"  # dark orange: England
GRID = "#d0d0d0"
RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: searchable, extractable, read aloud
    "svg.hashsalt": "sendwatch-report",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
}


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str  # the SVG document
    alt: str  # the chart in words

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


@dataclass(frozen=True, slots=True)
class Point:
    label: str  # "Jun 2025"
    value: float | None  # a share, None when there is nothing to show
    words: str  # the value as the report prints it ("66.7%", "not shown", "no cases")
    partial: bool = False  # the month is not over: its figures are for part of it


def trend(
    key: str,
    subject: str,
    points: Sequence[Point],
    benchmark: tuple[str, float] | None = None,
) -> Chart:
    """A line of monthly shares with the national figure as a dashed line.

    ``key`` makes the SVG's ids unique in the page; ``subject`` says what the share is of."""
    rc: Any = {**RC, "svg.hashsalt": f"sendwatch-report-{key}"}
    with matplotlib.rc_context(rc):
        figure = Figure(figsize=(6.6, 1.9), dpi=100)
        axes = figure.add_axes((0.07, 0.22, 0.92, 0.62))
        xs = list(range(len(points)))
        ys = [float("nan") if p.value is None else p.value for p in points]
        axes.plot(
            xs, ys, color=LINE, linewidth=1.8, marker="o", markersize=3.5, label="This council"
        )
        if benchmark is not None:
            label, value = benchmark
            axes.axhline(value, color=NATIONAL, linewidth=1.4, linestyle=(0, (5, 3)), label=label)
        axes.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.02),
            ncol=2,
            frameon=False,
            fontsize=7.5,
            borderaxespad=0.0,
            handlelength=2.4,
        )
        for x, p in zip(xs, points, strict=True):
            if p.value is None:
                axes.annotate(
                    "–" if p.words == "no cases" else "n/s",
                    (x, 0.02),
                    ha="center",
                    va="bottom",
                    color="#505a5f",
                    fontsize=7,
                )
        axes.set_ylim(0, 1.05)
        axes.set_xlim(-0.4, len(points) - 0.6)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        axes.set_xticks(xs, [_tick(p.label, n, p.partial) for n, p in enumerate(points)])
        axes.tick_params(axis="both", labelsize=7.5, length=2)
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _tidy(buffer.getvalue())
    return Chart(svg, _alt(subject, points, benchmark))


def _tick(label: str, n: int, partial: bool = False) -> str:
    """``Jun``, with the year below it for the first month and each January; a month not
    over yet is marked ``(partial)``."""
    month, year = label.split(" ")
    tick = f"{month}\n{year}" if n == 0 or month == "Jan" else month
    return f"{tick}\n(partial)" if partial else tick


def _tidy(svg: str) -> str:
    """Drop what a chart does not need in a web page (the XML prologue, the DOCTYPE)."""
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)


def _alt(subject: str, points: Sequence[Point], benchmark: tuple[str, float] | None) -> str:
    first, last = points[0].label, points[-1].label
    values = "; ".join(
        f"{p.label}{' (partial month)' if p.partial else ''}: {p.words}" for p in points
    )
    text = f"Line chart of the share of {subject}, month by month from {first} to {last}. {values}."
    if benchmark is not None:
        text += f" Dashed line: {benchmark[0]}."
    return text
