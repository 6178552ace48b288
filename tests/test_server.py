"""Prefect the way its users run it, on real servers started by the tests: `digits server`, commands
that find it, feedback events that start retrains, one retrain at a time, the UI in a real browser,
and the prefect.yaml deployments on a real process worker."""
from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry
from nnmodel.store.runs import read_runs
from tests.helpers.chromium import Browser, chromium
from tests.helpers.data import write_digits
from tests.helpers.processes import DIGITS, api_get, api_post, digits_server, free_port, run_digits, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RUN_LINK = re.compile(r"flow run: (http://127\.0\.0\.1:\d+)/runs/flow-run/([0-9a-f-]{36})")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_is_found_by_every_command_and_stops_without_leftovers(tmp_path, registered_artifacts, mnist_raw):
    home, folder = tmp_path / "home", tmp_path / "digits"
    write_digits(folder, mnist_raw.test_images[:10])
    art = ["--artifacts", str(registered_artifacts)]
    with digits_server(home) as (api, env):
        status = run_digits(["server", "status"], env=env)
        assert status.returncode == 0 and f"API {api}" in status.stdout and "UI  http://127.0.0.1:" in status.stdout
        assert run_digits(["server"], env=env).stdout == status.stdout  # no action: the status
        done = run_digits([*art, "predict", str(folder), "--out", str(tmp_path / "a.csv")], env=env)
        assert done.returncode == 0, done.stderr
        ui, run_id = RUN_LINK.search(done.stderr).groups()
        assert api == ui + "/api" and api_get(api, f"/flow_runs/{run_id}")["state"]["type"] == "COMPLETED"
        dead = f"http://127.0.0.1:{free_port()}/api"  # an explicit PREFECT_API_URL always wins
        refused = run_digits([*art, "predict", str(folder), "--out", str(tmp_path / "b.csv")],
                             env={**env, "PREFECT_API_URL": dead}, keep_prefect_env=False)
        assert refused.returncode == 1 and "not reachable" in refused.stderr
        pgid = os.getpgid(json.loads((home / "digits-server.json").read_text())["pid"])
        assert run_digits(["server", "start"], env=env).returncode == 0  # already up: said so, not doubled
    assert wait_for(lambda: not group_alive(pgid), 30, "the server's processes to end")
    assert not (home / "digits-server.json").exists()
    assert run_digits(["server", "status"], env=env).returncode == 1


def test_a_recorded_server_that_is_gone_means_a_temporary_server_and_one_warning(tmp_path, registered_artifacts,
                                                                                 mnist_raw):
    home, folder = tmp_path / "home", tmp_path / "digits"
    write_digits(folder, mnist_raw.test_images[:5])
    home.mkdir()
    port = free_port()
    (home / "digits-server.json").write_text(json.dumps({
        "pid": 999999, "port": port, "api": f"http://127.0.0.1:{port}/api", "ui": f"http://127.0.0.1:{port}"}))
    done = run_digits(["--artifacts", str(registered_artifacts), "predict", str(folder), "--out",
                       str(tmp_path / "a.csv")], env={"PREFECT_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "does not answer" in warnings[0] and "flow run:" not in done.stderr


def test_new_feedback_starts_a_retrain_and_overlapping_runs_are_cancelled(tmp_path, registered_artifacts, mnist_raw,
                                                                         link_prepared):
    home = tmp_path / "home"
    link_prepared(registered_artifacts)
    images = write_digits(tmp_path / "sevens", mnist_raw.test_images[mnist_raw.test_labels == 7][:3])
    with digits_server(home) as (api, env):
        serve = subprocess.Popen([*DIGITS, "--artifacts", str(registered_artifacts), "schedule", "--on-feedback", "3",
                                  "--within", "10m", "--preset", "quick", "--name", "fb-retrain"], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            query = {"deployments": {"name": {"any_": ["fb-retrain"]}}}
            deployment = wait_for(lambda: api_post(api, "/deployments/filter", query), 120,
                                  "the deployment to be served", serve)[0]
            assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
            assert deployment["global_concurrency_limit"]["limit"] == 1
            added = run_digits(["--artifacts", str(registered_artifacts), "feedback", "add", "7",
                                *[str(tmp_path / "sevens" / name) for name in images]], env=env)
            assert added.returncode == 0, added.stderr
            assert "told the Prefect server: 3 feedback event(s)" in added.stderr

            def finished_runs():
                runs = read_runs(Layout(registered_artifacts))
                return [r for r in runs if r["outcome"] not in ("running", "skipped")]
            [run] = wait_for(finished_runs, 240, "a retrain started by the feedback", serve)
            assert run["feedback"]["count"] == 3
            flow_run = wait_for(lambda: (lambda r: r if "on-feedback" in r["tags"] else None)(
                api_get(api, f"/flow_runs/{run['flow_run_id']}")), 60, "the run's tags", serve)
            assert flow_run["deployment_id"] == deployment["id"] and flow_run["state"]["type"] == "COMPLETED"
            assert (flow_run.get("created_by") or {}).get("type") == "AUTOMATION"
            assert {"quick", run["outcome"].replace(" ", "-")} <= set(flow_run["tags"])

            # two runs at once: the server cancels the one that would overlap, and says why
            # (both due at the same moment, so the runner's one poll picks up both, however long the
            # busy server takes to create them)
            due = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=8)).isoformat()
            scheduled = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": due}}}
            first = api_post(api, f"/deployments/{deployment['id']}/create_flow_run", scheduled)
            second = api_post(api, f"/deployments/{deployment['id']}/create_flow_run", scheduled)

            def both_settled():
                states = [api_get(api, f"/flow_runs/{r['id']}")["state"] for r in (first, second)]
                return states if all(s["type"] in ("COMPLETED", "CANCELLED", "FAILED") for s in states) else None
            states = wait_for(both_settled, 240, "both runs to settle", serve)
            cancelled = [s for s in states if s["type"] == "CANCELLED"]
            assert len(cancelled) == 1 and "Deployment concurrency limit reached" in cancelled[0]["message"], states
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(60)
        assert "Traceback" not in serve.stderr.read()


@pytest.mark.skipif(chromium() is None, reason="chromium missing: .ci/run installs it (scripts/install-test-tools.sh)")
def test_the_training_run_and_its_report_artifacts_show_in_the_ui(tmp_path, mnist_raw, link_prepared):
    """The run page in a real browser: its readable name, its tags and the decision in its state message;
    the report artifact with every picture loaded; a second retrain adds a point to the same artifact
    keys' history. (The run also takes a folder of labelled images, and says how many it added and what
    it left out.)"""
    home, art, labelled = tmp_path / "home", link_prepared(tmp_path / "artifacts"), tmp_path / "class"
    write_digits(labelled / "7", mnist_raw.test_images[mnist_raw.test_labels == 7][:4])
    (labelled / "7" / "junk.png").write_bytes(b"not an image")
    with digits_server(home) as (api, env):
        done = run_digits(["--artifacts", str(art), "train", "--preset", "quick", "-q", "--feedback", str(labelled)],
                          env=env)
        assert done.returncode == 0, done.stderr
        line = next(line for line in done.stderr.splitlines() if line.startswith("feedback: "))
        assert f"feedback: 4 labelled images from {labelled} added" in line and "1 left out" in line
        assert "junk.png" in line
        ui, run_id = RUN_LINK.search(done.stderr).groups()
        flow_run = api_get(api, f"/flow_runs/{run_id}")
        assert re.fullmatch(r"train-quick-seed0-\d{8}-\d{6}", flow_run["name"]), flow_run["name"]
        assert {"quick", "promoted", "manual"} <= set(flow_run["tags"])
        message = flow_run["state"]["message"]
        assert message.startswith("promoted: validation ") and "(no current model)" in message

        artifacts = api_post(api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
        by_key = {a["key"]: a for a in artifacts}
        assert {"report-train-quick", "per-digit-train-quick", "other-writers-train-quick", "training-quick"} <= \
            set(by_key), by_key.keys()
        assert by_key["training-quick"]["type"] == "progress" and float(by_key["training-quick"]["data"]) == 100
        with Browser() as browser:
            browser.open(f"{ui}/runs/flow-run/{run_id}")
            page = browser.wait_for(f"document.body.innerText.includes({json.dumps(flow_run['name'])}) && "
                                    "document.body.innerText.includes('promoted') && document.body.innerText",
                                    timeout=60)
            assert "quick" in page and "manual" in page and "Completed" in page
            browser.open(f"{ui}/artifacts/artifact/{by_key['report-train-quick']['id']}")
            images = browser.wait_for(
                "document.body.innerText.includes('Promotion') && document.images.length >= 5 && "
                "Array.from(document.images).every(i => i.complete) && "
                "Array.from(document.images).map(i => [i.alt, i.naturalWidth])", timeout=60)
            text = browser.evaluate("document.body.innerText")
        assert "Training run" in text and "Other writers" in text and "optdigits" in text and "Decision" in text
        alts = {alt for alt, _ in images}
        assert {"Confusion matrix", "mistakes", "Training curves", "Reliability diagram"} <= alts, alts
        assert all(width > 0 for _, width in images), images  # every picture loaded

        again = run_digits(["--artifacts", str(art), "train", "--preset", "quick", "-q", "--seed", "1"], env=env)
        assert again.returncode == 0, again.stderr
        history = api_post(api, "/artifacts/filter", {"artifacts": {"key": {"any_": ["report-train-quick"]}}})
        assert len(history) == 2 and len({a["flow_run_id"] for a in history}) == 2
        latest = api_post(api, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": ["report-train-quick"]}}})
        assert len(latest) == 1 and latest[0]["flow_run_id"] == RUN_LINK.search(again.stderr).group(2)


def test_the_prefect_yaml_deployments_run_on_a_process_worker(tmp_path, link_prepared):
    home, art = tmp_path / "home", link_prepared(tmp_path / "artifacts")
    prefect = str(Path(sys.executable).with_name("prefect"))
    with digits_server(home) as (api, env):
        env = {**env, "PREFECT_API_URL": api, "PWD": str(ROOT)}  # PWD: the pull step's folder, as a shell sets it

        def prefect_cli(*args, timeout=300):
            done = subprocess.run([prefect, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            return done.stdout
        prefect_cli("work-pool", "create", "digits", "--type", "process")
        deployed = prefect_cli("--no-prompt", "deploy", "--all")
        assert "digits-train/train" in deployed and "digits-predict/predict" in deployed
        prefect_cli("deployment", "run", "digits-train/train", "--param", f"artifacts={art}", "--param", "preset=quick")
        prefect_cli("worker", "start", "--pool", "digits", "--run-once", "--install-policy", "never", timeout=600)
        [run] = read_runs(Layout(art))
        assert run["outcome"] == "promoted" and Registry(art).current()["version"] == run["version"]
        flow_run = api_get(api, f"/flow_runs/{run['flow_run_id']}")
        assert flow_run["state"]["type"] == "COMPLETED" and flow_run["deployment_id"]
