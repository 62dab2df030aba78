"""Reading a YAML file for validation: the data and its node tree, and where a validation
error is in it (the dotted path and the line)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml


class YamlTooDeepError(yaml.YAMLError):
    """The document nests deeper than PyYAML's recursive parser can follow."""

    def __str__(self) -> str:
        return ("nested too deeply to read (hundreds of levels of lists or mappings, e.g. "
                "'[[[[...'); is this the right file?")


#: libyaml's parser when PyYAML was built with it (1,000 devices: 0.28 -> 0.055 s of CPU)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_with_nodes(text: str | bytes) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of ``text``, parsed once (composed, then constructed).
    Raises :class:`yaml.YAMLError` for anything that is not YAML - also for nesting too deep
    to parse, where PyYAML itself would raise ``RecursionError``, and for a ``"\\ud800"``
    escape, which PyYAML turns into half a character that no file, database or terminal can
    take. A document libyaml refuses is parsed again by PyYAML, whose messages say more."""
    try:
        try:
            node, data = _parse(text, _Loader)
        except yaml.YAMLError:
            if _Loader is yaml.SafeLoader:
                raise
            node, data = _parse(text, yaml.SafeLoader)
    except RecursionError as exc:
        raise YamlTooDeepError() from exc
    _refuse_surrogates(node)
    return data, node


def _parse(text: str | bytes, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


#: half of a UTF-16 surrogate pair: what a "\\ud800" escape decodes to; no file, database or
#: terminal can encode it
SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(root: yaml.Node | None) -> None:
    stack = [root] if root is not None else []
    while stack:  # not recursive: the tree may be as deep as the parser allows
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if found := SURROGATE.search(node.value):
                raise yaml.MarkedYAMLError(
                    problem=f"\\u{ord(found.group()):04x} is half of a UTF-16 surrogate pair, "
                            "not a character: write the character itself",
                    problem_mark=node.start_mark)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)


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
