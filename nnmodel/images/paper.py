"""The paper and the ink of a photo or a scan: what `--numbers` reads a number from, and what
preprocessing cleans a large single-digit image with (one shared path).

The paper is estimated on a reduced copy (a closing fills in the strokes, so uneven light, shadows,
grey paper and blotches drop out) and subtracted; ink is what stands a share of the way from the
paper to full ink (a contrast-relative threshold, as preprocessing uses), and always well above the
paper's noise.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

MIN_CONTRAST = 24 / 255  # ink must stand this far above the background, else "blank"
PAPER_CELLS = 16        # the paper is estimated on a copy about this many cells high
PAPER_WINDOW = 5        # cells: strokes thinner than this are filled in to estimate the paper
NOISE_SIGMAS = 4        # ink stands at least this many noise deviations above the paper
INK_SHARE = 0.25        # confident ink: this share of the way from the paper to full ink (as preprocess)
MIN_INK = 8             # fewer ink pixels than this: a blank image
PAPER_CODE = 24         # the paper's code in the uint8 departures (darker than paper: below it)


def ink_strength(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Ink of grey (h, w) uint8 (either polarity): the departure from the paper as uint8 (h, w), ink
    positive and the paper at PAPER_CODE; the confident ink bool (h, w); and the code above which
    ink is faint ink (stroke edges, kept within a glyph's box). None when blank. Pillow's C code
    does the pixel work on uint8 images: at this scale, passes over the pixels are what costs."""
    return ink_of(paper_departure(grey))


def ink_of(residual: Image.Image) -> tuple[np.ndarray, np.ndarray, int] | None:
    """ink_strength from a paper_departure already worked out."""
    codes = ink_codes(np.array(residual.histogram()))
    if codes is None:
        return None
    departure = np.asarray(residual)
    return departure, departure > codes[0], codes[1]


def paper_departure(grey: np.ndarray) -> Image.Image:
    """How far each pixel of grey (h, w) uint8 stands from the paper, towards the ink: an "L" image,
    the paper at PAPER_CODE (below it: lighter than the paper, for dark ink)."""
    image = Image.fromarray(grey)
    paper, dark_ink = paper_level(image)
    return ImageChops.subtract(paper, image, offset=PAPER_CODE) if dark_ink else \
        ImageChops.subtract(image, paper, offset=PAPER_CODE)


def paper_level(image: Image.Image) -> tuple[Image.Image, bool]:
    """The paper of a grey "L" image with the ink removed (same size), and whether the ink is dark.
    Worked out on a copy reduced by block means to about PAPER_CELLS cells high: the ink is the side
    departing most from the median (the paper is the majority whatever its level, so grey or
    unevenly lit paper does not fool it, as a rule on the border would be); a closing (an opening
    for light ink) fills in the strokes; the result is scaled back up bilinearly."""
    factor = max(1, min(image.size) // PAPER_CELLS)
    small = np.asarray(image.reduce(factor) if factor > 1 else image)
    middle = np.partition(small.ravel(), small.size // 2)[small.size // 2]
    dark_ink = int(middle) - int(small.min()) > int(small.max()) - int(middle)
    first, then = (np.maximum, np.minimum) if dark_ink else (np.minimum, np.maximum)
    paper = Image.fromarray(extreme_filter(extreme_filter(small, first), then))
    return (paper.resize(image.size, Image.BILINEAR) if factor > 1 else paper), dark_ink


def extreme_filter(values: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """The max (pick=np.maximum) or min over the PAPER_WINDOW x PAPER_WINDOW square around each
    value of a small array (h, w), edges repeated: a few whole-array steps (scipy's filters cost
    several times more on arrays this small)."""
    reach, (h, w) = PAPER_WINDOW // 2, values.shape
    wide = np.concatenate([values[:, :1]] * reach + [values] + [values[:, -1:]] * reach, axis=1)
    across = wide[:, :w].copy()
    for shift in range(1, PAPER_WINDOW):
        pick(across, wide[:, shift: shift + w], out=across)
    tall = np.concatenate([across[:1]] * reach + [across] + [across[-1:]] * reach, axis=0)
    out = tall[:h].copy()
    for shift in range(1, PAPER_WINDOW):
        pick(out, tall[shift: shift + h], out=out)
    return out


def ink_codes(counts: np.ndarray) -> tuple[int, int] | None:
    """(confident, faint) ink codes from the histogram (256,) of departures from the paper (ink
    positive, the paper at PAPER_CODE). The paper is the median, its noise the spread below it; ink
    is what stands NOISE_SIGMAS noise deviations above it, full ink the 90th percentile of that.
    Confident ink stands INK_SHARE of the way to full ink (as preprocess thresholds a digit), faint
    ink half as far, both above the noise. None when no ink stands out (a blank image)."""
    cumulative = np.cumsum(counts)
    median, low = np.searchsorted(cumulative, [0.5 * cumulative[-1], 0.159 * cumulative[-1]])
    floor = int(median + NOISE_SIGMAS * max(median - low, 1))
    ink = cumulative[-1] - cumulative[min(floor, 255)]
    if ink < MIN_INK:
        return None
    top = int(np.searchsorted(cumulative, cumulative[-1] - 0.1 * ink)) - median
    if top < max(MIN_CONTRAST * 255, 2 * (floor - median)):  # faint blotches and noise are no ink
        return None
    return int(max(median + INK_SHARE * top, floor)), int(max(median + INK_SHARE / 2 * top, floor))
