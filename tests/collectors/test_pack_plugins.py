"""Parser and check plugins discovered through entry points of a real distribution on disk."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import PackError, ParseError
from checks.builtin import Measurement
from checks.model import State
from collectors import pack_plugins
from collectors.pack import Pack
from collectors.pack_parsers import check_parsers, parse_output
from collectors.pack_plugins import (
    CHECK_GROUP,
    PARSER_GROUP,
    check_plugin,
    installed,
    parser_plugin,
)

MODULE = "xj_demo_plugins"

PLUGIN_SOURCE = '''
from checks.builtin import Measurement
from checks.model import State

CALLS = []
NOT_A_FUNCTION = 42


def haproxy_stat(output, options):
    CALLS.append(dict(options))
    lines = [l for l in output.splitlines() if l and not l.startswith("#")]
    rows = []
    for line in lines:
        cells = line.split(options.get("separator", ","))
        rows.append({"backend": cells[0], "server": cells[1], "status": cells[2]})
    return rows


def explode(output, options):
    raise ValueError("unexpected banner " + output[:10])


def not_a_list(output, options):
    return {"rows": 1}


def bad_rows(output, options):
    return [{"ok": 1}, "two"]


def down_servers(rows, options):
    down = [r for r in rows if r["status"] != "UP"]
    if not down:
        return [Measurement(None, 0, "all servers UP", State.OK)]
    return [Measurement(r["server"], r["status"], f"{r['server']} is {r['status']}",
                        State.CRIT) for r in down]
'''

ENTRY_POINTS = f"""
[{PARSER_GROUP}]
haproxy_stat = {MODULE}:haproxy_stat
explode = {MODULE}:explode
not_a_list = {MODULE}:not_a_list
bad_rows = {MODULE}:bad_rows
broken = xj_missing_module:parse
constant = {MODULE}:NOT_A_FUNCTION

[{CHECK_GROUP}]
down_servers = {MODULE}:down_servers
"""

HAPROXY = "# pxname,svname,status\nweb,web1,UP\nweb,web2,DOWN\napi,api1,UP\n"


def install(root: Path, name: str, entry_points: str) -> None:
    """A distribution as pip leaves it: the module and NAME-1.0.dist-info/."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    install(tmp_path, "xj_demo_plugins", ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    pack_plugins.clear_cache()
    yield tmp_path
    pack_plugins.clear_cache()
    sys.modules.pop(MODULE, None)


def plugin_pack(name: str, options: dict[str, Any] | None = None) -> Pack:
    return Pack.model_validate({
        "name": "lb", "version": "1", "platforms": ["linux"],
        "items": [{"id": "haproxy", "command": "echo 'show stat' | socat - /run/haproxy.sock",
                   "parser": {"type": "plugin", "name": name, "options": options or {}}}],
    })


def parse(name: str, output: str = HAPROXY, options: dict[str, Any] | None = None) -> Any:
    pack = plugin_pack(name, options)
    return parse_output(pack, pack.items[0], output)


# -- discovery -------------------------------------------------------------------------------


def test_parser_plugin_is_discovered_and_called(demo: Path) -> None:
    plugin = parser_plugin("haproxy_stat")
    assert plugin("web,web1,UP\n", {}) == [{"backend": "web", "server": "web1", "status": "UP"}]
    assert installed(PARSER_GROUP) == ["bad_rows", "broken", "constant", "explode",
                                       "haproxy_stat", "not_a_list"]
    assert installed(CHECK_GROUP) == ["down_servers"]


def test_lookups_are_cached_until_cleared(demo: Path) -> None:
    assert parser_plugin("haproxy_stat") is parser_plugin("haproxy_stat")
    first = parser_plugin("haproxy_stat")
    sys.modules.pop(MODULE)
    assert parser_plugin("haproxy_stat") is first
    pack_plugins.clear_cache()
    assert parser_plugin("haproxy_stat") is not first  # re-imported from disk


def test_check_plugin_is_discovered_and_returns_measurements(demo: Path) -> None:
    rows = parser_plugin("haproxy_stat")(HAPROXY, {})
    assert check_plugin("down_servers")(rows, {}) == [
        Measurement("web2", "DOWN", "web2 is DOWN", State.CRIT)]


def test_parse_output_runs_the_plugin_with_its_options(demo: Path) -> None:
    rows = parse("haproxy_stat", "web;web1;MAINT\n", {"separator": ";"})
    assert rows == [{"backend": "web", "server": "web1", "status": "MAINT"}]
    assert sys.modules[MODULE].CALLS == [{"separator": ";"}]


def test_check_parsers_accepts_an_installed_plugin(demo: Path) -> None:
    check_parsers(plugin_pack("haproxy_stat"))


# -- failures --------------------------------------------------------------------------------


def test_unknown_name_lists_what_is_installed(demo: Path) -> None:
    with pytest.raises(PackError) as info:
        parser_plugin("nginx_status")
    assert str(info.value) == (
        "no parser plugin named nginx_status (entry point group xunjian.parsers; installed: "
        "bad_rows, broken, constant, explode, haproxy_stat, not_a_list); install the package "
        "that provides it or fix the name")
    with pytest.raises(PackError, match=r"^no check plugin named haproxy_stat \(entry point "
                                        r"group xunjian.checks; installed: down_servers\)"):
        check_plugin("haproxy_stat")


def test_unknown_name_with_nothing_installed_says_none() -> None:
    pack_plugins.clear_cache()
    if installed(CHECK_GROUP):
        pytest.skip("this environment has check plugins installed")
    with pytest.raises(PackError, match=r"installed: none\); install the package"):
        check_plugin("anything")


def test_a_plugin_installed_later_is_found_without_clearing(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    pack_plugins.clear_cache()
    with pytest.raises(PackError):
        parser_plugin("haproxy_stat")
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    install(tmp_path, "xj_demo_plugins", ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert parser_plugin("haproxy_stat")("a,b,UP", {})[0]["status"] == "UP"
    finally:
        pack_plugins.clear_cache()
        sys.modules.pop(MODULE, None)


def test_import_error_is_a_pack_error(demo: Path) -> None:
    with pytest.raises(PackError) as info:
        parser_plugin("broken")
    assert str(info.value) == ("parser plugin broken (xj_missing_module:parse) could not be "
                               "loaded: ModuleNotFoundError: No module named 'xj_missing_module'")


def test_not_callable_is_a_pack_error(demo: Path) -> None:
    with pytest.raises(PackError) as info:
        parser_plugin("constant")
    assert str(info.value) == ("parser plugin constant (xj_demo_plugins:NOT_A_FUNCTION) is not "
                               "callable but a int; the entry point must name a function")


def test_same_name_from_two_distributions_is_refused(demo: Path) -> None:
    install(demo, "xj_rival", f"[{PARSER_GROUP}]\nhaproxy_stat = xj_rival:parse\n")
    with pytest.raises(PackError, match=r"^parser plugin haproxy_stat is registered more than "
                                        r"once in xunjian.parsers \(xj_demo_plugins:haproxy_stat,"
                                        r" xj_rival:parse\)"):
        parser_plugin("haproxy_stat")


def test_check_parsers_names_pack_and_item_of_a_broken_plugin(demo: Path) -> None:
    with pytest.raises(PackError, match=r"^pack lb item haproxy: parser plugin broken "
                                        r"\(xj_missing_module:parse\) could not be loaded"):
        check_parsers(plugin_pack("broken"))


@pytest.mark.parametrize(("name", "message"), [
    ("explode", "item haproxy: plugin explode failed: ValueError: unexpected banner # pxname,s"),
    ("not_a_list", "item haproxy: plugin not_a_list returned a dict, not a list of rows "
                   "(dicts); fix the plugin"),
    ("bad_rows", "item haproxy: plugin bad_rows returned a row that is a str, not a dict; fix "
                 "the plugin"),
    ("nginx_status", "item haproxy: no parser plugin named nginx_status (entry point group "
                     "xunjian.parsers; installed: bad_rows, broken, constant, explode, "
                     "haproxy_stat, not_a_list); install the package that provides it or fix "
                     "the name"),
    ("broken", "item haproxy: parser plugin broken (xj_missing_module:parse) could not be "
               "loaded: ModuleNotFoundError: No module named 'xj_missing_module'"),
])
def test_parse_output_turns_plugin_failures_into_parse_errors(demo: Path, name: str,
                                                              message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(name)
    assert str(info.value) == message
