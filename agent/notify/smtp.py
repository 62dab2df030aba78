"""Send an e-mail through the ``mail:`` SMTP server (notifications and the customer report).

STARTTLS or implicit TLS verify the server's certificate (the system CAs, or ``ca_file``).
smtplib and ssl failures become :class:`NotifyError` naming the server and what to check; the
password is never part of a message.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr

from pydantic import SecretStr

from agent.errors import NotifyError
from config.notify import MailSettings


class SmtpSender:
    def __init__(self, settings: MailSettings, password: SecretStr | None = None) -> None:
        self.settings = settings
        self._password = password

    def __repr__(self) -> str:
        return f"SmtpSender(host={self.settings.host!r}, port={self.settings.effective_port})"

    @property
    def sender(self) -> str:
        """The From: header value."""
        if self.settings.from_name:
            return formataddr((self.settings.from_name, self.settings.from_address))
        return self.settings.from_address

    def send(self, message: EmailMessage, context: str = "mail") -> None:
        """Send ``message`` (From: is set if missing). ``context`` prefixes error messages."""
        if "From" not in message:
            message["From"] = self.sender
        mail = self.settings
        where = f"SMTP server {mail.host}:{mail.effective_port} ({mail.security})"
        try:
            with self._connect() as smtp:
                if mail.username and self._password is not None:
                    smtp.login(mail.username, self._password.get_secret_value())
                smtp.send_message(message, from_addr=mail.from_address)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(
                f"{context}: {where} refused the login of user {mail.username!r} "
                f"(SMTP {exc.smtp_code}); check the password in "
                f"{mail.password_env or mail.password_file}"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise NotifyError(f"{context}: {where} refused the recipient(s) {refused}; "
                              "check the addresses") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise NotifyError(f"{context}: {where} refused the sender {mail.from_address} "
                              f"(SMTP {exc.smtp_code}); check mail.from_address") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError(f"{context}: {where}: {_text(exc)}; check mail.security "
                              "(the server may not offer STARTTLS or AUTH)") from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(f"{context}: {where} answered {exc.smtp_code} "
                              f"{_text(exc.smtp_error)}") from exc
        except ssl.SSLError as exc:
            raise NotifyError(f"{context}: TLS with {where} failed ({exc.reason or exc}); "
                              "check mail.security, mail.port and mail.ca_file") from exc
        except TimeoutError as exc:
            raise NotifyError(f"{context}: {where} did not answer within "
                              f"{mail.timeout_seconds:g} s; check host and port") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"{context}: cannot send through {where} ({_text(exc)}); check "
                              "mail.host, mail.port and that the server is running") from exc

    def _connect(self) -> smtplib.SMTP:
        mail = self.settings
        port, timeout = mail.effective_port, mail.timeout_seconds
        if mail.security == "ssl":
            return smtplib.SMTP_SSL(mail.host, port, timeout=timeout, context=self._tls())
        smtp = smtplib.SMTP(mail.host, port, timeout=timeout)
        try:
            if mail.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self._tls())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        return ssl.create_default_context(cafile=cafile)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) or type(value).__name__
