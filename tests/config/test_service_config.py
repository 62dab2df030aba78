"""server: and plans: sections — validated at load, problems point at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from config.loader import load_config

BASE = """\
version: 1
groups:
  web: {}
devices:
  - name: web-01
    address: 192.0.2.1
    platform: local
    groups: [web]
"""


def load(tmp_path: Path, extra: str):
    path = tmp_path / "xunjian.yaml"
    path.write_text(BASE + extra)
    return load_config(path, env={})


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    return [str(p) for p in caught.value.problems]


def test_defaults_listen_on_loopback_with_tokens_required(tmp_path: Path):
    server = load(tmp_path, "").config.server
    assert (server.host, server.port) == ("127.0.0.1", 9735)
    assert server.auth.required and server.auth.public == ["/metrics", "/healthz"]


def test_a_valid_plan(tmp_path: Path):
    plan = load(tmp_path, 'plans:\n  - {name: monthly, cron: "0 2 1 * *", '
                          'timezone: Asia/Shanghai, groups: [web]}\n').config.plans[0]
    assert plan.misfire_grace_seconds == 3600 and plan.groups == ["web"]


def test_plan_problems_name_the_place(tmp_path: Path):
    found = problems(tmp_path, """\
plans:
  - {name: a, cron: "0 2 1 * *", groups: [nosuch], devices: [ghost]}
  - {name: a, cron: "* * * * *"}
""")
    assert any(":10: plans[0].groups: unknown group 'nosuch'" in p for p in found), found
    assert any("plans[0].devices: no device named 'ghost'" in p for p in found), found
    assert any("plans[1].name: duplicate plan name 'a'" in p for p in found), found


@pytest.mark.parametrize(("plan", "message"), [
    ('{name: x, cron: "0 25 * * *"}', "invalid cron expression '0 25 * * *'"),
    ('{name: x, cron: "0 2 1 *"}', "invalid cron expression"),
    ('{name: x, cron: "* * * * *", timezone: Beijing}', "unknown time zone 'Beijing'"),
    ('{name: x, cron: "* * * * *", misfire_grace_seconds: 0}', "greater than or equal to 1"),
    ('{name: "a b", cron: "* * * * *"}', "should match pattern"),
    ('{name: x, cron: "* * * * *", when: daily}', "unknown key"),
])
def test_bad_plans(tmp_path: Path, plan: str, message: str):
    found = problems(tmp_path, f"plans:\n  - {plan}\n")
    assert any(message in p for p in found), found


def test_server_host_must_be_an_address(tmp_path: Path):
    found = problems(tmp_path, "server: {host: 'example.com; rm -rf /'}\n")
    assert any("server.host" in p and "not an IP address" in p for p in found), found
