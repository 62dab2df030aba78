"""build_notifiers: one notifier per channel with its secrets read from the environment or
files; a missing secret names the channel and the variable; built notifiers deliver to the real
peers (receiver, aiosmtpd with STARTTLS + AUTH)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from support.incident_events import HMAC_SECRET, ROUTING_KEY, SMTP_PASSWORD, make_event
from support.smtp import SmtpPeer
from support.webhook_receiver import WebhookReceiver

from agent.errors import CredentialError
from agent.notify.alertmanager import AlertmanagerNotifier
from agent.notify.email import EmailNotifier
from agent.notify.factory import build_notifiers, smtp_sender
from agent.notify.pagerduty import PagerDutyNotifier
from agent.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, verify
from config.notify import MailSettings, NotificationSettings


def _settings(receiver_url: str) -> NotificationSettings:
    return NotificationSettings.model_validate({
        "webhooks": [{"name": "hook", "url": receiver_url + "/hook",
                      "secret_file": "secrets/hook.key",
                      "headers_env": {"Authorization": "XJ_HOOK_TOKEN"}}],
        "alertmanager": [{"name": "am", "url": "http://127.0.0.1:9093",
                          "resend_interval_seconds": 60, "alert_lifetime_seconds": 240}],
        "email": [{"name": "mail", "to": ["oncall@ops.example"], "lang": "en"}],
        "pagerduty": [{"name": "pd", "routing_key_env": "XJ_PD_KEY",
                       "url": receiver_url + "/v2/enqueue"}],
    })


def _mail(peer: SmtpPeer) -> MailSettings:
    assert peer.ca_file is not None
    return MailSettings(host=peer.host, port=peer.port, security="starttls", username="xj",
                        password_env="XJ_SMTP", from_address="xunjian@ops.example",
                        ca_file=Path(peer.ca_file.name), timeout_seconds=5)


def test_builds_every_channel_and_delivers(
    tmp_path: Path, receiver: WebhookReceiver, http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook.key").write_text(HMAC_SECRET + "\n")
    env = {"XJ_HOOK_TOKEN": "Bearer tok-123", "XJ_PD_KEY": ROUTING_KEY, "XJ_SMTP": SMTP_PASSWORD}
    with SmtpPeer(tmp_path, security="starttls", users={"xj": SMTP_PASSWORD}) as peer:
        # ca_file relative to the config directory, like the secret file
        notifiers = build_notifiers(_settings(receiver.url), _mail(peer), env, http=http,
                                    base_dir=tmp_path)
        assert [type(n) for n in notifiers] == [WebhookNotifier, AlertmanagerNotifier,
                                                EmailNotifier, PagerDutyNotifier]
        assert [n.name for n in notifiers] == ["hook", "am", "mail", "pd"]
        assert [n.resend_firing for n in notifiers] == [False, True, False, False]
        am = notifiers[1]
        assert isinstance(am, AlertmanagerNotifier)
        assert am.resend_interval_seconds == 60

        event = make_event()
        for notifier in (notifiers[0], notifiers[2], notifiers[3]):
            notifier.send(event)
        (mail,) = peer.wait_for(1)
        assert mail.login == "xj"
        assert mail.message["Subject"].startswith("[xunjian] [P1] FIRING")

    hook, pd = receiver.wait_for(2)
    assert hook.header("Authorization") == "Bearer tok-123"
    timestamp, signature = hook.header(TIMESTAMP_HEADER), hook.header(SIGNATURE_HEADER)
    assert timestamp and signature
    # the file's trailing newline is not part of the key
    assert verify(HMAC_SECRET.encode(), timestamp, hook.body, signature)
    assert pd.json()["routing_key"] == ROUTING_KEY

    shown = " ".join(repr(n) for n in notifiers) + caplog.text
    for secret in (HMAC_SECRET, ROUTING_KEY, SMTP_PASSWORD, "tok-123"):
        assert secret not in shown


def test_missing_env_var_names_channel_and_variable(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook.key").write_text(HMAC_SECRET)
    settings = _settings("http://127.0.0.1:1")
    env = {"XJ_HOOK_TOKEN": "t", "XJ_SMTP": SMTP_PASSWORD}
    mail = MailSettings(host="h", from_address="a@b.example", username="xj",
                        password_env="XJ_SMTP")
    with pytest.raises(CredentialError) as caught:
        build_notifiers(settings, mail, env, base_dir=tmp_path)
    assert str(caught.value) == (
        "notifications.pagerduty 'pd': environment variable XJ_PD_KEY (its routing key) is not "
        "set or empty; export it before starting xunjian")


def test_missing_secret_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"notifications.webhooks 'hook': cannot read its "
                       r"HMAC secret file .*secrets/hook.key: No such file or directory"):
        build_notifiers(_settings("http://127.0.0.1:1"), None, {}, base_dir=tmp_path)


def test_missing_header_token(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hook.key").write_text(HMAC_SECRET)
    with pytest.raises(CredentialError, match=r"notifications.webhooks 'hook': environment "
                       r"variable XJ_HOOK_TOKEN \(its header Authorization\) is not set"):
        build_notifiers(_settings("http://127.0.0.1:1"), None, {}, base_dir=tmp_path)


def test_email_channel_needs_mail_section() -> None:
    settings = NotificationSettings.model_validate(
        {"email": [{"name": "mail", "to": ["a@b.example"]}]})
    with pytest.raises(CredentialError, match=r"notifications.email 'mail': e-mail channels "
                       r"need the SMTP server: add a mail: section"):
        build_notifiers(settings, None, {})


def test_missing_smtp_password() -> None:
    mail = MailSettings(host="h", from_address="a@b.example", username="xj",
                        password_env="XJ_SMTP")
    with pytest.raises(CredentialError, match=r"^mail: environment variable XJ_SMTP \(its SMTP "
                       r"password\) is not set"):
        smtp_sender(mail, {})


def test_no_channels_no_notifiers() -> None:
    assert build_notifiers(NotificationSettings(), None, {}) == []
