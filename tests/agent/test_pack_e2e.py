"""Done-when of custom packs: a new user takes the pack from the tutorial in docs/packs.md,
validates it, tests it against a saved output, approves it, and sees its findings in
``xunjian inspect``, in /metrics of a running ``xunjian serve``, in incidents and in the report.
Then the pack is edited: runs of the agent refuse it with what changed, until it is approved
again; ``inspect --allow-unapproved`` runs it and the results and the report say so.

Everything is real: OpenSSH-backed hosts, the ``xunjian`` executable, a TLS certificate made
with openssl that expires in 5 days (the finding), the agent as a process, its HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.agent_process import Agent
from support.canaries import CANARY_API_TOKEN
from support.prometheus import free_port
from support.sshd import SshdFleet

from agent.store import Store

pytestmark = pytest.mark.sshd

XUNJIAN = Path(sys.executable).with_name("xunjian")
DOCS = Path(__file__).parents[2] / "docs" / "packs.md"
TOKEN = CANARY_API_TOKEN
PACK = "acme-web"


def tutorial_pack() -> str:
    """The pack exactly as docs/packs.md's tutorial shows it."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- tutorial-pack:begin -->\n```yaml\n(.*?)```\n<!-- tutorial-pack:end",
                      text, re.DOTALL)
    assert block, "docs/packs.md lost its tutorial pack markers"
    return block.group(1)


def xunjian(*args: str, config: Path, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(XUNJIAN), *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
                          check=False)
    if expect is not None:
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
    return done


def make_certificate(path: Path, days: int) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(path.with_suffix(".key")), "-out", str(path), "-days", str(days),
                    "-subj", "/CN=web.acme.example"], check=True, capture_output=True)


@pytest.fixture
def setup(tmp_path: Path, ssh_fleet: SshdFleet) -> Iterator[tuple[Path, Agent]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert = tmp_path / "server.crt"
    make_certificate(cert, days=5)
    # The user's edits of the tutorial pack for this site: the certificate's path, and a
    # process every test host runs (the fleet's hosts run sshd, not nginx).
    text = tutorial_pack().replace("/etc/nginx/ssl/server.crt", str(cert))
    text = text.replace("pgrep -l -x nginx", "pgrep -l -x sshd")
    pack_dir = tmp_path / "packs" / PACK
    pack_dir.mkdir(parents=True)
    (pack_dir / "pack.yaml").write_text(text, encoding="utf-8")
    port = free_port()
    config = {
        "store": {"data_dir": str(tmp_path / "data")},
        "ssh": {"known_hosts": str(ssh_fleet.known_hosts), "connect_timeout": 10,
                "host_timeout": 60, "retries": 0},
        "credentials": {"key": {"username": "root", "key_file": str(ssh_fleet.client_key)}},
        "defaults": {"credentials": "key", "platform": "linux", "port": ssh_fleet.port},
        "packs": {"paths": ["packs"]},
        "groups": {"acme-web": {"packs": [PACK], "business_level": 2}},
        "devices": [{"name": "web-01", "address": ssh_fleet.hosts[0].address,
                     "groups": ["acme-web"]}],
        "customers": {"acme": {"name": "ACME Ltd.", "groups": ["acme-web"]}},
        "server": {"port": port, "shutdown_grace_seconds": 5},
        "report": {"provider": {"name": "Example Services"}},
        # pack checks take incident rules like any check: open on the first breach
        "incidents": {"checks": {"acme-web.cert_days": {"open_after": 1}}},
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    agent = Agent(path, port, tmp_path / "agent.log", TOKEN)
    agent.start()
    yield path, agent
    if agent.process and agent.process.poll() is None:
        agent.process.kill()
        agent.process.wait()


def api_run(agent: Agent) -> dict[str, Any]:
    started = agent.api("POST", "/runs", json={"devices": ["web-01"]})
    assert started.status_code == 202, started.text
    run = agent.wait_run(started.json()["id"])
    assert run["status"] == "completed", run
    return run


def latest(config: Path) -> dict[str, Any]:
    shown = xunjian("show", "web-01", "--json", config=config)
    return json.loads(shown.stdout)


def checks_of(result: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [c for c in result["checks"] if c["check"] == check]


def test_a_new_pack_from_the_docs_to_findings_everywhere(setup: tuple[Path, Agent],
                                                         tmp_path: Path) -> None:
    config, agent = setup

    # 1. validate, and test offline against a saved output
    valid = xunjian("packs", "validate", PACK, config=config)
    assert f"ok: {PACK} 1.0.0: 2 item(s), 2 check(s)" in valid.stdout
    saved = tmp_path / "cert.txt"
    saved.write_text("days_left=5\n")
    tested = xunjian("packs", "test", PACK, "--item", "cert", "--against", str(saved),
                     config=config, expect=2)
    assert "acme-web.cert_days" in tested.stdout and "CRIT" in tested.stdout

    # 2. before approval, the agent's runs send nothing from the pack
    api_run(agent)
    refused = latest(config)
    [pack_result] = checks_of(refused, "pack")
    assert pack_result["state"] == "UNKNOWN" and pack_result["item"] == PACK
    assert "is not approved for customer acme" in pack_result["message"]
    assert "xunjian packs approve acme-web --by NAME --customer acme" in pack_result["message"]
    assert not checks_of(refused, "acme-web.cert_days")
    transcript = xunjian("transcript", "web-01", config=config).stdout
    assert "openssl" not in transcript and "pgrep" not in transcript

    # 3. approve; the next run of the agent sends it and finds the expiring certificate
    approved = xunjian("packs", "approve", PACK, "--by", "李雷", "--customer", "acme",
                       "--note", "CAB-1042", config=config)
    assert "approved: acme-web 1.0.0" in approved.stdout
    api_run(agent)
    result = latest(config)
    assert not checks_of(result, "pack")
    [cert] = checks_of(result, "acme-web.cert_days")
    assert cert["state"] == "CRIT" and cert["title"] == "TLS certificate expiry"
    assert cert["value"] in (4.0, 5.0) and cert["unit"] == "days" and cert["crit"] == 7
    assert cert["evidence"] == ["acme-web.cert"]
    [running] = checks_of(result, "acme-web.nginx_running")
    assert running["state"] == "OK"
    assert [p["approval"] for p in result["packs"]] == ["not-required", "approved"]
    assert result["packs"][1]["approved_by"] == "李雷"
    evidence = xunjian("evidence", "web-01", "acme-web.cert_days", config=config).stdout
    assert "days_left=" in evidence and "(approved)" in evidence

    # ... in /metrics
    metrics = httpx.get(f"{agent.url}/metrics", timeout=30).text
    assert re.search(r'xunjian_check_state\{[^}]*check="acme-web\.cert_days"[^}]*\} 2(\.0)?\n',
                     metrics), metrics[-3000:]
    # ... in incidents
    listed = json.loads(xunjian("incidents", "list", "--json", config=config).stdout)
    opened = [i for i in listed if i["check"] == "acme-web.cert_days"]
    assert len(opened) == 1 and opened[0]["device"] == "web-01"
    # ... in the report, with the approval in the appendix
    out_dir = tmp_path / "reports"
    xunjian("report", "--customer", "acme", "--format", "json,html", "--lang", "en",
            "--out", str(out_dir), config=config)
    [report_json] = out_dir.glob("*.json")
    report = json.loads(report_json.read_text(encoding="utf-8"))
    [finding] = [f for f in report["findings"] if f["check"] == "acme-web.cert_days"]
    assert finding["check_title"] == "TLS certificate expiry" and finding["state"] == "CRIT"
    [line] = [p for p in report["appendix"]["packs"] if p["name"] == PACK]
    assert line["approval"] == "approved" and line["approved_by"] == "李雷"
    [html] = out_dir.glob("*.html")
    assert "Approved by 李雷" in html.read_text(encoding="utf-8")

    # 4. the pack is edited after approval: the agent refuses it and says what changed
    pack_file = tmp_path / "packs" / PACK / "pack.yaml"
    pack_file.write_text(pack_file.read_text().replace("crit: 7", "crit: 10"))
    api_run(agent)
    changed = latest(config)
    [pack_result] = checks_of(changed, "pack")
    assert "changed since 李雷 approved 1.0.0" in pack_result["message"]
    assert "crit 7 → 10" in pack_result["message"]
    assert not checks_of(changed, "acme-web.cert_days")
    diff = xunjian("packs", "diff", PACK, "--approved", config=config, expect=1)
    assert "crit 7 → 10" in diff.stdout

    # 5. on demand it runs only with --allow-unapproved, and everything says so
    run = xunjian("inspect", "--device", "web-01", "--allow-unapproved", config=config,
                  expect=2)
    assert "unapproved pack(s)" in run.stderr
    result = latest(config)
    assert result["packs"][1]["approval"] == "unapproved"
    [cert] = checks_of(result, "acme-web.cert_days")
    assert cert["crit"] == 10
    shown = xunjian("show", "web-01", config=config).stdout
    assert "UNAPPROVED" in shown
    xunjian("report", "--customer", "acme", "--format", "json", "--lang", "en",
            "--out", str(tmp_path / "reports2"), config=config)
    [report_json] = (tmp_path / "reports2").glob("*.json")
    lines = json.loads(report_json.read_text())["appendix"]["packs"]
    assert {p["approval"] for p in lines if p["name"] == PACK} >= {"unapproved"}

    # nothing of this wrote to the host: the script was sent as text, never copied
    assert not list(Path("/tmp").glob("xj*acme*"))
    store = Store.open(None, tmp_path / "data")
    try:
        assert len(store.pack_approvals(PACK)) == 1
    finally:
        store.close()

