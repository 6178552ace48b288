"""The viewer: time for `digits gui` to show its window, time per recognition, and how many
pen-drawn digits it reads right when they are drawn with the mouse in the real window.

  open        process start -> window mapped with its title (xdotool search --sync), median of --rounds
  recognise   the viewer's recognise step (preprocess the 280x280 ink image + model) on 200 stroke
              images traced off MNIST test images and rendered off-screen (no window, no mouse):
              time per recognition (median and worst) and how many are read right
  window      --drawn N: the first N MNIST test digits, thinned to strokes and drawn with the mouse
              (xdotool, in the real Tk window) at brush widths 12, 20 and 28 in turn; a digit counts
              as read when the window's title names it
  numbers     --numbers N: N numbers of 2-4 MNIST test digits (from index 5000 on) drawn side by side
              in number mode; a number counts when the title reads it exactly

Run on a display: xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m bench.gui [--drawn 300] [--numbers 100]
[--artifacts DIR] [--rounds 5]   (needs a trained model: `digits train`).
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
from nnmodel.images.preprocess import preprocess_image
from nnmodel.images.strokes import digit_strokes, render
from nnmodel.store.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


def open_seconds(artifacts: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--artifacts", str(artifacts), "gui"],
                            cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "^digits"], check=True,
                       capture_output=True, timeout=30)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait()


def drawn_in_the_window(artifacts: Path, images, labels, widths=(12, 20, 28)) -> tuple[list, list]:
    """(truth, what the title says, brush) for each digit drawn with the mouse in the real window, with
    the look-inside panel open; and the panel's update times (ms) of the last recognition of each."""
    import tkinter as tk

    from tests.helpers.viewer import draw, key, make_viewer, predicted

    root = tk.Tk(className="digits")
    results, panel_ms = [], []
    try:
        for app in make_viewer(root, artifacts):
            key(app, "l")
            for i, (image, label) in enumerate(zip(images, labels)):
                app.brush.set(widths[i % len(widths)])
                draw(app, digit_strokes(image))
                results.append((int(label), predicted(app.root.title()), widths[i % len(widths)]))
                panel_ms.append(app.last_inside_ms)
                key(app, "c")
    finally:
        root.destroy()
    return results, panel_ms


def numbers_in_the_window(artifacts: Path, images, labels, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(truth, what the title says) for `count` numbers of 2 to 4 MNIST test digits, each digit's
    strokes drawn side by side (0.75 of the single-digit size, 165 canvas pixels apart) with the mouse
    in the real window's number mode."""
    import tkinter as tk

    from tests.helpers.viewer import NUMBER_TITLE, draw, key, make_viewer

    rng = np.random.default_rng(seed)
    root = tk.Tk(className="digits")
    results = []
    try:
        for app in make_viewer(root, artifacts):
            key(app, "n")
            for _ in range(count):
                picks = rng.integers(0, len(images), int(rng.integers(2, 5)))
                strokes = [[(x + 20 + 165 * k, y + 35) for x, y in stroke]
                           for k, i in enumerate(picks) for stroke in digit_strokes(images[i], scale=7.5)]
                draw(app, strokes)
                shown = NUMBER_TITLE.match(app.root.title())
                results.append(("".join(str(labels[i]) for i in picks), shown.group(1) if shown else ""))
                key(app, "c")
    finally:
        root.destroy()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--drawn", type=int, default=0, help="digits to draw in the real window (0: none)")
    parser.add_argument("--numbers", type=int, default=0,
                        help="numbers (2-4 digits) to draw in the real window's number mode (0: none)")
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
    print(f"| recognise (ms), 200 stroke images (no window) | {statistics.median(times):.2f} | {max(times):.2f} "
          "| < 20 |")
    print("\nstroke images rendered off-screen (no window, no mouse) and read right by the recognise step: "
          f"{right}/200")
    if args.drawn:
        results, panel_ms = drawn_in_the_window(artifacts, raw.test_images[: args.drawn], raw.test_labels[: args.drawn])
        read = sum(truth == shown for truth, shown, _ in results)
        print(f"\ndigits drawn with the mouse in the window and read right: {read}/{len(results)} "
              f"({read / len(results):.1%})")
        for width in sorted({w for _, _, w in results}):
            mine = [(t, s) for t, s, w in results if w == width]
            print(f"  brush {width}: {sum(t == s for t, s in mine)}/{len(mine)}")
        print("  misread (truth -> shown): " + ", ".join(f"{t}->{s}" for t, s, _ in results if t != s))
        print(f"look-inside panel update (ms), {len(panel_ms)} recognitions: median {statistics.median(panel_ms):.2f}, "
              f"worst {max(panel_ms):.2f} (target < 20)")
    if args.numbers:
        results = numbers_in_the_window(artifacts, raw.test_images[5000:], raw.test_labels[5000:], args.numbers)
        exact = sum(truth == shown for truth, shown in results)
        print(f"\nnumbers drawn with the mouse in number mode and read exactly: {exact}/{len(results)} "
              f"({exact / len(results):.1%}; target: 47 of 50)")
        print("  misread (truth -> shown): " + ", ".join(f"{t}->{s or '?'}" for t, s in results if t != s))


if __name__ == "__main__":
    main()
