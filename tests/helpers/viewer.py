"""Driving the real viewer window on an X display with xdotool, from the process that runs it: the
Tk event loop keeps running while xdotool moves the mouse and presses keys (tests and bench/gui.py)."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

TITLE = re.compile(r"^digits - (\d) \((\d{1,3}\.\d)%\)$")
NUMBER_TITLE = re.compile(r"^digits - (\d+) \((\d{1,3}\.\d)%\)$")  # number mode
PAUSE = 0.03  # seconds between mouse moves, or Tk merges them


def make_viewer(root, artifacts: Path, model=..., model_help: str = "", brush: int = 20):
    """A DigitsViewer in the (shared) Tk root, placed at the top left and focused; a generator that
    yields it and clears it afterwards."""
    from gui.app import DigitsViewer
    from gui.model import load_viewer_model

    for child in root.winfo_children():
        child.destroy()
    if model is ...:
        model = load_viewer_model(artifacts)
    app = DigitsViewer(root, model, Path(artifacts) / "feedback", model_help, brush=brush)
    root.geometry("+0+0")
    root.deiconify()
    root.lift()
    pump(root, 0.3)
    root.focus_force()
    pump(root, 0.1)
    yield app
    app.clear()


def pump(root, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.005)


def run_pumping(root, argv: list[str], timeout: float = 60) -> str:
    """Run a command while the Tk event loop keeps running; its stdout (it must succeed)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + timeout
    while proc.poll() is None:
        root.update()
        time.sleep(0.002)
        if time.monotonic() > end:
            proc.kill()
            raise TimeoutError(f"{' '.join(argv)} took over {timeout} s")
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    pump(root, 0.1)
    return out


def xdo(root, *commands: str, timeout: float = 60) -> str:
    """One chained xdotool command while the Tk event loop keeps running; its stdout."""
    return run_pumping(root, ["xdotool", *commands], timeout)


def stroke_commands(app, strokes, widget=None) -> list[str]:
    """xdotool commands that draw `strokes` (coordinates on `widget`, the canvas by default) with the
    left button."""
    widget = widget or app.canvas
    x0, y0 = widget.winfo_rootx(), widget.winfo_rooty()
    cmds: list[str] = []
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        cmds += ["mousemove", str(x0 + x), str(y0 + y), "sleep", str(PAUSE), "mousedown", "1", "sleep", str(PAUSE)]
        for x, y in rest:
            cmds += ["mousemove", str(x0 + x), str(y0 + y), "sleep", str(PAUSE)]
        cmds += ["mouseup", "1", "sleep", str(PAUSE)]
    return cmds


def draw(app, strokes, widget=None) -> None:
    xdo(app.root, *stroke_commands(app, strokes, widget))


def key(app, *names: str) -> None:
    """Keys go to the window under the pointer (no window manager on Xvfb): point at the canvas first."""
    x, y = app.canvas.winfo_rootx() + 5, app.canvas.winfo_rooty() + 5
    xdo(app.root, "mousemove", str(x), str(y), "sleep", str(PAUSE), "key", *names)


def click(app, widget) -> None:
    x = widget.winfo_rootx() + widget.winfo_width() // 2
    y = widget.winfo_rooty() + widget.winfo_height() // 2
    xdo(app.root, "mousemove", str(x), str(y), "sleep", str(PAUSE), "click", "1")


def x_window_name(app) -> str:
    """The title as the X server has it (what a window manager or screen reader sees)."""
    ids = xdo(app.root, "search", "--pid", str(os.getpid()), "--name", "^digits").split()
    names = {xdo(app.root, "getwindowname", wid).strip() for wid in ids}
    assert len(names) == 1, names
    return names.pop()


def find_button(app, text: str):
    stack = [app.root]
    while stack:
        widget = stack.pop()
        if widget.winfo_class() == "TButton" and widget.cget("text") == text:
            return widget
        stack += widget.winfo_children()
    raise LookupError(text)


def predicted(title: str) -> int | None:
    match = TITLE.match(title)
    return int(match.group(1)) if match else None
