"""Headless Chromium (Debian's `chromium`) on pages served on 127.0.0.1: the DOM after the page's
scripts ran, its visible text, and screenshots."""
from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _end_group(proc: subprocess.Popen, wait: float = 10) -> None:
    """Stop every process of Chromium's session (renderers, zygote, crash handler outlive the browser
    and keep writing to the profile) and wait until they are gone."""
    import os
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + wait / 2
        try:
            os.killpg(proc.pid, sig)
            while time.monotonic() < deadline:
                proc.poll()  # the browser itself, once reaped, leaves the group
                os.killpg(proc.pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            return


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            _end_group(proc)
            proc.wait()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def page_text(url: str, wait_ms: int = 15000, size: str = "1400,1000", timeout: float = 90) -> str:
    """The visible text of `url` once its scripts have run (up to `wait_ms` of page time), one text
    node per line."""
    done = _run([f"--window-size={size}", f"--virtual-time-budget={wait_ms}", "--dump-dom", url], timeout)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", done.stdout, flags=re.S)
    return "\n".join(line.strip() for line in re.split(r"<[^>]*>", text) if line.strip())


def screenshot(url: str, path: str, wait_ms: int = 15000, size: str = "1400,1000", timeout: float = 90) -> None:
    _run([f"--window-size={size}", f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url], timeout)


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands
    on its fd 3, answers on its fd 4, NUL-separated JSON), so a test can run JavaScript in a real page
    (e.g. ask whether each image loaded) with nothing but the standard library."""

    def __init__(self, size: str = "1400,1000"):
        import os

        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        to_chrome, self._send = os.pipe()
        self._read, from_chrome = os.pipe()
        def as_fds_3_and_4():  # in the child, before exec: its ends of the pipes become fds 3 and 4
            high = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={self._profile.name}", f"--window-size={size}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=as_fds_3_and_4,
            start_new_session=True)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._id, self._session = b"", 0, None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        import json
        import os
        import select
        import time

        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if self._session and not method.startswith("Target."):
            message["sessionId"] = self._session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"{method}: no answer from Chromium in {timeout} s")
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError(f"{method}: Chromium closed the pipe")
            self._buffer += chunk

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60, every: float = 0.5):
        """Evaluate `expression` until it is truthy; its value (TimeoutError when it never is)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for: {expression}")
            time.sleep(every)

    def close(self) -> None:
        import os

        _end_group(self._proc, wait=20)
        self._proc.wait(20)
        for fd in (self._send, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
