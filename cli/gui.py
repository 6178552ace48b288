"""`digits gui`: the drawing window (never imports Prefect)."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli import options as o
from cli.options import whole
from nnmodel.errors import DigitsError, SetupError
from nnmodel.progress import say


def register(commands) -> None:
    gui = commands.add_parser(
        "gui", help="open the drawing window",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw a digit with the mouse and see it recognised live, with the ten probabilities "
                    "and the 28x28 image the network receives. Press the right digit (0-9) to save a "
                    "drawing it got wrong into feedback/<digit>/, which retrains use.",
        epilog="keys: 0-9 save as that digit, c or Escape clear, Ctrl+O open an image,\n"
               "      [ and ] brush size, i swap colours, l look inside, n number mode")
    which = gui.add_mutually_exclusive_group()
    o.add(which, o.MODEL)
    which.add_argument("--theta", metavar="DIR", help="use the original project's Theta1.txt/Theta2.txt from DIR")
    gui.add_argument("--open", metavar="IMAGE", help="start with this image file recognised")
    o.MAX_PIXELS.add(gui)
    gui.add_argument("--brush", type=whole(4, 48), default=20, metavar="PX", help="brush width in pixels (default 20)")
    gui.add_argument("--dark-on-light", action="store_true", help="draw black on white (default white on black)")
    gui.add_argument("--number", action="store_true",
                     help="start in number mode: a wider canvas, several digits read left to right")
    gui.add_argument("--look-inside", action="store_true",
                     help="start with the look-inside panel open (pixels for/against the answer, top hidden units)")
    gui.set_defaults(handler=run, runs_flows=False)


def run(args) -> int:
    from gui.model import load_viewer_model, missing_model_help

    if args.open and not Path(args.open).is_file():
        raise SetupError(f"{args.open}: no such file")
    model, model_help = None, ""
    try:
        model = load_viewer_model(args.layout, args.model, args.theta)
    except DigitsError as exc:  # the window explains how to get a model instead of failing,
        if args.theta is not None or args.model is not None:  # unless the user named one that is bad
            raise
        say(f"warning: {exc}")
        model_help = missing_model_help(exc, args.layout.root)
    from cli.local_server import announce_feedback
    from gui.app import run as run_window

    def on_saved(path, digit):  # each saved correction is an event a scheduled retrain can count
        announce_feedback(args.layout.root, path, digit)

    return run_window(model, args.layout.feedback, model_help, open_path=args.open, brush=args.brush,
                      dark_on_light=args.dark_on_light, look_inside=args.look_inside, number=args.number,
                      on_saved=on_saved)
