"""``xunjian report`` and ``xunjian reports`` as users run them: separate ``xunjian`` processes
against a store with 45 days of seeded history (support.report_history, customer ``acme``).

Proves: every format and language is written, a second run makes version 2 beside version 1 and
both are listed; bad input exits 3 (2 for click usage errors) with a precise message and no
traceback, writing nothing; a period without data still makes a report that says so; the report
is mailed with its PDF to a real SMTP server; ``--out`` on a file is a clear error.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.report_history import PERIOD, populate, write_config
from support.smtp import SmtpPeer

from agent.store import Store
from config.loader import load_config
from reports.i18n import Translator

CUSTOMER = "某某银行股份有限公司"
ACME_DEVICES = ("web-01", "db-01", "core-sw-01", "edge-02")
LANGS = ("zh-CN", "en")
FORMATS = ("html", "pdf", "json", "csv", "xlsx")
#: what each format's file starts with
MAGIC = {"html": b"<!DOCTYPE html>", "pdf": b"%PDF-", "json": b"{", "xlsx": b"PK\x03\x04"}
DB_NAME = "history.db"

#: the ``xunjian`` fixture (tests/reports/conftest.py): one process, output captured
Runner = Callable[..., subprocess.CompletedProcess[str]]
Done = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the seeded history, made once; tests copy it (reports add rows)."""
    folder = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{folder / DB_NAME}"
    store = Store.open(url)
    try:
        populate(store, load_config(write_config(folder, store={"url": url})))
    finally:
        store.close()
    return folder / DB_NAME


class Site:
    """One test's config (naming its own copy of the seeded store) and data directory."""

    def __init__(self, tmp: Path, seeded: Path, xunjian: Runner, **overrides: object) -> None:
        self.tmp = tmp
        self.db = tmp / DB_NAME
        shutil.copy2(seeded, self.db)
        self.config = write_config(tmp, store={"url": f"sqlite:///{self.db}"}, **overrides)
        self.data_dir = tmp / "data"
        self.out = tmp / "out"
        self._xunjian = xunjian

    def run(self, command: str, *args: str) -> Done:
        return self._xunjian(command, "-c", str(self.config), *args, data_dir=self.data_dir)

    def report(self, *args: str) -> Done:
        return self.run("report", "--out", str(self.out), *args)


@pytest.fixture
def site(tmp_path: Path, seeded: Path, xunjian: Runner) -> Site:
    return Site(tmp_path, seeded, xunjian)


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_names(version: int) -> set[str]:
    return {f"acme-{PERIOD}-v{version}-{lang}.{ext}" for lang in LANGS for ext in FORMATS}


def _check_files(paths: list[Path], version: int) -> None:
    assert {p.name for p in paths} == _expected_names(version)
    for path in paths:
        content = path.read_bytes()
        ext = path.suffix.lstrip(".")
        assert content.startswith(MAGIC.get(ext, b"")) and len(content) > 100, path
    for lang in LANGS:
        twin = json.loads(paths[0].with_name(f"acme-{PERIOD}-v{version}-{lang}.json")
                          .read_text(encoding="utf-8"))
        assert twin["meta"]["language"] == lang and twin["meta"]["version"] == version
        assert twin["meta"]["customer"]["name"] == CUSTOMER
        assert {d["device"] for d in twin["devices"]} >= set(ACME_DEVICES) - {"edge-02"}
        header = paths[0].with_name(f"acme-{PERIOD}-v{version}-{lang}.csv").read_text(
            encoding="utf-8-sig").splitlines()
        assert len(header) > 1  # the seeded month has findings (a failed fan, a full /data)


def test_report_writes_every_format_and_language_and_a_second_run_is_version_2(
        site: Site) -> None:
    args = ("--period", PERIOD, "--customer", "acme", "--lang", "zh-CN,en",
            "--format", ",".join(FORMATS), "--json")
    first = site.report(*args)
    assert first.returncode == 0, first.stderr
    _no_traceback(first.stderr)
    made = json.loads(first.stdout)
    assert (made["version"], made["period"], made["empty"]) == (1, PERIOD, False)
    assert made["overall"] == "CRIT"  # core-sw-01's fan failed halfway through the month
    v1 = [Path(p) for p in made["files"]]
    assert len(v1) == 10 and all(p.parent == site.out for p in v1)
    _check_files(v1, 1)
    v1_hashes = {p.name: _sha256(p) for p in v1}

    second = site.report(*args)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["version"] == 2
    v2 = [Path(p) for p in again["files"]]
    _check_files(v2, 2)
    # version 1 is untouched beside version 2
    assert {p.name: _sha256(p) for p in v1} == v1_hashes
    assert {p.name for p in site.out.iterdir()} == _expected_names(1) | _expected_names(2)

    listed = site.run("reports", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["scope"], r["period"], r["version"]) for r in rows] == [
        ("customer:acme", PERIOD, 2), ("customer:acme", PERIOD, 1)]
    for row, files in zip(rows, (v2, v1), strict=True):
        assert row["languages"] == "zh-CN,en" and row["overall"] == "CRIT"
        assert {f["name"]: f["sha256"] for f in row["files"]} == {
            p.name: _sha256(p) for p in files}
        assert all(f["bytes"] == (site.out / f["name"]).stat().st_size for f in row["files"])


ERRORS = [
    pytest.param(["--period", "2026-13"],
                 ["invalid period '2026-13'", "month must be in 1..12", "YYYY-MM"],
                 id="month-13"),
    pytest.param(["--period", "yesterday"], ["invalid period 'yesterday'", "YYYY-Qn"],
                 id="period-words"),
    pytest.param(["--from", "2026-10-01"], ["--from and --to go together"], id="from-alone"),
    pytest.param(["--to", "2026-10-31"], ["--from and --to go together"], id="to-alone"),
    pytest.param(["--period", PERIOD, "--from", "2026-10-01", "--to", "2026-10-31"],
                 ["give --period or --from/--to, not both"], id="period-and-range"),
    pytest.param(["--period", PERIOD, "--customer", "globex"],
                 ["unknown customer 'globex'", "known: acme"], id="unknown-customer"),
    pytest.param(["--period", PERIOD, "--customer", "acme", "--group", "lab"],
                 ["no device matches the selection"], id="empty-selection"),
    pytest.param(["--period", PERIOD, "--device", "no-such-host"],
                 ["no device named no-such-host"], id="unknown-device"),
]


@pytest.mark.parametrize(("args", "messages"), ERRORS)
def test_bad_input_exits_3_with_a_precise_message(site: Site, args: list[str],
                                                  messages: list[str]) -> None:
    done = site.report(*args)
    assert done.returncode == 3, done.stdout + done.stderr
    _no_traceback(done.stderr)
    assert done.stderr.startswith("error: "), done.stderr
    for message in messages:
        assert message in done.stderr
    assert done.stdout == ""
    assert not site.out.exists()  # nothing half-made


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "html,docx"], "unknown format 'docx'; use html, pdf, json, csv, xlsx"),
    (["--lang", "zh-CN,fr"], "unknown language 'fr'; use zh-CN, en"),
])
def test_unknown_format_or_language_is_a_usage_error(site: Site, args: list[str],
                                                     message: str) -> None:
    done = site.report("--period", PERIOD, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    _no_traceback(done.stderr)
    assert message in done.stderr and "Usage: xunjian report" in done.stderr
    assert not site.out.exists()


def test_a_period_without_inspections_makes_a_report_that_says_so(site: Site) -> None:
    done = site.report("--period", "2026-05", "--customer", "acme", "--lang", "zh-CN",
                       "--format", "html")
    assert done.returncode == 0, done.stderr
    _no_traceback(done.stderr)
    assert "note: no inspection of these devices is stored for 2026-05" in done.stderr
    t = Translator("zh-CN")
    assert t("advice.headline.empty") in done.stdout
    [html_file] = site.out.iterdir()
    assert html_file.name == "acme-2026-05-v1-zh-CN.html"
    html = html_file.read_text(encoding="utf-8")
    assert t("report.empty_period") in html and t("advice.headline.empty") in html
    assert CUSTOMER in html
    # the devices in scope are still listed, so the customer sees what was not inspected
    for device in ACME_DEVICES:
        assert device in html


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpPeer]:
    with SmtpPeer(tmp_path / "smtp") as peer:
        yield peer


def test_email_to_sends_the_pdf_to_a_real_smtp_server(tmp_path: Path, seeded: Path,
                                                       xunjian: Runner, smtp: SmtpPeer) -> None:
    mail = {"host": smtp.host, "port": smtp.port, "security": "none",
            "from_address": "reports@provider.example", "from_name": "华信运维"}
    site = Site(tmp_path, seeded, xunjian, mail=mail)
    done = site.report("--period", PERIOD, "--customer", "acme", "--lang", "zh-CN",
                       "--format", "html,pdf", "--email-to", "cio@acme.example", "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["emailed_to"] == ["cio@acme.example"]
    pdf = site.out / f"acme-{PERIOD}-v1-zh-CN.pdf"
    assert str(pdf) in made["files"]

    [received] = smtp.wait_for(1)
    # --email-to replaces the customer's contacts (ops@acme.example)
    assert received.rcpt_tos == ["cio@acme.example"]
    assert received.mail_from == "reports@provider.example"
    message = received.message
    assert CUSTOMER in str(message["Subject"]) and PERIOD in str(message["Subject"])
    attachments = list(message.iter_attachments())
    # the PDF only: the HTML twin is not what customers file
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [
        ("application/pdf", pdf.name)]
    assert attachments[0].get_content() == pdf.read_bytes()
    body = message.get_body(("plain",))
    assert body is not None and CUSTOMER in body.get_content()


def test_out_pointing_at_a_file_is_a_clear_error(site: Site, tmp_path: Path) -> None:
    blocker = tmp_path / "report.pdf"
    blocker.write_bytes(b"not a directory")
    done = site.run("report", "--period", PERIOD, "--format", "json", "--out", str(blocker))
    assert done.returncode == 3, done.stdout + done.stderr
    _no_traceback(done.stderr)
    assert f"error: cannot create the output directory {blocker}" in done.stderr
    # below a file: the report is made, then the directory cannot be: exit 3, nothing recorded
    nested = blocker / "2026-10"
    done = site.run("report", "--period", PERIOD, "--format", "json", "--out", str(nested))
    assert done.returncode == 3, done.stdout + done.stderr
    _no_traceback(done.stderr)
    assert f"error: cannot create the output directory {nested}: Not a directory" in done.stderr
    assert blocker.read_bytes() == b"not a directory"
    listed = site.run("reports", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
