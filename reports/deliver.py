"""Delivering a report: its files in the output directory, and an e-mail to the customer.

Files are written atomically: each goes to a temporary file in the same directory first and
replaces the old one only when every file of the report was written completely. A reader never
sees half a PDF, and a failed write (disk full, read-only) leaves the earlier report intact.

The e-mail goes through the ``mail:`` SMTP server shared with incident notifications
(:class:`agent.notify.smtp.SmtpSender`), in the report's language, with a short summary as
text and HTML (escaped: device names and messages come from devices) and the files attached.
"""

from __future__ import annotations

import errno
import html
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path

from agent.errors import NotifyError, ReportError
from agent.notify.smtp import SmtpSender
from checks.model import State
from reports.i18n import Translator
from reports.model import ReportData

#: MIME type of each report format
MIME_TYPES: Mapping[str, tuple[str, str]] = {
    "pdf": ("application", "pdf"),
    "html": ("text", "html"),
    "json": ("application", "json"),
    "csv": ("text", "csv"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")
# Characters no file name should carry on Linux or Windows (where reports get opened).
_UNSAFE = re.compile(r'[/\\<>:"|?*]')
#: file names longer than this (in UTF-8 bytes, the extension included) fail on most filesystems
_MAX_NAME_BYTES = 255
# Loose on purpose (the SMTP server decides); it only keeps header syntax out of addresses.
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
#: the order of states in the mail's finding counts
_STATES = (State.CRIT, State.WARN, State.UNKNOWN)
_TOP_RISKS = 3


# --- files -------------------------------------------------------------------------------

def safe_basename(basename: str) -> str:
    """``basename`` as a file name: one path component (a path is refused), no separators,
    control or format characters, no leading dots; Chinese and other letters kept."""
    parts = re.split(r"[/\\]", basename)
    if basename.startswith(("/", "\\")) or ".." in parts:
        raise ReportError(f"report file name {basename!r} is a path outside the output "
                          "directory; give a plain name and choose the directory with --out")
    # runs of whitespace (tabs, newlines) become one space
    name = " ".join(unicodedata.normalize("NFC", basename).split())
    # Cc: control characters; Cf: invisible format characters (RTL override hides extensions)
    name = "".join("_" if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in name)
    name = _UNSAFE.sub("_", name).lstrip(". ").rstrip(". ")
    if not name:
        raise ReportError(f"report file name {basename!r} has no usable characters; "
                          "give a name with letters or digits")
    return _truncate(name, _MAX_NAME_BYTES - 16)


def _truncate(name: str, limit: int) -> str:
    encoded = name.encode("utf-8")
    if len(encoded) <= limit:
        return name
    return encoded[:limit].decode("utf-8", "ignore").rstrip(". ")


#: where the output directory is chosen: the CLI's --out, a report plan's out_dir
_ELSEWHERE = "choose another directory (--out, or out_dir in a plan)"


def _advice(exc: OSError) -> str:
    """What the operator can do about a failed write."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full: free space or {_ELSEWHERE}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied: fix the directory's permissions or {_ELSEWHERE}"
    if code == errno.EROFS:
        return f"read-only file system: {_ELSEWHERE}"
    return f"check the output directory or {_ELSEWHERE}"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _write_error(path: Path, exc: OSError) -> ReportError:
    return ReportError(f"cannot write {path}: {_reason(exc)}; {_advice(exc)}")


def _write_temp(directory: Path, content: bytes) -> Path:
    """``content`` in a new hidden file next to its target, flushed to disk."""
    # short and hidden: the target's name may already be as long as a name can be
    temp = directory / f".xunjian-{secrets.token_hex(8)}.tmp"
    # 0o666 minus the umask, like any new file (mkstemp would force 0o600)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _sync_directory(directory: Path) -> None:
    # the renames are durable only once the directory itself is on disk
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the data itself is synced
    finally:
        os.close(fd)


def _check_extensions(extensions: Sequence[str]) -> None:
    for extension in extensions:
        if not _EXTENSION.match(extension):
            raise ReportError(f"unknown report format {extension!r}: use "
                              f"{', '.join(MIME_TYPES)}")


def _targets(out_dir: Path, name: str, extensions: Sequence[str]) -> list[Path]:
    root = out_dir.resolve()
    targets = [out_dir / f"{name}.{extension}" for extension in extensions]
    for target in targets:
        # the parent, not the file: os.replace swaps a symlink itself, never its target
        if target.parent.resolve() != root:
            raise ReportError(f"report file {target} would be outside {out_dir}; "
                              "give a plain name and choose the directory with --out")
    return targets


def write_outputs(out_dir: Path, basename: str, files: Mapping[str, bytes]) -> list[Path]:
    """Write ``files`` (extension → content) as ``out_dir/<basename>.<extension>``, all or
    nothing; return the paths in the order given."""
    name = safe_basename(basename)
    _check_extensions(list(files))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the output directory {out_dir}: {_reason(exc)}; "
                          f"{_advice(exc)}") from exc
    targets = _targets(out_dir, name, list(files))
    temps: list[Path] = []
    try:
        for target, content in zip(targets, files.values(), strict=True):
            try:
                temps.append(_write_temp(out_dir, content))
            except OSError as exc:
                raise _write_error(target, exc) from exc
        for temp, target in zip(temps, targets, strict=True):
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise _write_error(target, exc) from exc
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    _sync_directory(out_dir)
    return targets


# --- e-mail ------------------------------------------------------------------------------

def _one_line(text: str) -> str:
    # a newline in a header would be refused (or worse, start a new header)
    return " ".join(text.split())


def _finding_counts(t: Translator, data: ReportData) -> str:
    counts = data.summary.findings_by_state
    parts = [f"{t.state(state)} {counts.get(state, 0)}" for state in _STATES
             if counts.get(state, 0)]
    if data.summary.waived_findings:
        parts.append(t("export.mail.waived", count=data.summary.waived_findings))
    if not parts:
        return t("export.mail.findings_none")
    separator = "，" if t.lang == "zh-CN" else ", "
    return t("export.mail.findings", counts=separator.join(parts))


def _risks(t: Translator, data: ReportData) -> list[str]:
    lines = []
    for risk in data.summary.top_risks[:_TOP_RISKS]:
        values = {"state": t.state(risk.state), "device": risk.device, "text": risk.text}
        if risk.business_system:
            lines.append(t("export.mail.risk_system", system=risk.business_system, **values))
        else:
            lines.append(t("export.mail.risk", **values))
    return lines


def _summary_lines(t: Translator, data: ReportData) -> list[str]:
    """The mail's facts, one per line (plain text; the HTML part escapes them)."""
    summary = data.summary
    if data.empty:
        return [t("export.mail.empty")]
    cover = summary.coverage
    lines = [t("export.mail.overall", state=t.state(summary.overall)), summary.headline,
             t("export.mail.coverage", inspected=cover.inspected, in_scope=cover.in_scope,
               unreachable=cover.unreachable, skipped=cover.skipped),
             _finding_counts(t, data)]
    return [line for line in lines if line]


@dataclass(frozen=True)
class _MailText:
    """The mail's paragraphs in the report's language, unescaped."""

    lang: str
    title: str
    greeting: str
    intro: str
    facts: list[str]
    risks_title: str
    risks: list[str]
    attached: str
    signature: str


def _mail_text(data: ReportData, names: Sequence[str]) -> _MailText:
    t = Translator(data.meta.language, data.meta.timezone)
    meta = data.meta
    return _MailText(
        lang=t.lang, title=meta.title,
        greeting=t("export.mail.greeting", customer=meta.customer.name),
        intro=t("export.mail.intro", period=meta.period_label, provider=meta.provider.name),
        facts=_summary_lines(t, data), risks_title=t("export.mail.top_risks"),
        risks=[] if data.empty else _risks(t, data),
        attached=t("export.mail.attached", files=", ".join(names)) if names else "",
        signature=t("export.mail.signature", provider=meta.provider.name,
                    version=meta.xunjian_version))


def _plain(m: _MailText) -> str:
    lines = [m.greeting, "", m.intro, "", *m.facts]
    if m.risks:
        lines += ["", m.risks_title, *(f"{i}. {r}" for i, r in enumerate(m.risks, 1))]
    if m.attached:
        lines += ["", m.attached]
    return "\n".join([*lines, "", "-- ", m.signature]) + "\n"


def _html(m: _MailText) -> str:
    def esc(value: str) -> str:
        return html.escape(value).replace("\n", "<br>")

    parts = [f"<p>{esc(m.greeting)}</p>", f"<p>{esc(m.intro)}</p>",
             "<ul>" + "".join(f"<li>{esc(f)}</li>" for f in m.facts) + "</ul>"]
    if m.risks:
        parts += [f"<p><strong>{esc(m.risks_title)}</strong></p>",
                  "<ol>" + "".join(f"<li>{esc(r)}</li>" for r in m.risks) + "</ol>"]
    if m.attached:
        parts.append(f"<p>{esc(m.attached)}</p>")
    parts.append(f'<p style="color:#666">{esc(m.signature)}</p>')
    return (f'<!DOCTYPE html>\n<html lang="{esc(m.lang)}"><head><meta charset="utf-8">'
            f"<title>{esc(m.title)}</title></head>\n<body>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def _recipients(to: Sequence[str]) -> list[str]:
    recipients = list(dict.fromkeys(a.strip() for a in to if a.strip()))
    if not recipients:
        raise ReportError("no recipients: set customers.<id>.contacts or pass --to")
    for address in recipients:
        # one address per entry; a line break would start a new header (Bcc: ...), and
        # getaddresses would quietly drop it
        parsed = getaddresses([address])
        if ("\n" in address or "\r" in address or len(parsed) != 1
                or not _ADDRESS.match(parsed[0][1])):
            raise ReportError(f"{address!r} is not an e-mail address (ops@example.com); "
                              "check customers.<id>.contacts or --to")
    return recipients


def _attach(message: EmailMessage, path: Path) -> None:
    extension = path.suffix.lstrip(".").lower()
    maintype, subtype = MIME_TYPES.get(extension, ("application", "octet-stream"))
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot attach {path}: {_reason(exc)}; write the report "
                          "files first") from exc
    params = {"charset": "utf-8"} if maintype == "text" else None
    message.add_attachment(content, maintype=maintype, subtype=subtype, filename=path.name,
                           params=params)


def report_message(data: ReportData, attachments: Sequence[Path], to: Sequence[str],
                   sender: str) -> EmailMessage:
    """The report e-mail: subject and summary in the report's language (text and HTML), each
    of ``attachments`` attached with its MIME type and file name."""
    recipients = _recipients(to)
    t = Translator(data.meta.language, data.meta.timezone)
    message = EmailMessage()
    message["Subject"] = _one_line(t("export.mail.subject", customer=data.meta.customer.name,
                                     period=data.meta.period_label))
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    # an explicit domain: without one, make_msgid asks DNS for this host's name
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("xunjian-report", domain=domain)
    text = _mail_text(data, [path.name for path in attachments])
    message.set_content(_plain(text), charset="utf-8")
    message.add_alternative(_html(text), subtype="html", charset="utf-8")
    for path in attachments:
        _attach(message, path)
    return message


def email_report(smtp: SmtpSender, data: ReportData, attachments: Sequence[Path],
                 to: Sequence[str]) -> None:
    """Send the report to ``to`` through ``smtp``; failures are :class:`ReportError` saying
    what to check (never the SMTP password)."""
    message = report_message(data, attachments, to, smtp.sender)
    try:
        smtp.send(message, context="report e-mail")
    except NotifyError as exc:
        raise ReportError(str(exc)) from exc
