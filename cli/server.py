"""`digits server start|stop|status`: a local Prefect server that every `digits` command then uses.

`start` runs `prefect server start` on 127.0.0.1 in the background (its own session, its database in
the Prefect home), waits until it answers, and records it (cli/local_server.py).
From then on every command uses it without anything to export (prefect_env.configure reads the
record; an explicit PREFECT_API_URL always wins). `stop` ends it and all its children.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from cli import options as o
from cli.local_server import answers, prefect_home, read_record, record_path
from cli.processes import identity, port_holder, start_ticks, still_ours
from nnmodel import atomic
from nnmodel.errors import SetupError
from nnmodel.progress import say

START_TIMEOUT = 120  # seconds: a first start migrates a fresh database


def register(commands) -> None:
    server = commands.add_parser(
        "server", help="run a local Prefect server in the background (runs, reports and artifacts in its UI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A Prefect server on 127.0.0.1 that every digits command uses while it runs: runs are kept "
                    "and shown in its UI, and commands skip starting a temporary server (seconds faster).",
        epilog="examples:\n  digits server start              # UI at http://127.0.0.1:4200\n"
               "  digits server status             # or just `digits server`; exits 1 when no server is up\n"
               "  digits server stop")
    actions = server.add_subparsers(dest="server_command", metavar="ACTION")
    start = actions.add_parser("start", help="start the server and wait until it answers")
    start.add_argument("--port", type=o.whole(1024, 65535), default=4200, help="port on 127.0.0.1 (default 4200)")
    actions.add_parser("stop", help="stop the recorded server and everything it started")
    actions.add_parser("status", help="the UI and API addresses; exit status 1 when no server answers")
    server.set_defaults(handler=run, runs_flows=False)


def start(port: int) -> int:
    record = read_record()
    if record and still_ours(record) and answers(record["api"]):
        say(f"a Prefect server is already running: UI {record['ui']}, API {record['api']}")
        return 0
    api, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"
    if answers(api):
        raise SetupError(f"--port {port}: something else already answers at {api}; stop it or choose another port")
    holder = port_holder(port)
    if holder:
        raise SetupError(f"--port {port}: taken by another program ({holder}); stop it or choose another port")
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "digits-server.log"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_UI_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    say(f"starting a Prefect server on 127.0.0.1:{port} (database and log in {home}) ...")
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(api):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process_group(proc.pid)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise SetupError(f"the Prefect server did not start (see {log}){': ' + tail[0] if tail else ''}")
        time.sleep(0.5)
    atomic.write_json(record_path(), {**identity(proc.pid), "port": port, "api": api, "ui": ui, "log": str(log),
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    say(f"Prefect server up: UI {ui}, API {api}; every digits command now uses it (`digits server stop` ends it)")
    print(ui)
    return 0


def stop_process_group(pid: int, timeout: float = 20) -> None:
    """SIGTERM to the server's whole session, then SIGKILL to whatever is left."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def stop() -> int:
    record = read_record()
    if record is None:
        say("no Prefect server recorded (nothing to stop)")
        return 0
    if not still_ours(record):  # a pid alone is not an identity: it may belong to another process now
        record_path().unlink(missing_ok=True)
        taken = start_ticks(record["pid"]) is not None
        say(f"the recorded Prefect server (pid {record['pid']}) is not running"
            + ("; its pid now belongs to another process, left alone" if taken else "")
            + f"; cleared the stale record {record_path()}")
        return 0
    stop_process_group(record["pid"])
    record_path().unlink(missing_ok=True)
    say(f"stopped the Prefect server at {record['ui']}")
    return 0


def status() -> int:
    record = read_record()
    if record and answers(record["api"]):
        print(f"UI  {record['ui']}\nAPI {record['api']}")
        return 0
    say("no Prefect server is up" + (f" (the one recorded at {record['api']} does not answer)" if record else "")
        + ": `digits server start` starts one")
    return 1


def run(args) -> int:
    return {"start": lambda: start(args.port), "stop": stop, "status": status}[args.server_command or "status"]()
