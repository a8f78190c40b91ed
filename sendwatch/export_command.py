"""``sendwatch export sen2``: the SEN2 return for a census date from the events (a JSONL file
or the embedded log), in the COLLECT "Blade" CSV layout, with its validation report
(``exchange.sen2_export``; docs/sen2-export.md).

Exit codes: 0 written (failed checks are listed, not fatal: the council fixes them in its own
system); 1 no valid event in the input; 2 a usage error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console

from exchange.sen2_export import CHECKS, build, census_year, validate, write
from projections import Projector
from sendwatch import settings
from sendwatch.query import parse_date
from sendwatch.source import quarantine_warning
from sendwatch.tuning import paused_collector
from streams.log import LogError
from streams.replay import load_projector


def parse_census(text: str) -> str | None:
    """Why ``--census`` is not a date from 2000-01-01 to 2100-12-31, or None."""
    try:
        parse_date(text, "--census")
    except ValueError as error:
        return str(error)
    return None


def export_sen2(*, census: str, out: Path, events: str | None, db: Path, console: Console) -> int:
    day = parse_date(census, "--census")
    try:
        loaded = load_projector(events, db, pause=paused_collector)
    except LogError as error:
        console.print(f"error: {error}", markup=False)
        return 2
    except OSError as error:
        console.print(f"error: cannot read {events or db}: {error.strerror}", markup=False)
        return 2
    for item in loaded.rejected:
        console.print(f"rejected {item.origin}: {item.reason}", markup=False)
    projector: Projector = loaded.projector
    if not projector.event_count and loaded.rejected:
        console.print("error: no valid event in the input", markup=False)
        return 1
    warning = quarantine_warning(projector.quarantined())
    if warning is not None:
        console.print(warning, markup=False)
    cases = ((case.case_id, case.history) for case in projector.case_files())
    export = build(cases, day, settings.council())
    validation = validate(export)
    try:
        written = write(export, validation, out)
    except OSError as error:
        console.print(f"error: cannot write {error.filename}: {error.strerror}", markup=False)
        return 2
    first, last = census_year(day)
    console.print(
        f"SEN2 return for census day {day} (census year {first} to {last}, "
        f"LA {export.council}): {export.cases:,} people",
        markup=False,
    )
    scope = ", ".join(f"{module} {n:,}" for module, n in validation.in_scope.items())
    console.print(f"rows: {scope}", markup=False)
    counts = Counter(f.check for f in validation.failures)
    failed = ", ".join(f"{name} {counts[name]:,}" for name in CHECKS if counts[name])
    console.print(
        f"checks failed: {len(validation.failures):,}" + (f" ({failed})" if failed else ""),
        markup=False,
    )
    console.print(
        "upn holds the pseudonymous case id: the council replaces it with the UPN and adds "
        "the personal details (validation.txt lists what to add)",
        markup=False,
    )
    console.print(f"wrote {len(written)} files to {out}", markup=False)
    return 0
