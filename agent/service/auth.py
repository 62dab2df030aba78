"""Bearer-token authentication for the HTTP API. Tokens come from an environment variable
or a file, are compared in constant time, and are never logged or echoed."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path

from agent.errors import ServiceError
from config.service import AuthSettings

#: shorter tokens are refused at start: a bearer token is a password
MIN_TOKEN_LENGTH = 16


def load_tokens(settings: AuthSettings, env: Mapping[str, str], base_dir: Path) -> list[str]:
    """Every configured token. Raises ServiceError saying what to set when none is usable."""
    tokens: list[str] = []
    if settings.tokens_env and env.get(settings.tokens_env):
        tokens += [t.strip() for t in env[settings.tokens_env].split(",") if t.strip()]
    if settings.tokens_file:
        path = settings.tokens_file.expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ServiceError(f"server.auth.tokens_file {path}: cannot read it: "
                               f"{exc.strerror or exc}") from exc
        tokens += [line.strip() for line in lines
                   if line.strip() and not line.lstrip().startswith("#")]
    if short := [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]:
        raise ServiceError(f"{len(short)} API token(s) shorter than {MIN_TOKEN_LENGTH} "
                           "characters; generate one with: openssl rand -hex 32")
    if not tokens and settings.required:
        where = " or ".join(filter(None, [
            f"the environment variable {settings.tokens_env}" if settings.tokens_env else None,
            "server.auth.tokens_file" if settings.tokens_file else None])) or \
            "server.auth.tokens_env or server.auth.tokens_file"
        raise ServiceError(f"no API token configured: set {where} (generate one with: "
                           "openssl rand -hex 32), or set server.auth.required: false if an "
                           "authenticating proxy is in front")
    return tokens


class TokenCheck:
    """Decides whether a request may pass; holds the tokens, never prints them."""

    def __init__(self, tokens: list[str], public_paths: list[str]) -> None:
        self._tokens = [t.encode() for t in tokens]
        self.public = frozenset(public_paths)
        self.enabled = bool(tokens)

    def __repr__(self) -> str:
        return f"TokenCheck({len(self._tokens)} token(s), public={sorted(self.public)})"

    def allows(self, path: str, authorization: str | None) -> bool:
        if path in self.public or not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return False
        given = credential.strip().encode()
        # compare against every token (no early exit) so timing says nothing about which
        matches = [hmac.compare_digest(given, token) for token in self._tokens]
        return any(matches)
