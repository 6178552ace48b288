"""Write MNIST test digits as PNG files (digit-<index>.png), for the prediction benchmark and tests.

Run: .venv/bin/python -m bench.make_png_folder OUT_DIR [--count 10000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from nnmodel.data.readers import read_bundled


def write_pngs(folder: Path, count: int = 10000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    raw = read_bundled()
    paths = []
    for i in range(count):
        path = folder / f"digit-{i:05d}.png"
        if not path.exists():
            Image.fromarray(raw.test_images[i]).save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    write_pngs(Path(args.out), args.count)
