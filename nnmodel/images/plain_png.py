"""The fast path for the commonest digit file, a small plain 8-bit grey PNG (MNIST exports, scans).

It walks the PNG chunks with `struct`, checks their CRCs and hands the pixel data to Pillow's own
decoder, skipping Pillow's per-file Python plumbing (same pixels, half the time: bench/predict_stages.py).
Anything unusual (colour, palette, transparency, 16-bit, interlacing, EXIF, a bad CRC, truncation)
gives None, and the file takes Pillow's full path, which also gives the proper error message.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

# The fast path for the commonest digit file, a small plain 8-bit grey PNG (see decode_plain_grey_png)
SIGNATURE = b"\x89PNG\r\n\x1a\n"


HARMLESS_CHUNKS = {b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"tEXt", b"zTXt", b"iTXt"}
TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
RAW_EXIF = "Raw profile type exif"  # a text chunk's keyword for EXIF (ImageMagick), may rotate the image
RAW_EXIF_KEYWORD = RAW_EXIF.encode() + b"\x00"


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
