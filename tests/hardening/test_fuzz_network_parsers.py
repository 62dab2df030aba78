"""Fuzzing the network-device parsers (collectors/network/: the platform parsers, the TextFSM
wrappers ``ntc``/``own`` behind them, ``normalise``) and the config-history snapshot with
hypothesis: real replayed output of every platform, mutated, and arbitrary text.

"No crash" (tests/support/fuzzing.py): an item parser returns its partial facts or raises
``ParseError``; ``normalise`` never raises (a partial update that fails ``HostFacts``
validation would be a parser bug); ``snapshot`` (mask secrets, drop noise) never raises.
The Linux and pack parsers have their own fuzz tests in tests/collectors/ (test_linux_parsers,
test_pack_parsers); they are not repeated here.
"""

from __future__ import annotations

import time
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz_settings, mutated
from support.replay import replay_outputs

from agent.errors import ParseError
from collectors.facts import HostFacts
from collectors.network.configs import snapshot
from collectors.network.parsing import normalise
from collectors.network.platforms import RUNNING_CONFIG, parsers_for
from config.platforms import NETWORK_PLATFORMS

PLATFORMS = sorted(NETWORK_PLATFORMS)


@cache
def real(platform: str) -> dict[str, str]:
    return replay_outputs(platform)


@st.composite
def one_output(draw: st.DrawFn) -> tuple[str, str, str]:
    """(platform, item, output): real output mutated, or arbitrary text."""
    platform = draw(st.sampled_from(PLATFORMS))
    item = draw(st.sampled_from(sorted(parsers_for(platform))))
    original = real(platform)[item]
    output = draw(st.one_of(mutated(original), st.text(max_size=300),
                            st.binary(max_size=300).map(
                                lambda b: b.decode("utf-8", errors="replace"))))
    return platform, item, output


def check_parser(platform: str, item: str, output: str) -> None:
    parser = parsers_for(platform)[item]
    try:
        update = parser(output)
    except ParseError as exc:
        assert str(exc)
        return
    assert isinstance(update, dict)


@fuzz_settings(300)
@given(one_output())
def test_item_parsers_raise_only_parse_error(case: tuple[str, str, str]) -> None:
    check_parser(*case)


@fuzz_settings(200)
@given(one_output())
def test_normalise_never_raises(case: tuple[str, str, str]) -> None:
    platform, item, output = case
    outputs = {**real(platform), item: output}
    facts, errors = normalise(parsers_for(platform), outputs)
    assert isinstance(facts, HostFacts)
    HostFacts.model_validate(facts.model_dump())  # what was kept is valid facts
    assert set(errors) <= set(outputs)
    assert all(isinstance(m, str) and m for m in errors.values())


@fuzz_settings(100)
@given(st.sampled_from(PLATFORMS).flatmap(
    lambda p: st.one_of(mutated(real(p)[RUNNING_CONFIG]), st.text(max_size=400))))
def test_config_snapshot_never_raises(text: str) -> None:
    masked = snapshot(text)
    assert isinstance(masked.text, str)
    assert snapshot(text, mask=False).text is not None


def test_every_platform_parser_is_fuzzed() -> None:
    # the strategies draw from these: a platform without parsers would silently not be fuzzed
    assert all(parsers_for(p) for p in PLATFORMS)
    assert all(set(parsers_for(p)) <= set(real(p)) for p in PLATFORMS)


def test_a_number_of_thousands_of_digits_is_a_parse_error() -> None:
    # found by the fuzzer: int() refuses more than 4300 digits with a ValueError
    output = real("huawei_vrp")["interfaces"].replace("120447364815 bytes", "9" * 5000 + " bytes")
    assert output != real("huawei_vrp")["interfaces"]
    with pytest.raises(ParseError, match="run of 5000 digits"):  # never int()'s ValueError
        parsers_for("huawei_vrp")["interfaces"](output)


@pytest.mark.parametrize("platform", ["cisco_ios", "arista_eos", "juniper_junos"])
def test_a_long_run_of_digits_cannot_hang_the_ospf_parser(platform: str) -> None:
    # found by the fuzzer: ntc-templates' OSPF templates backtrack in O(n^4) on digit runs
    # (300 digits: 4-7 s; this would take days); refused up front, in milliseconds
    output = "9" * 5000 + "\n" + real(platform)["ospf"]
    started = time.perf_counter()
    with pytest.raises(ParseError, match="run of 5000 digits"):
        parsers_for(platform)["ospf"](output)
    assert time.perf_counter() - started < 1
