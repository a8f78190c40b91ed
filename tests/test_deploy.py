"""deploy/: the production shape a council's IT team runs. Docker cannot run here, so each
file is checked by the tool its own project ships (promtool, amtool) or by the Compose
Specification's JSON Schema (vendored under tests/contracts/compose-spec/), and the files are
checked against each other and against sendwatch's own commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from observability.grafana import (
    ALERTMANAGER_URL,
    DATASOURCE_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    PROMETHEUS_JOB,
    alerting_provisioning,
)

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
SCHEMA = ROOT / "tests" / "contracts" / "compose-spec" / "compose-spec.json"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (Debian package: {package})")
    return found


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    document: dict[str, Any] = load(COMPOSE)
    return document


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


# --- Prometheus --------------------------------------------------------------------------


def test_promtool_check_config_passes_and_loads_the_generated_rules() -> None:
    result = subprocess.run(
        [tool("promtool", "prometheus"), "check", "config", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted(PROMETHEUS.parent.glob(load(PROMETHEUS)["rule_files"][0]))
    assert PROMETHEUS.parent / "sendwatch.rules.yml" in rules
    assert f"SUCCESS: {len(rules)} rule files found" in result.stdout


def test_prometheus_scrapes_the_workers_and_the_embedded_service_where_compose_runs_them() -> None:
    jobs = {job["job_name"]: job for job in load(PROMETHEUS)["scrape_configs"]}
    sendwatch = jobs[PROMETHEUS_JOB]  # the job the operations dashboard reads `up` for
    worker_port = service("worker")["command"][service("worker")["command"].index("--port") + 1]
    discovered = {d["names"][0]: d["port"] for d in sendwatch["dns_sd_configs"]}
    run = service("sendwatch")["command"]
    assert discovered == {
        "worker": int(worker_port),
        "sendwatch": int(run[run.index("--port") + 1]),
    }
    alerting = load(PROMETHEUS)["alerting"]["alertmanagers"][0]["static_configs"][0]
    assert alerting["targets"] == ["alertmanager:9093"]


# --- Alertmanager ------------------------------------------------------------------------


def test_amtool_check_config_passes() -> None:
    result = subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def route(*labels: str) -> str:
    result = subprocess.run(
        [
            tool("amtool", "prometheus-alertmanager"),
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            *labels,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


# The teams the alert rules and Grafana's rules name, with the receiver each reaches.
TEAM_RECEIVER = {
    "send-casework": "casework-digest",
    "send-management": "management-digest",
    "sendwatch-ops": "casework-digest",  # no failure of sendwatch is named: see below
    # the area teams the simulated caseworkers work in (simulation.council.TEAMS)
    "north": "team-north-digest",
    "south": "team-south-digest",
    "east": "team-east-digest",
    "west": "team-west-digest",
}
SYSTEM_FAILURES = (
    "SendwatchDown",
    "DeadLetters",
    "DeadLettersIncreasing",
    "CasesQuarantined",
    "IngestStalled",
)


def test_only_court_orders_and_failures_of_sendwatch_page() -> None:
    # A tribunal order (a court order) about to be broken pages, whatever the case's team.
    for team in ("north", "unassigned"):
        assert route("severity=page", f"team={team}", "alertname=TribunalOrderDueSoon") == (
            "oncall-pager"
        )
    for name in SYSTEM_FAILURES:
        assert route(f"alertname={name}", "severity=warning", "team=sendwatch-ops") == (
            "it-oncall-pager"
        )
    # A breach of the law in one case is a critical alert: the team's digest, not a page.
    assert route("alertname=ClockOverdue", "severity=critical", "team=north") == (
        "team-north-digest"
    )


def test_each_team_has_its_digest_and_teams_without_one_reach_the_casework_managers() -> None:
    assert route("alertname=ClockDueSoon", "severity=warning", "team=south") == (
        "team-south-digest"
    )
    assert route("alertname=ClockDueSoon", "severity=warning", "team=unassigned") == (
        "casework-digest"
    )
    assert route("alertname=RateBelowFloor", "severity=critical", "team=send-management") == (
        "management-digest"
    )
    for team, receiver in TEAM_RECEIVER.items():
        assert route("alertname=Anything", "severity=warning", f"team={team}") == receiver


def test_a_digest_is_one_notification_a_day_per_team() -> None:
    top = load(ALERTMANAGER)["route"]
    assert top["group_by"] == ["team"]
    # looked at once a day, and sent again at each look even when nothing has changed
    assert top["group_interval"] == "24h" and top["repeat_interval"] == "23h"
    digests = [r for r in top["routes"] if r["receiver"].endswith("-digest")]
    assert digests and all(
        not ({"group_by", "group_interval", "repeat_interval"} & set(r)) for r in digests
    )


def test_every_team_the_alert_rules_name_has_its_own_receiver() -> None:
    rules = load(ROOT / "alerts" / "default_rules.yml")
    teams = {rules["team"]}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("team"), str):
                teams.add(node["team"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(rules)
    walk(alerting_provisioning())  # Grafana's own rules
    assert teams <= set(TEAM_RECEIVER), teams - set(TEAM_RECEIVER)


def test_receivers_include_a_webhook_and_email() -> None:
    receivers = {r["name"]: r for r in load(ALERTMANAGER)["receivers"]}
    assert any("webhook_configs" in r for r in receivers.values())
    assert any("email_configs" in r for r in receivers.values())
    routed = {r["receiver"] for r in load(ALERTMANAGER)["route"]["routes"]}
    assert routed | {load(ALERTMANAGER)["route"]["receiver"]} == set(receivers)


# --- Compose -----------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # and the schema does catch a mistake
    broken = compose()
    broken["services"]["kafka"]["restrat"] = "always"
    assert list(validator.iter_errors(broken))


def test_kafka_runs_in_kraft_mode_from_the_official_image() -> None:
    kafka = service("kafka")
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    for spec in compose()["services"].values():  # no ZooKeeper anywhere
        assert "zookeeper" not in spec.get("image", "")
        assert not any("ZOOKEEPER" in key for key in spec.get("environment", {}))
    assert env["KAFKA_LOG_RETENTION_MS"] == -1


def test_the_event_topic_is_kept_forever_and_never_compacted() -> None:
    command = service("topic")["command"]
    configs = [command[i + 1] for i, word in enumerate(command) if word == "--config"]
    assert "retention.ms=-1" in configs
    assert "cleanup.policy=delete" in configs
    assert not any("compact" in c for c in configs)


def test_the_tests_broker_runs_the_deployed_kafka_settings() -> None:
    """The Kafka tests run Apache Kafka at the version of deploy/compose.yaml's image, with
    its `kafka` service's settings (but for a node's place on the network and disk, and the
    overrides the tests name with their reasons), and create the event topic with the
    `topic` service's settings."""
    from tests.kafka_broker import (
        KAFKA_POM,
        PLACE,
        TEST_OVERRIDES,
        broker_properties,
        compose_kafka_settings,
    )

    pom = KAFKA_POM.read_text(encoding="utf-8")
    version = pom.split("<kafka.version>", 1)[1].split("<", 1)[0]
    for name in ("kafka", "topic"):
        assert service(name)["image"] == f"apache/kafka:{version}"
    deployed = compose_kafka_settings()
    assert deployed["auto.create.topics.enable"] == "false"
    assert deployed["log.retention.ms"] == "-1" and deployed["num.partitions"] == "12"
    text = broker_properties(9092, 9093, Path("/data"))
    ran = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for key, value in deployed.items():
        if key in PLACE:
            continue
        assert ran[key] == TEST_OVERRIDES.get(key, value), key
    assert set(TEST_OVERRIDES) <= set(deployed)  # an override changes a deployed setting
    # the event topic as `sendwatch worker` and `ingest` make it (streams.kafka.ensure_topics)
    from streams.kafka import EVENT_TOPIC_CONFIG

    command = service("topic")["command"]
    configs = [command[i + 1] for i, w in enumerate(command) if w == "--config"]
    assert dict(c.split("=", 1) for c in configs) == EVENT_TOPIC_CONFIG


def _options(command: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"--[a-z][a-z-]+", result.stdout))


def test_compose_runs_real_sendwatch_commands_with_real_options() -> None:
    for name in ("worker", "sendwatch"):
        command = service(name)["command"]
        used = {word for word in command if word.startswith("--")}
        assert used <= _options(command[0]), (name, used - _options(command[0]))


def test_workers_are_built_from_the_dockerfile_here() -> None:
    build = service("worker")["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert "pip install /src" in dockerfile
    assert re.search(r"^USER (?!root)\w+$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["sendwatch"]' in dockerfile


def test_every_bind_mount_and_secret_file_is_where_compose_looks() -> None:
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
    for secret in compose()["secrets"].values():
        # the secrets themselves are never committed; the folder and its README are
        assert (DEPLOY / secret["file"]).parent.is_dir()


def test_only_loopback_ports_are_published() -> None:
    for name, spec in compose()["services"].items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_grafana_is_the_version_the_dashboards_are_built_for() -> None:
    sdk = metadata.version("grafana-foundation-sdk").split("!")[-1]  # e.g. 11.6.0
    image = service("grafana")["image"]
    assert image.startswith("grafana/grafana-oss:")
    assert image.split(":")[1].split(".")[:2] == sdk.split(".")[:2]


# --- Grafana provisioning ---------------------------------------------------------------


def test_grafana_provisioning_matches_the_generated_dashboards_and_rules() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = {
        d["uid"]: d for d in load(provisioning / "datasources" / "sendwatch.yaml")["datasources"]
    }
    assert sources[DATASOURCE_UID]["type"] == "prometheus"
    assert sources[DATASOURCE_UID]["url"] == "http://prometheus:9090"
    providers = load(provisioning / "dashboards" / "sendwatch.yaml")["providers"]
    assert providers[0]["folderUid"] == FOLDER_UID
    mounts = dict(v.split(":")[:2] for v in service("grafana")["volumes"] if v.startswith("."))
    assert mounts["./grafana/dashboards"] == providers[0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    alerting = load(provisioning / "alerting" / "sendwatch.yaml")
    assert alerting["groups"][0]["folder"] == FOLDER_TITLE == providers[0]["folder"]
    contact = alerting["contactPoints"][0]["receivers"][0]
    assert contact["settings"]["url"] == ALERTMANAGER_URL
    assert ALERTMANAGER_URL.split("//")[1].split(":")[0] in compose()["services"]


def test_the_readme_covers_starting_sizing_security_backup_and_upgrade() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needed in (
        "docker compose up",
        "retention.ms=-1",
        "partitions",
        "SASL",
        "TLS",
        "SENDWATCH_API_TOKEN",
        "sqlite3",
        ".backup",
        "recorded contract",
        "Upgrad",
    ):
        assert needed in readme, needed
