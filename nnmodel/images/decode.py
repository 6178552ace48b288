"""Any image file, bytes, PIL image or array -> grey levels (h, w), safely.

Only regular files are opened (a pipe, socket or device never blocks a batch); decompression bombs
and images over MAX_PIXELS are refused; EXIF orientation is applied; huge images are reduced first;
alpha is flattened onto a background that contrasts with the ink; palette, CMYK, 16-bit and RGB
become grey. Small plain grey PNGs take the fast path of `plain_png`. Every refusal is a DataError
naming the file.
"""
from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnmodel.errors import DataError
from nnmodel.images.plain_png import RAW_EXIF, decode_plain_grey_png

MAX_PIXELS = 120_000_000          # more than this (e.g. 11000x11000) is refused as a decompression bomb
WORKING_SIZE = 512                # larger images are reduced to about this before any other work ...
MIN_SHORT_SIDE = 64               # ... but never their shorter side below this
SMALL_FILE = 1 << 16       # bytes: larger files are left to Pillow, which streams them
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


_pixel_limit = MAX_PIXELS


@contextlib.contextmanager
def pixel_limit(pixels: int | None):
    """For the block, in this process, images of up to `pixels` pixels are opened (None: MAX_PIXELS):
    what a user says with --max-pixels for scans they trust. Pillow's own decompression-bomb limit is
    raised with it (never lowered)."""
    global _pixel_limit
    saved, saved_pillow = _pixel_limit, Image.MAX_IMAGE_PIXELS
    _pixel_limit = MAX_PIXELS if pixels is None else int(pixels)
    if Image.MAX_IMAGE_PIXELS is not None and _pixel_limit >= 2 * Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = _pixel_limit  # Pillow refuses above twice its limit
    try:
        yield _pixel_limit
    finally:
        _pixel_limit, Image.MAX_IMAGE_PIXELS = saved, saved_pillow


def open_image(source, name: str | None = None) -> Image.Image:
    """Open an image (a path, bytes or a binary file object) lazily, refusing decompression bombs
    (over the pixel limit: MAX_PIXELS, or what `pixel_limit` allows); DataError names the file
    (`name`, by default the path or "<bytes>")."""
    name = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings: the limit is checked below; others: errors say it
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:
        size = re.search(r"\((\d+) pixels\)", str(exc))
        over = f"{int(size.group(1)):,} pixels, " if size else ""
        raise DataError(f"{name}: refused, {over}over the {_pixel_limit:,} pixel limit (a decompression bomb?); "
                        "if you trust it, allow it with --max-pixels") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image Pillow can read") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot open ({exc.strerror or exc})") from None
    except (ValueError, SyntaxError, struct.error, EOFError) as exc:  # a malformed header or chunk
        raise DataError(f"{name}: not an image Pillow can read ({exc})") from None
    check_size(name, *image.size)
    return image


def check_size(name: str, width: int, height: int) -> None:
    """DataError when an image of width x height is over the pixel limit."""
    if width * height > _pixel_limit:
        raise DataError(f"{name}: refused, {width}x{height} pixels is over the {_pixel_limit:,} pixel limit (a "
                        "decompression bomb?); if you trust it, allow it with --max-pixels")


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


def reduction(size: tuple[int, int]) -> int:
    """The whole factor an image of `size` (w, h) is reduced by: its longer side to about WORKING_SIZE
    when over twice that, but never its shorter side below MIN_SHORT_SIDE (a long strip of digits, say
    20000x40, keeps them readable); 1 for no reduction."""
    if max(size) <= 2 * WORKING_SIZE:
        return 1
    return max(1, min(max(size) // WORKING_SIZE, min(size) // MIN_SHORT_SIDE))


def reduce_huge(image: Image.Image) -> Image.Image:
    """An image reduced by `reduction`'s factor (box filter: thin strokes stay visible); unchanged when
    that is 1. Modes Pillow cannot reduce (palette, 1-bit, 16-bit) are converted first."""
    factor = reduction(image.size)
    if factor == 1:
        return image
    if image.mode in ("P", "1"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    return image.reduce(factor)


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
            if grey is None:
                return to_grey(load_image(data, str(path)))
            check_size(str(path), grey.shape[1], grey.shape[0])
            return grey
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as fh:  # the file already checked as regular, not the path again
            return to_grey(load_image(fh, str(path)))
    finally:
        os.close(fd)
