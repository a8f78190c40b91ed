"""Rows to events: a mapping's rules applied to the rows of its tables (docs/mapping.md).

``convert`` reads every table of the mapping from the import folder, joins each row to the
case table through its parents, and yields, per row and rule, an event as a JSON line (for the
one ingest pipeline, which validates it like any other input) or a ``RowRejection`` naming the
file, row and column. Nothing here writes anything: the shell hands the output to the pipeline.

The identifier is read only to be pseudonymised; a rejection keeps the row's mapped columns
without it (nor any column that holds it), and an event never carries it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import orjson

from events import DATA_MODELS
from exchange.mapping import ISO, FromColumn, MappedType, Mapping, Rule, identifier_columns
from exchange.pseudonym import Pseudonyms
from exchange.tables import Cell, Row, files, read_rows

SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class RowRejection:
    file: str
    row: int
    column: str | None  # the logical column at fault, if one is
    reason: str
    kept: bytes  # the row's mapped columns as JSON, without the identifier

    @property
    def origin(self) -> str:
        column = f" column {self.column}" if self.column else ""
        return f"{self.file} row {self.row}{column}"


@dataclass(frozen=True, slots=True)
class Made:
    """An event made from a row: its JSON line and where it came from."""

    line: bytes
    origin: str  # "requests.csv row 12"
    occurred: str  # occurred_at, ISO


@dataclass
class TableRead:
    files: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass
class Conversion:
    """What ``convert`` read: rows per table (filled as the tables are read)."""

    tables: dict[str, TableRead] = field(default_factory=dict)
    types: Counter[str] = field(default_factory=Counter)


class _Rejected(Exception):
    def __init__(self, column: str | None, reason: str) -> None:
        self.column = column
        self.reason = reason


class _Dates:
    """Date cells parsed with the mapping's formats, each distinct text once."""

    def __init__(self, formats: list[str]) -> None:
        self.formats = formats
        self.seen: dict[str, date | datetime] = {}

    def parse(self, value: Cell, column: str) -> date | datetime:
        if isinstance(value, date):
            return _day(value)
        known = self.seen.get(value)
        if known is not None:
            return known
        for fmt in self.formats:
            try:
                parsed: date | datetime = (
                    datetime.fromisoformat(value) if fmt == ISO else datetime.strptime(value, fmt)
                )
            except ValueError:
                continue
            parsed = _day(parsed)
            self.seen[value] = parsed
            return parsed
        shown = ", ".join(self.formats)
        raise _Rejected(column, f"{value!r} is not a date in any of the formats {shown}")


def _day(value: date | datetime) -> date | datetime:
    """A datetime at midnight with no zone is a date (SEN2's "2022-Sep-28 00:00:00")."""
    if isinstance(value, datetime) and value.tzinfo is None and value.time() == datetime.min.time():
        return value.date()
    return value


def event_id(source: str, table: str, key: tuple[str, ...], rule: str) -> str:
    """Stable: the same row and rule give the same id in every import."""
    text = SEP.join((source, table, *key, rule))
    return f"{source}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def convert(
    mapping: Mapping,
    folder: Path,
    pseudonyms: Pseudonyms,
    conversion: Conversion,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Made | RowRejection]:
    """Every event the mapping makes from ``folder``'s files, or a rejection per row and rule
    that cannot be converted. ``conversion`` is filled with what was read; ``progress`` is told
    the number of rows done every 1,000 rows."""
    used = {rule.table for rule in mapping.events}
    needed = set(used).union(*(rule.tables_read() for rule in mapping.events))
    for name in list(needed):
        needed.update(mapping.chain(name))
    rows: dict[str, list[Row]] = {}
    for name in mapping.tables:
        read = conversion.tables.setdefault(name, TableRead())
        read.files = [p.relative_to(folder).as_posix() for p in files(folder, mapping.tables[name])]
        if name in needed:
            rows[name] = list(read_rows(folder, mapping.tables[name]))
            read.rows = len(rows[name])
    cases = _Cases(mapping, rows, pseudonyms)
    dates = _Dates(mapping.dates)
    hidden = identifier_columns(mapping)
    done = 0
    for name in mapping.tables:
        rules = [(i, r) for i, r in enumerate(mapping.events) if r.table == name]
        if not rules:
            continue
        table = mapping.tables[name]
        columns = list(table.columns)
        index = {c: i for i, c in enumerate(columns)}
        keys = [index[k] for k in table.keys]
        kept = [(c, i) for c, i in index.items() if c not in hidden.get(name, ())]
        for row in rows[name]:
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(done)
            key = tuple(_text(row.values[k]) for k in keys)
            empty = [table.keys[i] for i, part in enumerate(key) if not part]
            for number, rule in rules:
                try:
                    if empty:  # no stable event id without a key
                        raise _Rejected(empty[0], "the row's key is empty")
                    made = _event(mapping, rule, number, name, row, index, key, dates, cases)
                except _Rejected as problem:
                    values = {c: _text(row.values[i]) for c, i in kept}
                    yield RowRejection(
                        row.file, row.number, problem.column, problem.reason, orjson.dumps(values)
                    )
                    continue
                if made is not None:
                    conversion.types[made[1]] += 1
                    yield Made(made[0], f"{row.file} row {row.number}", made[2])
    if progress is not None:
        progress(done)


def _text(value: Cell) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _event(
    mapping: Mapping,
    rule: Rule,
    number: int,
    table: str,
    row: Row,
    index: dict[str, int],
    key: tuple[str, ...],
    dates: _Dates,
    cases: _Cases,
) -> tuple[bytes, str, str] | None:
    """The row's event under ``rule`` as (JSON line, type, occurred_at); None if the rule
    makes none from this row; raises _Rejected."""
    values = row.values
    for condition in rule.conditions:
        if not condition.holds(_text(values[index[condition.column]])):
            return None
    when = values[index[rule.date]]
    if when == "":
        return None
    if isinstance(rule.type, MappedType):
        code = _text(values[index[rule.type.column]])
        if code not in rule.type.map:
            known = ", ".join(sorted(rule.type.map))
            raise _Rejected(rule.type.column, f"{code!r} is not a code of the map ({known})")
        mapped = rule.type.map[code]
        if mapped is None:
            return None
        kind = mapped
    else:
        kind = rule.type
    occurred = dates.parse(when, rule.date).isoformat()
    case_id = cases.case_id(table, row, index)
    data: dict[str, object] = {}
    fields = DATA_MODELS[kind].model_fields
    for name, spec in rule.data.items():
        if name not in fields:
            continue  # a field of another type the rule makes ("one row is one event")
        if not isinstance(spec, FromColumn):
            data[name] = spec
            continue
        cell = values[index[spec.column]] if spec.table is None else cases.lookup(spec, case_id)
        if cell == "":
            if spec.default is not None and spec.table is None:
                data[name] = spec.default  # (from another table: nothing known, left out)
            continue
        if spec.date:
            data[name] = dates.parse(cell, spec.column).isoformat()
            continue
        text = _text(cell)
        if spec.map is None:
            data[name] = text
        elif text in spec.map:
            if spec.map[text] is not None:
                data[name] = spec.map[text]
        elif spec.default is not None:
            data[name] = spec.default
        else:
            known = ", ".join(sorted(spec.map))
            raise _Rejected(spec.column, f"{text!r} is not a code of the map ({known})")
    if mapping.tables[table].event_ids == "case_and_date":
        key = (case_id, occurred)  # the same event in every year's export, whatever its row id
    event: dict[str, object] = {
        "event_id": event_id(mapping.source, table, key, rule.id or kind),
        "type": kind,
        "case_id": case_id,
        "occurred_at": occurred,
        "source": mapping.source,
        "data": data,
    }
    if rule.recorded_at is not None:
        cell = values[index[rule.recorded_at]]
        if cell != "":
            recorded = dates.parse(cell, rule.recorded_at)
            if not isinstance(recorded, datetime):
                recorded = datetime(recorded.year, recorded.month, recorded.day)
            event["recorded_at"] = recorded.isoformat()
    if mapping.council is not None:
        event["council"] = mapping.council
    return orjson.dumps(event), kind, occurred


class _Cases:
    """Case ids of rows: a row's identifier, or its parent's case id, remembered per key."""

    def __init__(self, mapping: Mapping, rows: dict[str, list[Row]], pseudonyms: Pseudonyms):
        self.mapping = mapping
        self.pseudonyms = pseudonyms
        self.rows = rows
        self.of_case: dict[str, dict[str, list[Row]]] = {}  # table -> case id -> its rows
        self.at: dict[str, dict[str, int]] = {}  # table -> its columns' positions
        self.by_key: dict[str, dict[str, Row]] = {}
        self.known: dict[tuple[str, str], str] = {}
        for name, table_rows in rows.items():
            table = mapping.tables[name]
            if len(table.keys) == 1:
                position = list(table.columns).index(table.keys[0])
                self.by_key[name] = {str(r.values[position]): r for r in table_rows}

    def case_id(self, table: str, row: Row, index: dict[str, int]) -> str:
        case = self.mapping.case
        if table == case.table:
            for column in case.columns:
                raw = _text(row.values[index[column]])
                if raw.strip():
                    return self.pseudonyms.case_id(raw)
            raise _Rejected(case.column, f"the identifier is empty ({' and '.join(case.columns)})")
        parent = self.mapping.tables[table].parent
        assert parent is not None  # the mapping is checked: every rule's table reaches the case
        ref = _text(row.values[index[parent.column]])
        memo = self.known.get((table, ref))
        if memo is not None:
            return memo
        found = self.by_key.get(parent.table, {}).get(ref)
        if found is None:
            # the key is not shown: it may be the identifier itself
            raise _Rejected(parent.column, f"no row of table {parent.table} has this key")
        made = self.case_id(parent.table, found, self.positions(parent.table))
        self.known[(table, ref)] = made
        return made

    def positions(self, table: str) -> dict[str, int]:
        at = self.at.get(table)
        if at is None:
            at = self.at[table] = {c: i for i, c in enumerate(self.mapping.tables[table].columns)}
        return at

    def lookup(self, spec: FromColumn, case_id: str) -> Cell:
        """``spec.column`` of the first row of ``spec.table`` of the case where the field's
        conditions hold (in file order); "" if there is none."""
        assert spec.table is not None
        at = self.positions(spec.table)
        of_case = self.of_case.get(spec.table)
        if of_case is None:  # indexed by case once, on first use
            of_case = {}
            for other in self.rows.get(spec.table, []):
                try:
                    made = self.case_id(spec.table, other, at)
                except _Rejected:
                    continue  # its own rules reject it, if it has any
                of_case.setdefault(made, []).append(other)
            self.of_case[spec.table] = of_case
        for other in of_case.get(case_id, ()):
            if all(c.holds(_text(other.values[at[c.column]])) for c in spec.conditions):
                return other.values[at[spec.column]]
        return ""
