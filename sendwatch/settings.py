"""Settings from the environment (SENDWATCH_*), read when asked, never cached globally."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from projections.scorecard import Point

KENT = "886"


def council() -> str:
    """The DfE local-authority code stamped on events that carry none (Kent: 886)."""
    return os.environ.get("SENDWATCH_COUNCIL", KENT)


def api_token() -> str | None:
    """The bearer token the API asks for (SENDWATCH_API_TOKEN)."""
    return os.environ.get("SENDWATCH_API_TOKEN") or None


def scorecard_points() -> tuple[Point, ...]:
    """The petition points with local targets and floors (SENDWATCH_TARGETS: a YAML or JSON
    file such as ``{4: {target: 0.6, floor: 0.46}}``); the built-in standards otherwise."""
    from projections.scorecard import POINTS, with_overrides

    path = os.environ.get("SENDWATCH_TARGETS")
    if not path:
        return POINTS
    import yaml

    with open(path, encoding="utf-8") as stream:
        given = yaml.safe_load(stream) or {}
    overrides = {int(n): {k: float(v) for k, v in (s or {}).items()} for n, s in given.items()}
    return with_overrides(overrides)


DEAD_LETTER_DAYS = 90


def dead_letter_days() -> int:
    """How many days dead letters are kept before they are purged (SENDWATCH_DEAD_LETTER_DAYS,
    default 90): they keep the raw input, which may hold personal data. Raises ValueError
    naming the variable if it is not a whole number of days, at least 1."""
    text = os.environ.get("SENDWATCH_DEAD_LETTER_DAYS", "").strip()
    if not text:
        return DEAD_LETTER_DAYS
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(
            "SENDWATCH_DEAD_LETTER_DAYS: expected a whole number of days (at least 1), "
            f"got {text!r}"
        )
    return int(text)
