"""The `url` source against a real HTTP server on 127.0.0.1: good files, a corrupt file, dropped links."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading

import pytest

from conftest import SHARED_MNIST
from nnmodel.errors import DataError
from tasks import sources


class Server:
    """Serves `files` (name -> bytes); `drops[name]` = how many more requests to cut off mid-body."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.drops, self.hits = files, {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                outer.hits.append(name)
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drops.get(name, 0) > 0:
                    outer.drops[name] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served_files(mnist_raw) -> dict[str, bytes]:
    """The canonical .gz files: from ../shared when present, else re-made from the bundled arrays."""
    files = {}
    for key, (name, sha) in sources.MNIST_GZ_FILES.items():
        if (SHARED_MNIST / name).is_file():
            files[name] = (SHARED_MNIST / name).read_bytes()
        else:
            arr = getattr(mnist_raw, key)
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            files[name] = gzip.compress(header + arr.tobytes(), mtime=0)
    return files


@pytest.fixture
def server(served_files):
    srv = Server(dict(served_files))
    yield srv
    srv.close()


def pins_for(files: dict[str, bytes], monkeypatch):
    """Pin the served bytes' digests (equal to the canonical pins when ../shared is present)."""
    pins = {key: (name, hashlib.sha256(files[name]).hexdigest()) for key, (name, _) in sources.MNIST_GZ_FILES.items()}
    monkeypatch.setattr(sources, "MNIST_GZ_FILES", pins)


def test_download_verifies_and_reads(server, tmp_path, monkeypatch):
    if not SHARED_MNIST.is_dir():
        pins_for(server.files, monkeypatch)
    raw = sources.download_mnist(server.url, tmp_path / "dl", log=lambda m: None)
    assert sources.verify(raw, "mnist", "url")["verified"].startswith("canonical MNIST (exact")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(server.files)


def test_corrupt_file_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    name = "t10k-labels-idx1-ubyte.gz"
    body = bytearray(server.files[name])
    body[100] ^= 0xFF
    server.files[name] = bytes(body)
    with pytest.raises(DataError, match=rf"{name}: every mirror failed: .*SHA-256 .* does not match the pinned"):
        sources.download_mnist(server.url, tmp_path / "dl", log=lambda m: None, backoff=0)
    assert not (tmp_path / "dl" / name).exists()
    assert not list((tmp_path / "dl").glob("*.partial"))


def test_dropped_connection_is_retried(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    name = "train-labels-idx1-ubyte.gz"
    server.drops[name] = 1
    sources.download_mnist(server.url, tmp_path / "dl", log=lambda m: None, backoff=0)
    assert server.hits.count(name) == 2
    assert hashlib.sha256((tmp_path / "dl" / name).read_bytes()).hexdigest() == sources.MNIST_GZ_FILES["train_labels"][1]


def test_connection_that_keeps_dropping_fails_cleanly(server, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    server.drops[name] = 99
    target = tmp_path / "dl" / name
    with pytest.raises(ConnectionError, match=rf"{name}: download failed after 3 attempts"):
        sources.download_file(server.url + name, target, "0" * 64, backoff=0)
    assert not target.exists() and not list(target.parent.glob("*"))


def test_second_mirror_is_used_when_first_is_dead(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    dead = "http://127.0.0.1:9/nothing/"
    sources.download_mnist([dead, server.url], tmp_path / "dl", log=lambda m: None, backoff=0)
    assert len(list((tmp_path / "dl").iterdir())) == 4
