"""Pack diffs: what a reviewer sees between two versions of a pack, built from real packs."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from agent.packs.diff import MAX_DIFF_LINES, diff_packs, summarize
from collectors.pack import Pack, parse_pack

TEMPLATE = """Value NAME (\\S+)
Value USED (\\d+)

Start
  ^${NAME}\\s+${USED} -> Record
"""
SCRIPT = "#!/bin/sh\necho status=ok\necho uptime=$(cut -d. -f1 /proc/uptime)\n"
BASE: dict[str, Any] = {
    "name": "oracle", "version": "1.0.0", "platforms": ["linux"],
    "description": "Oracle database host checks",
    "items": [
        {"id": "tbs", "command": "df -P", "timeout": 30,
         "parser": {"type": "textfsm", "template": "tbs.textfsm"},
         "checks": [{"id": "used_pct", "field": "USED", "item": "NAME", "warn": 80,
                     "crit": 90, "unit": "%"}]},
        {"id": "health", "script_file": "health.sh", "read_only": True,
         "parser": {"type": "kv"},
         "checks": [{"id": "status", "field": "status", "equals": "ok"}]},
        {"id": "listener", "command": "ss -ltn",
         "parser": {"type": "regex", "pattern": "LISTEN.*:(?P<port>1521)\\b"},
         "checks": [{"id": "port", "present": True}]},
    ],
    "thresholds": {"filesystem": {"warn": 85, "items": {"/u01": {"crit": 97}}}},
}
FILES = {"tbs.textfsm": TEMPLATE, "health.sh": SCRIPT}


def build(data: dict[str, Any] | None = None, files: dict[str, str] | None = None) -> Pack:
    text = yaml.safe_dump(data or BASE, sort_keys=False).encode()
    return parse_pack(text, "test", {k: v.encode() for k, v in (files or FILES).items()})


def changed(edit: Any = None, files: dict[str, str] | None = None) -> Pack:
    data = copy.deepcopy(BASE)
    if edit is not None:
        edit(data)
    return build(data, files)


def test_equal_packs_have_no_changes() -> None:
    old = build()
    # a comment changes the content hash, not what runs
    new = parse_pack(b"# reviewed\n" + yaml.safe_dump(BASE).encode(), "other",
                     {k: v.encode() for k, v in FILES.items()})
    assert old.content_hash != new.content_hash
    assert diff_packs(old, new) == []
    assert summarize(old, new) == ""


def test_pack_fields() -> None:
    def edit(d: dict[str, Any]) -> None:
        d.update(name="oracle-prod", version="1.1.0", platforms=["linux", "local"],
                 description="Oracle hosts")

    assert diff_packs(build(), changed(edit)) == [
        "name oracle → oracle-prod",
        "version 1.0.0 → 1.1.0",
        "platforms: linux → linux, local",
        "description 'Oracle database host checks' → 'Oracle hosts'",
    ]


def test_items_added_removed_and_reordered() -> None:
    def edit(d: dict[str, Any]) -> None:
        tbs, health, _listener = d["items"]
        d["items"] = [health, tbs, {"id": "uptime", "command": "uptime"}]

    assert diff_packs(build(), changed(edit)) == [
        "item uptime added",
        "item listener removed",
        "items reordered: tbs, health → health, tbs",
    ]


def test_command_and_item_settings() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["items"][0].update(command="df -Pk", timeout=60, max_lines=500, max_bytes=65536,
                             ok_exit_codes=[0, 1], description="tablespaces")

    lines = diff_packs(build(), changed(edit))
    assert lines == [
        "item tbs: command 'df -P' → 'df -Pk'",
        "item tbs: description unset → tablespaces",
        "item tbs: timeout 30 → 60",
        "item tbs: max_bytes unset → 65536",
        "item tbs: max_lines unset → 500",
        "item tbs: ok_exit_codes [0] → [0, 1]",
    ]


def test_script_file_text_changes_show_a_unified_diff() -> None:
    new_script = SCRIPT.replace("status=ok", "status=degraded")
    lines = diff_packs(build(), changed(files={**FILES, "health.sh": new_script}))
    assert lines == [
        "item health: script changed",
        "    --- a/health.sh",
        "    +++ b/health.sh",
        "    @@ -1,3 +1,3 @@",
        "     #!/bin/sh",
        "    -echo status=ok",
        "    +echo status=degraded",
        "     echo uptime=$(cut -d. -f1 /proc/uptime)",
    ]


def test_long_script_diffs_are_cut() -> None:
    def script(word: str) -> str:
        return "".join(f"echo {word}{i}=1\n" for i in range(60))

    old = changed(files={**FILES, "health.sh": script("a")})
    lines = diff_packs(old, changed(files={**FILES, "health.sh": script("b")}))
    assert lines[0] == "item health: script changed"
    assert len(lines) == 1 + MAX_DIFF_LINES + 1
    # 3 header lines + 120 changed lines in the full diff
    assert lines[-1] == f"    … {3 + 120 - MAX_DIFF_LINES} more diff lines"


def test_inline_script_and_command_to_script() -> None:
    def to_script(d: dict[str, Any]) -> None:
        item = d["items"][2]
        del item["command"]
        item.update(script="ss -ltn | grep 1521", read_only=True)

    old = build()
    new = changed(to_script)
    lines = diff_packs(old, new)
    assert lines[0] == "item listener: now a script (was command 'ss -ltn')"
    assert "    +ss -ltn | grep 1521" in lines
    assert diff_packs(new, old) == ["item listener: now command 'ss -ltn' (was a script)",
                                    "item listener: read_only true → unset"]

    def edit_inline(d: dict[str, Any]) -> None:
        to_script(d)
        d["items"][2]["script"] = "ss -ltn | grep -c 1521"

    inline = diff_packs(new, changed(edit_inline))
    assert inline[:3] == ["item listener: script changed",
                          "    --- a/listener (inline script)",
                          "    +++ b/listener (inline script)"]
    assert inline[-2:] == ["    -ss -ltn | grep 1521", "    +ss -ltn | grep -c 1521"]


def test_parser_changes() -> None:
    def regex(d: dict[str, Any]) -> None:
        d["items"][2]["parser"] = {"type": "regex", "pattern": "LISTEN.*:(?P<port>1522)\\b",
                                   "ignore_case": True}

    assert diff_packs(build(), changed(regex)) == [
        "item listener: parser pattern LISTEN.*:(?P<port>1521)\\b → LISTEN.*:(?P<port>1522)\\b",
        "item listener: parser ignore_case false → true",
    ]

    def retype(d: dict[str, Any]) -> None:
        d["items"][2]["parser"] = {"type": "table"}

    assert diff_packs(build(), changed(retype)) == ["item listener: parser regex → table"]


def test_textfsm_template_text_changes_show_a_unified_diff() -> None:
    new_template = TEMPLATE.replace("(\\d+)", "(\\d+\\.?\\d*)")
    lines = diff_packs(build(), changed(files={**FILES, "tbs.textfsm": new_template}))
    assert lines == [
        "item tbs: TextFSM template changed",
        "    --- a/tbs.textfsm",
        "    +++ b/tbs.textfsm",
        "    @@ -1,5 +1,5 @@",
        "     Value NAME (\\S+)",
        "    -Value USED (\\d+)",
        "    +Value USED (\\d+\\.?\\d*)",
        "     ",
        "     Start",
        "       ^${NAME}\\s+${USED} -> Record",
    ]


def test_a_parser_switched_to_textfsm_shows_the_whole_template() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["items"][2]["parser"] = {"type": "textfsm", "inline": "Value PORT (\\d+)\n\nStart\n"
                                   "  ^LISTEN.*:${PORT} -> Record\n"}

    lines = diff_packs(build(), changed(edit))
    assert lines[0] == "item listener: parser regex → textfsm"
    assert lines[1:3] == ["    --- a/listener (inline template)",
                          "    +++ b/listener (inline template)"]
    assert "    +Value PORT (\\d+)" in lines


def test_checks_added_removed_and_changed_field_by_field() -> None:
    def edit(d: dict[str, Any]) -> None:
        tbs = d["items"][0]
        tbs["checks"][0].update(crit=95, where={"NAME": "^(?!TEMP)"})
        tbs["checks"].append({"id": "free_low", "field": "USED", "direction": "below",
                              "warn": 5})
        d["items"][2]["checks"] = []

    assert diff_packs(build(), changed(edit)) == [
        "check tbs.free_low added (warn 5)",
        'check tbs.used_pct: where {} → {"NAME": "^(?!TEMP)"}',
        "check tbs.used_pct: crit 90 → 95",
        "check listener.port removed",
    ]


def test_builtin_threshold_changes() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["thresholds"] = {
            "filesystem": {"warn": 80, "crit": 95, "items": {"/u02": {"warn": 70}}},
            "swap": {"enabled": False},
        }

    assert diff_packs(build(), changed(edit)) == [
        "thresholds swap added (enabled false)",
        "thresholds filesystem: warn 85 → 80",
        "thresholds filesystem: crit unset → 95",
        "thresholds filesystem item /u02 added (warn 70)",
        "thresholds filesystem item /u01 removed",
    ]
    assert diff_packs(changed(edit), build())[0] == "thresholds swap removed"


def test_referenced_files_added_and_removed() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["items"][1]["script_file"] = "health2.sh"

    lines = diff_packs(build(), changed(edit, {**FILES, "health2.sh": SCRIPT}))
    assert lines == ["item health: script_file health.sh → health2.sh",
                     "files added: health2.sh", "files removed: health.sh"]


def test_summarize_is_one_line_of_short_parts() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["version"] = "1.1.0"
        d["items"][0]["command"] = "df -Pk"
        d["items"][0]["checks"][0]["crit"] = 95

    new_script = SCRIPT.replace("ok", "fine")
    new = changed(edit, {**FILES, "health.sh": new_script})
    assert summarize(build(), new) == (
        "version 1.0.0 → 1.1.0; item tbs: command changed; check tbs.used_pct: crit 90 → 95; "
        "item health: script changed")


def test_summarize_caps_the_parts() -> None:
    def edit(d: dict[str, Any]) -> None:
        d.update(version="2.0.0", description="other", platforms=["linux", "local"])
        d["items"][0].update(timeout=5, max_lines=10, max_bytes=100)

    text = summarize(build(), changed(edit))
    assert text == ("version 1.0.0 → 2.0.0; platforms: linux → linux, local; description "
                    "changed; item tbs: timeout 30 → 5; item tbs: max_bytes unset → 100; "
                    "and 1 more")
