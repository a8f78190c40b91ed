"""The Prometheus rules: generated from the rule data, committed, valid, and unit-tested with
``promtool test rules`` (tests/promtool/), so CI runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from alerts.rules import load_rules, parse_rules
from observability.promrules import main, prometheus_rules, render
from tests.services import AGREED_METRICS, promtool

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "deploy" / "prometheus" / "sendwatch.rules.yml"
UNIT_TESTS = sorted((ROOT / "tests" / "promtool").glob("*_test.yml"))


def test_the_committed_rules_file_is_a_fresh_generation() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(load_rules()), (
        "regenerate: python -m observability.promrules --out deploy/prometheus/sendwatch.rules.yml"
    )


def test_promtool_check_rules_passes() -> None:
    run = subprocess.run(
        [promtool(), "check", "rules", str(COMMITTED)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 15 rules found" in run.stdout


def test_promtool_unit_tests_of_firing_and_not_firing_pass() -> None:
    assert UNIT_TESTS, "no promtool unit tests under tests/promtool/"
    run = subprocess.run(
        [promtool(), "test", "rules", *map(str, UNIT_TESTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_unit_tests_would_catch_a_missing_volume_guard(tmp_path: Path) -> None:
    """Mutation check: without the minimum-volume guard the promtool tests fail."""
    rules = load_rules()
    weakened = rules.model_copy(
        update={
            "burn_rates": tuple(b.model_copy(update={"min_completed": 1}) for b in rules.burn_rates)
        }
    )
    (tmp_path / "deploy" / "prometheus").mkdir(parents=True)
    (tmp_path / "deploy" / "prometheus" / "sendwatch.rules.yml").write_text(render(weakened))
    (tmp_path / "tests" / "promtool").mkdir(parents=True)
    for test in UNIT_TESTS:
        shutil.copy(test, tmp_path / "tests" / "promtool" / test.name)
    run = subprocess.run(
        [promtool(), "test", "rules", *(f"tests/promtool/{t.name}" for t in UNIT_TESTS)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode != 0
    assert "alertname: RateBudgetBurn" in run.stdout + run.stderr


def test_rules_use_only_the_agreed_metric_names() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    used = set(re.findall(r"\bsendwatch_[a-z0-9_]+", text))
    assert used, "no metric found in the rules"
    assert used <= AGREED_METRICS, used - AGREED_METRICS


def test_rules_never_carry_a_case_id() -> None:
    for group in prometheus_rules(load_rules())["groups"]:
        for rule in group["rules"]:
            assert "case_id" not in rule["labels"]
            assert "case_id" not in rule["expr"]


def test_a_council_edit_flows_into_the_generated_rules(tmp_path: Path) -> None:
    council = tmp_path / "rules.yml"
    council.write_text(
        "rates:\n  - {clock: assess_decision, exceptions: excluded, target: 0.9, floor: 0.8,"
        " min_completed: 50}\n",
        encoding="utf-8",
    )
    out = tmp_path / "sendwatch.rules.yml"
    assert main(["--rules", str(council), "--out", str(out)]) == 0
    generated = yaml.safe_load(out.read_text(encoding="utf-8"))
    groups = {g["name"]: g["rules"] for g in generated["groups"]}
    # the council's one rate rule, and the process-health rule every deployment has
    assert set(groups) == {"sendwatch-rates", "sendwatch-ingest"}
    assert [r["alert"] for r in groups["sendwatch-ingest"]] == ["SendwatchDown"]
    target, floor = groups["sendwatch-rates"]
    assert (target["alert"], floor["alert"]) == ("RateBelowTarget", "RateBelowFloor")
    assert 'clock="assess_decision",window="12m"' in target["expr"]
    assert "< 0.9 >= 0.8" in target["expr"] and ">= 50" in target["expr"]
    assert target["labels"] == {
        "severity": "warning",
        "team": "send-casework",
        "clock": "assess_decision",
        "window": "12m",
    }
    run = subprocess.run([promtool(), "check", "rules", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_targets_follow_the_petition_point_unless_overridden() -> None:
    from projections.scorecard import with_overrides

    rules = parse_rules("rates: [{clock: final_plan, point: 4, exceptions: excluded}]")
    moved = prometheus_rules(rules, with_overrides({4: {"target": 0.5, "floor": 0.4}}))
    amber = moved["groups"][0]["rules"][0]
    assert "< 0.5 >= 0.4" in amber["expr"]
