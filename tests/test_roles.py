"""Roles (docs/security.md): every route of the API, taken from the app's own route table,
with no token, a reader's, a writer's and an admin's; the old single token still an admin's;
a reverse proxy's user header believed only when configured and only from a trusted address;
tokens from settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.routing import Mount, Route

from sendwatch import settings
from sendwatch.access import Access, Role, Token, for_service, parse_networks
from sendwatch.api import ROUTE_ROLES, create_app
from sendwatch.embedded_service import EmbeddedSource, embedded_app
from streams.log import EventLog
from tests.running_service import NOW, history, jsonl

READER = "reader-token-0123456789"
WRITER = "writer-token-0123456789"
ADMIN = "admin-token-0123456789"
TOKENS = (
    Token("dashboard", Role.READER, SecretStr(READER)),
    Token("case-system", Role.WRITER, SecretStr(WRITER)),
    Token("it-admin", Role.ADMIN, SecretStr(ADMIN)),
)
BEARERS = {"reader": READER, "writer": WRITER, "admin": ADMIN}
ONE_EVENT = jsonl(history()[:1])


def routes() -> list[str]:
    """``GET /api/cases/{case_id}``, ...: every route of the app (not its static files)."""
    app = create_app(object(), token="unused", registry=CollectorRegistry())  # type: ignore[arg-type]
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route), f"a route of another kind: {route!r}"
        methods = sorted((route.methods or set()) - {"HEAD"})  # HEAD: as its GET
        found += [f"{method} {route.path}" for method in methods]
    return found


ROUTES = routes()


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    log = EventLog(tmp_path_factory.mktemp("roles") / "events.db")
    log_source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    app = embedded_app(log_source, access=Access(TOKENS))
    with TestClient(app) as client:
        answer = client.post(
            "/api/events",
            content=jsonl(history()),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 200
        yield client
    log.close()


def call(http: TestClient, route: str, token: str | None) -> Any:
    method, pattern = route.split(" ", 1)
    path = pattern.replace("{case_id}", "KC-A")
    if method == "DELETE":
        path += "?before=2000-01-01"  # purges nothing
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "POST":
        headers["Content-Type"] = "application/x-ndjson"
        return http.request(method, path, content=ONE_EVENT, headers=headers)
    return http.request(method, path, headers=headers)


def test_every_route_of_the_app_has_a_decided_role() -> None:
    """A new route without an entry in ``sendwatch.api.ROUTE_ROLES`` fails here (it would
    need admin meanwhile: closed, not open)."""
    undecided = [route for route in ROUTES if route not in ROUTE_ROLES]
    assert not undecided, f"decide the role of {undecided} in sendwatch.api.ROUTE_ROLES"


def test_the_dashboard_healthz_and_metrics_stay_open_and_writing_needs_a_writer() -> None:
    assert ROUTE_ROLES["GET /"] is None
    assert ROUTE_ROLES["GET /healthz"] is None
    assert ROUTE_ROLES["GET /metrics"] is None
    assert ROUTE_ROLES["POST /api/events"] is Role.WRITER
    # the dashboard needs only a reader: every GET under /api but the audit itself and the
    # dead letters (which keep their input as it came)
    admins = {"GET /api/audit", "GET /api/dead-letters", "DELETE /api/dead-letters"}
    reads = [r for r in ROUTES if r.startswith("GET /api/") and r not in admins]
    assert reads and all(ROUTE_ROLES[r] is Role.READER for r in reads)
    assert all(ROUTE_ROLES[r] is Role.ADMIN for r in admins)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("role", [None, "reader", "writer", "admin"])
def test_each_route_answers_each_role_as_its_required_role_says(
    http: TestClient, route: str, role: str | None
) -> None:
    needed = ROUTE_ROLES.get(route, Role.ADMIN)
    answer = call(http, route, BEARERS[role] if role else None)
    if needed is None:  # open to all
        assert answer.status_code not in (401, 403), answer.text
    elif role is None:
        assert answer.status_code == 401
        assert answer.json()["detail"].startswith("missing bearer token")
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    elif Role.named(role) < needed:
        assert answer.status_code == 403
        detail = answer.json()["detail"]
        assert f"needs the {needed.label} role" in detail
        assert f"has the {role} role" in detail
    else:
        assert answer.status_code not in (401, 403), answer.text


@pytest.mark.parametrize("route", [r for r in ROUTES if ROUTE_ROLES.get(r) is not None])
def test_an_unknown_token_is_401_on_every_protected_route(http: TestClient, route: str) -> None:
    answer = call(http, route, "not-a-token-of-this-service")
    assert answer.status_code == 401
    assert answer.json()["detail"].startswith("invalid bearer token")


def test_a_reader_may_not_post_events_and_nothing_is_stored(http: TestClient) -> None:
    before = http.get("/healthz").json()["events"]
    answer = call(http, "POST /api/events", READER)
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "POST /api/events needs the writer role or admin: 'dashboard' has the reader role"
    )
    assert http.get("/healthz").json()["events"] == before


def test_the_dashboards_page_and_its_static_files_need_no_token(http: TestClient) -> None:
    assert http.get("/").status_code == 200
    assert http.get("/static/app.js").status_code == 200


def test_the_old_single_token_is_an_admin_token_named_api_token(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    with TestClient(embedded_app(source, token="the-old-token")) as client:
        auth = {"Authorization": "Bearer the-old-token"}
        assert client.get("/api/audit", headers=auth).status_code == 404  # no audit kept here
        assert client.get("/api/measures", headers=auth).status_code == 200
    log.close()


# --- a reverse proxy's user header ------------------------------------------------------------


def proxied(tmp_path: Path, access: Access, address: str) -> TestClient:
    log = EventLog(tmp_path / "events.db")
    source = EmbeddedSource(log, frozen_now=date.fromisoformat(NOW), council="886")
    return TestClient(embedded_app(source, access=access), client=(address, 40000))


def with_proxy(header: str | None, proxies: str = "127.0.0.1,::1") -> Access:
    return Access(TOKENS, header, Role.READER, parse_networks(proxies))


def test_the_proxy_header_is_believed_from_a_trusted_address(tmp_path: Path) -> None:
    with proxied(tmp_path, with_proxy("X-Forwarded-User"), "127.0.0.1") as client:
        answer = client.get("/api/measures", headers={"X-Forwarded-User": "j.smith"})
        assert answer.status_code == 200
        # its users are readers: writing is refused, naming the user
        refused = client.post(
            "/api/events",
            content=ONE_EVENT,
            headers={"X-Forwarded-User": "j.smith", "Content-Type": "application/x-ndjson"},
        )
        assert refused.status_code == 403
        assert "'j.smith' has the reader role" in refused.json()["detail"]


def test_the_proxy_header_is_ignored_from_an_untrusted_address(tmp_path: Path) -> None:
    with proxied(tmp_path, with_proxy("X-Forwarded-User"), "10.1.2.3") as client:
        answer = client.get("/api/measures", headers={"X-Forwarded-User": "j.smith"})
        assert answer.status_code == 401
        # a token still works from there
        auth = {"Authorization": f"Bearer {READER}", "X-Forwarded-User": "admin"}
        assert client.get("/api/measures", headers=auth).status_code == 200


def test_a_trusted_network_may_be_given(tmp_path: Path) -> None:
    access = with_proxy("X-Forwarded-User", "10.0.0.0/8")
    with proxied(tmp_path, access, "10.1.2.3") as client:
        answer = client.get("/api/measures", headers={"X-Forwarded-User": "j.smith"})
        assert answer.status_code == 200


def test_the_proxy_header_is_ignored_when_no_proxy_is_configured(tmp_path: Path) -> None:
    with proxied(tmp_path, with_proxy(None), "127.0.0.1") as client:
        answer = client.get("/api/measures", headers={"X-Forwarded-User": "j.smith"})
        assert answer.status_code == 401


# --- tokens from settings ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("API_TOKEN", "TOKENS", "TOKENS_FILE", "TRUSTED_PROXY_HEADER", "PROXY_ROLE"):
        monkeypatch.delenv(f"SENDWATCH_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    return monkeypatch


def test_tokens_come_from_sendwatch_tokens_and_the_tokens_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("SENDWATCH_API_TOKEN", "old-shared-token")
    clean_env.setenv("SENDWATCH_TOKENS", f"dashboard:reader:{READER}, case-system:writer:{WRITER}")
    listed = tmp_path / "tokens.txt"
    listed.write_text(f"# IT's tokens\n\nit-admin  admin  {ADMIN}\n", encoding="utf-8")
    clean_env.setenv("SENDWATCH_TOKENS_FILE", str(listed))
    access = settings.access()
    assert [(t.name, t.role) for t in access.tokens] == [
        ("api-token", Role.ADMIN),
        ("dashboard", Role.READER),
        ("case-system", Role.WRITER),
        ("it-admin", Role.ADMIN),
    ]
    assert access.proxy_header is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"dashboard:owner:{READER}", "entry 1 (dashboard): unknown role 'owner'"),
        ("dashboard:reader:short", "the token must be at least 16 characters"),
        (f"dashboard:{READER}", "entry 1: expected name:role:token"),
        (f"a:reader:{READER},a:writer:{WRITER}", "the token name 'a' is given more than once"),
        (f"a:reader:{READER},b:writer:{READER}", "the tokens named a and b are the same"),
    ],
)
def test_a_bad_token_entry_is_refused_naming_the_variable_never_the_token(
    clean_env: pytest.MonkeyPatch, value: str, message: str
) -> None:
    clean_env.setenv("SENDWATCH_TOKENS", value)
    with pytest.raises(settings.SettingsError) as refused:
        settings.access()
    assert str(refused.value).startswith("SENDWATCH_TOKENS: ")
    assert message in str(refused.value)
    assert READER not in str(refused.value) and "short" not in str(refused.value)


def test_a_bad_line_of_the_tokens_file_is_refused_naming_the_file_and_line(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    listed = tmp_path / "tokens.txt"
    listed.write_text(f"dashboard reader {READER}\nit-admin superuser {ADMIN}\n", "utf-8")
    clean_env.setenv("SENDWATCH_TOKENS_FILE", str(listed))
    with pytest.raises(settings.SettingsError, match=rf"{listed} line 2 \(it-admin\): unknown"):
        settings.access()


def test_the_proxy_settings_are_read_and_checked(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SENDWATCH_TOKENS", f"dashboard:reader:{READER}")
    clean_env.setenv("SENDWATCH_TRUSTED_PROXY_HEADER", "X-Forwarded-User")
    clean_env.setenv("SENDWATCH_TRUSTED_PROXIES", "10.0.0.5")
    clean_env.setenv("SENDWATCH_PROXY_ROLE", "writer")
    access = settings.access()
    assert (access.proxy_header, access.proxy_role) == ("X-Forwarded-User", Role.WRITER)
    assert access.trusts("10.0.0.5") and not access.trusts("127.0.0.1")
    clean_env.setenv("SENDWATCH_PROXY_ROLE", "boss")
    with pytest.raises(settings.SettingsError, match="SENDWATCH_PROXY_ROLE: unknown role"):
        settings.load()


def test_with_no_token_set_a_service_makes_an_admin_token_for_the_run(
    clean_env: pytest.MonkeyPatch,
) -> None:
    access, made = for_service(settings.access())
    assert made is not None and len(made) >= 30
    assert [(t.name, t.role) for t in access.tokens] == [("api-token", Role.ADMIN)]
    clean_env.setenv("SENDWATCH_TOKENS", f"dashboard:reader:{READER}")
    assert for_service(settings.access())[1] is None  # named tokens: none is made
