"""The `url` source against a real HTTP server on 127.0.0.1: good files, a corrupt file, dropped links,
and the fetch task's retries in a real Prefect flow."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading

import pytest

from nnmodel.data import download
from nnmodel.data.raw import verify
from nnmodel.errors import DataError
from tests.helpers.data import SHARED_MNIST


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


@pytest.fixture(scope="module")
def served_files(mnist_raw) -> dict[str, bytes]:
    """The canonical .gz files: from ../shared when present, else re-made from the bundled arrays
    (once per module, at the fastest compression: the pins are of the bytes served)."""
    files = {}
    for key, (name, _) in download.MNIST_GZ_FILES.items():
        if (SHARED_MNIST / name).is_file():
            files[name] = (SHARED_MNIST / name).read_bytes()
        else:
            arr = getattr(mnist_raw, key)
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            files[name] = gzip.compress(header + arr.tobytes(), compresslevel=1, mtime=0)
    return files


@pytest.fixture
def server(served_files):
    srv = Server(dict(served_files))
    yield srv
    srv.close()


def pins_for(files: dict[str, bytes], monkeypatch):
    """Pin the served bytes' digests (equal to the canonical pins when ../shared is present)."""
    pins = {key: (name, hashlib.sha256(files[name]).hexdigest()) for key, (name, _) in download.MNIST_GZ_FILES.items()}
    monkeypatch.setattr(download, "MNIST_GZ_FILES", pins)


def quiet(message):
    pass


def test_download_verifies_and_reads(server, tmp_path, monkeypatch):
    if not SHARED_MNIST.is_dir():
        pins_for(server.files, monkeypatch)
    raw = download.download_mnist(server.url, tmp_path / "dl", log=quiet)
    assert verify(raw, "mnist", "url")["verified"].startswith("canonical MNIST (exact")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(server.files)


def test_corrupt_file_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    name = "t10k-labels-idx1-ubyte.gz"
    body = bytearray(server.files[name])
    body[100] ^= 0xFF
    server.files[name] = bytes(body)
    with pytest.raises(DataError, match=rf"{name}: every mirror failed: .*SHA-256 .* does not match the pinned"):
        download.download_mnist(server.url, tmp_path / "dl", log=quiet)
    assert not (tmp_path / "dl" / name).exists()
    assert not list((tmp_path / "dl").glob(".*partial"))


def test_one_attempt_with_a_dropped_connection_is_a_network_error(server, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    server.drops[name] = 1
    target = tmp_path / "dl" / name
    with pytest.raises(download.DownloadError, match=rf"{name}: RemoteProtocolError"):
        download.download_file(server.url + name, target, "0" * 64)
    assert isinstance(download.DownloadError("x"), ConnectionError)
    assert not target.exists() and not list(target.parent.glob("*"))


def test_a_mirror_that_keeps_dropping_is_a_network_error_for_the_caller_to_retry(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    server.drops["train-labels-idx1-ubyte.gz"] = 99
    with pytest.raises(download.DownloadError, match="train-labels-idx1-ubyte.gz: every mirror failed"):
        download.download_mnist(server.url, tmp_path / "dl", log=quiet)
    assert server.hits.count("train-labels-idx1-ubyte.gz") == 1  # one attempt: retries are the task's


def test_second_mirror_is_used_when_first_is_dead(server, tmp_path, monkeypatch):
    pins_for(server.files, monkeypatch)
    dead = "http://127.0.0.1:9/nothing/"
    download.download_mnist([dead, server.url], tmp_path / "dl", log=quiet)
    assert len(list((tmp_path / "dl").iterdir())) == 4


@pytest.mark.slow
def test_the_fetch_task_retries_network_errors_not_bad_data(prefect_harness, server, tmp_path, monkeypatch):
    """In a real flow, a dropped connection is retried by the task (and succeeds); a corrupt file is not."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    from flows.data import data_flow

    pins_for(server.files, monkeypatch)
    name = "train-labels-idx1-ubyte.gz"
    server.drops[name] = 1
    state = data_flow(str(tmp_path / "a"), source="url", base_url=server.url, prepare=False, return_state=True)
    assert state.is_completed() and server.hits.count(name) == 2
    with get_client(sync_client=True) as client:
        this_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        [run] = client.read_task_runs(flow_run_filter=this_run,
                                      task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="fetch-and-verify")))
        assert run.run_count == 2
    body = bytearray(server.files[name])
    body[100] ^= 0xFF
    server.files[name] = bytes(body)
    server.hits.clear()
    state = data_flow(str(tmp_path / "b"), source="url", base_url=server.url, prepare=False, return_state=True)
    assert state.is_failed() and server.hits.count(name) == 1
    assert isinstance(state.result(raise_on_failure=False), DataError)
