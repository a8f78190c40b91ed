"""Settings in one place (sendwatch/settings.py): every SENDWATCH_* variable, from the
environment or a .env file, checked before any command runs, and documented in one README
table that cannot drift from the code."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reports.disclosure import SUPPRESS_BELOW
from reports.figures import CUTOFF_DAYS
from sendwatch.cli import app
from sendwatch.settings import Settings, SettingsError, load, table, variable
from streams.kafka import KafkaSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SENDWATCH_* variable from the caller's environment, and a working folder with no
    .env in it, unless a test writes one."""
    for name in list(os.environ):
        if name.upper().startswith("SENDWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def section_table(path: Path, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after ``heading`` in a Markdown file,
    header and rule left out."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    rows: list[list[str]] = []
    for line in text[start:].splitlines():
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def named(cell: str) -> str:
    found = re.fullmatch(r"`(SENDWATCH_[A-Z_]+)`", cell)
    assert found, cell
    return found.group(1)


def test_the_readme_table_lists_exactly_the_fields_of_settings() -> None:
    rows = section_table(ROOT / "README.md", "## Settings")
    fields = [variable(name) for name in Settings.model_fields]
    assert [named(row[0]) for row in rows] == fields
    # and says of each what the code says (python -m sendwatch.settings prints it)
    assert table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_has_a_description_and_its_variable_is_read() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
    # nothing outside settings.py reads a SENDWATCH_* variable itself
    reads = re.compile(r"""(environ\.get\(|environ\[|getenv\()\s*["']SENDWATCH_""")
    for folder in ("events", "projections", "streams", "alerts", "observability", "reports",
                   "simulation", "sendwatch"):  # fmt: skip
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "settings.py":
                assert not reads.search(path.read_text(encoding="utf-8")), path


def test_the_kafka_guide_lists_the_kafka_settings_with_the_same_defaults() -> None:
    rows = section_table(ROOT / "docs" / "kafka.md", "## Settings (environment)")
    readme = {named(row[0]): row[1] for row in section_table(ROOT / "README.md", "## Settings")}
    kafka = [variable(name) for name in Settings.model_fields if name.startswith("kafka_")]
    assert [named(row[0]) for row in rows] == kafka
    for row in rows:  # "unset: `sendwatch-<topic>`" says more than the README's "unset"
        assert row[1].split(":")[0] == readme[named(row[0])], row


def test_the_defaults_are_the_layers_own() -> None:
    settings = load(env_file=None)
    assert settings.kafka() == KafkaSettings()
    assert settings.report_cutoff_days == CUTOFF_DAYS
    assert settings.report_suppress_below == SUPPRESS_BELOW
    assert (settings.council, settings.api_token, settings.targets) == ("886", None, None)
    assert settings.dead_letter_days == 90


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SENDWATCH_DEAD_LETTER_DAYS", "0", "expected a whole number of days (at least 1)"),
        ("SENDWATCH_DEAD_LETTER_DAYS", "9.5", "expected a whole number of days (at least 1)"),
        ("SENDWATCH_REPORT_CUTOFF_DAYS", "ten", "expected a whole number"),
        ("SENDWATCH_REPORT_SUPPRESS_BELOW", "-1", "must not be negative"),
        ("SENDWATCH_KAFKA_TAKE", "many", "expected a whole number"),
        ("SENDWATCH_KAFKA_QUERY_WAIT", "soon", "expected a number"),
        ("SENDWATCH_KAFKA_TRUST_RECORDS", "maybe", "expected true or false"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load()
    assert str(refused.value).startswith(f"{name}: {says}, got ")
    assert "\n" not in str(refused.value)


def test_every_command_refuses_a_bad_setting_before_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even one that would not have used it: `sendwatch schema` reads no Kafka setting."""
    monkeypatch.setenv("SENDWATCH_KAFKA_TAKE", "many")
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: SENDWATCH_KAFKA_TAKE: expected a whole number, got 'many'"]


def test_two_bad_values_are_both_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDWATCH_KAFKA_TAKE", "many")
    monkeypatch.setenv("SENDWATCH_DEAD_LETTER_DAYS", "never")
    with pytest.raises(SettingsError) as refused:
        load()
    message = str(refused.value)
    assert "SENDWATCH_KAFKA_TAKE" in message and "SENDWATCH_DEAD_LETTER_DAYS" in message
    assert "\n" not in message


def test_a_dot_env_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# the council's settings\n"
        "SENDWATCH_COUNCIL=999\n"
        "SENDWATCH_KAFKA_TAKE=7\n"
        "SENDWATCH_TOPIC=compose-only\n"  # Compose's, not sendwatch's: ignored
        "GRAFANA_ROOT_URL=https://grafana.example\n",
        encoding="utf-8",
    )
    settings = load()
    assert settings.council == "999" and settings.kafka().take == 7
    monkeypatch.setenv("SENDWATCH_COUNCIL", "123")
    assert load().council == "123"
    assert load(env_file=None).kafka_take == 10_000  # without the file: the default


def test_a_bad_value_in_dot_env_is_named_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SENDWATCH_KAFKA_TRUST_RECORDS=perhaps\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^SENDWATCH_KAFKA_TRUST_RECORDS: expected true or"):
        load()


def test_an_empty_value_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """As before the settings moved: `SENDWATCH_API_TOKEN=` (deploy/.env.example's line)
    means no token, so one is made for the run."""
    for name in ("SENDWATCH_API_TOKEN", "SENDWATCH_TARGETS", "SENDWATCH_KAFKA_TAKE"):
        monkeypatch.setenv(name, "")
    settings = load()
    assert settings.api_token is None and settings.targets is None
    assert settings.kafka_take == 10_000


def test_the_api_token_is_never_shown_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDWATCH_API_TOKEN", "s3cret-token")
    settings = load()
    assert "s3cret-token" not in repr(settings) and "s3cret-token" not in str(settings)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "s3cret-token"


def test_flags_take_the_usual_words(monkeypatch: pytest.MonkeyPatch) -> None:
    for word, flag in [("false", False), ("Off", False), ("0", False), ("no", False),
                       ("TRUE", True), ("on", True), ("1", True), ("yes", True)]:  # fmt: skip
        monkeypatch.setenv("SENDWATCH_KAFKA_TRUST_RECORDS", word)
        assert load().kafka().trust_records is flag, word
