"""Viewer responsiveness: time for `digits gui` to show its window, and time per recognition.

  open        process start -> window mapped with its title (xdotool search --sync), median of --rounds
  recognise   the viewer's recognise step (preprocess the 280x280 ink image + network) on 200 digits
              drawn from strokes traced off MNIST test images; median and worst

Run on a display: xvfb-run -a .venv/bin/python -m bench.gui [--artifacts DIR] [--rounds 5]
(needs a trained model: `digits train`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gui.model import load_viewer_model
from nnmodel.data.readers import read_bundled
from nnmodel.layout import Layout
from nnmodel.preprocess import preprocess_image
from nnmodel.strokes import digit_strokes, render

ROOT = Path(__file__).resolve().parents[1]


def open_seconds(artifacts: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--artifacts", str(artifacts), "gui"],
                            cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "^digits"], check=True,
                       capture_output=True, timeout=30)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        sys.exit("needs a display: run under xvfb-run -a")
    artifacts = Layout.locate(args.artifacts).root
    network = load_viewer_model(artifacts).network
    raw = read_bundled()
    inks = [render(digit_strokes(raw.test_images[i])) for i in range(200)]
    times, right = [], 0
    for i, ink in enumerate(inks):
        started = time.perf_counter()
        pre = preprocess_image(np.asarray(ink))
        digit = int(network.predict_proba(pre.pixels.reshape(1, 784))[0].argmax())
        times.append((time.perf_counter() - started) * 1000)
        right += digit == raw.test_labels[i]
    opens = [open_seconds(artifacts) for _ in range(args.rounds)]
    print("| measure | median | worst | target |\n|---|---|---|---|")
    print(f"| window open (s), {args.rounds} runs | {statistics.median(opens):.2f} | {max(opens):.2f} | < 2 |")
    print(f"| recognise (ms), 200 drawn digits | {statistics.median(times):.2f} | {max(times):.2f} | < 20 |")
    print(f"\ndrawn digits recognised: {right}/200")


if __name__ == "__main__":
    main()
