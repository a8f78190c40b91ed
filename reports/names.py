"""The names of schools and colleges, from the council's lookup file (URN to name).

A CSV file with the header ``urn,name``, one setting a row (SENDWATCH_SETTING_NAMES). The
report shows a setting by its name when the file has it, by its URN otherwise.
"""

from __future__ import annotations

import csv
from pathlib import Path


class NamesError(ValueError):
    """The lookup file cannot be used; the message names the file and the line."""


def load_names(path: Path) -> dict[str, str]:
    """URN -> name from ``path``; raises NamesError naming the file and line at fault."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        raise NamesError(f"{path}: cannot read it: {error}") from None
    reader = csv.reader(text.splitlines())
    header = [cell.strip().lower() for cell in next(reader, [])]
    if header[:2] != ["urn", "name"]:
        raise NamesError(
            f"{path}, line 1: expected the header 'urn,name', got {','.join(header)!r}"
        )
    names: dict[str, str] = {}
    for line, row in enumerate(reader, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise NamesError(
                f"{path}, line {line}: expected a URN and a name, got {','.join(row)!r}"
            )
        urn = row[0].strip()
        if urn in names and names[urn] != row[1].strip():
            raise NamesError(f"{path}, line {line}: URN {urn} is named twice")
        names[urn] = row[1].strip()
    return names
