"""What every ``xunjian`` command group shares: the --config option, loading the config,
opening the store, and turning deliberate errors into a message and exit status 3."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from agent.errors import XunjianError
from agent.visible import visible
from config import CONFIG_ENV

# The config models, SQLAlchemy and the checks are imported by the functions that use them
# (the imports marked PLC0415), not by every ``xunjian`` process: ~1 s of CPU.
if TYPE_CHECKING:
    from agent.store import Store
    from config.loader import LoadedConfig

F = TypeVar("F", bound=Callable[..., Any])
#: exit status for usage/config/store errors (Nagios UNKNOWN: nothing could be judged)
EXIT_ERROR = 3

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def shown(text: str) -> str:
    """``text`` (a device's output, an inventory field ...) for rich markup on a terminal:
    markup escaped and control characters visible, so a terminal never obeys it."""
    return escape(visible(text))


def config_option(fn: F) -> F:
    return click.option(
        "--config", "-c", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV, show_envvar=True,
        help="Config file (default: inspect this machine with built-in defaults).",
    )(fn)


def load(config_file: Path | None) -> LoadedConfig:
    from checks.builtin import CHECK_NAMES  # noqa: PLC0415 (see the imports)
    from config.loader import config_path_from, default_config, load_config  # noqa: PLC0415

    path = config_path_from(str(config_file) if config_file else None, env={})
    if path is None:
        return default_config()
    return load_config(path, known_checks=CHECK_NAMES)


def data_dir(loaded: LoadedConfig) -> Path:
    from agent.store import default_data_dir  # noqa: PLC0415 (see the imports)

    configured = loaded.config.store.data_dir
    if configured is None:
        return default_data_dir()
    configured = configured.expanduser()
    return configured if configured.is_absolute() else loaded.base_dir / configured


def open_store(loaded: LoadedConfig) -> Store:
    from agent.store import Store  # noqa: PLC0415 (see the imports)

    return Store.open(loaded.config.store.url, data_dir(loaded))


@contextmanager
def errors_exit() -> Iterator[None]:
    """Every deliberate error ends with a clear message and exit status 3, not a traceback."""
    try:
        yield
    except XunjianError as exc:  # ConfigError included: its message lists every problem
        err.print(f"[red]error:[/] {shown(str(exc))}")
        sys.exit(EXIT_ERROR)
