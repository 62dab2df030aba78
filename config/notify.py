"""Settings of the notification channels (``notifications:``) and of the SMTP server (``mail:``).

``mail:`` is channel-neutral: the e-mail notification channel and the customer report both send
through it. Secrets (HMAC keys, PagerDuty routing keys, the SMTP password, header tokens) are never
written in the YAML: each comes from ``*_env`` (an environment variable name) or ``*_file`` (a
path), read by :func:`agent.notify.factory.build_notifiers` when the channels are built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ChannelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Timeout = Annotated[float, Field(gt=0, le=300)]
# Deliberately loose: the SMTP server is the authority; this only catches typos early.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
#: headers the webhook channel sets itself; configured headers may not replace them
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "x-xunjian-timestamp", "x-xunjian-signature"})
#: header names whose values are credentials: they must come from headers_env
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse_inline(data: Any, keys: Iterable[str]) -> Any:
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                raise ValueError(
                    f"inline '{key}' is not allowed: secrets never go in the YAML; "
                    f"use {key}_env (an environment variable name) or {key}_file (a path)"
                )
    return data


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed: secrets never go in the "
                         "YAML; use the channel's *_env / *_file settings")
    return value


def _one_source(env: str | None, file: Path | None, what: str, *, required: bool) -> None:
    if env and file:
        raise ValueError(f"give {what}_env or {what}_file, not both")
    if required and not (env or file):
        raise ValueError(f"{what} is required: set {what}_env (an environment variable name) "
                         f"or {what}_file (a path)")


class RetrySettings(_Strict):
    """How the incident engine retries a failed delivery: exponential backoff, capped."""

    #: deliveries tried per event and channel, the first one included
    attempts: int = Field(default=5, ge=1, le=100)
    #: wait before the 2nd attempt; doubled after each failure ...
    backoff_seconds: float = Field(default=30.0, ge=0, le=86400)
    #: ... up to this
    max_backoff_seconds: float = Field(default=1800.0, ge=0, le=86400)

    @model_validator(mode="after")
    def _cap_not_below_start(self) -> RetrySettings:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed attempts (1 → backoff_seconds)."""
        if failures < 1:
            return 0.0
        return float(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (failures - 1)))


class WebhookChannel(_Strict):
    """POST the incident event as JSON (docs/notifications.md), HMAC-SHA256 signed."""

    name: ChannelName
    url: str
    #: the HMAC key; without one, requests are sent unsigned
    secret_env: str | None = None
    secret_file: Path | None = None
    timeout_seconds: Timeout = 10.0
    #: extra plain headers (not credentials)
    headers: dict[str, str] = Field(default_factory=dict)
    #: extra headers whose values are secrets: header name → environment variable name
    headers_env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        return _refuse_inline(data, ("secret",))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for header, text in value.items():
            _check_header_name(header)
            if header.lower() in SECRET_HEADERS:
                raise ValueError(f"header {header!r} carries a credential: put it in "
                                 f"headers_env ({header}: ENV_VAR_NAME), not in the YAML")
            if "\n" in text or "\r" in text:
                raise ValueError(f"header {header!r}: value must be one line")
        return value

    @field_validator("headers_env")
    @classmethod
    def _secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for header in value:
            _check_header_name(header)
        return value

    @model_validator(mode="after")
    def _sources(self) -> WebhookChannel:
        _one_source(self.secret_env, self.secret_file, "secret", required=False)
        both = {h.lower() for h in self.headers} & {h.lower() for h in self.headers_env}
        if both:
            raise ValueError(f"header(s) {', '.join(sorted(both))} set in both headers and "
                             "headers_env")
        return self


def _check_header_name(header: str) -> None:
    if not _HEADER_NAME.match(header):
        raise ValueError(f"{header!r} is not a valid HTTP header name")
    if header.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {header!r} is set by xunjian itself and cannot be configured")


class AlertmanagerChannel(_Strict):
    """Alertmanager API v2. Firing alerts expire after ``alert_lifetime_seconds`` unless
    re-sent, so the engine re-sends them every ``resend_interval_seconds``."""

    name: ChannelName
    #: Alertmanager's base URL, e.g. http://127.0.0.1:9093 (the API path is added)
    url: str
    timeout_seconds: Timeout = 10.0
    alert_lifetime_seconds: float = Field(default=900.0, gt=0, le=7 * 86400)
    resend_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
    #: generatorURL of each alert, with {incident_id}, {fingerprint}, {device}, {check}, {item}
    #: e.g. http://xunjian.example:9735/incidents/{incident_id}; omitted when unset
    generator_url: str | None = None
    #: annotation ``runbook_url``, with the same placeholders; omitted when unset
    runbook_url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _resent_before_expiry(self) -> AlertmanagerChannel:
        # Like Prometheus (lifetime 4x the resend delay): one lost re-send must not resolve it.
        if self.alert_lifetime_seconds < 2 * self.resend_interval_seconds:
            raise ValueError("alert_lifetime_seconds must be at least twice "
                             "resend_interval_seconds, or alerts resolve between re-sends")
        for key in ("generator_url", "runbook_url"):
            template = getattr(self, key)
            if template is not None:
                _http_url(_fill_example(template, key))
        return self


def _fill_example(template: str, key: str) -> str:
    try:
        return template.format(incident_id=1, fingerprint="f", device="d", check="c", item="i")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{key}: unknown placeholder {exc} (use {{incident_id}}, "
                         "{fingerprint}, {device}, {check}, {item})") from exc


class EmailChannel(_Strict):
    """Mail to people, through the ``mail:`` SMTP settings."""

    name: ChannelName
    #: always notified; the event may add more (assignee group, escalation contacts)
    to: list[str] = Field(min_length=1)
    #: language of the message; unset: the incident's language (incidents.lang)
    lang: Literal["zh-CN", "en"] | None = None

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an e-mail address (user@example.com)")
        return value


class PagerDutyChannel(_Strict):
    """PagerDuty Events API v2 (dedup_key = the incident's fingerprint)."""

    name: ChannelName
    #: the integration's routing key (a secret)
    routing_key_env: str | None = None
    routing_key_file: Path | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"
    timeout_seconds: Timeout = 10.0

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        return _refuse_inline(data, ("routing_key",))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _sources(self) -> PagerDutyChannel:
        _one_source(self.routing_key_env, self.routing_key_file, "routing_key", required=True)
        return self


class NotificationSettings(_Strict):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    webhooks: list[WebhookChannel] = Field(default_factory=list)
    alertmanager: list[AlertmanagerChannel] = Field(default_factory=list)
    email: list[EmailChannel] = Field(default_factory=list)
    pagerduty: list[PagerDutyChannel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationSettings:
        # The name identifies the channel in the incident timeline and the delivery outbox.
        seen: set[str] = set()
        for channel in self.channels():
            if channel.name in seen:
                raise ValueError(f"channel name {channel.name!r} is used twice: every "
                                 "notification channel needs its own name")
            seen.add(channel.name)
        return self

    def channels(
        self,
    ) -> list[WebhookChannel | AlertmanagerChannel | EmailChannel | PagerDutyChannel]:
        return [*self.webhooks, *self.alertmanager, *self.email, *self.pagerduty]


class MailSettings(_Strict):
    """An SMTP server to send through (notifications, customer reports)."""

    host: str = Field(min_length=1)
    #: default: 25 (none), 587 (starttls), 465 (ssl)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    from_address: str
    #: display name in From:, e.g. 巡检 / xunjian
    from_name: str | None = None
    timeout_seconds: Timeout = 30.0
    #: CA bundle to verify the server's certificate (default: the system's)
    ca_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        return _refuse_inline(data, ("password",))

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address (xunjian@example.com)")
        return value

    @model_validator(mode="after")
    def _auth(self) -> MailSettings:
        _one_source(self.password_env, self.password_file, "password", required=False)
        has_password = bool(self.password_env or self.password_file)
        if has_password and not self.username:
            raise ValueError("a password needs a username")
        if self.username and not has_password:
            raise ValueError("username given without password_env or password_file")
        if has_password and self.security == "none":
            raise ValueError("security: none would send the SMTP password unencrypted; "
                             "use starttls or ssl")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 25, "starttls": 587, "ssl": 465}[self.security]
