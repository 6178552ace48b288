"""Headless Chromium (Debian's `chromium`) on pages served on 127.0.0.1: the DOM after the page's
scripts ran, its visible text, and screenshots."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def page_text(url: str, wait_ms: int = 15000, size: str = "1400,1000", timeout: float = 90) -> str:
    """The visible text of `url` once its scripts have run (up to `wait_ms` of page time), one text
    node per line."""
    done = _run([f"--window-size={size}", f"--virtual-time-budget={wait_ms}", "--dump-dom", url], timeout)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", done.stdout, flags=re.S)
    return "\n".join(line.strip() for line in re.split(r"<[^>]*>", text) if line.strip())


def screenshot(url: str, path: str, wait_ms: int = 15000, size: str = "1400,1000", timeout: float = 90) -> None:
    _run([f"--window-size={size}", f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url], timeout)
