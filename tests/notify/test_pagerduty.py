"""PagerDuty channel against the HTTP receiver: Events API v2 shape for trigger, acknowledge
and resolve (dedup_key = fingerprint), and failures that never reveal the routing key."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr
from support.incident_events import NOW, ROUTING_KEY, make_event
from support.webhook_receiver import WebhookReceiver

from agent.errors import NotifyError
from agent.notify.pagerduty import SUMMARY_LIMIT, PagerDutyNotifier

ACCEPTED = b'{"status":"success","message":"Event processed","dedup_key":"x"}'


def _notifier(receiver: WebhookReceiver, http: httpx.Client, **kwargs: float
              ) -> PagerDutyNotifier:
    return PagerDutyNotifier("pd", SecretStr(ROUTING_KEY), http,
                             url=receiver.url + "/v2/enqueue", **kwargs)


def test_trigger_payload(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.respond(202, ACCEPTED)
    _notifier(receiver, http).send(make_event())
    (request,) = receiver.wait_for(1)
    assert request.path == "/v2/enqueue"
    body = request.json()
    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "5f" * 32
    payload = body["payload"]
    assert payload["summary"] == ("[P1] db-01 filesystem /var 95 % used: "
                                  "/var is 95.0 % full (crit at 90 %)")
    assert payload["source"] == "db-01"
    assert payload["severity"] == "critical"
    assert payload["component"] == "filesystem"
    assert payload["group"] == "核心账务"
    assert payload["class"] == "/var"
    assert payload["timestamp"] == "2024-05-01T02:30:00Z"
    details = payload["custom_details"]
    assert details["incident_id"] == 42 and details["priority"] == "P1"
    assert details["value"] == "95.0 %" and details["threshold"] == "warn 80 %, crit 90 %"
    assert details["labels"]["device"] == "db-01"
    # the routing key travels only where the API wants it
    assert request.body.count(ROUTING_KEY.encode()) == 1


@pytest.mark.parametrize(("severity", "expected"),
                         [("WARN", "warning"), ("UNKNOWN", "error"), ("CRIT", "critical")])
def test_severity_mapping(receiver: WebhookReceiver, http: httpx.Client, severity: str,
                          expected: str) -> None:
    _notifier(receiver, http).send(make_event(severity=severity))
    assert receiver.wait_for(1)[0].json()["payload"]["severity"] == expected


@pytest.mark.parametrize(("kind", "action"),
                         [("acknowledged", "acknowledge"), ("resolved", "resolve")])
def test_acknowledge_and_resolve_address_the_same_dedup_key(
    receiver: WebhookReceiver, http: httpx.Client, kind: str, action: str,
) -> None:
    _notifier(receiver, http).send(make_event(kind=kind, resolved_at=NOW))
    body = receiver.wait_for(1)[0].json()
    assert body == {"routing_key": ROUTING_KEY, "event_action": action,
                    "dedup_key": "5f" * 32}


def test_escalation_retriggers(receiver: WebhookReceiver, http: httpx.Client) -> None:
    _notifier(receiver, http).send(make_event(kind="escalated", escalation="functional"))
    body = receiver.wait_for(1)[0].json()
    assert body["event_action"] == "trigger"
    assert body["payload"]["custom_details"]["escalation"] == "functional"


def test_summary_is_cut_to_1024_characters(receiver: WebhookReceiver,
                                          http: httpx.Client) -> None:
    _notifier(receiver, http).send(make_event(summary="磁盘" * 2000))
    summary = receiver.wait_for(1)[0].json()["payload"]["summary"]
    assert len(summary) == SUMMARY_LIMIT
    assert summary.endswith("…")


def test_rejection_never_quotes_the_routing_key(
    receiver: WebhookReceiver, http: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond(400, (b'{"status":"invalid event","message":"Event object is invalid",'
                           b'"errors":["routing_key ' + ROUTING_KEY.encode() + b' unknown"]}'))
    with pytest.raises(NotifyError) as caught:
        _notifier(receiver, http).send(make_event())
    message = str(caught.value)
    assert "pagerduty channel 'pd'" in message and "HTTP 400" in message
    assert "Event object is invalid" in message
    assert ROUTING_KEY not in message
    assert ROUTING_KEY not in caplog.text


def test_rate_limit_says_it_is_retried(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.respond(429, b"")
    with pytest.raises(NotifyError, match="HTTP 429 Too Many Requests; the receiver is rate "
                       "limiting; the delivery is retried with backoff"):
        _notifier(receiver, http).send(make_event())


def test_timeout(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.respond(202, delay=5.0)
    with pytest.raises(NotifyError, match=r"did not answer within 0\.2 s") as caught:
        _notifier(receiver, http, timeout=0.2).send(make_event())
    assert ROUTING_KEY not in str(caught.value)
