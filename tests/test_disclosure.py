"""Small-number suppression cannot be undone: over random tables with printed totals, no
suppressed count can be worked back out from what is printed, and no count is hidden
needlessly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.disclosure import Cell, Disclosure, Table, shown, suppress

THRESHOLD = 5


@st.composite
def tables(draw: st.DrawFn) -> Table:
    rows = draw(st.integers(1, 6))
    columns = draw(st.integers(1, 6))
    # small counts often: the interesting tables have several below the threshold
    count = st.one_of(st.integers(0, 6), st.integers(0, 60))
    cells = tuple(tuple(draw(count) for _ in range(columns)) for _ in range(rows))
    return Table(cells, row_totals=draw(st.booleans()), column_totals=draw(st.booleans()))


@given(tables())
@settings(max_examples=400, deadline=None)
def test_no_printed_sum_has_exactly_one_hidden_part(table: Table) -> None:
    # A printed total with all but one of its parts printed gives the last one away: every
    # row and column whose total is printed has no hidden entry or at least two.
    hidden = suppress(table, THRESHOLD)
    for line in table.lines():
        assert sum(1 for p in line if p in hidden) != 1, (line, hidden)


def worked_out(table: Table, hidden: frozenset[Cell]) -> list[Cell]:
    """The hidden entries the printed sums fix, found by solving: an entry is fixed when
    adding "this entry is known" to the sums does not raise their rank (its value is
    already a combination of what is printed)."""
    order = sorted(hidden)
    equations = []
    for line in table.lines():
        total = line[-1]  # a row's total ends its row, a column's its column
        equations.append([(-1 if p == total else 1) if p in line else 0 for p in order])
    matrix = np.array(equations, dtype=float).reshape(len(equations), len(order))
    rank = np.linalg.matrix_rank(matrix) if matrix.size else 0
    fixed = []
    for n, p in enumerate(order):
        known = np.zeros((1, len(order)))
        known[0, n] = 1
        if np.linalg.matrix_rank(np.vstack([matrix, known])) == rank:
            fixed.append(p)
    return fixed


@given(tables())
@settings(max_examples=400, deadline=None)
def test_no_hidden_count_can_be_worked_out_by_solving_the_printed_sums(table: Table) -> None:
    hidden = suppress(table, THRESHOLD)
    assert worked_out(table, hidden) == [], sorted(hidden)


@given(tables())
@settings(max_examples=400, deadline=None)
def test_every_count_from_1_to_4_is_hidden_and_every_hidden_one_is_needed(table: Table) -> None:
    hidden = suppress(table, THRESHOLD)
    for p in table.positions():
        if 0 < table.value(p) < THRESHOLD:
            assert p in hidden
    # A count of 5 or more (or 0) is hidden only to protect another: printing it again
    # would leave some printed sum with exactly one hidden entry, or let a reader solve
    # for a hidden count.
    for p in hidden:
        if not 0 < table.value(p) < THRESHOLD:
            rest = hidden - {p}
            alone = any(
                p in line and sum(1 for q in line if q in rest) == 1 for line in table.lines()
            )
            assert alone or worked_out(table, rest), (p, sorted(hidden))


@given(tables())
@settings(max_examples=200, deadline=None)
def test_no_share_is_printed_of_a_hidden_count_or_over_a_hidden_base(table: Table) -> None:
    printed = shown(table, Disclosure(THRESHOLD))
    rows, columns = table.shape
    if not table.row_totals:
        return
    for r in range(rows):
        for c in range(columns):
            share = printed.share((r, c), (r, columns))
            if (r, c) in printed.hidden or (r, columns) in printed.hidden:
                assert not share.endswith("%")


def test_a_table_with_no_totals_hides_only_the_small_counts() -> None:
    table = Table(((1, 7), (0, 12)))
    assert suppress(table, THRESHOLD) == {(0, 0)}


def test_ten_checked_one_lawful_shows_neither_the_share_nor_the_nine() -> None:
    # A setting with 10 reviews checked, 1 lawful and 9 not, its total printed: "fewer
    # than 5 lawful" beside "10 checked" would say 9 were not, and "10.0%" exactly 1.
    table = Table(((1, 9),), row_totals=True)
    printed = shown(table, Disclosure(THRESHOLD))
    assert printed.count((0, 0)) == "fewer than 5"
    assert printed.count((0, 1)) == "not shown"
    assert printed.count((0, 2)) == "10"
    assert printed.share((0, 0), (0, 2)) == "not shown"


def test_a_total_with_all_but_one_part_printed_hides_another_part() -> None:
    # Appeals by what was appealed with an "All appeals" row: 2 + 30 + 40 = 72; printing
    # 30, 40 and 72 would give the 2 away, so the smallest other part (30) is hidden too.
    table = Table(((2,), (30,), (40,)), column_totals=True)
    assert suppress(table, THRESHOLD) == {(0, 0), (1, 0)}


def test_a_rate_is_not_printed_beside_a_hidden_count() -> None:
    d = Disclosure(THRESHOLD)
    assert d.rate(0.1, 10, part=1) == "not shown"
    assert d.rate(0.9, 10, part=9) == "90.0%"
