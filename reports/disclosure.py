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

    def rate(self, value: float | None, denominator: int, part: int | None = None) -> str:
        """``66.7%``, ``no cases`` (nothing to rate) or ``not shown`` (too few cases, or a
        share of ``part``, a count printed beside it, that is itself suppressed: "fewer
        than 5 · 10.0%" of 10 would say it is exactly 1)."""
        if value is None or denominator <= 0:
            return NO_CASES
        if not self.shows_rate(denominator):
            return NOT_SHOWN
        if part is not None and self.hides_count(part):
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


# --- tables: primary and secondary suppression -------------------------------------------

Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Table:
    """A table of counts as the report prints it: ``cells`` (rows × columns), and whether
    each row's total is printed (as a last column) and each column's total (as a last row).

    A printed total ties its parts together: a reader can subtract every shown part from it.
    Positions are in the table with its totals: ``(row, len(columns))`` is a row's total,
    ``(len(rows), column)`` a column's, and ``(len(rows), len(columns))`` the grand total
    (printed when both are)."""

    cells: tuple[tuple[int, ...], ...]
    row_totals: bool = False
    column_totals: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.cells[0]) if self.cells else 0

    def value(self, cell: Cell) -> int:
        rows, columns = self.shape
        r, c = cell
        if r < rows and c < columns:
            return self.cells[r][c]
        if r < rows:
            return sum(self.cells[r])
        if c < columns:
            return sum(row[c] for row in self.cells)
        return sum(sum(row) for row in self.cells)

    def positions(self) -> list[Cell]:
        """Every printed position: the cells and the printed totals."""
        rows, columns = self.shape
        width = columns + (1 if self.row_totals else 0)
        height = rows + (1 if self.column_totals else 0)
        return [
            (r, c)
            for r in range(height)
            for c in range(width)
            if not (r == rows and c == columns and not (self.row_totals and self.column_totals))
        ]

    def lines(self) -> list[list[Cell]]:
        """Each printed sum with its parts: a row with its total, a column with its total
        (the row of column totals with the grand total, and so on)."""
        rows, columns = self.shape
        out = []
        if self.row_totals:
            height = rows + (1 if self.column_totals else 0)
            out += [[(r, c) for c in range(columns + 1)] for r in range(height)]
        if self.column_totals:
            width = columns + (1 if self.row_totals else 0)
            out += [[(r, c) for r in range(rows + 1)] for c in range(width)]
        return out


def determined(table: Table, hidden: frozenset[Cell] | set[Cell]) -> list[Cell]:
    """The hidden entries a reader could work out exactly from the printed ones: those
    fixed by the printed sums (each a row's or column's parts adding to its total), however
    the other hidden entries are chosen. An entry is fixed when every solution of the sums
    agrees on it: its coordinate is zero in every direction the sums leave free."""
    import numpy as np

    order = sorted(hidden)
    index = {p: i for i, p in enumerate(order)}
    equations = []
    for line in table.lines():
        if any(p in index for p in line):
            row = np.zeros(len(order))
            for p in line:
                if p in index:
                    row[index[p]] = -1.0 if p == line[-1] else 1.0  # the total is last
            equations.append(row)
    if not equations:
        return []
    _, values, basis = np.linalg.svd(np.array(equations))
    rank = int((values > 1e-9).sum())
    free = basis[rank:]  # the directions in which the hidden entries may move together
    return [p for p in order if not np.any(np.abs(free[:, index[p]]) > 1e-9)]


def suppress(
    table: Table,
    threshold: int = SUPPRESS_BELOW,
    withheld: frozenset[Cell] = frozenset(),
    *,
    exact: bool = True,
) -> frozenset[Cell]:
    """The positions (cells and totals) the report must not print.

    Primary: every count from 1 to ``threshold - 1``, and ``withheld`` (entries not printed
    whatever their size, such as the settings a listing leaves out, summed). Secondary:
    while a printed sum has exactly one hidden entry (a reader could subtract the rest from
    the total), hide one more in it: the smallest count there that is not zero (a zero only
    when there is no other), preferring a part to a total. Then, with ``exact``, while the
    printed sums still fix a hidden entry (``determined``: a hidden entry linking two
    otherwise separate groups of them can be worked out), hide the smallest other entry in
    one of its sums. Last, every secondary entry that nothing needs is printed again, the
    largest first, so none is hidden needlessly."""
    primary = {p for p in table.positions() if 0 < table.value(p) < threshold} | withheld
    hidden = set(primary)
    lines = table.lines()
    rows, columns = table.shape

    def exposed() -> list[Cell] | None:
        for line in lines:
            if sum(1 for p in line if p in hidden) == 1:
                return line
        return None

    def smallest(candidates: list[Cell]) -> Cell:
        return min(
            candidates,
            key=lambda p: (
                p[0] >= rows or p[1] >= columns,  # a part before a total
                table.value(p) == 0,  # a zero protects little: it is often guessed
                table.value(p),
                p,
            ),
        )

    def safe() -> bool:
        return exposed() is None and not (exact and determined(table, hidden))

    while True:
        while (line := exposed()) is not None:
            hidden.add(smallest([p for p in line if p not in hidden]))
        fixed = determined(table, hidden) if exact else []
        if not fixed:
            break
        through = [q for line in lines if fixed[0] in line for q in line if q not in hidden]
        rest = [q for q in table.positions() if q not in hidden]
        if not (through or rest):
            break  # everything is hidden: nothing is printed to work from
        hidden.add(smallest(through or rest))
    secondary = sorted(hidden - primary, key=lambda p: (-table.value(p), p))
    for p in secondary:
        hidden.discard(p)
        if not safe():
            hidden.add(p)
    return frozenset(hidden)


@dataclass(frozen=True, slots=True)
class Shown:
    """A table as it may be printed: each position's text, and shares only of printed
    counts over printed bases."""

    table: Table
    hidden: frozenset[Cell]
    disclosure: Disclosure

    def count(self, cell: Cell) -> str:
        if cell in self.hidden:
            value = self.table.value(cell)
            return self.disclosure.fewer if self.disclosure.hides_count(value) else NOT_SHOWN
        return f"{self.table.value(cell):,}"

    def share(self, part: Cell, base: Cell) -> str:
        """``part`` as a share of ``base``: not shown when either count is hidden (a share
        beside a hidden count, or of a hidden base, would let a reader work it back out)."""
        denominator = self.table.value(base)
        if denominator <= 0:
            return NO_CASES
        if part in self.hidden or base in self.hidden:
            return NOT_SHOWN
        return self.disclosure.rate(self.table.value(part) / denominator, denominator)


def shown(
    table: Table,
    disclosure: Disclosure,
    withheld: frozenset[Cell] = frozenset(),
    *,
    exact: bool = True,
) -> Shown:
    """``table`` with primary and secondary suppression at the disclosure's threshold
    (``exact=False``: the rule on each printed sum only, for a quick first ranking)."""
    hidden = suppress(table, disclosure.threshold, withheld, exact=exact)
    return Shown(table, hidden, disclosure)
