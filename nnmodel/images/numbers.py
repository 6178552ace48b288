"""An image of a whole number (handwritten digits on one line) -> its digits, read left to right.

Steps: the image is read as batch prediction reads it (`preprocess.as_grey`; huge images reduced
first); `nnmodel.images.segment` separates the ink from the paper and finds the glyphs, with cuts for the
glyphs too wide to be one digit; every glyph and every cut part of every image is put in MNIST form
(`preprocess.preprocess_greys`) and classified in one batch; a cut is kept only when its parts read
better than the whole glyph ("segmentation by recognition": one digit stays one), or when the glyph
is too wide for one digit (then the cut whose parts read best). A part reads well when the model is
sure of its digit and sure it is a digit at all (nnmodel.reject): a fragment or two digits
merged read badly. Marks the reject decision finds are not digits (a speck, a stray line, a letter)
are left out of the number.

Boxes in results are in the input image's pixels, (x0, x1, y0, y1) with x1, y1 exclusive.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from nnmodel.errors import DataError
from nnmodel.images.decode import WORKING_SIZE, as_grey, has_orientation_tag, open_image, reduction
from nnmodel.images.preprocess import fit_many_in_20x20, preprocess_greys
from nnmodel.images.segment import Glyph, cut_options, glyphs
from nnmodel.reject import THRESHOLD, read_digits

ALWAYS_CUT = 1.3        # glyphs this wide (x the line's digit height) are cut when they can be
ALWAYS_CUT_ALONE = 1.7  # ... this wide when alone in the image (their own height is the line)
FRAGMENT = 0.8          # digits shorter than this (x the line's digit height) may be fragments ...
SHORT_PENALTY = 1.0     # ... and cost this x log(height / (FRAGMENT x the digit height)) in a reading
CHUNK = 256             # images per batch in read_numbers (bounds memory)


@dataclass
class DigitRead:
    """One digit: its class, confidence (its probability), box (x0, x1, y0, y1) in input pixels,
    the ten probabilities proba (10,) float32 and its MNIST form pixels (28, 28) float32."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    proba: np.ndarray
    pixels: np.ndarray


@dataclass
class NumberRead:
    """text: the digits left to right ("" when blank, leading zeros kept); confidence: the lowest
    digit confidence (0.0 when blank); marks: how many marks were left out as not digits (blank with
    marks: ink, but no digit)."""

    text: str = ""
    digits: list[DigitRead] = field(default_factory=list)
    confidence: float = 0.0
    blank: bool = True
    marks: int = 0


def read_number(image, net, reject_threshold: float = THRESHOLD) -> NumberRead:
    """A file path, bytes, PIL image or grey array of a number -> NumberRead; DataError names the file."""
    result = read_numbers([image], net, reject_threshold)[0]
    if isinstance(result, DataError):
        raise result
    return result


def read_numbers(images: list, net, reject_threshold: float = THRESHOLD) -> list[NumberRead | DataError]:
    """Read many images (list in, list out); an image that cannot be read gives its DataError in its place."""
    results: list[NumberRead | DataError] = []
    for start in range(0, len(images), CHUNK):
        results += read_chunk(images[start: start + CHUNK], net, reject_threshold)
    return results


def read_chunk(images: list, net, reject_threshold: float = THRESHOLD) -> list[NumberRead | DataError]:
    """read_numbers on a few images: all their glyphs and cut parts classified in one batch."""
    found: list[tuple[list[Glyph], tuple[float, float]] | DataError] = []
    for image in images:
        try:
            grey, scale = load_grey(image)
            found.append((glyphs(grey), scale))
        except DataError as exc:
            found.append(exc)
        except Exception as exc:  # a decoder's own failure is this file's problem, not the batch's
            found.append(DataError(f"{describe(image)}: cannot decode ({type(exc).__name__}: {exc})"))
    wholes = [g for f in found if not isinstance(f, DataError) for g in f[0]]
    cuts = cut_options(wholes)
    candidates = wholes + [part for options in cuts for cut in options for part in cut]
    forms, blank = mnist_forms(candidates)
    reading = read_digits(net, forms.reshape(-1, 784), reject_threshold) if candidates else None
    proba = reading.proba if candidates else np.zeros((0, 10), np.float32)
    is_digit = 1 - np.nan_to_num(reading.not_a_digit) if candidates else np.zeros(0, np.float32)
    rejected = reading.rejected if candidates else np.zeros(0, bool)
    confidence = np.where(blank, 0.0, proba.max(axis=1) * is_digit)
    index = {id(g): i for i, g in enumerate(candidates)}
    heights = np.array([(g.box[3] - g.box[2]) / (FRAGMENT * g.line) for g in candidates], np.float32)
    scores = (np.log(np.maximum(confidence, 1e-4)) + SHORT_PENALTY * np.log(np.minimum(heights, 1))).tolist()
    alone = {id(f[0][0]) for f in found if not isinstance(f, DataError) and len(f[0]) == 1}
    best = {id(whole): best_cut(whole, options, scores, index, id(whole) in alone)
            for whole, options in zip(wholes, cuts)}
    results: list[NumberRead | DataError] = []
    for f in found:
        if isinstance(f, DataError):
            results.append(f)
            continue
        shown, scale = f
        chosen = [index[id(g)] for whole in shown for g in best[id(whole)] if not blank[index[id(g)]]]
        digits = [digit_read(candidates[i], forms[i], proba[i], scale) for i in chosen if not rejected[i]]
        results.append(NumberRead("".join(str(d.digit) for d in digits), digits,
                                  min((d.confidence for d in digits), default=0.0), blank=not digits,
                                  marks=int(sum(rejected[i] for i in chosen))))
    return results


def best_cut(whole: Glyph, options: list[list[Glyph]], scores: list[float], index: dict,
             alone: bool = False) -> list[Glyph]:
    """The whole glyph or one of its cuts, whichever has the highest sum of its digits' scores (each
    the log of its confidence times how likely it is a digit at all, less a penalty for a digit much
    shorter than the line's: a fragment). A glyph at least ALWAYS_CUT x the line's digit height wide
    is not one digit (1 in 200 MNIST digits is 1.43 x as wide as tall, a touching pair about 1.5 x)
    when it has a cut; alone in its
    image, its own height is all the line there is, and ALWAYS_CUT_ALONE x it (1 in 1,000 MNIST
    digits is 1.67 x) applies."""
    best = [whole]
    always = (ALWAYS_CUT_ALONE if alone else ALWAYS_CUT) * whole.line
    top = -np.inf if options and whole.width >= always else scores[index[id(whole)]]
    for parts in options:
        if (value := sum(scores[index[id(p)]] for p in parts)) > top:
            best, top = parts, value
    return best


def digit_read(glyph: Glyph, pixels: np.ndarray, proba: np.ndarray, scale: tuple[float, float]) -> DigitRead:
    x0, x1, y0, y1 = glyph.box
    sx, sy = scale
    digit = int(proba.argmax())
    return DigitRead(digit, float(proba[digit]), (round(x0 * sx), round(x1 * sx), round(y0 * sy), round(y1 * sy)),
                     proba, pixels)


# ------------------------------------------------------------------ MNIST forms

def mnist_forms(found: list[Glyph]) -> tuple[np.ndarray, np.ndarray]:
    """MNIST forms (n, 28, 28) float32 of glyphs, and which are blank (n,) bool.

    Each glyph is stretched and its faint noise dropped as preprocess does, cut to its box at
    INK_THRESHOLD and scaled to fit 20x20 with Pillow's Lanczos weights, as matrix products on
    stacks of glyphs of similar size; on 24x24 dark canvases of one shape, preprocess_greys then
    centres them by mass in 28x28 on its vectorised path (resizing each glyph in Pillow, as
    preprocess does for one image, would cost more than the rest of the read)."""
    boxes = np.zeros((len(found), 20, 20), np.float32)
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, g in enumerate(found):
        buckets.setdefault((-(-g.ink.shape[0] // 16) * 16, -(-g.ink.shape[1] // 16) * 16), []).append(i)
    for (height, width), members in buckets.items():
        boxes[members] = fit_many_in_20x20([found[i].ink for i in members], height, width)
    canvases = np.zeros((len(found), 24, 24), np.float32)
    canvases[:, 2:22, 2:22] = boxes
    done = preprocess_greys(list(canvases))
    pixels = np.stack([d.pixels for d in done]) if done else np.zeros((0, 28, 28), np.float32)
    return pixels, np.array([d.blank for d in done], bool)


# ------------------------------------------------------------------ the grey image

def load_grey(image) -> tuple[np.ndarray, tuple[float, float]]:
    """Grey (h, w), uint8 or float32 in [0, 1], read as batch prediction reads it (as_grey), and the
    input pixels per working pixel (x, y), above 1 when a huge image was reduced."""
    grey = as_grey(image)
    if isinstance(image, Image.Image):
        size = image.size
    elif isinstance(image, (str, os.PathLike, bytes)):
        size = file_size(image, grey.shape)
    else:
        size = grey.shape[::-1]
        if reduction(size) > 1:  # as_grey leaves arrays as they are: reduce them as files are
            grey = np.asarray(Image.fromarray(grey if grey.dtype == np.uint8 else grey.astype(np.float32))
                              .reduce(reduction(size)))
    return grey, (size[0] / grey.shape[1], size[1] / grey.shape[0])


def file_size(source, shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of an image file as shown (after EXIF rotation), read from its header only when
    the decoded image may have been reduced (reduced images are at least WORKING_SIZE on a side)."""
    if max(shape) < WORKING_SIZE:
        return shape[1], shape[0]
    with open_image(source, describe(source)) as image:
        width, height = image.size
        if has_orientation_tag(image) and image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            width, height = height, width
    return width, height


def describe(image) -> str:
    """How an error names an image: its path, else its kind."""
    return str(image) if isinstance(image, (str, os.PathLike)) else f"<{type(image).__name__}>"
