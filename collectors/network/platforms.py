"""Which parser module serves which platform (netmiko device_type names)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from agent.errors import XunjianError
from collectors.network.parsing import ItemParser
from config.platforms import NETWORK_PLATFORMS

#: the item whose output is the running configuration (stored as config history, not parsed)
RUNNING_CONFIG = "running_config"


def parsers_for(platform: str) -> Mapping[str, ItemParser]:
    if platform not in NETWORK_PLATFORMS:
        raise XunjianError(f"{platform!r} is not a network platform")
    module = importlib.import_module(f"collectors.network.{platform}")
    parsers: Mapping[str, ItemParser] = module.PARSERS
    return parsers
