"""How many notifications a day the shipped Alertmanager routing sends, on the three-year demo.

    python -m bench.alert_routing [--years 3] [--seed 1] [--teams 0] [--scale 1440]

The history is the demo's (``make demo``: ``sendwatch simulate --seed 1 --years 3``, here to
the benchmarks' fixed end, 30 June 2026), folded once; the alert engine (the built-in rules)
judges it on its last day and on the next. The real Alertmanager then runs the shipped routing
tree (deploy/alertmanager/alertmanager.yml), each receiver a webhook of this script's, with
every wait, interval and repeat divided by ``--scale`` (1440: a day lasts 60 seconds). The
last day's alerts are sent, and left a day to settle (every group made and notified once);
then, in the day counted, the same alerts stay firing, the next day's changes (new alerts,
resolved ones) are sent half-way, and every notification reaching a receiver is counted.

The simulation puts each caseworker in one of four area teams (north, south, east, west: the
example team routes of the shipped tree). ``--teams N`` puts them instead in one of N teams
(``team-1`` ... by the caseworker's number) and gives each its own digest receiver, as a
council fills in the routing tree.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import orjson
import yaml

from alerts.alertmanager import AlertmanagerClient, payload
from alerts.engine import Alert, Engine
from alerts.rules import load_rules
from bench.history import END, history_years
from sendwatch.tuning import paused_collector
from streams.replay import load_projector
from tests.services import Receivers, alertmanager

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
BASE_URL = "https://sendwatch.council.example"
DAY = 86_400.0


def seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": DAY}
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * units[unit]
    raise ValueError(f"{SHIPPED}: cannot read the duration {text!r}")


def scaled_config(receivers: Receivers, scale: float, teams: int) -> dict[str, Any]:
    """The shipped routing tree, every receiver a webhook here, every duration / ``scale``;
    with ``teams``, a digest route and receiver per simulated team."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    config.pop("global")
    top = config["route"]
    for n in range(1, teams + 1):
        top["routes"].append({"matchers": [f'team="team-{n}"'], "receiver": f"team-{n}-digest"})
        config["receivers"].append({"name": f"team-{n}-digest"})
    config["receivers"] = [
        {
            "name": r["name"],
            "webhook_configs": [
                {
                    "url": f"{receivers.base}/{r['name']}",
                    "send_resolved": any(
                        c.get("send_resolved", True)
                        for c in r.get("webhook_configs", []) + r.get("email_configs", [])
                    ),
                    "max_alerts": 0,
                }
            ],
        }
        for r in config["receivers"]
    ]

    def faster(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                route[key] = f"{max(1, round(seconds(route[key]) * 1000 / scale))}ms"
        for child in route.get("routes", []):
            faster(child)

    faster(top)
    return config


def with_teams(path: Path, teams: int, folder: Path) -> Path:
    """The history with a team in each ``caseworker.assigned`` (CW-007: team-(7 mod N + 1))."""
    out = folder / f"{path.stem}-teams{teams}.jsonl"
    with path.open("rb") as source, out.open("wb") as sink:
        for line in source:
            if b'"caseworker.assigned"' in line:
                event = orjson.loads(line)
                number = int("".join(ch for ch in event["data"]["caseworker_id"] if ch.isdigit()))
                event["data"]["team"] = f"team-{number % teams + 1}"
                line = orjson.dumps(event) + b"\n"
            sink.write(line)
    return out


def send(client: AlertmanagerClient, alerts: list[Alert], at: datetime, valid: timedelta) -> None:
    """All in one request. Alertmanager flushes a new group at once, without its group_wait,
    when its first alert started longer ago than that (as these did), with the alerts it has
    taken in so far: a group's first notification lists only some of them, the next one
    (a group interval later) all. So the day counted is the second, when every group is
    settled, as in a service that has run for days."""
    client.post([payload(a, at, valid, BASE_URL) for a in alerts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--teams", type=int, default=0, help="teams to put caseworkers in")
    parser.add_argument("--scale", type=float, default=1440.0, help="a day lasts 86400/scale s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alert-routing-") as tmp:
        folder = Path(tmp)
        path = history_years(args.years, args.seed)
        if args.teams:
            path = with_teams(path, args.teams, folder)
        projector = load_projector(path, pause=paused_collector).projector
        engine = Engine(load_rules(), base_url=BASE_URL)
        at = datetime.combine(END, clock_time(9), UTC)
        engine.update(projector, END, at)
        first = [a for a in engine.alerts() if a.state == "firing"]
        changes = engine.update(projector, END + timedelta(days=1), at + timedelta(days=1))
        by_severity = Counter(a.finding.severity for a in first)
        by_team = Counter(a.finding.team for a in first if a.finding.case_id)
        no_caseworker = sum(1 for a in first if a.finding.caseworker == "unassigned")
        print(
            f"history: {path.name}; alerts firing on {END}: {len(first):,} "
            f"({', '.join(f'{by_severity[s]:,} {s}' for s in ('page', 'critical', 'warning'))}); "
            f"per case: {sum(by_team.values()):,} in {len(by_team)} teams, "
            f"{no_caseworker:,} with no caseworker; the next day: {len(changes.fired):,} fire, "
            f"{len(changes.resolved):,} resolve"
        )
        receivers = Receivers()
        day = DAY / args.scale  # seconds of this run that stand for a day
        with alertmanager(scaled_config(receivers, args.scale, args.teams), folder) as url:
            client = AlertmanagerClient(url)
            valid = timedelta(seconds=4 * day)
            # a day to settle: Alertmanager's groups made, each sent its first notification
            warm = time.monotonic()
            send(client, first, datetime.now(UTC), valid)
            sent = time.monotonic() - warm
            t0 = warm + day
            # the day counted: the same alerts; half-way, the next day's changes
            time.sleep(max(0.0, t0 + day / 2 - time.monotonic()))
            now = datetime.now(UTC)
            for alert in changes.resolved:
                alert.ends_at = now
            send(client, changes.fired + changes.resolved, now, valid)
            time.sleep(max(0.0, t0 + day - time.monotonic()))
            got = receivers.between(t0, t0 + day)
            client.close()
        receivers.close()
    notifications = Counter(name for _, name, _ in got)
    carried = Counter[str]()
    for _, name, body in got:
        carried[name] += len(body["alerts"])
    print(
        f"notifications in a day (simulated in {day:.0f} s, after {sent:.1f} s sending): {len(got)}"
    )
    for name, count in sorted(notifications.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {name:<20} {count:>3} notifications, {carried[name]:>6,} alerts listed in them")


if __name__ == "__main__":
    main()
