"""Write MNIST test digits as PNG files (digit-<index>.png), for the prediction benchmark and tests.

Run: .venv/bin/python -m bench.make_png_folder OUT_DIR [--count 10000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from nnmodel.data.readers import read_bundled


def write_pngs(folder: Path, count: int = 10000) -> list[Path]:
    """`count` PNG files: the MNIST test digits, then the training digits, then round again."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = read_bundled()
    digits = raw.test_images if count <= len(raw.test_images) else np.concatenate([raw.test_images,
                                                                                    raw.train_images])
    paths = []
    for i in range(count):
        path = folder / f"digit-{i:06d}.png"
        if not path.exists():
            Image.fromarray(digits[i % len(digits)]).save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    write_pngs(Path(args.out), args.count)
