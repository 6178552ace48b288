"""Any image -> the 28x28 MNIST form the network was trained on (shared by batch prediction and GUI).

MNIST form: grey, digit light on a dark background, values in [0, 1]; the digit's bounding box scaled
(keeping its aspect ratio, anti-aliased) to fit a 20x20 box, then placed in 28x28 so that its centre
of mass sits at the centre. Steps, in order: EXIF orientation; huge images reduced first; alpha
flattened onto a background that contrasts with the ink; palette/CMYK/16-bit/RGB to grey; inverted
when the digit is dark on light (decided from the border); contrast stretched; blank images flagged.

Reading files: small plain 8-bit grey PNGs (MNIST exports, scans: the commonest digit file) take a
fast path that walks the PNG chunks with `struct` and hands the pixel data to Pillow's own decoder,
skipping Pillow's per-file Python plumbing (same pixels, half the time: bench/predict_stages.py);
anything unusual takes Pillow's full path, which also gives the proper error message.
"""
from __future__ import annotations

import errno
import functools
import io
import os
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnmodel.errors import DataError

MAX_PIXELS = 120_000_000          # more than this (e.g. 11000x11000) is refused as a decompression bomb
WORKING_SIZE = 512                # larger images are reduced to about this before any other work
INK_THRESHOLD = 0.25              # a pixel is ink when its stretched value is above this
MIN_CONTRAST = 24 / 255           # ink must stand this far above the background, else "blank"
BATCH_PIXELS = 500_000           # decoded pixels preprocessed together (2 MB as float32: stays in cache)
MIN_INK_PIXELS = 4                # fewer ink pixels than this (at working size) is "blank"
LANCZOS_SUPPORT = 3.0             # Pillow's Lanczos filter (fit_in_20x20 resizes with it)
GROUP_FROM = 16                   # from this many same-shape images, copy boxes by groups (else one by one)

# The fast path for the commonest digit file, a small plain 8-bit grey PNG (see decode_plain_grey_png)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_FILE = 1 << 16       # bytes: larger files are left to Pillow, which streams them
HARMLESS_CHUNKS = {b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"tEXt", b"zTXt", b"iTXt"}
TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
RAW_EXIF = "Raw profile type exif"  # a text chunk's keyword for EXIF (ImageMagick), may rotate the image
RAW_EXIF_KEYWORD = RAW_EXIF.encode() + b"\x00"


@dataclass
class Preprocessed:
    """pixels: float32 (28, 28) in [0, 1], digit light on dark (zeros when blank); aspect: the ink's
    width over its height before scaling (several digits side by side make it wide)."""

    pixels: np.ndarray
    blank: bool
    aspect: float = 1.0


NOT_REGULAR = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder"}


def open_regular(path: str | os.PathLike) -> int:
    """A file descriptor open for reading on a regular file; DataError (naming the file) for anything
    else: a pipe, socket or device is never read (the open does not block), a broken or looping link,
    a missing or unreadable file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"{path}: a symbolic link that loops") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise DataError(f"{path}: a broken symbolic link (its target is missing)") from None
        try:
            kind = stat.S_IFMT(os.stat(path).st_mode)  # a socket cannot even be opened
        except OSError:
            kind = stat.S_IFREG
        if kind != stat.S_IFREG:
            raise DataError(f"{path}: not a regular file ({NOT_REGULAR.get(kind, 'a special file')})") from None
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFREG:
        os.close(fd)
        raise DataError(f"{path}: not a regular file ({NOT_REGULAR.get(kind, 'a special file')})")
    return fd


def read_small_file(fd: int) -> bytes | None:
    """The whole file behind `fd` when it is under SMALL_FILE bytes, else None (one read)."""
    data = os.read(fd, SMALL_FILE)
    return data if len(data) < SMALL_FILE else None


def decode_plain_grey_png(data: bytes, max_side: int) -> np.ndarray | None:
    """uint8 (height, width) pixels of a plain 8-bit grey, non-interlaced PNG at most `max_side`
    pixels wide and high; None for anything else."""
    if data[:8] != SIGNATURE or data[8:16] != b"\x00\x00\x00\x0dIHDR" or len(data) < 45:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if (depth, colour, compression, filtering, interlace) != (8, 0, 0, 0, 0) or not 0 < width <= max_side \
            or not 0 < height <= max_side or zlib.crc32(data[12:29]) != struct.unpack_from(">I", data, 29)[0]:
        return None
    pos, idat, idat_over = 33, [], False
    while True:
        if pos + 12 > len(data):
            return None  # truncated
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data) or zlib.crc32(data[pos + 4: end]) != struct.unpack_from(">I", data, end)[0]:
            return None  # truncated or corrupt: let Pillow say so
        if kind == b"IDAT":
            if idat_over:
                return None  # pixel data must be one run of IDAT chunks
            idat.append(data[pos + 8: end])
        elif kind == b"IEND":
            break
        elif kind in HARMLESS_CHUNKS:
            if kind in TEXT_CHUNKS and data[pos + 8: end].startswith(RAW_EXIF_KEYWORD):
                return None  # EXIF, which may rotate the image
            idat_over = bool(idat)
        else:
            return None  # PLTE, tRNS, eXIf, unknown chunks: Pillow's full path
        pos = end + 4
    try:
        image = Image.frombytes("L", (width, height), b"".join(idat), "zip", "L")
    except (ValueError, OSError, zlib.error):
        return None
    return np.frombuffer(image.tobytes(), np.uint8).reshape(height, width)


def open_image(source, name: str | None = None) -> Image.Image:
    """Open an image (a path, bytes or a binary file object) lazily, refusing decompression bombs;
    DataError names the file (`name`, by default the path or "<bytes>")."""
    name = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name}: refused, image too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image Pillow can read") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot open ({exc.strerror or exc})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise DataError(f"{name}: refused, {width}x{height} pixels is over the {MAX_PIXELS:,} limit")
    return image


def load_image(source, name: str | None = None) -> Image.Image:
    """Open, reduce (for huge images) and decode an image (a path, bytes or a binary file object);
    DataError for truncated or bad files."""
    name = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    image = open_image(source, name)
    try:
        if image.format == "JPEG":
            image.draft(image.mode if image.mode in ("L", "RGB") else None, (WORKING_SIZE, WORKING_SIZE))
        image.load()
        if has_orientation_tag(image):
            image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: truncated or corrupt image ({exc})") from None
    return reduce_huge(image)


def reduce_huge(image: Image.Image) -> Image.Image:
    """An image over 2 x WORKING_SIZE on its longer side reduced by a whole factor to about
    WORKING_SIZE (box filter: thin strokes stay visible); smaller images unchanged. Modes Pillow
    cannot reduce (palette, 1-bit, 16-bit) are converted first."""
    if max(image.size) <= 2 * WORKING_SIZE:
        return image
    if image.mode in ("P", "1"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    return image.reduce(max(image.size) // WORKING_SIZE)


def has_orientation_tag(image: Image.Image) -> bool:
    """True when EXIF (JPEG, PNG eXIf or ImageMagick's raw profile text, WebP) or TIFF tags may rotate
    the image (cheap check first)."""
    if "exif" not in image.info and RAW_EXIF not in image.info and 274 not in getattr(image, "tag_v2", {}):
        return False
    return image.getexif().get(0x0112, 1) != 1


def to_grey(image: Image.Image) -> np.ndarray:
    """Grey levels (h, w) of any mode: uint8 0-255 for plain grey images (converted later, in bulk),
    else float32 in [0, 1]; alpha is flattened onto a background that contrasts with the ink."""
    if image.mode == "L":
        return np.asarray(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        return np.clip(values / top, 0, 1)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255
        image = image.convert("RGB" if image.mode in ("RGBA", "RGBa") else "L")
    if image.mode != "L":
        image = image.convert("RGB").convert("L")  # CMYK, YCbCr, 1, RGB ...
    grey = np.asarray(image, dtype=np.float32) / 255
    if alpha is not None and alpha.min() < 1:
        opaque = alpha > 0.5
        ink_is_dark = opaque.any() and float(np.median(grey[opaque])) < 0.5
        background = 1.0 if ink_is_dark else 0.0
        grey = grey * alpha + background * (1 - alpha)
    return grey


def as_grey(image: Image.Image | np.ndarray | str | os.PathLike | bytes) -> np.ndarray:
    """Grey (h, w), uint8 or float32 in [0, 1], from a file path, bytes, PIL image or array
    (uint8 0-255, or float 0-1; a float array above 1 is taken as 0-255)."""
    if isinstance(image, (str, os.PathLike)):
        return file_grey(image)
    if isinstance(image, bytes):
        image = load_image(image)
    if isinstance(image, Image.Image):
        return to_grey(reduce_huge(image))
    grey = np.asarray(image)
    if grey.ndim == 3:  # an RGB(A) array: let Pillow do the colour and alpha handling
        return to_grey(Image.fromarray(grey.astype(np.uint8)))
    if grey.dtype == np.uint8:
        return grey
    grey = grey.astype(np.float32)
    return grey / 255 if grey.max() > 1 else grey


def file_grey(path: str | os.PathLike) -> np.ndarray:
    """Grey (h, w) of an image file, as as_grey: small plain grey PNGs take the fast path (same
    pixels, half the time: BENCHMARKS.md), everything else Pillow's full path; DataError names the file."""
    fd = open_regular(path)
    try:
        try:
            data = read_small_file(fd)
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if data is not None:
            grey = decode_plain_grey_png(data, max_side=2 * WORKING_SIZE)  # larger ones load_image reduces
            return grey if grey is not None else to_grey(load_image(data, str(path)))
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as fh:  # the file already checked as regular, not the path again
            return to_grey(load_image(fh, str(path)))
    finally:
        os.close(fd)


def preprocess_greys(greys: list[np.ndarray]) -> list[Preprocessed]:
    """Grey images (h, w), uint8 0-255 or float in [0, 1], of any polarity -> MNIST form, in order.

    Images of the same shape are processed together as one (n, h, w) array, so a folder of
    same-sized scans costs a few NumPy calls per batch rather than per image.
    """
    results: list[Preprocessed | None] = [None] * len(greys)
    groups: dict[tuple, list[int]] = {}
    for i, grey in enumerate(greys):
        groups.setdefault((grey.shape, grey.dtype == np.uint8), []).append(i)
    for (_, is_uint8), indices in groups.items():
        stack = np.stack([greys[i] for i in indices])
        stack = stack * np.float32(1 / 255) if is_uint8 else stack.astype(np.float32, copy=False)
        for i, result in zip(indices, _preprocess_stack(stack)):
            results[i] = result
    return results


def _preprocess_stack(g: np.ndarray) -> list[Preprocessed]:
    """Same-shape grey images (n, h, w) -> MNIST form (see the module docstring for the steps)."""
    n, h, w = g.shape
    border = np.concatenate([g[:, 0], g[:, -1], g[:, :, 0], g[:, :, -1]], axis=1)
    background = np.median(border, axis=1)
    invert = background > 0.5  # a light background: the digit is dark on light
    g = np.where(invert[:, None, None], 1 - g, g)
    background = np.where(invert, 1 - background, background)
    flat = g.reshape(n, -1)
    top = np.percentile(flat, 99.9, axis=1) if h * w > 1000 else flat.max(axis=1)
    contrast = top - background
    blank = contrast < MIN_CONTRAST
    stretched = np.clip((g - background[:, None, None]) / np.maximum(contrast, 1e-6)[:, None, None], 0, 1)
    ink = stretched > INK_THRESHOLD
    blank |= ink.sum(axis=(1, 2)) < MIN_INK_PIXELS
    stretched[stretched <= INK_THRESHOLD / 2] = 0  # faint background noise around the digit
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    r0, r1 = rows.argmax(axis=1), h - rows[:, ::-1].argmax(axis=1)
    c0, c1 = cols.argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
    crops = np.stack([r1 - r0, c1 - c0], axis=1)  # (n, 2) height, width of each digit's box
    sizes = np.maximum(1, np.round(crops * (20.0 / crops.max(axis=1, keepdims=True)))).astype(np.intp)
    sizes[blank] = 1
    boxes = digit_boxes(stretched, r0, c0, crops, sizes, blank)
    out = place_in_28x28(boxes, *mass_centred_offsets(boxes, sizes))
    aspect = (crops[:, 1] / np.maximum(crops[:, 0], 1)).tolist()
    return [Preprocessed(out[i], bool(blank[i]), aspect[i]) for i in range(n)]


def digit_boxes(images: np.ndarray, tops: np.ndarray, lefts: np.ndarray, crops: np.ndarray, sizes: np.ndarray,
                blank: np.ndarray) -> np.ndarray:
    """(n, 20, 20): each digit's box (crops[i] = height, width, from row tops[i], column lefts[i] of
    images (n, h, w)) scaled to sizes[i] and put in the top-left corner; zeros for blank images.
    Boxes already 20 on their longer side are copied as they are, by groups sharing an offset."""
    n = len(images)
    boxes, to_resize = np.zeros((n, 20, 20), np.float32), ~blank
    if n >= GROUP_FROM:
        as_is = ~blank & (sizes == crops).all(axis=1)
        for (top, left), members in group_by(np.stack([tops, lefts], axis=1)[as_is], np.flatnonzero(as_is)):
            window = images[members, top: top + 20, left: left + 20]
            boxes[members, : window.shape[1], : window.shape[2]] = window
        boxes *= (np.arange(20) < crops[:, :1])[:, :, None] & (np.arange(20) < crops[:, 1:])[:, None, :]
        to_resize &= ~as_is
    for i in np.flatnonzero(to_resize):
        box = fit_in_20x20(images[i, tops[i]: tops[i] + crops[i, 0], lefts[i]: lefts[i] + crops[i, 1]])
        boxes[i, : box.shape[0], : box.shape[1]] = box
    return boxes


def place_in_28x28(boxes: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
    """(n, 28, 28) with boxes (n, 20, 20) placed at (tops[i], lefts[i]); a box's zero padding may
    fall outside the canvas and is dropped."""
    out = np.zeros((len(boxes), 28, 28), np.float32)
    if len(boxes) >= GROUP_FROM:
        for (top, left), members in group_by(np.stack([tops, lefts], axis=1), np.arange(len(boxes))):
            out[members, top: top + 20, left: left + 20] = boxes[members, : 28 - top, : 28 - left]
    else:
        for i, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
            out[i, top: top + 20, left: left + 20] = boxes[i, : 28 - top, : 28 - left]
    return out


def group_by(keys: np.ndarray, members: np.ndarray):
    """(key, members having it) for each distinct pair in keys (m, 2) of non-negative integers;
    members: (m,) indices. Lets images that share an offset be copied with one slice."""
    if not len(members):
        return
    codes = keys[:, 0] * (int(keys[:, 1].max()) + 1) + keys[:, 1]
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])).tolist()
    for lo, hi in zip(starts, [*starts[1:], len(order)]):
        yield tuple(keys[order[lo]].tolist()), members[order[lo:hi]]


def fit_in_20x20(crop: np.ndarray) -> np.ndarray:
    """Scale a cropped digit (h, w) so its longer side is 20 pixels, keeping the aspect ratio."""
    height, width = crop.shape
    scale = 20.0 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return crop
    resized = Image.fromarray(crop, mode="F").resize(size, Image.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized), 0, 1)


def fit_many_in_20x20(inks: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """(n, 20, 20) float32: each ink (h <= height, w <= width) stretched to [0, 1] with values up to
    INK_THRESHOLD / 2 dropped, cut to its box at INK_THRESHOLD and Lanczos-scaled so that its longer
    side is 20 pixels, in the top-left corner: what `preprocess_greys` and `fit_in_20x20` do to one
    image, for a stack at once, as matrix products with Pillow's own Lanczos weights (the digits of a
    number are many small crops; resizing each in Pillow would cost more than reading them)."""
    stack = np.zeros((len(inks), height, width), np.float32)
    for i, ink in enumerate(inks):
        stack[i, : ink.shape[0], : ink.shape[1]] = ink
    stack /= np.maximum(stack.max(axis=(1, 2), keepdims=True), 1e-6)
    stack[stack <= INK_THRESHOLD / 2] = 0
    ink = stack > INK_THRESHOLD
    (top, bottom), (left, right) = first_last(ink.any(axis=2)), first_last(ink.any(axis=1))
    heights, widths = bottom - top, right - left
    longer = np.maximum(np.maximum(heights, widths), 1)
    rows = resampling_matrices(top, heights, np.round(heights * 20 / longer).astype(int), height)
    cols = resampling_matrices(left, widths, np.round(widths * 20 / longer).astype(int), width)
    return np.clip(rows @ stack @ cols.transpose(0, 2, 1), 0, 1)


def first_last(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True of each row of rows (n, m) and one past the last (0, 0 when none)."""
    first = rows.argmax(axis=1)
    return first, np.where(rows.any(axis=1), rows.shape[1] - rows[:, ::-1].argmax(axis=1), first)


def resampling_matrices(starts: np.ndarray, sizes: np.ndarray, targets: np.ndarray, padded: int) -> np.ndarray:
    """(n, 20, padded) float32: matrix k makes targets[k] output pixels from input pixels starts[k]
    to starts[k] + sizes[k] (rows past targets[k] are zero)."""
    out = np.zeros((len(sizes), 20, padded), np.float32)
    for k, (start, size, target) in enumerate(zip(starts.tolist(), sizes.tolist(), targets.tolist())):
        if size:  # a blank glyph keeps a zero matrix
            out[k, : max(target, 1), start: start + size] = lanczos_matrix(size, max(target, 1))
    return out


@functools.lru_cache(maxsize=4096)
def lanczos_matrix(size: int, target: int) -> np.ndarray:
    """(target, size) weights resampling `size` pixels to `target` exactly as Pillow's Image.resize
    with the Lanczos filter does (support widened when reducing, normalised over pixels inside)."""
    scale = size / target
    widen = max(scale, 1.0)
    support = LANCZOS_SUPPORT * widen
    centre = (np.arange(target)[:, None] + 0.5) * scale
    pixel = np.arange(size)[None, :]
    inside = (pixel >= np.floor(centre - support + 0.5)) & (pixel < np.floor(centre + support + 0.5))
    x = (pixel - centre + 0.5) / widen
    weights = np.where(inside & (np.abs(x) < LANCZOS_SUPPORT), np.sinc(x) * np.sinc(x / LANCZOS_SUPPORT), 0.0)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def mass_centred_offsets(boxes: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-left offsets that put each box's centre of mass at pixel (14, 14) of a 28x28 canvas, as
    MNIST does, clipped so the box (sizes (n, 2) = height, width) stays inside. boxes: (n, 20, 20)."""
    total = np.maximum(boxes.sum(axis=(1, 2)), 1e-12)
    cy = boxes.sum(axis=2) @ np.arange(20) / total
    cx = boxes.sum(axis=1) @ np.arange(20) / total
    tops = np.clip(np.round(14 - cy), 0, 28 - sizes[:, 0]).astype(np.intp)
    lefts = np.clip(np.round(14 - cx), 0, 28 - sizes[:, 1]).astype(np.intp)
    return tops, lefts


def preprocess_image(image: Image.Image | np.ndarray | str | os.PathLike | bytes) -> Preprocessed:
    """The one entry point: a file path, bytes, PIL image or grey array -> MNIST form (28x28)."""
    return preprocess_greys([as_grey(image)])[0]


def preprocess_files(paths: list[str], max_batch_pixels: int = BATCH_PIXELS) -> list[Preprocessed | DataError]:
    """Many files at once (same result as preprocess_image on each); a bad file gives its DataError.

    Decoded images are preprocessed in batches of at most `max_batch_pixels` grey pixels, so memory
    stays bounded however many (or however large) the files are."""
    results: list[Preprocessed | DataError] = []
    greys: list[np.ndarray] = []
    pending = 0

    def flush():
        nonlocal pending
        done = preprocess_greys([g for g in greys if g is not None])
        it = iter(done)
        results.extend(next(it) if g is not None else None for g in greys)
        greys.clear()
        pending = 0

    errors: dict[int, DataError] = {}
    for i, path in enumerate(paths):
        try:
            grey = as_grey(path)
        except DataError as exc:
            errors[i], grey = exc, None
        except Exception as exc:  # a decoder's own failure is this file's problem, not the batch's
            errors[i], grey = DataError(f"{path}: cannot decode ({type(exc).__name__}: {exc})"), None
        greys.append(grey)
        pending += 0 if grey is None else grey.size
        if pending >= max_batch_pixels:
            flush()
    flush()
    return [errors.get(i, result) for i, result in enumerate(results)]
