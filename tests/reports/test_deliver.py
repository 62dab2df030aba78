"""Delivery: report files are written atomically under safe names inside the output directory
(a full or read-only disk leaves the earlier report intact, on a real tiny tmpfs); the report
e-mail reaches a real SMTP server (aiosmtpd) in the report's language, with escaped HTML and
every file attached byte for byte; SMTP failures say what to check and never the password."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import weasyprint
from pydantic import SecretStr
from support.alertmanager import free_port
from support.incident_events import SMTP_PASSWORD
from support.report_samples import DB, FIREWALL, SCRIPT, SWITCH, empty_report, sample_report
from support.smtp import SmtpPeer

from agent.errors import ReportError
from agent.notify.smtp import SmtpSender
from config.notify import MailSettings
from reports import deliver
from reports.deliver import email_report, report_message, safe_basename, write_outputs
from reports.export import findings_csv, findings_xlsx, report_json
from reports.i18n import Translator
from reports.model import ReportData

BASENAME = "华东某银行-2026-10-巡检报告"
CONTACTS = ["ops@bank.example", "王经理 <wang@bank.example>"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def pdf() -> bytes:
    # a real (small) PDF with an embedded CJK font: about 120 kB
    page = '<p style="font-family: \'Noto Sans CJK SC\'">巡检报告 db-01</p>'
    data: bytes = weasyprint.HTML(string=page).write_pdf()
    return data


def _files(data: ReportData, pdf: bytes) -> dict[str, bytes]:
    html = f"<!DOCTYPE html><title>{data.meta.title}</title><p>{data.meta.customer.name}</p>"
    return {"html": html.encode(), "pdf": pdf, "json": report_json(data),
            "csv": findings_csv(data, data.meta.language),
            "xlsx": findings_xlsx(data, data.meta.language)}


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[bool]:
    """A tmpfs mounted at ``path``; yields False (nothing mounted) where mount is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                 capture_output=True, check=False).returncode == 0
    except OSError:  # no mount command
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=True)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- file names --------------------------------------------------------------------------

@pytest.mark.parametrize(("basename", "expected"), [
    (BASENAME, BASENAME),
    ("A/S Kunde 2026-10", "A_S Kunde 2026-10"),
    ("..hidden", "hidden"),
    (".report", "report"),
    ("tab\there  and\nnewline", "tab here and newline"),
    ("x\x00y\x1bz", "x_y_z"),
    ("invoice\u202efdp.exe", "invoice_fdp.exe"),  # RTL override would show "exe.pdf"
    ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"),
    ("report. ", "report"),
])
def test_safe_basename(basename: str, expected: str) -> None:
    assert safe_basename(basename) == expected


def test_long_names_are_cut_on_a_character_boundary(tmp_path: Path) -> None:
    name = safe_basename("报" * 200)
    assert len(name.encode()) <= 239 and name == "报" * len(name)
    (path,) = write_outputs(tmp_path, "报" * 200, {"xlsx": b"PK"})  # the filesystem takes it
    assert path.name == f"{name}.xlsx" and path.read_bytes() == b"PK"


@pytest.mark.parametrize("basename", ["../x", "/etc/x", "a/../../b", "..\\x", "..", "\\\\host\\x"])
def test_paths_out_of_the_directory_are_refused(tmp_path: Path, basename: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ReportError, match=r"is a path outside the output directory; give a "
                                          r"plain name and choose the directory with --out"):
        write_outputs(out, basename, {"pdf": b"%PDF"})
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("basename", ["", "...", " . "])
def test_names_without_letters_are_refused(tmp_path: Path, basename: str) -> None:
    with pytest.raises(ReportError, match="has no usable characters"):
        write_outputs(tmp_path, basename, {"pdf": b"%PDF"})


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"unknown report format '\.\./pdf'"):
        write_outputs(tmp_path / "out", "report", {"pdf": b"%PDF", "../pdf": b"%PDF"})
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


# --- writing -----------------------------------------------------------------------------

def test_writes_every_file_and_returns_the_paths(tmp_path: Path, pdf: bytes) -> None:
    files = _files(sample_report(), pdf)
    out = tmp_path / "reports" / "east-bank"  # created with its parents
    paths = write_outputs(out, BASENAME, files)
    assert paths == [out / f"{BASENAME}.{ext}" for ext in files]
    for path, content in zip(paths, files.values(), strict=True):
        assert path.read_bytes() == content
    assert _leftovers(out) == []
    umask = os.umask(0)
    os.umask(umask)
    assert paths[0].stat().st_mode & 0o777 == 0o666 & ~umask


def test_replaces_the_earlier_report(tmp_path: Path) -> None:
    write_outputs(tmp_path, "r", {"html": b"version 1", "json": b"{}"})
    (path,) = write_outputs(tmp_path, "r", {"html": b"version 2"})
    assert path.read_bytes() == b"version 2"
    assert (tmp_path / "r.json").read_bytes() == b"{}"  # formats not written again are kept


def test_a_symlink_in_the_way_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.pdf").symlink_to(victim)
    (path,) = write_outputs(out, "r", {"pdf": b"%PDF-new"})
    assert not path.is_symlink() and path.read_bytes() == b"%PDF-new"
    assert victim.read_bytes() == b"keep"


def test_full_disk_keeps_the_earlier_report(tmp_path: Path, pdf: bytes,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    disk = tmp_path / "small"
    with _tmpfs(disk, "size=64k") as mounted:
        old = {"html": b"<p>September</p>", "pdf": b"%PDF-1.7 september"}
        write_outputs(disk, "report", old)
        if not mounted:
            # no mount here: fail the flush of the big file the way a full disk does
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                if os.fstat(fd).st_size > 64 * 1024:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                real_fsync(fd)

            monkeypatch.setattr(deliver.os, "fsync", fsync)
        assert len(pdf) > 64 * 1024
        with pytest.raises(ReportError) as caught:
            write_outputs(disk, "report", {"html": b"<p>October</p>", "pdf": pdf})
        assert str(caught.value) == (f"cannot write {disk / 'report.pdf'}: No space left on "
                                     "device; disk full: free space or choose another directory "
                                     "(--out, or out_dir in a plan)")
        # all or nothing: the new HTML was written but does not replace September's either
        assert (disk / "report.html").read_bytes() == old["html"]
        assert (disk / "report.pdf").read_bytes() == old["pdf"]
        assert _leftovers(disk) == []


def test_read_only_disk(tmp_path: Path) -> None:
    disk = tmp_path / "ro"
    with _tmpfs(disk, "size=64k,ro") as mounted:
        if not mounted:
            pytest.skip("mount is not allowed here (needs root)")
        with pytest.raises(ReportError, match=r"^cannot write .*/ro/r\.html: Read-only file "
                                              r"system; read-only file system: choose another "):
            write_outputs(disk, "r", {"html": b"x"})
        with pytest.raises(ReportError, match=r"^cannot create the output directory .*/ro/sub: "
                                              r"Read-only file system"):
            write_outputs(disk / "sub", "r", {"html": b"x"})


def test_output_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("not a directory")
    with pytest.raises(ReportError, match=r"cannot create the output directory .*out: File "
                                          r"exists; check the output directory or choose "):
        write_outputs(tmp_path / "out", "r", {"html": b"x"})


# --- e-mail ------------------------------------------------------------------------------

def _sender(peer: SmtpPeer, password: str | None = None, **changes: Any) -> SmtpSender:
    settings: dict[str, Any] = {
        "host": peer.host, "port": peer.port, "security": peer.security,
        "from_address": "reports@xunjian.example", "from_name": "巡检 xunjian",
        "timeout_seconds": 5, "ca_file": peer.ca_file}
    settings.update(changes)
    return SmtpSender(MailSettings.model_validate(settings),
                      SecretStr(password) if password else None)


def _written(tmp_path: Path, data: ReportData, pdf: bytes) -> list[Path]:
    return write_outputs(tmp_path / "out", BASENAME, _files(data, pdf))


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def _attachments(message: EmailMessage) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        name = part.get_filename()
        assert name is not None
        found[name] = part
    return found


def test_report_mail_in_chinese_arrives_with_every_file(tmp_path: Path, pdf: bytes) -> None:
    data = sample_report("zh-CN")
    paths = _written(tmp_path, data, pdf)
    with SmtpPeer(tmp_path / "smtp") as peer:
        email_report(_sender(peer), data, paths, CONTACTS)
        (mail,) = peer.wait_for(1)
    assert mail.rcpt_tos == ["ops@bank.example", "wang@bank.example"]
    message = mail.message
    assert message["Subject"] == "【巡检报告】华东某银行（数据中心） 2026-10"
    assert message["From"] == "巡检 xunjian <reports@xunjian.example>"
    assert message["Message-ID"].endswith("@xunjian.example>")
    text, _ = _bodies(message)
    t = Translator("zh-CN")
    for line in (f"总体状态：{t.state('CRIT')}",
                 "已巡检设备：4/5 台（不可达 1 台，未巡检 0 台）",
                 f"发现问题：{t.state('CRIT')} 2，{t.state('WARN')} 3，{t.state('UNKNOWN')} 1，"
                 "已豁免 1",
                 f"1. [{t.state('CRIT')}] {DB}（核心账务）：/data 已使用 95.2 %（严重阈值 90 %）",
                 f"3. [{t.state('UNKNOWN')}] {FIREWALL}（边界安全）：设备不可达",
                 f"完整报告见附件：{BASENAME}.html, {BASENAME}.pdf"):
        assert line in text, line
    assert "4. " not in text  # the top three risks only
    attached = _attachments(message)
    assert list(attached) == [p.name for p in paths]  # Chinese names survive (RFC 2231)
    assert re.search(rb"filename\*(0\*)?=utf-8''%E5%8D%8E", mail.raw)  # RFC 2231, continued
    types = {name: part.get_content_type() for name, part in attached.items()}
    assert types == {f"{BASENAME}.html": "text/html", f"{BASENAME}.pdf": "application/pdf",
                     f"{BASENAME}.json": "application/json", f"{BASENAME}.csv": "text/csv",
                     f"{BASENAME}.xlsx": XLSX}
    for path in paths:
        assert attached[path.name].get_payload(decode=True) == path.read_bytes(), path.name


def test_html_part_escapes_device_text(tmp_path: Path, pdf: bytes) -> None:
    data = sample_report("en")
    risks = list(data.summary.top_risks)
    risks[1] = risks[1].model_copy(update={"text": f"fan 2 says {SCRIPT} & <b>more</b>"})
    data = data.model_copy(update={"summary": data.summary.model_copy(
        update={"top_risks": risks})})
    with SmtpPeer(tmp_path / "smtp") as peer:
        email_report(_sender(peer), data, _written(tmp_path, data, pdf)[1:2], ["ops@bank.ex"])
        (mail,) = peer.wait_for(1)
    text, html = _bodies(mail.message)
    assert f"fan 2 says {SCRIPT} & <b>more</b>" in text  # plain text is not escaped
    assert "fan 2 says &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;" in html
    assert "<script" not in html and "<b>" not in html
    assert '<html lang="en">' in html
    assert f"[{Translator('en').state('CRIT')}] {SWITCH} (@x): fan 2 says" in text


def test_english_subject_and_body(tmp_path: Path) -> None:
    message = report_message(sample_report("en"), [], ["ops@bank.example"],
                             "xunjian <reports@xunjian.example>")
    assert message["Subject"] == "Inspection report: East China Bank (data centre), 2026-10"
    text, _ = _bodies(message)
    assert text.startswith("Dear East China Bank (data centre),\n\nPlease find attached")
    assert "attached:" not in text  # no files, no list of files
    assert "Devices inspected: 4 of 5 (unreachable: 1, not inspected: 0)" in text
    assert "Findings: Critical 2, Warning 3, Unknown 1, 1 waived" in text


def test_empty_period_mail_says_so(tmp_path: Path) -> None:
    message = report_message(empty_report("zh-CN", skipped_devices=[DB]), [],
                             ["ops@bank.example"], "reports@xunjian.example")
    text, html = _bodies(message)
    assert "本期没有巡检到任何设备；报告中列出了纳入范围的设备。" in text
    assert "主要风险" not in text and "主要风险" not in html


def test_subject_stays_one_line(tmp_path: Path) -> None:
    data = sample_report("en")
    meta = data.meta.model_copy(update={"customer": data.meta.customer.model_copy(
        update={"name": "Bank\r\nBcc: victim@example.com"})})
    message = report_message(data.model_copy(update={"meta": meta}), [], ["ops@bank.example"],
                             "reports@xunjian.example")
    assert message["Subject"] == "Inspection report: Bank Bcc: victim@example.com, 2026-10"
    assert "Bcc" not in message


def test_no_recipients(tmp_path: Path) -> None:
    with SmtpPeer(tmp_path / "smtp") as peer:
        with pytest.raises(ReportError, match=r"^no recipients: set customers\.<id>\.contacts "
                                              r"or pass --to$"):
            email_report(_sender(peer), sample_report(), [], [" ", ""])
        assert peer.messages == []


@pytest.mark.parametrize("address", ["not-an-address", "ops@bank.example\r\nBcc: x@evil.example",
                                     "a@b, c@d"])
def test_bad_recipient_is_refused_before_sending(address: str) -> None:
    with pytest.raises(ReportError, match=r"is not an e-mail address .*--to"):
        report_message(sample_report(), [], [address], "reports@xunjian.example")


def test_missing_attachment(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot attach .*gone\.pdf: No such file or "
                                          r"directory; write the report files first"):
        report_message(sample_report(), [tmp_path / "gone.pdf"], ["ops@bank.example"],
                       "reports@xunjian.example")


def test_starttls_with_login(tmp_path: Path, pdf: bytes) -> None:
    data = sample_report("en")
    paths = _written(tmp_path, data, pdf)
    with SmtpPeer(tmp_path / "smtp", security="starttls",
                  users={"xunjian": SMTP_PASSWORD}) as peer:
        sender = _sender(peer, SMTP_PASSWORD, username="xunjian", password_env="XJ_SMTP_PW")
        email_report(sender, data, paths, ["ops@bank.example"])
        (mail,) = peer.wait_for(1)
    assert mail.login == "xunjian"
    assert peer.auth_attempts == [("xunjian", True)]
    assert SMTP_PASSWORD.encode() not in mail.raw


def test_refused_connection_names_the_server_not_the_password(tmp_path: Path) -> None:
    with SmtpPeer(tmp_path / "smtp", security="starttls",
                  users={"xunjian": SMTP_PASSWORD}) as peer:
        sender = _sender(peer, SMTP_PASSWORD, username="xunjian", password_env="XJ_SMTP_PW",
                         port=free_port())
        with pytest.raises(ReportError) as caught:
            email_report(sender, sample_report(), [], ["ops@bank.example"])
    message = str(caught.value)
    assert message.startswith("report e-mail: cannot send through SMTP server 127.0.0.1:")
    assert "Connection refused" in message and "check mail.host, mail.port" in message
    assert SMTP_PASSWORD not in message
    assert peer.auth_attempts == []


def test_wrong_password_says_where_to_fix_it(tmp_path: Path) -> None:
    with SmtpPeer(tmp_path / "smtp", security="starttls",
                  users={"xunjian": "the-right-one"}) as peer:
        sender = _sender(peer, SMTP_PASSWORD, username="xunjian", password_env="XJ_SMTP_PW")
        with pytest.raises(ReportError, match=r"refused the login of user 'xunjian' \(SMTP 535\)"
                                              r"; check the password in XJ_SMTP_PW") as caught:
            email_report(sender, sample_report(), [], ["ops@bank.example"])
    assert SMTP_PASSWORD not in str(caught.value)
    assert peer.messages == []
