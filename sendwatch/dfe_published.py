"""``GET /api/published``: the figures DfE has published for the council, beside which the
dashboard's "DfE's measures, year to date" panel sets ``GET /api/dfe``'s.

For each of DfE's measures (``projections.dfe``, named as ``/api/dfe`` names them, by group and
figure) that the release publishes: the latest year before the year asked about, and that
year's figure for the council (``SENDWATCH_COUNCIL``, or the service's own council), its
region, England and (when ``SENDWATCH_NEIGHBOURS`` is set) the neighbours' median, read from
DfE's release (``reports.published``; ``SENDWATCH_PUBLISHED_RELEASE`` or the newest packaged
one). A figure DfE did not give has ``value`` null and ``reason`` in words, never a zero.
Shares are from 0 to 1, as ``/api/dfe``'s rates are.
"""

from __future__ import annotations

import functools
from typing import Any

from projections.dfe import GROUPS, dfe_figures
from reports.published import (
    EES_URL,
    ENGLAND,
    Figure,
    PublishedError,
    Release,
    UnknownArea,
    open_release,
)
from sendwatch import settings

LICENCE = "Open Government Licence v3.0"


@functools.lru_cache(maxsize=4)
def _release(choice: str | None) -> Release:
    return open_release(choice)


def _area(figure: Figure | None, reason: str | None = None) -> dict[str, Any]:
    if figure is None:
        return {"value": None, "reason": reason, "note": None}
    return {"value": figure.value, "reason": figure.reason, "note": figure.note}


def published_for(
    release: Release, council: str, neighbours: tuple[str, ...], year: int
) -> dict[str, Any]:
    """The published figures beside DfE's measures for ``year`` (pure reading)."""
    try:
        own = release.area(council)
    except UnknownArea:
        own = None
    region = release.region(council) if own is not None else None
    unknown = [c for c in neighbours if c not in {a.code for a in release.areas()}]
    figures: dict[str, dict[str, Any]] = {}
    for group, named in dfe_figures([], year).items():
        for name, measure in named.items():
            column = measure.dfe_column
            if column is None or not release.has(column):
                continue
            years = [y for y in release.years(column) if y < year]
            if not years:
                continue
            when = years[-1]
            item: dict[str, Any] = {
                "dfe_column": column,
                "year": when,
                "share": release.measure(column).share,
            }
            if own is None:
                item["council"] = _area(None, f"LA code {council} is not in {release.name}")
            else:
                item["council"] = _area(release.figure(council, column, when))
            item["region"] = (
                None if region is None else _area(release.figure(region.code, column, when))
            )
            item["england"] = _area(release.figure(ENGLAND, column, when))
            if not neighbours:
                item["neighbours"] = None
            elif unknown:
                item["neighbours"] = _area(None, f"LA code {unknown[0]} is not in {release.name}")
            else:
                item["neighbours"] = _area(release.neighbours(neighbours, column, when))
            figures.setdefault(group, {})[name] = item
    return {
        "release": release.name,
        "title": release.title,
        "source": EES_URL,
        "licence": LICENCE,
        "year": year,
        "council": {"code": council, "name": own.name if own else None},
        "region": None if region is None else {"code": region.code, "name": region.name},
        "neighbours": list(neighbours),
        "figures": {g: figures[g] for g in GROUPS if g in figures},
    }


def published_json(year: int, council: str | None = None) -> dict[str, Any]:
    """``published_for`` with the settings: the release, the council (``council``, else
    ``SENDWATCH_COUNCIL``) and its neighbours. Raises ValueError naming a wrong setting."""
    config = settings.load()
    try:
        release = _release(config.published_release)
    except PublishedError as error:
        raise ValueError(f"SENDWATCH_PUBLISHED_RELEASE: {error}") from None
    return published_for(release, council or config.council, config.neighbour_codes(), year)
