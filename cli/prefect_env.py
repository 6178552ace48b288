"""Prefect for a command line: quiet logs, no analytics, fail fast on a dead API, no stray servers.

Prefect reads its settings from the environment at import time, so `configure()` must run before
anything imports it. Values the user already set win (setdefault).
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

from nnmodel.errors import DigitsError, SetupError

_QUIET_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
_CLIENT_LOGGERS = ("prefect.events.clients", "prefect._internal.concurrency")  # retries, workers that gave up


def configure(verbose: int = 0) -> None:
    """Set Prefect's environment defaults for a quiet, local, fast run."""
    level = "WARNING" if verbose == 0 else ("INFO" if verbose == 1 else "DEBUG")
    defaults = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",  # what the API (and so the UI) receives
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": level,  # what the terminal shows
        "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL" if verbose < 2 else "WARNING",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_API_REQUEST_TIMEOUT": "10",
        "PREFECT_CLIENT_MAX_RETRIES": "8",  # a busy server (SQLite) answers 503 for a while
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
        "PREFECT_CLI_COLORS": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = level
    os.environ["DIGITS_VERBOSE"] = str(verbose)


def _lost_server(exc: BaseException | None) -> bool:
    """Whether an exception is a client's failure to reach the API (said by cli.server_watch)."""
    while exc is not None:
        if type(exc).__module__.startswith(("httpx", "httpcore")) or isinstance(exc, ConnectionError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _HideExpectedFailures:
    """Console filter: a failed run caused by a DigitsError is reported by the CLI in one line, so the
    run loggers' ERROR records for it (state lines and tracebacks) stay off the terminal. They still
    reach the Prefect API and UI. Unexpected exceptions keep their tracebacks."""

    def filter(self, record) -> bool:
        if record.name.startswith(_CLIENT_LOGGERS):  # a lost server is said in one line (cli.server_watch)
            return False
        if record.levelno < 40 or not record.name.startswith(_QUIET_LOGGERS):
            return True
        if record.exc_info:
            return not isinstance(record.exc_info[1], DigitsError) and not _lost_server(record.exc_info[1])
        return "Failed(" not in record.getMessage()


def quiet_console() -> None:
    """After Prefect has set up logging: hide expected-failure noise unless -v was given."""
    import logging

    if os.environ.get("DIGITS_VERBOSE", "0") != "0":
        return
    # "Still processing items" at exit: events still flushing to the temporary server, not a fault.
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    # A server that went away is said in one line (cli.server_watch), not by each of Prefect's
    # clients in turn (the console filter drops their records), nor by the log handler's errors.
    logging.raiseExceptions = False
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.addFilter(_HideExpectedFailures())


def import_flows(module: str):
    """Import a flows module (and so Prefect), then quiet its console output."""
    import importlib

    flows_module = importlib.import_module(f"flows.{module}")
    quiet_console()
    return flows_module


def check_api(timeout: float = 3.0) -> str | None:
    """If PREFECT_API_URL is set, make sure it answers /health within `timeout` seconds.

    Returns the URL (or None in local temporary-server mode); raises SetupError with one line otherwise.
    """
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        return None
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as response:
            body = response.read(64)
        if response.status != 200 or json.loads(body or b"null") is not True:
            raise SetupError(f"PREFECT_API_URL={url} answered /health with {response.status} {body[:40]!r}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SetupError(
            f"Prefect API at PREFECT_API_URL={url} is not reachable ({reason}); start it with "
            "`prefect server start`, or unset PREFECT_API_URL to run with a temporary local server"
        ) from None
    return url


def _seconds(name: str, default: int) -> int:
    """A whole number of seconds from the environment variable `name` (>= 1), else `default`."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else default


HEARTBEAT_SECONDS = 30  # runs on a kept server tell it they are alive this often (Prefect's least) ...
ZOMBIE_AFTER = max(_seconds("DIGITS_ZOMBIE_AFTER", 90), 2 * HEARTBEAT_SECONDS)  # ... one silent this long is
# marked Crashed (an automation on the server, made with the first run a server sees)


def flow_settings():
    """Context manager: Prefect settings for the command's flows. On a kept server, heartbeats, so
    that a run whose command died (or lost the server) is marked Crashed by the zombie rule; on a
    temporary server, none (no 1 s wait for the heartbeat thread at the end)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    kept = bool(os.environ.get("PREFECT_API_URL", "").strip())
    if kept:
        ensure_zombie_automation()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: HEARTBEAT_SECONDS if kept else None})


def ensure_zombie_automation() -> None:
    """The server-side automation that marks a run Crashed when its heartbeats stop (Prefect's
    documented "zombie" rule; created once per server)."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    name = "digits-crash-silent-runs"
    try:
        Automation.read(name=name)
        return
    except ValueError:
        pass
    Automation(name=name, trigger=EventTrigger(
        after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
        match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
        for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
        within=timedelta(seconds=ZOMBIE_AFTER)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="Flow run marked as crashed: no heartbeat "
                                    f"for {ZOMBIE_AFTER} s (its process died?).")]).create()


RECORDED_SERVER_TIMEOUT = 5.0  # seconds: a busy server can be slow to answer; a gone one refuses at once


def use_recorded_server() -> str | None:
    """Point this process at the server `digits server start` recorded, unless PREFECT_API_URL is set
    (that always wins); returns the API URL in use, or None for a temporary server. A recorded server
    that does not answer is reported in one warning line. Must run before Prefect is imported."""
    from cli.local_server import answers, read_record

    if os.environ.get("PREFECT_API_URL", "").strip():
        return os.environ["PREFECT_API_URL"]
    record = read_record()
    if record is None:
        return None
    if not answers(record["api"], timeout=RECORDED_SERVER_TIMEOUT):
        print(f"warning: the Prefect server recorded at {record['api']} does not answer; using a temporary "
              "server for this command (`digits server start` starts it again)", file=sys.stderr, flush=True)
        return None
    os.environ["PREFECT_API_URL"] = record["api"]
    os.environ.setdefault("PREFECT_UI_URL", record["ui"])
    return record["api"]


def run_flow(flow, *args, **kwargs):
    """Call a flow and return its result; when a server keeps the run (not a temporary one), end with
    one line naming the run's page in its UI."""
    state = flow(*args, return_state=True, **kwargs)
    if os.environ.get("PREFECT_API_URL"):
        ui = os.environ.get("PREFECT_UI_URL") or os.environ["PREFECT_API_URL"].rstrip("/").removesuffix("/api")
        print(f"flow run: {ui}/runs/flow-run/{state.state_details.flow_run_id}", file=sys.stderr, flush=True)
    return state.result()


def recent_flow_runs(api: str, flow_name: str, limit: int = 20, timeout: float = 5.0,
                     deployment: str | None = None, started_only: bool = True) -> list[dict]:
    """The server's most recent flow runs of `flow_name` (of the deployment named `deployment`, when
    given), newest first, via its REST API: those that started, or with `started_only` False, every
    run that is no longer only scheduled (pending, running, or ended without starting: cancelled)."""
    query = {"flows": {"name": {"any_": [flow_name]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": limit,
             "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}}}
    if started_only:
        query.update(flow_runs={"start_time": {"is_null_": False}}, sort="START_TIME_DESC")
    if deployment:
        query["deployments"] = {"name": {"any_": [deployment]}}
    request = urllib.request.Request(
        api.rstrip("/") + "/flow_runs/filter", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps(query).encode())
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def reap_orphaned_temporary_servers() -> int:
    """Stop Prefect temporary servers whose owner died without stopping them; returns how many.

    Each command that runs a flow starts a temporary Prefect server as its child and stops it at exit;
    a `kill -9` of the command cannot, and the server would run on. Such a server (this user's, marked
    ephemeral by Prefect, re-parented to init) serves nobody, so the next `digits` command stops it.
    Linux only (reads /proc); elsewhere it does nothing."""
    import signal

    if not os.path.isdir("/proc"):
        return 0
    reaped = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            if ppid != 1:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                if b"prefect.server.api.server:create_app" not in fh.read():
                    continue
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if b"PREFECT__SERVER_EPHEMERAL=1" not in fh.read().split(b"\0"):
                    continue
            os.kill(int(entry.name), signal.SIGTERM)
            reaped += 1
        except (OSError, ValueError, IndexError):
            continue
    return reaped
