"""Headless Chromium, driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``: JSON messages
ended by NUL on file descriptors 3 and 4): no port, no websocket library, no browser download.

:func:`render` opens a local HTML file and returns what a person would see and what the console would show: every
console message, uncaught exception and browser log entry (CSP violations, failed loads), every network request,
the value of a JavaScript expression evaluated on the loaded page, and a full-page PNG screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Page:
    console: list[tuple[str, str]] = field(default_factory=list)  # (type: log/warning/error..., text)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (level, source, text)
    requests: list[str] = field(default_factory=list)  # URLs
    value: Any = None
    screenshot: bytes = b""

    def problems(self) -> list[str]:
        """Everything a clean page would not show: console messages of any kind, exceptions, log warnings and
        errors, and requests for anything but the file itself and data: URIs."""
        out = [f"console.{t}: {text}" for t, text in self.console]
        out += [f"exception: {e}" for e in self.exceptions]
        out += [f"log {lvl} ({src}): {text}" for lvl, src, text in self.log if lvl in ("warning", "error")]
        out += [f"request: {u}" for u in self.requests if not u.startswith(("file:", "data:"))]
        return out


class _Browser:
    def __init__(self, exe: str, profile: str) -> None:
        to_browser, self._w = os.pipe()
        self._r, from_browser = os.pipe()
        # on fds >= 10, so that bash's "3<&R 4>&W" cannot overwrite one with the other
        r_hi, w_hi = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser))
        os.close(to_browser)
        os.close(from_browser)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                 f"--user-data-dir={profile}", "about:blank"]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$0" "$@" 3<&{r_hi} 4>&{w_hi} {r_hi}<&- {w_hi}>&-', exe,
                                      *flags], pass_fds=(r_hi, w_hi), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        os.close(r_hi)
        os.close(w_hi)
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._r, 1 << 16):
            buf += chunk
            *done, buf = buf.split(b"\0")
            for raw in done:
                self.messages.put(json.loads(raw))
        self.messages.put(None)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             deadline: float = 0.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._next(deadline, f"reply to {method}")
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, deadline: float) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._next(deadline, method)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def _next(self, deadline: float, what: str) -> dict[str, Any]:
        try:
            msg = self.messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise TimeoutError(f"chromium: no {what} in time; {self.stderr_tail()}") from None
        if msg is None:
            raise RuntimeError(f"chromium exited (waiting for {what}); {self.stderr_tail()}")
        return msg

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return "stderr: " + self.stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            os.close(fd)
        self.stderr.close()


def render(exe: str, html: Path, expression: str, *, width: int = 1280, height: int = 900,
           timeout_s: float = 60.0) -> Page:
    """Load ``html`` in headless Chromium ``exe``, wait for its load event, evaluate ``expression`` (its value
    must be JSON) and take a full-page screenshot."""
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="nnfpga-chromium-") as profile:
        b = _Browser(exe, profile)
        try:
            target = b.send("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
            session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                             deadline=deadline)["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                b.send(f"{domain}.enable", session=session, deadline=deadline)
            b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": False}, session=session, deadline=deadline)
            b.events.clear()
            b.send("Page.navigate", {"url": html.resolve().as_uri()}, session=session, deadline=deadline)
            b.wait_event("Page.loadEventFired", deadline)
            page = Page()
            value = b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=session, deadline=deadline)
            if "exceptionDetails" in value:
                raise RuntimeError(f"the expression failed: {value['exceptionDetails']}")
            page.value = value["result"].get("value")
            size = b.send("Page.getLayoutMetrics", session=session, deadline=deadline)["cssContentSize"]
            shot = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}},
                session=session, deadline=deadline)
            page.screenshot = base64.b64decode(shot["data"])
            for ev in b.events:
                p = ev.get("params", {})
                match ev.get("method"):
                    case "Runtime.consoleAPICalled":
                        page.console.append((p["type"], " ".join(str(a.get("value", a.get("description", "")))
                                                                 for a in p.get("args", []))))
                    case "Runtime.exceptionThrown":
                        d = p["exceptionDetails"]
                        page.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
                    case "Log.entryAdded":
                        e = p["entry"]
                        page.log.append((e["level"], e.get("source", ""), e.get("text", "")))
                    case "Network.requestWillBeSent":
                        page.requests.append(p["request"]["url"])
            return page
        finally:
            b.close()
