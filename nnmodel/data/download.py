"""Downloading the canonical MNIST .gz files: one attempt, mirrors tried in turn, checksums pinned.

One call is one attempt. Retrying belongs to the caller (the Prefect task retries on
`DownloadError`, a `ConnectionError`): network trouble may pass, while a checksum mismatch
(`DataError`) will not, so it is never retried.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nnmodel import atomic
from nnmodel.data.digests import sha256_file
from nnmodel.data.readers import RawData, read_idx_folder
from nnmodel.errors import DataError

# SHA-256 of the four canonical .gz files as served by the mirrors.
MNIST_GZ_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


class DownloadError(ConnectionError):
    """The network failed (refused, dropped, timed out, server error): trying again may help."""


def download_file(url: str, target: Path, sha256: str, timeout: float = 30.0) -> Path:
    """Stream `url` into `target` (atomically) if its SHA-256 is `sha256`. DownloadError for network
    trouble and server errors (5xx); DataError for content that is not the pinned file, or a 4xx."""
    import httpx

    digest = hashlib.sha256()
    with atomic.atomic_path(target) as tmp:
        try:
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response, \
                    open(tmp, "wb") as out:
                if response.status_code >= 500:
                    raise DownloadError(f"{url}: server error {response.status_code}")
                if response.status_code >= 400:
                    raise DataError(f"{url}: {response.status_code} {response.reason_phrase}")
                for block in response.iter_raw(1 << 16):  # raw: the .gz bytes as served, never decoded
                    out.write(block)
                    digest.update(block)
        except httpx.HTTPError as exc:  # refused, reset, timed out, closed early (incomplete body)
            raise DownloadError(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}") \
                from None
        if digest.hexdigest() != sha256:
            raise DataError(f"{url}: SHA-256 {digest.hexdigest()[:16]}... does not match the pinned "
                            f"{sha256[:16]}... (corrupt or not canonical MNIST)")
    return target


def mirrors(base_urls: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Base URLs to try, in order: a comma-separated string or a list; None for the defaults."""
    if base_urls is None:
        return list(DEFAULT_MIRRORS)
    if isinstance(base_urls, str):
        return [u.strip() for u in base_urls.split(",") if u.strip()]
    return list(base_urls)


def download_mnist(base_urls, folder: str | os.PathLike, timeout: float = 30.0, log=print) -> RawData:
    """One attempt at the four canonical .gz files (files already present and verified are kept; each
    missing one is tried at every mirror in turn), then read them. DownloadError when a file failed
    for network reasons at some mirror (a retry may help), DataError when every mirror served
    something else."""
    folder = Path(folder)
    for name, sha in MNIST_GZ_FILES.values():
        target = folder / name
        if target.is_file() and sha256_file(target) == sha:
            continue
        errors: list[Exception] = []
        for base in mirrors(base_urls):
            url = base.rstrip("/") + "/" + name
            log(f"downloading {url}")
            try:
                download_file(url, target, sha, timeout)
                break
            except (DownloadError, DataError) as exc:
                errors.append(exc)
        else:
            reasons = "; ".join(str(e) for e in errors) or "no mirror given"
            failure = DownloadError if any(isinstance(e, DownloadError) for e in errors) else DataError
            raise failure(f"{name}: every mirror failed: {reasons}")
    return read_idx_folder(folder)
