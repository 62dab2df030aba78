"""Fuzzing the config loader (config/loader.py) with hypothesis: arbitrary text, arbitrary YAML
documents built from the config's own keys, and mutations of the annotated example config.

"No crash" (tests/support/fuzzing.py): ``load_config`` returns a config or raises
``ConfigError`` whose every problem names the file and says what is wrong - never another
exception type, never a traceback.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from support.fuzzing import TOKENS, fuzz_settings, mutated

from agent.errors import ConfigError, PackError
from checks.builtin import CHECK_NAMES
from collectors.pack import parse_pack
from config.loader import LoadedConfig, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xunjian.yaml"
#: every key the example config uses, at any depth: the fuzzer's vocabulary
ENV = {"XJ_FUZZ": "x"}


@cache
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@cache
def vocabulary() -> list[str]:
    return sorted(_keys(example()))


def _event(outcome: str) -> None:
    if currently_in_test_context():  # shown by --hypothesis-show-statistics
        event(outcome)


@cache
def workdir() -> Path:
    """A copy of examples/, so the files the example names (inventory, packs) resolve."""
    directory = Path(tempfile.mkdtemp(prefix="xj-fuzz-config-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    shutil.copytree(EXAMPLE.parent, directory, dirs_exist_ok=True)
    return directory


def load(text: str) -> LoadedConfig | None:
    path = workdir() / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        loaded = load_config(path, env=ENV, known_checks=CHECK_NAMES)
    except ConfigError as exc:
        _event("ConfigError")
        assert exc.problems, "a ConfigError must list its problems"
        for problem in exc.problems:
            assert problem.message and problem.file
        assert str(exc).startswith(f"{len(exc.problems)} problem(s)")
        return None
    _event("loaded")
    return loaded


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(TOKENS), st.dates(), st.datetimes(),
    st.sampled_from(["linux", "cisco_ios", "critical", "* * * * *", "127.0.0.1", "ops", "22"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.one_of(st.sampled_from(vocabulary()), st.text(max_size=8)), inner, max_size=5),
    max_leaves=25)


@fuzz_settings(200)
@given(st.text(max_size=400))
def test_arbitrary_text_is_a_config_or_a_config_error(text: str) -> None:
    load(text)


@fuzz_settings(200)
@given(st.dictionaries(st.sampled_from(vocabulary()), documents, max_size=6))
def test_arbitrary_documents_are_a_config_or_a_config_error(document: dict[str, Any]) -> None:
    load(yaml.safe_dump(document, allow_unicode=True))


@st.composite
def mutated_example(draw: st.DrawFn) -> dict[str, Any]:
    """The example config with a few values replaced or keys dropped, anywhere in it."""
    data = copy.deepcopy(example())
    for _ in range(draw(st.integers(1, 4))):
        node: Any = data
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(documents)
            break
    return data


@fuzz_settings(200)
@given(mutated_example())
def test_mutated_example_is_a_config_or_a_config_error(document: dict[str, Any]) -> None:
    load(yaml.safe_dump(document, allow_unicode=True))


@fuzz_settings(100)
@given(mutated(EXAMPLE.read_text(encoding="utf-8"),
               (*TOKENS, "{", "[", "&a", "*a", "<<: *a", "!!binary", "!!python/object:os.system",
                "? ", "- ", "---", "...", "%YAML 1.1", "\t", "@", "`", '"\\ud800"',
                '"\\U0010FFFF"', "!!timestamp 2026-13-45"))
       | st.lists(st.sampled_from(["[", "{", "- ", "  ", "a: ", "&x ", "*x"]), max_size=200)
       .map("".join))
def test_mutated_yaml_text_is_a_config_or_a_config_error(text: str) -> None:
    load(text)


def test_deep_nesting_is_a_config_error_and_a_pack_error() -> None:
    # found by the fuzzer: deep enough to exhaust PyYAML's recursion (it was a RecursionError)
    for text in ("[" * 50_000, "{a: " * 20_000, "- " * 20_000 + "x"):
        path = workdir() / "deep.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match="invalid YAML: nested too deeply to read"):
            load_config(path)
        with pytest.raises(PackError, match="invalid YAML: nested too deeply to read"):
            parse_pack(text.encode(), "deep.yaml")


def test_the_example_itself_loads() -> None:
    # the mutations start from a valid config: otherwise they would only ever test errors
    assert load(EXAMPLE.read_text(encoding="utf-8")) is not None


def test_a_surrogate_escape_is_a_config_error_with_its_line() -> None:
    # PyYAML turns "\ud800" into half a character: the metrics, the store and the terminal
    # would fail on it later (UnicodeEncodeError); the loader refuses it with its line
    path = workdir() / "surrogate.yaml"
    path.write_text('devices:\n  - name: web-01\n    address: 127.0.0.1\n'
                    '    location: "A01 \\ud800"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"surrogate.yaml:4: <root>: invalid YAML: \\ud800 is "
                                          "half of a UTF-16 surrogate pair"):
        load_config(path)
    with pytest.raises(PackError, match="surrogate pair"):
        parse_pack(b'name: "x\\udc00"\n', "pack.yaml")
