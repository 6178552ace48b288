"""The `digits gui` command in a subprocess on Xvfb: real windows found and driven by xdotool."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(shutil.which("xdotool") is None,
                                reason="xdotool missing: .ci/run installs it (scripts/install-test-tools.sh)")


def run_cli(args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[1])


def wait_for_window(pattern: str, timeout: float = 20) -> str:
    out = subprocess.run(["xdotool", "search", "--sync", "--name", pattern], capture_output=True, text=True,
                         timeout=timeout)
    return out.stdout.split()[0]


def close(proc) -> str:
    """SIGTERM closes the window within a moment, as `kill` or a service manager expects (status 143)."""
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 128 + 15 and "interrupted (SIGTERM)" in err, (proc.returncode, err)
    return err


@pytest.mark.slow
def test_digits_gui_command_opens_an_image_then_clears(xvfb, registered_artifacts, mnist_raw, tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(mnist_raw.test_images[0]).resize((280, 280)).save(path)
    proc = run_cli(["--artifacts", str(registered_artifacts), "gui", "--open", str(path)])
    try:
        window = wait_for_window(r"^digits - 7 \(")
        geometry = subprocess.run(["xdotool", "getwindowgeometry", window], capture_output=True, text=True).stdout
        assert "Geometry" in geometry
        subprocess.run(["xdotool", "mousemove", "--window", window, "40", "40", "windowfocus", "--sync", window,
                        "sleep", "0.1", "key", "c"], check=True, timeout=10)
        wait_for_window("^digits$")
    finally:
        err = close(proc)
    assert "Traceback" not in err


@pytest.mark.slow
def test_digits_gui_command_without_a_model_says_how_to_train(xvfb, tmp_path):
    proc = run_cli(["--artifacts", str(tmp_path / "none"), "gui"])
    try:
        wait_for_window("^digits - no model$")
    finally:
        err = close(proc)
    assert "digits train" in err and "Traceback" not in err


def test_gui_never_imports_prefect():
    code = "import sys, gui.app, gui.model; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"
