"""The shared preprocessing: MNIST form for every kind of file, blank detection, refusals."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnmodel.batch.classify import classify_files
from nnmodel.batch.rows import COLUMNS
from nnmodel.errors import DataError
from nnmodel.images.preprocess import preprocess_files, preprocess_image
from nnmodel.model.modelfile import load_model
from tests.helpers.renders import VARIANTS, write_variant

N = 2000


def test_clean_mnist_digits_come_back_almost_unchanged(mnist_raw):
    out = np.stack([preprocess_image(d).pixels for d in mnist_raw.test_images[:500]])
    assert np.abs(out - mnist_raw.test_images[:500] / 255).mean() < 0.01


def test_output_is_mnist_form():
    image = np.zeros((300, 200), np.uint8)
    image[50:250, 90:110] = 255  # a tall bar, far from centre
    result = preprocess_image(image)
    assert not result.blank and result.pixels.shape == (28, 28) and result.pixels.dtype == np.float32
    ink = result.pixels > 0.25
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 <= 3  # aspect ratio kept
    ys, xs = np.indices((28, 28))
    total = result.pixels.sum()
    assert abs((ys * result.pixels).sum() / total - 14) <= 0.5 and abs((xs * result.pixels).sum() / total - 14) <= 0.5


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_blank_images_are_flagged(fill):
    result = preprocess_image(np.full((64, 64), fill, np.uint8))
    assert result.blank and not result.pixels.any()


def test_faint_noise_is_blank():
    rng = np.random.default_rng(0)
    assert preprocess_image((rng.random((80, 80)) * 12 + 200).astype(np.uint8)).blank


@pytest.mark.parametrize("kind", ["jpeg", "grey png eXIf", "grey png raw profile"])
def test_exif_orientation_is_honoured(tmp_path, mnist_raw, kind):
    from PIL.PngImagePlugin import PngInfo

    digit = Image.fromarray(255 - mnist_raw.test_images[0])  # a 7, dark on light
    rotated = digit.rotate(90, expand=True)  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with "rotate 90 CW to display"
    path = tmp_path / ("photo.jpg" if kind == "jpeg" else "scan.png")
    if kind == "jpeg":
        rotated.convert("RGB").save(path, exif=exif.tobytes(), quality=95)
    elif kind == "grey png eXIf":
        rotated.save(path, exif=exif.tobytes())
    else:  # as ImageMagick writes it: hex in a text chunk (a small plain grey PNG otherwise)
        data = exif.tobytes()
        text = PngInfo()
        text.add_text("Raw profile type exif", f"\nexif\n{len(data):8}\n{data.hex()}\n", zip=True)
        rotated.save(path, pnginfo=text)
    upright = preprocess_image(path).pixels
    assert np.abs(upright - preprocess_image(digit).pixels).mean() < 0.03


@pytest.mark.parametrize("mode", ["P", "CMYK", "I;16", "RGB", "LA", "1"])
def test_every_mode_gives_the_same_digit(tmp_path, mnist_raw, mode):
    digit = Image.fromarray(255 - mnist_raw.test_images[1])
    reference = preprocess_image(digit).pixels
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(digit).astype(np.uint16) * 257)
    elif mode == "LA":
        converted = digit.convert("LA")
    else:
        converted = digit.convert(mode)
    ext = "tiff" if mode == "CMYK" else "png"
    converted.save(tmp_path / f"d.{ext}")
    tolerance = 0.08 if mode == "1" else 0.02
    assert np.abs(preprocess_image(tmp_path / f"d.{ext}").pixels - reference).mean() < tolerance


def test_huge_image_is_reduced_first(tmp_path):
    big = np.zeros((8000, 8000), np.uint8)
    big[1000:7000, 3500:4500] = 255
    Image.fromarray(big).save(tmp_path / "huge.png")
    del big
    result = preprocess_image(tmp_path / "huge.png")
    assert not result.blank and result.pixels.max() > 0.9


@pytest.mark.parametrize("mode", ["P", "1", "L", "RGBA", "I;16"])
def test_huge_images_of_every_mode_are_reduced_the_same_way(mode):
    """A large PIL image or file of any mode goes through one reduction step (a palette image used to
    fail with a bare ValueError when given as an image rather than a file)."""
    big = np.zeros((3000, 2000), np.uint8)
    big[500:2500, 800:1200] = 255
    image = Image.fromarray(big).convert(mode)
    result = preprocess_image(image)
    assert not result.blank and result.pixels.max() > 0.9
    np.testing.assert_allclose(result.pixels, preprocess_image(Image.fromarray(big)).pixels, atol=0.05)


def test_decompression_bomb_is_refused(tmp_path):
    Image.new("1", (12000, 12000)).save(tmp_path / "bomb.png")  # tiny on disk, 144 M pixels
    with pytest.raises(DataError, match=r"bomb.png: refused, 12000x12000 pixels is over the 120,000,000 pixel "
                                        r"limit \(a decompression bomb\?\); if you trust it, allow it with "
                                        r"--max-pixels"):
        preprocess_image(tmp_path / "bomb.png")


def test_the_pixel_limit_is_the_users_to_set(tmp_path, mnist_raw):
    from nnmodel.images.decode import pixel_limit

    Image.fromarray(mnist_raw.test_images[0]).resize((60, 50)).save(tmp_path / "scan.png")
    with pixel_limit(2999), pytest.raises(DataError, match="scan.png: refused, 60x50 pixels is over the 2,999"):
        preprocess_image(tmp_path / "scan.png")
    with pixel_limit(3000):
        assert not preprocess_image(tmp_path / "scan.png").blank
    with pixel_limit(400_000_000):  # past twice Pillow's own limit: it is raised too, then put back
        from PIL import Image as PILImage

        assert PILImage.MAX_IMAGE_PIXELS >= 400_000_000 // 2
    assert PILImage.MAX_IMAGE_PIXELS == 89_478_485


@pytest.mark.parametrize("content,fault", [(b"", "not an image"), (b"hello, I am text", "not an image"),
                                           ("truncated", "truncated or corrupt")])
def test_unreadable_files_name_file_and_fault(tmp_path, content, fault, mnist_raw):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(mnist_raw.test_images[0]).resize((200, 200)).save(path)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"bad.png: {fault}"):
        preprocess_image(path)
    assert isinstance(preprocess_files([str(path)])[0], DataError)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rerendered_test_digits_keep_accuracy(variant, trained_model, mnist_raw, tmp_path):
    """Re-rendered MNIST test digits are classified within 1 point of the clean images' accuracy."""
    net, _ = load_model(trained_model)
    digits, labels = mnist_raw.test_images[:N], mnist_raw.test_labels[:N]
    clean = net.score(digits.reshape(N, 784) / np.float32(255), labels)
    names = write_variant(tmp_path, variant, digits)
    rows = [dict(zip(COLUMNS, row)) for row in classify_files(str(trained_model), [(str(tmp_path), n) for n in names])]
    assert all(row["status"] == "ok" for row in rows)
    accuracy = np.mean([int(row["predicted"]) == y for row, y in zip(rows, labels)])
    print(f"{variant}: {accuracy:.4f} vs clean {clean:.4f}")
    assert accuracy >= clean - 0.01, f"{variant}: {accuracy:.4f} vs clean {clean:.4f}"


def test_files_are_preprocessed_in_bounded_batches_with_the_same_results(tmp_path, mnist_raw):
    paths = []
    for i in range(12):
        size = 28 if i % 3 else 300  # mixed sizes, so batches mix shapes too
        path = tmp_path / f"{i}.png"
        Image.fromarray(mnist_raw.test_images[i]).resize((size, size)).save(path)
        paths.append(str(path))
    (tmp_path / "bad.png").write_text("not an image")
    paths.insert(5, str(tmp_path / "bad.png"))
    whole = preprocess_files(paths)
    small = preprocess_files(paths, max_batch_pixels=50_000)  # a flush every image or two
    assert len(whole) == len(small) == 13
    for a, b in zip(whole, small):
        if isinstance(a, DataError):
            assert isinstance(b, DataError) and str(a) == str(b)
        else:
            assert a.blank == b.blank and np.array_equal(a.pixels, b.pixels)


def test_a_batch_gives_what_each_image_alone_gives(mnist_raw):
    """Big same-shape batches take the grouped (vectorised) path, single images the plain loop."""
    from nnmodel.images.preprocess import GROUP_FROM, preprocess_greys

    rng = np.random.default_rng(3)
    greys = []
    for i in range(3 * GROUP_FROM):
        canvas = np.zeros((60, 60), np.uint8)  # off-centre, some too small or too big for 20x20
        digit = np.asarray(Image.fromarray(mnist_raw.test_images[i]).resize([(28, 28), (14, 14), (56, 56)][i % 3]))
        y, x = rng.integers(0, 60 - digit.shape[0] + 1, 2)
        canvas[y: y + digit.shape[0], x: x + digit.shape[1]] = digit
        greys.append(255 - canvas if i % 4 == 0 else canvas)
    greys.append(np.zeros((60, 60), np.uint8))  # blank
    together = preprocess_greys(greys)
    for grey, batched in zip(greys, together):
        alone = preprocess_greys([grey])[0]
        assert alone.blank == batched.blank and np.array_equal(alone.pixels, batched.pixels)
    assert together[-1].blank and sum(r.blank for r in together) == 1


def test_an_image_of_several_digits_is_said_to_be_one_in_single_digit_mode(tmp_path, trained_model, mnist_raw):
    """Without --numbers a row still reads one digit, but says when the ink looks like several."""
    pair = np.concatenate([mnist_raw.test_images[0], mnist_raw.test_images[1], mnist_raw.test_images[2]], axis=1)
    Image.fromarray(pair).save(tmp_path / "721.png")
    Image.fromarray(mnist_raw.test_images[3]).save(tmp_path / "one.png")
    rows = {r[1]: dict(zip(COLUMNS, r)) for r in classify_files(str(trained_model), [(str(tmp_path), "721.png"),
                                                                                      (str(tmp_path), "one.png")])}
    assert rows["721.png"]["status"] == "several_digits" and rows["721.png"]["predicted"] != ""
    assert rows["one.png"]["status"] == "ok"
    assert preprocess_image(pair).aspect > 2.5 and preprocess_image(mnist_raw.test_images[3]).aspect < 1.2
