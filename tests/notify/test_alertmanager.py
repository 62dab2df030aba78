"""Alertmanager channel against the real Alertmanager 0.25 (Debian package): a firing alert is
active with the fingerprint's labels and the annotations; a severity change keeps one alert; a
resolution makes it inactive; failures are NotifyErrors that say what to check."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from support.alertmanager import AlertmanagerPeer, free_port
from support.incident_events import make_event
from support.webhook_receiver import WebhookReceiver

from agent.errors import NotifyError
from agent.notify.alertmanager import AlertmanagerNotifier


def _now() -> datetime:
    return datetime.now(UTC)


def _notifier(url: str, http: httpx.Client, **kwargs: Any) -> AlertmanagerNotifier:
    return AlertmanagerNotifier(
        "am", url, http, alert_lifetime=timedelta(minutes=10),
        generator_url="http://xunjian.example:9735/incidents/{incident_id}",
        runbook_url="https://wiki.example/runbooks/{check}", **kwargs)


def _ours(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["labels"].get("alertname") == "XunjianIncident"]


def test_firing_alert_is_active_with_identity_labels_and_annotations(
    alertmanager: AlertmanagerPeer, http: httpx.Client,
) -> None:
    started = _now() - timedelta(minutes=30)
    notifier = _notifier(alertmanager.url, http)
    assert notifier.resend_firing is True
    notifier.send(make_event(started_at=started, updated_at=_now()))

    (alert,) = _ours(alertmanager.wait_for(lambda alerts: len(_ours(alerts)) == 1))
    assert alert["labels"] == {
        "alertname": "XunjianIncident", "device": "db-01", "check": "filesystem",
        "item": "/var", "business_system": "核心账务", "location": "北京亦庄 A3-12",
    }
    annotations = alert["annotations"]
    assert annotations["summary"] == "db-01 filesystem /var 95 % used"
    assert annotations["description"] == "/var is 95.0 % full (crit at 90 %)"
    assert annotations["severity"] == "crit"
    assert annotations["priority"] == "P1"
    assert annotations["value"] == "95.0 %"
    assert annotations["threshold"] == "warn 80 %, crit 90 %"
    assert annotations["workaround"].startswith("清理")
    assert annotations["runbook_url"] == "https://wiki.example/runbooks/filesystem"
    assert annotations["incident_id"] == "42"
    assert alert["generatorURL"] == "http://xunjian.example:9735/incidents/42"
    assert alert["status"]["state"] == "active"
    starts = datetime.fromisoformat(alert["startsAt"])
    assert abs(starts - started) < timedelta(seconds=1)
    ends = datetime.fromisoformat(alert["endsAt"])
    # firing: ends after the lifetime unless re-sent
    assert timedelta(minutes=9) < ends - _now() <= timedelta(minutes=10)


def test_severity_change_and_resend_keep_one_alert_then_resolution_ends_it(
    alertmanager: AlertmanagerPeer, http: httpx.Client,
) -> None:
    started = _now() - timedelta(minutes=5)
    notifier = _notifier(alertmanager.url, http)
    notifier.send(make_event(started_at=started, severity="WARN", priority="P2"))
    alertmanager.wait_for(lambda alerts: len(_ours(alerts)) == 1)

    # the same incident, worse now, re-sent: still one alert (same labels), annotations updated
    notifier.send(make_event(started_at=started, severity="CRIT", priority="P1"))
    alerts = alertmanager.wait_for(
        lambda alerts: [a["annotations"]["priority"] for a in _ours(alerts)] == ["P1"])
    assert _ours(alerts)[0]["annotations"]["severity"] == "crit"

    resolved_at = _now() - timedelta(seconds=1)
    notifier.send(make_event(kind="resolved", status="resolved", started_at=started,
                             updated_at=resolved_at, resolved_at=resolved_at))
    # Alertmanager's API lists only alerts that have not ended
    alertmanager.wait_for(lambda alerts: _ours(alerts) == [])


def test_acknowledged_keeps_the_alert_firing(
    alertmanager: AlertmanagerPeer, http: httpx.Client,
) -> None:
    notifier = _notifier(alertmanager.url, http)
    notifier.send(make_event(kind="acknowledged", status="acknowledged",
                             started_at=_now() - timedelta(minutes=1)))
    (alert,) = _ours(alertmanager.wait_for(lambda alerts: len(_ours(alerts)) == 1))
    assert alert["annotations"]["status"] == "acknowledged"


def test_empty_item_is_left_out_of_the_labels(
    alertmanager: AlertmanagerPeer, http: httpx.Client,
) -> None:
    labels = {"device": "web-01", "check": "unreachable", "item": "", "location": ""}
    _notifier(alertmanager.url, http).send(
        make_event(labels=labels, started_at=_now() - timedelta(minutes=1)))
    (alert,) = _ours(alertmanager.wait_for(lambda alerts: len(_ours(alerts)) == 1))
    assert alert["labels"] == {"alertname": "XunjianIncident", "device": "web-01",
                               "check": "unreachable"}


def test_refused_is_a_notify_error(http: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NotifyError, match=r"alertmanager channel 'am': cannot connect to "
                       r"http://127\.0\.0\.1:\d+/api/v2/alerts"):
        _notifier(url, http).send(make_event())


def test_rejection_quotes_the_receivers_reason(
    receiver: WebhookReceiver, http: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond(400, b'{"code":400,"message":"start time must be before end time"}')
    with pytest.raises(NotifyError, match=r"answered HTTP 400 Bad Request: .*start time must "
                       r"be before end time.*rejected the request"):
        _notifier(receiver.url, http).send(make_event())
    (request,) = receiver.wait_for(1)
    assert request.path == "/api/v2/alerts"
    assert isinstance(request.json(), list) and len(request.json()) == 1
