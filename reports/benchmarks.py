"""Published figures shown beside the report's own (reports/benchmarks.yml), with sources."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from projections.law import CLOCK_IDS

RATES = ("rate_incl_exceptions", "rate_excl_exceptions")


@dataclass(frozen=True, slots=True)
class Source:
    key: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Published:
    """One published figure: a share of cases (0 to 1) for an area and a year."""

    area: str
    year: str
    value: float | None
    source: Source
    note: str | None = None
    what: str | None = None  # for figures that are not a clock's rate


@dataclass(frozen=True, slots=True)
class ClockBenchmark:
    clock: str
    measure: str  # which rate of the clock the figures compare with
    figures: tuple[Published, ...]

    @property
    def england(self) -> Published | None:
        """The most recent England figure (drawn on the clock's chart)."""
        found = [f for f in self.figures if f.area == "England" and f.value is not None]
        return max(found, key=lambda f: f.year, default=None)

    def latest(self, area: str) -> Published | None:
        found = [f for f in self.figures if f.area == area and f.value is not None]
        return max(found, key=lambda f: f.year, default=None)


@dataclass(frozen=True, slots=True)
class Benchmarks:
    clocks: dict[str, ClockBenchmark]
    appeals: tuple[Published, ...]
    sources: tuple[Source, ...]


def load(path: Path | None = None) -> Benchmarks:
    """The packaged benchmarks.yml, or another file of the same shape."""
    if path is None:
        text = resources.files("reports").joinpath("benchmarks.yml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse(yaml.safe_load(text))


def parse(document: Any) -> Benchmarks:
    """Check and convert the YAML document; raises ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("benchmarks: expected a mapping")
    sources = {
        key: Source(key, " ".join(str(item["title"]).split()), item.get("url"))
        for key, item in (document.get("sources") or {}).items()
    }

    def published(item: dict[str, Any], where: str) -> Published:
        source = sources.get(item.get("source", ""))
        if source is None:
            raise ValueError(f"{where}: unknown source {item.get('source')!r}")
        value = item.get("value")
        if value is not None and not 0 <= float(value) <= 1:
            raise ValueError(f"{where}: value must be a share between 0 and 1, got {value}")
        what = item.get("what")
        return Published(
            str(item["area"]),
            str(item["year"]),
            None if value is None else float(value),
            source,
            item.get("note"),
            None if what is None else " ".join(str(what).split()),
        )

    clocks = {}
    for clock, entry in (document.get("clocks") or {}).items():
        if clock not in CLOCK_IDS:
            raise ValueError(f"benchmarks: unknown clock {clock!r}")
        measure = entry.get("measure", "rate_excl_exceptions")
        if measure not in RATES:
            raise ValueError(f"benchmarks.{clock}.measure: expected one of {RATES}")
        clocks[clock] = ClockBenchmark(
            clock,
            measure,
            tuple(published(f, f"benchmarks.{clock}") for f in entry.get("figures") or ()),
        )
    appeals = tuple(published(f, "benchmarks.appeals") for f in document.get("appeals") or ())
    used = {f.source.key for b in clocks.values() for f in b.figures} | {
        f.source.key for f in appeals
    }
    return Benchmarks(clocks, appeals, tuple(s for k, s in sources.items() if k in used))
