"""Pack approvals: the store's records (SQLite and PostgreSQL), migration 0006 over a store with
results from before it, and the ApprovalBook's verdict per device — with the message a
never-approved or changed pack gets."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from agent.packs.approval import (
    ALL,
    ApprovalBook,
    approval_content,
    approved_pack,
    scope_text,
    scopes_of,
)
from agent.packs.diff import summarize
from agent.store import Store
from agent.store.store import ApprovalRecord, _alembic_config
from collectors.base import PackRef
from collectors.pack import PACK_FILE, Pack, builtin_pack, load_pack
from config.loader import LoadedConfig, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "packs"
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


# -- the store -------------------------------------------------------------------------------


def approve(store: Store, pack: Pack, scope: str, *, by: str = "Li Lei",
            when: datetime = WHEN, note: str | None = None) -> ApprovalRecord:
    return store.approve_pack(pack_name=pack.name, pack_version=pack.version,
                              content_hash=pack.content_hash, scope=scope, approved_by=by,
                              content=approval_content(pack), note=note, approved_at=when)


def test_an_approval_round_trips_with_its_content(store: Store) -> None:
    pack = load_pack(EXAMPLES / "linux-service")
    record = approve(store, pack, "acme", by="李雷", note="CAB-1042")
    assert record.id > 0
    [stored] = store.pack_approvals()
    assert stored == record
    assert (stored.pack_name, stored.pack_version, stored.content_hash, stored.scope,
            stored.approved_by, stored.note) == (
        "linux-service", "1.0.0", pack.content_hash, "acme", "李雷", "CAB-1042")
    assert stored.approved_at == WHEN and stored.approved_at.tzinfo is not None
    assert stored.content == {PACK_FILE: pack.raw, "files": pack.files}
    # what was approved rebuilds into the same pack
    rebuilt = approved_pack(stored)
    assert rebuilt is not None and rebuilt.content_hash == pack.content_hash


def test_approvals_are_newest_first_per_pack_and_revoked_per_scope(store: Store) -> None:
    service = load_pack(EXAMPLES / "linux-service")
    db = load_pack(EXAMPLES / "db-host")
    first = approve(store, service, "acme", when=datetime(2026, 1, 1, tzinfo=UTC))
    second = approve(store, service, ALL, when=datetime(2026, 2, 1, tzinfo=UTC))
    third = approve(store, service, "acme", when=datetime(2026, 3, 1, tzinfo=UTC))
    other = approve(store, db, "acme", when=datetime(2026, 2, 15, tzinfo=UTC))
    assert [r.id for r in store.pack_approvals("linux-service")] == [
        third.id, second.id, first.id]
    assert [r.id for r in store.pack_approvals()] == [third.id, other.id, second.id, first.id]
    assert store.pack_approvals("nosuch") == []

    assert store.revoke_pack_approvals("linux-service", "acme") == 2
    assert [r.id for r in store.pack_approvals("linux-service")] == [second.id]
    assert store.revoke_pack_approvals("linux-service", "acme") == 0  # nothing left to revoke
    assert [r.id for r in store.pack_approvals("db-host")] == [other.id]  # other packs kept


# -- migration 0006 over an older store ------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def _migrate(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def test_results_stored_before_0006_read_back_without_packs_or_titles(empty_url: str) -> None:
    _migrate(empty_url, "0005")
    engine = create_engine(empty_url)
    at = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    with engine.begin() as conn:
        assert "pack_approvals" not in inspect(conn).get_table_names()
        conn.execute(text(
            "INSERT INTO runs (id, started_at, finished_at, status, trigger, state, "
            "device_count, agent_host, agent_pid) VALUES (1, :at, :at, 'completed', 'cli', "
            "'WARN', 1, 'old-host', 1)"), {"at": at})
        conn.execute(text(
            "INSERT INTO device_results (id, run_id, device, address, platform, state, "
            "reachable, started_at, finished_at, pack_name, pack_version, pack_hash, "
            "item_errors) VALUES (1, 1, 'web-01', '10.0.0.1', 'linux', 'WARN', :yes, :at, :at, "
            "'linux-standard', '1.0.0', :hash, '{}')"), {"at": at, "yes": True, "hash": "ab" * 32})
        conn.execute(text(
            "INSERT INTO check_results (result_id, \"check\", item, state, value_num, unit, "
            "warn, crit, message, evidence, waived) VALUES (1, 'filesystem', '/data', 'WARN', "
            "85, '%', 80, 90, '/data 85 % used', '{\"items\": [\"filesystems\"]}', :no)"),
            {"no": False})
    engine.dispose()

    store = Store.open(empty_url)  # migrates to head
    try:
        [result] = store.history("web-01")
        assert result.packs == []
        assert result.pack == PackRef(name="linux-standard", version="1.0.0",
                                      content_hash="ab" * 32)
        [check] = result.checks
        assert (check.check, check.item, check.value, check.title) == (
            "filesystem", "/data", 85.0, None)
        full = store.result(1)
        assert full is not None and full.packs == [] and full.checks[0].title is None
        assert store.pack_approvals() == []
        # and the new table takes approvals
        pack = load_pack(EXAMPLES / "linux-service")
        approve(store, pack, ALL)
        assert [r.pack_name for r in store.pack_approvals()] == ["linux-service"]
    finally:
        store.close()


def test_0006_downgrades_and_upgrades_again(empty_url: str) -> None:
    _migrate(empty_url, "head")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
            assert "pack_approvals" not in inspect(conn).get_table_names()
            assert "packs" not in {c["name"] for c in inspect(conn).get_columns("device_results")}
            assert "title" not in {c["name"] for c in inspect(conn).get_columns("check_results")}
    finally:
        engine.dispose()
    _migrate(empty_url, "head")
    store = Store.open(empty_url)
    assert store.pack_approvals() == []
    store.close()


# -- the approval book -----------------------------------------------------------------------


CONFIG = """\
credentials:
  ops: {username: root, password_env: OPS_PW}
defaults: {credentials: ops}
store: {data_dir: data}
packs: {paths: [packs]}
groups:
  db: {packs: [db-host]}
devices:
  - {name: db1, address: 10.0.0.1, groups: [db], packs: [linux-service]}
  - {name: web1, address: 10.0.0.2, tags: [beta], packs: [linux-service]}
  - {name: lone, address: 10.0.0.3, packs: [linux-service]}
  - {name: shared, address: 10.0.0.4, groups: [db], tags: [beta], packs: [linux-service]}
customers:
  acme: {name: Acme, groups: [db]}
  beta: {name: Beta, tags: [beta], devices: [db1]}
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[LoadedConfig, Store, Path]]:
    packs = tmp_path / "packs"
    for name in ("linux-service", "db-host"):
        shutil.copytree(EXAMPLES / name, packs / name)
    path = tmp_path / "xunjian.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    loaded = load_config(path, env={"OPS_PW": "pw"})
    store = Store.open(None, tmp_path / "data")
    yield loaded, store, packs / "linux-service"
    store.close()


def scopes(loaded: LoadedConfig, device: str) -> list[str]:
    return scopes_of(loaded.device(device), loaded.config)


def test_the_scopes_of_a_device_are_its_customers_then_everyone(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, _, _ = setup
    assert scopes(loaded, "db1") == ["acme", "beta", ALL]  # by group, and by name
    assert scopes(loaded, "web1") == ["beta", ALL]  # by tag
    assert scopes(loaded, "lone") == [ALL]
    assert (scope_text("acme"), scope_text(ALL)) == ("customer acme", "every device")


def test_built_in_packs_need_no_approval_unless_the_policy_is_all() -> None:
    standard = builtin_pack("linux-standard")
    verdict = ApprovalBook([]).verdict(standard, [ALL])
    assert (verdict.status, verdict.reason, verdict.record) == ("not-required", None, None)
    assert verdict.ref() == PackRef(name="linux-standard", version=standard.version,
                                    content_hash=standard.content_hash, builtin=True,
                                    approval="not-required")
    strict = ApprovalBook([], policy="all").verdict(standard, ["acme", ALL])
    assert strict.status == "unapproved"
    assert strict.reason == (
        f"pack linux-standard {standard.version} (sha256 {standard.content_hash[:12]}) is not "
        "approved for customer acme; after review, approve it with `xunjian packs approve "
        "linux-standard --by NAME --customer acme`")


def test_built_in_packs_under_policy_all_are_approved_by_a_record() -> None:
    standard = builtin_pack("linux-standard")
    record = ApprovalRecord(1, standard.name, standard.version, standard.content_hash, ALL,
                            "Li Lei", WHEN, None, approval_content(standard))
    assert ApprovalBook([record], policy="all").verdict(standard, [ALL]).status == "approved"


def test_approved_when_the_hash_matches_a_record_covering_the_device(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, _ = setup
    pack = loaded.library.get("linux-service")
    record = approve(store, pack, "acme")
    book = ApprovalBook(store.pack_approvals())
    verdict = book.verdict(pack, scopes(loaded, "db1"))
    assert (verdict.status, verdict.record, verdict.reason) == ("approved", record, None)
    assert verdict.ref() == PackRef(
        name="linux-service", version="1.0.0", content_hash=pack.content_hash, builtin=False,
        approval="approved", approved_by="Li Lei", approved_at=WHEN)
    assert book.verdict(pack, scopes(loaded, "shared")).status == "approved"
    # acme's approval does not cover another customer's device or an unowned one
    assert book.verdict(pack, scopes(loaded, "web1")).status == "unapproved"
    assert book.verdict(pack, scopes(loaded, "lone")).status == "unapproved"
    # nor does it approve another pack
    assert book.verdict(loaded.library.get("db-host"), scopes(loaded, "db1")).status \
        == "unapproved"


def test_an_approval_for_every_device_covers_every_customer(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, _ = setup
    pack = loaded.library.get("linux-service")
    approve(store, pack, ALL)
    book = ApprovalBook(store.pack_approvals())
    assert {d.name: book.verdict(pack, scopes(loaded, d.name)).status
            for d in loaded.devices} == {
        "db1": "approved", "web1": "approved", "lone": "approved", "shared": "approved"}


def test_a_never_approved_pack_says_how_to_approve_it(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, _, _ = setup
    pack = loaded.library.get("linux-service")
    here = f"pack linux-service 1.0.0 (sha256 {pack.content_hash[:12]})"
    book = ApprovalBook([])
    assert book.verdict(pack, scopes(loaded, "web1")).reason == (
        f"{here} is not approved for customer beta; after review, approve it with "
        "`xunjian packs approve linux-service --by NAME --customer beta`")
    # an unowned device: --all-devices (a bare approve is refused when there are customers)
    assert book.verdict(pack, scopes(loaded, "lone")).reason == (
        f"{here} is not approved for every device; after review, approve it with "
        "`xunjian packs approve linux-service --by NAME --all-devices`")
    unapproved = book.verdict(pack, scopes(loaded, "lone"))
    assert unapproved.ref().approval == "unapproved"
    assert unapproved.ref().approved_by is None


def edit(folder: Path) -> None:
    """What a pack author does: a new version, another process, a changed script."""
    yaml_file = folder / PACK_FILE
    yaml_file.write_text(yaml_file.read_text("utf-8")
                         .replace('version: "1.0.0"', 'version: "1.1.0"')
                         .replace("pgrep -l -x sshd", "pgrep -l -x nginx"), encoding="utf-8")
    script = folder / "cert_days.sh"
    script.write_text(script.read_text("utf-8").replace("server.crt", "site.crt"), "utf-8")


def test_a_pack_changed_since_approval_says_what_changed(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, folder = setup
    old = loaded.library.get("linux-service")
    approve(store, old, "acme", by="李雷")
    edit(folder)
    new = load_pack(folder)
    assert new.content_hash != old.content_hash
    verdict = ApprovalBook(store.pack_approvals()).verdict(new, scopes(loaded, "db1"))
    assert verdict.status == "unapproved" and verdict.record is None
    assert summarize(old, new) == ("version 1.0.0 → 1.1.0; item process: command changed; "
                                   "item cert_days: script changed")
    assert verdict.reason == (
        f"pack linux-service 1.1.0 (sha256 {new.content_hash[:12]}) changed since 李雷 approved "
        f"1.0.0 (sha256 {old.content_hash[:12]}) for customer acme on 2026-11-20: version "
        "1.0.0 → 1.1.0; item process: command changed; item cert_days: script changed; review "
        "the change with `xunjian packs diff linux-service --approved --customer acme` and "
        "approve it again with `xunjian packs approve linux-service --by NAME --customer acme`")


def test_a_change_under_an_approval_for_every_device(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, folder = setup
    old = loaded.library.get("linux-service")
    approve(store, old, ALL)
    edit(folder)
    new = load_pack(folder)
    reason = ApprovalBook(store.pack_approvals()).verdict(new, scopes(loaded, "lone")).reason
    assert reason is not None
    assert "for every device on 2026-11-20: version 1.0.0 → 1.1.0;" in reason
    assert reason.endswith("review the change with `xunjian packs diff linux-service "
                           "--approved` and approve it again with `xunjian packs approve "
                           "linux-service --by NAME --all-devices`")


def test_the_newest_approval_in_scope_is_the_one_compared(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, folder = setup
    v1 = loaded.library.get("linux-service")
    approve(store, v1, "acme", by="old reviewer", when=datetime(2026, 1, 1, tzinfo=UTC))
    yaml_file = folder / PACK_FILE
    yaml_file.write_text(yaml_file.read_text("utf-8").replace('"1.0.0"', '"1.0.1"'), "utf-8")
    approve(store, load_pack(folder), "acme", by="new reviewer",
            when=datetime(2026, 6, 1, tzinfo=UTC))
    yaml_file.write_text(yaml_file.read_text("utf-8").replace('"1.0.1"', '"1.1.0"'), "utf-8")
    v3 = load_pack(folder)
    reason = ApprovalBook(store.pack_approvals()).verdict(v3, scopes(loaded, "shared")).reason
    assert reason is not None
    assert "changed since new reviewer approved 1.0.1" in reason
    assert "for customer acme on 2026-06-01: version 1.0.1 → 1.1.0; review" in reason
    # content approved earlier is approved again, whatever was approved after it
    yaml_file.write_text(v1.raw, encoding="utf-8")
    assert ApprovalBook(store.pack_approvals()).verdict(
        load_pack(folder), scopes(loaded, "shared")).status == "approved"


def test_a_change_that_runs_the_same_still_needs_approval(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, store, folder = setup
    old = loaded.library.get("linux-service")
    approve(store, old, "acme")
    yaml_file = folder / PACK_FILE
    yaml_file.write_text(yaml_file.read_text("utf-8") + "# reviewed\n", encoding="utf-8")
    new = load_pack(folder)
    reason = ApprovalBook(store.pack_approvals()).verdict(new, scopes(loaded, "db1")).reason
    assert reason is not None and "on 2026-11-20: the content changed; review" in reason


def test_an_approved_content_that_no_longer_loads(
        setup: tuple[LoadedConfig, Store, Path]) -> None:
    loaded, _, _ = setup
    pack = loaded.library.get("linux-service")
    stale = ApprovalRecord(7, pack.name, "0.9", "cd" * 32, "acme", "Li Lei", WHEN, None,
                           {PACK_FILE: "name: linux-service\nversion: '0.9'\nplatforms: "
                                       "[linux]\nitems:\n  - id: a\n    command: rm -rf /\n",
                            "files": {}})
    assert approved_pack(stale) is None
    reason = ApprovalBook([stale]).verdict(pack, scopes(loaded, "db1")).reason
    assert reason is not None
    assert "for customer acme on 2026-11-20: the approved content no longer loads; " in reason
