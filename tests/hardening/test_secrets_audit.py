"""The secrets audit: after every other test of the session, search everything the suite
produced for the canary password, key passphrase, enable secret and API token
(support.canaries).

What is searched:

* every file under the session's pytest base temp directory (each test's ``tmp_path``: the
  agent's data directories and SQLite stores, logs, rendered reports, exported files, written
  configs) and under ``test-artifacts/`` — raw, percent- and base64-encoded, SQLite values
  inflated where the store compresses them, gzip and zip members, PDF text through pdftotext;
* every test's captured stdout, stderr and log records, and every failure's traceback (the
  canary ledger searched them as each test reported);
* every PostgreSQL test database, searched by the ``pg_url`` fixture just before it is dropped.

Skipped, and listed: directories a harness marked as a simulated device's own state (they hold
the device's password by design) and secret *source* files (nothing but canaries: a
``password_file`` the agent is told to read). ``tests/hardening/test_secrets_scanner.py`` proves
each search can fail.

Run on a subset, it audits what that subset produced; run alone it has nothing to audit and
skips, saying so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.canary_audit import CanaryLedger, Hit, TreeAudit, audit_tree

REPO_ROOT = Path(__file__).resolve().parents[2]
#: tests/reports/conftest.py keeps screenshots and page images here (this variable overrides it)
ARTIFACTS_ENV = "XUNJIAN_TEST_ARTIFACTS"
#: the audit's own budget: it must stay a matter of seconds on the whole suite's output
BUDGET_SECONDS = 60
#: device-side directories listed by name in the summary
SHOWN = 10


def _artifact_dir() -> Path:
    configured = os.environ.get(ARTIFACTS_ENV)
    return Path(configured) if configured else REPO_ROOT / "test-artifacts"


def _summary(trees: list[TreeAudit], ledger: CanaryLedger, tests: int, seconds: float) -> str:
    lines = [f"secrets audit: {tests} test(s) before it, {seconds:.1f} s"]
    for tree in trees:
        lines.append(f"  {tree.root}: {tree.files} file(s), {tree.bytes / 1e6:.1f} MB, "
                     f"{tree.secret_sources} secret source file(s) skipped")
        exempt = list(tree.exempt.items())
        lines += [f"    device-side, skipped: {path} ({why})" for path, why in exempt[:SHOWN]]
        if len(exempt) > SHOWN:
            lines.append(f"    … and {len(exempt) - SHOWN} more device-side director(ies)")
    sections = sum(t.phases for t in ledger.other_tests())
    lines.append(f"  captured output and failure text of {sections} test phase(s)")
    lines.append(f"  {len(ledger.databases)} PostgreSQL database(s) before drop, "
                 f"{sum(ledger.databases.values())} row(s)")
    lines += [f"    not searched: {label}: {why}" for label, why in ledger.unsearched.items()]
    return "\n".join(lines)


@pytest.mark.canary_audit
def test_no_canary_in_anything_the_suite_produced(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = request.config.pluginmanager.get_plugin(CanaryLedger.PLUGIN_NAME)
    assert isinstance(ledger, CanaryLedger), "tests/conftest.py registers the canary ledger"
    tests = ledger.other_tests()
    if not tests:
        pytest.skip("run alone: no other test ran in this session, so there is nothing to "
                    "audit (tests/hardening/test_secrets_scanner.py proves the scanner)")
    started = time.monotonic()
    roots = [tmp_path_factory.getbasetemp()]
    if _artifact_dir().is_dir():
        roots.append(_artifact_dir())
    trees = [audit_tree(ledger.scanner, root) for root in roots]
    seconds = time.monotonic() - started

    with capsys.disabled():
        print("\n" + _summary(trees, ledger, len(tests), seconds))
    # not vacuous: every test before this one was searched, and the files were there to search
    assert all(t.phases >= 1 for t in tests)
    assert trees[0].files + sum(t.phases for t in tests) > 0
    hits: list[Hit] = [h for tree in trees for h in tree.hits]
    hits += [h for t in tests for h in t.hits] + ledger.database_hits
    assert not hits, "canary secrets found:\n" + "\n".join(map(str, hits[:50]))
    assert seconds < BUDGET_SECONDS, f"the audit took {seconds:.0f} s"
