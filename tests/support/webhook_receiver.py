"""A small HTTP receiver on 127.0.0.1 that records every request (webhooks, PagerDuty-style
APIs), for tests.

It answers ``status`` (default 200) with ``body``; :meth:`WebhookReceiver.respond` queues
one-off answers (status, body, delay) used in order before falling back to the default, so a
test can make the first delivery fail with 500 or time out and the next one succeed.
Delays end early when the receiver stops, so a "hanging" receiver never slows teardown.

    with WebhookReceiver() as hook:
        hook.respond(500)
        ...  # POST to hook.url + "/any/path"
        hook.wait_for(1)[0].json()
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    content_type: str = "application/json"
    #: more response headers (e.g. ``Location`` of a redirect)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        answer = receiver._next_answer()
        receiver._record(Request(self.command, self.path, dict(self.headers.items()), body))
        if answer.delay and receiver._stopping.wait(answer.delay):
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_POST = do_PUT = do_GET = _handle  # noqa: N815 - http.server dispatches by these names

    def log_message(self, format: str, *args: Any) -> None:
        self.server.receiver.log.append(format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class WebhookReceiver:
    def __init__(self, *, host: str = "127.0.0.1", status: int = 200,
                 body: bytes = b'{"status":"ok"}') -> None:
        self.default = Answer(status, body)
        self.requests: list[Request] = []
        self.log: list[str] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(self, status: int = 200, body: bytes = b"", *, delay: float = 0.0,
                times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Queue ``times`` answers to use before the default one."""
        answer = Answer(status, body, delay, headers=tuple((headers or {}).items()))
        with self._lock:
            self._answers.extend([answer] * times)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._answers.popleft() if self._answers else self.default

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until ``count`` requests arrived; return them all."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")
            return list(self.requests)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
