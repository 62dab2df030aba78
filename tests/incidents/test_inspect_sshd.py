"""End to end: `xunjian inspect` (a real process) against a real sshd-backed host opens, updates
and resolves one incident, and delivers it to a real Alertmanager, a real SMTP server and a
local webhook receiver.

The breach is forced with a filesystem threshold below the host's real usage of ``/``; raising
the threshold makes it recover. Every other check is disabled so the host's own state (load,
journal errors ...) cannot open incidents of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.alertmanager import AlertmanagerPeer, alertmanager_unavailable_reason
from support.smtp import SmtpPeer
from support.sshd import SshdFleet
from support.webhook_receiver import WebhookReceiver

from agent.incidents.repo import IncidentRepo
from agent.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from agent.store import Store
from checks.builtin import CHECK_NAMES

pytestmark = pytest.mark.sshd


HOOK_SECRET = "xj-hook-secret-4f1c9a"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


@dataclass
class Peers:
    hook: WebhookReceiver
    alertmanager: AlertmanagerPeer
    smtp: SmtpPeer


@pytest.fixture
def peers(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[Peers]:
    if reason := alertmanager_unavailable_reason():
        pytest.skip(reason)
    with AlertmanagerPeer(tmp_path / "am") as am, SmtpPeer(tmp_path / "smtp") as smtp:
        yield Peers(receiver, am, smtp)


def write_config(tmp_path: Path, fleet: SshdFleet, peers: Peers, root_crit: float) -> Path:
    host = fleet.hosts[0]
    off = {name: {"enabled": False} for name in CHECK_NAMES
           if name not in ("filesystem", "reachable")}
    config = {
        "store": {"data_dir": str(tmp_path / "data")},
        "ssh": {"known_hosts": str(fleet.known_hosts), "connect_timeout": 3, "host_timeout": 30,
                "retries": 0},
        "credentials": {"key": {"username": "root", "key_file": str(fleet.client_key)}},
        "defaults": {"credentials": "key", "platform": "linux"},
        "devices": [{
            "name": "acct-db-01", "address": host.address, "port": fleet.port,
            "business_level": 2, "business_system": "核心账务系统", "groups": ["core-db"],
            # Only "/" has thresholds: other mounts (snaps at 100 % ...) cannot breach.
            "checks": {**off, "filesystem": {"warn": None, "crit": None,
                                             "items": {"/": {"crit": root_crit}}}},
        }],
        "groups": {"core-db": {"description": "databases"}},
        "incidents": {"support_groups": {"DBA": {"email": ["dba@example.com"]}},
                      "default_group": "DBA"},
        "notifications": {
            "webhooks": [{"name": "hook", "url": peers.hook.url + "/xunjian",
                          "secret_env": "XJ_TEST_HOOK_SECRET", "timeout_seconds": 5}],
            "alertmanager": [{"name": "am", "url": peers.alertmanager.url}],
            "email": [{"name": "oncall", "to": ["oncall@example.com"], "lang": "zh-CN"}],
        },
        "mail": {"host": peers.smtp.host, "port": peers.smtp.port, "security": "none",
                 "from_address": "xunjian@example.com"},
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def xunjian(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XUNJIAN_")}
    env["XUNJIAN_CONFIG"] = str(config)
    env["XJ_TEST_HOOK_SECRET"] = HOOK_SECRET
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def incidents(config: Path, status: str = "active") -> list[dict[str, Any]]:
    """What `xunjian incidents list --json` prints, read in-process (a process costs ~2 s)."""
    store = Store.open(None, config.parent / "data")
    try:
        return [i.model_dump(mode="json") for i in IncidentRepo(store).list(status=status)]
    finally:
        store.close()


def test_three_breaching_inspections_open_one_incident_and_recovery_resolves_it(
        ssh_fleet: SshdFleet, tmp_path: Path, peers: Peers) -> None:
    receiver = peers.hook
    breaching = write_config(tmp_path, ssh_fleet, peers, root_crit=0.01)
    for n in (1, 2):
        run = xunjian(breaching, "inspect")
        assert run.returncode == 2, run.stdout + run.stderr  # CRIT
        assert incidents(breaching) == [], f"opened after {n} breach(es)"
    run = xunjian(breaching, "inspect", "--json")
    assert run.returncode == 2, run.stderr
    [result] = json.loads(run.stdout)["devices"]
    [root] = [c for c in result["checks"] if c["check"] == "filesystem" and c["item"] == "/"]

    [incident] = incidents(breaching)
    assert (incident["device"], incident["check"], incident["item"]) == (
        "acct-db-01", "filesystem", "/")
    # business level 2 (impact 2) × CRIT (urgency 1) = P2
    assert (incident["severity"], incident["priority"], incident["status"]) == (
        "CRIT", "P2", "open")
    assert incident["breach_count"] == 3 and incident["assignee_group"] == "DBA"
    assert incident["value"] == f"{root['value']:g} %"
    [request] = receiver.requests
    assert verify(HOOK_SECRET.encode(), request.header(TIMESTAMP_HEADER) or "", request.body,
                  request.header(SIGNATURE_HEADER) or "")
    assert request.json()["event"] == "firing"
    firing = request.json()["incident"]
    assert firing["fingerprint"] == incident["fingerprint"]
    assert firing["labels"]["device"] == "acct-db-01" and firing["labels"]["item"] == "/"
    assert firing["recipients"] == ["dba@example.com"]
    # Alertmanager shows the alert, labelled with the fingerprint's labels
    [alert] = peers.alertmanager.wait_for(lambda alerts: len(alerts) == 1)
    assert alert["labels"]["device"] == "acct-db-01" and alert["labels"]["item"] == "/"
    assert alert["labels"]["check"] == "filesystem" and alert["status"]["state"] == "active"
    assert alert["annotations"]["priority"] == "P2"
    # and an e-mail arrived for the on-call channel and the assignee group
    [mail] = peers.smtp.wait_for(1)
    assert set(mail.rcpt_tos) == {"oncall@example.com", "dba@example.com"}
    assert "[P2]" in str(mail.message["Subject"]) and "告警" in str(mail.message["Subject"])

    recovered = write_config(tmp_path, ssh_fleet, peers, root_crit=99.99)
    assert xunjian(recovered, "inspect").returncode == 0
    assert incidents(recovered)[0]["status"] == "open"  # one recovery is not enough
    assert xunjian(recovered, "inspect").returncode == 0
    assert incidents(recovered) == []
    [done] = incidents(recovered, "resolved")
    assert done["id"] == incident["id"]
    assert [r.json()["event"] for r in receiver.requests] == ["firing", "resolved"]
    peers.alertmanager.wait_for(lambda alerts: alerts == [])  # resolved: no longer active
    resolved_mail = peers.smtp.wait_for(2)[1]
    assert "已恢复" in str(resolved_mail.message["Subject"])
    shown = xunjian(recovered, "incidents", "show", str(done["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "firing sent via hook (attempt 1)" in shown.stdout
    assert "recovered for 2 consecutive inspection(s)" in shown.stdout
    assert "xunjian evidence acct-db-01 filesystem /" in shown.stdout
    # The channel's secret signs requests; it is never stored with the incident.
    for stored in (tmp_path / "data").glob("xunjian.db*"):
        assert HOOK_SECRET.encode() not in stored.read_bytes()
