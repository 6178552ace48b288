"""The training flow on real Prefect and real data: register, report, promote only when better,
publish artifacts, and survive being killed mid-training."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnmodel.data.splits import read_split
from nnmodel.model import modelfile, original
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry
from nnmodel.store.runs import read_runs
from tests.helpers.processes import DIGITS, run_digits, temporary_servers_of, wait_for, without_prefect_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory, prepared_layers):
    import shutil

    from flows.training import training_flow

    root = tmp_path_factory.mktemp("artifacts")
    shutil.copytree(prepared_layers, root, copy_function=os.link, dirs_exist_ok=True)  # as link_prepared does
    first = training_flow(str(root), preset="quick", show_progress=False)
    return root, first


def test_first_model_is_registered_with_full_metadata(trained):
    root, decision = trained
    assert decision["promoted"] and decision["reason"] == "no current model"
    registry = Registry(root)
    assert registry.versions() == [decision["candidate"]]
    folder = registry.resolve()
    net, meta = modelfile.load_model(folder)
    assert meta["recipe"]["preset"] == "quick" and meta["params"]["hidden_sizes"] == [32]
    assert meta["family"] == meta["recipe"]["family"] == "mlp" and meta["format"] == "digits-model/3"
    assert set(meta["metrics"]) == {"train", "validation", "test", "optdigits", "drawn"}
    assert meta["metrics"]["test"]["accuracy"] > 0.8
    assert meta["data"]["raw_digest"]
    assert set(meta["data"]["files"]) == {"train.parquet", "validation.parquet", "test.parquet"}
    assert {"numpy", "scipy", "prefect", "python"} <= set(meta["libraries"])
    assert meta["code_version"] and meta["training"]["iterations"] == 15 and meta["training"]["seconds"] > 0
    X, y = read_split(Path(meta["data"]["dir"]) / "test.parquet")
    assert net.score(X, y) == pytest.approx(meta["metrics"]["test"]["accuracy"])
    legacy = original.predict(np.loadtxt(folder / "Theta1.txt"), np.loadtxt(folder / "Theta2.txt"), X)
    assert np.mean(legacy == net.predict(X)) > 0.999
    assert not [p for p in (root / "runs").iterdir() if p.is_dir()]  # the work folder was cleaned up
    assert [r["outcome"] for r in read_runs(Layout(root))] == ["promoted"]


def test_report_files_are_written(trained):
    _, decision = trained
    report_dir = Path(decision["report"])
    for name in ("report.json", "report.md", "per_class.csv", "confusion.csv", "mistakes.csv",
                 "confusion.png", "mistakes.png"):
        assert (report_dir / name).stat().st_size > 0, name
    report = json.loads((report_dir / "report.json").read_text())
    test = report["splits"]["test"]
    assert np.sum(test["confusion"]) == 10000 and len(test["per_class"]) == 10
    assert report["mistakes"] and all(m["true"] != m["predicted"] for m in report["mistakes"])
    assert "**Decision:** promoted" in (report_dir / "report.md").read_text()
    from PIL import Image

    assert Image.open(report_dir / "confusion.png").size[0] > 400


def test_report_is_published_as_prefect_artifacts(trained):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    assert trained  # after the module's training run
    key = "train-quick"  # one key per recipe: the UI's history of it compares the runs
    with get_client(sync_client=True) as client:
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"per-digit-{key}"])))
        notes = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"report-{key}"])))
        others = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"other-writers-{key}"])))
    assert tables and tables[0].type == "table" and "precision" in str(tables[0].data)
    assert notes and notes[0].type == "markdown" and "per digit" in notes[0].data
    assert "Other writers" in notes[0].data and "optdigits" in notes[0].data
    assert "**Decision:** promoted" in notes[0].data  # published after the promotion decision
    assert notes[0].data.count("](data:image/png;base64,") >= 4 and "file://" not in notes[0].data
    assert others and "optdigits" in str(others[0].data) and "drawn" in str(others[0].data)


def test_the_report_scores_other_writers(trained):
    root, decision = trained
    report = json.loads((Path(decision["report"]) / "report.json").read_text())
    optdigits, drawn = report["others"]["optdigits"], report["others"]["drawn"]
    assert optdigits["n"] == 1797 and 0.3 < optdigits["accuracy"] < 1
    assert drawn["n"] == 1500 and 0.5 < drawn["accuracy"] < 1 and len(drawn["per_class"]) == 10
    meta = Registry(root).metadata(decision["candidate"])
    assert meta["metrics"]["optdigits"]["accuracy"] == optdigits["accuracy"]
    assert "| optdigits: UCI optdigits" in (Path(decision["report"]) / "report.md").read_text()


def test_the_drawn_digits_are_made_once_as_a_data_layer(trained):
    from nnmodel.reports import other_writers

    root, _ = trained
    [layer] = (root / "data").glob("*+drawn-*")
    manifest = json.loads((layer / "manifest.json").read_text())
    data_dir = Path(manifest["base_data_dir"])
    test_sha = Layout(root).manifest(data_dir)["files"]["test.parquet"]["sha256"]
    assert manifest["count"] == 1500 and manifest["test_sha256"] == test_sha
    stamp = (layer / "test.parquet").stat().st_mtime_ns
    X, y = other_writers.drawn_layer(Layout(root), data_dir)           # read back, not redrawn
    assert (layer / "test.parquet").stat().st_mtime_ns == stamp
    pixels, labels = read_split(data_dir / "test.parquet")
    X_fresh, y_fresh = other_writers.drawn((pixels * 255).round().astype(np.uint8).reshape(-1, 28, 28), labels)
    assert np.array_equal(y, y_fresh) and np.abs(X - X_fresh).max() <= 0.5 / 255 + 1e-6


def test_distorted_copies_come_from_a_cached_layer(trained):
    from flows.training import training_flow

    root, _ = trained
    recipe = {"preset": "quick", "copies": 1, "distortions": ["stroke", "blur"], "max_iter": 3, "show_progress": False}
    first = training_flow(str(root), **recipe)
    meta = Registry(root).metadata(first["candidate"])
    layer = Path(meta["distorted"]["dir"])
    assert "+distorted-" in layer.name and meta["distorted"]["count"] == 55000
    assert meta["training"]["examples"] == 110000 and meta["recipe"]["copies"] == [["stroke", "blur"]]
    assert "copies" not in meta["params"]  # the model fitted the layer's copies as they were
    stamp = (layer / "train.parquet").stat().st_mtime_ns
    again = training_flow(str(root), **recipe)
    assert Registry(root).metadata(again["candidate"])["distorted"]["digest"] == meta["distorted"]["digest"]
    assert (layer / "train.parquet").stat().st_mtime_ns == stamp  # a cache hit
    other = training_flow(str(root), **{**recipe, "seed": 5})
    assert Registry(root).metadata(other["candidate"])["distorted"]["dir"] != str(layer)


def test_worse_model_is_not_promoted_unless_forced(trained):
    from flows.training import training_flow

    root, first = trained
    worse = training_flow(str(root), preset="quick", max_iter=2, show_progress=False)
    assert not worse["promoted"] and worse["current"] == first["candidate"]
    assert worse["candidate_val_accuracy"] < worse["current_val_accuracy"]
    assert Registry(root).current()["version"] == first["candidate"]
    text = (Path(worse["report"]) / "report.md").read_text()
    assert "not promoted" in text and f"| current | {first['candidate']} |" in text
    forced = training_flow(str(root), preset="quick", max_iter=2, seed=1, force_promote=True, show_progress=False)
    assert forced["promoted"] and Registry(root).current()["version"] == forced["candidate"]
    Registry(root).promote(first["candidate"], force=True)  # leave the good model current


def test_evaluation_flow_writes_a_report_for_the_current_model(trained, tmp_path, mnist_raw):
    """Also on a folder of labelled scans (dark on light, 100 px, no 8s, one file labelled wrongly on
    purpose, one that is no image): scored per digit, each mistake named by its file."""
    from PIL import Image

    from flows.training import evaluation_flow

    root, _first = trained
    labelled = tmp_path / "class"
    images, labels = mnist_raw.test_images[:80], mnist_raw.test_labels[:80]
    keep = np.flatnonzero(labels != 8)
    for i in keep:
        (labelled / str(labels[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - images[i]).resize((100, 100)).save(labelled / str(labels[i]) / f"s{i:02d}.png")
    one = int(np.flatnonzero(labels == 1)[0])
    Image.fromarray(255 - images[one]).save(labelled / "7" / "mislabelled.png")
    (labelled / "3" / "junk.png").write_bytes(b"not an image")

    meta = modelfile.read_metadata(Registry(root).resolve())
    folder = evaluation_flow(str(root), str(Registry(root).resolve()), meta["data"]["dir"], report_name="eval-test",
                             labelled=str(labelled))
    report = json.loads((Path(folder) / "report.json").read_text())
    assert report["splits"]["test"]["accuracy"] == pytest.approx(meta["metrics"]["test"]["accuracy"])
    scored = report["others"]["labelled"]
    assert scored["n"] == len(keep) + 1 and scored["per_class"][8]["support"] == 0
    assert scored["accuracy"] > 0.8 and scored["folder"] == str(labelled)
    assert len(scored["unreadable"]) == 1 and "junk.png" in scored["unreadable"][0]
    wrong = {Path(m["path"]).name: m for m in scored["mistakes"]}
    assert wrong["mislabelled.png"]["true"] == 7 and wrong["mislabelled.png"]["predicted"] == 1
    assert all(m["true"] != m["predicted"] for m in scored["mistakes"])
    assert scored["n"] - np.trace(scored["confusion"]) == len(scored["mistakes"])
    with open(Path(folder) / "labelled_mistakes.csv") as fh:
        assert {Path(line.split(",")[0]).name for line in fh.read().splitlines()[1:]} == set(wrong)
    text = (Path(folder) / "report.md").read_text()
    assert f"## Your labelled images ({labelled})" in text and "mislabelled.png" in text
    assert next(line for line in text.splitlines() if line.startswith("| 8 |")).endswith("| n/a |")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_training_leaves_no_partial_model(tmp_path, sig):
    env = without_prefect_settings()
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    root = tmp_path / "art"
    # as from a terminal: SIGINT handled by default even when this test runs as a background job
    # (which ignores SIGINT, and its children would inherit that)
    proc = subprocess.Popen([*DIGITS, "--artifacts", str(root), "train", "--preset", "quick", "--maxiter", "5000"],
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "iteration" in line or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    proc.wait(60)
    assert proc.returncode != 0
    assert Registry(root).versions() == [] and Registry(root).current() is None
    models = root / "models"
    assert not models.exists() or [p.name for p in models.iterdir() if p.name != ".lock"] == []
    if sig == signal.SIGINT:
        assert "interrupted" in proc.stderr.read()
    [run] = read_runs(Layout(root))  # the killed run is listed, never lost
    assert run["outcome"] == "crashed" and run["preset"] == "quick"
    if sig == signal.SIGINT:  # recorded by the flow's state hook, with Prefect's reason
        assert "interrupt" in run["error"]
    listed = run_digits(["--artifacts", str(root), "runs"], env={"PREFECT_HOME": env["PREFECT_HOME"]})
    assert run["outcome"] in listed.stdout
    assert not list(root.rglob("*.partial")) and not (root / "runs" / run["run"]).exists()
    # even a kill -9 takes the command's temporary Prefect server with it (its lifeline)
    assert wait_for(lambda: not temporary_servers_of(env["PREFECT_HOME"]), 15, "the temporary server to end")


def test_the_next_command_stops_a_temporary_server_an_older_version_left(tmp_path):
    """A temporary Prefect server whose command died without a lifeline (an older version of digits)
    runs on, re-parented, serving nobody: the next command stops it."""
    env = without_prefect_settings()
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"  # Prefect's own 20 s is short on a busy CI machine
    orphan = ("import os\n"
              "from prefect.server.api.server import SubprocessASGIServer\n"
              "SubprocessASGIServer().start()\n"
              "os._exit(0)  # gone without stopping it, as a kill -9 would\n")
    subprocess.run([sys.executable, "-c", orphan], env=env, timeout=120, check=True)
    assert temporary_servers_of(env["PREFECT_HOME"]), "expected the server to be left over"
    assert wait_for(lambda: not temporary_servers_of(env["PREFECT_HOME"]) or _run_digits(tmp_path / "art", env), 60,
                    "the orphaned temporary server to be stopped")


def _run_digits(root, env) -> bool:
    """Run a quick `digits` command (which stops orphaned temporary servers); False to keep waiting."""
    subprocess.run([*DIGITS, "--artifacts", str(root), "runs"], env=env, capture_output=True, timeout=60)
    return False


def test_the_report_lists_the_splits_in_the_order_they_are_made(trained):
    _, decision = trained
    text = (Path(decision["report"]) / "report.md").read_text()
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith(("| train", "| validation",
                                                                                          "| test"))]
    assert rows[:3] == ["train", "validation", "test"]
