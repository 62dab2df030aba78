"""Webhook channel against a real HTTP receiver: the documented JSON, a signature that verifies
with the secret (and not for a tampered body), and failures that say what to check without
revealing the secret."""

from __future__ import annotations

import logging
from datetime import datetime

import httpx
import pytest
from pydantic import SecretStr
from support.alertmanager import free_port
from support.incident_events import HEADER_TOKEN, HMAC_SECRET, NOW, make_event
from support.webhook_receiver import WebhookReceiver

from agent.errors import NotifyError
from agent.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, verify


def _notifier(url: str, http: httpx.Client, **kwargs: object) -> WebhookNotifier:
    options: dict[str, object] = {"secret": SecretStr(HMAC_SECRET), "clock": lambda: NOW}
    options.update(kwargs)
    return WebhookNotifier("ops-hook", url, http, **options)  # type: ignore[arg-type]


def test_posts_documented_json_with_a_valid_signature(
    receiver: WebhookReceiver, http: httpx.Client,
) -> None:
    notifier = _notifier(receiver.url + "/hooks/xunjian?team=dba", http,
                         headers={"X-Team": "dba"},
                         secret_headers={"Authorization": SecretStr(f"Bearer {HEADER_TOKEN}")})
    notifier.send(make_event())

    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hooks/xunjian?team=dba"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Team") == "dba"
    assert request.header("Authorization") == f"Bearer {HEADER_TOKEN}"
    timestamp = request.header(TIMESTAMP_HEADER)
    assert timestamp == str(int(NOW.timestamp()))
    signature = request.header(SIGNATURE_HEADER)
    assert signature is not None and signature.startswith("sha256=")
    assert verify(HMAC_SECRET.encode(), timestamp, request.body, signature)

    document = request.json()
    assert document["schema_version"] == 1
    assert document["event"] == "firing"
    assert document["sent_at"] == "2024-05-01T02:30:00Z"
    incident = document["incident"]
    assert incident["id"] == 42
    assert incident["fingerprint"] == "5f" * 32
    assert incident["labels"]["business_system"] == "核心账务"
    assert incident["severity"] == "CRIT" and incident["priority"] == "P1"
    assert incident["started_at"] == "2024-05-01T02:00:00Z"
    assert incident["resolved_at"] is None
    assert incident["workaround"].startswith("清理 /var/log")
    # UTF-8 on the wire, not \\u escapes
    assert "核心账务".encode() in request.body
    # the HMAC key is never sent
    assert HMAC_SECRET.encode() not in request.body


def test_tampered_body_or_timestamp_or_wrong_secret_do_not_verify(
    receiver: WebhookReceiver, http: httpx.Client,
) -> None:
    _notifier(receiver.url, http).send(make_event())
    (request,) = receiver.wait_for(1)
    timestamp, signature = request.header(TIMESTAMP_HEADER), request.header(SIGNATURE_HEADER)
    assert timestamp and signature
    tampered = request.body.replace(b'"P1"', b'"P4"')
    assert tampered != request.body
    assert not verify(HMAC_SECRET.encode(), timestamp, tampered, signature)
    assert not verify(HMAC_SECRET.encode(), str(int(timestamp) + 60), request.body, signature)
    assert not verify(b"another-secret", timestamp, request.body, signature)


def test_unsigned_without_secret(receiver: WebhookReceiver, http: httpx.Client) -> None:
    WebhookNotifier("plain", receiver.url, http).send(make_event(kind="resolved",
                                                                 status="resolved",
                                                                 resolved_at=NOW))
    (request,) = receiver.wait_for(1)
    assert request.header(SIGNATURE_HEADER) is None
    assert request.json()["incident"]["resolved_at"] == "2024-05-01T02:30:00Z"


def test_naive_datetimes_are_utc(receiver: WebhookReceiver, http: httpx.Client) -> None:
    # SQLite hands datetimes back naive; they are UTC in the store
    _notifier(receiver.url, http).send(make_event(started_at=datetime(2024, 5, 1, 2, 0)))
    assert receiver.wait_for(1)[0].json()["incident"]["started_at"] == "2024-05-01T02:00:00Z"


def _assert_no_secret(text: str) -> None:
    assert HMAC_SECRET not in text
    assert HEADER_TOKEN not in text


@pytest.mark.parametrize("status", [500, 404, 401])
def test_non_2xx_is_a_notify_error(
    receiver: WebhookReceiver, http: httpx.Client, caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    # a receiver that echoes what it got must not make us quote the secret back
    receiver.respond(status, f"rejected: token Bearer {HEADER_TOKEN} key {HMAC_SECRET}".encode())
    notifier = _notifier(receiver.url + "/hook?token=url-token-xyz", http,
                         secret_headers={"Authorization": SecretStr(f"Bearer {HEADER_TOKEN}")})
    with pytest.raises(NotifyError) as caught:
        notifier.send(make_event())
    message = str(caught.value)
    assert "webhook channel 'ops-hook'" in message
    assert f"answered HTTP {status}" in message
    assert f"{receiver.url}/hook" in message
    assert "url-token-xyz" not in message  # the query string may hold a token
    assert "********" in message  # the echoed secrets were scrubbed
    _assert_no_secret(message)
    _assert_no_secret(caplog.text)


def test_connection_refused_is_a_notify_error(
    http: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(NotifyError, match=r"cannot connect to http://127\.0\.0\.1:\d+/hook"
                       r".*check the URL, that the receiver is running"):
        _notifier(url, http).send(make_event())
    _assert_no_secret(caplog.text)


def test_timeout_is_a_notify_error(
    receiver: WebhookReceiver, http: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond(200, delay=5.0)
    with pytest.raises(NotifyError, match=r"did not answer within 0\.3 s.*timeout_seconds") as c:
        _notifier(receiver.url, http, timeout=0.3).send(make_event())
    _assert_no_secret(str(c.value))
    _assert_no_secret(caplog.text)
    # the next delivery (the engine's retry) succeeds
    _notifier(receiver.url, http).send(make_event())
    assert len(receiver.wait_for(2)) == 2
