"""Packs in the config: ``packs:`` settings, the packs devices select (inherited from defaults and
groups), unknown pack names and platform mismatches with file and line, broken packs as warnings,
and pack check names (PACK.CHECK) in check overrides and waivers."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from agent.errors import ConfigError, ConfigProblem
from checks.builtin import CHECK_NAMES
from collectors.pack import builtin_pack_names
from config.loader import LoadedConfig, default_config, load_config
from config.models import PackSettings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "packs"
HEADER = """\
credentials:
  ops: {username: root, password_env: OPS_PW}
"""
ENV = {"OPS_PW": "pw"}


@pytest.fixture
def packs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "packs"
    for name in ("linux-service", "db-host", "huawei-optics"):
        shutil.copytree(EXAMPLES / name, folder / name)
    return folder


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def load(path: Path) -> LoadedConfig:
    return load_config(path, env=ENV, known_checks=CHECK_NAMES)


def problems_of(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.problems


def unknown(name: str, searched: str) -> str:
    return (f"no pack named {name!r} (built-in packs and packs.paths: {searched}); "
            "`xunjian packs list` shows them")


# -- settings --------------------------------------------------------------------------------


def test_pack_settings_default_to_no_paths_and_custom_approval(tmp_path: Path) -> None:
    assert PackSettings() == PackSettings(paths=[], approval="custom")
    config = write(tmp_path, "c.yaml", HEADER + "devices:\n  - {name: a, address: 10.0.0.1, "
                                                "credentials: ops}\n")
    loaded = load(config)
    assert loaded.config.packs == PackSettings()
    assert loaded.device("a").packs == ()
    assert list(loaded.library.packs) == builtin_pack_names()
    assert loaded.warnings == []
    assert list(default_config().library.packs) == builtin_pack_names()


def test_an_unknown_approval_policy(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + "packs:\n  approval: everything\n")
    assert [str(p) for p in problems_of(config)] == [
        f"{config}:4: packs.approval: Input should be 'custom' or 'all'"]


def test_pack_paths_are_relative_to_the_config_file(tmp_path: Path, packs_dir: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    shutil.move(packs_dir, sub / "packs")
    config = write(sub, "c.yaml", HEADER + "packs:\n  paths: [packs]\n  approval: all\n")
    loaded = load(config)
    assert loaded.library.paths == (sub / "packs",)
    assert loaded.config.packs.approval == "all"
    assert sorted(p.name for p in loaded.library.custom()) == [
        "db-host", "huawei-optics", "linux-service"]
    absolute = write(tmp_path, "abs.yaml", HEADER + f"packs:\n  paths: [{sub / 'packs'}]\n")
    assert load(absolute).library.paths == (sub / "packs",)


# -- which packs a device runs ---------------------------------------------------------------


def test_packs_merge_from_defaults_through_groups_to_the_device(
        tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults:
  credentials: ops
  packs: [linux-service]
groups:
  db: {packs: [db-host, linux-service]}
  edge: {packs: []}
devices:
  - {name: db1, address: 10.0.0.1, groups: [db]}
  - {name: web1, address: 10.0.0.2, packs: [db-host]}
  - {name: edge1, address: 10.0.0.3, groups: [edge], packs: [linux-service]}
""")
    loaded = load(config)
    # defaults' packs first, the device's own last; each pack once
    assert loaded.device("db1").packs == ("linux-service", "db-host")
    assert loaded.device("web1").packs == ("linux-service", "db-host")
    assert loaded.device("edge1").packs == ("linux-service",)


def test_packs_of_several_groups_are_all_run(tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults: {credentials: ops}
groups:
  web: {packs: [linux-service]}
  db: {packs: [db-host]}
devices:
  - {name: both, address: 10.0.0.1, groups: [web, db]}
""")
    assert set(load(config).device("both").packs) == {"linux-service", "db-host"}


# -- unknown packs and platform mismatches ---------------------------------------------------


def test_unknown_pack_names_with_file_and_line(tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults:
  credentials: ops
  packs: [nope-default]
groups:
  db:
    packs: [db-host, nope-group]
devices:
  - name: web1
    address: 10.0.0.1
    packs:
      - linux-service
      - nope-device
""")
    searched = str(packs_dir)
    assert [str(p) for p in problems_of(config)] == [
        f"{config}:{line_of(config, 'nope-default')}: defaults.packs[0]: "
        + unknown("nope-default", searched),
        f"{config}:{line_of(config, 'nope-group')}: groups.db.packs[1]: "
        + unknown("nope-group", searched),
        f"{config}:{line_of(config, 'nope-device')}: devices[0].packs[1]: "
        + unknown("nope-device", searched),
    ]


def test_unknown_packs_in_an_inventory_file_point_at_that_file(
        tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "main.yaml", HEADER + """\
defaults: {credentials: ops}
packs: {paths: [packs]}
inventory: [inv.yaml]
""")
    inventory = write(tmp_path, "inv.yaml", """\
groups:
  web:
    packs: [ghost]
devices:
  - name: w1
    address: 10.0.0.1
    groups: [web]
    packs:
      - linux-service
      - nope
""")
    assert [str(p) for p in problems_of(config)] == [
        f"{inventory}:3: groups.web.packs[0]: " + unknown("ghost", str(packs_dir)),
        f"{inventory}:10: devices[0].packs[1]: " + unknown("nope", str(packs_dir)),
    ]


def test_without_pack_paths_the_message_says_to_set_them(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
defaults: {credentials: ops}
devices:
  - {name: a, address: 10.0.0.1, packs: [acme-web]}
""")
    assert [p.message for p in problems_of(config)] == [
        unknown("acme-web", "none: set packs.paths")]


def test_a_pack_for_another_platform_is_refused(tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults: {credentials: ops}
groups:
  switches: {packs: [linux-service]}
devices:
  - name: sw1
    address: 10.0.0.3
    platform: huawei_vrp
    packs: [linux-service, huawei-optics]
  - name: web1
    address: 10.0.0.1
    packs: [huawei-optics]
  - {name: sw2, address: 10.0.0.4, platform: cisco_ios, groups: [switches]}
""")
    assert [str(p) for p in problems_of(config)] == [
        f"{config}:{line_of(config, 'packs: [linux-service, huawei')}: devices[0].packs: device "
        "sw1 (huawei_vrp) selects pack 'linux-service', which runs on linux only",
        f"{config}:{line_of(config, 'packs: [huawei-optics]')}: devices[1].packs: device web1 "
        "(linux) selects pack 'huawei-optics', which runs on huawei_vrp only",
        # inherited from a group: reported on the device, which is where it went wrong
        f"{config}:{line_of(config, 'name: sw2')}: devices[2].packs: device sw2 (cisco_ios) "
        "selects pack 'linux-service', which runs on linux only",
    ]


def test_linux_packs_run_on_the_local_host(tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
devices:
  - {name: me, address: localhost, platform: local, packs: [linux-service]}
""")
    assert load(config).device("me").packs == ("linux-service",)


# -- broken packs ----------------------------------------------------------------------------


def test_broken_packs_are_warnings_and_the_config_still_loads(
        tmp_path: Path, packs_dir: Path) -> None:
    (packs_dir / "db-host" / "connections.sh").unlink()
    (packs_dir / "writer.yaml").write_text(
        "name: writer\nversion: '1'\nplatforms: [linux]\nitems:\n"
        "  - id: a\n    script: rm -rf /tmp/x\n    read_only: true\n", encoding="utf-8")
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs, missing]}
defaults: {credentials: ops}
devices:
  - {name: db1, address: 10.0.0.1, packs: [db-host]}
""")
    loaded = load(config)
    assert loaded.device("db1").packs == ("db-host",)  # the run makes it UNKNOWN, not the config
    assert [str(w) for w in loaded.warnings] == [
        f"{config}: packs.paths: pack <{tmp_path / 'missing'}> cannot be used: pack directory "
        f"{tmp_path / 'missing'} does not exist or is not a directory (packs.paths) "
        "(no device selects it)",
        f"{config}: packs.paths: pack db-host cannot be used: pack db-host: file "
        f"'connections.sh' is referenced but missing (looked beside "
        f"{packs_dir / 'db-host' / 'pack.yaml'})",
        f"{config}: packs.paths: pack writer cannot be used: pack writer item a: refused the "
        "script: 'rm' writes or changes the system (scripts must only read) "
        "(no device selects it)",
    ]


# -- pack check names in overrides and waivers -----------------------------------------------


def test_pack_check_names_are_accepted_in_overrides_and_waivers(
        tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults:
  credentials: ops
  checks:
    linux-service.cert_expiry: {warn: 45, crit: 14}
groups:
  db:
    packs: [db-host]
    checks:
      db-host.connections_used: {warn: 70}
devices:
  - name: db1
    address: 10.0.0.1
    groups: [db]
    checks:
      db-host.database_size:
        items:
          archive: {warn: 900, crit: 1000}
waivers:
  - {device: db1, check: db-host.long_transactions, reason: batch window, expires: 2030-01-01}
""")
    loaded = load(config)
    checks = loaded.device("db1").checks
    assert checks["linux-service.cert_expiry"].warn == 45
    assert checks["db-host.connections_used"].warn == 70
    assert checks["db-host.database_size"].items["archive"].crit == 1000
    assert loaded.config.waivers[0].check == "db-host.long_transactions"


def test_unknown_pack_check_names_are_refused(tmp_path: Path, packs_dir: Path) -> None:
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults: {credentials: ops}
devices:
  - name: db1
    address: 10.0.0.1
    checks:
      db-host.nosuch: {warn: 1}
waivers:
  - {device: db1, check: acme.cert, reason: r, expires: 2030-01-01}
""")
    problems = problems_of(config)
    assert [(p.path, p.line) for p in problems] == [
        ("waivers[0].check", line_of(config, "check: acme.cert")),
        ("devices[0].checks.db-host.nosuch", line_of(config, "db-host.nosuch")),
    ]
    assert problems[0].message.startswith("unknown check 'acme.cert'; known: ")
    known = problems[1].message.split("; known: ")[1].split(", ")
    assert {"db-host.connections_used", "linux-service.cert_expiry",
            "huawei-optics.rx_power_low", "cpu"} <= set(known)


def test_checks_of_a_broken_pack_are_not_known(tmp_path: Path, packs_dir: Path) -> None:
    (packs_dir / "linux-service" / "cert_days.sh").unlink()
    config = write(tmp_path, "c.yaml", HEADER + """\
packs: {paths: [packs]}
defaults:
  credentials: ops
  checks:
    linux-service.cert_expiry: {warn: 45}
""")
    assert [p.path for p in problems_of(config)] == ["defaults.checks.linux-service.cert_expiry"]
