"""Config loading: inheritance, extra inventory files, every kind of problem with its file, path
and line, credentials and redaction, and ``xunjian config check``."""

from __future__ import annotations

import io
import logging
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.errors import ConfigError, ConfigProblem, CredentialError
from checks.builtin import CHECK_NAMES
from config.loader import (
    CONFIG_ENV,
    LoadedConfig,
    config_path_from,
    default_config,
    format_loc,
    load_config,
)
from config.models import CredentialConfig, parse_business_level
from config.secrets import REDACTED, RedactingFilter, Redactor, resolve_credential

UNKNOWN_KEY = "unknown key (check the spelling; unknown keys are not ignored)"
KNOWN = ", ".join(sorted(CHECK_NAMES))
LEVEL_HELP = (
    "use 1–4 (1 = most critical) or one of critical/high/medium/low, "
    "核心/重要/一般/次要, 一级/二级/三级/四级"
)
ENV = {"OPS_PW": "ops-password", "KEY_PASS": "key-passphrase"}

# Minimal header that makes linux devices valid.
HEADER = """\
credentials:
  ops:
    username: root
    password_env: OPS_PW
defaults:
  credentials: ops
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line where ``needle`` occurs for the ``occurrence``-th time."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


def problems_of(path: Path, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


# -- a full valid config ------------------------------------------------------------------------

FULL = """\
version: 1
ssh:
  connect_timeout: 5
  host_key_policy: tofu
credentials:
  ops:
    username: root
    password_env: OPS_PW
  keyed:
    username: deploy
    key_file: keys/id_ed25519
    passphrase_env: KEY_PASS
defaults:
  credentials: ops
  location: DC1
  business_level: 3
  tags: [managed, prod]
  checks:
    cpu: {warn: 70, crit: 90}
    filesystem:
      items:
        "/data*": {warn: 85}
groups:
  db:
    description: Databases
    credentials: keyed
    port: 2222
    owner: dba-team
    business_level: 核心
    tags: [db, prod]
    checks:
      cpu: {warn: 60}
      filesystem:
        items:
          "/data*": {crit: 95}
  web:
    port: 8022
    owner: web-team
    location: DC2
    business_system: shop
    tags: [web, prod]
    checks:
      cpu: {warn: 50, crit: 80}
      memory: {warn: 75}
devices:
  - name: db1
    address: 10.0.0.1
    groups: [db, web]
    tags: [primary, db]
    serial: SN123
    warranty_end: 2026-12-31
    checks:
      cpu: {crit: 99}
  - name: web1
    address: web1.example.com
    groups: [web]
    port: 22
    business_level: low
    jump_host: db1
  - name: plain
    address: 10.0.0.3
waivers:
  - device: "db*"
    check: filesystem
    item: /data
    reason: migration planned
    expires: 2030-01-01
"""


@pytest.fixture
def full_config(tmp_path: Path) -> Path:
    write(tmp_path, "keys/id_ed25519", "not really a key\n")
    return write(tmp_path, "xunjian.yaml", FULL)


def test_full_config_loads_and_inherits(full_config: Path) -> None:
    loaded = load_config(full_config, env=ENV, known_checks=CHECK_NAMES)
    assert loaded.warnings == []
    assert loaded.source == full_config
    assert loaded.base_dir == full_config.parent
    assert [d.name for d in loaded.devices] == ["db1", "web1", "plain"]
    assert loaded.config.ssh.connect_timeout == 5
    assert loaded.config.ssh.host_key_policy == "tofu"
    assert loaded.config.ssh.retries == 2  # default kept
    assert loaded.config.waivers[0].device == "db*"

    db1 = loaded.device("db1")
    assert db1.address == "10.0.0.1"
    assert db1.groups == ("db", "web")
    assert db1.credentials == "keyed"      # first group beats defaults
    assert db1.port == 2222                # first group beats the later group
    assert db1.owner == "dba-team"
    assert db1.location == "DC2"           # only the later group sets it; beats defaults
    assert db1.business_system == "shop"
    assert db1.business_level == 1         # 核心
    assert db1.tags == ("primary", "db", "prod", "web", "managed")  # union, in order
    assert db1.serial == "SN123"
    assert str(db1.warranty_end) == "2026-12-31"
    assert db1.platform == "linux"
    assert db1.jump_host is None
    assert {k: v.model_dump(exclude_unset=True) for k, v in db1.checks.items()} == {
        "cpu": {"warn": 60, "crit": 99, "items": {}},
        "filesystem": {"items": {"/data*": {"warn": 85, "crit": 95}}},
        "memory": {"warn": 75, "items": {}},
    }

    web1 = loaded.device("web1")
    assert (web1.port, web1.credentials, web1.owner, web1.location) == (
        22, "ops", "web-team", "DC2")
    assert web1.business_level == 4        # low
    assert web1.jump_host == "db1"
    assert web1.tags == ("web", "prod", "managed")
    assert {k: v.model_dump(exclude_unset=True) for k, v in web1.checks.items()} == {
        "cpu": {"warn": 50, "crit": 80, "items": {}},
        "filesystem": {"items": {"/data*": {"warn": 85}}},
        "memory": {"warn": 75, "items": {}},
    }

    plain = loaded.device("plain")
    assert (plain.port, plain.credentials, plain.location, plain.business_level) == (
        22, "ops", "DC1", 3)
    assert plain.groups == ()
    assert plain.tags == ("managed", "prod")
    assert plain.owner is None
    with pytest.raises(KeyError):
        loaded.device("nope")


def test_full_config_credentials(full_config: Path) -> None:
    loaded = load_config(full_config, env=ENV)
    ops = loaded.credential("ops", ENV)
    assert ops.username == "root"
    assert ops.password is not None
    assert ops.password.get_secret_value() == "ops-password"
    assert ops.key_file is None
    assert ops.passphrase is None
    assert "ops-password" not in repr(ops)

    keyed = loaded.credential("keyed", ENV)
    assert keyed.username == "deploy"
    assert keyed.password is None
    assert keyed.key_file == full_config.parent / "keys/id_ed25519"
    assert keyed.passphrase is not None
    assert keyed.passphrase.get_secret_value() == "key-passphrase"
    assert keyed.secret_values() == ["key-passphrase"]
    assert ops.secret_values() == ["ops-password"]


# -- extra inventory files ----------------------------------------------------------------------

def test_inventory_files_are_merged_relative_to_the_config(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    write(conf_dir, "inventory/racks.yaml", """\
        groups:
          rack1:
            location: R1
            tags: [rack1]
        devices:
          - name: r1-a
            address: 10.1.0.1
            groups: [rack1, base]
    """)
    absolute = write(tmp_path, "elsewhere/more.yaml", """\
        devices:
          - name: m1
            address: 10.2.0.1
            groups: [rack1]
    """)
    config = write(conf_dir, "xunjian.yaml", HEADER + f"""\
groups:
  base:
    owner: ops-team
    tags: [base]
devices:
  - name: main1
    address: 10.0.0.1
inventory:
  - inventory/racks.yaml
  - {absolute}
""")
    loaded = load_config(config, env=ENV, known_checks=CHECK_NAMES)
    assert [d.name for d in loaded.devices] == ["main1", "r1-a", "m1"]
    assert sorted(loaded.config.groups) == ["base", "rack1"]
    r1 = loaded.device("r1-a")
    assert (r1.location, r1.owner, r1.credentials, r1.tags) == (
        "R1", "ops-team", "ops", ("rack1", "base"))
    assert loaded.device("m1").location == "R1"


def test_problems_in_an_inventory_file_name_that_file(tmp_path: Path) -> None:
    inv = write(tmp_path, "inv/more.yaml", """\
        groups:
          extra:
            credentials: nosuch
            checks:
              cpux: {}
        devices:
          - name: i1
            address: 10.0.1.1
          - name: i2
            address: 10.0.1.2
            credentials: bad
            checks:
              memoryy: {}
    """)
    config = write(tmp_path, "xunjian.yaml", HEADER + """\
devices:
  - name: m1
    address: 10.0.0.1
inventory: [inv/more.yaml]
""")
    assert problems_of(config, env=ENV, known_checks=CHECK_NAMES) == [
        ConfigProblem(str(inv), "devices[1].credentials",
                      "unknown credential set 'bad'; defined: ops", line_of(inv, "bad")),
        ConfigProblem(str(inv), "groups.extra.credentials", "unknown credential set 'nosuch'",
                      line_of(inv, "nosuch")),
        ConfigProblem(str(inv), "groups.extra.checks.cpux",
                      f"unknown check 'cpux'; known: {KNOWN}", line_of(inv, "cpux")),
        ConfigProblem(str(inv), "devices[1].checks.memoryy",
                      f"unknown check 'memoryy'; known: {KNOWN}", line_of(inv, "memoryy")),
    ]


def test_inventory_file_schema_problems_and_missing_file(tmp_path: Path) -> None:
    inv = write(tmp_path, "inv.yaml", """\
        devices:
          - name: i1
            adress: 10.0.1.1
    """)
    config = write(tmp_path, "xunjian.yaml", HEADER + "inventory: [inv.yaml, gone.yaml]\n")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(inv), "devices[0].address", "required key is missing",
                      line_of(inv, "- name: i1")),
        ConfigProblem(str(inv), "devices[0].adress", UNKNOWN_KEY, line_of(inv, "adress")),
        # Pointed at the main file's `inventory:` entry, where the fix goes.
        ConfigProblem(str(tmp_path / "xunjian.yaml"), "inventory[1]",
                      f"{tmp_path / 'gone.yaml'}: file not found", 7),
    ]


def test_group_defined_twice(tmp_path: Path) -> None:
    inv = write(tmp_path, "inv.yaml", "groups:\n  base: {}\n")
    config = write(tmp_path, "xunjian.yaml", HEADER + "groups:\n  base: {}\n"
                   "inventory: [inv.yaml]\n")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(inv), "groups.base", "group 'base' is defined twice", 2),
    ]


# -- problems: file, path, line, message --------------------------------------------------------

def test_unknown_key_at_top_level(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + "colour: red\n")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "colour", UNKNOWN_KEY, line_of(config, "colour")),
    ]


def test_unknown_key_in_a_device(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - name: a
    address: 10.0.0.1
  - name: b
    address: 10.0.0.2
    hostnmae: b.example.com
""")
    [problem] = problems_of(config, env=ENV)
    assert problem == ConfigProblem(str(config), "devices[1].hostnmae", UNKNOWN_KEY,
                                    line_of(config, "hostnmae"))
    assert "unknown key" in problem.message
    assert str(problem) == f"{config}:{problem.line}: devices[1].hostnmae: {UNKNOWN_KEY}"


def test_business_level_aliases(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - {name: a, address: 10.0.0.1, business_level: 核心}
  - {name: b, address: 10.0.0.2, business_level: 二级}
  - {name: c, address: 10.0.0.3, business_level: low}
  - {name: d, address: 10.0.0.4, business_level: "3"}
  - {name: e, address: 10.0.0.5, business_level: 2}
  - {name: f, address: 10.0.0.6, business_level: " Critical "}
  - {name: g, address: 10.0.0.7}
""")
    loaded = load_config(config, env=ENV)
    assert [d.business_level for d in loaded.devices] == [1, 2, 4, 3, 2, 1, None]


@pytest.mark.parametrize("value", ["urgent", "0", "5"])
def test_invalid_business_level(tmp_path: Path, value: str) -> None:
    config = write(tmp_path, "c.yaml", HEADER + f"""\
devices:
  - name: a
    address: 10.0.0.1
  - name: b
    address: 10.0.0.2
  - name: c
    address: 10.0.0.3
  - name: d
    address: 10.0.0.4
    business_level: "{value}"
""")
    [problem] = problems_of(config, env=ENV)
    assert (problem.file, problem.path, problem.line) == (
        str(config), "devices[3].business_level", line_of(config, "business_level"))
    if value == "urgent":
        assert problem.message == f"unknown business level 'urgent': {LEVEL_HELP}"
    else:
        bound = "greater than or equal to 1" if value == "0" else "less than or equal to 4"
        assert problem.message == f"Input should be {bound}"


def test_parse_business_level_directly() -> None:
    assert parse_business_level("核心") == 1
    assert parse_business_level("P2") == 2
    assert parse_business_level(3) == 3
    with pytest.raises(ValueError, match="unknown business level 'urgent'"):
        parse_business_level("urgent")


def test_missing_address(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - name: a
    port: 22
""")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "devices[0].address", "required key is missing",
                      line_of(config, "- name: a")),
    ]


def test_malformed_yaml(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        devices:
          - name: a
            address: [unclosed
          - name: b
    """)
    assert problems_of(config) == [
        ConfigProblem(str(config), "", "invalid YAML: expected ',' or ']', but got ':'", 4),
    ]
    bad_indent = write(tmp_path, "d.yaml", "credentials:\n  ops:\n    username: x\n   bad: 1\n")
    [problem] = problems_of(bad_indent)
    assert (problem.path, problem.line) == ("", 4)
    assert problem.message.startswith("invalid YAML: ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", "- a\n- b\n")
    assert problems_of(config) == [
        ConfigProblem(str(config), "", "expected a mapping at the top of the file"),
    ]


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "c.yaml", ""), env={})
    assert loaded.devices == []
    assert loaded.warnings == []


def test_inline_password_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        credentials:
          ops:
            username: root
            password: hunter2
    """)
    [problem] = problems_of(config)
    assert problem == ConfigProblem(
        str(config), "credentials.ops",
        "inline 'password' is not allowed: secrets never go in the YAML; use password_env "
        "(an environment variable name) or password_file (a path)",
        line_of(config, "ops:"),
    )
    assert "hunter2" not in str(problem)


def test_credential_source_rules(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        credentials:
          both:
            username: a
            password_env: A
            password_file: /x
          nokey:
            username: b
            passphrase_env: B
    """)
    assert problems_of(config) == [
        ConfigProblem(str(config), "credentials.both",
                      "give password_env or password_file, not both", line_of(config, "both:")),
        ConfigProblem(str(config), "credentials.nokey", "a passphrase needs a key_file",
                      line_of(config, "nokey:")),
    ]


def test_duplicate_device_names(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - name: a
    address: 10.0.0.1
  - name: b
    address: 10.0.0.2
  - name: a
    address: 10.0.0.3
""")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "devices[2].name",
                      f"duplicate device name 'a' (first defined at {config}: devices[0]); "
                      "device names must be unique", line_of(config, "- name: a", 2)),
    ]


def test_unknown_group(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
groups:
  db: {}
  web: {}
devices:
  - name: a
    address: 10.0.0.1
    groups: [db, dbs]
""")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "devices[0].groups",
                      "unknown group 'dbs'; defined groups: db, web",
                      line_of(config, "groups: [db, dbs]")),
    ]


def test_unknown_group_with_no_groups_defined(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + "devices:\n  - {name: a, address: x, "
                   "groups: [g]}\n")
    [problem] = problems_of(config, env=ENV)
    assert problem.message == "unknown group 'g'; defined groups: none"


def test_unknown_credential_set(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
groups:
  db:
    credentials: dba
devices:
  - name: a
    address: 10.0.0.1
    credentials: nosuch
  - name: b
    address: 10.0.0.2
    groups: [db]
""")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "devices[0].credentials",
                      "unknown credential set 'nosuch'; defined: ops",
                      line_of(config, "credentials: nosuch")),
        # inherited: reported on the device (at the device, which does not set it) ...
        ConfigProblem(str(config), "devices[1].credentials",
                      "unknown credential set 'dba'; defined: ops", line_of(config, "- name: b")),
        # ... and on the group
        ConfigProblem(str(config), "groups.db.credentials", "unknown credential set 'dba'",
                      line_of(config, "credentials: dba")),
    ]


def test_linux_device_without_credentials(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        devices:
          - name: here
            address: localhost
            platform: local
          - name: there
            address: 10.0.0.2
    """)
    assert problems_of(config) == [
        ConfigProblem(str(config), "devices[1].credentials",
                      "a linux device needs a credential set (here, in a group or in defaults)",
                      line_of(config, "- name: there")),
    ]


def test_jump_host_not_in_inventory_and_self(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - name: a
    address: 10.0.0.1
    jump_host: bastion
  - name: b
    address: 10.0.0.2
    jump_host: b
  - name: c
    address: 10.0.0.3
    jump_host: a
""")
    assert problems_of(config, env=ENV) == [
        ConfigProblem(str(config), "devices[0].jump_host",
                      "jump_host 'bastion' is not a device in the inventory",
                      line_of(config, "jump_host: bastion")),
        ConfigProblem(str(config), "devices[1].jump_host", "a device cannot be its own jump host",
                      line_of(config, "jump_host: b", 2)),
    ]


def test_unknown_check_names(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
  checks:
    cpu: {warn: 50}
    cpuu: {warn: 50}
groups:
  g:
    checks:
      disk: {}
devices:
  - name: a
    address: 10.0.0.1
    checks:
      memory: {}
      mem: {}
waivers:
  - check: reachable
    reason: decommissioning
    expires: 2030-01-01
  - check: filesystems
    reason: typo
    expires: 2030-01-01
""")
    assert problems_of(config, env=ENV, known_checks=CHECK_NAMES) == [
        ConfigProblem(str(config), "waivers[1].check",
                      f"unknown check 'filesystems'; known: {KNOWN}",
                      line_of(config, "check: filesystems")),
        ConfigProblem(str(config), "defaults.checks.cpuu", f"unknown check 'cpuu'; known: {KNOWN}",
                      line_of(config, "cpuu:")),
        ConfigProblem(str(config), "groups.g.checks.disk", f"unknown check 'disk'; known: {KNOWN}",
                      line_of(config, "disk:")),
        ConfigProblem(str(config), "devices[0].checks.mem", f"unknown check 'mem'; known: {KNOWN}",
                      line_of(config, "mem: {}")),
    ]
    # without known_checks, check names are not judged
    assert len(load_config(config, env=ENV).devices) == 1


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
ssh:
  workers: 0
devices:
  - name: a
    address: 10.0.0.1
    business_level: urgent
  - name: b
    adress: 10.0.0.2
""")
    with pytest.raises(ConfigError) as info:
        load_config(config, env=ENV)
    assert info.value.problems == [
        ConfigProblem(str(config), "ssh.workers", "Input should be greater than or equal to 1",
                      line_of(config, "workers")),
        ConfigProblem(str(config), "devices[0].business_level",
                      f"unknown business level 'urgent': {LEVEL_HELP}",
                      line_of(config, "business_level")),
        ConfigProblem(str(config), "devices[1].address", "required key is missing",
                      line_of(config, "- name: b")),
        ConfigProblem(str(config), "devices[1].adress", UNKNOWN_KEY, line_of(config, "adress")),
    ]
    assert str(info.value).startswith("4 problem(s) in the configuration:\n  ")
    assert f"  {config}:{line_of(config, 'adress')}: devices[1].adress: " in str(info.value)


def test_three_cross_reference_problems(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - {name: a, address: 10.0.0.1, groups: [nope]}
  - {name: a, address: 10.0.0.2}
  - {name: c, address: 10.0.0.3, jump_host: z}
""")
    assert [(p.path, p.line) for p in problems_of(config, env=ENV)] == [
        ("devices[0].groups", line_of(config, "nope")),
        ("devices[1].name", line_of(config, "10.0.0.2")),
        ("devices[2].jump_host", line_of(config, "jump_host: z")),
    ]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.problems == [ConfigProblem(str(missing), "", "file not found")]
    assert str(info.value.problems[0]) == f"{missing}: <root>: file not found"


# -- credentials --------------------------------------------------------------------------------

def test_missing_env_var_is_a_warning(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + "devices:\n  - {name: a, address: 10.0.0.1}\n")
    message = ("credential set 'ops': environment variable OPS_PW (its password) is not set; "
               "export it before running xunjian")
    loaded = load_config(config, env={})
    assert loaded.warnings == [ConfigProblem(str(config), "credentials.ops", message)]
    assert [d.name for d in loaded.devices] == ["a"]
    with pytest.raises(CredentialError) as info:
        loaded.credential("ops", {})
    assert str(info.value) == message
    assert "OPS_PW" in str(info.value)
    assert loaded.credential("ops", {"OPS_PW": "x"}).password is not None


def test_password_file_is_read_and_stripped(tmp_path: Path) -> None:
    write(tmp_path, "secrets/ops.pw", "s3cret pass\n")
    (tmp_path / "secrets/crlf.pw").write_bytes(b"other\r\n")
    config = write(tmp_path, "c.yaml", """\
        credentials:
          ops:
            username: root
            password_file: secrets/ops.pw
          crlf:
            username: root
            password_file: secrets/crlf.pw
    """)
    loaded = load_config(config, env={})
    assert loaded.warnings == []
    ops = loaded.credential("ops")
    assert ops.password is not None
    assert ops.password.get_secret_value() == "s3cret pass"
    crlf = loaded.credential("crlf")
    assert crlf.password is not None
    assert crlf.password.get_secret_value() == "other"


def test_unreadable_password_file(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        credentials:
          ops:
            username: root
            password_file: nope.pw
    """)
    loaded = load_config(config, env={})
    assert loaded.warnings == [ConfigProblem(
        str(config), "credentials.ops",
        f"credential set 'ops': cannot read its password file {tmp_path / 'nope.pw'}: "
        "No such file or directory")]


def test_missing_key_file(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", """\
        credentials:
          keyed:
            username: deploy
            key_file: keys/missing
    """)
    message = (f"credential set 'keyed': key file {tmp_path / 'keys/missing'} does not exist "
               "or is not a file")
    loaded = load_config(config, env={})
    assert loaded.warnings == [ConfigProblem(str(config), "credentials.keyed", message)]
    with pytest.raises(CredentialError) as info:
        loaded.credential("keyed", {})
    assert str(info.value) == message


def test_resolve_credential_with_absolute_key_and_passphrase_file(tmp_path: Path) -> None:
    key = write(tmp_path, "id_rsa", "key\n")
    write(tmp_path, "pass.txt", "phrase\n\n")
    cred = CredentialConfig(username="u", key_file=key, passphrase_file=Path("pass.txt"))
    resolved = resolve_credential("k", cred, {}, tmp_path)
    assert resolved.key_file == key
    assert resolved.passphrase is not None
    assert resolved.passphrase.get_secret_value() == "phrase"
    assert resolved.password is None
    assert resolved.secret_values() == ["phrase"]


# -- redaction ----------------------------------------------------------------------------------

def test_redactor_replaces_secrets_longest_first() -> None:
    redact = Redactor(["abc", "abcdef"])
    assert redact("x abcdef y abc z") == f"x {REDACTED} y {REDACTED} z"
    assert redact("abcdefabc") == REDACTED * 2
    assert redact("nothing here") == "nothing here"


def test_redactor_ignores_empty_and_very_short_values() -> None:
    redact = Redactor(["", "ab"])
    assert redact("ab cd") == "ab cd"
    redact.add(["cd e"])
    assert redact("ab cd e") == f"ab {REDACTED}"


@pytest.fixture
def secret_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor(["hunter2", "ops-password"])))
    logger = logging.getLogger("tests.config.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_redacting_filter_redacts_message_and_args(
    secret_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = secret_logger
    logger.warning("login with %s for %s", "hunter2", "root")
    logger.info("password is ops-password")
    logger.info("nothing %s", "secret-free")
    assert stream.getvalue().splitlines() == [
        f"WARNING login with {REDACTED} for root",
        f"INFO password is {REDACTED}",
        "INFO nothing secret-free",
    ]


def test_redacting_filter_redacts_exception_text(
    secret_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = secret_logger
    try:
        raise RuntimeError("auth failed for password hunter2")
    except RuntimeError:
        logger.exception("connect %s", "ops-password")
    text = stream.getvalue()
    assert "hunter2" not in text
    assert "ops-password" not in text
    assert text.startswith(f"ERROR connect {REDACTED}\nTraceback (most recent call last):")
    assert text.rstrip().endswith(f"RuntimeError: auth failed for password {REDACTED}")


def test_redacting_filter_with_caplog(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.config.redaction.caplog")
    redacting = RedactingFilter(Redactor(["hunter2"]))
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("pw=%s", "hunter2")
    finally:
        logger.removeFilter(redacting)
    assert caplog.messages == [f"pw={REDACTED}"]


# -- defaults and helpers -----------------------------------------------------------------------

def test_default_config_is_the_local_host() -> None:
    loaded = default_config()
    assert isinstance(loaded, LoadedConfig)
    assert loaded.source is None
    assert loaded.base_dir == Path.cwd()
    assert loaded.warnings == []
    [dev] = loaded.devices
    assert dev.name == (socket.gethostname() or "localhost")
    assert (dev.address, dev.platform, dev.port, dev.credentials) == (
        "localhost", "local", 22, None)
    assert loaded.config.credentials == {}


def test_format_loc() -> None:
    assert format_loc(["devices", 3, "business_level"]) == "devices[3].business_level"
    assert format_loc(["credentials", "ops"]) == "credentials.ops"
    assert format_loc([]) == ""
    assert format_loc(["waivers", 0, "check"]) == "waivers[0].check"


def test_config_path_from() -> None:
    assert config_path_from("a.yaml", {CONFIG_ENV: "b.yaml"}) == Path("a.yaml")
    assert config_path_from(None, {CONFIG_ENV: "b.yaml"}) == Path("b.yaml")
    assert config_path_from(None, {}) is None


# -- CLI ----------------------------------------------------------------------------------------

@pytest.fixture
def cli_runner() -> Iterator[CliRunner]:
    """The CLI points the root logger at its own stderr handler; put the old ones back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    paramiko_level = logging.getLogger("paramiko").level
    try:
        yield CliRunner(env={"COLUMNS": "1000", CONFIG_ENV: None})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("paramiko").setLevel(paramiko_level)


def test_cli_config_check_ok(cli_runner: CliRunner, full_config: Path) -> None:
    from agent.cli import main

    result = cli_runner.invoke(main, ["config", "check", str(full_config)],
                               env={**ENV, "COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"ok: {full_config}: 3 device(s), 2 group(s), 2 credential set(s), 0 plan(s), "
        "0 customer(s), 0 custom pack(s)")
    assert result.stderr == ""


def test_cli_config_check_prints_warnings(cli_runner: CliRunner, tmp_path: Path) -> None:
    from agent.cli import main

    config = write(tmp_path, "c.yaml", HEADER + "devices:\n  - {name: a, address: 10.0.0.1}\n")
    result = cli_runner.invoke(main, ["config", "check", str(config)],
                               env={"OPS_PW": None, "COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ")
    assert result.stderr == (
        f"warning: {config}: credentials.ops: credential set 'ops': environment variable "
        "OPS_PW (its password) is not set; export it before running xunjian\n")


def test_cli_config_check_lists_every_problem(cli_runner: CliRunner, tmp_path: Path) -> None:
    from agent.cli import main

    config = write(tmp_path, "c.yaml", HEADER + """\
devices:
  - name: a
    address: 10.0.0.1
    business_level: urgent
  - name: b
    adress: 10.0.0.2
""")
    result = cli_runner.invoke(main, ["config", "check", str(config)],
                               env={**ENV, "COLUMNS": "1000"})
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"error: {config}:{line_of(config, 'business_level')}: devices[0].business_level: "
        f"unknown business level 'urgent': {LEVEL_HELP}",
        f"error: {config}:{line_of(config, '- name: b')}: devices[1].address: "
        "required key is missing",
        f"error: {config}:{line_of(config, 'adress')}: devices[1].adress: {UNKNOWN_KEY}",
        f"3 problem(s) in {config}",
    ]


def test_cli_config_check_unknown_check(cli_runner: CliRunner, tmp_path: Path) -> None:
    from agent.cli import main

    config = write(tmp_path, "c.yaml", HEADER + "  checks:\n    cpux: {}\n")
    result = cli_runner.invoke(main, ["config", "check", str(config)],
                               env={**ENV, "COLUMNS": "1000"})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: {config}:{line_of(config, 'cpux')}: defaults.checks.cpux: "
        f"unknown check 'cpux'; known: {KNOWN}")
