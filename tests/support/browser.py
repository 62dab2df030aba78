"""Headless Debian Chromium: render an HTML file, collect console errors, take a screenshot.

:func:`render_page` starts a fresh Chromium (its own temporary profile) and drives it with the
DevTools protocol over ``--remote-debugging-pipe``: NUL-terminated JSON messages on the child's
file descriptors 3 (commands in) and 4 (answers and events out). The pipe needs no free port and
no websocket client, and the protocol reports precisely what the page's console would show:

* ``Runtime.consoleAPICalled`` (``console.error`` and failed ``console.assert`` are errors),
* ``Runtime.exceptionThrown`` (uncaught exceptions and rejected promises),
* ``Log.entryAdded`` at level ``error`` (failed resource loads such as a missing image or
  stylesheet, security errors).

The screenshot is the full page (``captureBeyondViewport`` over the layout's content size) at the
given viewport width. Chromium runs in its own session and process group, which is killed on
the way out whatever happened; every wait is bounded by one overall ``timeout``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

#: Prefix of the temporary profile directories (tests look for leftover processes by it).
PROFILE_PREFIX = "xunjian-chromium-"

#: Chromium refuses to make larger bitmaps; a taller page is cut at this height.
MAX_SCREENSHOT_HEIGHT = 16_000

# Without the background-networking flags Chromium tries to reach Google on a closed network
# and waits; --no-sandbox because the tests run as root; /dev/shm is tiny in containers.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-device-scale-factor=1",
    "--remote-debugging-pipe",
)

# Wait this long after the load event for errors raised by timers and late resources.
SETTLE_SECONDS = 0.3


class BrowserError(RuntimeError):
    """Chromium could not render the page (did not start, crashed, timed out)."""


@dataclass
class PageRender:
    screenshot: Path
    #: console.error / failed console.assert, uncaught exceptions, failed resource loads
    console_errors: list[str] = field(default_factory=list)
    #: everything the console showed, errors included, in order
    console_messages: list[str] = field(default_factory=list)


def chromium_unavailable_reason(chromium: Path = CHROMIUM) -> str | None:
    """Why :func:`render_page` cannot run on this machine, or ``None`` if it can."""
    if not chromium.is_file() or not os.access(chromium, os.X_OK):
        return f"{chromium} is not installed (Debian package chromium; `make system-deps`)"
    return None


def render_page(
    html_file: Path,
    screenshot: Path,
    *,
    width: int = 1280,
    height: int = 2000,
    timeout: float = 60,
    full_page: bool = True,
) -> PageRender:
    """Load ``html_file`` in a ``width`` x ``height`` viewport and save a PNG to ``screenshot``.

    Raises :class:`BrowserError` when Chromium is missing, exits, or does not finish within
    ``timeout`` seconds (page load included: a page whose script never ends times out).
    """
    reason = chromium_unavailable_reason()
    if reason:
        raise BrowserError(reason)
    if not html_file.is_file():
        raise FileNotFoundError(f"no HTML file to render at {html_file}")
    result = PageRender(screenshot=screenshot)
    with (
        tempfile.TemporaryDirectory(prefix=PROFILE_PREFIX, ignore_cleanup_errors=True) as tmp,
        _DevToolsPipe(Path(tmp), time.monotonic() + timeout, timeout, result) as browser,
    ):
        session = browser.open_page(width, height)
        browser.load(session, html_file.resolve().as_uri())
        png = browser.screenshot(session, width, full_page=full_page)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(png)
    return result


class _DevToolsPipe:
    """One Chromium process and the DevTools protocol over its pipe."""

    def __init__(self, tmp: Path, deadline: float, timeout: float, sink: PageRender) -> None:
        self._tmp = tmp
        self._deadline = deadline
        self._timeout = timeout
        self._sink = sink
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._stderr = tmp / "chromium.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_browser = -1
        self._from_browser = -1

    # -- process -------------------------------------------------------------------------------

    def __enter__(self) -> _DevToolsPipe:
        cmd_read, self._to_browser = _pipe_above(10)
        self._from_browser, answer_write = _pipe_above(10)
        profile = self._tmp / "profile"
        # bash puts the pipe ends on fds 3 and 4, where --remote-debugging-pipe expects them,
        # without a preexec_fn (unsafe: other tests run threads in this process). Not dash:
        # it only takes one-digit fd numbers.
        argv = [
            "/bin/bash",
            "-c",
            f'exec "$@" 3<&{cmd_read} 4>&{answer_write}',
            "sh",
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        try:
            with self._stderr.open("wb") as stderr:
                self._proc = subprocess.Popen(
                    argv,
                    pass_fds=(cmd_read, answer_write),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
        except BaseException:
            self._close_fds()
            raise
        finally:
            os.close(cmd_read)
            os.close(answer_write)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._proc is not None and self._proc.poll() is None and exc[0] is None:
                # A polite close lets Chromium flush its profile; the group kill below stays.
                with contextlib.suppress(BrowserError, OSError):
                    self._deadline = min(self._deadline, time.monotonic() + 5)
                    self.call("Browser.close")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
        finally:
            self._kill()
            self._close_fds()

    def _kill(self) -> None:
        if self._proc is None:
            return
        # Renderer, GPU and utility processes share the browser's process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)

    def _close_fds(self) -> None:
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = -1

    def _stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self._stderr.read_text(errors="replace")
        except OSError:
            return "(no stderr)"
        # D-Bus complaints are expected in containers and say nothing about the failure.
        kept = [line for line in text.splitlines() if "dbus" not in line and line.strip()]
        return "\n".join(kept[-lines:]) or "(nothing)"

    def _fail(self, what: str) -> BrowserError:
        assert self._proc is not None
        code = self._proc.poll()
        state = "still running" if code is None else f"exited with status {code}"
        return BrowserError(
            f"{what}; Chromium {state}. Its stderr ends with:\n{self._stderr_tail()}"
        )

    # -- protocol ------------------------------------------------------------------------------

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_browser, data) :]
        except BrokenPipeError:
            raise self._fail(f"could not send {method}: the pipe is closed") from None
        while True:
            answer = self._receive(method)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise self._fail(f"{method} failed: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self._event(answer)

    def wait_for_event(self, method: str, session: str) -> dict[str, Any]:
        """Return the params of the next ``method`` event of ``session``."""
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[index]
                    params: dict[str, Any] = event.get("params", {})
                    return params
            self._event(self._receive(f"the {method} event"))

    def drain(self, seconds: float) -> None:
        """Take in the events that arrive within ``seconds``."""
        until = min(self._deadline, time.monotonic() + seconds)
        while True:
            if b"\0" not in self._buffer:
                left = until - time.monotonic()
                if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                    return
            self._event(self._receive("late events"))

    def _receive(self, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            ready = left > 0 and select.select([self._from_browser], [], [], left)[0]
            if not ready:
                raise self._fail(f"timed out after {self._timeout:g} s waiting for {waiting_for}")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise self._fail(f"the DevTools pipe closed while waiting for {waiting_for}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def _event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        _record_console(event, self._sink)
        if event.get("method") == "Page.javascriptDialogOpening":
            # a dialog blocks the page (its load event too) until answered: fail now, not at
            # the timeout, and say why (a page that runs alert() ran script it should not)
            params = event.get("params", {})
            raise BrowserError(
                f"the page opened a JavaScript {params.get('type', '')} dialog: "
                f"{params.get('message', '')!r}"
            )

    # -- page ----------------------------------------------------------------------------------

    def open_page(self, width: int, height: int) -> str:
        """A new tab with the console domains on and the viewport set; its session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session: str = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        return session

    def load(self, session: str, url: str) -> None:
        """Navigate, wait for the load event and the web fonts, then for late errors."""
        navigated = self.call("Page.navigate", {"url": url}, session)
        if navigated.get("errorText"):
            raise BrowserError(f"Chromium could not open {url}: {navigated['errorText']}")
        self.wait_for_event("Page.loadEventFired", session)
        self.call(
            "Runtime.evaluate",
            {"expression": "document.fonts.ready.then(() => true)", "awaitPromise": True},
            session,
        )
        self.drain(SETTLE_SECONDS)

    def screenshot(self, session: str, width: int, *, full_page: bool) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": max(width, int(size["width"])),
                "height": min(MAX_SCREENSHOT_HEIGHT, max(1, int(size["height"]))),
                "scale": 1,
            }
        data: str = self.call("Page.captureScreenshot", params, session)["data"]
        return base64.b64decode(data)


def _pipe_above(lowest: int) -> tuple[int, int]:
    """A pipe whose ends are numbered >= ``lowest``, so the shell's ``3<&`` / ``4>&`` never
    overwrite one end with the other."""
    read, write = os.pipe()
    try:
        high = (
            fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, lowest),
            fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, lowest),
        )
    finally:
        os.close(read)
        os.close(write)
    return high


def _record_console(event: dict[str, Any], sink: PageRender) -> None:
    method = event.get("method")
    params = event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        kind = params.get("type", "log")
        text = " ".join(_remote_value(arg) for arg in params.get("args", []))
        message = f"console.{kind}: {text}{_where(params.get('stackTrace'))}"
        sink.console_messages.append(message)
        if kind in ("error", "assert"):
            sink.console_errors.append(message)
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        exception = details.get("exception", {})
        text = exception.get("description") or details.get("text", "exception")
        message = f"uncaught exception: {text}{_where(details.get('stackTrace'))}"
        sink.console_messages.append(message)
        sink.console_errors.append(message)
    elif method == "Log.entryAdded":
        entry = params.get("entry", {})
        url = entry.get("url")
        message = f"{entry.get('source', 'log')} {entry.get('level', '')}: {entry.get('text', '')}"
        message += f" ({url})" if url else ""
        sink.console_messages.append(message)
        if entry.get("level") == "error":
            sink.console_errors.append(message)


def _remote_value(arg: dict[str, Any]) -> str:
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return str(arg.get("unserializableValue") or arg.get("description") or arg.get("type"))


def _where(stack: dict[str, Any] | None) -> str:
    frames = (stack or {}).get("callFrames") or []
    if not frames:
        return ""
    frame = frames[0]
    return f" ({frame.get('url') or '<inline>'}:{frame.get('lineNumber', 0) + 1})"
