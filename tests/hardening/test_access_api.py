"""The HTTP API: every route but the documented public ones refuses a missing or wrong token,
and the agent listens on loopback unless told otherwise.

The routes are read from the app the agent really serves (built by ``build_service``, with the
report and incident routes), so a route added later is covered without editing this test.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route
from support.canaries import CANARY_API_TOKEN

from agent.service.app import create_app
from agent.service.serve import bind, build_service
from agent.store import Store
from config.loader import LoadedConfig, _resolve, load_config
from config.models import DeviceConfig, XunjianConfig
from config.secrets import Redactor
from config.service import AuthSettings

#: the public paths docs/agent-service.md documents (server.auth.public's default)
DOCUMENTED_PUBLIC = {"/metrics", "/healthz"}
DOCS = Path(__file__).resolve().parents[2] / "docs"
WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-token-wrong-token"},
    {"Authorization": f"Bearer {CANARY_API_TOKEN[:-1]}"},
    {"Authorization": f"Bearer {CANARY_API_TOKEN}x"},
    {"Authorization": f"Bearer {CANARY_API_TOKEN.upper()}"},
    {"Authorization": f"Basic {CANARY_API_TOKEN}"},
    {"Authorization": CANARY_API_TOKEN},
    {"X-Api-Token": CANARY_API_TOKEN},
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = XunjianConfig(devices=[DeviceConfig(name="self", address="localhost",
                                                 platform="local")])
    loaded = LoadedConfig(config, _resolve(config), tmp_path / "xunjian.yaml")
    store = Store.open(None, tmp_path / "data")
    service, _scheduler = build_service(loaded, store, data_dir=tmp_path, redactor=Redactor(),
                                        env={"XUNJIAN_API_TOKENS": CANARY_API_TOKEN})
    with TestClient(create_app(service)) as test_client:
        yield test_client
    service.runs.shutdown(5)
    store.close()


def _requests(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled in."""
    found = []
    for route in routes:
        assert isinstance(route, Route), f"unexpected route type {route!r}: extend this test"
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        found += [(method, path) for method in sorted(route.methods or {"GET"})]
    return found


def test_every_route_but_the_public_ones_needs_the_token(client: TestClient) -> None:
    requests = _requests(list(client.app.routes))  # type: ignore[attr-defined]
    paths = {path for _, path in requests}
    # the app really has the routes of every area (a broken build would make this vacuous)
    assert {"/runs", "/devices", "/reports", "/incidents", "/openapi.json", "/docs"} <= paths
    assert len(requests) >= 20
    for method, path in requests:
        for headers in WRONG:
            response = client.request(method, path, headers=headers)
            if path in DOCUMENTED_PUBLIC:
                assert response.status_code != 401, (method, path, headers)
            else:
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert CANARY_API_TOKEN not in response.text
        good = client.request(method, path,
                              headers={"Authorization": f"Bearer {CANARY_API_TOKEN}"})
        assert good.status_code != 401, (method, path)


@pytest.mark.parametrize("path", [
    "/nosuch", "/healthz/", "/metrics/", "//devices", "/Devices", "/metrics/../devices",
    "/metrics%2F..%2Fdevices", "/healthz%00", "/devices?x=/metrics", "/./devices",
])
def test_no_path_spelling_reaches_a_route_without_the_token(client: TestClient,
                                                            path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401, (path, response.status_code)


def test_the_public_paths_are_the_documented_ones() -> None:
    assert set(AuthSettings().public) == DOCUMENTED_PUBLIC
    text = (DOCS / "agent-service.md").read_text(encoding="utf-8")
    assert all(f"`{path}`" in text for path in DOCUMENTED_PUBLIC)


def _other_addresses() -> list[str]:
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


def test_the_agent_listens_on_loopback_by_default(tmp_path: Path) -> None:
    (tmp_path / "xunjian.yaml").write_text(
        "devices:\n  - {name: self, address: localhost, platform: local}\n", encoding="utf-8")
    settings = load_config(tmp_path / "xunjian.yaml").config.server
    assert settings.host == "127.0.0.1" and settings.auth.required
    sock = bind(settings.host, 0)
    try:
        host, port = sock.getsockname()[:2]
        assert host == "127.0.0.1"
        others = _other_addresses()
        if not others:
            pytest.skip("this machine has no non-loopback IPv4 address to try from")
        for address in others:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=2).close()
    finally:
        sock.close()
