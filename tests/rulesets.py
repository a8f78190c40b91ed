"""Alert rule sets for tests, cut down from the default rules."""

from __future__ import annotations

from alerts.rules import RuleSet, load_rules


def only_case_rules() -> RuleSet:
    """The default rules with only the per-case ones (no rates, counts or ingest rules)."""
    return load_rules().model_copy(
        update={
            "rates": (),
            "burn_rates": (),
            "overdue": (),
            "dead_letters": None,
            "ingest_stalled": None,
        }
    )
