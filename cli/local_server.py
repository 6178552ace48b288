"""The local Prefect server that `digits server start` runs: its record, and the two things plain
code asks of it over HTTP (is it up; take this event). No Prefect import: the viewer's saved
corrections are announced through it (`digits gui` hands `announce_feedback` to the window).

The record is `<Prefect home>/digits-server.json` ({"pid", "port", "api", "ui", "log", "started"});
the Prefect home is $PREFECT_HOME, else ~/.prefect.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid
from pathlib import Path

RECORD = "digits-server.json"
FEEDBACK_EVENT = "digits.feedback.saved"


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def record_path() -> Path:
    return prefect_home() / RECORD


def read_record() -> dict | None:
    """The recorded server, or None."""
    try:
        record = json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and {"pid", "api", "ui"} <= set(record) else None


def answers(api: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers /health at `api` within `timeout` seconds."""
    try:
        with urllib.request.urlopen(api.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200 and response.read(16).strip() == b"true"
    except (OSError, ValueError):
        return False


def api_url() -> str | None:
    """The Prefect API to talk to: PREFECT_API_URL when set, else the recorded server when it answers."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        return os.environ["PREFECT_API_URL"].strip()
    record = read_record()
    return record["api"] if record and answers(record["api"]) else None


def feedback_event(artifacts: str | os.PathLike, image: str | os.PathLike, label: int) -> dict:
    """The event that says one labelled image was saved into an artifacts folder's feedback (what a
    retrain trigger counts; `digits.artifacts` tells artifacts folders apart)."""
    name = Path(image).name
    return {"id": str(uuid.uuid4()), "occurred": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "event": FEEDBACK_EVENT,
            "resource": {"prefect.resource.id": f"digits.feedback.{label}.{name}", "prefect.resource.name": name,
                         "digits.artifacts": str(Path(artifacts).resolve())},
            "payload": {"label": int(label), "path": str(image)}, "related": []}


def announce_feedback(artifacts: str | os.PathLike, image: str | os.PathLike, label: int) -> None:
    """A feedback event for the Prefect server, when one is up (retrains can start on them), sent from
    a background thread so the caller (the viewer) never waits on the network."""
    event = feedback_event(artifacts, image, label)
    threading.Thread(target=emit, args=([event],), daemon=True, name="feedback-event").start()


def emit(events: list[dict], api: str | None = None, timeout: float = 3.0) -> bool:
    """Send events to the Prefect API (`api`, by default `api_url()`); False when there is none or it
    did not take them (feedback is saved either way: an event is a notification, not the data)."""
    api = api or api_url()
    if not api or not events:
        return False
    request = urllib.request.Request(api.rstrip("/") + "/events", data=json.dumps(events).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):
        return False
