"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

:class:`SmtpPeer` runs aiosmtpd's ``Controller`` in its own thread on a free port. Options:

* ``security="starttls"`` or ``"ssl"``: a self-signed certificate for 127.0.0.1 is made in
  ``workdir`` (:attr:`SmtpPeer.ca_file` is what clients should trust);
* ``users={"name": "password"}``: AUTH PLAIN/LOGIN is offered (only after TLS, like real
  servers) and required before MAIL (with ``ssl`` offered but not required: aiosmtpd's
  limitation); :attr:`SmtpPeer.auth_attempts` records every login, ``ReceivedMail.login``
  the session's;
* ``reject={"x@example.com"}``: those recipients get ``550``.

Messages are parsed with the modern e-mail policy (:attr:`ReceivedMail.message`), and the raw
bytes are kept to check encodings.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.alertmanager import free_port


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    #: the login the session authenticated as (None: no AUTH)
    login: str | None


def make_self_signed(workdir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate + key for ``host`` (an IP SAN); returns ``(cert, key)`` paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "smtp-cert.pem", workdir / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str],
    ) -> str:
        if address in self.peer.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any,
    ) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        with self.peer.lock:
            self.peer.messages.append(ReceivedMail(
                envelope.mail_from, list(envelope.rcpt_tos), raw, message, login))
            self.peer.received.notify_all()
        return "250 Message accepted"


class SmtpPeer:
    def __init__(
        self, workdir: Path, *, security: Literal["none", "starttls", "ssl"] = "none",
        users: Mapping[str, str] | None = None, reject: Collection[str] = (),
    ) -> None:
        if users and security == "none":
            raise ValueError("AUTH without TLS is refused by xunjian; use starttls or ssl")
        self.workdir = workdir
        self.security = security
        self.users = dict(users or {})
        self.reject = set(reject)
        self.host = "127.0.0.1"
        self.port = 0
        self.ca_file: Path | None = None
        self.messages: list[ReceivedMail] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        self.received = threading.Condition(self.lock)
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = self.users.get(login) == auth_data.password.decode()
        with self.lock:
            self.auth_attempts.append((login, ok))
        # handled=False: aiosmtpd answers (535 on failure) itself
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.security != "none":
            cert, key = make_self_signed(self.workdir, self.host)
            self.ca_file = cert
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if self.security == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs["ssl_context"] = context
        if self.users:
            # aiosmtpd only knows about STARTTLS: with implicit TLS it must offer AUTH without
            # "TLS", and then refuses (warns) to *require* it; check ``login`` in tests instead.
            starttls = self.security == "starttls"
            kwargs.update(authenticator=self._authenticate, auth_require_tls=starttls,
                          auth_required=self.security != "ssl")
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      **kwargs)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages arrived; return them all."""
        with self.received:
            if not self.received.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
            return list(self.messages)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
