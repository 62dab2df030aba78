"""report: and customers: sections — validated at load, problems point at file:line."""

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
    path.write_text(BASE + extra, encoding="utf-8")
    return load_config(path, env={})


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    return [str(p) for p in caught.value.problems]


def test_defaults(tmp_path: Path) -> None:
    report = load(tmp_path, "").config.report
    assert (report.language, report.timezone, report.formats) == ("zh-CN", "UTC", ["html", "pdf"])
    assert report.forecast.threshold_percent == 90


def test_a_customer_with_logo_and_contacts(tmp_path: Path) -> None:
    (tmp_path / "acme.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    loaded = load(tmp_path, """\
report:
  provider: {name: 华信运维}
  timezone: Asia/Shanghai
customers:
  acme:
    name: 某某银行
    logo: acme.png
    groups: [web]
    contacts: [ops@acme.example]
    language: en
""")
    customer = loaded.config.customers["acme"]
    assert (customer.name, customer.language, customer.contacts) == (
        "某某银行", "en", ["ops@acme.example"])


@pytest.mark.parametrize(("extra", "message"), [
    ("customers:\n  acme: {name: A, groups: [nope]}\n",
     "xunjian.yaml:10: customers.acme.groups: unknown group 'nope'; defined groups: web"),
    ("customers:\n  acme: {name: A, devices: [ghost]}\n",
     "customers.acme.devices: no device named 'ghost' in the inventory"),
    ("customers:\n  acme: {name: A, groups: [web], logo: missing.png}\n",
     "customers.acme.logo: logo file missing.png not found"),
    ("report:\n  provider: {name: P, logo: nope.svg}\n",
     "report.provider.logo: logo file nope.svg not found"),
    ("customers:\n  acme: {name: A}\n",
     "a customer needs groups, tags or devices"),
    ("customers:\n  acme: {name: A, groups: [web], contacts: [not-an-address]}\n",
     "'not-an-address' is not an e-mail address"),
    ("customers:\n  'a b': {name: A, groups: [web]}\n", "customers"),
    ("report:\n  timezone: Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
    ("report:\n  formats: [docx]\n", "report.formats[0]"),
    ("report:\n  language: fr\n", "report.language"),
    ("report:\n  colour: blue\n", "report.colour"),
])
def test_bad_report_settings(tmp_path: Path, extra: str, message: str) -> None:
    found = problems(tmp_path, extra)
    assert any(message in p for p in found), found
