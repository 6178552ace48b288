"""`digits explain IMAGE`: one picture of why the model read an image as it did."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli import options as o
from nnmodel.errors import DataError, SetupError
from nnmodel.progress import say


def register(commands) -> None:
    explain = commands.add_parser(
        "explain", help="one picture of why the model read an image as it did",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The image as the model sees it (28x28), the ten probabilities, the pixels that pushed "
                    "towards the answer (red) and away from it (blue), and the units that contributed most, "
                    "each with the weights it looks for (as far as the model's family has such parts; the "
                    "picture says when it has not). The pixel map is gradient x input: exact and instant "
                    "(occlusion would need hundreds of passes); it shows where and which way, not exact "
                    "shares of the score.",
        epilog="example:\n  digits explain scans/0042.png --out why.png")
    explain.add_argument("image", metavar="IMAGE", help="an image file of one digit (any format the predictor reads)")
    o.add(explain, o.MODEL, o.MAX_PIXELS)
    explain.add_argument("--out", metavar="PNG",
                         help="the picture (default: artifacts/explanations/<image name>.explained.png)")
    explain.add_argument("--top", type=o.whole(1, 20), default=6, metavar="N", help="units shown (default 6)")
    explain.set_defaults(handler=run, runs_flows=False)


def run(args) -> int:
    from nnmodel import atomic
    from nnmodel.explain import explain
    from nnmodel.images.preprocess import preprocess_image
    from nnmodel.model.modelfile import load_model
    from nnmodel.reports.explanation import explanation_picture
    from nnmodel.store.registry import Registry

    image = Path(args.image)
    out = Path(args.out) if args.out else args.layout.explanations / f"{image.stem}.explained.png"
    if out.is_dir():
        raise SetupError(f"--out {out}: is a folder; give the picture's file name (e.g. {out / 'why.png'})")
    if out.exists() and image.exists() and out.resolve() == image.resolve():
        raise SetupError(f"--out {out}: is the image itself; write the picture somewhere else")
    model, _ = load_model(Registry(args.layout).resolve(args.model))
    pre = preprocess_image(image)
    if pre.blank:
        raise DataError(f"{image}: blank image (no ink found), nothing to explain")
    why = explain(model, pre.pixels, top=args.top)
    with atomic.atomic_path(out) as tmp:
        explanation_picture(why).save(tmp, format="PNG")
    units = ", ".join(f"#{unit} {value:+.2f}" for unit, value in why.top_units)
    strongest = f"; strongest {why.units.name}s {units}" if why.top_units else "; this model has no units to show"
    if why.rejected:
        say(f"{image}: not a digit ({why.not_a_digit:.1%} likely); most like {why.digit} "
            f"({why.proba[why.digit]:.1%}){strongest}")
    else:
        say(f"{image}: read as {why.digit} ({why.proba[why.digit]:.1%}){strongest}")
    print(out)
    return 0
