"""The one exception root of xunjian.

Every error xunjian raises on purpose derives from :class:`XunjianError`; errors from the
libraries underneath (paramiko, socket, SQLAlchemy, yaml) are translated at the boundary with
``raise ... from exc`` so the message says what happened *and what to do*::

    XunjianError
    ├── ConfigError              config or inventory file invalid (lists every problem)
    ├── CredentialError          a credential's secret could not be read (env var / file)
    ├── PackError                an inspection pack is malformed
    │   └── PackRefusedError     a device's standard pack may not run (not approved …)
    ├── PolicyError              a command was refused by the read-only policy before sending
    ├── CollectionError          a device could not be inspected (its result is UNKNOWN)
    │   ├── ConnectError         DNS, refused, timeout, no SSH banner
    │   ├── AuthenticationError  wrong password / key / passphrase
    │   ├── HostKeyError         unknown or *changed* host key
    │   ├── CommandTimeoutError  the inspection did not finish in time
    │   └── SessionDroppedError  the connection closed mid-run
    ├── ParseError               a command's output was not understood
    ├── InventoryImportError     a spreadsheet could not be read at all
    ├── StoreError               the result store could not be opened or written
    ├── NotifyError              a notification could not be delivered (it is retried)
    ├── IncidentError            an incident operation is not possible (unknown id, bad state)
    ├── ServiceError             the agent service cannot start (port in use, bad plan)
    └── ReportError              a report cannot be made or delivered (bad period, PDF, disk)
"""

from __future__ import annotations

from dataclasses import dataclass


class XunjianError(Exception):
    """Root of every error xunjian raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is and what was expected."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '<root>'}: {self.message}"


class ConfigError(XunjianError):
    """A config or inventory file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the configuration:\n{lines}")


class CredentialError(XunjianError):
    """A credential's secret could not be read."""


class PackError(XunjianError):
    """An inspection pack is malformed."""


class PackRefusedError(PackError):
    """A device's standard pack may not run (not approved, wrong platform): nothing is sent."""

    def __init__(self, pack: str, reason: str) -> None:
        super().__init__(reason)
        self.pack = pack


class PolicyError(XunjianError):
    """A command was refused by the read-only policy; it was never sent."""


class CollectionError(XunjianError):
    """A device could not be inspected. Its result is UNKNOWN with this message as the reason.

    ``transcript`` keeps whatever the session printed before it failed, as evidence.
    """

    def __init__(self, message: str, *, transcript: str | None = None) -> None:
        super().__init__(message)
        self.transcript = transcript


class ConnectError(CollectionError):
    """The device could not be reached over SSH."""


class AuthenticationError(CollectionError):
    """The device refused the credentials."""


class HostKeyError(CollectionError):
    """The device's host key is unknown or has changed."""


class CommandTimeoutError(CollectionError):
    """The inspection did not complete within its time limit."""


class SessionDroppedError(CollectionError):
    """The SSH connection closed before the inspection finished."""


class ParseError(XunjianError):
    """A command's output was not understood by its parser."""


class InventoryImportError(XunjianError):
    """A spreadsheet could not be read at all (individual bad rows are reported, not raised)."""


class StoreError(XunjianError):
    """The result store could not be opened, migrated or written."""


class DuplicateResultError(StoreError):
    """This run already has a result for this device (a retried task): nothing was stored."""


class NotifyError(XunjianError):
    """A notification could not be delivered; the delivery is retried and the incident kept."""


class IncidentError(XunjianError):
    """An incident operation is not possible (unknown incident, transition not allowed)."""


class ServiceError(XunjianError):
    """The agent service cannot start or serve (address in use, invalid plan)."""


class ReportError(XunjianError):
    """A report cannot be made, written or delivered."""
