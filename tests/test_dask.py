"""`digits predict --dask`: the chunks run on a real Dask cluster (scheduler + worker on 127.0.0.1)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import free_port, run_digits, stop_process_group, wait_for

pytest.importorskip("prefect_dask", reason="the test extra installs prefect-dask")
DASK = str(Path(sys.executable).with_name("dask"))
ROOT = Path(__file__).resolve().parents[1]


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([DASK, *args], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)


@pytest.fixture
def dask_cluster(tmp_path, prefect_server):
    """`dask scheduler` and one `dask worker` (2 threads) on 127.0.0.1, dashboards on 127.0.0.1 only;
    the worker reports its task runs to the real Prefect server."""
    assert shutil.which(DASK) or Path(DASK).exists()
    port = free_port()
    env = dict(os.environ, DASK_LOGGING__DISTRIBUTED="warning", PREFECT_API_URL=prefect_server)
    scheduler = start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                       "--dashboard-address", f"127.0.0.1:{free_port()}"], env, tmp_path / "scheduler.log")
    worker = start(["worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1", "--nthreads", "2",
                    "--dashboard-address", "127.0.0.1:0"], env, tmp_path / "worker.log")
    try:
        def worker_joined():
            out = subprocess.run([sys.executable, "-c", (
                "from distributed import Client; "
                f"c = Client('tcp://127.0.0.1:{port}', timeout=5); print(len(c.scheduler_info()['workers']))")],
                capture_output=True, text=True, env=env, timeout=60)
            return out.stdout.strip() == "1"
        wait_for(worker_joined, 90, "the Dask worker to join", worker)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        stop_process_group(worker)
        stop_process_group(scheduler)


@pytest.mark.slow
def test_dask_cluster_gives_the_same_csv_as_a_local_run(tmp_path, registered_artifacts, messy_folder,
                                                         dask_cluster, prefect_server):
    local = tmp_path / "local.csv"
    on_dask = tmp_path / "dask.csv"
    args = ["--artifacts", str(registered_artifacts), "predict", str(messy_folder), "--recursive", "--chunk-size", "8"]
    done = run_digits([*args, "--out", str(local)])
    assert done.returncode == 0, done.stderr
    done = run_digits([*args, "--out", str(on_dask), "--dask", dask_cluster], env={"PREFECT_API_URL": prefect_server})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert on_dask.read_bytes() == local.read_bytes()
    assert len(local.read_text().splitlines()) > 25
