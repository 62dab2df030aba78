"""Device text reaches the terminal as it is: rich's emoji codes (``:warning:``) are off on
every console of the CLI, as markup and control characters are (``shown``)."""

from __future__ import annotations

import pytest
from rich.console import Console

from agent import clikit
from agent.incidents import cli as incidents_cli
from reports import cli as reports_cli

CONSOLES = {"out": clikit.out, "err": clikit.err, "incidents": incidents_cli.out,
            "reports.out": reports_cli.out, "reports.err": reports_cli.err}


@pytest.mark.parametrize("name", sorted(CONSOLES))
def test_emoji_codes_in_device_text_are_printed_literally(name: str) -> None:
    console: Console = CONSOLES[name]
    with console.capture() as captured:
        console.print(clikit.shown("fan :warning: tray [red]2[/red] :smile:"))
    assert captured.get().strip() == "fan :warning: tray [red]2[/red] :smile:"
