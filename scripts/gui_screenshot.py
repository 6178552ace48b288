"""Screenshot of the viewer with a recognised digit, for the README.

Run on a display (e.g. `xvfb-run -s '-screen 0 1024x768x24' .venv/bin/python -m scripts.gui_screenshot
[--artifacts DIR] [--index 18] docs/gui.png`): opens the viewer on the current model, draws the strokes of
an MNIST test digit with xdotool, and saves the window.
"""
from __future__ import annotations

import argparse
import subprocess
import time
import tkinter as tk
from pathlib import Path

from PIL import ImageGrab

from gui.app import DigitsViewer
from gui.model import load_viewer_model
from nnmodel.data.readers import read_bundled
from nnmodel.images.strokes import digit_strokes
from nnmodel.store.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--artifacts")
    parser.add_argument("--index", type=int, default=18, help="MNIST test image to trace")
    args = parser.parse_args()
    artifacts = Layout.locate(args.artifacts).root
    root = tk.Tk(className="digits")
    app = DigitsViewer(root, load_viewer_model(artifacts), artifacts / "feedback")
    root.geometry("+0+0")
    root.update()
    time.sleep(0.3)
    root.update()
    x0, y0 = app.canvas.winfo_rootx(), app.canvas.winfo_rooty()
    for stroke in digit_strokes(read_bundled().test_images[args.index]):
        cmds = ["mousemove", str(x0 + stroke[0][0]), str(y0 + stroke[0][1]), "mousedown", "1"]
        for x, y in stroke[1:]:
            cmds += ["sleep", "0.03", "mousemove", str(x0 + x), str(y0 + y)]
        proc = subprocess.Popen(["xdotool", *cmds, "sleep", "0.03", "mouseup", "1"])
        while proc.poll() is None:
            root.update()
            time.sleep(0.002)
    for _ in range(20):
        root.update()
        time.sleep(0.01)
    box = (root.winfo_rootx(), root.winfo_rooty(), root.winfo_rootx() + root.winfo_width(),
           root.winfo_rooty() + root.winfo_height())
    ImageGrab.grab(bbox=box).save(args.out)
    print(root.title(), "->", args.out)
    root.destroy()


if __name__ == "__main__":
    main()
