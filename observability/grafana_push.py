"""Push sendwatch's datasource, folder, dashboards and alert rules to a running Grafana.

Idempotent: every resource is read first (GET) and written (POST/PUT) only when what Grafana
holds differs from what sendwatch generates, so a second push changes nothing. "Differs"
means a field sendwatch sets has another value in Grafana (or a list has other items); fields
Grafana adds itself (ids, versions, timestamps, provenance) are not differences.

The HTTP calls go through grafana-client (``grafana_client.GrafanaApi``). It brings in
urllib3-future, which installs itself under the ``urllib3`` import name; it is imported only
inside ``push`` and is an optional extra (``pip install 'sendwatch[grafana]'``), so nothing
else in sendwatch loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from observability.grafana import (
    DATASOURCE_NAME,
    DATASOURCE_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    RULE_GROUP,
    dashboards,
    rule_group,
)
from projections.scorecard import POINTS, Point

if TYPE_CHECKING:
    from rich.console import Console

PUSH_MESSAGE = "sendwatch grafana push"


class PushError(Exception):
    """Grafana could not be reached, refused the token, or refused a resource."""


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # datasource, folder, dashboard, alert rule group
    uid: str
    action: str  # created, updated, unchanged

    def __str__(self) -> str:
        return f"{self.kind} {self.uid}: {self.action}"


def covers(actual: Any, desired: Any) -> bool:
    """True when ``actual`` (what Grafana holds) already says everything ``desired`` says.

    Mappings: every key of ``desired`` has a covered value in ``actual`` (a missing key counts
    as null); extra keys in ``actual`` are Grafana's own. Lists: the same length, item by item.
    Anything else: equal (so 1 and 1.0 are the same number)."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(covers(actual.get(key), value) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return False
        return all(covers(a, d) for a, d in zip(actual, desired, strict=True))
    return bool(actual == desired) and isinstance(actual, bool) == isinstance(desired, bool)


def datasource(prometheus_url: str) -> dict[str, Any]:
    """The Prometheus datasource as Grafana's API takes it (not the default: a council's
    Grafana may have its own)."""
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url,
        "basicAuth": False,
        "isDefault": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "30s"},
    }


def push(
    url: str,
    token: str,
    prometheus_url: str,
    console: Console | None = None,
    points: tuple[Point, ...] = POINTS,
    timeout: float = 10.0,
) -> list[Change]:
    """Bring Grafana at ``url`` up to date; return what was done to each resource."""
    try:
        from grafana_client.api import GrafanaApi
        from grafana_client.client import GrafanaException
    except ImportError:
        raise PushError(
            "grafana-client is not installed: pip install 'sendwatch[grafana]'"
        ) from None

    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    say: Callable[[Change], None] = (
        (lambda change: console.print(str(change), markup=False))
        if console is not None
        else (lambda change: None)
    )

    def get(read: Callable[[], Any]) -> Any | None:
        """What Grafana holds, or None when it holds nothing (404)."""
        try:
            return read()
        except GrafanaException as error:
            if error.status_code == 404:
                return None
            raise

    def step(kind: str, uid: str, run: Callable[[], str]) -> Change:
        try:
            change = Change(kind, uid, run())
        except GrafanaException as error:
            raise PushError(_explain(kind, uid, url, error)) from None
        except OSError as error:  # refused, unreachable, TLS
            raise PushError(f"cannot reach Grafana at {url}: {error}") from None
        say(change)
        return change

    def push_datasource() -> str:
        desired = datasource(prometheus_url)
        actual = get(lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID))
        if actual is None:
            api.datasource.create_datasource(desired)
            return "created"
        if covers(actual, desired):
            return "unchanged"
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, {**desired, "id": actual["id"]})
        return "updated"

    def push_folder() -> str:
        actual = get(lambda: api.folder.get_folder(FOLDER_UID))
        if actual is None:
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
            return "created"
        if actual.get("title") == FOLDER_TITLE:
            return "unchanged"
        api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
        return "updated"

    def push_dashboard(desired: dict[str, Any]) -> str:
        uid = desired["uid"]
        actual = get(lambda: api.dashboard.get_dashboard(uid))
        if (
            actual is not None
            and covers(actual.get("dashboard"), desired)
            and actual.get("meta", {}).get("folderUid") == FOLDER_UID
        ):
            return "unchanged"
        api.dashboard.update_dashboard(
            {
                "dashboard": {**desired, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": PUSH_MESSAGE,
            }
        )
        return "created" if actual is None else "updated"

    def push_rules() -> str:
        desired = rule_group(points)
        provisioning = api.alertingprovisioning
        actual = get(lambda: provisioning.get_rule_group(FOLDER_UID, RULE_GROUP))
        if actual is not None and covers(actual, desired):
            return "unchanged"
        provisioning.update_rule_group(FOLDER_UID, RULE_GROUP, desired)
        return "created" if actual is None else "updated"

    changes = [
        step("datasource", DATASOURCE_UID, push_datasource),
        step("folder", FOLDER_UID, push_folder),
    ]
    for document in dashboards(points).values():
        changes.append(step("dashboard", document["uid"], _bind(push_dashboard, document)))
    changes.append(step("alert rule group", RULE_GROUP, push_rules))
    return changes


def _bind(run: Callable[[dict[str, Any]], str], document: dict[str, Any]) -> Callable[[], str]:
    return lambda: run(document)


def _explain(kind: str, uid: str, url: str, error: Any) -> str:
    status = getattr(error, "status_code", 0)
    if status == 401:
        return f"Grafana at {url} refused the token (401): give a service-account token"
    if status == 403:
        return (
            f"Grafana at {url} refused {kind} {uid} (403): the token's service account "
            "needs the Admin role (or Editor plus datasource and alerting permissions)"
        )
    if status == 0:
        return f"cannot reach Grafana at {url}: {error}"
    return f"Grafana at {url} refused {kind} {uid} ({status}): {getattr(error, 'message', error)}"
