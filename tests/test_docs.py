"""The docs are checked: every `sendwatch` command and group has help with an example, every
command is a row of the README's command table, and the README's JSON examples parse (an
example event is a valid event)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer

from events import InvalidEvent, decode
from sendwatch.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command of the typer app, groups included, as ("dead-letters list", command);
    the root is ""."""
    command = command if command is not None else typer.main.get_command(app)
    yield " ".join(path), command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from commands(sub, (*path, name))


EVERY = list(commands())
LEAVES = [name for name, command in EVERY if not getattr(command, "commands", None)]


def section(heading: str) -> str:
    start = README.index(f"\n{heading}\n") + len(heading) + 2
    end = README.find("\n## ", start)
    return README[start : end if end >= 0 else len(README)]


def table_commands() -> list[str]:
    """The first cell of each row of the tables under "## Commands", without its backticks:
    ``sendwatch dead-letters list [--db PATH] ...``."""
    cells = []
    for line in section("## Commands").splitlines():
        if line.startswith("| `sendwatch"):
            cells.append(line.split(" | ")[0].removeprefix("| ").strip("`"))
    return cells


def test_the_walk_finds_every_command() -> None:
    # a guard on the walk itself: the groups and their commands are reached
    assert {"run", "report", "worker", "dead-letters purge", "grafana push"} <= set(LEAVES)
    assert "grafana" in dict(EVERY) and "grafana" not in LEAVES


@pytest.mark.parametrize("name", [name for name, _ in EVERY], ids=lambda n: n or "sendwatch")
def test_every_command_has_help_with_an_example(name: str) -> None:
    help_text = dict(EVERY)[name].help or ""
    assert help_text.strip(), f"sendwatch {name}: no help"
    example = re.search(r"^\s*Example:\s*(.+)$", help_text, re.M)
    assert example, f"sendwatch {name}: its help has no 'Example:' line"
    # the example runs this command (after any VAR=value settings)
    words = [w for w in example.group(1).split() if not re.fullmatch(r"[A-Z_]+=\S*", w)]
    assert words[0] == "sendwatch", example.group(0)
    assert " ".join(words[1 : 1 + len(name.split())]) == name, example.group(0)


@pytest.mark.parametrize("name", LEAVES)
def test_every_command_is_a_row_of_the_readme_command_table(name: str) -> None:
    """The row's first cell starts with the command's full name: `sendwatch grafana push ...`."""
    rows = table_commands()
    assert any(re.match(rf"sendwatch {re.escape(name)}(\s|$)", row) for row in rows), (
        f"README.md: no row for `sendwatch {name}` in the table under ## Commands"
    )


def test_the_readme_command_table_names_no_command_that_does_not_exist() -> None:
    for row in table_commands():
        words = row.split()[1:]
        assert any(words[: len(name.split())] == name.split() for name in LEAVES), row


def json_blocks(text: str) -> list[tuple[int, str]]:
    """Each ```json block of a Markdown text, with the line its text starts on."""
    return [
        (text[: found.start(1)].count("\n") + 1, found.group(1))
        for found in re.finditer(r"^```json[ \t]*\n(.*?)^```", text, re.S | re.M)
    ]


def test_every_json_example_in_the_readme_parses() -> None:
    blocks = json_blocks(README)
    assert blocks, "README.md: no ```json block (the example event is one)"
    for line, block in blocks:
        try:
            orjson.loads(block)
        except orjson.JSONDecodeError as error:
            pytest.fail(f"README.md line {line}: the ```json block does not parse: {error}")


def test_an_example_event_in_the_readme_is_a_valid_event() -> None:
    events = [
        (line, block)
        for line, block in json_blocks(README)
        if isinstance(parsed := orjson.loads(block), dict) and "event_id" in parsed
    ]
    assert events
    for line, block in events:
        try:
            decode(block, arrival=None)
        except InvalidEvent as error:
            pytest.fail(f"README.md line {line}: the example event is not valid: {error}")


def test_a_broken_json_block_would_be_found() -> None:
    """The finder itself: a block missing a comma is found, at its line."""
    text = 'intro\n\n```json\n{"a": 1 "b": 2}\n```\n'
    [(line, block)] = json_blocks(text)
    assert line == 4
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(block)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_within_the_readme_goes_to_a_heading() -> None:
    """The sections link to the Settings table and the command table links below."""
    anchors = {slug(line.lstrip("#")) for line in README.splitlines() if line.startswith("#")}
    links = re.findall(r"\]\(#([^)]+)\)", README)
    assert "settings" in links
    for link in links:
        assert link in anchors, f"README.md: no heading for the link #{link}"
