"""Notifications go to the configured URLs and nowhere else.

* The HTTP channels are built by the product's own factory with its own HTTP client: a receiver
  that answers with a redirect does not get the event re-sent elsewhere (redirects are not
  followed; the delivery fails and is retried to the same URL).
* Event text from a device or an alert label (URLs included) is data in the body, never a target.
* Links built from labels (Alertmanager's runbook/generator URLs) keep the configured host.
* Only http(s) URLs without credentials are accepted in the config.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from support.incident_events import make_event
from support.webhook_receiver import WebhookReceiver

from agent.errors import NotifyError
from agent.notify.alertmanager import AlertmanagerNotifier
from agent.notify.factory import build_notifiers
from config.notify import NotificationSettings


@pytest.fixture
def configured() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as peer:
        yield peer


@pytest.fixture
def elsewhere() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as peer:
        yield peer


def _settings(url: str) -> NotificationSettings:
    return NotificationSettings.model_validate({
        "webhooks": [{"name": "hook", "url": url + "/hook"}],
        "alertmanager": [{"name": "am", "url": url,
                          "runbook_url": "https://wiki.example/runbooks/{check}/{item}",
                          "generator_url": "https://xunjian.example{item}"}],
        "pagerduty": [{"name": "pd", "routing_key_env": "XJ_ACCESS_PD_KEY",
                       "url": url + "/v2/enqueue"}],
    })


def _hostile_event() -> object:
    # what a device's output or an inventory import could put in the labels and text
    return make_event(
        labels={"device": "db-01", "check": "filesystem", "item": "@evil.example/x?y=1#",
                "webhook_url": "http://127.0.0.1:1/steal", "url": "http://127.0.0.1:1/"},
        summary="see http://127.0.0.1:1/steal and Location: http://127.0.0.1:1/",
        evidence="http://127.0.0.1:1/steal")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(configured: WebhookReceiver, elsewhere: WebhookReceiver,
                                    status: int) -> None:
    notifiers = build_notifiers(_settings(configured.url), None,
                                {"XJ_ACCESS_PD_KEY": "routing-key-0123456789"})
    assert [n.name for n in notifiers] == ["hook", "am", "pd"]
    for notifier in notifiers:
        configured.respond(status, headers={"Location": elsewhere.url + "/captured"})
        with pytest.raises(NotifyError, match=f"answered HTTP {status}"):
            notifier.send(make_event())  # type: ignore[arg-type]
    assert len(configured.wait_for(3)) == 3
    assert elsewhere.requests == []


def test_event_text_and_labels_never_become_a_target(configured: WebhookReceiver) -> None:
    notifiers = build_notifiers(_settings(configured.url), None,
                                {"XJ_ACCESS_PD_KEY": "routing-key-0123456789"})
    for notifier in notifiers:
        notifier.send(_hostile_event())  # type: ignore[arg-type]
    requests = configured.wait_for(3)
    assert [r.path for r in requests] == ["/hook", "/api/v2/alerts", "/v2/enqueue"]
    assert all(b"127.0.0.1:1/steal" in r.body for r in requests)  # carried as data


def test_links_built_from_labels_keep_the_configured_host() -> None:
    am = NotificationSettings.model_validate({"alertmanager": [{
        "name": "am", "url": "http://127.0.0.1:9093",
        "runbook_url": "https://wiki.example/runbooks/{check}/{item}",
        "generator_url": "https://xunjian.example{item}"}]}).alertmanager[0]
    notifier = AlertmanagerNotifier(am.name, am.url, None,  # type: ignore[arg-type]
                                    runbook_url=am.runbook_url, generator_url=am.generator_url)
    alert = notifier.alert(_hostile_event())  # type: ignore[arg-type]
    runbook = urlsplit(alert["annotations"]["runbook_url"])
    generator = urlsplit(alert["generatorURL"])
    assert runbook.hostname == "wiki.example"
    # unencoded, "https://xunjian.example{item}" would become a link to evil.example
    assert generator.hostname is not None and generator.hostname.startswith("xunjian.example")
    assert "@" not in generator.netloc
    assert runbook.path == "/runbooks/filesystem/%40evil.example%2Fx%3Fy%3D1%23"
    assert runbook.query == "" and runbook.fragment == "" and generator.query == ""


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com/", "//example.com/x",
    "127.0.0.1:9093", "http://user:pw@example.com/hook", "http:///nohost",
])
def test_only_http_urls_without_credentials_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError):
        NotificationSettings.model_validate({"webhooks": [{"name": "hook", "url": url}]})
