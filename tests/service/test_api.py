"""The HTTP API over a real store, inspecting this machine (platform ``local``) for real:
authentication, runs, devices, service discovery, probes and the OpenAPI schema."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from support.canaries import CANARY_API_TOKEN

from agent.errors import ServiceError
from agent.service.app import create_app
from agent.service.serve import bind, build_service, check_plans
from agent.store import Store
from config.incidents import IncidentSettings
from config.loader import LoadedConfig, _resolve
from config.models import CheckSettings, DeviceConfig, XunjianConfig
from config.secrets import Redactor
from config.service import AuthSettings, PlanConfig, ServerSettings

TOKEN = CANARY_API_TOKEN
OTHER = "tok-" + "a0" * 16


def loaded_config(tmp_path: Path, **server: object) -> LoadedConfig:
    config = XunjianConfig(
        groups={"core": {"business_system": "ERP"}},
        devices=[
            DeviceConfig(name="self", address="localhost", platform="local", groups=["core"],
                         location="机房 A", business_level=1, tags=["db"]),
            DeviceConfig(name="other", address="localhost", platform="local"),
        ],
        server=ServerSettings(**server),  # type: ignore[arg-type]
    )
    return LoadedConfig(config, _resolve(config), tmp_path / "xunjian.yaml")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """SQLite only: the store's PostgreSQL behaviour is covered by tests/agent/test_store.py."""
    opened = Store.open(None, tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    loaded = loaded_config(tmp_path)
    service, scheduler = build_service(loaded, store, data_dir=tmp_path, redactor=Redactor(),
                                       env={"XUNJIAN_API_TOKENS": f"{TOKEN},{OTHER}"})
    scheduler.start()
    with TestClient(create_app(service)) as test_client:
        yield test_client
    scheduler.shutdown()
    service.runs.shutdown(5)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_run(client: TestClient, run_id: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/runs/{run_id}", headers=auth()).json()
        if body["status"] != "running":
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


@pytest.mark.parametrize("path", ["/devices", "/sd", "/runs/1", "/readyz", "/openapi.json",
                                  "/probe?target=self", "/devices/self/results"])
def test_everything_but_public_paths_needs_a_valid_token(client: TestClient, path: str):
    for headers in ({}, auth("wrong-token-wrong-token"), {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    assert client.get(path, headers=auth(OTHER)).status_code != 401


def test_metrics_and_healthz_are_public(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"xunjian_build_info" in response.content


def test_public_paths_are_configurable(tmp_path: Path, store: Store):
    loaded = loaded_config(tmp_path, auth=AuthSettings(public=["/healthz"]))
    service, _ = build_service(loaded, store, data_dir=tmp_path, redactor=Redactor(),
                               env={"XUNJIAN_API_TOKENS": TOKEN})
    with TestClient(create_app(service)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=auth()).status_code == 200


def test_no_token_configured_refuses_to_start(tmp_path: Path, store: Store):
    with pytest.raises(ServiceError, match=r"no API token configured.*XUNJIAN_API_TOKENS"):
        build_service(loaded_config(tmp_path), store, data_dir=tmp_path, redactor=Redactor(),
                      env={})
    with pytest.raises(ServiceError, match="shorter than 16"):
        build_service(loaded_config(tmp_path), store, data_dir=tmp_path, redactor=Redactor(),
                      env={"XUNJIAN_API_TOKENS": "short"})


def test_tokens_from_a_file(tmp_path: Path, store: Store):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# API tokens\n{TOKEN}\n")
    loaded = loaded_config(tmp_path, auth=AuthSettings(tokens_env=None, tokens_file=tokens))
    service, _ = build_service(loaded, store, data_dir=tmp_path, redactor=Redactor(), env={})
    with TestClient(create_app(service)) as c:
        assert c.get("/devices", headers=auth()).status_code == 200


def test_post_runs_starts_a_run_whose_results_appear(client: TestClient, store: Store):
    response = client.post("/runs", json={"devices": ["self"]}, headers=auth())
    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "running" and started["url"] == f"/runs/{started['id']}"
    run = wait_for_run(client, started["id"])
    assert run["status"] == "completed" and run["trigger"] == "api"
    assert [r["device"] for r in run["results"]] == ["self"]
    assert run["results"][0]["reachable"] is True
    # the stored result is the one the device endpoints return
    results = client.get("/devices/self/results", headers=auth()).json()
    assert results[0]["device"] == "self" and results[0]["checks"]
    devices = {d["name"]: d for d in client.get("/devices", headers=auth()).json()}
    assert devices["self"]["state"] == run["results"][0]["state"]
    assert devices["other"]["state"] is None  # never inspected


def test_bad_run_requests_say_what_is_wrong(client: TestClient):
    response = client.post("/runs", json={"devices": ["nope"]}, headers=auth())
    assert response.status_code == 400
    assert "no device named nope" in response.json()["detail"]
    assert client.post("/runs", json={"devices": "self"}, headers=auth()).status_code == 422
    assert client.get("/runs/999", headers=auth()).status_code == 404
    assert client.get("/devices/nope/results", headers=auth()).status_code == 404


def test_service_discovery_lists_devices_with_labels(client: TestClient):
    targets = client.get("/sd", headers=auth()).json()
    by_name = {t["targets"][0]: t["labels"] for t in targets}
    assert set(by_name) == {"self", "other"}
    assert by_name["self"] == {
        "device": "self", "platform": "local", "business_system": "ERP", "location": "机房 A",
        "business_level": "1", "__meta_xunjian_address": "localhost",
        "__meta_xunjian_groups": ",core,", "__meta_xunjian_tags": ",db,"}
    only = client.get("/sd?group=core", headers=auth()).json()
    assert [t["targets"] for t in only] == [["self"]]


def test_probe_inspects_live_and_stores_nothing(client: TestClient, store: Store):
    response = client.get("/probe?target=self", headers={
        **auth(), "X-Prometheus-Scrape-Timeout-Seconds": "10"})
    assert response.status_code == 200, response.text
    text = response.text
    assert "xunjian_probe_success 1.0" in text
    assert 'xunjian_device_up{device="self"} 1.0' in text
    assert "xunjian_probe_duration_seconds" in text
    assert store.counts()["device_results"] == 0


def test_probe_errors(client: TestClient):
    assert client.get("/probe?target=nope", headers=auth()).status_code == 404
    response = client.get("/probe?target=self&module=no-such-pack", headers=auth())
    assert response.status_code == 400 and "no-such-pack" in response.json()["detail"]
    assert client.get("/probe", headers=auth()).status_code == 422


def test_readyz_reports_the_store(client: TestClient, store: Store,
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert client.get("/readyz", headers=auth()).json()["status"] == "ok"
    gone = create_engine(f"sqlite:///{tmp_path}/no/such/dir/xunjian.db")
    monkeypatch.setattr(store, "engine", gone)
    response = client.get("/readyz", headers=auth())
    assert response.status_code == 503
    assert response.json()["checks"]["store"].startswith("unavailable")


def test_openapi_schema_documents_every_endpoint_and_bearer_auth(client: TestClient):
    schema = client.get("/openapi.json", headers=auth()).json()
    assert {"/metrics", "/probe", "/sd", "/runs", "/runs/{run_id}", "/devices",
            "/devices/{name}/results", "/healthz", "/readyz", "/plans"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_tokens_never_reach_the_logs(client: TestClient, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    client.get("/devices", headers=auth())
    client.get("/devices", headers=auth("wrong-token-wrong-token"))
    assert TOKEN not in caplog.text


def test_plans_with_unknown_packs_fail_at_start(tmp_path: Path):
    loaded = loaded_config(tmp_path)
    loaded.config = loaded.config.model_copy(update={"plans": [
        PlanConfig(name="p", cron="* * * * *", packs={"local": "no-such-pack"})]})
    with pytest.raises(ServiceError, match=r"plan p: .*no-such-pack"):
        check_plans(loaded)


def test_a_port_in_use_is_a_clear_error():
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(ServiceError, match=r"cannot listen on 127\.0\.0\.1:.*server\.port"):
            bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


@pytest.fixture
def breaching_client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    """``self`` breaches its filesystem check (crit at 0.001 %) and one breach opens an
    incident, so incidents come from real inspections through the engine."""
    loaded = loaded_config(tmp_path)
    device = loaded.config.devices[0].model_copy(
        update={"checks": {"filesystem": CheckSettings(warn=0.0001, crit=0.001)}})

    config = loaded.config.model_copy(update={
        "devices": [device], "incidents": IncidentSettings(open_after=1, resolve_after=1)})
    loaded = LoadedConfig(config, _resolve(config), loaded.source)
    service, _ = build_service(loaded, store, data_dir=tmp_path, redactor=Redactor(),
                               env={"XUNJIAN_API_TOKENS": TOKEN})
    with TestClient(create_app(service)) as test_client:
        yield test_client
    service.runs.shutdown(5)


def test_incident_endpoints(breaching_client: TestClient):
    client = breaching_client
    run = client.post("/runs", json={}, headers=auth()).json()
    wait_for_run(client, run["id"])
    incidents = client.get("/incidents?status=open", headers=auth()).json()
    fs = [i for i in incidents if i["check"] == "filesystem" and i["item"] == "/"]
    assert len(fs) == 1 and fs[0]["device"] == "self" and fs[0]["severity"] == "CRIT"
    # business level 1 (critical) x CRIT: the top priority of the default matrix
    assert fs[0]["priority"] == "P1"
    incident_id = fs[0]["id"]
    assert client.get("/incidents?device=self&priority=P1", headers=auth()).json()
    shown = client.get(f"/incidents/{incident_id}", headers=auth()).json()
    assert shown["timeline"] and shown["sla"]

    acked = client.post(f"/incidents/{incident_id}/ack",
                        json={"by": "张工", "comment": "清理中"}, headers=auth())
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    again = client.post(f"/incidents/{incident_id}/ack", json={"by": "张工"}, headers=auth())
    assert again.status_code == 409
    commented = client.post(f"/incidents/{incident_id}/comment",
                            json={"by": "李工", "text": "扩容申请已提交"}, headers=auth())
    assert any("扩容申请已提交" in str(e) for e in commented.json()["timeline"])
    resolved = client.post(f"/incidents/{incident_id}/resolve", json={"by": "张工"},
                           headers=auth())
    assert resolved.json()["status"] == "resolved"

    assert client.get("/incidents/99999", headers=auth()).status_code == 404
    assert client.post("/incidents/99999/ack", json={"by": "x"},
                       headers=auth()).status_code == 404
    assert client.post(f"/incidents/{incident_id}/ack", json={},
                       headers=auth()).status_code == 422
    assert client.get("/incidents?status=bogus", headers=auth()).status_code == 422
    # the metrics see the incidents too
    metrics = client.get("/metrics").text
    assert 'xunjian_incidents_open{priority="P1"}' in metrics
