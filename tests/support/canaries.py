"""The suite's canary secrets, in one place, and how a test marks files that hold them on purpose.

Every test that needs a password, a key passphrase, an enable secret or an API token uses these
values, so the audit at the end of the run (tests/hardening/test_secrets_audit.py) can search
every artefact the suite produced for them. A canary found anywhere the product wrote is a leak.

Some files hold a canary by design, and are not the product's artefacts:

* a simulated device's own state (netsim's and fakenos's configs hold the device's password,
  a file on a test host holds a planted secret the agent must redact): the harness calls
  :func:`mark_device_side` on its directory;
* a secret *source* the agent is told to read (``password_file``, a token file): a file made of
  nothing but canaries (one a line, ``#`` comments allowed), recognised by the audit itself.
"""

from __future__ import annotations

from pathlib import Path

#: login password (the local password user of the SSH fleet, network devices)
CANARY_PASSWORD = "Xj-canary-7f3a9c!pw"
#: passphrase of the SSH fleet's encrypted client key
CANARY_PASSPHRASE = "Xj-canary-passphrase-51e2"
#: enable secret of simulated Cisco IOS / Arista devices
CANARY_ENABLE_SECRET = "Xj-canary-enable-5c8e"
#: bearer token of the agent's HTTP API (at least 16 characters, as the agent demands)
CANARY_API_TOKEN = "Xj-canary-api-token-6d0b9f31a2"

#: name → value of every suite-wide canary
SUITE_CANARIES: dict[str, str] = {
    "password": CANARY_PASSWORD,
    "passphrase": CANARY_PASSPHRASE,
    "enable secret": CANARY_ENABLE_SECRET,
    "API token": CANARY_API_TOKEN,
}

#: the file that marks a directory as a simulated device's own state (its content: why)
EXEMPT_MARKER = ".canary-device-side"


def mark_device_side(directory: Path, why: str) -> Path:
    """Mark ``directory`` as device-side state that holds canaries by design; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / EXEMPT_MARKER).write_text(why.strip() + "\n", encoding="utf-8")
    return directory
