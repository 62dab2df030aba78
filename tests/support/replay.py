"""The replay sets the device simulator serves (tests/netsim/replay/<platform>/), read the way
the parser and coverage tests need them."""

from __future__ import annotations

from pathlib import Path

import yaml

from collectors.pack import builtin_pack

REPLAY_ROOT = Path(__file__).resolve().parents[1] / "netsim" / "replay"


def replay_commands(platform: str, root: Path = REPLAY_ROOT) -> dict[str, str]:
    """Exact command → file name, as in the folder's ``commands.yaml``."""
    mapping: dict[str, str] = yaml.safe_load(
        (root / platform / "commands.yaml").read_text(encoding="utf-8"))
    return mapping


def replay_file(platform: str, command: str, root: Path = REPLAY_ROOT) -> Path:
    """The file that answers ``command`` (tests edit copies of these)."""
    return root / platform / replay_commands(platform, root)[command]


def replay_outputs(platform: str) -> dict[str, str]:
    """Pack item id → what the replayed device prints, for every item of the standard pack."""
    mapping = replay_commands(platform)
    pack = builtin_pack(f"{platform}-standard")
    missing = [i.command for i in pack.items if i.command not in mapping]
    assert not missing, f"replay set of {platform} lacks {missing}"
    return {i.id: (REPLAY_ROOT / platform / mapping[i.command]).read_text(encoding="utf-8")
            for i in pack.items}
