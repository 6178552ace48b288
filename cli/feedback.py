"""`digits feedback add DIGIT IMAGE...`: corrections found in batch results, saved as feedback;
`digits feedback [list]`: how many labelled images wait for the next retrain, per digit."""
from __future__ import annotations

from cli import options as o
from nnmodel.errors import SetupError
from nnmodel.progress import say


def register(commands) -> None:
    feedback = commands.add_parser(
        "feedback", help="add labelled images (corrections) to the feedback that retrains use",
        description="Labelled images under artifacts/feedback/<digit>/ are added to the training data of the "
                    "next retrain. The viewer saves drawings there; `add` saves image files (e.g. misread "
                    "rows of a `digits predict` CSV). With a Prefect server up, each saved image is also an "
                    "event that `digits schedule --on-feedback N` counts.")
    actions = feedback.add_subparsers(dest="feedback_command", metavar="ACTION")
    actions.add_parser("list", help="how many labelled images there are per digit (the default action)")
    add = actions.add_parser("add", help="save images as examples of a digit")
    add.add_argument("digit", type=o.whole(0, 9), help="the right digit, 0-9")
    add.add_argument("images", nargs="+", metavar="IMAGE", help="image files showing that digit")
    o.MAX_PIXELS.add(add)
    feedback.set_defaults(handler=run, runs_flows=False)


def run(args) -> int:
    if args.feedback_command in (None, "list"):
        return list_feedback(args.layout.feedback)
    return add(args)


def list_feedback(folder) -> int:
    """One line per digit with labelled images under `folder`, and the total."""
    from collections import Counter

    from nnmodel.store.feedback import labelled_files

    counts = Counter(digit for _, digit in labelled_files(folder)) if folder.is_dir() else Counter()
    if not counts:
        say(f"no feedback in {folder}: press a digit key in `digits gui`, or `digits feedback add DIGIT IMAGE...`")
        return 0
    for digit in sorted(counts):
        print(f"{digit:<4}{counts[digit]:>7,}  {folder / str(digit)}")
    print(f"{'all':<4}{sum(counts.values()):>7,}  (added to the training data of the next `digits train`)")
    return 0


def add(args) -> int:
    from pathlib import Path

    from cli.local_server import emit, feedback_event
    from nnmodel.store.feedback import add_images

    missing = [i for i in args.images if not Path(i).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SetupError(f"{missing[0]}: no such file{more}")
    saved, problems = add_images(args.layout.feedback, args.images, args.digit)
    for problem in problems:
        say(f"not saved: {problem}")
    say(f"saved {len(saved)} new image(s) as {args.digit} into {args.layout.feedback / str(args.digit)}")
    if saved and emit([feedback_event(args.layout.root, path, args.digit) for path in saved]):
        say(f"told the Prefect server: {len(saved)} feedback event(s)")
    for path in saved:
        print(path)
    return 0 if saved or all("already saved" in p for p in problems) else 1
