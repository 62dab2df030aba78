"""xunjian agent: orchestration (runner), result store, CLI and the exception root."""

__version__ = "0.1.0"
