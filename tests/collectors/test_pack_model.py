"""The pack model (collectors/pack.py): what a valid pack is, the precise message for each kind of
bad pack, the content hash over the pack file and the files it references, how a device's packs
combine into one, and the JSON Schema editors and CI validate against."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from agent.errors import PackError
from collectors.pack import (
    PACK_FILE,
    Pack,
    builtin_pack,
    builtin_pack_names,
    combine,
    content_hash,
    item_key,
    load_pack,
    pack_file,
    pack_schema,
    parse_pack,
)
from collectors.pack_parsers import check_parsers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "packs"
EXAMPLE_NAMES = ["linux-service", "db-host", "huawei-optics"]
ORIGIN = "/srv/packs/p.yaml"
HEAD = "name: p\nversion: '1.0'\nplatforms: [linux]\n"


def parse(text: str, files: dict[str, str] | None = None, origin: str = ORIGIN) -> Pack:
    return parse_pack(text.encode(), origin, {k: v.encode() for k, v in (files or {}).items()})


def error_of(text: str, files: dict[str, str] | None = None) -> str:
    with pytest.raises(PackError) as info:
        check_parsers(parse(text, files))
    return str(info.value)


def invalid(*lines: str) -> str:
    """The message of a pack that fails schema validation, one line per problem."""
    return "\n".join([f"pack {ORIGIN} is not valid:", *(f"  {line}" for line in lines)])


def copy_example(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


# -- a valid pack ----------------------------------------------------------------------------


def test_a_minimal_pack_loads_with_defaults_and_loader_fields() -> None:
    text = HEAD + "items:\n  - id: up\n    command: uptime\n"
    pack = parse(text)
    assert (pack.name, pack.version, pack.platforms) == ("p", "1.0", ["linux"])
    item = pack.item("up")
    assert (item.command, item.parser, item.checks, item.ok_exit_codes) == (
        "uptime", None, [], [0])
    assert item.output_cap is None  # commands are not capped unless asked
    assert pack.origin == ORIGIN and not pack.builtin
    assert pack.raw == text and pack.files == {}
    assert pack.content_hash == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(KeyError):
        pack.item("nope")


def test_scripts_run_on_linux_and_the_local_host_with_a_default_output_cap() -> None:
    for platform in ("linux", "local"):
        pack = parse(f"name: p\nversion: '1'\nplatforms: [{platform}]\nitems:\n"
                     "  - id: s\n    script: cat /proc/loadavg\n    read_only: true\n")
        item = pack.item("s")
        assert item.is_script and pack.script_text(item) == "cat /proc/loadavg"
        assert item.output_cap == 1024 * 1024


def test_example_packs_load_with_their_files_and_check_names() -> None:
    service = load_pack(EXAMPLES / "linux-service")
    assert service.files == {
        "cert_days.sh": (EXAMPLES / "linux-service" / "cert_days.sh").read_text("utf-8")}
    assert service.referenced_files() == ["cert_days.sh"]
    assert service.check_names() == ["linux-service.running", "linux-service.port_listening",
                                     "linux-service.cert_expiry"]
    assert service.origin == str(EXAMPLES / "linux-service" / PACK_FILE)
    optics = load_pack(EXAMPLES / "huawei-optics")
    template = optics.item("transceivers").parser
    assert optics.template_text(template).startswith(  # type: ignore[arg-type]
        "Value Required interface (\\S+)")
    db = load_pack(EXAMPLES / "db-host")
    assert db.referenced_files() == ["connections.sh", "db_sizes.sh", "long_transactions.sh"]
    assert db.thresholds["filesystem"].items["/var/lib/postgresql*"].crit == 92


def test_a_pack_file_and_a_pack_directory(tmp_path: Path) -> None:
    single = tmp_path / "p.yaml"
    single.write_text(HEAD + "items:\n  - id: up\n    command: uptime\n", encoding="utf-8")
    assert pack_file(single) == single and load_pack(single).name == "p"
    folder = copy_example("linux-service", tmp_path)
    assert pack_file(folder) == folder / PACK_FILE


def test_an_unreadable_pack_is_named() -> None:
    with pytest.raises(PackError, match=r"^cannot read pack /nonexistent/x\.yaml: No such file "
                                        r"or directory$"):
        load_pack(Path("/nonexistent/x.yaml"))


# -- bad packs: one precise message each -----------------------------------------------------


def test_invalid_yaml_and_a_non_mapping() -> None:
    assert error_of("name: [p\n").startswith(f"pack {ORIGIN}: invalid YAML: while parsing a "
                                              "flow sequence")
    assert error_of("- a\n- b\n") == (f"pack {ORIGIN}: expected a mapping with name, version, "
                                      "platforms and items")


def test_unknown_key() -> None:
    text = HEAD + "colour: red\nitems:\n  - id: a\n    command: uptime\n"
    assert error_of(text) == invalid(
        "colour (line 4): unknown key (check the spelling; unknown keys are not ignored)")


def test_missing_fields_are_all_named() -> None:
    assert error_of("name: p\nitems:\n  - id: a\n    command: uptime\n") == invalid(
        "version (line 1): required key is missing", "platforms (line 1): required key is missing")
    assert error_of(HEAD + "items: []\n") == invalid(
        "items (line 4): List should have at least 1 item after validation, not 0")


def test_unknown_parser_type() -> None:
    text = HEAD + "items:\n  - id: a\n    command: uptime\n    parser: {type: xml}\n"
    assert error_of(text) == invalid(
        "items[0].parser (line 7): Input tag 'xml' found using 'type' does not match any of the "
        "expected tags: 'textfsm', 'regex', 'jsonpath', 'kv', 'table', 'plugin'")


def test_a_regex_that_does_not_compile() -> None:
    text = HEAD + ("items:\n  - id: a\n    command: uptime\n"
                   "    parser: {type: regex, pattern: '(?P<load>\\d+'}\n")
    assert error_of(text) == invalid(
        "items[0].parser.pattern (line 7): the regular expression does not compile: missing ), "
        "unterminated subpattern at position 0")


def test_a_regex_without_named_groups() -> None:
    text = HEAD + ("items:\n  - id: a\n    command: uptime\n"
                   "    parser: {type: regex, pattern: '(\\d+)'}\n")
    assert error_of(text) == invalid(
        "items[0].parser.pattern (line 7): the regular expression needs at least one named group, "
        "e.g. (?P<used>\\d+)")


def test_a_textfsm_template_that_does_not_compile_is_found_by_validation(tmp_path: Path) -> None:
    folder = copy_example("huawei-optics", tmp_path)
    with (folder / "transceiver_verbose.textfsm").open("a", encoding="utf-8") as template:
        template.write("Value broken (\n")
    last = len((folder / "transceiver_verbose.textfsm").read_text("utf-8").splitlines())
    pack = load_pack(folder)  # loading reads the template; compiling it is validation's job
    with pytest.raises(PackError) as info:
        check_parsers(pack)
    assert str(info.value) == (
        "pack huawei-optics item transceivers: the TextFSM template does not compile: Missing "
        f"white space or carat ('^') before rule. Line: {last}")


def test_a_textfsm_parser_needs_one_template_source() -> None:
    text = HEAD + "items:\n  - id: a\n    command: uptime\n    parser: {type: textfsm}\n"
    assert error_of(text) == invalid(
        "items[0].parser (line 7): give the TextFSM template as `template` (a file) or `inline`")


def test_a_script_must_declare_read_only() -> None:
    message = invalid("items[0] (line 5): item a: a script must declare `read_only: true` (xunjian "
                      "runs only scripts that change nothing)")
    assert error_of(HEAD + "items:\n  - id: a\n    script: uptime\n") == message
    assert error_of(HEAD + "items:\n  - id: a\n    script: uptime\n    read_only: false\n") \
        == message
    assert error_of(HEAD + "items:\n  - id: a\n    script_file: a.sh\n",
                    {"a.sh": "uptime\n"}) == message


def test_a_script_on_a_network_platform() -> None:
    text = ("name: p\nversion: '1'\nplatforms: [linux, huawei_vrp]\nitems:\n"
            "  - id: a\n    script: uptime\n    read_only: true\n")
    assert error_of(text) == "pack p item a: scripts run on Linux hosts only, not on huawei_vrp"


def test_a_script_that_writes_is_refused_by_the_guard() -> None:
    text = HEAD + "items:\n  - id: a\n    script: rm -rf /tmp/cache\n    read_only: true\n"
    assert error_of(text) == ("pack p item a: refused the script: 'rm' writes or changes the "
                              "system (scripts must only read)")
    # the same from a script file: the guard reads what will be sent
    text = HEAD + "items:\n  - id: a\n    script_file: clean.sh\n    read_only: true\n"
    assert error_of(text, {"clean.sh": "df -h\nrm -rf /tmp/cache\n"}) == (
        "pack p item a: refused the script: 'rm' writes or changes the system (scripts must "
        "only read)")


def test_a_script_file_outside_the_pack_directory() -> None:
    for path in ("../x.sh", "/etc/x.sh", "lib/../../x.sh"):
        text = HEAD + f"items:\n  - id: a\n    script_file: {path}\n    read_only: true\n"
        assert error_of(text) == invalid(
            f"items[0].script_file (line 6): {path!r} must be a path inside the pack's directory")
    text = HEAD + ("items:\n  - id: a\n    command: uptime\n"
                   "    parser: {type: textfsm, template: ../t.textfsm}\n")
    assert error_of(text) == invalid(
        "items[0].parser.template (line 7): '../t.textfsm' must be a path inside the pack's "
        "directory")


def test_a_script_file_outside_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "x.sh").write_text("uptime\n", encoding="utf-8")
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / PACK_FILE).write_text(
        HEAD + "items:\n  - id: a\n    script_file: ../x.sh\n    read_only: true\n",
        encoding="utf-8")
    with pytest.raises(PackError, match=r"'\.\./x\.sh' must be a path inside the pack's "
                                        r"directory"):
        load_pack(folder)


def test_a_missing_referenced_file(tmp_path: Path) -> None:
    text = HEAD + "items:\n  - id: a\n    script_file: a.sh\n    read_only: true\n"
    assert error_of(text) == (f"pack p: file 'a.sh' is referenced but missing (looked beside "
                              f"{ORIGIN})")
    folder = copy_example("linux-service", tmp_path)
    (folder / "cert_days.sh").unlink()
    with pytest.raises(PackError) as info:
        load_pack(folder)
    assert str(info.value) == (f"pack linux-service: file 'cert_days.sh' is referenced but "
                               f"missing (looked beside {folder / PACK_FILE})")


def test_a_referenced_file_that_is_not_text() -> None:
    with pytest.raises(PackError, match=r"^pack p: file 'a\.sh' is not UTF-8 text$"):
        parse_pack((HEAD + "items:\n  - id: a\n    script_file: a.sh\n    read_only: true\n")
                   .encode(), ORIGIN, {"a.sh": b"\xff\xfe"})


def test_a_network_command_that_fails_the_read_only_policy() -> None:
    vrp = "name: p\nversion: '1'\nplatforms: [huawei_vrp]\nitems:\n  - id: a\n    command: reboot\n"
    assert error_of(vrp) == ("pack p item a: refused 'reboot': reboot restarts the device "
                             "(rule: only display commands on huawei_vrp)")
    ios = ("name: p\nversion: '1'\nplatforms: [cisco_ios]\nitems:\n"
           "  - id: a\n    command: configure terminal\n")
    assert error_of(ios) == ("pack p item a: refused 'configure terminal': configure enters "
                             "configuration mode (rule: only show commands on cisco_ios)")


def test_a_command_must_pass_the_policy_of_every_platform_of_the_pack() -> None:
    text = ("name: p\nversion: '1'\nplatforms: [huawei_vrp, cisco_ios]\nitems:\n"
            "  - id: a\n    command: display version\n")
    assert error_of(text) == ("pack p item a: refused 'display version': 'display' is not a "
                              "read-only command; cisco_ios inspections may only run show "
                              "commands")


def test_a_linux_command_off_the_allowlist() -> None:
    text = HEAD + "items:\n  - id: a\n    command: rm -rf /\n"
    assert error_of(text) == ("pack p item a: refused 'rm -rf /': 'rm' is not on the "
                              "read-only allowlist")


def test_an_item_needs_exactly_one_source() -> None:
    assert error_of(HEAD + "items:\n  - id: a\n    command: uptime\n    script: uptime\n"
                           "    read_only: true\n") == invalid(
        "items[0] (line 5): item a: give exactly one of command, script, script_file; got command, "
        "script")
    assert error_of(HEAD + "items:\n  - id: a\n") == invalid(
        "items[0] (line 5): item a: give exactly one of command, script, script_file; got none")


def test_check_rules() -> None:
    item = HEAD + "items:\n  - id: a\n    command: uptime\n"
    assert error_of(item + "    checks: [{id: c, present: true}]\n") == invalid(
        "items[0] (line 5): item a: checks need a parser (what values to judge)")
    parsed = item + "    parser: {type: kv}\n"
    assert error_of(parsed + "    checks: [{id: c, present: true, equals: x, field: f}]\n") \
        == invalid("items[0].checks[0] (line 8): check c: give exactly one rule (thresholds, "
                   "equals, not_equals, matches, present, rows, plugin); got equals, present")
    assert error_of(parsed + "    checks: [{id: c}]\n") == invalid(
        "items[0].checks[0] (line 8): check c: give exactly one rule (thresholds, equals, "
        "not_equals, matches, present, rows, plugin); got none")
    assert error_of(parsed + "    checks: [{id: c, warn: 1}]\n") == invalid(
        "items[0].checks[0] (line 8): check c: `thresholds` needs `field` (the value judged)")
    assert error_of(parsed + "    checks: [{id: c, present: true, where: {x: '('}}]\n") == \
        invalid("items[0].checks[0] (line 8): check c: regular expression '(' does not "
                "compile: missing ), unterminated subpattern at position 0")


def test_a_plugin_check_may_carry_thresholds() -> None:
    pack = parse(HEAD + "items:\n  - id: a\n    command: uptime\n    parser: {type: kv}\n"
                        "    checks: [{id: c, plugin: mine, warn: 1, crit: 2}]\n")
    assert pack.item("a").checks[0].rule == "plugin"


def test_ids_are_unique_and_well_formed() -> None:
    assert error_of(HEAD + "items:\n  - id: a\n    command: uptime\n"
                           "  - id: a\n    command: hostname\n") == invalid(
        "(top) (line 1): duplicate item ids: a")
    two = ("items:\n"
           "  - id: a\n    command: uptime\n    parser: {type: kv}\n"
           "    checks: [{id: c, present: true}]\n"
           "  - id: b\n    command: hostname\n    parser: {type: kv}\n"
           "    checks: [{id: c, present: true}]\n")
    assert error_of(HEAD + two) == invalid(
        "(top) (line 1): duplicate check ids: c (a check is named PACK.CHECK in results, so its "
        "id must be unique in the pack)")
    assert error_of(HEAD + "items:\n  - id: Up-Time\n    command: uptime\n") == invalid(
        "items[0].id (line 5): String should match pattern '^[a-z][a-z0-9_]*$'")
    assert error_of("name: My Pack\nversion: '1'\nplatforms: [linux]\nitems:\n"
                    "  - id: a\n    command: uptime\n") == invalid(
        "name (line 1): String should match pattern '^[a-z0-9][a-z0-9_-]*$'")


def test_problems_name_their_line() -> None:
    text = HEAD + ("items:\n"                          # line 4
                   "  - id: a\n    command: uptime\n"  # 5-6
                   "  - id: b\n    command: hostname\n"  # 7-8
                   "  - id: c\n"                       # 9
                   "    command: cat /proc/loadavg\n"
                   "    parser: {type: kv}\n"
                   "    checks:\n"                     # 12
                   "      - id: load_ok\n"
                   "        present: true\n"
                   "      - id: load_high\n"           # 15: the third item's second check
                   "        field: load\n"
                   "        warn: 1\n")
    assert [n for n, line in enumerate(text.splitlines(), 1) if "load_high" in line] == [15]
    # a key of the check: the key's own line
    assert error_of(text + "        colour: red\n") == invalid(
        "items[2].checks[1].colour (line 18): unknown key (check the spelling; unknown keys "
        "are not ignored)")
    # the check as a whole: the line of its `- id:`
    assert error_of(text.replace("        field: load\n", "")) == invalid(
        "items[2].checks[1] (line 15): check load_high: `thresholds` needs `field` (the value "
        "judged)")


# -- content hash ----------------------------------------------------------------------------


def test_the_hash_of_a_built_in_pack_is_the_sha256_of_its_file() -> None:
    names = builtin_pack_names()
    folder = resources.files("collectors") / "packs"
    assert names == sorted(e.name.removesuffix(".yaml") for e in folder.iterdir()
                           if e.name.endswith(".yaml"))
    assert "linux-standard" in names and "huawei_vrp-standard" in names
    for name in names:
        pack = builtin_pack(name)
        data = (folder / f"{name}.yaml").read_bytes()
        assert pack.content_hash == hashlib.sha256(data).hexdigest(), name
        assert pack.builtin and pack.origin == "built-in" and pack.name == name


def test_an_unknown_built_in_pack() -> None:
    with pytest.raises(PackError, match=r"^no built-in pack named 'nope'$"):
        builtin_pack("nope")


def test_the_hash_covers_the_referenced_files(tmp_path: Path) -> None:
    folder = copy_example("linux-service", tmp_path)
    before = load_pack(folder)
    yaml_bytes = (folder / PACK_FILE).read_bytes()
    assert before.content_hash == content_hash(
        yaml_bytes, {"cert_days.sh": (folder / "cert_days.sh").read_bytes()})
    assert before.content_hash != hashlib.sha256(yaml_bytes).hexdigest()

    # files the pack does not reference are not part of it
    (folder / "notes.txt").write_text("scratch\n", encoding="utf-8")
    (folder / "samples" / "extra.txt").write_text("1\n", encoding="utf-8")
    assert load_pack(folder).content_hash == before.content_hash

    # the script alone changes: the YAML is the same, the hash is not
    script = folder / "cert_days.sh"
    script.write_text(script.read_text("utf-8").replace("server.crt", "site.crt"), "utf-8")
    after = load_pack(folder)
    assert (folder / PACK_FILE).read_bytes() == yaml_bytes
    assert after.content_hash != before.content_hash
    assert "site.crt" in after.files["cert_days.sh"]


def test_the_hash_changes_when_the_template_changes(tmp_path: Path) -> None:
    folder = copy_example("huawei-optics", tmp_path)
    before = load_pack(folder).content_hash
    template = folder / "transceiver_verbose.textfsm"
    template.write_text(template.read_text("utf-8") + "\n", encoding="utf-8")
    assert load_pack(folder).content_hash != before


def test_the_hash_frames_every_file_by_name_and_length() -> None:
    base = content_hash(b"pack", {"a.sh": b"xy"})
    assert content_hash(b"packx", {"a.sh": b"y"}) != base  # bytes moved across a boundary
    assert content_hash(b"pack", {"b.sh": b"xy"}) != base  # a file renamed
    assert content_hash(b"pack", {"a.sh": b"xy", "b.sh": b""}) != base  # an empty file added
    # the order files are given in does not matter
    assert content_hash(b"p", {"a": b"1", "b": b"2"}) == content_hash(b"p", {"b": b"2", "a": b"1"})
    assert content_hash(b"pack", {}) == hashlib.sha256(b"pack").hexdigest()


def test_files_given_but_not_referenced_do_not_count() -> None:
    text = HEAD + "items:\n  - id: up\n    command: uptime\n"
    assert parse(text, {"stray.sh": "echo\n"}).content_hash == \
        hashlib.sha256(text.encode()).hexdigest()


# -- combining a device's packs --------------------------------------------------------------


def test_combine_appends_custom_items_as_pack_item_with_scripts_inlined() -> None:
    standard = builtin_pack("linux-standard")
    service = load_pack(EXAMPLES / "linux-service")
    db = load_pack(EXAMPLES / "db-host")
    combined = combine(standard, [service, db])
    ids = [i.id for i in combined.items]
    assert ids[:len(standard.items)] == [i.id for i in standard.items]
    assert ids[len(standard.items):] == [item_key(p, i) for p in (service, db) for i in p.items]
    assert ids[len(standard.items)] == "linux-service.process"
    assert (combined.name, combined.version, combined.content_hash) == (
        standard.name, standard.version, standard.content_hash)

    cert = combined.item("linux-service.cert_days")
    assert cert.script_file is None
    assert cert.script == (EXAMPLES / "linux-service" / "cert_days.sh").read_text("utf-8")
    assert combined.script_text(cert) == cert.script  # no file lookups left
    assert cert.checks == service.item("cert_days").checks
    assert combined.item("linux-service.process").command == "pgrep -l -x sshd"
    # the inputs are unchanged
    assert service.item("cert_days").script_file == "cert_days.sh"
    assert [i.id for i in standard.items] == ids[:len(standard.items)]


def test_combine_without_extras_is_the_standard_pack() -> None:
    standard = builtin_pack("linux-standard")
    assert combine(standard, []) == standard


# -- the JSON Schema -------------------------------------------------------------------------


def test_the_schema_leaves_out_what_the_loader_sets() -> None:
    schema = pack_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "xunjian inspection pack"
    assert set(schema["properties"]) == {"name", "version", "platforms", "description", "items",
                                         "thresholds"}
    assert set(schema["required"]) == {"name", "version", "platforms", "items"}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "pack.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_packs_validate_against_the_committed_schema(
        validator: jsonschema.Draft202012Validator, name: str) -> None:
    data = yaml.safe_load((EXAMPLES / name / PACK_FILE).read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize("name", builtin_pack_names())
def test_built_in_packs_validate_against_the_committed_schema(
        validator: jsonschema.Draft202012Validator, name: str) -> None:
    data = yaml.safe_load((resources.files("collectors") / "packs" / f"{name}.yaml")
                          .read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


def test_the_committed_schema_refuses_what_the_loader_refuses(
        validator: jsonschema.Draft202012Validator) -> None:
    data = yaml.safe_load((EXAMPLES / "db-host" / PACK_FILE).read_text(encoding="utf-8"))
    data["colour"] = "red"
    data["items"][0]["parser"] = {"type": "xml"}
    del data["version"]
    errors = {(tuple(e.absolute_path), e.validator) for e in validator.iter_errors(data)}
    assert errors == {((), "additionalProperties"), ((), "required"),
                      (("items", 0, "parser"), "anyOf")}


def test_pack_thresholds_must_name_built_in_checks() -> None:
    text = HEAD + ("thresholds:\n  filesytem: {warn: 90}\n"
                   "items:\n  - id: a\n    command: uptime\n")
    message = error_of(text)
    assert message.startswith("pack p: thresholds: unknown built-in check 'filesytem'; known: ")


def test_a_rows_rule_needs_a_bound() -> None:
    text = HEAD + ("items:\n  - id: a\n    command: uptime\n    parser: {type: kv}\n"
                   "    checks:\n      - {id: c, rows: {}}\n")
    assert "check c: `rows` needs `min`, `max` or both" in error_of(text)


def test_validate_looks_for_check_plugins_too() -> None:
    pack = parse(HEAD + ("items:\n  - id: a\n    command: uptime\n    parser: {type: kv}\n"
                         "    checks:\n      - {id: c, plugin: no_such_check_plugin}\n"))
    with pytest.raises(PackError, match="item a: no check plugin named no_such_check_plugin"):
        check_parsers(pack)
