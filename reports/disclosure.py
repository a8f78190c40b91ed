"""Small-number suppression: what the published report may show.

Counts of 1 to ``threshold - 1`` are shown as "fewer than 5" (zero is shown: it identifies
nobody); a rate over fewer than ``threshold`` cases is not shown, and neither is a figure
about fewer than ``threshold`` children (such as the longest time a child has been out of
education). The threshold is 5 by default (SENDWATCH_REPORT_SUPPRESS_BELOW); 0 or 1 turns
suppression off.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPRESS_BELOW = 5
NO_CASES = "no cases"
NOT_SHOWN = "not shown"


@dataclass(frozen=True, slots=True)
class Disclosure:
    threshold: int = SUPPRESS_BELOW

    @property
    def fewer(self) -> str:
        return f"fewer than {self.threshold}"

    def hides_count(self, n: int) -> bool:
        return 0 < n < self.threshold

    def shows_rate(self, denominator: int) -> bool:
        """Whether a rate over ``denominator`` cases may be shown (it must also exist)."""
        return denominator >= max(self.threshold, 1)

    def count(self, n: int) -> str:
        """``1,234``, ``0`` or ``fewer than 5``."""
        return self.fewer if self.hides_count(n) else f"{n:,}"

    def rate(self, value: float | None, denominator: int) -> str:
        """``66.7%``, ``no cases`` (nothing to rate) or ``not shown`` (too few cases)."""
        if value is None or denominator <= 0:
            return NO_CASES
        if not self.shows_rate(denominator):
            return NOT_SHOWN
        return percent(value)

    def days(self, value: float | None, children: int) -> str:
        """A number of days that describes ``children`` children."""
        if value is None or children <= 0:
            return NO_CASES
        if not self.shows_rate(children):
            return NOT_SHOWN
        return f"{value:,.0f} days" if value != 1 else "1 day"


def percent(value: float) -> str:
    """A share as printed everywhere in the report: one decimal place."""
    return f"{value * 100:.1f}%"
