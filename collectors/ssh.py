"""SSH connections with paramiko: connect (optionally through a jump host), verify the host key,
authenticate, with retries and timeouts; every library error is translated here, at one place.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import paramiko

from agent.errors import (
    AuthenticationError,
    CollectionError,
    ConnectError,
    CredentialError,
    SessionDroppedError,
)
from collectors.hostkeys import KnownHosts
from config.models import SshSettings
from config.secrets import ResolvedCredential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    name: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.name} ({self.address}:{self.port})"


class AuthMaterial:
    """A credential ready for paramiko: the private key is decrypted once and reused for every
    host (decrypting a passphrase-protected key costs ~0.1 s of CPU)."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self.name = credential.name
        self.username = credential.username
        self._password = credential.password
        #: the enable secret of network devices (never logged; netmiko masks it in its logs)
        self.secret = credential.secret
        self.pkey: paramiko.PKey | None = None
        if credential.key_file:
            passphrase = (credential.passphrase.get_secret_value().encode()
                          if credential.passphrase else None)
            try:
                # paramiko 5 wants bytes here; its type stubs still say str
                self.pkey = paramiko.PKey.from_path(
                    credential.key_file, passphrase)  # type: ignore[arg-type]
            except paramiko.PasswordRequiredException as exc:
                raise CredentialError(
                    f"credential set '{self.name}': key {credential.key_file} is encrypted; "
                    "set passphrase_env or passphrase_file"
                ) from exc
            except (paramiko.SSHException, OSError, ValueError) as exc:
                raise CredentialError(
                    f"credential set '{self.name}': cannot load key {credential.key_file} "
                    "(wrong passphrase, or not an OpenSSH/PEM private key)"
                ) from exc

    def authenticate(self, transport: paramiko.Transport, endpoint: Endpoint) -> None:
        try:
            if self.pkey is not None:
                try:
                    transport.auth_publickey(self.username, self.pkey)
                    return
                except paramiko.AuthenticationException:
                    if self._password is None:
                        raise
            if self._password is not None:
                transport.auth_password(self.username, self._password.get_secret_value())
                return
        except paramiko.BadAuthenticationType as exc:
            raise AuthenticationError(
                f"{endpoint}: the server does not accept this authentication method; it allows "
                f"{', '.join(exc.allowed_types)} (credential set '{self.name}')"
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise AuthenticationError(
                f"{endpoint}: authentication failed for user '{self.username}' with credential "
                f"set '{self.name}': check the password or key, and that the user may log in"
            ) from exc
        raise CredentialError(f"credential set '{self.name}' has neither a key nor a password")


@contextlib.contextmanager
def translate_errors(endpoint: Endpoint, settings: SshSettings) -> Iterator[None]:
    """Map socket/paramiko errors to xunjian's, with a message that says what to do."""
    try:
        yield
    except (CollectionError, CredentialError):
        raise
    except socket.gaierror as exc:
        raise ConnectError(
            f"{endpoint}: cannot resolve host name {endpoint.address!r} ({exc.strerror}); "
            "check the address in the inventory and DNS"
        ) from exc
    except ConnectionRefusedError as exc:
        raise ConnectError(
            f"{endpoint}: connection refused; is sshd running and listening on port "
            f"{endpoint.port}?"
        ) from exc
    except TimeoutError as exc:
        raise ConnectError(
            f"{endpoint}: no answer within {settings.connect_timeout:g} s; the host is down, "
            "unreachable or filtered"
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise ConnectError(f"{endpoint}: host unreachable ({exc.strerror})") from exc
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            raise SessionDroppedError(f"{endpoint}: connection reset by the host") from exc
        raise ConnectError(f"{endpoint}: network error: {exc.strerror or exc}") from exc
    except EOFError as exc:
        raise SessionDroppedError(f"{endpoint}: the connection was closed by the host") from exc
    except paramiko.SSHException as exc:
        text = str(exc)
        if "banner" in text.lower():
            raise ConnectError(
                f"{endpoint}: accepted TCP but sent no SSH banner within "
                f"{settings.connect_timeout:g} s; is this an SSH server, and is it overloaded "
                "(MaxStartups)?"
            ) from exc
        raise ConnectError(f"{endpoint}: SSH negotiation failed: {text}") from exc


_RETRYABLE = (ConnectError,)

#: offered first (when paramiko knows them): an AEAD cipher authenticates each packet within
#: the cipher, in C, so the HMAC of every packet in each direction, and paramiko's pure-Python
#: comparison of every MAC it reads, are gone (~25 % of paramiko's CPU per packet read)
AEAD_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def aead_first(ciphers: Sequence[str]) -> tuple[str, ...]:
    """``ciphers`` with the AES-GCM ones moved to the front. Only the order changes: every
    cipher is still offered, so a server without GCM (an old network device) negotiates as
    before."""
    return (*(name for name in AEAD_FIRST if name in ciphers),
            *(name for name in ciphers if name not in AEAD_FIRST))


def _is_permanent(exc: ConnectError) -> bool:
    return isinstance(exc.__cause__, socket.gaierror) and exc.__cause__.errno == socket.EAI_NONAME


def open_transport(
    endpoint: Endpoint, auth: AuthMaterial, known_hosts: KnownHosts, settings: SshSettings,
    via: paramiko.Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> paramiko.Transport:
    """Connect, verify the host key and authenticate, retrying connection failures with
    exponential backoff (never authentication or host key failures)."""
    attempt = 0
    while True:
        try:
            return _open_once(endpoint, auth, known_hosts, settings, via)
        except _RETRYABLE as exc:
            if attempt >= settings.retries or _is_permanent(exc):
                if attempt:
                    raise type(exc)(f"{exc} (after {attempt + 1} attempts)") from exc.__cause__
                raise
            delay = settings.retry_backoff * (2**attempt)
            log.info("%s: %s; retrying in %.1f s", endpoint, exc, delay)
            attempt += 1
            sleep(delay)


def _open_once(
    endpoint: Endpoint, auth: AuthMaterial, known_hosts: KnownHosts, settings: SshSettings,
    via: paramiko.Transport | None,
) -> paramiko.Transport:
    sock: Any
    with translate_errors(endpoint, settings):
        if via is None:
            sock = socket.create_connection(
                (endpoint.address, endpoint.port), timeout=settings.connect_timeout
            )
        else:
            try:
                sock = via.open_channel(
                    "direct-tcpip", (endpoint.address, endpoint.port), ("127.0.0.1", 0),
                    timeout=settings.connect_timeout,
                )
            except paramiko.ChannelException as exc:
                raise ConnectError(
                    f"{endpoint}: the jump host could not open a connection to it "
                    f"({exc.text}); check the address and that the jump host allows forwarding"
                ) from exc
        transport = paramiko.Transport(sock)
        try:
            options = transport.get_security_options()
            options.ciphers = aead_first(options.ciphers)
            transport.banner_timeout = settings.connect_timeout
            transport.auth_timeout = settings.connect_timeout
            # Give the handshake a little longer than the banner wait, so a silent peer
            # surfaces as the banner error rather than a vague "no existing session".
            transport.start_client(timeout=settings.connect_timeout + 2)
            if not transport.is_active():
                raise transport.get_exception() or paramiko.SSHException(
                    "Error reading SSH protocol banner")
            known_hosts.verify(endpoint.address, endpoint.port, transport.get_remote_server_key())
            auth.authenticate(transport, endpoint)
        except BaseException:
            transport.close()
            raise
        return transport
