"""Resolve credential sets to secrets (from environment variables or files), and redact them.

Secrets live only in :class:`ResolvedCredential` (as ``SecretStr``, so ``repr`` and logs show
``**********``) and in the :class:`Redactor`, which scrubs them from transcripts, logs and
error messages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import CredentialError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from config.models import CredentialConfig

REDACTED = "********"


@dataclass(frozen=True)
class ResolvedCredential:
    name: str
    username: str
    password: SecretStr | None
    key_file: Path | None
    passphrase: SecretStr | None
    #: the enable secret of network devices
    secret: SecretStr | None = None

    def secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in (self.password, self.passphrase, self.secret)
                if s is not None]


def _read_secret(
    cred_name: str, what: str, env_name: str | None, file: Path | None,
    env: Mapping[str, str], base_dir: Path,
) -> SecretStr | None:
    # pydantic: imported when a secret is read, not with the Redactor (every CLI process)
    from pydantic import SecretStr  # noqa: PLC0415

    if env_name:
        value = env.get(env_name)
        if value is None:
            raise CredentialError(
                f"credential set '{cred_name}': environment variable {env_name} "
                f"(its {what}) is not set; export it before running xunjian"
            )
        return SecretStr(value)
    if file:
        path = file.expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise CredentialError(
                f"credential set '{cred_name}': cannot read its {what} file {path}: "
                f"{exc.strerror or exc}"
            ) from exc
    return None


def resolve_credential(
    name: str, cred: CredentialConfig, env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> ResolvedCredential:
    """Read the secrets of one credential set. Raises :class:`CredentialError` with what to do."""
    env = os.environ if env is None else env
    base = base_dir or Path.cwd()
    key_file = None
    if cred.key_file:
        key_file = cred.key_file.expanduser()
        key_file = key_file if key_file.is_absolute() else base / key_file
        if not key_file.is_file():
            raise CredentialError(
                f"credential set '{name}': key file {key_file} does not exist or is not a file"
            )
    password = _read_secret(name, "password", cred.password_env, cred.password_file, env, base)
    passphrase = _read_secret(
        name, "key passphrase", cred.passphrase_env, cred.passphrase_file, env, base
    )
    secret = _read_secret(name, "enable secret", cred.secret_env, cred.secret_file, env, base)
    return ResolvedCredential(name, cred.username, password, key_file, passphrase, secret)


class Redactor:
    """Replaces every known secret value with ``********``. Longest first, so prefixes lose."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Very short values would shred ordinary text; they are still never logged by us.
        new = {s for s in secrets if s and len(s) >= 3}
        self._secrets = sorted(set(self._secrets) | new, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the fully formatted message of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._redact(text)
        return True
