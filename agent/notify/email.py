"""E-mail notifications: a subject, a plain-text body and an HTML alternative, in zh-CN or en.

The templates are package data in ``agent/notify/templates/``: ``email.subject.j2``,
``email.txt.j2`` and ``email.html.j2`` lay the mail out, ``lang/zh-CN.j2`` and ``lang/en.j2``
hold the wording. HTML is autoescaped: titles and messages come from device output.
Mails of one incident share a ``References`` header, so mail clients thread them.
"""

from __future__ import annotations

import email.policy
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import jinja2

from agent.notify.common import Clock, as_utc, utc_now
from agent.notify.event import IncidentEvent
from agent.notify.smtp import SmtpSender

LANGS = ("zh-CN", "en")
_POLICY = email.policy.SMTP.clone(max_line_length=120)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("agent.notify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                        default_for_string=True, default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def render(event: IncidentEvent, lang: str) -> tuple[str, str, str]:
    """``(subject, text, html)`` of the mail for ``event``."""
    # The wording lives in templates/lang/<lang>.j2; the layout is shared by both languages.
    values = {"e": event, "lang": _lang(lang), "fields": fields(event)}
    subject = _ENV.get_template("email.subject.j2").render(values)
    # One line: a newline in a header would be refused (or worse, injected).
    subject = " ".join(subject.split())
    text = _ENV.get_template("email.txt.j2").render(values)
    html = _ENV.get_template("email.html.j2").render(values)
    return subject, text, html


def _when(moment: datetime | None) -> str | None:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else None


def fields(event: IncidentEvent) -> list[tuple[str, str]]:
    """The (field, value) rows of the mail, in order; empty ones are left out."""
    labels = event.labels
    rows = [
        ("incident", f"#{event.incident_id}"),
        ("device", labels.get("device")),
        ("check", labels.get("check")),
        ("item", labels.get("item")),
        ("business_system", labels.get("business_system")),
        ("location", labels.get("location")),
        ("severity", event.severity),
        ("priority", event.priority),
        ("status", event.status),
        ("value", event.value),
        ("threshold", event.threshold),
        ("started", _when(event.started_at)),
        ("updated", _when(event.updated_at)),
        ("resolved", _when(event.resolved_at)),
        ("assignee", event.assignee_group),
        ("escalation", event.escalation),
        ("workaround", event.workaround),
        ("evidence", event.evidence),
        ("fingerprint", event.fingerprint),
    ]
    return [(key, value) for key, value in rows if value]


class EmailNotifier:
    resend_firing = False

    def __init__(
        self, name: str, sender: SmtpSender, to: list[str], *, lang: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self._sender = sender
        self._to = list(to)
        self._lang = lang
        self._clock = clock

    def __repr__(self) -> str:
        return f"EmailNotifier(name={self.name!r})"

    def message(self, event: IncidentEvent) -> EmailMessage:
        subject, text, html = render(event, self._lang or event.lang)
        recipients = list(dict.fromkeys([*self._to, *event.recipients]))
        # RFC 5322 allows 998 characters; 78 would fold the 64-hex fingerprint header.
        message = EmailMessage(policy=_POLICY)
        message["Subject"] = subject
        message["From"] = self._sender.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = format_datetime(as_utc(self._clock()))
        domain = self._sender.settings.from_address.rpartition("@")[2]
        message["Message-ID"] = make_msgid("xunjian", domain=domain)
        thread = f"<incident-{event.fingerprint[:32]}@{domain}>"
        message["References"] = thread
        message["In-Reply-To"] = thread
        message["X-Xunjian-Fingerprint"] = event.fingerprint
        message.set_content(text, charset="utf-8")
        message.add_alternative(html, subtype="html", charset="utf-8")
        return message

    def send(self, event: IncidentEvent) -> None:
        self._sender.send(self.message(event), context=f"email channel '{self.name}'")
