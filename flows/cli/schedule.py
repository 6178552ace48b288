"""`digits schedule`: serve the training flow on a Prefect server as a deployment with a schedule."""
from __future__ import annotations

import argparse
from datetime import timedelta

from flows.cli import options as o
from flows.cli import prefect_env
from flows.cli.train import check_feedback, check_recipe, flow_parameters
from nnmodel.errors import SetupError
from nnmodel.progress import say

HELP = """\
needs a Prefect server (runs, reports and artifacts then show in its UI):
  prefect server start --host 127.0.0.1 --port 4200     # in another terminal; UI at http://127.0.0.1:4200
  export PREFECT_API_URL=http://127.0.0.1:4200/api
  digits schedule --cron "0 3 * * 0" --timezone Europe/Paris    # Sundays at 03:00
  digits schedule --interval 3600                                  # every hour

Each run folds the labelled images of artifacts/feedback (or --feedback DIR) into the training data,
trains a challenger, evaluates it beside the current model on the same validation and test data and
promotes it only if its validation accuracy is higher; the report says both and the decision.
Runs never overlap: this process starts one run at a time (later ones wait), and a run that finds
another training in progress in the same artifacts folder (e.g. a manual `digits train`) is skipped
and recorded as skipped. `digits runs` lists the outcomes. Ctrl-C stops serving and pauses the schedule.
"""


def register(commands) -> None:
    schedule = commands.add_parser(
        "schedule", help="serve the training flow on a schedule (needs a Prefect server)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=HELP,
        description="Serve the training flow as a Prefect deployment that retrains on a schedule.")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='cron expression, e.g. "0 3 * * 0" (Sundays 03:00)')
    when.add_argument("--interval", type=o.positive_number, metavar="SECONDS", help="retrain every SECONDS")
    schedule.add_argument("--timezone", metavar="TZ", help="time zone of the schedule, e.g. Europe/Paris (default UTC)")
    schedule.add_argument("--name", default="scheduled-retrain", help="deployment name (default scheduled-retrain)")
    o.add(schedule, *o.RECIPE_OPTIONS, o.FEEDBACK, o.NO_FEEDBACK)
    schedule.set_defaults(handler=run, runs_flows=False)


def run(args) -> int:
    api = prefect_env.check_api()
    if api is None:
        raise SetupError("digits schedule needs a Prefect server: start one with `prefect server start` "
                         "and set PREFECT_API_URL=http://127.0.0.1:4200/api (see digits schedule --help)")
    check_feedback(args)
    check_recipe(args)
    training_flow = prefect_env.import_flows("training").training_flow
    from prefect.schedules import Cron, Interval

    try:
        if args.cron:
            schedule = Cron(args.cron, timezone=args.timezone)
            when = f"cron '{args.cron}' ({args.timezone or 'UTC'})"
        else:
            schedule = Interval(timedelta(seconds=args.interval), timezone=args.timezone)
            when = f"every {args.interval:g} s"
    except ValueError as exc:
        raise SetupError(f"bad schedule: {exc}") from None
    parameters = {**flow_parameters(args), "show_progress": False}
    ui = api.rstrip("/").removesuffix("/api")
    say(f"serving deployment digits-train/{args.name}: {when}, preset {args.preset}, artifacts {args.layout.root}")
    say(f"runs, reports and artifacts: {ui}/deployments (Ctrl-C stops serving and pauses the schedule)")
    with prefect_env.quiet_flow_settings():
        training_flow.serve(name=args.name, schedules=[schedule], parameters=parameters, limit=1,
                            print_starting_message=False, pause_on_shutdown=True,
                            description="Scheduled retrain with feedback; champion/challenger promotion")
    return 0
