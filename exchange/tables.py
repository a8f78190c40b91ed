"""Reading a mapping's tables from the import folder: CSV (the csv module) and Excel (openpyxl).

Only the logical columns a table lists are read from each row; every other column (names, birth
dates, postcodes, anything unmapped) is never taken out of the file. Headers match ignoring
case, spaces and underscores. Rows are numbered as a spreadsheet numbers them: the header is
row 1, the first row of data row 2.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from exchange.mapping import Table

Cell = str | date  # a CSV cell is text; an Excel date cell a date or datetime
DELIMITERS = ",;\t"


@dataclass(frozen=True, slots=True)
class Row:
    file: str  # relative to the import folder
    number: int  # 2 for the first row of data
    values: tuple[Cell, ...]  # one per logical column, in the table's order; "" when empty


def normal(header: str) -> str:
    return "".join(header.split()).replace("_", "").lower()


def files(folder: Path, table: Table) -> list[Path]:
    """The files of ``table`` in ``folder``, sorted by name (Excel's lock files left out)."""
    found = sorted(p for p in folder.glob(table.file) if p.is_file())
    return [p for p in found if not p.name.startswith("~$")]


def read_rows(folder: Path, table: Table) -> Iterator[Row]:
    for path in files(folder, table):
        name = path.relative_to(folder).as_posix()
        if path.suffix.lower() == ".xlsx":
            yield from _excel(path, name, table)
        else:
            yield from _csv(path, name, table)


def _positions(header: list[str], table: Table, name: str) -> list[int | None]:
    where: dict[str, int] = {}
    for index, title in enumerate(header):
        where.setdefault(normal(title), index)
    positions: list[int | None] = []
    for column in table.columns:
        found = [where[normal(h)] for h in table.headers(column) if normal(h) in where]
        positions.append(found[0] if found else None)
    return positions


def _csv(path: Path, name: str, table: Table) -> Iterator[Row]:
    with open(path, encoding="utf-8-sig", newline="") as stream:
        first = stream.readline()
        delimiter = table.delimiter or max(DELIMITERS, key=first.count)
        stream.seek(0)  # the decoder starts again, skipping the byte-order mark again
        reader = csv.reader(stream, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        positions = _positions(header, table, name)
        for number, cells in enumerate(reader, start=2):
            if not any(cells):
                continue
            width = len(cells)
            yield Row(
                name,
                number,
                tuple(cells[p].strip() if p is not None and p < width else "" for p in positions),
            )


def _excel(path: Path, name: str, table: Table) -> Iterator[Row]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if table.sheet is None:
            sheet = book.worksheets[0]
        elif table.sheet in book.sheetnames:
            sheet = book[table.sheet]
        else:
            raise LookupError(f"{name}: no sheet {table.sheet!r} (it has {book.sheetnames})")
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return
        positions = _positions(["" if h is None else str(h) for h in header], table, name)
        for number, cells in enumerate(rows, start=2):
            if all(c is None or c == "" for c in cells):
                continue
            width = len(cells)
            yield Row(
                name,
                number,
                tuple(_cell(cells[p]) if p is not None and p < width else "" for p in positions),
            )
    finally:
        book.close()


def _cell(value: object) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
