"""Mapping files (docs/mapping.md): a source system's export described in YAML, validated.

``load_mapping`` reads one and returns a ``Mapping``, or raises ``MappingError`` whose message
names the mapping file's line for each thing wrong ("sen2.yml line 14: events[2].date: no column
'recieveddate' in table requests"). The YAML is composed into nodes first so that every value
keeps the line it was written on; pydantic checks the shape, then the references between
tables, columns and rules are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events import DATA_MODELS
from exchange.coverage import SUBJECTS

Scalar = str | int | float | bool
Path_ = tuple[str | int, ...]
ISO = "iso"
_RAW_LISTS = {"in", "not_in"}  # codes compared with cells as written, never as YAML types


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Ref(_Model):
    table: str
    column: str


class Case(_Model):
    table: str
    column: str
    # identifier columns tried in turn when ``column`` is empty (a young person with a ULN
    # and no UPN); each is hashed as it is, so keep to identifiers that cannot be mistaken
    # for one another (a UPN is a letter and 12 digits, a ULN 10 digits)
    fallback: list[str] = Field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, *self.fallback)


class Table(_Model):
    file: str = Field(min_length=1)
    sheet: str | None = None
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    key: str | list[str]
    parent: Ref | None = None
    columns: dict[str, str | list[str]] = Field(min_length=1)
    # what an event id is derived from: the row's key ("row"), or, for a source whose row
    # keys are not the same from one export to the next (SEN2's table ids), the case and the
    # day the event occurred ("case_and_date")
    event_ids: Literal["row", "case_and_date"] = "row"

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    def headers(self, column: str) -> tuple[str, ...]:
        names = self.columns[column]
        return (names,) if isinstance(names, str) else tuple(names)


class Condition(_Model):
    column: str
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    empty: bool | None = None

    def holds(self, value: str) -> bool:
        if self.in_ is not None and value not in self.in_:
            return False
        if self.not_in is not None and value in self.not_in:
            return False
        return self.empty is None or self.empty == (value == "")


class MappedType(_Model):
    column: str
    map: dict[str, str | None] = Field(min_length=1)


class FromColumn(_Model):
    column: str
    map: dict[str, Scalar | None] | None = None
    default: Scalar | None = None
    date: bool = False
    # read from another table's rows of the same case (the first, in file order, where
    # ``when`` holds) rather than from the rule's own row: SEN2's primary need, in module 5c
    table: str | None = None
    when: Condition | list[Condition] | None = None

    @property
    def conditions(self) -> tuple[Condition, ...]:
        if self.when is None:
            return ()
        return (self.when,) if isinstance(self.when, Condition) else tuple(self.when)


class Rule(_Model):
    table: str
    type: str | MappedType
    date: str
    recorded_at: str | None = None
    when: Condition | list[Condition] | None = None
    data: dict[str, FromColumn | Scalar] = Field(default_factory=dict)
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,40}$")

    @property
    def conditions(self) -> tuple[Condition, ...]:
        if self.when is None:
            return ()
        return (self.when,) if isinstance(self.when, Condition) else tuple(self.when)

    def columns(self) -> list[tuple[str, str, str]]:
        """(field name in the mapping, table, logical column) for every column the rule
        reads: of its own table, or of the table a data field reads from."""
        table = self.table
        used = [("date", table, self.date)]
        if isinstance(self.type, MappedType):
            used.append(("type.column", table, self.type.column))
        if self.recorded_at is not None:
            used.append(("recorded_at", table, self.recorded_at))
        used += _conditions("when", table, self.when)
        for name, field in self.data.items():
            if isinstance(field, FromColumn):
                other = field.table or table
                used.append((f"data.{name}.column", other, field.column))
                used += _conditions(f"data.{name}.when", other, field.when)
        return used

    def tables_read(self) -> set[str]:
        """The tables the rule's data fields read besides its own."""
        return {f.table for f in self.data.values() if isinstance(f, FromColumn) and f.table}


def _conditions(
    at: str, table: str, when: Condition | list[Condition] | None
) -> list[tuple[str, str, str]]:
    if isinstance(when, Condition):
        return [(f"{at}.column", table, when.column)]
    if when is None:
        return []
    return [(f"{at}[{i}].column", table, c.column) for i, c in enumerate(when)]


class Mapping(_Model):
    source: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")
    council: str | None = None
    dates: list[str] = Field(min_length=1)
    tables: dict[str, Table] = Field(min_length=1)
    case: Case
    events: list[Rule] = Field(min_length=1)
    # notes shown beside the coverage report's verdict on a clock or measure (by its id):
    # what the source cannot say that the event types alone do not show
    coverage: dict[str, str] = Field(default_factory=dict)

    def types(self) -> set[str]:
        """Every event type some rule can make."""
        made: set[str] = set()
        for rule in self.events:
            if isinstance(rule.type, MappedType):
                made.update(kind for kind in rule.type.map.values() if kind is not None)
            else:
                made.add(rule.type)
        return made

    def chain(self, table: str) -> list[str]:
        """The tables from ``table`` up its parents to the case table (both included)."""
        seen = [table]
        while seen[-1] != self.case.table:
            parent = self.tables[seen[-1]].parent
            if parent is None or parent.table in seen or parent.table not in self.tables:
                raise ValueError(f"table {table} does not reach the case table {self.case.table}")
            seen.append(parent.table)
        return seen


def identifier_columns(mapping: Mapping) -> dict[str, set[str]]:
    """Per table, the logical columns that hold a raw identifier: the case column and its
    fallbacks, and a child's parent column when the case table's key is the identifier."""
    case = mapping.case
    held = {case.table: set(case.columns)}
    if mapping.tables[case.table].keys == (case.column,):
        for name, table in mapping.tables.items():
            if table.parent is not None and table.parent.table == case.table:
                held.setdefault(name, set()).add(table.parent.column)
    return held


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the line of each problem."""


def load_mapping(path: Path | str) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"{path}: cannot be read ({error})") from None
    return parse_mapping(text, name=path.name)


def parse_mapping(text: str, *, name: str) -> Mapping:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise MappingError(f"{name}{where}: not valid YAML: {problem}") from None
    if not isinstance(node, yaml.MappingNode):
        raise MappingError(f"{name} line 1: a mapping file is a YAML mapping (source:, tables:, …)")
    lines: dict[Path_, int] = {}
    data = _plain(node, (), lines, yaml.SafeLoader(""))
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as error:
        problems = [
            (_line(lines, tuple(e["loc"])), _dotted(tuple(e["loc"])), e["msg"])
            for e in error.errors()
        ]
        raise MappingError(_message(name, problems)) from None
    problems = [(_line(lines, at), _dotted(at), why) for at, why in _references(mapping)]
    if problems:
        raise MappingError(_message(name, problems))
    return mapping


def _message(name: str, problems: Sequence[tuple[int, str, str]]) -> str:
    return "\n".join(f"{name} line {line}: {at}: {why}" for line, at, why in sorted(problems))


def _plain(node: yaml.Node, at: Path_, lines: dict[Path_, int], loader: Any) -> Any:
    """The node as plain Python, recording the line of every value in ``lines``."""
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key, value in node.value:
            name = str(key.value)  # keys as written: codes such as 01 or Y stay strings
            lines[(*at, name)] = key.start_mark.line + 1
            out[name] = _plain(value, (*at, name), lines, loader)
            lines[(*at, name)] = key.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        raw = bool(at) and at[-1] in _RAW_LISTS
        return [
            str(item.value)
            if raw and isinstance(item, yaml.ScalarNode)
            else _plain(item, (*at, i), lines, loader)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def _line(lines: dict[Path_, int], at: Path_) -> int:
    """The line of the deepest part of ``at`` that the file has (pydantic adds the names of
    union members and missing fields, which the file has not)."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return 1


def _dotted(at: Path_) -> str:
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {"str", "int", "float", "bool", "list[str]"} or part[0].isupper():
            continue  # a union member's name, not a place in the file
        else:
            text += f".{part}" if text else part
    return text or "(top)"


def _references(mapping: Mapping) -> list[tuple[Path_, str]]:
    """What refers to something the mapping lacks: (where, why)."""
    wrong: list[tuple[Path_, str]] = []
    tables = mapping.tables
    for name, table in tables.items():
        for key in table.keys:
            if key not in table.columns:
                wrong.append((("tables", name, "key"), f"no column {key!r} in table {name}"))
        if table.parent is not None:
            at: Path_ = ("tables", name, "parent")
            if table.parent.table not in tables:
                wrong.append((at, f"no table {table.parent.table!r}"))
            elif len(tables[table.parent.table].keys) != 1:
                wrong.append((at, f"table {table.parent.table} has a key of several columns"))
            if table.parent.column not in table.columns:
                wrong.append((at, f"no column {table.parent.column!r} in table {name}"))
    if mapping.case.table not in tables:
        wrong.append((("case", "table"), f"no table {mapping.case.table!r}"))
    else:
        case = mapping.case
        places: list[tuple[Path_, str]] = [(("case", "column"), case.column)]
        places += [(("case", "fallback", i), c) for i, c in enumerate(case.fallback)]
        for place, column in places:
            if column not in tables[case.table].columns:
                wrong.append((place, f"no column {column!r} in table {case.table}"))
    for subject in mapping.coverage:
        if subject not in SUBJECTS:
            why = f"{subject!r} is not a clock or measure ({', '.join(SUBJECTS)})"
            wrong.append((("coverage", subject), why))
    for fmt in mapping.dates:
        if fmt != ISO and "%" not in fmt:
            wrong.append((("dates",), f"{fmt!r} is neither a strptime format nor iso"))
    seen: dict[tuple[str, str], int] = {}
    identifiers = identifier_columns(mapping) if mapping.case.table in tables else {}
    for index, rule in enumerate(mapping.events):
        at = ("events", index)
        if rule.table not in tables:
            wrong.append(((*at, "table"), f"no table {rule.table!r}"))
            continue
        if mapping.case.table in tables:
            try:
                mapping.chain(rule.table)
            except ValueError as error:
                wrong.append(((*at, "table"), str(error)))
        for other in sorted(rule.tables_read()):
            if other not in tables:
                wrong.append(((*at, "data"), f"a data field reads from no table {other!r}"))
            elif mapping.case.table in tables:
                try:
                    mapping.chain(other)
                except ValueError as error:
                    wrong.append(((*at, "data"), str(error)))
        for field, table_name, column in rule.columns():
            place = (
                *at,
                *(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", field) if p),
            )
            if table_name not in tables:
                continue  # said above
            if column in identifiers.get(table_name, ()):
                why = f"column {column!r} holds the identifier: it is never read into an event"
                wrong.append((place, why))
            elif column not in tables[table_name].columns:
                wrong.append((place, f"no column {column!r} in table {table_name}"))
        kinds = [rule.type] if isinstance(rule.type, str) else rule.type.map.values()
        for kind in kinds:
            if kind is not None and kind not in DATA_MODELS:
                wrong.append(((*at, "type"), f"{kind!r} is not an event type of the contract"))
        known = [DATA_MODELS[k] for k in kinds if k is not None and k in DATA_MODELS]
        for name in rule.data:
            if known and not any(name in model.model_fields for model in known):
                types = ", ".join(sorted(k for k in kinds if k is not None))
                why = f"no event type this rule makes ({types}) has a field {name!r}"
                wrong.append(((*at, "data", name), why))
        if rule.id is not None or isinstance(rule.type, str):
            idents = {rule.id or str(rule.type)}
        else:  # a row makes one of the mapped types: each is an id the rule may make
            idents = {kind for kind in rule.type.map.values() if kind is not None}
        for ident in sorted(idents):
            if (rule.table, ident) in seen:
                why = (
                    f"events[{seen[rule.table, ident]}] makes the same ids ({ident} from table "
                    f"{rule.table}): give each rule an id"
                )
                wrong.append(((*at, "id" if rule.id else "type"), why))
            seen[rule.table, ident] = index
    return wrong
