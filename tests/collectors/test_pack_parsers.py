"""Pack output parsers on real command output, and every way they refuse it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import PackError, ParseError
from collectors.pack import Pack
from collectors.pack_parsers import check_parsers, parse_output

FIXTURES = Path(__file__).parent / "fixtures" / "packs"
TEMPLATE = (FIXTURES / "ip_addr.textfsm").read_text()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def make_pack(parser: dict[str, Any], item: str = "probe",
              files: dict[str, str] | None = None) -> Pack:
    return Pack.model_validate({
        "name": "demo", "version": "1", "platforms": ["linux"],
        "items": [{"id": item, "command": "true", "parser": parser}],
        "files": files or {},
    })


def parse(parser: dict[str, Any], output: str, files: dict[str, str] | None = None,
          item: str = "probe") -> list[dict[str, Any]]:
    pack = make_pack(parser, item, files)
    return parse_output(pack, pack.items[0], output)


def parse_error(parser: dict[str, Any], output: str, **kwargs: Any) -> str:
    with pytest.raises(ParseError) as info:
        parse(parser, output, **kwargs)
    return str(info.value)


# -- textfsm ---------------------------------------------------------------------------------


def test_textfsm_template_file_rows_keyed_by_values_and_lists_stay_lists() -> None:
    rows = parse({"type": "textfsm", "template": "ip_addr.textfsm"}, fixture("ip_addr.txt"),
                 files={"ip_addr.textfsm": TEMPLATE})
    assert rows == [
        {"name": "lo", "state": "UNKNOWN", "mtu": "65536", "inet": ["127.0.0.1/8"]},
        {"name": "eth0", "state": "UP", "mtu": "1500", "inet": ["10.0.2.15/24", "10.0.2.16/24"]},
        {"name": "eth1", "state": "DOWN", "mtu": "1500", "inet": []},
    ]


def test_textfsm_inline_template() -> None:
    template = ("Value subject (.+)\nValue not_after (.+)\n\nStart\n"
                "  ^subject=\\s*${subject}\n  ^notAfter=${not_after} -> Record\n")
    output = ("subject=CN = www.example.com\nnotAfter=Mar 15 12:00:00 2025 GMT\n"
              "subject=CN = api.example.com\nnotAfter=Jan  2 00:00:00 2026 GMT\n")
    assert parse({"type": "textfsm", "inline": template}, output) == [
        {"subject": "CN = www.example.com", "not_after": "Mar 15 12:00:00 2025 GMT"},
        {"subject": "CN = api.example.com", "not_after": "Jan  2 00:00:00 2026 GMT"},
    ]


def test_textfsm_matching_nothing_names_item_line_count_and_first_line() -> None:
    output = "\n".join(["bash: ip: command not found", *["x"] * 11])
    message = parse_error({"type": "textfsm", "inline": TEMPLATE}, output, item="certs")
    assert message == ("item certs: the TextFSM template matched nothing in 12 lines of output "
                       "(first line: 'bash: ip: command not found'); try the template "
                       "on saved outputs with `xunjian packs test`")


def test_textfsm_error_state_is_a_parse_error_with_a_short_input_line() -> None:
    template = 'Value n (\\d+)\n\nStart\n  ^${n} -> Record\n  ^ERROR -> Error "device refused"\n'
    output = "1\n2\nERROR " + "z" * 200 + "\n"
    message = parse_error({"type": "textfsm", "inline": template}, output)
    assert message.startswith('item probe: the TextFSM template rejected the output: Error: '
                              '"device refused". Rule Line: 5. Input Line: ')
    assert message.endswith("'ERROR " + "z" * 74 + "…'")


def test_textfsm_missing_template_file_is_a_parse_error() -> None:
    message = parse_error({"type": "textfsm", "template": "gone.textfsm"}, "eth0 up")
    assert message == ("item probe: TextFSM template file 'gone.textfsm' is not part of the "
                       "pack; put it beside pack.yaml and reload the pack")


def test_textfsm_broken_template_at_parse_time_is_a_parse_error() -> None:
    message = parse_error({"type": "textfsm", "inline": "Value A (\\d+\n\nStart\n  ^${A}\n"},
                          "1")
    assert message == ("item probe: the TextFSM template does not compile: Value '(\\d+' must "
                       "be contained within a '()' pair. Line 1.; run `xunjian packs validate`")


# -- regex -----------------------------------------------------------------------------------


PSQL = r"^(?P<datname>\w+)\|(?P<numbackends>\d+)\|(?P<xact_rollback>\d+)$"


def test_regex_one_row_per_match_of_psql_unaligned_output() -> None:
    rows = parse({"type": "regex", "pattern": PSQL}, fixture("psql_A.txt"))
    assert rows == [
        {"datname": "postgres", "numbackends": "3", "xact_rollback": "12"},
        {"datname": "billing", "numbackends": "41", "xact_rollback": "0"},
        {"datname": "template1", "numbackends": "0", "xact_rollback": "0"},
    ]


def test_regex_no_match_is_no_rows_not_an_error() -> None:
    assert parse({"type": "regex", "pattern": r"^(?P<pid>\d+) nginx$"}, "1 systemd\n") == []


def test_regex_ignore_case_only_when_asked() -> None:
    output = "Leap status     : NORMAL\n"
    pattern = r"^Leap status\s+: (?P<leap>normal)$"
    assert parse({"type": "regex", "pattern": pattern}, output) == []
    assert parse({"type": "regex", "pattern": pattern, "ignore_case": True}, output) == [
        {"leap": "NORMAL"}]


def test_regex_unmatched_optional_group_is_none() -> None:
    rows = parse({"type": "regex", "pattern": r"^(?P<name>\w+)(?: (?P<pid>\d+))?$"},
                 "cron 412\nsshd\n")
    assert rows == [{"name": "cron", "pid": "412"}, {"name": "sshd", "pid": None}]


# -- jsonpath --------------------------------------------------------------------------------


def test_jsonpath_default_whole_list_gives_each_objects_scalar_members() -> None:
    rows = parse({"type": "jsonpath"}, fixture("ip_j_addr.json"))
    assert [r["ifname"] for r in rows] == ["lo", "eth0", "eth1"]
    assert rows[1]["operstate"] == "UP"
    assert rows[1]["mtu"] == 1500
    assert "addr_info" not in rows[1]
    assert "flags" not in rows[1]


def test_jsonpath_fields_take_first_match_or_none() -> None:
    rows = parse({"type": "jsonpath", "path": "$[*]",
                  "fields": {"name": "ifname", "state": "operstate",
                             "ipv4": "addr_info[?(@.family=='inet')].local"}},
                 fixture("ip_j_addr.json"))
    assert rows == [
        {"name": "lo", "state": "UNKNOWN", "ipv4": "127.0.0.1"},
        {"name": "eth0", "state": "UP", "ipv4": "10.0.2.15"},
        {"name": "eth1", "state": "DOWN", "ipv4": None},
    ]


def test_jsonpath_path_selecting_nested_objects() -> None:
    rows = parse({"type": "jsonpath", "path": "$[*].addr_info[?(@.scope=='global')]"},
                 fixture("ip_j_addr.json"))
    assert rows == [{"family": "inet", "local": "10.0.2.15", "prefixlen": 24,
                     "broadcast": "10.0.2.255", "scope": "global", "dynamic": True,
                     "label": "eth0", "valid_life_time": 86204, "preferred_life_time": 86204}]


def test_jsonpath_scalar_matches_become_value_rows() -> None:
    rows = parse({"type": "jsonpath", "path": "$[*].mtu"}, fixture("ip_j_addr.json"))
    assert rows == [{"value": 65536}, {"value": 1500}, {"value": 1500}]


def test_jsonpath_selected_empty_list_means_no_rows() -> None:
    assert parse({"type": "jsonpath", "path": "$.items"}, '{"items": []}') == []
    assert parse({"type": "jsonpath"}, "[]") == []


def test_jsonpath_path_matching_nothing_is_an_error() -> None:
    message = parse_error({"type": "jsonpath", "path": "$.interfaces[*]"},
                          '{"items": [], "kind": "List"}')
    assert message == ("item probe: JSONPath '$.interfaces[*]' matched nothing in the JSON "
                       "output (top level: an object with keys items, kind); try the path on "
                       "saved outputs with `xunjian packs test`")


def test_jsonpath_output_that_is_not_json() -> None:
    message = parse_error({"type": "jsonpath"}, "Usage: ip [ OPTIONS ] OBJECT { COMMAND }\n")
    assert message == ("item probe: output is not JSON: Expecting value at line 1 column 1 "
                       "(near 'Usage: ip [ OPTIONS ] OBJECT { COMMAND }'); make the command "
                       "print JSON (e.g. `-j`, `--json`, `-o json`)")


def test_jsonpath_invalid_expression_at_parse_time() -> None:
    message = parse_error({"type": "jsonpath", "path": "$[?(@.a"}, "[]")
    assert message.startswith("item probe: JSONPath '$[?(@.a' does not parse: ")
    assert message.endswith("; run `xunjian packs validate`")


def test_jsonpath_deprecated_union_still_works_without_warning() -> None:
    rows = parse({"type": "jsonpath", "path": "($[0].mtu) | ($[1].ifname)"},
                 fixture("ip_j_addr.json"))
    assert rows == [{"value": 65536}, {"value": "eth0"}]


# -- kv --------------------------------------------------------------------------------------


def test_kv_equals_lines_of_systemctl_show() -> None:
    rows = parse({"type": "kv", "separator": "="}, fixture("systemctl_show.txt"))
    assert rows == [{"MainPID": "812", "NRestarts": "0", "ActiveState": "active",
                     "SubState": "running",
                     "ExecMainStartTimestamp": "Tue 2024-05-14 08:01:12 CST",
                     "Environment": "LANG=C.UTF-8 PATH=/usr/bin"}]


def test_kv_colon_lines_split_at_the_first_colon_and_strip() -> None:
    rows = parse({"type": "kv"}, fixture("chronyc_tracking.txt"))
    assert rows[0]["Reference ID"] == "A9FEA9FE (169.254.169.254)"
    assert rows[0]["Ref time (UTC)"] == "Tue May 14 08:31:05 2024"
    assert rows[0]["Leap status"] == "Normal"
    assert len(rows) == 1
    assert len(rows[0]) == 8


def test_kv_auto_separator_is_whichever_comes_first_on_each_line() -> None:
    output = "url=http://example.com:8080/x\nuptime: 3 days\n\nno separator here\n"
    assert parse({"type": "kv"}, output) == [{"url": "http://example.com:8080/x",
                                              "uptime": "3 days"}]


def test_kv_given_separator_ignores_lines_without_it() -> None:
    output = "Stratum         : 3\nmode=server\n"
    assert parse({"type": "kv", "separator": ":"}, output) == [{"Stratum": "3"}]


def test_kv_without_any_pair_is_an_error() -> None:
    message = parse_error({"type": "kv", "separator": "="}, "Stratum : 3\nLeap status : ok\n")
    assert message == ("item probe: no `key=value` line in 2 lines of output (first line: "
                       "'Stratum : 3'); check the command's output or choose another parser")
    message = parse_error({"type": "kv"}, "\tpermission denied\x1b[0m\n")
    assert message == ("item probe: no `key=value` or `key: value` line in 1 line of output "
                       "(first line: '\\tpermission denied\\x1b[0m'); check the command's "
                       "output or choose another parser")


# -- table -----------------------------------------------------------------------------------


SS_COLUMNS = ["state", "recv_q", "send_q", "local", "peer", "process"]


def test_table_ss_ltn_with_columns_and_skip() -> None:
    rows = parse({"type": "table", "columns": SS_COLUMNS, "skip": 1}, fixture("ss_ltn.txt"))
    assert [r["local"] for r in rows] == ["127.0.0.53%lo:53", "0.0.0.0:22", "127.0.0.1:5432",
                                          "*:80", "[::]:22"]
    assert rows[0] == {"state": "LISTEN", "recv_q": "0", "send_q": "4096",
                       "local": "127.0.0.53%lo:53", "peer": "0.0.0.0:*", "process": None}
    assert rows[3]["process"] == 'users:(("nginx",pid=812,fd=6))'


def test_table_header_from_first_nonempty_line_last_column_takes_the_rest() -> None:
    output = "\nFilesystem Size Mounted\n/dev/sda1  20G  /\n\n/dev/sdb1  1T   /srv/my data\n"
    assert parse({"type": "table"}, output) == [
        {"Filesystem": "/dev/sda1", "Size": "20G", "Mounted": "/"},
        {"Filesystem": "/dev/sdb1", "Size": "1T", "Mounted": "/srv/my data"},
    ]


def test_table_skip_applies_before_the_header() -> None:
    output = "Every 2.0s: df\n\nname used\nroot 12\n"
    assert parse({"type": "table", "skip": 1}, output) == [{"name": "root", "used": "12"}]


def test_table_header_with_repeated_names_asks_for_columns() -> None:
    message = parse_error({"type": "table"}, fixture("ss_ltn.txt"))
    assert message == ("item probe: the header 'State Recv-Q Send-Q Local Address:Port Peer "
                       "Address:Port Process' repeats column Address:Port (a column name with "
                       "spaces?); give `columns` and `skip: 1` instead")


def test_table_without_rows_is_an_error() -> None:
    message = parse_error({"type": "table"}, "ss: command not found\n")
    assert message == ("item probe: no table rows in 1 line of output (first line: 'ss: "
                       "command not found') (skip: 0, columns: ss:, command, not, found); "
                       "check `skip` and the command's output, or give `columns` if no rows "
                       "is a valid answer")


def test_table_with_columns_and_only_a_header_has_no_rows() -> None:
    # ss with nothing listening prints its header only: a real "none", not a parse failure
    parser = {"type": "table", "skip": 1, "columns": ["state", "recv", "send", "local", "peer"]}
    header = "State Recv-Q Send-Q Local Address:Port Peer Address:Port\n"
    assert parse(parser, header) == []


def test_table_skipping_every_line_is_an_error() -> None:
    message = parse_error({"type": "table", "skip": 3}, "a b\n1 2\n")
    assert message == ("item probe: no header line after skipping 3 line(s) of 2 lines of "
                       "output (first line: 'a b'); lower `skip`")


# -- empty output, no parser -----------------------------------------------------------------


@pytest.mark.parametrize("parser", [
    {"type": "textfsm", "inline": TEMPLATE},
    {"type": "regex", "pattern": PSQL},
    {"type": "jsonpath"},
    {"type": "kv"},
    {"type": "table"},
    {"type": "plugin", "name": "not-installed"},
])
@pytest.mark.parametrize("output", ["", "  \n\t\n"])
def test_whitespace_only_output_is_no_rows_for_every_parser(parser: dict[str, Any],
                                                            output: str) -> None:
    assert parse(parser, output) == []


def test_item_without_parser_is_a_parse_error() -> None:
    pack = Pack.model_validate({"name": "demo", "version": "1", "platforms": ["linux"],
                                "items": [{"id": "raw", "command": "uptime"}]})
    with pytest.raises(ParseError, match=r"^item raw: has no parser"):
        parse_output(pack, pack.items[0], "up 3 days")


# -- check_parsers ---------------------------------------------------------------------------


def test_check_parsers_accepts_a_valid_pack() -> None:
    pack = Pack.model_validate({
        "name": "ok", "version": "1", "platforms": ["linux"], "files": {"t.textfsm": TEMPLATE},
        "items": [
            {"id": "a", "command": "ip addr", "parser": {"type": "textfsm",
                                                         "template": "t.textfsm"}},
            {"id": "b", "command": "ip -j addr", "parser": {
                "type": "jsonpath", "path": "$[*]", "fields": {"n": "ifname"}}},
            {"id": "c", "command": "uptime"},
        ]})
    check_parsers(pack)


def test_check_parsers_reports_textfsm_syntax_error_with_its_line() -> None:
    broken = "Value A (\\d+)\nStart\n  ^${A} -> Record\n"
    pack = make_pack({"type": "textfsm", "template": "t.textfsm"}, item="ifaces",
                     files={"t.textfsm": broken})
    with pytest.raises(PackError) as info:
        check_parsers(pack)
    assert str(info.value) == ("pack demo item ifaces: the TextFSM template does not compile: "
                               "Expected blank line after last Value entry. Line: 2.")


def test_check_parsers_reports_missing_template_file() -> None:
    pack = make_pack({"type": "textfsm", "template": "t.textfsm"})
    with pytest.raises(PackError, match=r"^pack demo item probe: TextFSM template file "
                                        r"'t.textfsm' is not part of the pack"):
        check_parsers(pack)


@pytest.mark.parametrize("parser", [
    {"type": "jsonpath", "path": "$.a[?(@.x"},
    {"type": "jsonpath", "fields": {"ok": "name", "bad": "a b"}},
])
def test_check_parsers_reports_bad_jsonpath(parser: dict[str, Any]) -> None:
    bad = parser.get("path") or parser["fields"]["bad"]
    with pytest.raises(PackError) as info:
        check_parsers(make_pack(parser))
    assert str(info.value).startswith(f"pack demo item probe: JSONPath {bad!r} does not parse: "
                                      "Parse error")


def test_check_parsers_reports_uninstalled_plugin() -> None:
    with pytest.raises(PackError, match=r"^pack demo item probe: no parser plugin named "
                                        r"haproxy_stat \(entry point group xunjian.parsers; "
                                        r"installed: "):
        check_parsers(make_pack({"type": "plugin", "name": "haproxy_stat"}))


# -- no parser raises anything but ParseError ------------------------------------------------


PARSERS = [
    {"type": "textfsm", "inline": TEMPLATE},
    {"type": "textfsm", "inline": 'Value n (\\d+)\n\nStart\n  ^${n} -> Record\n'
                                  '  ^E -> Error\n'},
    {"type": "regex", "pattern": PSQL, "ignore_case": True},
    {"type": "jsonpath", "path": "$[*]", "fields": {"n": "ifname", "x": "a[0].b"}},
    {"type": "jsonpath", "path": "$..local"},
    {"type": "jsonpath", "path": "$[?(@.mtu > 1000)]"},
    {"type": "kv"},
    {"type": "kv", "separator": "="},
    {"type": "table"},
    {"type": "table", "columns": ["a", "b"], "skip": 2},
    {"type": "plugin", "name": "not-installed"},
]
PACKS = [make_pack(p) for p in PARSERS]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["ifname", "mtu", "local", "a", "b"]), inner, max_size=4),
    max_leaves=12)
texts = (st.text(max_size=300)
         | json_values.map(json.dumps)
         | st.lists(st.sampled_from(["1: eth0: <UP> mtu 1500 state UP x", "    inet 1.2.3.4/8 x",
                                     "k=v", "k: v", ":", "=", "E", "12", "a b c", "", "  "]),
                    max_size=12).map("\n".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=texts)
def test_parsers_raise_only_parse_error_on_arbitrary_text(output: str) -> None:
    for pack in PACKS:
        try:
            rows = parse_output(pack, pack.items[0], output)
        except ParseError as exc:
            assert re.match(r"^item probe: ", str(exc))
        else:
            assert isinstance(rows, list)
            assert all(isinstance(r, dict) for r in rows)


@pytest.mark.parametrize(("output", "reason"), [
    ("[" * 100_000, "output is not usable JSON: maximum recursion depth exceeded"),
    ("1" * 5000, "output is not usable JSON: Exceeds the limit (4300 digits)"),
])
def test_jsonpath_absurd_json_is_a_parse_error(output: str, reason: str) -> None:
    assert parse_error({"type": "jsonpath"}, output).startswith(f"item probe: {reason}")
