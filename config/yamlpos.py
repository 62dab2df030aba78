"""Where a validation error is in a YAML file: the dotted path and the line."""

from __future__ import annotations

from collections.abc import Iterable

import yaml


def format_loc(loc: Iterable[int | str]) -> str:
    """('devices', 3, 'business_level') → 'devices[3].business_level'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
    """Find the 1-based line of the node at ``loc`` (or its closest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and 0 <= part < len(node.value)):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
