"""``xunjian packs``: list, show, validate, test, diff, approve, revoke and schema — through the
real CLI entry point (click's runner), a config file and a store in tmp_path, and the example
packs as input (copied when a test edits them)."""

from __future__ import annotations

import json
import logging
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agent.cli import main
from agent.packs.approval import ApprovalBook, scopes_of
from agent.store import Store
from collectors.pack import PACK_FILE, builtin_pack, builtin_pack_names, load_pack
from config.loader import CONFIG_ENV, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "packs"
SCHEMA = ROOT / "docs" / "pack.schema.json"
ENV = {"OPS_PW": "pw"}

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
  - {name: web1, address: 10.0.0.2, packs: [linux-service]}
  - {name: sw1, address: 10.0.0.3, platform: huawei_vrp, packs: [huawei-optics]}
"""
CUSTOMERS = """\
customers:
  acme: {name: Acme, groups: [db]}
"""


@dataclass
class Setup:
    config: Path
    packs: Path
    data: Path

    def pack_dir(self, name: str) -> Path:
        return self.packs / name


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    """The CLI points the root logger at its own stderr handler; put the old ones back. The
    default data directory is in tmp_path, so no test touches the user's store."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield CliRunner(env={"COLUMNS": "1000", CONFIG_ENV: None, **ENV,
                             "XUNJIAN_DATA_DIR": str(tmp_path / "default-data")})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def make_setup(tmp_path: Path, *, customers: bool) -> Setup:
    packs = tmp_path / "packs"
    for name in ("linux-service", "db-host", "huawei-optics"):
        shutil.copytree(EXAMPLES / name, packs / name)
    config = tmp_path / "xunjian.yaml"
    config.write_text(CONFIG + (CUSTOMERS if customers else ""), encoding="utf-8")
    return Setup(config, packs, tmp_path / "data")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path, customers=True)


@pytest.fixture
def plain(tmp_path: Path) -> Setup:
    """A config without customers: approvals are for every device."""
    return make_setup(tmp_path, customers=False)


def xunjian(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def with_config(runner: CliRunner, s: Setup, *args: str) -> Result:
    return xunjian(runner, *args, "--config", str(s.config))


def edit_service(folder: Path) -> None:
    yaml_file = folder / PACK_FILE
    yaml_file.write_text(yaml_file.read_text("utf-8")
                         .replace('version: "1.0.0"', 'version: "1.1.0"')
                         .replace("pgrep -l -x sshd", "pgrep -l -x nginx"), encoding="utf-8")


def write_pack(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nversion: '1'\n" + textwrap.dedent(body), encoding="utf-8")
    return path


# -- list and show ---------------------------------------------------------------------------


def test_list_shows_built_in_and_custom_packs_with_their_approval(
        runner: CliRunner, setup: Setup) -> None:
    write_pack(setup.packs, "broken", "platforms: [linux]\nitems:\n"
                                      "  - id: a\n    command: rm -rf /\n")
    result = with_config(runner, setup, "packs", "list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("│")}
    assert set(rows) == {*builtin_pack_names(), "db-host", "huawei-optics", "linux-service"}
    standard = builtin_pack("linux-standard")
    assert rows["linux-standard"] == [standard.version, "built-in", "linux",
                                      str(len(standard.items)), "0", "0",
                                      "not required (built-in)"]
    assert rows["linux-service"] == [
        "1.0.0", str(setup.pack_dir("linux-service") / PACK_FILE), "linux", "3", "3", "2",
        "not approved"]
    assert rows["db-host"][3:6] == ["4", "5", "1"]
    assert result.stderr == ("broken: broken: pack broken item a: refused 'rm -rf /': 'rm' is "
                             "not on the read-only allowlist\n")


def test_list_as_json(runner: CliRunner, setup: Setup) -> None:
    assert with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei",
                       "--customer", "acme").exit_code == 0
    result = with_config(runner, setup, "packs", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["broken"] == {}
    by_name = {p["name"]: p for p in data["packs"]}
    service = by_name["linux-service"]
    pack = load_pack(setup.pack_dir("linux-service"))
    assert {k: service[k] for k in ("version", "builtin", "platforms", "content_hash", "items",
                                    "checks", "devices")} == {
        "version": "1.0.0", "builtin": False, "platforms": ["linux"],
        "content_hash": pack.content_hash, "items": 3, "checks": 3, "devices": ["db1", "web1"]}
    [approval] = service["approvals"]
    assert (approval["scope"], approval["approved_by"], approval["content_hash"]) == (
        "acme", "Li Lei", pack.content_hash)
    assert by_name["linux-standard"]["builtin"] is True
    assert by_name["huawei-optics"]["devices"] == ["sw1"]


def test_show_names_what_a_pack_sends_parses_and_checks(runner: CliRunner, setup: Setup) -> None:
    pack = load_pack(setup.pack_dir("linux-service"))
    result = with_config(runner, setup, "packs", "show", "linux-service")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"linux-service 1.0.0  sha256:{pack.content_hash}"
    assert lines[1] == (f"from: {setup.pack_dir('linux-service') / PACK_FILE}; "
                        "platforms: linux")
    assert "process (command): pgrep -l -x sshd" in lines
    assert "  check linux-service.running: present True → CRIT" in lines
    assert "  check linux-service.cert_expiry: days_left warn ≤ 30 days, crit ≤ 7 days" in lines
    assert "cert_days (script cert_days.sh, read-only):" in lines
    assert lines[-1] == "approval: not approved"


def test_show_a_pack_by_path_as_json(runner: CliRunner, tmp_path: Path) -> None:
    result = xunjian(runner, "packs", "show", str(EXAMPLES / "db-host"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    pack = load_pack(EXAMPLES / "db-host")
    assert data["content_hash"] == pack.content_hash
    assert data["origin"] == str(EXAMPLES / "db-host" / PACK_FILE)
    assert data["check_names"] == pack.check_names()
    assert [i["id"] for i in data["items"]] == ["pg_isready", "connections", "db_sizes",
                                                "long_transactions"]
    assert data["approvals"] == []


def test_show_an_unknown_pack(runner: CliRunner, setup: Setup) -> None:
    result = with_config(runner, setup, "packs", "show", "nosuch")
    assert result.exit_code == 3
    assert result.stderr == (f"error: no pack named 'nosuch' (built-in packs and packs.paths: "
                             f"{setup.packs})\n")


# -- validate --------------------------------------------------------------------------------


def test_validate_the_example_packs_and_a_built_in_one(runner: CliRunner) -> None:
    result = xunjian(runner, "packs", "validate", *(str(EXAMPLES / n) for n in (
        "linux-service", "db-host", "huawei-optics")), "linux-standard")
    assert result.exit_code == 0, result.output
    hashes = {n: load_pack(EXAMPLES / n).content_hash
              for n in ("linux-service", "db-host", "huawei-optics")}
    assert result.stdout.splitlines()[:3] == [
        f"ok: linux-service 1.0.0: 3 item(s), 3 check(s), sha256:{hashes['linux-service']}",
        f"ok: db-host 1.0.0: 4 item(s), 5 check(s), sha256:{hashes['db-host']}",
        f"ok: huawei-optics 1.0.0: 1 item(s), 3 check(s), sha256:{hashes['huawei-optics']}",
    ]
    standard = builtin_pack("linux-standard")
    assert result.stdout.splitlines()[3] == (
        f"ok: linux-standard {standard.version}: {len(standard.items)} item(s), 0 check(s), "
        f"sha256:{standard.content_hash}")


def test_validate_reports_each_bad_pack_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    optics = Path(shutil.copytree(EXAMPLES / "huawei-optics", tmp_path / "huawei-optics"))
    template = optics / "transceiver_verbose.textfsm"
    template.write_text(template.read_text("utf-8") + "Value broken (\n", encoding="utf-8")
    last = len(template.read_text("utf-8").splitlines())
    unknown_key = write_pack(tmp_path, "colour", "platforms: [linux]\ncolour: red\nitems:\n"
                                                 "  - id: a\n    command: uptime\n")
    result = xunjian(runner, "packs", "validate", str(EXAMPLES / "linux-service"), str(optics),
                     str(unknown_key), str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1
    assert result.stdout.startswith("ok: linux-service 1.0.0: ")
    assert result.stderr == (
        f"invalid: {optics}: pack huawei-optics item transceivers: the TextFSM template does "
        f"not compile: Missing white space or carat ('^') before rule. Line: {last}\n"
        f"invalid: {unknown_key}: pack {unknown_key} is not valid:\n"
        "  colour (line 4): unknown key (check the spelling; unknown keys are not ignored)\n"
        f"invalid: {tmp_path / 'absent.yaml'}: cannot read pack {tmp_path / 'absent.yaml'}: No "
        "such file or directory\n")


@pytest.mark.parametrize(("body", "message"), [
    ("platforms: [linux]\nitems:\n  - id: a\n    command: uptime\n    parser: {type: xml}\n",
     "pack {path} is not valid:\n  items[0].parser (line 7): Input tag 'xml' found using 'type' "
     "does not match any of the expected tags: 'textfsm', 'regex', 'jsonpath', 'kv', 'table', "
     "'plugin'"),
    ("platforms: [linux]\nitems:\n  - id: a\n    script: uptime\n",
     "pack {path} is not valid:\n  items[0] (line 5): item a: a script must declare "
     "`read_only: true` (xunjian runs only scripts that change nothing)"),
    ("platforms: [huawei_vrp]\nitems:\n  - id: a\n    script: uptime\n    read_only: true\n",
     "pack p item a: scripts run on Linux hosts only, not on huawei_vrp"),
    ("platforms: [linux]\nitems:\n  - id: a\n    script: 'echo x > /etc/motd'\n"
     "    read_only: true\n", None),
    ("platforms: [linux]\nitems:\n  - id: a\n    script_file: ../x.sh\n    read_only: true\n",
     "pack {path} is not valid:\n  items[0].script_file (line 6): '../x.sh' must be a path "
     "inside the pack's directory"),
    ("platforms: [linux]\nitems:\n  - id: a\n    script_file: x.sh\n    read_only: true\n",
     "pack p: file 'x.sh' is referenced but missing (looked beside {path})"),
    ("platforms: [huawei_vrp]\nitems:\n  - id: a\n    command: reset saved-configuration\n",
     None),
])
def test_validate_bad_packs(runner: CliRunner, tmp_path: Path, body: str,
                            message: str | None) -> None:
    path = write_pack(tmp_path, "p", body)
    result = xunjian(runner, "packs", "validate", str(path))
    assert result.exit_code == 1 and result.stdout == ""
    if message is None:  # the guard's and the policy's own wording
        assert result.stderr.startswith(f"invalid: {path}: pack p item a: refused ")
    else:
        assert result.stderr == f"invalid: {path}: {message.format(path=path)}\n"


# -- test ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pack", "sample", "item", "code"), [
    ("linux-service", "process.txt", "process", 0),
    ("linux-service", "process-stopped.txt", "process", 2),
    ("linux-service", "cert_days-expiring.txt", "cert_days", 2),
    ("db-host", "db_sizes.txt", "db_sizes", 1),
    ("db-host", "long_transactions-open.txt", "long_transactions", 1),
    ("huawei-optics", "display_transceiver_verbose.txt", None, 2),
])
def test_test_judges_a_sample_like_an_inspection(
        runner: CliRunner, pack: str, sample: str, item: str | None, code: int) -> None:
    args = ["packs", "test", str(EXAMPLES / pack), "--against",
            str(EXAMPLES / pack / "samples" / sample), "--json"]
    result = xunjian(runner, *args, *(["--item", item] if item else []))
    assert result.exit_code == code, result.output
    data = json.loads(result.stdout)
    assert data["pack"] == pack and data["error"] is None
    stopped = sample == "process-stopped.txt"  # pgrep found nothing: no rows, yet parsed
    assert isinstance(data["rows"], list) and bool(data["rows"]) != stopped
    assert data["state"] == ["OK", "WARN", "CRIT"][code]
    assert {r["check"] for r in data["results"]} <= set(load_pack(EXAMPLES / pack)
                                                        .check_names())


def test_test_prints_rows_and_results(runner: CliRunner) -> None:
    result = xunjian(runner, "packs", "test", str(EXAMPLES / "db-host"), "--item", "db_sizes",
                     "--against", str(EXAMPLES / "db-host" / "samples" / "db_sizes.txt"))
    assert result.exit_code == 1, result.output
    assert "Parsed rows (3)" in result.stdout and "Checks of db-host.db_sizes" in result.stdout
    judged = {line.split("│")[2].strip(): line.split("│")[3].strip()
              for line in result.stdout.splitlines() if "│ db-host.database_size" in line}
    assert judged == {"analytics": "WARN", "app": "OK", "postgres": "OK"}


def test_a_template_that_does_not_match_the_output_is_unknown(
        runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "out.txt"
    output.write_text("Error: Unrecognized command found at '^' position.\n", encoding="utf-8")
    result = xunjian(runner, "packs", "test", str(EXAMPLES / "huawei-optics"), "--against",
                     str(output))
    assert result.exit_code == 3
    reason = ("item transceivers: the TextFSM template matched nothing in 1 line of output "
              "(first line: \"Error: Unrecognized command found at '^' position.\"); try the "
              "template on saved outputs with `xunjian packs test`")
    assert result.stderr == f"parse: {reason}\n"
    unknown = [line for line in result.stdout.splitlines() if "UNKNOWN" in line]
    assert len(unknown) == 3
    assert all(f"could not evaluate: huawei-optics.transceivers: {reason}" in line
               for line in unknown)

    as_json = xunjian(runner, "packs", "test", str(EXAMPLES / "huawei-optics"), "--against",
                      str(output), "--json")
    assert as_json.exit_code == 3
    data = json.loads(as_json.stdout)
    assert (data["state"], data["rows"], data["error"]) == ("UNKNOWN", None, reason)
    assert {r["state"] for r in data["results"]} == {"UNKNOWN"}


def test_an_exit_status_outside_ok_exit_codes_is_unknown(runner: CliRunner) -> None:
    result = xunjian(runner, "packs", "test", str(EXAMPLES / "linux-service"), "--item",
                     "process", "--exit-code", "2", "--json", "--against",
                     str(EXAMPLES / "linux-service" / "samples" / "process.txt"))
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"] == "exit status 2 (ok_exit_codes: [0, 1])"
    # pgrep's 1 ("nothing matched") is an answer: the check judges it
    stopped = xunjian(runner, "packs", "test", str(EXAMPLES / "linux-service"), "--item",
                      "process", "--exit-code", "1", "--against",
                      str(EXAMPLES / "linux-service" / "samples" / "process-stopped.txt"))
    assert stopped.exit_code == 2


def test_test_needs_the_item_when_several_have_parsers(runner: CliRunner) -> None:
    sample = str(EXAMPLES / "linux-service" / "samples" / "process.txt")
    result = xunjian(runner, "packs", "test", str(EXAMPLES / "linux-service"), "--against",
                     sample)
    assert result.exit_code == 3
    assert result.stderr == ("error: pack linux-service has 3 items with a parser (process, "
                             "listening, cert_days); say which one the output belongs to with "
                             "--item\n")
    result = xunjian(runner, "packs", "test", str(EXAMPLES / "linux-service"), "--against",
                     sample, "--item", "nope")
    assert result.exit_code == 3
    assert result.stderr == ("error: pack linux-service has no item 'nope' (items: process, "
                             "listening, cert_days)\n")


# -- diff ------------------------------------------------------------------------------------


def test_diff_of_two_packs(runner: CliRunner, tmp_path: Path) -> None:
    new = Path(shutil.copytree(EXAMPLES / "linux-service", tmp_path / "linux-service"))
    same = xunjian(runner, "packs", "diff", str(EXAMPLES / "linux-service"), str(new))
    assert (same.exit_code, same.stdout) == (0, "no changes\n")
    edit_service(new)
    changed = xunjian(runner, "packs", "diff", str(EXAMPLES / "linux-service"), str(new))
    assert changed.exit_code == 1
    assert changed.stdout == ("version 1.0.0 → 1.1.0\n"
                              "item process: command 'pgrep -l -x sshd' → 'pgrep -l -x nginx'\n")


def test_diff_needs_two_packs_or_approved(runner: CliRunner, setup: Setup) -> None:
    one = with_config(runner, setup, "packs", "diff", "linux-service")
    assert one.exit_code == 3
    assert one.stderr == ("error: give OLD and NEW (paths or pack names), or one pack with "
                          "--approved\n")
    both = with_config(runner, setup, "packs", "diff", "linux-service", "db-host",
                       "--approved")
    assert both.exit_code == 3
    assert both.stderr == "error: give one pack with --approved (its approval is the old side)\n"
    never = with_config(runner, setup, "packs", "diff", "linux-service", "--approved")
    assert never.exit_code == 3
    assert never.stderr == "error: pack linux-service has no approval\n"


# -- approve, change, revoke -----------------------------------------------------------------


def approvals(s: Setup) -> ApprovalBook:
    store = Store.open(None, s.data)
    try:
        return ApprovalBook(store.pack_approvals())
    finally:
        store.close()


def test_approve_then_edit_then_diff_and_approve_again(runner: CliRunner, setup: Setup) -> None:
    folder = setup.pack_dir("linux-service")
    old = load_pack(folder)
    approved = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "李雷",
                           "--customer", "acme", "--note", "CAB-1042")
    assert approved.exit_code == 0, approved.output
    assert approved.stdout == (f"approved: linux-service 1.0.0 (sha256 "
                               f"{old.content_hash[:12]}) for customer acme by 李雷\n")
    # web1 selects the pack but is not acme's
    assert approved.stderr == ("note: 1 device(s) selecting linux-service are not covered by "
                               "this approval: web1\n")
    loaded = load_config(setup.config, env=ENV)
    db1 = scopes_of(loaded.device("db1"), loaded.config)
    verdict = approvals(setup).verdict(old, db1)
    assert verdict.status == "approved" and verdict.record is not None
    assert (verdict.record.approved_by, verdict.record.note) == ("李雷", "CAB-1042")

    edit_service(folder)
    new = load_pack(folder)
    verdict = approvals(setup).verdict(new, db1)
    assert verdict.status == "unapproved" and verdict.reason is not None
    assert verdict.reason.startswith(
        f"pack linux-service 1.1.0 (sha256 {new.content_hash[:12]}) changed since 李雷 "
        f"approved 1.0.0 (sha256 {old.content_hash[:12]}) for customer acme on ")
    assert ": version 1.0.0 → 1.1.0; item process: command changed; review the change with " \
           "`xunjian packs diff linux-service --approved --customer acme`" in verdict.reason

    listed = with_config(runner, setup, "packs", "list")
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("│ linux-service")]
    assert "changed since approved for customer acme" in row
    shown = with_config(runner, setup, "packs", "show", "linux-service")
    assert "approval: changed since approved for customer acme" in shown.stdout
    assert (f"李雷 approved 1.0.0 for customer acme (earlier content, sha256 "
            f"{old.content_hash[:12]})") in shown.stdout

    diff = with_config(runner, setup, "packs", "diff", "linux-service", "--approved",
                       "--customer", "acme")
    assert diff.exit_code == 1
    lines = diff.stdout.splitlines()
    assert lines[0].startswith("approved by 李雷 on ") and lines[0].endswith(
        " for customer acme")
    assert lines[1:] == ["version 1.0.0 → 1.1.0",
                         "item process: command 'pgrep -l -x sshd' → 'pgrep -l -x nginx'"]

    again = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "李雷",
                        "--customer", "acme")
    assert again.exit_code == 0
    assert approvals(setup).verdict(new, db1).status == "approved"
    assert with_config(runner, setup, "packs", "diff", "linux-service", "--approved"
                       ).stdout.endswith("no changes\n")


def test_a_changed_script_file_needs_approval_again(runner: CliRunner, plain: Setup) -> None:
    folder = plain.pack_dir("linux-service")
    assert with_config(runner, plain, "packs", "approve", "linux-service", "--by", "Li Lei"
                       ).exit_code == 0
    script = folder / "cert_days.sh"
    script.write_text(script.read_text("utf-8").replace("server.crt", "site.crt"), "utf-8")
    loaded = load_config(plain.config, env=ENV)
    verdict = approvals(plain).verdict(load_pack(folder),
                                       scopes_of(loaded.device("web1"), loaded.config))
    assert verdict.status == "unapproved" and verdict.reason is not None
    assert "for every device on " in verdict.reason
    assert ": item cert_days: script changed; review" in verdict.reason
    diff = with_config(runner, plain, "packs", "diff", "linux-service", "--approved")
    assert diff.exit_code == 1
    assert "    -cert=\"${CERT_FILE:-/etc/nginx/ssl/server.crt}\"" in diff.stdout
    assert "    +cert=\"${CERT_FILE:-/etc/nginx/ssl/site.crt}\"" in diff.stdout


def test_without_customers_an_approval_is_for_every_device(
        runner: CliRunner, plain: Setup) -> None:
    result = with_config(runner, plain, "packs", "approve", "db-host", "--by", "Li Lei")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(" for every device by Li Lei\n") and result.stderr == ""
    [record] = approvals(plain).records
    assert (record.pack_name, record.scope) == ("db-host", "*")


def test_approve_without_customer_when_the_config_has_customers(
        runner: CliRunner, setup: Setup) -> None:
    result = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei")
    assert result.exit_code == 3
    assert result.stderr == ("error: this config has customers (acme): say whose approval this "
                             "is with --customer ID, or --all-devices for every device\n")
    assert approvals(setup).records == []
    every = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei",
                        "--all-devices")
    assert every.exit_code == 0 and "for every device by Li Lei" in every.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--customer", "nope"], "unknown customer nope; customers in the config: acme"),
    (["--customer", "acme", "--all-devices"], "give --customer or --all-devices, not both"),
])
def test_approve_with_wrong_scopes(runner: CliRunner, setup: Setup, args: list[str],
                                   message: str) -> None:
    result = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei",
                         *args)
    assert result.exit_code == 3
    assert result.stderr == f"error: {message}\n"
    assert approvals(setup).records == []


def test_approve_needs_a_name(runner: CliRunner, setup: Setup) -> None:
    result = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "  ",
                         "--customer", "acme")
    assert result.exit_code == 3
    assert result.stderr == "error: --by needs the approver's name\n"


def test_a_broken_or_unknown_pack_cannot_be_approved(runner: CliRunner, setup: Setup) -> None:
    (setup.pack_dir("linux-service") / "cert_days.sh").unlink()
    result = with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei",
                         "--customer", "acme")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: pack 'linux-service' is not valid: pack linux-service: file 'cert_days.sh' is "
        f"referenced but missing (looked beside {setup.pack_dir('linux-service') / PACK_FILE})\n")
    unknown = with_config(runner, setup, "packs", "approve", "acme-web", "--by", "Li Lei",
                          "--customer", "acme")
    assert unknown.exit_code == 3
    assert unknown.stderr == (f"error: no pack named 'acme-web' (built-in packs and "
                              f"packs.paths: {setup.packs})\n")
    assert approvals(setup).records == []


def test_a_pack_whose_template_does_not_compile_cannot_be_approved(
        runner: CliRunner, setup: Setup) -> None:
    template = setup.pack_dir("huawei-optics") / "transceiver_verbose.textfsm"
    template.write_text(template.read_text("utf-8") + "Value broken (\n", encoding="utf-8")
    result = with_config(runner, setup, "packs", "approve", "huawei-optics", "--by", "Li Lei",
                         "--all-devices")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: pack huawei-optics item transceivers: the TextFSM "
                                    "template does not compile: ")
    assert approvals(setup).records == []


def test_revoke(runner: CliRunner, setup: Setup) -> None:
    for args in (["--customer", "acme"], ["--all-devices"]):
        assert with_config(runner, setup, "packs", "approve", "linux-service", "--by", "Li Lei",
                           *args).exit_code == 0
    refused = with_config(runner, setup, "packs", "revoke", "linux-service")
    assert refused.exit_code == 3 and "this config has customers (acme)" in refused.stderr
    result = with_config(runner, setup, "packs", "revoke", "linux-service", "--customer", "acme")
    assert (result.exit_code, result.stdout) == (
        0, "revoked 1 approval(s) of linux-service for customer acme\n")
    assert [r.scope for r in approvals(setup).records] == ["*"]
    result = with_config(runner, setup, "packs", "revoke", "linux-service", "--all-devices")
    assert result.stdout == "revoked 1 approval(s) of linux-service for every device\n"
    listed = with_config(runner, setup, "packs", "list")
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("│ linux-service")]
    assert row.rstrip("│ ").endswith("not approved")
    # nothing left to revoke (or a pack never approved): an error, and nothing half done
    again = with_config(runner, setup, "packs", "revoke", "linux-service", "--all-devices")
    assert again.exit_code == 3
    assert "no approval of linux-service for every device is in force" in again.stderr


def test_show_prints_the_whole_script_the_customer_approves(runner: CliRunner,
                                                             setup: Setup) -> None:
    shown = with_config(runner, setup, "packs", "show", "linux-service")
    script = (setup.pack_dir("linux-service") / "cert_days.sh").read_text()
    for line in script.strip().splitlines():
        assert f"| {line}" in shown.stdout


# -- schema ----------------------------------------------------------------------------------


def test_schema_is_the_committed_docs_pack_schema_json(runner: CliRunner) -> None:
    result = xunjian(runner, "packs", "schema")
    assert result.exit_code == 0
    assert result.stdout == SCHEMA.read_text(encoding="utf-8"), (
        "docs/pack.schema.json is out of date with the pack model: run "
        "`xunjian packs schema -o docs/pack.schema.json` and commit it")


def test_schema_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "pack.schema.json"
    result = xunjian(runner, "packs", "schema", "-o", str(target))
    assert (result.exit_code, result.stdout) == (0, f"wrote {target}\n")
    assert target.read_text(encoding="utf-8") == xunjian(runner, "packs", "schema").stdout
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "xunjian inspection pack"
