"""`sendwatch grafana push` against a recorded contract of Grafana's HTTP API.

Grafana's server cannot be installed on the machines that run these tests, so this is the one
place where a fake stands in for a real service: a small HTTP server that answers as Grafana's
HTTP API documentation says it does (tests/contracts/grafana/api.json: the documented request
fields and response bodies of each route) and keeps what it is sent, so a second push can be
checked against the first. The client under test is the real grafana-client, over real HTTP.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from observability.grafana import (
    DATASOURCE_UID,
    FOLDER_UID,
    OPERATIONS_UID,
    RULE_GROUP,
    SERVICE_UID,
    dashboards,
    rule_group,
)
from observability.grafana_push import Change, PushError, covers, push

CONTRACTS = Path(__file__).parent / "contracts" / "grafana"
CONTRACT: dict[str, Any] = json.loads((CONTRACTS / "api.json").read_text(encoding="utf-8"))
FIRST_PUSH: list[str] = json.loads((CONTRACTS / "first_push.json").read_text(encoding="utf-8"))[
    "requests"
]
TOKEN = "glsa_test_service_account_token"
PROMETHEUS = "http://prometheus:9090"


def _route_pattern(route: str) -> tuple[str, re.Pattern[str]]:
    method, path = route.split(" ", 1)
    regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return method, re.compile(f"^{regex}$")


ROUTES = [(route, *_route_pattern(route)) for route in CONTRACT["routes"]]


def documented(route: str, status: int) -> Any:
    """A deep copy of the documented response body of ``route`` for ``status``."""
    return copy.deepcopy(CONTRACT["routes"][route]["responses"][str(status)])


class ContractViolation(AssertionError):
    pass


class FakeGrafana:
    """Grafana as its HTTP API documentation describes it, holding state in memory."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, tuple[dict[str, Any], str]] = {}
        self.rule_groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if headers.get("authorization") != f"Bearer {TOKEN}":
            unauthorized = CONTRACT["auth"]["unauthorized"]
            return unauthorized["status"], unauthorized["body"]
        for route, route_method, pattern in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                self._check_request(route, body)
                handler = getattr(self, "_" + re.sub(r"\W+", "_", route).strip("_").lower())
                result: tuple[int, Any] = handler(route, body, **match.groupdict())
                return result
        self.violations.append(f"{method} {path} is not in the recorded contract")
        return 404, {"message": "Not found"}

    def _check_request(self, route: str, body: Any) -> None:
        rules = CONTRACT["routes"][route].get("request", {})
        for field in rules.get("required", []):
            if not isinstance(body, dict) or field not in body:
                self.violations.append(f"{route}: the body lacks {field!r}")
        if "one_of" in rules and not any(all(f in body for f in fs) for fs in rules["one_of"]):
            self.violations.append(f"{route}: the body needs one of {rules['one_of']}")
        for field in rules.get("dashboard_required", []):
            if field not in body.get("dashboard", {}):
                self.violations.append(f"{route}: the dashboard lacks {field!r}")
        for rule in body.get("rules", []) if isinstance(body, dict) else []:
            for field in rules.get("rule_required", []):
                if field not in rule:
                    self.violations.append(f"{route}: rule {rule.get('uid')} lacks {field!r}")

    # --- datasources -------------------------------------------------------------------
    def _get_api_datasources_uid_uid(self, route: str, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, documented(route, 404)
        return 200, {**documented(route, 200), **self.datasources[uid]}

    def _post_api_datasources(self, route: str, body: Any) -> tuple[int, Any]:
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, documented(route, 409)
        answer = documented(route, 200)
        stored = {**answer["datasource"], **body, "id": self._id(), "version": 1}
        stored.setdefault("uid", f"generated{stored['id']}")
        self.datasources[stored["uid"]] = stored
        return 200, {**answer, "datasource": stored, "id": stored["id"], "name": stored["name"]}

    def _put_api_datasources_uid_uid(self, route: str, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, documented(route, 404)
        stored = self.datasources[uid]
        stored.update(body)
        stored["version"] += 1
        answer = documented(route, 200)
        return 200, {**answer, "datasource": stored, "id": stored["id"], "name": stored["name"]}

    # --- folders -----------------------------------------------------------------------
    def _get_api_folders_uid(self, route: str, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.folders:
            return 404, documented(route, 404)
        return 200, {**documented(route, 200), **self.folders[uid]}

    def _post_api_folders(self, route: str, body: Any) -> tuple[int, Any]:
        uid = body.get("uid") or f"folder{self.next_id}"
        if uid in self.folders:
            return 409, documented(route, 409)
        self.folders[uid] = {"id": self._id(), "uid": uid, "title": body["title"], "version": 1}
        return 200, {**documented(route, 200), **self.folders[uid]}

    def _put_api_folders_uid(self, route: str, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.folders:
            return 404, documented(route, 404)
        folder = self.folders[uid]
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, {**documented(route, 200), **folder}

    # --- dashboards --------------------------------------------------------------------
    def _get_api_dashboards_uid_uid(self, route: str, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.dashboards:
            return 404, documented(route, 404)
        stored, folder = self.dashboards[uid]
        answer = documented(route, 200)
        answer["dashboard"] = copy.deepcopy(stored)
        answer["meta"].update(folderUid=folder, folderId=self.folders[folder]["id"])
        answer["meta"]["url"] = f"/d/{uid}/{answer['meta']['slug']}"
        return 200, answer

    def _post_api_dashboards_db(self, route: str, body: Any) -> tuple[int, Any]:
        dashboard = copy.deepcopy(body["dashboard"])
        uid = dashboard["uid"]
        if uid in self.dashboards and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists"}
        previous = self.dashboards.get(uid, ({"id": self._id(), "version": 0}, ""))[0]
        dashboard.update(id=previous["id"], version=previous["version"] + 1)
        self.dashboards[uid] = (dashboard, body.get("folderUid", ""))
        answer = documented(route, 200)
        answer.update(id=dashboard["id"], uid=uid, version=dashboard["version"])
        return 200, answer

    # --- alert rules -------------------------------------------------------------------
    def _get_api_v1_provisioning_folder_folderuid_rule_groups_group(
        self, route: str, body: Any, folderUid: str, group: str
    ) -> tuple[int, Any]:
        if (folderUid, group) not in self.rule_groups:
            return 404, documented(route, 404)
        return 200, copy.deepcopy(self.rule_groups[(folderUid, group)])

    def _put_api_v1_provisioning_folder_folderuid_rule_groups_group(
        self, route: str, body: Any, folderUid: str, group: str
    ) -> tuple[int, Any]:
        template = CONTRACT["routes"][route]["rule"]
        rules = []
        for rule in body["rules"]:
            if rule["folderUID"] != folderUid or rule["ruleGroup"] != group:
                self.violations.append(f"{route}: rule {rule['uid']} names another group")
            rules.append({**copy.deepcopy(template), **rule, "id": self._id()})
        stored = {**documented(route, 200), **body, "folderUid": folderUid, "rules": rules}
        self.rule_groups[(folderUid, group)] = stored
        return 200, copy.deepcopy(stored)

    def writes(self) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.requests if m != "GET"]


def handler_for(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that answers every request from ``fake``."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.handle(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture()
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_first_push_creates_everything_with_the_documented_requests(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    changes = push(url, TOKEN, PROMETHEUS)
    assert [f"{m} {p}" for m, p, _ in fake.requests] == FIRST_PUSH
    assert fake.violations == []
    assert {c.action for c in changes} == {"created"}
    # What Grafana now holds is what sendwatch generates.
    source = fake.datasources[DATASOURCE_UID]
    assert (source["type"], source["url"], source["access"]) == ("prometheus", PROMETHEUS, "proxy")
    assert fake.folders[FOLDER_UID]["title"] == "sendwatch"
    assert set(fake.dashboards) == {SERVICE_UID, OPERATIONS_UID}
    for uid, document in ((d["uid"], d) for d in dashboards().values()):
        stored, folder = fake.dashboards[uid]
        assert folder == FOLDER_UID
        assert covers(stored, document)
    group = fake.rule_groups[(FOLDER_UID, RULE_GROUP)]
    assert group["interval"] == 60
    assert [r["uid"] for r in group["rules"]] == [r["uid"] for r in rule_group()["rules"]]
    # Every rule's queries read the datasource that was just pushed, or Grafana's expressions.
    for rule in group["rules"]:
        assert {q["datasourceUid"] for q in rule["data"]} == {DATASOURCE_UID, "__expr__"}


def test_second_push_only_reads(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    push(url, TOKEN, PROMETHEUS)
    fake.requests.clear()
    changes = push(url, TOKEN, PROMETHEUS)
    assert fake.writes() == []
    assert [f"{m} {p}" for m, p, _ in fake.requests] == [r for r in FIRST_PUSH if r[:4] == "GET "]
    assert [c.action for c in changes] == ["unchanged"] * len(changes)


def test_a_changed_prometheus_address_updates_only_the_datasource(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    push(url, TOKEN, PROMETHEUS)
    fake.requests.clear()
    changes = push(url, TOKEN, "http://prometheus.internal:9090")
    assert fake.writes() == [f"PUT /api/datasources/uid/{DATASOURCE_UID}"]
    assert fake.datasources[DATASOURCE_UID]["url"] == "http://prometheus.internal:9090"
    assert Change("datasource", DATASOURCE_UID, "updated") in changes
    assert fake.violations == []


def test_a_dashboard_edited_in_grafana_is_put_back(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    push(url, TOKEN, PROMETHEUS)
    stored, _ = fake.dashboards[SERVICE_UID]
    stored["panels"] = stored["panels"][:3]  # someone deleted panels in the UI
    fake.requests.clear()
    push(url, TOKEN, PROMETHEUS)
    assert fake.writes() == ["POST /api/dashboards/db"]
    restored, _ = fake.dashboards[SERVICE_UID]
    assert len(restored["panels"]) == len(dashboards()[f"{SERVICE_UID}.json"]["panels"])
    assert restored["version"] == 2


def test_a_refused_token_stops_with_a_plain_message(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    with pytest.raises(PushError, match=r"refused the token \(401\)"):
        push(url, "not-the-token", PROMETHEUS)
    assert fake.writes() == []


def test_an_unreachable_grafana_is_named() -> None:
    with pytest.raises(PushError, match=r"cannot reach Grafana at http://127\.0\.0\.1:9"):
        push("http://127.0.0.1:9", TOKEN, PROMETHEUS, timeout=2)


def test_covers_ignores_what_grafana_adds_but_not_what_sendwatch_sets() -> None:
    desired = {"a": 1, "b": [{"c": True}], "d": None}
    assert covers({"a": 1.0, "b": [{"c": True, "id": 7}], "version": 3}, desired)
    assert not covers({"a": 2, "b": [{"c": True}]}, desired)
    assert not covers({"a": 1, "b": [{"c": 1}]}, desired)  # a number is not a boolean
    assert not covers({"a": 1, "b": [{"c": True}, {"c": True}]}, desired)
    assert not covers({"a": 1, "b": [{"c": True}], "d": "x"}, desired)


def test_the_cli_pushes_and_reports_each_resource(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    result = subprocess.run(
        [sys.executable, "-m", "sendwatch.cli", "grafana", "push", "--url", url],
        env={"GRAFANA_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"dashboard {SERVICE_UID}: created" in result.stderr
    assert set(fake.dashboards) == {SERVICE_UID, OPERATIONS_UID}


def test_grafana_client_stays_out_of_the_rest_of_sendwatch() -> None:
    """grafana-client brings urllib3-future, which takes the `urllib3` import name: nothing
    but the push itself may load it."""
    code = (
        "import sys, sendwatch.cli, observability.grafana, observability.grafana_push\n"
        "names = ('grafana_client', 'niquests', 'urllib3')\n"
        "loaded = sorted(m for m in names if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
