"""notifications: and mail: settings: defaults, every channel, and errors that point at the
field (file:line and path, through config/loader.py) — inline secrets refused with a hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.errors import ConfigError
from config.loader import load_config
from config.notify import MailSettings, NotificationSettings, RetrySettings

FULL = """\
mail:
  host: smtp.example.com
  security: starttls
  username: xunjian
  password_env: XJ_SMTP_PASSWORD
  from_address: xunjian@example.com
  from_name: 巡检
notifications:
  retry: {attempts: 6, backoff_seconds: 10, max_backoff_seconds: 600}
  webhooks:
    - name: ops-hook
      url: https://hooks.example.com/xunjian
      secret_env: XJ_HOOK_SECRET
      headers: {X-Team: dba}
      headers_env: {Authorization: XJ_HOOK_TOKEN}
  alertmanager:
    - name: am
      url: http://127.0.0.1:9093
      alert_lifetime_seconds: 1200
      resend_interval_seconds: 300
      generator_url: http://xunjian.example:9735/incidents/{incident_id}
  email:
    - name: oncall
      to: [oncall@example.com]
      lang: zh-CN
  pagerduty:
    - name: pd
      routing_key_file: secrets/pd.key
"""


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "xunjian.yaml"
    path.write_text(textwrap.dedent(text))
    load_config(path, env={})


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return [str(p) for p in caught.value.problems]


def test_defaults() -> None:
    settings = NotificationSettings()
    assert settings.channels() == []
    assert settings.retry == RetrySettings(attempts=5, backoff_seconds=30,
                                           max_backoff_seconds=1800)


def test_full_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "xunjian.yaml"
    path.write_text(FULL)
    config = load_config(path, env={}).config
    notifications = config.notifications
    assert [c.name for c in notifications.channels()] == ["ops-hook", "am", "oncall", "pd"]
    assert notifications.webhooks[0].headers_env == {"Authorization": "XJ_HOOK_TOKEN"}
    assert notifications.alertmanager[0].alert_lifetime_seconds == 1200
    assert config.mail is not None and config.mail.effective_port == 587


def test_retry_delay_doubles_up_to_the_cap() -> None:
    retry = RetrySettings(attempts=6, backoff_seconds=10, max_backoff_seconds=60)
    assert [retry.delay(n) for n in range(6)] == [0, 10, 20, 40, 60, 60]


@pytest.mark.parametrize(("security", "port"), [("none", 25), ("starttls", 587), ("ssl", 465)])
def test_mail_default_ports(security: str, port: int) -> None:
    mail = MailSettings.model_validate(
        {"host": "smtp", "security": security, "from_address": "a@b.example"})
    assert mail.effective_port == port


@pytest.mark.parametrize(("channel", "key", "hint"), [
    ("webhooks", "secret", "use secret_env (an environment variable name) or secret_file"),
    ("pagerduty", "routing_key", "use routing_key_env (an environment variable name) or "
                                 "routing_key_file"),
])
def test_inline_channel_secrets_are_refused(tmp_path: Path, channel: str, key: str,
                                            hint: str) -> None:
    problems = _problems(tmp_path, f"""\
        notifications:
          {channel}:
            - name: x
              url: https://x.example/
              {key}: Xj-canary-inline
        """)
    (problem,) = problems
    assert problem.startswith(f"{tmp_path / 'xunjian.yaml'}:3: notifications.{channel}[0]: "
                              f"inline '{key}' is not allowed: secrets never go in the YAML")
    assert hint in problem
    assert "Xj-canary-inline" not in problem


def test_inline_smtp_password_is_refused(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, """\
        mail:
          host: smtp.example.com
          from_address: x@example.com
          password: hunter2-canary
        """)
    assert ":1: mail: inline 'password' is not allowed" in problem
    assert "password_env" in problem and "hunter2-canary" not in problem


def test_errors_point_at_the_field(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
        mail:
          host: smtp.example.com
          from_address: not-an-address
          security: tls
        notifications:
          retry:
            attempts: 0
          webhooks:
            - name: ok
              url: ftp://files.example.com/
              headers: {Authorization: Bearer abc}
          alertmanager:
            - name: am
              url: http://127.0.0.1:9093
              alert_lifetime_seconds: 60
              resend_interval_seconds: 60
          email:
            - name: mail
              to: [someone]
              lang: fr
            - name: ok
              to: [a@example.com]
          pagerduty:
            - name: pd
          slack: []
        """)
    text = "\n".join(problems)
    file = tmp_path / "xunjian.yaml"
    expected = [
        f"{file}:3: mail.from_address: 'not-an-address' is not an e-mail address",
        f"{file}:4: mail.security: Input should be 'none', 'starttls' or 'ssl'",
        f"{file}:7: notifications.retry.attempts: Input should be greater than or equal to 1",
        f"{file}:10: notifications.webhooks[0].url: 'ftp://files.example.com/' is "
        "not an http:// or https:// URL",
        f"{file}:11: notifications.webhooks[0].headers: header 'Authorization' "
        "carries a credential: put it in headers_env",
        f"{file}:13: notifications.alertmanager[0]: alert_lifetime_seconds must be at least "
        "twice resend_interval_seconds",
        f"{file}:19: notifications.email[0].to: 'someone' is not an e-mail address",
        f"{file}:20: notifications.email[0].lang: Input should be 'zh-CN' or 'en'",
        f"{file}:24: notifications.pagerduty[0]: routing_key is required: set routing_key_env",
        f"{file}:25: notifications.slack: unknown key",
    ]
    for line in expected:
        assert line in text, (line, text)


def test_duplicate_channel_names(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, """\
        notifications:
          webhooks: [{name: ops, url: "http://a.example/"}]
          alertmanager: [{name: ops, url: "http://b.example/"}]
        """)
    assert "notifications: channel name 'ops' is used twice" in problem


@pytest.mark.parametrize(("mail", "message"), [
    ({"username": "u"}, "username given without password_env or password_file"),
    ({"password_env": "P"}, "a password needs a username"),
    ({"username": "u", "password_env": "P", "password_file": "p"},
     "give password_env or password_file, not both"),
    ({"username": "u", "password_env": "P", "security": "none"},
     "security: none would send the SMTP password unencrypted; use starttls or ssl"),
])
def test_mail_auth_rules(mail: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MailSettings.model_validate({"host": "h", "from_address": "a@b.example", **mail})


@pytest.mark.parametrize(("channel", "message"), [
    ({"headers": {"X-Xunjian-Signature": "x"}}, "is set by xunjian itself"),
    ({"headers": {"Bad Header": "x"}}, "is not a valid HTTP header name"),
    ({"headers": {"X-A": "x\r\nX-B: y"}}, "value must be one line"),
    ({"url": "https://user:pw@hooks.example/"}, "credentials in the URL are not allowed"),
    ({"secret_env": "A", "secret_file": "b"}, "give secret_env or secret_file, not both"),
    ({"headers": {"X-Token": "a"}, "headers_env": {"x-token": "T"}},
     "set in both headers and headers_env"),
])
def test_webhook_rules(channel: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotificationSettings.model_validate(
            {"webhooks": [{"name": "w", "url": "https://hooks.example/", **channel}]})


def test_generator_url_placeholders_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"unknown placeholder 'id'"):
        NotificationSettings.model_validate({"alertmanager": [
            {"name": "a", "url": "http://am/", "generator_url": "http://x/{id}"}]})
