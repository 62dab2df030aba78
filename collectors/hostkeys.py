"""Host key verification against known_hosts files, loaded once and shared by all workers.

``strict`` (the default) refuses a host whose key is not known; ``tofu`` records the first key
seen in xunjian's own known_hosts file and enforces it from then on. A *changed* key is refused
under both policies, loudly, with the command that removes the old key if the change is expected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import paramiko

from agent.errors import HostKeyError

log = logging.getLogger(__name__)


def host_id(address: str, port: int) -> str:
    """The name OpenSSH uses in known_hosts: ``addr`` on port 22, else ``[addr]:port``."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:..." as OpenSSH prints it


class KnownHosts:
    def __init__(
        self, files: Iterable[Path], tofu_file: Path,
        policy: Literal["strict", "tofu"] = "strict",
    ) -> None:
        self._keys = paramiko.HostKeys()
        self._files = [f for f in files if f.is_file()]
        for file in self._files:
            self._keys.load(str(file))
        self._tofu_file = tofu_file
        if tofu_file.is_file() and tofu_file not in self._files:
            self._keys.load(str(tofu_file))
            self._files.append(tofu_file)
        self.policy = policy
        self._lock = threading.Lock()

    def verify(self, address: str, port: int, key: paramiko.PKey) -> None:
        """Raise :class:`HostKeyError` unless ``key`` is the known key for the host."""
        name = host_id(address, port)
        with self._lock:
            known = self._keys.lookup(name)
            if known is not None and key.get_name() in known:
                expected = known[key.get_name()]
                if expected == key:
                    return
                raise HostKeyError(
                    f"HOST KEY CHANGED for {name}: expected {fingerprint(expected)}, got "
                    f"{fingerprint(key)}. Refusing to connect: this can be a man-in-the-middle "
                    f"attack or a reinstalled host. If the change is expected, remove the old "
                    f"key with: ssh-keygen -R '{name}' -f <known_hosts file> "
                    f"(searched: {', '.join(map(str, self._files)) or 'none'})"
                )
            if known is not None:
                # Known host, but not with this key type: treat as unknown key of a known host.
                types = ", ".join(known.keys())
                raise HostKeyError(
                    f"host key for {name} is {key.get_name()} {fingerprint(key)}, but only "
                    f"{types} key(s) are recorded for it; verify it and add it to known_hosts"
                )
            if self.policy == "tofu":
                self._record(name, key)
                return
        raise HostKeyError(
            f"host key for {name} is not known ({key.get_name()} {fingerprint(key)}). Verify it, "
            f"then add it: ssh-keyscan -p {port} {address} >> ~/.ssh/known_hosts — or set "
            f"ssh.host_key_policy: tofu to record keys on first contact"
        )

    def _record(self, name: str, key: paramiko.PKey) -> None:
        self._keys.add(name, key.get_name(), key)
        self._tofu_file.parent.mkdir(parents=True, exist_ok=True)
        with self._tofu_file.open("a", encoding="ascii") as fh:
            fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        log.warning("trusting new host key for %s on first use: %s %s (recorded in %s)",
                    name, key.get_name(), fingerprint(key), self._tofu_file)
