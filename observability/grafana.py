"""Grafana dashboards and Grafana-managed alert rules, as code.

Two dashboards, built with grafana-foundation-sdk (the Grafana 11.6 variant):

- the service managers' dashboard: the families' ten petition points, each statutory clock's
  12-month rate against its target and floor, open/overdue/due-soon clocks, trends, other
  measures and the alerts firing now;
- the operations dashboard: ingest rate, Kafka consumer lag, dead letters, worker health and
  alert delivery.

And a small group of Grafana-managed alert rules for service managers (a petition point below
its floor standard; figures gone stale). On-call breach alerts are Prometheus rules routed by
Alertmanager: these are not duplicates of those.

Every query names only metrics that ``/metrics`` exposes (tests/test_grafana.py checks this).
Uids are stable and the output is byte-identical on every run, so the generated files are
committed under ``deploy/grafana/`` and a test checks they are up to date.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import alerting as alerting_builders
from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import expr as expressions
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_models
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prom_models

from projections.law import CLOCK_IDS, CLOCKS, limit_words
from projections.scorecard import POINTS, Point, Status

# the 20-week clock's limit, in words (projections.law states it)
FINAL_PLAN_LIMIT = limit_words(CLOCKS["final_plan"]) or ""
FINAL_PLAN_WEEKS = (CLOCKS["final_plan"].days or 0) // 7

# Stable identifiers shared by the files in deploy/grafana/ and by `sendwatch grafana push`.
DATASOURCE_UID = "sendwatch-prometheus"
DATASOURCE_NAME = "sendwatch Prometheus"
FOLDER_UID = "sendwatch"
FOLDER_TITLE = "sendwatch"
SERVICE_UID = "sendwatch-service-managers"
OPERATIONS_UID = "sendwatch-operations"
RULE_GROUP = "sendwatch-service-managers"
RULE_GROUP_INTERVAL_SECONDS = 60
PROMETHEUS_JOB = "sendwatch"  # the scrape job of deploy/prometheus/prometheus.yml
ALERTMANAGER_URL = "http://alertmanager:9093"  # as Grafana reaches it in deploy/compose.yaml
CONTACT_POINT = "sendwatch Alertmanager"

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)

# Kent's convention is red/amber/green; Grafana's palette calls amber "orange".
GREEN, AMBER, RED, GREY = "green", "orange", "red", "text"

# The standard each clock's rate is judged against: the petition point that rates that clock,
# or point 3 ("all statutory clocks met on time, together") for clocks no point rates alone.
# Targets and floors are local policy (projections/scorecard.py), not law.
CLOCK_STANDARD: dict[str, int] = {"final_plan": 4, "tribunal_order": 6, "contact_response": 1}
ALL_CLOCKS_POINT = 3

UNITS = {"share": "percentunit", "days": "d", "children": "none"}


def _point(number: int, points: tuple[Point, ...] = POINTS) -> Point:
    return next(p for p in points if p.number == number)


def clock_standard(clock: str, points: tuple[Point, ...] = POINTS) -> Point:
    """The petition point whose target and floor a clock's rate is judged against."""
    return _point(CLOCK_STANDARD.get(clock, ALL_CLOCKS_POINT), points)


def _thresholds(point: Point) -> dash.ThresholdsConfig:
    """Red/amber/green steps for a point's value (Grafana colours a value >= a step's value)."""
    steps: list[dm.Threshold]
    if point.target is None or point.floor is None:
        steps = [dm.Threshold(value=None, color=GREY)]
    elif point.higher_is_better:
        steps = [
            dm.Threshold(value=None, color=RED),
            dm.Threshold(value=point.floor, color=AMBER),
            dm.Threshold(value=point.target, color=GREEN),
        ]
    else:
        if point.unit != "days":
            raise ValueError(f"point {point.number}: lower-is-better thresholds assume whole days")
        # Whole days: up to the target is green, up to the floor amber, beyond it red.
        steps = [
            dm.Threshold(value=None, color=GREEN),
            dm.Threshold(value=point.target + 1, color=AMBER),
            dm.Threshold(value=point.floor + 1, color=RED),
        ]
    return dash.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def _green_below(*steps: tuple[float, str]) -> dash.ThresholdsConfig:
    """Green, then each (value, colour) from that value up."""
    levels = [dm.Threshold(value=value, color=color) for value, color in steps]
    return (
        dash.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=GREEN), *levels])
    )


def _status_mappings(point: Point) -> list[dm.ValueMapping]:
    """sendwatch_scorecard_status (0 green, 1 amber, 2 red, -1 none) in the scorecard's words."""
    words = {rag: Status(point, None, rag).words for rag in ("green", "amber", "red")}
    none = "not rated" if point.target is None or point.floor is None else "no data"
    return [
        dm.ValueMap(
            options={
                "0": dm.ValueMappingResult(text=words["green"], color=GREEN, index=0),
                "1": dm.ValueMappingResult(text=words["amber"], color=AMBER, index=1),
                "2": dm.ValueMappingResult(text=words["red"], color=RED, index=2),
                "-1": dm.ValueMappingResult(
                    text=Status(point, None, none).words, color=GREY, index=3
                ),
            }
        )
    ]


def _query(
    expr: str, ref: str, legend: str = "", *, instant: bool = False, table_format: bool = False
) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if table_format:
        q = q.format(prom_models.PromQueryFormat.TABLE)
    return q.instant() if instant else q.range()


def _reduce_last() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


class _Layout:
    """Stable panel ids and an explicit grid, so the JSON never depends on builder state."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, width: int, height: int) -> tuple[int, dm.GridPos]:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = dm.GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        self.row_height = max(self.row_height, height)
        panel_id, self.next_id = self.next_id, self.next_id + 1
        return panel_id, pos

    def row(self) -> tuple[int, dm.GridPos]:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = dm.GridPos(h=1, w=24, x=0, y=self.y)
        self.y += 1
        panel_id, self.next_id = self.next_id, self.next_id + 1
        return panel_id, pos


class _Board:
    """A dashboard being assembled: rows of panels placed left to right."""

    def __init__(self, builder: dash.Dashboard) -> None:
        self.builder = builder
        self.layout = _Layout()

    def row(self, title: str) -> None:
        panel_id, pos = self.layout.row()
        self.builder.with_row(dash.Row(title).id(panel_id).grid_pos(pos))

    def add(self, panel: Any, width: int, height: int, *, queries: bool = True) -> None:
        panel_id, pos = self.layout.place(width, height)
        panel = panel.id(panel_id).grid_pos(pos)
        self.builder.with_panel(panel.datasource(DATASOURCE) if queries else panel)


def _stat(title: str, description: str, unit: str = "none") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .reduce_options(_reduce_last())
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.AUTO)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
    )


def _series(title: str, description: str, unit: str = "none") -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .line_width(2)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )


def _clock_mappings() -> list[dm.ValueMapping]:
    """Clock ids shown as their plain-English titles."""
    return [
        dm.ValueMap(
            options={
                clock: dm.ValueMappingResult(text=CLOCKS[clock].title, index=i)
                for i, clock in enumerate(CLOCK_IDS)
            }
        )
    ]


def _clock_titles() -> list[dm.DataTransformerConfig]:
    """Series named by clock id (legend ``{{clock}}``) renamed to the clocks' titles."""
    return [
        dm.DataTransformerConfig(
            id_val="renameByRegex",
            options={"regex": f"^{clock}$", "renamePattern": CLOCKS[clock].title},
        )
        for clock in CLOCK_IDS
    ]


def _merged_table(
    title: str, description: str, columns: Sequence[tuple[str, str]], *labels: str
) -> table.Panel:
    """One table from several instant queries joined on their labels."""
    panel = table.Panel().title(title).description(description)
    rename = {}
    for i, (expr, heading) in enumerate(columns):
        ref = chr(ord("A") + i)
        panel = panel.with_target(_query(expr, ref, instant=True, table_format=True))
        rename[f"Value #{ref}"] = heading
    if len(columns) == 1:
        rename["Value"] = columns[0][1]  # one query: Grafana names its column "Value"
    return (
        panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        **{label: label.replace("_", " ").capitalize() for label in labels},
                        **rename,
                    },
                },
            )
        )
        .filterable(False)
    )


def _rate_gauge(
    title: str, description: str, exceptions: str, points: tuple[Point, ...]
) -> bargauge.Panel:
    """Each clock's 12-month rate, coloured against that clock's target and floor."""
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(_reduce_last())
        .thresholds(_thresholds(_point(ALL_CLOCKS_POINT, points)))
    )
    for i, clock in enumerate(CLOCK_IDS):
        expr = f'sendwatch_clock_rate{{clock="{clock}",window="12m",exceptions="{exceptions}"}}'
        panel = panel.with_target(_query(expr, f"R{i}", CLOCKS[clock].title, instant=True))
        if CLOCK_STANDARD.get(clock, ALL_CLOCKS_POINT) != ALL_CLOCKS_POINT:
            panel = panel.override_by_name(
                CLOCKS[clock].title,
                [
                    dm.DynamicConfigValue(
                        id_val="thresholds",
                        value=_thresholds(clock_standard(clock, points)).build(),
                    )
                ],
            )
    return panel


def _standard_text(point: Point) -> str:
    def show(value: float | None) -> str:
        if value is None:
            return "none set"
        return f"{value:.0%}" if point.unit == "share" else f"{value:g} {point.unit}"

    return f"Target {show(point.target)}, floor standard {show(point.floor)}."


def service_managers_dashboard(points: tuple[Point, ...] = POINTS) -> dm.Dashboard:
    """The service managers' dashboard: is the council keeping the law and its promises?

    ``points`` gives the targets and floors the colours follow (the council's own standards,
    if it set any: see ``settings.scorecard_points``)."""
    board = _Board(
        dash.Dashboard("sendwatch: service managers")
        .uid(SERVICE_UID)
        .description(
            "Whether the council is keeping its legal duties to children with SEND and the "
            "families' ten petition points, live from sendwatch."
        )
        .tags(["sendwatch", "send"])
        .timezone("Europe/London")
        .time("now-30d", "now")
        .refresh("1m")
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
    )

    board.row("The families' ten petition points (last 12 months)")
    for point in points:
        n = point.number
        panel = (
            _stat(
                f"{n}. {point.asked}",
                f"{point.measure}. {_standard_text(point)}",
                UNITS[point.unit],
            )
            .with_target(
                _query(f'sendwatch_scorecard_value{{point="{n}"}}', "A", "Now", instant=True)
            )
            .with_target(
                _query(f'sendwatch_scorecard_status{{point="{n}"}}', "B", "Status", instant=True)
            )
            .thresholds(_thresholds(point))
            .decimals(1 if point.unit == "share" else 0)
            .text_mode(common.BigValueTextMode.VALUE)
            .orientation(common.VizOrientation.VERTICAL)
            .override_by_query(
                "B",
                [
                    dm.DynamicConfigValue(id_val="mappings", value=_status_mappings(point)),
                    dm.DynamicConfigValue(id_val="unit", value="none"),
                    dm.DynamicConfigValue(id_val="decimals", value=0),
                ],
            )
        )
        board.add(panel, 6, 6)
    board.add(
        _merged_table(
            "Scorecard: value, target and floor",
            "Each point's value now, the standard it is judged against, and its status "
            "(0 green, 1 amber, 2 red, -1 no data or not rated).",
            [
                ("sendwatch_scorecard_value", "Value"),
                ("sendwatch_scorecard_target", "Target"),
                ("sendwatch_scorecard_floor", "Floor"),
                ("sendwatch_scorecard_status", "Status"),
            ],
            "point",
        ),
        12,
        6,
    )

    board.row("Statutory clocks: on time in the last 12 months")
    board.add(
        _rate_gauge(
            "On time, exceptions excluded",
            "Clocks completed in the 12 months to today that met their legal deadline, leaving "
            "out cases where a lawful exception applied (as DfE publishes the "
            f"{FINAL_PLAN_WEEKS}-week rate). "
            "Coloured against each clock's target and floor.",
            "excluded",
            points,
        ),
        12,
        10,
    )
    board.add(
        _rate_gauge(
            "On time, every clock counted",
            "The same, with excepted cases counted (exceptions included).",
            "included",
            points,
        ),
        12,
        10,
    )

    board.row("Open clocks now")
    board.add(
        _stat(
            "Overdue now",
            "Open clocks past their legal deadline (excepted cases left out).",
        )
        .with_target(_query("sum(sendwatch_clock_overdue)", "A", "Overdue", instant=True))
        .thresholds(_green_below((1, RED))),
        4,
        8,
    )
    board.add(
        _stat(
            "Due within 7 days",
            "Open clocks due in the next 7 days (excepted cases left out).",
        )
        .with_target(_query("sum(sendwatch_clock_due_soon)", "A", "Due soon", instant=True))
        .thresholds(_green_below((1, AMBER))),
        4,
        8,
    )
    board.add(
        _merged_table(
            "Open, overdue and due soon, by clock",
            "Open clocks now; overdue: past the deadline; due soon: due within 7 days.",
            [
                ("sum by (clock) (sendwatch_clock_open)", "Open"),
                ("sum by (clock) (sendwatch_clock_overdue)", "Overdue"),
                ("sum by (clock) (sendwatch_clock_due_soon)", "Due within 7 days"),
            ],
            "clock",
        ).override_by_name(
            "Clock", [dm.DynamicConfigValue(id_val="mappings", value=_clock_mappings())]
        ),
        16,
        8,
    )

    board.row("Trends")
    final_plan = _point(CLOCK_STANDARD["final_plan"], points)
    board.add(
        _series(
            f"Final plans within {FINAL_PLAN_LIMIT}, against target and floor",
            f"12-month rate of final EHC plans issued within {FINAL_PLAN_LIMIT} (exceptions "
            "excluded), "
            f"with petition point {final_plan.number}'s target and floor standard.",
            "percentunit",
        )
        .with_target(
            _query(
                'sendwatch_clock_rate{clock="final_plan",window="12m",exceptions="excluded"}',
                "A",
                f"Within {FINAL_PLAN_LIMIT} (12 months)",
            )
        )
        .with_target(
            _query(f'sendwatch_scorecard_target{{point="{final_plan.number}"}}', "B", "Target")
        )
        .with_target(
            _query(
                f'sendwatch_scorecard_floor{{point="{final_plan.number}"}}', "C", "Floor standard"
            )
        )
        .min(0)
        .max(1)
        .override_by_query(
            "B",
            [
                dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": GREEN}),
                dm.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                ),
            ],
        )
        .override_by_query(
            "C",
            [
                dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": RED}),
                dm.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                ),
            ],
        ),
        12,
        9,
    )
    board.add(
        _series(
            "12-month rate by clock",
            "Each clock's 12-month on-time rate (exceptions excluded), over time.",
            "percentunit",
        )
        .with_target(
            _query('sendwatch_clock_rate{window="12m",exceptions="excluded"}', "A", "{{clock}}")
        )
        .min(0)
        .max(1)
        .transformations(_clock_titles()),
        12,
        9,
    )
    board.add(
        _series(
            "Last 28 days: share on time by clock",
            "Clocks completed in the last 28 days that met their deadline (every clock counted).",
            "percentunit",
        )
        .with_target(
            _query(
                'sum by (clock) (sendwatch_clock_on_time{window="28d"}) / '
                '(sum by (clock) (sendwatch_clock_completed{window="28d"}) > 0)',
                "A",
                "{{clock}}",
            )
        )
        .min(0)
        .max(1)
        .transformations(_clock_titles()),
        12,
        9,
    )
    board.add(
        _series("Overdue clocks by clock", "Open clocks past their deadline, over time.")
        .with_target(_query("sum by (clock) (sendwatch_clock_overdue)", "A", "{{clock}}"))
        .min(0)
        .transformations(_clock_titles()),
        12,
        9,
    )

    board.row("Appeals, children without education, caseworkers and quality")
    board.add(
        _stat(
            "Right first time",
            "Appealable decisions in the last 12 months not later conceded or lost at tribunal.",
            "percentunit",
        )
        .with_target(_query("sendwatch_first_time_right_rate", "A", "Rate", instant=True))
        .with_target(_query("sendwatch_first_time_right_decisions", "B", "Decisions", instant=True))
        .with_target(
            _query("sendwatch_first_time_right_overturned", "C", "Overturned", instant=True)
        )
        .thresholds(_thresholds(_point(2, points)))
        .decimals(1)
        .override_by_query("B", [dm.DynamicConfigValue(id_val="unit", value="none")])
        .override_by_query("C", [dm.DynamicConfigValue(id_val="unit", value="none")]),
        8,
        6,
    )
    board.add(
        bargauge.Panel()
        .title("Appeals registered, by what was appealed")
        .description("Tribunal appeals registered in the last 12 months.")
        .with_target(
            _query(
                "sum by (against) (sendwatch_appeals_registered)", "A", "{{against}}", instant=True
            )
        )
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(_reduce_last()),
        8,
        6,
    )
    board.add(
        _merged_table(
            "Appeals concluded, by outcome",
            "Appeals concluded in the last 12 months.",
            [("sum by (against, outcome) (sendwatch_appeals_concluded)", "Appeals")],
            "against",
            "outcome",
        ),
        8,
        6,
    )
    board.add(
        _stat(
            "Children without suitable education",
            "Children out of education now, the longest current spell, and EOTAS in the last "
            "12 months.",
        )
        .with_target(_query("sendwatch_out_of_education_children", "A", "Children", instant=True))
        .with_target(
            _query(
                "sendwatch_out_of_education_longest_seconds / 86400",
                "B",
                "Longest spell (days)",
                instant=True,
            )
        )
        .with_target(_query("sendwatch_eotas_requested", "C", "EOTAS requested", instant=True))
        .with_target(_query("sendwatch_eotas_started", "D", "EOTAS started", instant=True))
        .with_target(
            _query(
                "sendwatch_eotas_request_to_start_median_seconds / 86400",
                "E",
                "Median days, request to start",
                instant=True,
            )
        )
        .color_mode(common.BigValueColorMode.NONE),
        12,
        6,
    )
    board.add(
        _stat(
            "Caseworkers",
            "Cases with a caseworker in the last 12 months, changes of caseworker, and cases "
            "that had 3 or more.",
        )
        .with_target(_query("sendwatch_caseworker_cases", "A", "Cases", instant=True))
        .with_target(_query("sendwatch_caseworker_changes", "B", "Changes", instant=True))
        .with_target(
            _query("sendwatch_caseworker_cases_with_3_or_more", "C", "3 or more", instant=True)
        )
        .color_mode(common.BigValueColorMode.NONE),
        12,
        6,
    )
    board.add(
        _stat(
            "Plan audits",
            "Plans audited in the last 12 months, and how many met the standard in sections B "
            "(needs), E (outcomes) and F (provision).",
        )
        .with_target(_query("sendwatch_plan_audits", "A", "Audited", instant=True))
        .with_target(
            _query(
                "sendwatch_plan_audit_sections_met", "B", "Section {{section}} met", instant=True
            )
        )
        .color_mode(common.BigValueColorMode.NONE),
        8,
        6,
    )
    board.add(
        _stat(
            "Annual reviews checked",
            "Annual reviews checked in the last 12 months, and how many were compliant.",
        )
        .with_target(_query("sendwatch_review_compliance_checked", "A", "Checked", instant=True))
        .with_target(
            _query("sendwatch_review_compliance_compliant", "B", "Compliant", instant=True)
        )
        .color_mode(common.BigValueColorMode.NONE),
        8,
        6,
    )
    board.add(
        _stat("Children on SEN support now", "Children on SEN support without a plan, now.")
        .with_target(_query("sendwatch_sen_support_children", "A", "Children", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        8,
        6,
    )

    board.row("Alerts")
    board.add(
        _stat("Alerts firing now", "Breach alerts firing now, by severity.")
        .with_target(
            _query("sum by (severity) (sendwatch_alerts_firing)", "A", "{{severity}}", instant=True)
        )
        .thresholds(_green_below((1, RED))),
        8,
        8,
    )
    board.add(
        _alert_list("Alerts now", "Alerts firing or pending, newest first."), 16, 8, queries=False
    )
    return board.builder.build()


def _alert_list(title: str, description: str) -> dash.Panel:
    """Grafana's core alert list panel (the SDK has no builder for it)."""
    return (
        dash.Panel()
        .type("alertlist")
        .title(title)
        .description(description)
        .options(
            {
                "viewMode": "list",
                "groupMode": "default",
                "groupBy": [],
                "maxItems": 20,
                "sortOrder": 3,
                "dashboardAlerts": False,
                "alertName": "",
                "alertInstanceLabelFilter": "",
                "folder": None,
                "stateFilter": {
                    "firing": True,
                    "pending": True,
                    "noData": False,
                    "normal": False,
                    "error": True,
                },
            }
        )
    )


def operations_dashboard() -> dm.Dashboard:
    """The operations dashboard: is sendwatch itself healthy?"""
    board = _Board(
        dash.Dashboard("sendwatch: operations")
        .uid(OPERATIONS_UID)
        .description("Ingest, Kafka consumers, dead letters, workers and alert delivery.")
        .tags(["sendwatch", "operations"])
        .timezone("Europe/London")
        .time("now-6h", "now")
        .refresh("30s")
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
    )

    board.row("Ingest")
    board.add(
        _series(
            "Events per second",
            "Events accepted, duplicates ignored and lines rejected, per second (5-minute rate).",
            "ops",
        )
        .with_target(_query("sum(rate(sendwatch_events_accepted_total[5m]))", "A", "Accepted"))
        .with_target(_query("sum(rate(sendwatch_events_duplicate_total[5m]))", "B", "Duplicates"))
        .with_target(_query("sum(rate(sendwatch_events_rejected_total[5m]))", "C", "Rejected")),
        12,
        8,
    )
    board.add(
        _stat("Events applied", "Events folded into the projections (all workers).")
        .with_target(_query("sum(sendwatch_events_applied)", "A", "Events", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        4,
        8,
    )
    board.add(
        _stat("Cases", "Cases known to the projections (all workers).")
        .with_target(_query("sum(sendwatch_cases)", "A", "Cases", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        4,
        8,
    )
    board.add(
        _stat(
            "Newest event's age",
            "Time since the newest event was recorded by the council's systems. Long gaps at "
            "night and weekends are normal; days are not.",
            "s",
        )
        .with_target(_query("max(sendwatch_last_event_age_seconds)", "A", "Age", instant=True))
        .thresholds(_green_below((6 * 3600, AMBER), (2 * 86400, RED))),
        4,
        8,
    )

    board.row("Kafka consumers")
    board.add(
        _series(
            "Consumer lag by partition",
            "Messages behind the high watermark, per partition of the event topic.",
        )
        .with_target(
            _query("sum by (partition) (sendwatch_consumer_lag)", "A", "partition {{partition}}")
        )
        .min(0),
        12,
        8,
    )
    board.add(
        _stat("Total lag", "Messages not yet applied, all partitions.")
        .with_target(_query("sum(sendwatch_consumer_lag)", "A", "Lag", instant=True))
        .thresholds(_green_below((1000, AMBER), (100000, RED))),
        6,
        8,
    )
    board.add(
        _series("Partitions per worker", "Partitions of the event topic assigned to each worker.")
        .with_target(_query("sendwatch_worker_partitions", "A", "{{instance}}"))
        .min(0),
        6,
        8,
    )

    board.row("Dead letters and quarantine")
    board.add(
        _stat(
            "Dead letters stored",
            "Input lines that failed validation and were kept with the reason.",
        )
        .with_target(_query("max(sendwatch_dead_letters_total)", "A", "Dead letters", instant=True))
        .thresholds(_green_below((1, AMBER))),
        6,
        8,
    )
    board.add(
        _stat(
            "Cases quarantined",
            "Cases set aside because the projections could not fold their events (all "
            "workers): their clocks are not watched. GET /api/quarantine lists them.",
        )
        .with_target(_query("sum(sendwatch_quarantined_cases)", "A", "Cases", instant=True))
        .thresholds(_green_below((1, RED))),
        6,
        8,
    )
    board.add(
        _series("New dead letters per hour", "Dead letters added in each hour.")
        .with_target(_query("sum(increase(sendwatch_dead_letters_total[1h]))", "A", "Dead letters"))
        .min(0),
        12,
        8,
    )

    board.row("Workers")
    board.add(
        _stat("Workers up", "sendwatch processes that Prometheus can scrape now.")
        .with_target(_query(f'sum(up{{job="{PROMETHEUS_JOB}"}})', "A", "Up", instant=True))
        .with_target(_query(f'count(up{{job="{PROMETHEUS_JOB}"}})', "B", "Expected", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        6,
        8,
    )
    board.add(
        _series("Scrape health by worker", "1 when Prometheus can scrape the worker, 0 when not.")
        .with_target(_query(f'up{{job="{PROMETHEUS_JOB}"}}', "A", "{{instance}}"))
        .min(0)
        .max(1),
        9,
        8,
    )
    board.add(
        _series("Newest event's age by worker", "Seconds since the newest event, per worker.", "s")
        .with_target(_query("sendwatch_last_event_age_seconds", "A", "{{instance}}"))
        .min(0),
        9,
        8,
    )

    board.row("Alert delivery")
    board.add(
        _series(
            "Notifications to Alertmanager per hour",
            "Breach alert notifications sent, and those that failed, per hour.",
        )
        .with_target(
            _query(
                "sum by (result) (increase(sendwatch_alert_notifications_total[1h]))",
                "A",
                "{{result}}",
            )
        )
        .min(0),
        12,
        8,
    )
    board.add(
        _stat("Failed notifications (24 hours)", "Notifications Alertmanager did not accept.")
        .with_target(
            _query(
                'sum(increase(sendwatch_alert_notifications_total{result="failed"}[24h]))',
                "A",
                "Failed",
                instant=True,
            )
        )
        .decimals(0)
        .thresholds(_green_below((1, RED))),
        6,
        8,
    )
    board.add(
        _stat("Alerts firing now", "Breach alerts firing now, by severity.")
        .with_target(
            _query("sum by (severity) (sendwatch_alerts_firing)", "A", "{{severity}}", instant=True)
        )
        .color_mode(common.BigValueColorMode.NONE),
        6,
        8,
    )
    return board.builder.build()


# Grafana-managed alert rules for service managers. The team label follows the routing of
# alerts/default_rules.yml; "source: grafana" tells them apart from the Prometheus rules.
_TEAM = "send-management"


def _rule_specs(points: tuple[Point, ...]) -> list[tuple[str, str, str, str, float, str, str]]:
    """uid, title, expression, comparison, threshold, for, summary of each rule."""
    rated = "|".join(str(p.number) for p in points if p.target is not None)
    return [
        (
            "sendwatch-point-below-floor",
            "A petition point is below its floor standard",
            "sendwatch_scorecard_status",
            "gt",
            1.5,  # 2: red
            "1h",
            "Petition point {{ $labels.point }} is red: below its floor standard.",
        ),
        (
            "sendwatch-point-no-data",
            "A petition point has no data",
            f'sendwatch_scorecard_status{{point=~"{rated}"}}',
            "lt",
            -0.5,  # -1: no data in the period
            "24h",
            "Petition point {{ $labels.point }} has had no data for a day: check that the "
            "council's systems still send the events it is measured from.",
        ),
    ]


def alert_rules(points: tuple[Point, ...] = POINTS) -> list[alerting_models.Rule]:
    """The Grafana-managed alert rules, in the provisioning API's shape."""
    rules = []
    for uid, title, expr, comparison, threshold, wait, summary in _rule_specs(points):
        evaluator = (
            expressions.ExprTypeThresholdConditionsEvaluator()
            .type(comparison)  # type: ignore[arg-type]
            .params([threshold])
        )
        rule = (
            alerting_builders.Rule(title)
            .uid(uid)
            .folder_uid(FOLDER_UID)
            .rule_group(RULE_GROUP)
            .org_id(1)
            .condition("C")
            .with_query(
                alerting_builders.Query("A")
                .datasource_uid(DATASOURCE_UID)
                .relative_time_range(alerting_models.RelativeTimeRange(from_val=600, to=0))
                .model(_query(expr, "A", instant=True))
            )
            .with_query(
                alerting_builders.Query("B")
                .datasource_uid("__expr__")
                .model(expressions.TypeReduce().ref_id("B").expression("A").reducer("last"))
            )
            .with_query(
                alerting_builders.Query("C")
                .datasource_uid("__expr__")
                .model(
                    expressions.TypeThreshold()
                    .ref_id("C")
                    .expression("B")
                    .conditions([expressions.ExprTypeThresholdConditions().evaluator(evaluator)])
                )
            )
            .no_data_state("OK")
            .exec_err_state("Error")
            .for_val(wait)
            .is_paused(False)
            .labels({"team": _TEAM, "severity": "warning", "source": "grafana"})
            .annotations({"summary": summary})
        )
        rules.append(rule.build())
    return rules


def _plain(value: Any) -> Any:
    """The SDK's objects as plain JSON data (dicts, lists, numbers, strings)."""
    return json.loads(json.dumps(value, cls=JSONEncoder, sort_keys=True))


def rule_group(points: tuple[Point, ...] = POINTS) -> dict[str, Any]:
    """The rule group as Grafana's provisioning API takes it (PUT .../rule-groups/:group)."""
    group: dict[str, Any] = _plain(
        alerting_builders.RuleGroup(RULE_GROUP)
        .folder_uid(FOLDER_UID)
        .interval(RULE_GROUP_INTERVAL_SECONDS)
        .rules([_Built(r) for r in alert_rules(points)])
        .build()
    )
    return group


class _Built(cogbuilder.Builder[alerting_models.Rule]):
    """Wraps an already-built rule where the SDK's builders expect a builder."""

    def __init__(self, rule: alerting_models.Rule) -> None:
        self.rule = rule

    def build(self) -> alerting_models.Rule:
        return self.rule


def alerting_provisioning(
    points: tuple[Point, ...] = POINTS, alertmanager_url: str = ALERTMANAGER_URL
) -> dict[str, Any]:
    """The same rules as a Grafana file-provisioning document (provisioning/alerting/), with
    a contact point and notification policy that hand Grafana's alerts to Alertmanager."""
    rules = []
    for rule in _plain(alert_rules(points)):
        for server_side in ("folderUID", "ruleGroup", "orgID"):
            rule.pop(server_side, None)
        rules.append(rule)
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": f"{RULE_GROUP_INTERVAL_SECONDS}s",
                "rules": rules,
            }
        ],
        # Grafana's alerts go to the same Alertmanager as everything else, routed by `team`.
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "sendwatch-alertmanager-contact",
                        "type": "prometheus-alertmanager",
                        "settings": {"url": alertmanager_url},
                        "disableResolveMessage": False,
                    }
                ],
            }
        ],
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname"],
            }
        ],
    }


def dashboards(points: tuple[Point, ...] = POINTS) -> dict[str, dict[str, Any]]:
    """Every dashboard as plain JSON, by file name."""
    return {
        f"{SERVICE_UID}.json": _plain(service_managers_dashboard(points)),
        f"{OPERATIONS_UID}.json": _plain(operations_dashboard()),
    }


def render(document: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards(out: Path, points: tuple[Point, ...] = POINTS) -> list[Path]:
    """Write every dashboard's JSON into ``out`` (created if missing); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in dashboards(points).items():
        path = out / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def write_alerting(path: Path, points: tuple[Point, ...] = POINTS) -> Path:
    """Write the Grafana alert rules as a file-provisioning document (YAML)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Generated by `sendwatch grafana dashboards --alerting`: do not edit by hand.\n"
    text += yaml.safe_dump(
        alerting_provisioning(points), sort_keys=True, allow_unicode=True, width=100
    )
    path.write_text(text, encoding="utf-8")
    return path


def expressions_in(document: Any) -> Iterable[str]:
    """Every PromQL expression (``expr``) anywhere in a dashboard or rule document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions_in(value)
    elif isinstance(document, list):
        for item in document:
            yield from expressions_in(item)
