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


# -- report plans (kind: report) ------------------------------------------------------------

CUSTOMERS = """\
customers:
  acme: {name: ACME, groups: [web], contacts: [ops@acme.example], language: en}
  quiet: {name: Quiet Ltd, devices: [web-01]}
"""
MAIL = "mail: {host: 127.0.0.1, security: none, from_address: reports@provider.example}\n"


def test_a_valid_report_plan(tmp_path: Path):
    loaded = load(tmp_path, CUSTOMERS + MAIL + """\
plans:
  - name: acme-monthly
    kind: report
    cron: "30 0 1 * *"
    customer: acme
    languages: [en, zh-CN]
    formats: [pdf, xlsx]
    email: true
    out_dir: reports/acme
  - {name: weekly, kind: report, cron: "0 6 * * 1", period: previous-week, groups: [web]}
""")
    monthly, weekly = loaded.config.plans
    assert (monthly.kind, monthly.customer, monthly.email) == ("report", "acme", True)
    assert monthly.languages == ["en", "zh-CN"] and monthly.formats == ["pdf", "xlsx"]
    assert monthly.period == "previous-month"  # the default: the month that just ended
    assert str(monthly.out_dir) == "reports/acme"
    assert (weekly.period, weekly.customer, weekly.languages, weekly.formats) == (
        "previous-week", None, None, None)


def test_report_keys_on_an_inspection_plan_are_refused_and_vice_versa(tmp_path: Path):
    found = problems(tmp_path, """\
plans:
  - {name: a, cron: "0 2 1 * *", customer: acme, email: false}
  - {name: b, kind: report, cron: "0 2 1 * *", packs: {linux: linux-standard}}
""")
    assert any(":10: plans[0]: customer, email: only report plans (kind: report)" in p
               for p in found), found
    assert any(":11: plans[1]: packs: only inspection plans (kind: inspection)" in p
               for p in found), found


@pytest.mark.parametrize(("plan", "message"), [
    ('{name: r, kind: report, cron: "0 2 1 * *", period: last-month}',
     "plans[0].period: Input should be 'previous-month', 'current-month'"),
    ('{name: r, kind: report, cron: "0 2 1 * *", languages: [fr]}',
     "plans[0].languages[0]: Input should be 'zh-CN' or 'en'"),
    ('{name: r, kind: report, cron: "0 2 1 * *", languages: []}',
     "plans[0].languages: List should have at least 1 item"),
    ('{name: r, kind: report, cron: "0 2 1 * *", formats: [docx]}',
     "plans[0].formats[0]: Input should be 'html', 'pdf', 'json', 'csv' or 'xlsx'"),
    ('{name: r, kind: weekly, cron: "0 2 1 * *"}',
     "plans[0].kind: Input should be 'inspection' or 'report'"),
])
def test_bad_report_plan_values(tmp_path: Path, plan: str, message: str):
    found = problems(tmp_path, f"plans:\n  - {plan}\n")
    assert any(message in p for p in found), found


def test_unknown_customer_of_a_report_plan(tmp_path: Path):
    found = problems(tmp_path, CUSTOMERS + """\
plans:
  - name: r
    kind: report
    cron: "0 2 1 * *"
    customer: nosuch
""")
    assert any(":16: plans[0].customer: unknown customer 'nosuch'; defined customers: "
               "acme, quiet" in p for p in found), found


def test_email_needs_a_mail_section(tmp_path: Path):
    found = problems(tmp_path, CUSTOMERS + """\
plans:
  - name: r
    kind: report
    cron: "0 2 1 * *"
    customer: acme
    email: true
""")
    assert any(":17: plans[0].email: email: true needs a mail: section" in p
               for p in found), found


def test_email_needs_a_customer_with_contacts(tmp_path: Path):
    found = problems(tmp_path, CUSTOMERS + MAIL + """\
plans:
  - {name: r, kind: report, cron: "0 2 1 * *", customer: quiet, email: true}
  - {name: s, kind: report, cron: "0 2 1 * *", groups: [web], email: true}
""")
    assert any(":14: plans[0].email: customer 'quiet' has no contacts to mail the report to; "
               "add customers.quiet.contacts" in p for p in found), found
    assert any(":15: plans[1].email: email: true needs a customer" in p for p in found), found


def test_a_report_plan_whose_day_differs_in_the_report_zone_is_refused(tmp_path: Path):
    # 06:00 on the 1st in Shanghai is 22:00 on the last day of the month before in UTC: the
    # previous month seen from there would be the month before last
    plan = 'plans:\n  - {name: r, kind: report, cron: "0 6 1 * *", timezone: Asia/Shanghai}\n'
    found = problems(tmp_path, plan)
    assert any(":10: plans[0].timezone: this plan fires at " in p and "06:00 Asia/Shanghai, "
               "which is " in p and "22:00 in report.timezone (UTC)" in p for p in found), found
    # the same zone, or a time that is the same day in both, is fine
    assert load(tmp_path, "report: {timezone: Asia/Shanghai}\n" + plan).config.plans
    assert load(tmp_path, plan.replace('"0 6 1 * *"', '"0 9 1 * *"')).config.plans
