"""Fixtures of the notification tests: real peers (Alertmanager, aiosmtpd, an HTTP receiver).
Events to send come from ``support.incident_events``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.alertmanager import AlertmanagerPeer, alertmanager_unavailable_reason
from support.smtp import SmtpPeer
from support.webhook_receiver import WebhookReceiver


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerPeer]:
    reason = alertmanager_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with AlertmanagerPeer(tmp_path / "alertmanager") as peer:
        yield peer


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpPeer]:
    with SmtpPeer(tmp_path / "smtp") as peer:
        yield peer


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as peer:
        yield peer


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client
