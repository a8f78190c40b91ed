"""Every setting of sendwatch, in one place: ``SENDWATCH_*`` environment variables, or the
same names in a ``.env`` file in the working folder (the environment wins).

``load()`` reads them afresh each time it is called (nothing is cached for the process) and
checks every one: a bad value is refused in one line naming the variable. The CLI calls it
before any command runs, so a command never starts with a setting it cannot use. The README's
"Settings" table lists every field here (tests/test_settings.py holds them equal).

The layers below the shell never read the environment: they are given what they need, e.g.
``streams.kafka.KafkaSettings``, made here by ``Settings.kafka``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from projections.scorecard import Point
    from sendwatch.access import Access
    from streams.kafka import KafkaSettings

KENT = "886"
DEAD_LETTER_DAYS = 90
PREFIX = "SENDWATCH_"
SECRET_LENGTH = 16

_FLAGS = {"1": True, "true": True, "yes": True, "on": True}
_FLAGS.update({"0": False, "false": False, "no": False, "off": False})
_WHOLE = re.compile(r"[+-]?[0-9]+")


def _flag(value: Any) -> Any:
    if isinstance(value, str):
        flag = _FLAGS.get(value.strip().lower())
        if flag is None:
            raise ValueError("expected true or false")
        return flag
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        if not _WHOLE.fullmatch(value.strip()):
            raise ValueError("expected a whole number")
        return int(value)
    return value


def _days(value: Any) -> Any:
    """A whole number of days, at least 1 (the dead letters' expiry)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError("expected a whole number of days (at least 1)")
    return int(text)


def http_address(value: Any) -> Any:
    """An http(s) address with a host (a trailing slash dropped); empty is unset."""
    if value is None or str(value).strip() == "":
        return None
    from urllib.parse import urlsplit

    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// address, got {text!r}")
    return text


def _secret(value: Any) -> Any:
    """A secret key: at least 16 characters (never shown in the error)."""
    shown = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(shown, str) and len(shown.strip()) < SECRET_LENGTH:
        raise ValueError(f"must be at least {SECRET_LENGTH} characters")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    return value


def _codes(value: Any) -> Any:
    """Comma-separated three-digit LA codes (statistical neighbours): ``919, 881`` ->
    ``919,881``."""
    codes = [c.strip() for c in str(value).split(",") if c.strip()]
    wrong = [c for c in codes if not re.fullmatch(r"[0-9]{3}", c)]
    if wrong:
        raise ValueError(f"expected three-digit LA codes separated by commas, not {wrong[0]!r}")
    return ",".join(codes)


def _tokens(value: Any) -> Any:
    """``name:role:token`` entries (``sendwatch.access.parse_tokens``; never shown)."""
    from sendwatch.access import parse_tokens

    shown = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(shown, str):
        parse_tokens(shown)
    return value


def _networks(value: Any) -> Any:
    from sendwatch.access import parse_networks

    parse_networks(str(value))
    return str(value)


def _role(value: Any) -> Any:
    from sendwatch.access import Role

    return Role.named(str(value)).label


Flag = Annotated[bool, BeforeValidator(_flag)]
Whole = Annotated[int, BeforeValidator(_whole)]
Number = Annotated[float, BeforeValidator(_number)]


class Settings(BaseSettings):
    """sendwatch's settings. Each field is the variable ``SENDWATCH_`` + its name in capitals;
    its description is what the README's table says of it."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # VAR= is the default, as before
        extra="ignore",  # .env may hold other things (deploy/.env holds compose's settings)
        frozen=True,
    )

    api_token: SecretStr | None = Field(
        None,
        description="The bearer token the API asks for (`sendwatch run`, `sendwatch worker`); "
        "unset: a random one for the run, printed at start. Kept for compatibility: it is an "
        "admin token named `api-token` (docs/security.md).",
    )
    tokens: Annotated[SecretStr | None, BeforeValidator(_tokens)] = Field(
        None,
        description="The API's tokens, each with a name (the audit log's who) and a role "
        "(reader, writer or admin): `name:role:token` entries separated by commas, e.g. "
        "`dashboard:reader:…,case-system:writer:…`; tokens at least 16 characters "
        "(docs/security.md).",
    )
    tokens_file: Path | None = Field(
        None,
        description="A file of the API's tokens, one `name role token` a line (`#` starts a "
        "comment), read at start; used with `SENDWATCH_TOKENS` if both are set.",
    )
    trusted_proxy_header: str | None = Field(
        None,
        description="The user header of an authenticating reverse proxy (oauth2-proxy: "
        "`X-Forwarded-User`), believed only from `SENDWATCH_TRUSTED_PROXIES`. Unset: no "
        "proxy is believed.",
    )
    trusted_proxies: Annotated[str, BeforeValidator(_networks)] = Field(
        "127.0.0.1,::1",
        description="Addresses or networks, comma-separated, whose proxy user header is "
        "believed (the proxy's address as sendwatch sees it).",
    )
    proxy_role: Annotated[str, BeforeValidator(_role)] = Field(
        "reader",
        description="The role of users the proxy vouches for: reader, writer or admin.",
    )
    audit_db: Path | None = Field(
        None,
        description="The audit log of case reads (SQLite, append-only). Unset: beside the "
        "event log (`sendwatch.db` -> `sendwatch.audit.db`); for `sendwatch worker`, "
        "`<topic>.audit.db` in the working folder.",
    )
    import_secret: Annotated[SecretStr | None, BeforeValidator(_secret)] = Field(
        None,
        description="The council's secret key for pseudonyms (at least 16 characters): "
        "`sendwatch import` turns each child's identifier into a case id with it and refuses "
        "to run without it. Keep it safe and never change it: a new one makes new case ids.",
    )
    council: str = Field(
        KENT,
        description="The DfE local-authority code stamped on events that carry none (Kent: 886).",
    )
    targets: Path | None = Field(
        None,
        description="A YAML or JSON file of local targets and floors for the petition points, "
        "e.g. `{4: {target: 0.6, floor: 0.46}}`; used by the dashboard, the API, the alerts, "
        "the Grafana dashboards and the report. Unset: the built-in standards.",
    )
    dead_letter_days: Annotated[int, BeforeValidator(_days)] = Field(
        DEAD_LETTER_DAYS,
        description="Days dead letters are kept before they are purged (a whole number, at "
        "least 1): they keep the raw input, which may hold personal data.",
    )
    report_cutoff_days: Whole = Field(
        10,
        ge=0,
        description="The report's cutoff, in days after the month ends: records made by the "
        "end of that day, UK time, count.",
    )
    report_suppress_below: Whole = Field(
        5,
        ge=0,
        description="The report's small-number threshold: counts below it are not shown "
        "(0 or 1 turns suppression off).",
    )
    report_benchmarks: Path | None = Field(
        None,
        description="Another benchmarks file for the report, in the shape of "
        "reports/benchmarks.yml. Unset: the packaged one.",
    )
    setting_names: Path | None = Field(
        None,
        description="A CSV file naming the council's schools and colleges, with the header "
        "`urn,name` (one setting a row), so the report shows names. Unset: settings are "
        "shown by URN.",
    )
    neighbours: Annotated[str, BeforeValidator(_codes)] = Field(
        "",
        description="The council's statistical neighbours, comma-separated three-digit LA "
        "codes (from DfE's children's services statistical neighbour benchmarking tool), e.g. "
        "`919,881`; the report compares the council with their published figures. Unset: "
        "England and the council's region only (docs/published-figures.md).",
    )
    published_release: str | None = Field(
        None,
        description="The folder of DfE's published EHC plan statistics the report compares "
        "with (a release downloaded from Explore Education Statistics), or the name of a "
        "packaged one, e.g. `dfe-ehc-plans-2025`. Unset: the newest packaged release.",
    )
    public_url: Annotated[str | None, BeforeValidator(http_address)] = Field(
        None,
        description="The address staff open the dashboard at (behind the council's proxy), "
        "e.g. `https://sendwatch.example.gov.uk`: alerts link to cases there. Unset: the "
        "address `sendwatch run` listens on (`sendwatch run --public-url` overrides it).",
    )
    alertmanager: Annotated[str | None, BeforeValidator(http_address)] = Field(
        None,
        description="Alertmanager's address, e.g. `http://alertmanager:9093`: alerts are sent "
        "there and the dashboard shows its silences (`--alertmanager` overrides it). Unset: "
        "alerts are only listed by the API.",
    )
    kafka_session_timeout: Number = Field(
        45.0,
        description="Seconds without a heartbeat before a worker is dropped (the tests use 6: "
        "Tansu answers a group join only after half of it).",
    )
    kafka_heartbeat_interval: Number = Field(3.0, description="Seconds between heartbeats.")
    kafka_rebalance_timeout: Number = Field(60.0, description="Seconds a rebalance may take.")
    kafka_partitions: Whole = Field(
        12, description="Partitions of an event topic a worker creates."
    )
    kafka_replication: Whole = Field(
        1,
        description="Replication factor of the topics sendwatch creates (3 on a production "
        "cluster).",
    )
    kafka_take: Whole = Field(
        10_000, description="Messages per `take_events()` batch and per bulk fetch."
    )
    kafka_take_within: Number = Field(0.5, description="Seconds a batch waits to fill.")
    kafka_catch_up_lag: Whole = Field(
        5_000, description="A partition this many messages behind is caught up in bulk."
    )
    kafka_publish_interval: Number = Field(
        1.0, description="Seconds between a worker's partial tallies."
    )
    kafka_query_wait: Number = Field(
        10.0,
        description="Seconds a query waits for every partition's partial tally before "
        "answering 503.",
    )
    kafka_group: str = Field(
        "",
        description="The consumer group (Faust app id). Unset: `sendwatch-<topic>`.",
    )
    kafka_loglevel: str = Field(
        "warn", description="Faust's log level: crit, error, warn, info or debug."
    )
    kafka_trust_records: Flag = Field(
        True,
        description="Read messages marked `sendwatch-record: 1` without validating them again; "
        "false validates every message (docs/kafka.md, the trust boundary).",
    )
    kafka_snapshot_events: Whole = Field(
        100_000,
        description="A worker snapshots a partition's folded state to `T.snapshots` after "
        "this many new events (0: never; docs/kafka.md, restarts).",
    )
    kafka_snapshot_interval: Number = Field(
        600.0,
        description="Seconds after a partition's last snapshot before a changed partition is "
        "snapshotted again (and on a clean stop).",
    )

    def kafka(self) -> KafkaSettings:
        """The Kafka worker's and producer's settings (the ``kafka_*`` fields)."""
        from streams.kafka import KafkaSettings

        return KafkaSettings(
            session_timeout=self.kafka_session_timeout,
            heartbeat_interval=self.kafka_heartbeat_interval,
            rebalance_timeout=self.kafka_rebalance_timeout,
            partitions=self.kafka_partitions,
            replication=self.kafka_replication,
            take=self.kafka_take,
            take_within=self.kafka_take_within,
            catch_up_lag=self.kafka_catch_up_lag,
            publish_interval=self.kafka_publish_interval,
            query_wait=self.kafka_query_wait,
            group=self.kafka_group,
            loglevel=self.kafka_loglevel,
            trust_records=self.kafka_trust_records,
            snapshot_events=self.kafka_snapshot_events,
            snapshot_interval=self.kafka_snapshot_interval,
        )

    def access(self) -> Access:
        """The API's tokens (``api_token``, ``tokens``, ``tokens_file``) and the proxy it
        believes; raises SettingsError naming the variable if they cannot be used (the
        tokens file unreadable or wrong, a name or a token given twice)."""
        from sendwatch.access import (
            COMPATIBLE_NAME,
            Access,
            Role,
            Token,
            parse_networks,
            parse_tokens,
            read_tokens_file,
        )

        tokens = []
        if self.api_token is not None:
            tokens.append(Token(COMPATIBLE_NAME, Role.ADMIN, self.api_token))
        if self.tokens is not None:
            tokens += parse_tokens(self.tokens.get_secret_value())
        if self.tokens_file is not None:
            try:
                tokens += read_tokens_file(self.tokens_file)
            except OSError as error:
                raise SettingsError(
                    f"{variable('tokens_file')}: cannot read {self.tokens_file}: {error.strerror}"
                ) from None
            except ValueError as error:
                raise SettingsError(f"{variable('tokens_file')}: {error}") from None
        try:
            return Access(
                tuple(tokens),
                proxy_header=self.trusted_proxy_header,
                proxy_role=Role.named(self.proxy_role),
                proxies=parse_networks(self.trusted_proxies),
            )
        except ValueError as error:
            raise SettingsError(f"{variable('tokens')}: {error}") from None

    def neighbour_codes(self) -> tuple[str, ...]:
        """The statistical neighbours' LA codes (``neighbours``), in the order given."""
        return tuple(c for c in self.neighbours.split(",") if c)

    def scorecard_points(self) -> tuple[Point, ...]:
        """The petition points with the local targets and floors of ``targets``; the built-in
        standards if it is unset. Raises OSError, yaml.YAMLError, ValueError or TypeError if
        the file cannot be used."""
        from projections.scorecard import POINTS, with_overrides

        if self.targets is None:
            return POINTS
        import yaml

        with open(self.targets, encoding="utf-8") as stream:
            given = yaml.safe_load(stream) or {}
        overrides = {int(n): {k: float(v) for k, v in (s or {}).items()} for n, s in given.items()}
        return with_overrides(overrides)


class SettingsError(ValueError):
    """A setting that cannot be used; its message is one line naming the variable."""


def variable(field: str) -> str:
    """The environment variable of a field of Settings: ``council`` -> ``SENDWATCH_COUNCIL``."""
    return PREFIX + field.upper()


def _line(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] == "greater_than_equal":
        least = error["ctx"]["ge"]
        message = "must not be negative" if least == 0 else f"must be at least {least}"
    else:
        message = error["msg"]
    if field.endswith(("secret", "token", "tokens")):
        return f"{variable(field)}: {message}"  # a secret is never shown
    return f"{variable(field)}: {message}, got {error['input']!r}"


def load(env_file: Path | str | None = ".env") -> Settings:
    """The settings now, from the environment and ``env_file``; raises SettingsError (one line,
    naming each variable that is wrong) if any cannot be used."""
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        raise SettingsError("; ".join(_line(e) for e in error.errors())) from None


def council() -> str:
    """The DfE local-authority code stamped on events that carry none (SENDWATCH_COUNCIL)."""
    return load().council


def api_token() -> str | None:
    """The bearer token the API asks for (SENDWATCH_API_TOKEN); None if unset."""
    token = load().api_token
    return None if token is None else token.get_secret_value()


def access() -> Access:
    """The API's tokens and trusted proxy (SENDWATCH_API_TOKEN, SENDWATCH_TOKENS,
    SENDWATCH_TOKENS_FILE, SENDWATCH_TRUSTED_PROXY_HEADER, ...)."""
    return load().access()


def scorecard_points() -> tuple[Point, ...]:
    """The petition points with local targets and floors (SENDWATCH_TARGETS)."""
    return load().scorecard_points()


def public_url() -> str | None:
    """The address alerts link to (SENDWATCH_PUBLIC_URL, no trailing slash); None if unset."""
    return load().public_url


def alertmanager() -> str | None:
    """Alertmanager's address (SENDWATCH_ALERTMANAGER); None if unset."""
    return load().alertmanager


def import_secret() -> str | None:
    """The council's secret key for pseudonyms (SENDWATCH_IMPORT_SECRET); None if unset."""
    secret = load().import_secret
    return None if secret is None else secret.get_secret_value()


def dead_letter_days() -> int:
    """Days dead letters are kept before they are purged (SENDWATCH_DEAD_LETTER_DAYS)."""
    return load().dead_letter_days


def _shown(value: object) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table() -> str:
    """The README's "Settings" table, from the fields of Settings (``python -m
    sendwatch.settings`` prints it; tests/test_settings.py holds the README to it)."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{variable(name)}` | {_shown(field.default)} | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
