"""The plain grey PNG fast path gives Pillow's pixels exactly, and steps aside for anything else."""
from __future__ import annotations

import itertools
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nnmodel.errors import DataError
from nnmodel.images.decode import (
    SMALL_FILE,
    WORKING_SIZE,
    file_grey,
    load_image,
    open_regular,
    read_small_file,
    to_grey,
)
from nnmodel.images.plain_png import decode_plain_grey_png
from nnmodel.images.preprocess import preprocess_files

MAX_SIDE = 2 * WORKING_SIZE  # what file_grey passes: larger images are reduced by load_image


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered_rows(pixels: np.ndarray, filters: list[int]) -> bytes:
    """PNG scanlines of a grey (h, w) uint8 image, row r filtered with filters[r % len(filters)]."""
    x = pixels.astype(np.int32)
    above = np.vstack([np.zeros((1, x.shape[1]), np.int32), x[:-1]])
    left = np.hstack([np.zeros((x.shape[0], 1), np.int32), x[:, :-1]])
    corner = np.hstack([np.zeros((x.shape[0], 1), np.int32), above[:, :-1]])
    p = left + above - corner
    pa, pb, pc = abs(p - left), abs(p - above), abs(p - corner)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, corner))
    predictors = [0 * x, left, above, (left + above) // 2, paeth]
    out = b""
    for r in range(x.shape[0]):
        f = filters[r % len(filters)]
        out += bytes([f]) + ((x[r] - predictors[f][r]) % 256).astype(np.uint8).tobytes()
    return out


def png(pixels: np.ndarray, filters=(0, 1, 2, 3, 4), before=(), after=(), idat_parts=1, between=(), colour=0,
        depth=8, interlace=0) -> bytes:
    """A PNG written by hand, so every filter type and chunk layout can be chosen."""
    h, w = pixels.shape
    data = zlib.compress(filtered_rows(pixels, list(filters)))
    cut = np.linspace(0, len(data), idat_parts + 1).astype(int)
    idats = b"".join(between).join(chunk(b"IDAT", data[a:b]) for a, b in itertools.pairwise(cut))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))
    return (b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(before) + idats + b"".join(after) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def digit(mnist_raw) -> np.ndarray:
    return mnist_raw.test_images[7]


@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (4, 3, 2, 1, 0)])
def test_every_filter_type_decodes_as_pillow_does(tmp_path, digit, filters):
    data = png(digit, filters)
    (tmp_path / "d.png").write_bytes(data)
    expected = np.asarray(Image.open(tmp_path / "d.png"))
    assert np.array_equal(expected, digit)
    assert np.array_equal(decode_plain_grey_png(data, MAX_SIDE), expected)


def test_pillow_written_files_and_odd_layouts_decode_exactly(tmp_path, mnist_raw):
    rng = np.random.default_rng(0)
    cases = [Image.fromarray(mnist_raw.test_images[i]).resize(size) for i, size in
             enumerate([(28, 28), (1, 1), (300, 17), (17, 300), (MAX_SIDE, 3)])]
    for i, image in enumerate(cases):
        image.save(tmp_path / f"{i}.png")
        data = (tmp_path / f"{i}.png").read_bytes()
        assert np.array_equal(decode_plain_grey_png(data, MAX_SIDE), np.asarray(image)), image.size
    noise = rng.integers(0, 256, (40, 33), dtype=np.uint8)
    text = chunk(b"tEXt", b"Comment\x00scanned"), chunk(b"pHYs", bytes(9))
    for data in [png(noise, idat_parts=3), png(noise, before=text), png(noise, after=[chunk(b"tIME", bytes(7))])]:
        assert np.array_equal(decode_plain_grey_png(data, MAX_SIDE), noise)


@pytest.mark.parametrize("case", ["rgb", "16-bit", "palette", "interlaced", "tRNS", "eXIf", "EXIF as text",
                                  "unknown chunk", "split IDAT", "bad CRC", "truncated", "too big", "not a PNG",
                                  "empty"])
def test_anything_else_is_left_to_pillow(digit, case):
    good = png(digit)
    data = {
        "rgb": png(np.repeat(digit, 3, axis=1), colour=2),  # byte layout only matters up to IHDR here
        "16-bit": png(digit, depth=16),
        "palette": png(digit, colour=3),
        "interlaced": png(digit, interlace=1),
        "tRNS": png(digit, before=[chunk(b"tRNS", b"\x00\x00")]),
        "eXIf": png(digit, before=[chunk(b"eXIf", b"MM\x00*")]),
        "EXIF as text": png(digit, after=[chunk(b"zTXt", b"Raw profile type exif\x00\x00" + zlib.compress(b"exif"))]),
        "unknown chunk": png(digit, before=[chunk(b"zzZZ", b"x")]),
        "split IDAT": png(digit, idat_parts=2, between=[chunk(b"tEXt", b"a\x00b")]),
        "bad CRC": good[:45] + bytes([good[45] ^ 1]) + good[46:],
        "truncated": good[:-20],
        "too big": png(np.zeros((MAX_SIDE + 1, 2), np.uint8)),
        "not a PNG": b"GIF89a" + bytes(50),
        "empty": b"",
    }[case]
    assert decode_plain_grey_png(data, MAX_SIDE) is None


def test_file_grey_matches_pillows_full_path_on_every_kind_of_file(tmp_path, digit):
    """Fast path or not, a file gives the grey levels Pillow's full path gives (or the same error)."""
    image = Image.fromarray(digit)
    image.save(tmp_path / "plain.png")
    image.convert("RGB").save(tmp_path / "rgb.png")
    image.convert("P").save(tmp_path / "palette.png")
    image.save(tmp_path / "scan.jpg")
    (tmp_path / "filters.png").write_bytes(png(digit))
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 300), dtype=np.uint8))
    big.save(tmp_path / "big.png")  # over SMALL_FILE bytes: read by Pillow itself
    fd = open_regular(tmp_path / "big.png")
    try:
        assert (tmp_path / "big.png").stat().st_size >= SMALL_FILE and read_small_file(fd) is None
    finally:
        os.close(fd)
    for name in ["plain.png", "rgb.png", "palette.png", "scan.jpg", "filters.png", "big.png"]:
        assert np.array_equal(file_grey(tmp_path / name), to_grey(load_image(tmp_path / name))), name
    (tmp_path / "cut.png").write_bytes((tmp_path / "plain.png").read_bytes()[:60])
    results = preprocess_files([str(tmp_path / "cut.png"), str(tmp_path / "missing.png"), str(tmp_path)])
    assert all(isinstance(r, DataError) for r in results)
    assert "cut.png: truncated or corrupt" in str(results[0])
    assert "missing.png: cannot open (No such file or directory)" in str(results[1])
    assert "not a regular file (a folder)" in str(results[2])
