"""`digits schedule`: serve the training flow on a Prefect server as a deployment that retrains on a
schedule and/or when enough new feedback has arrived."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import threading
from datetime import timedelta

from cli import options as o
from cli import prefect_env, stopping
from cli.train import check_feedback, check_recipe, flow_parameters
from nnmodel.errors import SetupError
from nnmodel.progress import say
from nnmodel.store.runs import started_by

HELP = """\
needs a Prefect server (runs, reports and artifacts then show in its UI):
  digits server start                                           # once; UI at http://127.0.0.1:4200
  digits schedule --cron "0 3 * * 0" --timezone Europe/Paris    # Sundays at 03:00
  digits schedule --interval 3600                               # every hour
  digits schedule --on-feedback 50 --within 1d                  # after 50 new labelled images in a day

Each run folds the labelled images of artifacts/feedback (or --feedback DIR) into the training data,
trains a challenger, evaluates it beside the current model on the same validation and test data and
promotes it only if its validation accuracy is higher; the report says both and the decision.
Runs never overlap: the server allows one run of the deployment at a time and cancels a new one that
would overlap (its state says 'Deployment concurrency limit reached.'), and a run that finds another
training in progress in the same artifacts folder (e.g. a manual `digits train`) is skipped and
recorded. Served runs send heartbeats; one whose process died is marked Crashed by the server.
`digits runs` lists the outcomes. Ctrl-C stops serving and pauses the deployment (--keep-schedule:
it stays active, and its runs wait for the next `digits schedule`).
"""


def duration(text: str) -> float:
    """A type for argparse: seconds from '90', '90s', '30m', '2h' or '1d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"must be a duration such as 90s, 30m, 2h or 1d, not {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def time_zone(text: str) -> str:
    """An IANA time zone name (Europe/Paris, UTC); argparse names the option when it is not one."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time zone name (like Europe/Paris or UTC)") from None
    return text


def register(commands) -> None:
    schedule = commands.add_parser(
        "schedule", help="serve the training flow on a schedule or on new feedback (needs a Prefect server)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=HELP,
        description="Serve the training flow as a Prefect deployment that retrains on a schedule, and/or "
                    "when new labelled images (feedback) arrive.")
    when = schedule.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help='cron expression, e.g. "0 3 * * 0" (Sundays 03:00)')
    when.add_argument("--interval", type=o.positive_number, metavar="SECONDS", help="retrain every SECONDS")
    schedule.add_argument("--timezone", metavar="TZ", type=time_zone,
                          help="time zone of the schedule, e.g. Europe/Paris (default UTC)")
    schedule.add_argument("--on-feedback", type=o.whole(1), metavar="N",
                          help="retrain when N new labelled images have been saved (viewer keys, `digits "
                               "feedback add`) within --within")
    schedule.add_argument("--within", type=duration, default=86400.0, metavar="DURATION",
                          help="the window --on-feedback counts in: 90s, 30m, 2h, 1d (default 1d)")
    schedule.add_argument("--keep-schedule", action="store_true",
                          help="leave the deployment active when serving stops (default: pause it)")
    schedule.add_argument("--name", default="scheduled-retrain", help="deployment name (default scheduled-retrain)")
    o.add(schedule, *o.RECIPE_OPTIONS, o.TRAIN_DASK, o.FEEDBACK, o.NO_FEEDBACK)
    schedule.set_defaults(handler=run, runs_flows=False, on_interrupt=interrupted)


def schedules_for(args) -> tuple[list, str]:
    """The deployment's schedules and a phrase saying when it runs."""
    from prefect.schedules import Cron, Interval

    try:
        if args.cron:
            return [Cron(args.cron, timezone=args.timezone)], f"cron '{args.cron}' ({args.timezone or 'UTC'})"
        if args.interval:
            return [Interval(timedelta(seconds=args.interval), timezone=args.timezone)], f"every {args.interval:g} s"
    except ValueError as exc:
        raise SetupError(f"--{'cron' if args.cron else 'interval'}: {exc}") from None
    return [], "on feedback only"


def feedback_trigger(args):
    """A trigger that starts a run after --on-feedback feedback events of this artifacts folder."""
    from prefect.events import DeploymentEventTrigger

    from cli.local_server import FEEDBACK_EVENT

    return DeploymentEventTrigger(
        name=f"{args.name}-on-feedback", expect={FEEDBACK_EVENT}, posture="Reactive",
        match={"prefect.resource.id": "digits.feedback.*", "digits.artifacts": str(args.layout.root)},
        threshold=args.on_feedback, within=timedelta(seconds=args.within))


FINISHED = {"COMPLETED": "finished", "FAILED": "failed", "CRASHED": "crashed", "CANCELLED": "was cancelled"}


class RunReporter(threading.Thread):
    """Says on the terminal when a run of the served deployment starts and how it ends (its state's
    message: the promotion decision and both scores, or why it was skipped or cancelled), polling the
    server's API every `every` seconds."""

    def __init__(self, api: str, deployment: str, every: float = 2.0):
        super().__init__(name="run-reporter", daemon=True)
        self.api, self.deployment, self.every = api, deployment, every
        self.stopping = threading.Event()
        self.seen: dict[str, str] | None = None

    def run(self) -> None:
        while True:
            self.poll()
            if self.stopping.wait(self.every):
                return

    def poll(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the server is busy or gone: the next poll will tell
            self.report(prefect_env.recent_flow_runs(self.api, "digits-train", 20, deployment=self.deployment,
                                                     started_only=False))

    def report(self, runs: list[dict]) -> None:
        first = self.seen is None
        self.seen = self.seen or {}
        for run in reversed(runs):  # oldest first
            state = (run.get("state") or {}).get("type") or ""
            if self.seen.get(run["id"]) == state:
                continue
            self.seen[run["id"]] = state
            if first:
                continue  # runs from before we started serving: not news
            if state == "RUNNING":
                creator = (run.get("created_by") or {}).get("type")
                say(f"run {run['name']} started ({started_by(creator, bool(run.get('auto_scheduled')))})")
            elif state in FINISHED:
                message = (run.get("state") or {}).get("message") or ""
                say(f"run {run['name']} {FINISHED[state]}{': ' + message if message else ''}")

    def stop(self) -> None:
        self.stopping.set()
        if self.ident is not None:  # started (a stop can come between creating and starting it)
            self.join(10)
        if self.seen is not None:
            self.poll()  # what ended in the last moments


def pause_deployment(api: str, name: str) -> bool:
    """Pause the deployment digits-train/<name> on the server at `api` (its REST API: no Prefect
    import, so it works at any moment, even mid-import); False when it is not there. A busy server's
    503 is retried, as Prefect's own client retries it."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = api.rstrip("/")
    try:
        deployment = json.loads(_rest(urllib.request.Request(
            f"{base}/deployments/name/digits-train/{urllib.parse.quote(name)}")))
        _rest(urllib.request.Request(f"{base}/deployments/{deployment['id']}", method="PATCH",
                                     data=b'{"paused": true}', headers={"Content-Type": "application/json"}))
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def _rest(request, attempts: int = 6) -> bytes:
    """The answer to one REST request; a 503 (the server's database busy) is tried again, waiting
    0.25 s, 0.5 s, ... between attempts."""
    import time
    import urllib.error
    import urllib.request

    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(0.25 * 2 ** attempt)
    raise AssertionError("unreachable")


def interrupted(args) -> int:
    """Stopped (Ctrl-C, SIGTERM, SIGHUP) before `run` could handle it: pause the deployment all the
    same (unless --keep-schedule), if a server answers."""
    from cli.local_server import answers, api_url

    api = api_url()
    paused = bool(api) and answers(api) and not args.keep_schedule and pause_deployment(api, args.name)
    say(f"serving interrupted ({stopping.describe()}) before it began; deployment digits-train/{args.name} "
        + ("paused: no run starts until `digits schedule` serves it again" if paused else "left as it was"))
    return stopping.status()


def run(args) -> int:
    if not (args.cron or args.interval or args.on_feedback):
        raise SetupError("digits schedule needs --cron, --interval or --on-feedback")
    check_feedback(args)
    check_recipe(args)
    schedules_for(args)  # a bad --cron says so before anything else
    api = prefect_env.check_api()
    if api is None:
        raise SetupError("digits schedule needs a Prefect server: `digits server start` runs one "
                         "(see digits schedule --help)")
    os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(prefect_env.HEARTBEAT_SECONDS)  # before Prefect
    how, reporter = "stopped", None
    try:  # from here on, however serving stops (Ctrl-C, SIGTERM, an error), the deployment is paused
        training_flow = prefect_env.import_flows("training").training_flow
        from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

        schedules, when = schedules_for(args)
        triggers = [feedback_trigger(args)] if args.on_feedback else []
        if triggers:
            when += f"; after {args.on_feedback} new labelled images within {args.within:g} s"
        prefect_env.ensure_zombie_automation()
        ui = api.rstrip("/").removesuffix("/api")
        say(f"serving deployment digits-train/{args.name}: {when}, preset {args.preset}, "
            f"artifacts {args.layout.root}")
        say(f"runs, reports and artifacts: {ui}/deployments (Ctrl-C stops serving"
            f"{'; the deployment stays active' if args.keep_schedule else ' and pauses the deployment'})")
        reporter = RunReporter(api, args.name)
        reporter.start()
        training_flow.serve(
            name=args.name, schedules=schedules, triggers=triggers, tags=[args.family or args.preset],
            parameters={**flow_parameters(args), "show_progress": False},
            global_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            print_starting_message=False, pause_on_shutdown=not args.keep_schedule,  # the server limits runs
            description="Retrain with feedback on a schedule or on new feedback; champion/challenger promotion")
    except KeyboardInterrupt:
        how = f"interrupted ({stopping.describe()})"
    except SystemExit:  # Prefect's own SIGTERM handler, before its runner had started
        how = "interrupted (SIGTERM)"
    finally:
        if reporter is not None:
            reporter.stop()
        # whenever serving stopped (even before Prefect's own handler was in place): pause, unless kept
        paused = not args.keep_schedule and pause_deployment(api, args.name)
    state = "paused: no run starts until `digits schedule` serves it again" if paused else \
        "left active: its runs wait for the next `digits schedule`" if args.keep_schedule else "not found on the server"
    say(f"serving {how}; deployment digits-train/{args.name} {state}")
    return stopping.status() if how.startswith("interrupted") else 0
