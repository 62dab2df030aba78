"""Which parser module serves which platform (netmiko device_type names)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping

from agent.errors import ParseError, XunjianError
from collectors.network.parsing import ItemParser, Update, refuse_absurd_numbers
from config.platforms import NETWORK_PLATFORMS

#: the item whose output is the running configuration (stored as config history, not parsed)
RUNNING_CONFIG = "running_config"


def parsers_for(platform: str) -> Mapping[str, ItemParser]:
    """The platform's item parsers; each raises only ParseError (see :func:`_parse_errors`)."""
    if platform not in NETWORK_PLATFORMS:
        raise XunjianError(f"{platform!r} is not a network platform")
    module = importlib.import_module(f"collectors.network.{platform}")
    parsers: Mapping[str, ItemParser] = module.PARSERS
    return {item: _parse_errors(parser) for item, parser in parsers.items()}


def _parse_errors(parser: ItemParser) -> ItemParser:
    """``parser`` refusing absurd digit runs (see parsing.py), with what garbled output makes
    Python raise turned into ParseError: a number past int()'s digit limit, a value the fact
    models refuse (pydantic's ValidationError is a ValueError), nesting too deep. Found by
    fuzzing the parsers."""

    @functools.wraps(parser)
    def parse(output: str) -> Update:
        refuse_absurd_numbers(output)  # before any template can backtrack on it
        try:
            return parser(output)
        except (ValueError, OverflowError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ParseError(f"the output has a value out of range: {first[:200]}") from exc

    return parse
