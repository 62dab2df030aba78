"""Hostile inventory fields and hostile host output, end to end: ``xunjian inspect`` against a
real OpenSSH host whose ``df``, ``grep`` (DMI), ``uname`` and ``journalctl`` answer shell
syntax, terminal escapes, HTML/JS, invalid UTF-8 and a 1 MiB line; then ``show``,
``transcript``, ``evidence``, ``history``, ``report`` (HTML + PDF) and ``xunjian serve`` (JSON
logs, ``POST /runs``, ``/metrics``) on the stored results.

Proves: nothing is executed (no marker file appears, on the agent or the host), the host is
sent exactly the pack's commands, and nothing hostile reaches a terminal, the HTML report, the
PDF, a JSON log line or the metrics exposition unescaped - while the hostile values *are*
there, shown as text (so the checks cannot pass vacuously).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from support.agent_process import Agent
from support.hostile import (
    ANSI,
    HTML,
    HostileHost,
    existing,
    hostile_name,
    hostile_text,
    json_log_problems,
    scan_html,
    terminal_controls,
    write_hostile_host,
)
from support.pdftools import pdf_text, poppler_unavailable_reason
from support.prometheus import PROMTOOL_PATH, free_port
from support.sshd import SshdFleet, sshd_unavailable_reason

from agent.store import Store
from collectors.pack import builtin_pack

pytestmark = pytest.mark.sshd

XUNJIAN = Path(sys.executable).with_name("xunjian")
HOSTILE_ADDRESS = "127.0.3.40"
TOKEN = "hostile-" + "5e" * 16
PLAIN = "plain-01"


@dataclass
class Artefacts:
    work: Path
    markers: list[Path]
    host: HostileHost
    name: str
    location: str
    inspect: subprocess.CompletedProcess[bytes]
    show: subprocess.CompletedProcess[bytes]
    transcript: subprocess.CompletedProcess[bytes]
    evidence: subprocess.CompletedProcess[bytes]
    history: subprocess.CompletedProcess[bytes]
    show_json: subprocess.CompletedProcess[bytes]
    history_json: subprocess.CompletedProcess[bytes]
    report: subprocess.CompletedProcess[bytes]
    report_dir: Path
    agent_log: bytes
    metrics: bytes
    api_results: list[dict[str, object]]


def _cli(work: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "250", "TERM": "xterm"}
    return subprocess.run([str(XUNJIAN), *args], cwd=work, capture_output=True, env=env,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artefacts]:
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(f"no test sshd: {reason}")
    work = tmp_path_factory.mktemp("hostile")
    marker = work / "xj-pwned"
    name_marker = work / "xj-pwned-name"  # the name holds no '/': created in the cwd
    markers = [marker, name_marker, Path("/tmp") / marker.name, Path("/tmp") / name_marker.name]
    host = write_hostile_host(work / "host", marker)
    text = hostile_text(marker)
    name = hostile_name(name_marker)
    with SshdFleet(work / "sshd", 1, special={HOSTILE_ADDRESS: host.force_command}) as fleet:
        port = free_port()
        config = {
            "store": {"data_dir": str(work / "data")},
            "ssh": {"known_hosts": str(fleet.known_hosts), "connect_timeout": 10,
                    "host_timeout": 60, "retries": 1, "retry_backoff": 0.05},
            "credentials": {"key": {"username": "root", "key_file": str(fleet.client_key)}},
            "defaults": {"credentials": "key", "platform": "linux", "port": fleet.port},
            "devices": [
                {"name": name, "address": HOSTILE_ADDRESS, "location": text,
                 "business_system": HTML[1] + text, "owner": text, "tags": [text, "a;b|c`d`"],
                 "serial": text, "model": HTML[2], "business_level": 1},
                {"name": PLAIN, "address": fleet.hosts[0].address, "location": HTML[0]},
                # refused: its retry is logged (text on the CLI, JSON by the service)
                {"name": name + "-refused", "address": "127.0.1.250"},
            ],
            "server": {"port": port, "shutdown_grace_seconds": 5},
        }
        path = work / "xunjian.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        cfg = ("--config", str(path))
        inspected = _cli(work, "-v", "inspect", *cfg, "--no-progress")
        shown = _cli(work, "show", *cfg, name)
        transcript = _cli(work, "transcript", *cfg, name)
        evidence = _cli(work, "evidence", *cfg, name, "filesystem")
        history = _cli(work, "history", *cfg, name)
        show_json = _cli(work, "show", *cfg, name, "--json")
        history_json = _cli(work, "history", *cfg, name, "--json")
        report_dir = work / "reports"
        report = _cli(work, "report", *cfg, "--period", datetime.now(UTC).strftime("%Y-%m"),
                      "-f", "html", "-f", "pdf", "-l", "en", "-o", str(report_dir))
        # the agent service on the same store: an API-started run (JSON logs), /metrics
        agent = Agent(path, port, work / "agent.log", TOKEN)
        agent.start()
        try:
            started = agent.api("POST", "/runs", json={"devices": [name, PLAIN, name + "-refused"]})
            assert started.status_code == 202, started.text
            agent.wait_run(started.json()["id"])
            metrics = httpx.get(f"{agent.url}/metrics", timeout=30).content
            api_results = agent.api("GET", f"/devices/{quote(name, safe='')}/results").json()
        finally:
            agent.signal(signal.SIGTERM)
    yield Artefacts(work, markers, host, name, text, inspected, shown, transcript, evidence,
                    history, show_json, history_json, report, report_dir,
                    (work / "agent.log").read_bytes(), metrics, api_results)
    for m in existing(markers):  # never left behind for the next run to trip over
        m.unlink()


def test_nothing_was_executed(artefacts: Artefacts) -> None:
    assert existing(artefacts.markers) == []


def test_commands_ran_and_the_hostile_values_were_stored(artefacts: Artefacts) -> None:
    assert artefacts.inspect.returncode in (1, 2, 3), artefacts.inspect.stderr.decode()
    store = Store.open(None, artefacts.work / "data")
    try:
        result = store.latest_result(artefacts.name, with_raw=True)
    finally:
        store.close()
    assert result is not None and result.reachable, result and result.error
    assert result.facts is not None and result.facts.hardware is not None
    assert result.facts.hardware.serial == artefacts.host.serial.strip()
    items = {c.item for c in result.checks if c.check == "filesystem"}
    assert artefacts.host.mountpoint in items
    # the 1 MiB journal line with no newline arrived whole and counted as one error line
    assert result.facts.log_error_count == 1
    raw = {r.item: r for r in result.raw}
    assert len(raw["log_errors"].output) > 1 << 20


def test_the_host_was_sent_exactly_the_packs_commands(artefacts: Artefacts) -> None:
    pack = builtin_pack("linux-standard")
    transcript = artefacts.transcript.stdout.decode()
    sent = [line[2:].split("    [")[0] for line in transcript.splitlines()
            if line.startswith("$ ")]
    assert sent == [item.command for item in pack.items]
    store = Store.open(None, artefacts.work / "data")
    try:
        result = store.latest_result(artefacts.name, with_raw=True)
    finally:
        store.close()
    assert result is not None
    assert [(r.item, r.command) for r in result.raw] == [(i.id, i.command) for i in pack.items]


@pytest.mark.parametrize("command", ["inspect", "show", "transcript", "evidence", "history"])
def test_terminal_output_holds_no_control_characters(artefacts: Artefacts, command: str) -> None:
    done: subprocess.CompletedProcess[bytes] = getattr(artefacts, command)
    assert done.returncode in (0, 1, 2, 3), done.stderr.decode(errors="replace")
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert terminal_controls(stdout) == []
    assert terminal_controls(stderr) == []
    # the escapes are shown, visibly: ESC as ␛, BEL as ␇
    if command != "history":
        assert "␛]0;xj-pwned-title␇" in stdout or "␛[2J" in stdout, stdout[:2000]


def test_show_lists_the_hostile_mountpoint_as_text(artefacts: Artefacts) -> None:
    stdout = artefacts.show.stdout.decode()
    assert "$(touch" in stdout and "<script>alert(1)</script>" in stdout


def test_html_report_has_no_injected_element_or_attribute(artefacts: Artefacts) -> None:
    assert artefacts.report.returncode == 0, artefacts.report.stderr.decode()
    [html_file] = artefacts.report_dir.rglob("*.html")
    scan = scan_html(html_file.read_text(encoding="utf-8"))
    assert scan.injections == []
    assert "\x1b" not in scan.text and "\x07" not in scan.text
    for payload in (HTML[0], HTML[1], HTML[2]):  # there, as text
        assert payload in scan.text


def test_pdf_report_shows_the_hostile_text_as_text(artefacts: Artefacts) -> None:
    reason = poppler_unavailable_reason()
    if reason:
        pytest.skip(reason)
    [pdf] = artefacts.report_dir.rglob("*.pdf")
    text = pdf_text(pdf)
    assert terminal_controls(text.replace("\f", "")) == []
    flat = re.sub(r"\s+", "", text)
    assert "<script>alert(1)</script>" in flat


@pytest.mark.parametrize("command", ["show_json", "history_json"])
def test_json_output_escapes_what_a_terminal_would_obey_and_loses_nothing(
        artefacts: Artefacts, command: str) -> None:
    done: subprocess.CompletedProcess[bytes] = getattr(artefacts, command)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    printed = done.stdout.decode()
    assert terminal_controls(printed) == []
    assert "\\u009b2J" in printed  # the C1 CSI as a JSON escape
    data = json.loads(printed)
    latest = data[0] if isinstance(data, list) else data
    assert latest["device"] == artefacts.name  # the same string, every byte back
    assert artefacts.host.mountpoint in {c["item"] for c in latest["checks"]}


def test_json_logs_stay_one_record_per_line(artefacts: Artefacts) -> None:
    log = artefacts.agent_log
    assert json_log_problems(log) == []
    records = [line for line in log.split(b"\n") if line]
    assert len(records) >= 2  # it did log (start, run)
    assert b"\x1b" not in log and b"\x07" not in log
    assert "\x9b".encode() not in log  # C1 CSI: written as \u009b


def test_api_returns_the_hostile_values_as_json_strings(artefacts: Artefacts) -> None:
    [latest, *_] = artefacts.api_results
    assert latest["device"] == artefacts.name
    checks = latest["checks"]
    assert isinstance(checks, list)
    assert artefacts.host.mountpoint in {c["item"] for c in checks}


def test_metrics_escape_label_values_and_pass_promtool(artefacts: Artefacts) -> None:
    text = artefacts.metrics.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    info = [s for s in families["xunjian_device_info"].samples
            if s.labels.get("device") == artefacts.name]
    assert info and info[0].labels["location"] == artefacts.location
    mountpoints = {s.labels.get("mountpoint") for s in families["xunjian_filesystem_used_ratio"]
                   .samples if s.labels.get("device") == artefacts.name}
    assert artefacts.host.mountpoint in mountpoints
    # every sample is one line (the format's line end is LF only): no raw newline in a value
    assert all(line.startswith(("#", "xunjian_")) for line in text.split("\n") if line)
    if not PROMTOOL_PATH.exists():
        pytest.skip(f"{PROMTOOL_PATH} is missing (apt-get install -y prometheus)")
    checked = subprocess.run([str(PROMTOOL_PATH), "check", "metrics"], input=artefacts.metrics,
                             capture_output=True, timeout=30, check=False)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


def test_hostile_text_covers_every_kind(artefacts: Artefacts) -> None:
    # guards the payload itself: the checks above are only as good as what was sent
    assert all(a in artefacts.location for a in ANSI)
    assert "$(touch" in artefacts.location and "\n" in artefacts.location
