"""Build the configured notification channels, reading their secrets.

Secrets are read here, once, from the environment variables and files the config names; a
missing one raises :class:`CredentialError` naming the channel and the variable or file. They
live on only inside the notifiers (as ``SecretStr``), never in messages or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr

from agent.errors import CredentialError
from agent.notify.alertmanager import AlertmanagerNotifier
from agent.notify.common import Clock, utc_now
from agent.notify.email import EmailNotifier
from agent.notify.event import Notifier
from agent.notify.pagerduty import PagerDutyNotifier
from agent.notify.smtp import SmtpSender
from agent.notify.webhook import WebhookNotifier
from config.notify import MailSettings, NotificationSettings


def read_secret(
    owner: str, what: str, env_name: str | None, file: Path | None, env: Mapping[str, str],
    base_dir: Path,
) -> SecretStr | None:
    """The secret from ``env_name`` or ``file`` (relative to ``base_dir``); None if neither."""
    if env_name:
        value = env.get(env_name)
        if not value:
            raise CredentialError(
                f"{owner}: environment variable {env_name} (its {what}) is not set or empty; "
                "export it before starting xunjian"
            )
        return SecretStr(value)
    if file:
        path = file.expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CredentialError(f"{owner}: cannot read its {what} file {path}: {reason}"
                                  ) from exc
        if not value:
            raise CredentialError(f"{owner}: its {what} file {path} is empty")
        return SecretStr(value)
    return None


def smtp_sender(
    mail: MailSettings, env: Mapping[str, str] | None = None, base_dir: Path | None = None,
) -> SmtpSender:
    """The SMTP sender of the ``mail:`` section (the customer report uses this too)."""
    env = os.environ if env is None else env
    base = base_dir or Path.cwd()
    password = read_secret("mail", "SMTP password", mail.password_env, mail.password_file,
                           env, base)
    if mail.ca_file is not None and not mail.ca_file.expanduser().is_absolute():
        mail = mail.model_copy(update={"ca_file": base / mail.ca_file})
    return SmtpSender(mail, password)


def build_notifiers(
    settings: NotificationSettings, mail: MailSettings | None, env: Mapping[str, str], *,
    http: httpx.Client | None = None, base_dir: Path | None = None, clock: Clock = utc_now,
) -> list[Notifier]:
    """One notifier per configured channel, in config order (webhooks, alertmanager, email,
    pagerduty). ``http`` is shared by the HTTP channels; pass one to control its lifetime
    (when omitted, one is created that lives as long as the process). ``base_dir`` anchors
    relative secret and CA file paths (the config file's directory).
    """
    base = base_dir or Path.cwd()
    if http is None and (settings.webhooks or settings.alertmanager or settings.pagerduty):
        # Timeouts are per request (each channel's); HTTP(S)_PROXY from the environment apply.
        http = httpx.Client()
    notifiers: list[Notifier] = []
    for hook in settings.webhooks:
        assert http is not None
        owner = f"notifications.webhooks '{hook.name}'"
        secret = read_secret(owner, "HMAC secret", hook.secret_env, hook.secret_file, env, base)
        secret_headers: dict[str, SecretStr] = {}
        for header, env_name in hook.headers_env.items():
            value = read_secret(owner, f"header {header}", env_name, None, env, base)
            assert value is not None
            secret_headers[header] = value
        notifiers.append(WebhookNotifier(
            hook.name, hook.url, http, secret=secret, timeout=hook.timeout_seconds,
            headers=hook.headers, secret_headers=secret_headers, clock=clock))
    for am in settings.alertmanager:
        assert http is not None
        notifiers.append(AlertmanagerNotifier(
            am.name, am.url, http, timeout=am.timeout_seconds,
            alert_lifetime=timedelta(seconds=am.alert_lifetime_seconds),
            resend_interval=timedelta(seconds=am.resend_interval_seconds),
            generator_url=am.generator_url, runbook_url=am.runbook_url, clock=clock))
    if settings.email:
        if mail is None:
            names = ", ".join(repr(c.name) for c in settings.email)
            raise CredentialError(
                f"notifications.email {names}: e-mail channels need the SMTP server: add a "
                "mail: section (host, from_address, security ...)"
            )
        sender = smtp_sender(mail, env, base)
        for channel in settings.email:
            notifiers.append(EmailNotifier(channel.name, sender, channel.to, lang=channel.lang,
                                           clock=clock))
    for pd in settings.pagerduty:
        assert http is not None
        owner = f"notifications.pagerduty '{pd.name}'"
        key = read_secret(owner, "routing key", pd.routing_key_env, pd.routing_key_file, env,
                          base)
        assert key is not None  # the config requires one source
        notifiers.append(PagerDutyNotifier(pd.name, key, http, url=pd.url,
                                           timeout=pd.timeout_seconds))
    return notifiers
