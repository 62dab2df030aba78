"""Report plans (``kind: report``) in the agent: the period follows the scheduled time in the
report's zone; fires are claimed like inspection fires and run through the RunManager; the
report's files, version and fire are recorded; failures are recorded, never fatal; ``/reports``
and ``/plans`` show them; e-mail reaches a real SMTP server with the PDF.

Over a real SQLite store seeded with 45 days of history (``support.report_history``), the real
report generator (WeasyPrint) and, for e-mail, aiosmtpd (``support.smtp.SmtpPeer``)."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from support.canaries import CANARY_API_TOKEN
from support.report_history import populate, write_config
from support.smtp import SmtpPeer

from agent.service.app import create_app
from agent.service.report_plans import output_dir, period_for, report_job
from agent.service.runs import RunManager
from agent.service.scheduler import PlanScheduler
from agent.service.serve import build_service
from agent.store import Store
from agent.store.schema import PlanFire
from config.loader import LoadedConfig, load_config
from config.secrets import Redactor
from reports.generate import languages
from reports.generate import select as select_devices_for

TOKEN = CANARY_API_TOKEN


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the period a scheduled report covers -----------------------------------------------------

@pytest.mark.parametrize(("kind", "when", "zone", "label", "first", "last"), [
    # 00:30 on 1 November in Shanghai is still 31 October in UTC: the zone decides the month
    ("previous-month", utc(2026, 10, 31, 16, 30), "Asia/Shanghai", "2026-10",
     date(2026, 10, 1), date(2026, 10, 31)),
    ("previous-month", utc(2026, 10, 31, 16, 30), "UTC", "2026-09",
     date(2026, 9, 1), date(2026, 9, 30)),
    ("previous-month", utc(2027, 1, 1, 2), "UTC", "2026-12", date(2026, 12, 1),
     date(2026, 12, 31)),
    ("current-month", utc(2026, 11, 15, 1), "UTC", "2026-11", date(2026, 11, 1),
     date(2026, 11, 30)),
    ("previous-week", utc(2026, 11, 2, 1), "UTC", "2026-W44", date(2026, 10, 26),
     date(2026, 11, 1)),
    # the ISO week before the first one of 2027 is 2026's 53rd
    ("previous-week", utc(2027, 1, 4, 1), "UTC", "2026-W53", date(2026, 12, 28),
     date(2027, 1, 3)),
    ("previous-quarter", utc(2026, 10, 1, 1), "UTC", "2026-Q3", date(2026, 7, 1),
     date(2026, 9, 30)),
    ("previous-quarter", utc(2027, 1, 1, 1), "UTC", "2026-Q4", date(2026, 10, 1),
     date(2026, 12, 31)),
    ("previous-quarter", utc(2026, 5, 20, 1), "UTC", "2026-Q1", date(2026, 1, 1),
     date(2026, 3, 31)),
])
def test_period_for(kind: Any, when: datetime, zone: str, label: str, first: date,
                    last: date):
    period = period_for(kind, when, zone)
    assert (period.label, period.first, period.last, period.timezone) == (label, first, last,
                                                                          zone)


def test_period_instants_are_in_the_report_zone():
    period = period_for("previous-month", utc(2026, 10, 31, 16, 30), "Asia/Shanghai")
    assert (period.start, period.end) == (utc(2026, 9, 30, 16), utc(2026, 10, 31, 16))


# -- fixtures: a seeded store and a config with report plans ---------------------------------

MONTHLY = {"name": "acme-monthly", "kind": "report", "cron": "30 0 1 * *",
           "customer": "acme", "formats": ["pdf"], "misfire_grace_seconds": 6 * 3600}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(None, tmp_path / "data")
    yield opened
    opened.close()


def configure(tmp_path: Path, store: Store | None, plans: list[dict[str, Any]],
              **overrides: object) -> LoadedConfig:
    """The report-history config with ``plans``; seeds ``store`` with its history."""
    loaded = load_config(write_config(tmp_path, plans=plans, **overrides), env={})
    if store is not None:
        populate(store, loaded)
    return loaded


def manager(loaded: LoadedConfig, store: Store, tmp_path: Path, **env: str) -> RunManager:
    return RunManager(loaded, store, data_dir=tmp_path / "data", redactor=Redactor(), env=env)


def fires(store: Store, plan: str) -> list[PlanFire]:
    with store.reading("test: fires") as s:
        return list(s.scalars(select(PlanFire).where(PlanFire.plan == plan)
                              .order_by(PlanFire.scheduled_for)))


def wait_settled(store: Store, plan: str, when: datetime, timeout: float = 60) -> PlanFire:
    """The fire of ``plan`` at ``when`` once it is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fire in fires(store, plan):
            if fire.scheduled_for.replace(tzinfo=UTC) == when and fire.status != "running":
                return fire
        time.sleep(0.1)
    raise AssertionError(f"the fire of {plan} at {when} did not finish in {timeout} s")


def run_count(store: Store) -> int:
    return store.counts()["runs"]


# -- defaults come from the customer and report: like ``xunjian report`` ---------------------

def test_a_report_job_takes_the_customer_language_and_the_report_defaults(tmp_path: Path):
    loaded = configure(tmp_path, None, [
        {"name": "a", "kind": "report", "cron": "0 1 1 * *", "customer": "acme"},
        {"name": "b", "kind": "report", "cron": "0 1 1 * *", "groups": ["lab"],
         "period": "previous-quarter", "languages": ["en", "zh-CN"], "out_dir": "out/b"}],
        customers={"acme": {"name": "ACME", "groups": ["acme"], "language": "en"}},
        report={"language": "zh-CN", "formats": ["html", "json"], "timezone": "Asia/Shanghai",
                "author": "张工"})
    first, second = loaded.config.plans
    when = utc(2026, 12, 31, 17)  # 1 January 2027, 01:00 in Shanghai
    job = report_job(first, loaded, when, tmp_path / "data")
    assert (job.period.label, job.period.timezone) == ("2026-12", "Asia/Shanghai")
    assert list(job.formats) == ["html", "json"]
    assert languages(loaded, job, select_devices_for(loaded, job)) == ["en"]  # as generate()
    assert job.out_dir == tmp_path / "data" / "reports" and job.customer == "acme"
    assert not job.email
    job = report_job(second, loaded, when, tmp_path / "data")
    assert job.period.label == "2026-Q4" and list(job.languages) == ["en", "zh-CN"]
    assert list(job.groups) == ["lab"] and job.customer is None
    # relative to the config file, like report.output_dir
    assert job.out_dir == tmp_path / "out" / "b"


def test_the_output_directory_falls_back_to_report_output_dir(tmp_path: Path):
    loaded = configure(tmp_path, None, [MONTHLY], report={"output_dir": "/srv/reports"})
    assert output_dir(loaded.config.plans[0], loaded, tmp_path) == Path("/srv/reports")


# -- the scheduler fires report plans like inspection plans ----------------------------------

def test_a_caught_up_report_plan_makes_the_report_of_its_scheduled_period(tmp_path: Path,
                                                                          store: Store):
    loaded = configure(tmp_path, store, [MONTHLY])
    plan = loaded.config.plans[0]
    service, _ = build_service(loaded, store, data_dir=tmp_path / "data", redactor=Redactor(),
                               env={"XUNJIAN_API_TOKENS": TOKEN})
    # last month's report was made; the agent was down over 1 October 00:30 and starts 90
    # minutes late (within the grace time): September is owed, whatever today's date is
    fire = store.claim_fire(plan.name, utc(2026, 9, 1, 0, 30))
    assert fire is not None
    store.update_fire(fire, "completed", None)
    runs_before = run_count(store)
    due = utc(2026, 10, 1, 0, 30)
    scheduler = PlanScheduler(list(loaded.config.plans), store, service.runs.run_plan,
                              clock=lambda: utc(2026, 10, 1, 2))
    scheduler.start()
    try:
        settled = wait_settled(store, plan.name, due)
        assert scheduler.running
    finally:
        scheduler.shutdown()
        service.runs.shutdown(5)

    assert settled.status == "completed", settled.note
    assert settled.run_id is None and run_count(store) == runs_before  # no inspection run
    pdf = tmp_path / "data" / "reports" / "acme-2026-09-v1-zh-CN.pdf"
    assert settled.note is not None and "report 2026-09 version 1" in settled.note
    assert pdf.name in settled.note
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "某某银行股份有限公司" in text and "core-sw-01" in text and "2026-09" in text
    (made,) = store.reports()
    assert (made["scope"], made["period"], made["version"]) == ("customer:acme", "2026-09", 1)
    assert [f["name"] for f in made["files"]] == [pdf.name]

    # the same time again (a restart, a second agent) makes nothing
    service.runs.run_plan(plan, due)
    again = PlanScheduler(list(loaded.config.plans), store, service.runs.run_plan,
                          clock=lambda: utc(2026, 10, 1, 3))
    assert again.catch_up(plan) is None
    assert len(store.reports()) == 1 and len(fires(store, plan.name)) == 2

    # the API lists the report and the plan with its kind
    with TestClient(create_app(service)) as client:
        assert client.get("/reports").status_code == 401
        (listed,) = client.get("/reports", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert listed["id"] == made["id"] and listed["period"] == "2026-09"
        assert listed["overall"] == made["overall"] and listed["languages"] == "zh-CN"
        assert listed["files"][0]["name"] == pdf.name
        assert listed["files"][0]["bytes"] == pdf.stat().st_size
        plans = client.get("/plans", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert [(p["name"], p["kind"], p["runs_total"]) for p in plans] == [
            ("acme-monthly", "report", 2)]
        schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert "/reports" in schema.json()["paths"]


def test_a_failing_report_is_recorded_and_the_service_keeps_going(
        tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the reports should go\n")
    broken = {**MONTHLY, "name": "broken", "out_dir": str(blocker)}
    good = {**MONTHLY, "name": "good", "cron": "45 0 1 * *"}
    loaded = configure(tmp_path, store, [broken, good])
    runs = manager(loaded, store, tmp_path)
    # both are owed their 1 October time, within the grace time
    store.record_missed("broken", utc(2026, 9, 1, 0, 30), "test: an earlier time")
    store.record_missed("good", utc(2026, 9, 1, 0, 45), "test: an earlier time")
    scheduler = PlanScheduler(list(loaded.config.plans), store, runs.run_plan,
                              clock=lambda: utc(2026, 10, 1, 2))
    scheduler.start()
    try:
        failed = wait_settled(store, "broken", utc(2026, 10, 1, 0, 30))
        done = wait_settled(store, "good", utc(2026, 10, 1, 0, 45))
        assert scheduler.running
    finally:
        scheduler.shutdown()
        runs.shutdown(5)
    assert failed.status == "failed" and failed.run_id is None
    assert failed.note is not None and "cannot create the output directory" in failed.note
    assert str(blocker) in failed.note
    assert "plan broken: the report failed" in caplog.text
    assert "Traceback" not in caplog.text  # an expected failure, not a crash
    assert done.status == "completed", done.note
    # the failed attempt left no report behind; the other one is complete
    (made,) = store.reports()
    assert made["period"] == "2026-09"
    assert all((tmp_path / "data" / "reports" / f["name"]).is_file() for f in made["files"])


def test_report_plans_do_not_start_while_the_agent_stops(tmp_path: Path, store: Store):
    loaded = configure(tmp_path, None, [MONTHLY])
    runs = manager(loaded, store, tmp_path)
    runs.shutdown(1)
    runs.run_plan(loaded.config.plans[0], utc(2026, 10, 1, 0, 30))
    (fire,) = fires(store, "acme-monthly")
    assert (fire.status, fire.note) == ("missed", "the agent was shutting down")
    assert store.reports() == []


# -- e-mail ------------------------------------------------------------------------------------

@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpPeer]:
    with SmtpPeer(tmp_path / "smtp", reject={"gone@acme.example"}) as peer:
        yield peer


def mail_settings(smtp: SmtpPeer) -> dict[str, Any]:
    return {"host": smtp.host, "port": smtp.port, "security": "none",
            "from_address": "reports@provider.example", "timeout_seconds": 10}


def test_a_report_plan_mails_the_pdf_to_the_customer(tmp_path: Path, store: Store,
                                                     smtp: SmtpPeer):
    loaded = configure(tmp_path, store, [{**MONTHLY, "email": True}], mail=mail_settings(smtp))
    runs = manager(loaded, store, tmp_path)
    try:
        runs.run_plan(loaded.config.plans[0], utc(2026, 11, 1, 0, 30))
    finally:
        runs.shutdown(5)
    (fire,) = fires(store, "acme-monthly")
    assert fire.status == "completed", fire.note
    assert fire.note is not None and fire.note.endswith("mailed to ops@acme.example")
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["ops@acme.example"]
    assert received.mail_from == "reports@provider.example"
    (attachment,) = list(received.message.iter_attachments())
    pdf = tmp_path / "data" / "reports" / "acme-2026-10-v1-zh-CN.pdf"
    assert attachment.get_filename() == pdf.name
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf.read_bytes()


def test_an_smtp_failure_fails_the_fire_with_the_reason(tmp_path: Path, store: Store,
                                                        smtp: SmtpPeer,
                                                        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    customers = {"acme": {"name": "ACME", "groups": ["acme"],
                          "contacts": ["gone@acme.example"]}}
    loaded = configure(tmp_path, store, [{**MONTHLY, "email": True}],
                       mail=mail_settings(smtp), customers=customers)
    runs = manager(loaded, store, tmp_path)
    try:
        runs.run_plan(loaded.config.plans[0], utc(2026, 11, 1, 0, 30))
    finally:
        runs.shutdown(5)
    (fire,) = fires(store, "acme-monthly")
    assert fire.status == "failed"
    assert fire.note is not None and "gone@acme.example" in fire.note
    assert "plan acme-monthly: the report failed" in caplog.text
    assert smtp.messages == []
    # the files were made and recorded before the mail failed: they are kept
    (made,) = store.reports()
    assert (tmp_path / "data" / "reports" / made["files"][0]["name"]).is_file()

