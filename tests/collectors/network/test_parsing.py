"""collectors/network/parsing.py reuses compiled TextFSM templates instead of ntc-templates'
parse_output(): the rows must be exactly parse_output's, for every captured output we keep."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ntc_templates.parse import parse_output

from agent.errors import ParseError
from collectors.network.parsing import ntc, own

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ntc"
CASES = sorted(FIXTURES.glob("*/*/*.raw"))


def _reference(platform: str, command: str, output: str) -> list[dict[str, object]]:
    rows = parse_output(platform=platform, command=command, data=output)
    return [{k.lower(): v for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("raw", CASES, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_rows_are_exactly_those_of_ntc_templates(raw: Path) -> None:
    platform, command = raw.parent.parent.name, raw.parent.name.replace("_", " ")
    output = raw.read_text(encoding="utf-8")
    try:
        expected = _reference(platform, command, output)
    except Exception:
        pytest.skip(f"ntc-templates itself cannot parse {raw.name}")
    if not expected:
        with pytest.raises(ParseError, match="matched nothing"):
            ntc(platform, command, output)
        return
    assert ntc(platform, command, output) == expected
    assert ntc(platform, command, output) == expected  # the reused template starts afresh


def test_threads_share_templates_without_mixing_their_state() -> None:
    raws = [p for p in CASES if p.parent.name == "show_interfaces"][:4]
    assert raws
    work = [(p.parent.parent.name, p.read_text(encoding="utf-8")) for p in raws]
    expected = [_reference(platform, "show interfaces", text) for platform, text in work]
    failures: list[str] = []

    def parse_many() -> None:
        for _ in range(20):
            for (platform, text), rows in zip(work, expected, strict=True):
                if ntc(platform, "show interfaces", text) != rows:
                    failures.append(platform)

    threads = [threading.Thread(target=parse_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_unknown_commands_and_templates_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="ntc-templates cisco_ios 'show no such thing'"):
        ntc("cisco_ios", "show no such thing", "x")
    with pytest.raises(ParseError, match=r"no template collectors/templates/nope\.textfsm"):
        own("nope", "x")
