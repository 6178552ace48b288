"""Screenshots of the Prefect UI showing a training run and its report, for the README.

Run: `.venv/bin/python -m scripts.prefect_ui_screenshot [--preset quick] docs/prefect-run.png
docs/prefect-report.png`: starts `digits server` with a throw-away Prefect home, runs `digits train`
against it in a throw-away artifacts folder, and photographs the flow run's page and its report
artifact in headless Chromium. Nothing of the user's Prefect home or artifacts is touched.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from tests.helpers.chromium import chromium, screenshot
from tests.helpers.processes import api_post, digits_server, run_digits

RUN_LINK = re.compile(r"flow run: (http://127\.0\.0\.1:\d+)/runs/flow-run/([0-9a-f-]{36})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_png", help="where the flow run's page goes")
    parser.add_argument("report_png", help="where the report artifact's page goes")
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    if chromium() is None:
        raise SystemExit("needs chromium (scripts/install-test-tools.sh installs it)")
    with tempfile.TemporaryDirectory() as tmp, digits_server(Path(tmp) / "home") as (api, env):
        done = run_digits(["--artifacts", str(Path(tmp) / "artifacts"), "train", "--preset", args.preset, "-q"],
                          env=env, timeout=1800)
        link = RUN_LINK.search(done.stderr)
        if done.returncode or not link:
            raise SystemExit(f"digits train failed: {done.stderr[-2000:]}")
        ui, run_id = link.groups()
        artifacts = api_post(api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
        report = next(a for a in artifacts if a["key"].startswith("report-train-"))
        screenshot(f"{ui}/runs/flow-run/{run_id}", args.run_png, size="1400,900")
        screenshot(f"{ui}/artifacts/artifact/{report['id']}", args.report_png, size="1400,1400")
    print(args.run_png, args.report_png)


if __name__ == "__main__":
    main()
