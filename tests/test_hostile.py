"""Hostile checks on the surfaces the server, events, explain and --numbers added: processes that are
not ours, servers that die under a command, kills at awkward moments, bombs, odd inputs. Each names the
file or option and the problem in one line, leaves nothing behind and never touches what is not ours."""
from __future__ import annotations

import subprocess
import sys
import zlib

import pytest

from tests.helpers.processes import run_digits


def gzip_bomb(path, claims: tuple[int, ...], inflates_to: int) -> None:
    """An IDX .gz whose header promises `claims` (images or labels) but that inflates to `inflates_to` bytes."""
    compress = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    header = b"\x00\x00\x08" + bytes([len(claims)]) + b"".join(d.to_bytes(4, "big") for d in claims)
    parts, left, block = [compress.compress(header)], inflates_to - len(header), bytes(1 << 20)
    while left > 0:
        parts.append(compress.compress(block[:min(left, len(block))]))
        left -= len(block)
    parts.append(compress.flush())
    path.write_bytes(b"".join(parts))


def test_a_gzip_bomb_is_refused_early_with_little_memory(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_bomb(bomb, (60000, 28, 28), 400 << 20)  # says MNIST's size, inflates to 400 MB
    code = ("import resource, sys\n"
            "from nnmodel.data.readers import read_idx\n"
            "from nnmodel.errors import DataError\n"
            "try:\n    read_idx(sys.argv[1])\nexcept DataError as exc:\n    print(exc)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    done = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120)
    message, peak_mb = done.stdout.strip().splitlines()
    assert message == (f"{bomb}: inflates past the 47,040,016 bytes its IDX header promises (a gzip bomb?); "
                       "refused")
    assert int(peak_mb) < 250, peak_mb  # inflating all of it took over 400 MB
    huge = tmp_path / "t10k-labels-idx1-ubyte.gz"
    gzip_bomb(huge, (200_000_000,), 1 << 20)  # a header that promises 200 MB: more than any MNIST-like file
    from nnmodel.data.readers import read_idx
    from nnmodel.errors import DataError

    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: its IDX header promises 200,000,008 bytes, "
                                        r"more than any MNIST-like file \(94,080,032\); refused"):
        read_idx(huge)


def test_a_label_out_of_range_is_reported_against_the_labels_file(tmp_path, mnist_raw):
    import gzip

    import numpy as np

    def idx(arr):
        return b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes()

    labels = mnist_raw.test_labels[:100].copy()
    labels[7] = 10
    for name, arr in (("train-images-idx3-ubyte", mnist_raw.test_images[:100]),
                      ("train-labels-idx1-ubyte", labels),
                      ("t10k-images-idx3-ubyte", mnist_raw.test_images[:50]),
                      ("t10k-labels-idx1-ubyte", mnist_raw.test_labels[:50])):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(idx(np.ascontiguousarray(arr))))
    from nnmodel.data.readers import read_idx_folder
    from nnmodel.errors import DataError

    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: label values span 0..10, expected 0..9"):
        read_idx_folder(tmp_path)


def test_promoting_the_current_model_again_says_so(registered_artifacts):
    from nnmodel.store.registry import Registry

    version = Registry(registered_artifacts).current()["version"]
    done = run_digits(["--artifacts", str(registered_artifacts), "models", "promote", version, "--force"])
    assert done.returncode == 0 and done.stderr.strip() == f"{version} is already the current model: nothing to do"
    assert "use --force" not in done.stderr


def test_an_artifacts_option_naming_a_file_is_refused(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    done = run_digits(["--artifacts", str(afile), "models", "list"])
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: --artifacts {afile}: is a file, not a folder"
    assert afile.read_text() == "x"
