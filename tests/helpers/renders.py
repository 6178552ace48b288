"""MNIST test digits re-rendered the ways real files arrive, written as real image files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def dark_on_light(d):
    return Image.fromarray(255 - d)


def scaled_up(d):
    return Image.fromarray(d).resize((112, 112), Image.BILINEAR)


def off_centre(d, rng):
    canvas = Image.new("L", (160, 120), 0)
    digit = Image.fromarray(d).resize((56, 56), Image.BILINEAR)
    canvas.paste(digit, (int(rng.integers(0, 104)), int(rng.integers(0, 64))))
    return canvas


def jpeg(d):
    buffer = io.BytesIO()
    Image.fromarray(255 - d).resize((56, 56), Image.BILINEAR).convert("RGB").save(buffer, "JPEG", quality=85)
    return Image.open(io.BytesIO(buffer.getvalue()))


def rgb(d):
    ink = np.array([20, 40, 160], np.float32)  # blue ink on cream paper
    paper = np.array([250, 245, 230], np.float32)
    share = (d.astype(np.float32) / 255)[..., None]
    return Image.fromarray((paper * (1 - share) + ink * share).astype(np.uint8), "RGB")


def transparent(d):
    """Black ink whose alpha is the stroke, on a fully transparent (0, 0, 0, 0) background."""
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = d
    return Image.fromarray(rgba, "RGBA")


VARIANTS = {"dark_on_light": (dark_on_light, "png"), "scaled_up": (scaled_up, "png"),
            "off_centre": (off_centre, "png"), "jpeg": (jpeg, "jpg"), "rgb": (rgb, "png"),
            "transparent": (transparent, "png")}


def write_variant(folder: Path, name: str, digits: np.ndarray, seed: int = 0) -> list[str]:
    """Write each digit (uint8 (n, 28, 28)) rendered as `name`; returns the file names in order."""
    render, ext = VARIANTS[name]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, d in enumerate(digits):
        image = render(d, rng) if name == "off_centre" else render(d)
        file = f"{i:05d}.{ext}"
        if ext == "jpg":
            image.save(folder / file, "JPEG", quality=85)
        else:
            image.save(folder / file)
        names.append(file)
    return names
