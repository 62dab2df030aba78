"""The secrets audit can fail: each search it relies on finds a planted canary.

Each test plants the suite's canaries under ``tmp_path/tree`` and runs the audit's own code on
that tree; ``tmp_path`` itself is marked device-side, so the session audit (which walks every
test's tmp dir) skips these deliberate plants and lists them as skipped.
"""

from __future__ import annotations

import base64
import gzip
import sqlite3
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from support.builders import DEVICE, make_result
from support.canaries import (
    CANARY_API_TOKEN,
    CANARY_ENABLE_SECRET,
    CANARY_PASSPHRASE,
    CANARY_PASSWORD,
    SUITE_CANARIES,
    mark_device_side,
)
from support.canary_audit import CanaryLedger, CanaryScanner, Hit, audit_tree

from agent.store import Store

SCANNER = CanaryScanner(SUITE_CANARIES)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    mark_device_side(tmp_path, "the scanner's self-tests plant canaries here on purpose")
    root = tmp_path / "tree"
    root.mkdir()
    return root


def forms(hits: list[Hit]) -> set[tuple[str, str]]:
    return {(h.canary, h.form) for h in hits}


@pytest.mark.parametrize(("name", "value"), list(SUITE_CANARIES.items()))
def test_each_canary_found_raw_in_a_log_file(tree: Path, name: str, value: str) -> None:
    (tree / "agent.log").write_text(f"2026-01-01 INFO login with {value} ok\n", "utf-8")
    audit = audit_tree(SCANNER, tree)
    assert audit.files == 1
    assert forms(audit.hits) == {(name, "raw")}
    # the context shown names the canary instead of repeating it
    assert value not in str(audit.hits[0]) and f"<{name}>" in audit.hits[0].context


def test_encoded_forms_are_found(tree: Path) -> None:
    basic = base64.b64encode(f"admin:{CANARY_PASSWORD}".encode()).decode()
    (tree / "access.log").write_text(
        f"GET /x?pw={quote(CANARY_PASSWORD, safe='')}\nAuthorization: Basic {basic}\n")
    # every alignment of base64
    for pad in ("", "a", "ab"):
        (tree / f"b64-{len(pad)}.txt").write_text(
            base64.b64encode(f"{pad}{CANARY_ENABLE_SECRET}".encode()).decode())
    found = forms(audit_tree(SCANNER, tree).hits)
    assert ("password", "percent-encoded") in found and ("password", "base64") in found
    hits = audit_tree(SCANNER, tree).hits
    assert {h.where.rsplit("/", 1)[1] for h in hits if h.canary == "enable secret"} == {
        "b64-0.txt", "b64-1.txt", "b64-2.txt"}


def test_store_transcripts_are_inflated_sqlite(tree: Path) -> None:
    """The store zlib-compresses transcripts: a raw scan of the file cannot see them."""
    result = make_result()
    result.transcript = f"$ cat /etc/app.conf\npassword={CANARY_PASSPHRASE}\n"
    store = Store.open(None, tree / "data")
    run = store.start_run("test", 1, None)
    store.save_result(run, DEVICE, result)
    store.close()
    database = next((tree / "data").glob("*.db"))
    assert CANARY_PASSPHRASE.encode() not in database.read_bytes()  # compressed on disk
    hits = audit_tree(SCANNER, tree).hits
    assert ("passphrase", "zlib raw") in forms(hits)
    assert any("device_results" in h.where for h in hits)


def test_plain_sqlite_text_and_compressed_blobs(tree: Path) -> None:
    with sqlite3.connect(tree / "other.sqlite") as conn:
        conn.execute("CREATE TABLE t (note TEXT, blob BLOB)")
        conn.execute("INSERT INTO t VALUES (?, ?)",
                     (f"token {CANARY_API_TOKEN}", zlib.compress(CANARY_PASSWORD.encode())))
    conn.close()
    found = forms(audit_tree(SCANNER, tree).hits)
    assert {("API token", "raw"), ("password", "zlib raw")} <= found


def test_gzip_zip_and_zlib_files(tree: Path) -> None:
    with gzip.open(tree / "log.1.gz", "wt") as fh:
        fh.write(f"enable {CANARY_ENABLE_SECRET}\n")
    with zipfile.ZipFile(tree / "report.xlsx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", f"<si><t>{CANARY_PASSWORD}</t></si>")
    (tree / "blob.bin").write_bytes(zlib.compress(CANARY_API_TOKEN.encode() * 3))
    found = forms(audit_tree(SCANNER, tree).hits)
    assert {("enable secret", "gzip raw"), ("password", "zip raw"),
            ("API token", "zlib raw")} <= found


def test_pdf_text_is_extracted(tree: Path) -> None:
    """PDF page text sits in compressed streams: only the extracted text shows the canary."""
    weasyprint = pytest.importorskip("weasyprint")
    pdf = tree / "report.pdf"
    weasyprint.HTML(string=f"<p>enable secret: {CANARY_ENABLE_SECRET}</p>").write_pdf(pdf)
    assert CANARY_ENABLE_SECRET.encode() not in pdf.read_bytes()
    assert ("enable secret", "pdf text raw") in forms(audit_tree(SCANNER, tree).hits)


def test_secret_source_files_and_device_side_dirs_are_skipped(tree: Path) -> None:
    (tree / "password").write_text(CANARY_PASSWORD + "\n")
    (tree / "tokens").write_text(f"# API tokens\n{CANARY_API_TOKEN}\n")
    device = mark_device_side(tree / "sim", "a simulated device's own config")
    (device / "device.json").write_text(f'{{"secret": "{CANARY_ENABLE_SECRET}"}}')
    audit = audit_tree(SCANNER, tree)
    assert audit.hits == [] and audit.secret_sources == 2
    assert audit.exempt == {device: "a simulated device's own config"}
    # a canary next to other text is not a secret source: found
    (tree / "config.yaml").write_text(f"password: {CANARY_PASSWORD}\n")
    assert forms(audit_tree(SCANNER, tree).hits) == {("password", "raw")}


def test_the_ledger_searches_captured_output_and_failures() -> None:
    ledger = CanaryLedger(SCANNER)
    passed = pytest.TestReport(
        "t.py::leaky", ("t.py", 1, "leaky"), {}, "passed", None, "call",
        sections=[("Captured log call", f"WARNING x: api token {CANARY_API_TOKEN}")])
    failed = pytest.TestReport(
        "t.py::failing", ("t.py", 2, "failing"), {}, "failed",
        f"AssertionError: assert 'Xj' not in 'pw={CANARY_PASSWORD}'", "call")
    for report in (passed, failed):
        ledger.pytest_runtest_logreport(report)
    found = {(t.nodeid, h.canary) for t in ledger.other_tests() for h in t.hits}
    assert found == {("t.py::leaky", "API token"), ("t.py::failing", "password")}


@pytest.fixture
def planted_pg(pg_url: str) -> Iterator[str]:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE planted (note text, blob bytea)"))
        conn.execute(text("INSERT INTO planted VALUES (:n, :b)"),
                     {"n": f"pw {CANARY_PASSWORD}", "b": zlib.compress(CANARY_API_TOKEN.encode())})
    yield pg_url
    # the pg_url fixture searches the database before dropping it: leave nothing planted
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE planted"))
    engine.dispose()


@pytest.mark.postgres
def test_postgres_rows_are_searched(planted_pg: str) -> None:
    rows, hits = SCANNER.scan_database(planted_pg, "pg")
    assert rows == 1
    assert forms(hits) == {("password", "raw"), ("API token", "zlib raw")}


def test_the_audit_skips_when_run_alone_and_fails_on_a_leak(tmp_path: Path) -> None:
    """The real audit in its own pytest session: alone it skips with the reason; after a test
    that leaks a canary into its tmp dir it fails and names the file."""
    mark_device_side(tmp_path, "a nested pytest session's own base temp")
    tests = Path(__file__).resolve().parents[1]
    leaky = tests / "hardening" / "test_secrets_audit.py"
    base = [str(Path(__import__("sys").executable)), "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(tests.parent), "-c", str(tests.parent / "pyproject.toml")]
    alone = subprocess.run([*base, "--basetemp", str(tmp_path / "alone"), "-rs", str(leaky)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert alone.returncode == 0, alone.stdout[-2000:]
    assert "run alone" in alone.stdout
    plant = tmp_path / "test_plant.py"
    plant.write_text(
        "from support.canaries import CANARY_PASSWORD\n\n"
        "def test_writes_a_leak(tmp_path):\n"
        "    (tmp_path / 'report.html').write_text(f'<td>{CANARY_PASSWORD}</td>')\n")
    leaked = subprocess.run([*base, "--basetemp", str(tmp_path / "leak"), str(plant),
                             str(leaky)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert leaked.returncode == 1, leaked.stdout[-2000:]
    assert "report.html: password (raw)" in leaked.stdout
    assert CANARY_PASSWORD not in leaked.stdout
