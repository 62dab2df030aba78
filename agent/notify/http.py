"""One place that turns HTTP delivery failures into :class:`NotifyError`.

The message names the channel, the endpoint (scheme, host, port and path only: a query string
or user info may hold a token) and what to check. Request headers and bodies are never quoted,
so HMAC keys, routing keys and header tokens cannot leak through an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from agent.errors import NotifyError
from config.secrets import Redactor

log = logging.getLogger(__name__)


def shown_url(url: str) -> str:
    """The URL without user info, query or fragment, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def post_json(
    http: httpx.Client, channel: str, kind: str, url: str, content: bytes,
    headers: Mapping[str, str], timeout: float, secrets: Sequence[str] = (),
) -> httpx.Response:
    """POST ``content`` (JSON bytes); return the 2xx response or raise NotifyError.

    ``secrets`` are scrubbed from the receiver's answer before it is quoted (a receiver may echo
    the request, and PagerDuty's routing key travels in the body)."""
    where = shown_url(url)
    all_headers = {"Content-Type": "application/json", **headers}
    try:
        response = http.post(url, content=content, headers=all_headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise NotifyError(
            f"{kind} channel '{channel}': {where} did not answer within {timeout:g} s; check "
            "that the receiver is up and reachable, or raise the channel's timeout_seconds"
        ) from exc
    except httpx.ConnectError as exc:
        raise NotifyError(
            f"{kind} channel '{channel}': cannot connect to {where} ({_reason(exc)}); check "
            "the URL, that the receiver is running, and firewalls/proxies in between"
        ) from exc
    except httpx.HTTPError as exc:
        raise NotifyError(
            f"{kind} channel '{channel}': request to {where} failed ({_reason(exc)})"
        ) from exc
    if not response.is_success:
        raise NotifyError(
            f"{kind} channel '{channel}': {where} answered HTTP {response.status_code} "
            f"{response.reason_phrase}{_excerpt(response, secrets)}; {_hint(response.status_code)}"
        )
    log.debug("%s channel %s: delivered to %s (HTTP %d)", kind, channel, where,
              response.status_code)
    return response


def _reason(exc: Exception) -> str:
    # httpx messages describe the socket error; they do not contain request headers or body.
    return str(exc) or type(exc).__name__


def _excerpt(response: httpx.Response, secrets: Sequence[str]) -> str:
    # The receiver's own explanation helps (e.g. Alertmanager's validation error); keep it short.
    text = Redactor(secrets)(" ".join(response.text.split()))[:300]
    return f": {text}" if text else ""


def _hint(status: int) -> str:
    if status in (401, 403):
        return "the receiver refused the credentials: check the secret or token it expects"
    if status == 404:
        return "check the URL's path"
    if status == 429:
        return "the receiver is rate limiting; the delivery is retried with backoff"
    if 400 <= status < 500:
        return "the receiver rejected the request"
    return "the receiver failed; the delivery is retried with backoff"
