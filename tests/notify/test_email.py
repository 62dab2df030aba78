"""E-mail channel against a real SMTP server (aiosmtpd): zh-CN and en messages with the right
subject and bodies, UTF-8 intact, HTML escaped; STARTTLS/SSL with AUTH; failures are
NotifyErrors naming the server and what to check, never the password."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from support.alertmanager import free_port
from support.incident_events import NOW, SMTP_PASSWORD, make_event
from support.smtp import SmtpPeer

from agent.errors import NotifyError
from agent.notify.email import EmailNotifier, render
from agent.notify.smtp import SmtpSender
from config.notify import MailSettings


def _mail(peer: SmtpPeer, **changes: Any) -> MailSettings:
    settings: dict[str, Any] = {
        "host": peer.host, "port": peer.port, "security": peer.security,
        "from_address": "xunjian@ops.example", "from_name": "巡检 xunjian",
        "timeout_seconds": 5, "ca_file": peer.ca_file}
    settings.update(changes)
    return MailSettings.model_validate(settings)


def _notifier(peer: SmtpPeer, lang: str | None = None, password: str | None = None,
              **changes: Any) -> EmailNotifier:
    sender = SmtpSender(_mail(peer, **changes), SecretStr(password) if password else None)
    return EmailNotifier("oncall-mail", sender, ["oncall@ops.example"], lang=lang,
                         clock=lambda: NOW)


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_zh_cn_message_arrives_with_subject_text_and_html(smtp_server: SmtpPeer) -> None:
    notifier = _notifier(smtp_server, lang="zh-CN")
    notifier.send(make_event(recipients=("dba-l2@ops.example", "oncall@ops.example")))

    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "xunjian@ops.example"
    # channel recipients plus the event's (assignee group), without duplicates
    assert mail.rcpt_tos == ["oncall@ops.example", "dba-l2@ops.example"]
    message = mail.message
    assert message["Subject"] == "[巡检] [P1] 告警: db-01 filesystem /var 95 % used"
    assert message["From"] == "巡检 xunjian <xunjian@ops.example>"
    assert message["X-Xunjian-Fingerprint"] == "5f" * 32
    assert message["References"] == f"<incident-{'5f' * 16}@ops.example>"
    text, html = _bodies(message)
    assert text.startswith("事件已开启。")
    for line in ("设备: db-01", "检查项: filesystem", "对象: /var", "严重程度: 严重",
                 "优先级: P1", "状态: 未处理", "当前值: 95.0 %", "业务系统: 核心账务",
                 "处理组: DBA 二线", "开始时间: 2024-05-01 02:00:00 UTC",
                 "证据: xunjian evidence db-01 filesystem /var"):
        assert line in text
    assert "清理 /var/log 下的旧日志 <archive & purge>" in text  # plain text is not escaped
    assert '<html lang="zh-CN">' in html
    assert "<th" in html and "临时解决方案" in html
    # HTML is autoescaped: device output cannot inject markup
    assert "&lt;archive &amp; purge&gt;" in html
    assert "<archive" not in html
    # UTF-8 declared and correct on the wire
    assert b'charset="utf-8"' in mail.raw
    text_part = message.get_body(("plain",))
    assert text_part is not None and text_part.get_content_charset() == "utf-8"


def test_en_message_resolved(smtp_server: SmtpPeer) -> None:
    event = make_event(kind="resolved", status="resolved", resolved_at=NOW, lang="zh-CN")
    _notifier(smtp_server, lang="en").send(event)  # the channel's language wins
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[xunjian] [P1] RESOLVED: db-01 filesystem /var 95 % used"
    text, html = _bodies(mail.message)
    assert text.startswith("The incident is resolved.")
    assert "Resolved: 2024-05-01 02:30:00 UTC" in text
    assert "Business system: 核心账务" in text  # UTF-8 values in an English mail
    assert "Severity: critical" in text
    assert '<html lang="en">' in html


def test_language_follows_the_event_when_the_channel_sets_none(smtp_server: SmtpPeer) -> None:
    _notifier(smtp_server).send(make_event(kind="escalated", escalation="hierarchical",
                                           lang="zh-CN"))
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"].startswith("[巡检] [P1] 已升级: ")
    assert "升级: 管理升级（管理层）" in _bodies(mail.message)[0]


def test_subject_is_one_line_whatever_the_title() -> None:
    subject, _, _ = render(make_event(title="line one\r\nBcc: victim@example.com"), "en")
    assert "\n" not in subject and "\r" not in subject
    assert subject == "[xunjian] [P1] FIRING: line one Bcc: victim@example.com"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_auth(tmp_path: Path, security: str) -> None:
    with SmtpPeer(tmp_path, security=security,  # type: ignore[arg-type]
                  users={"xunjian": SMTP_PASSWORD}) as peer:
        _notifier(peer, lang="en", password=SMTP_PASSWORD, username="xunjian",
                  password_env="SMTP_PW").send(make_event())
        (mail,) = peer.wait_for(1)
        assert mail.login == "xunjian"
        assert peer.auth_attempts == [("xunjian", True)]


def test_wrong_password_names_the_setting_not_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpPeer(tmp_path, security="starttls", users={"xunjian": "the-right-one"}) as peer:
        notifier = _notifier(peer, password=SMTP_PASSWORD, username="xunjian",
                             password_env="SMTP_PW")
        with pytest.raises(NotifyError) as caught:
            notifier.send(make_event())
    message = str(caught.value)
    assert "email channel 'oncall-mail'" in message
    assert f"SMTP server 127.0.0.1:{peer.port} (starttls) refused the login of user " \
           "'xunjian' (SMTP 535); check the password in SMTP_PW" in message
    assert SMTP_PASSWORD not in message
    assert SMTP_PASSWORD not in caplog.text


def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with SmtpPeer(tmp_path, security="starttls") as peer:
        # no ca_file: the system CAs do not know the self-signed certificate
        with pytest.raises(NotifyError, match=r"TLS with SMTP server .* failed "
                           r"\(CERTIFICATE_VERIFY_FAILED\).*mail.ca_file"):
            _notifier(peer, ca_file=None).send(make_event())
        assert peer.messages == []


def test_refused_connection(smtp_server: SmtpPeer) -> None:
    notifier = _notifier(smtp_server, port=free_port())
    with pytest.raises(NotifyError, match=r"cannot send through SMTP server 127\.0\.0\.1:\d+ "
                       r"\(none\) \(.*Connection refused\).*mail.host, mail.port"):
        notifier.send(make_event())


def test_rejected_recipient(tmp_path: Path) -> None:
    with (SmtpPeer(tmp_path, reject={"oncall@ops.example"}) as peer,
          pytest.raises(NotifyError, match=r"refused the recipient\(s\) oncall@ops.example")):
        _notifier(peer).send(make_event())


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", ["firing", "acknowledged", "escalated", "resolved"])
def test_every_kind_renders_in_both_languages(kind: str, lang: str) -> None:
    event = make_event(kind=kind, escalation="functional" if kind == "escalated" else None,
                       resolved_at=NOW if kind == "resolved" else None)
    subject, text, html = render(event, lang)
    product = "巡检" if lang == "zh-CN" else "xunjian"
    assert subject.startswith(f"[{product}] [P1] ")
    assert "db-01" in text and "db-01" in html
    assert html.rstrip().endswith("</html>")


def test_templates_are_package_data() -> None:
    # a wheel ships only files matching [tool.setuptools.package-data]; check every template is
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["agent"]
    templates = root / "agent" / "notify" / "templates"
    files = [p.relative_to(root / "agent").as_posix() for p in templates.rglob("*")
             if p.is_file()]
    assert files
    for file in files:
        assert any(fnmatch.fnmatch(file, pattern) for pattern in globs), file
