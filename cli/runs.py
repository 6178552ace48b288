"""`digits runs`: recent training runs, and the Prefect server's flow runs when one is configured."""
from __future__ import annotations

import os

from cli import options as o
from cli import prefect_env
from nnmodel.errors import DigitsError
from nnmodel.progress import say


def register(commands) -> None:
    runs = commands.add_parser(
        "runs", help="list recent training runs with their outcome and scores",
        description="Training runs recorded under artifacts/runs (running, promoted, not promoted, skipped, "
                    "failed, crashed; challenger and current model scores on the same data; feedback used), and "
                    "the server's flow runs when PREFECT_API_URL is set.")
    runs.add_argument("--limit", type=o.whole(1), default=20, metavar="N", help="how many (default 20)")
    runs.set_defaults(handler=run, runs_flows=False)


def pair(scores: dict | None) -> str:
    if not isinstance(scores, dict) or scores.get("validation") is None:
        return "n/a"
    test = scores.get("test")
    return f"{scores['validation']:.2%} / " + ("n/a" if test is None else f"{test:.2%}")


def run(args) -> int:
    from nnmodel.store.runs import read_runs

    runs = read_runs(args.layout, args.limit)
    if not runs:
        say(f"no training runs recorded in {args.layout.runs}: run `digits train`")
    else:
        print(f"{'started':<25} {'outcome':<13} {'challenger val/test':<20} {'current val/test':<18} "
              f"{'feedback':>8} {'seconds':>7}  version")
        for run in runs:
            fb = (run.get("feedback") or {}).get("count", 0)
            print(f"{run.get('started', ''):<25} {run.get('outcome', '?'):<13} {pair(run.get('challenger')):<20} "
                  f"{pair(run.get('champion')):<18} {fb:>8} {run.get('seconds', ''):>7}  "
                  f"{run.get('version') or run.get('reason') or run.get('error', '')}")
    if os.environ.get("PREFECT_API_URL"):
        try:
            api = prefect_env.check_api()
            server_runs = prefect_env.recent_flow_runs(api, "digits-train", args.limit)
        except (DigitsError, OSError, ValueError) as exc:
            say(f"warning: server runs not shown: {exc}")
            return 0
        print(f"\non the Prefect server {api}:")
        print(f"{'started':<27} {'state':<11} {'flow run':<28} id")
        for run in server_runs:
            print(f"{(run.get('start_time') or run.get('expected_start_time') or '')[:26]:<27} "
                  f"{run.get('state_name') or '?':<11} {run.get('name', ''):<28} {run.get('id', '')}")
    return 0
