"""Settings from the environment (SENDWATCH_*), read when asked, never cached globally."""

from __future__ import annotations

import os

KENT = "886"


def council() -> str:
    """The DfE local-authority code stamped on events that carry none (Kent: 886)."""
    return os.environ.get("SENDWATCH_COUNCIL", KENT)


def api_token() -> str | None:
    """The bearer token the API asks for (SENDWATCH_API_TOKEN)."""
    return os.environ.get("SENDWATCH_API_TOKEN") or None
