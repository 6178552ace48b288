"""Hostile checks on the surfaces the server, events, explain and --numbers added: processes that are
not ours, servers that die under a command, kills at awkward moments, bombs, odd inputs. Each names the
file or option and the problem in one line, leaves nothing behind and never touches what is not ours."""
from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import zlib

import pytest

from tests.helpers.processes import free_port, run_digits


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
    code = ("import sys\n"
            "from nnmodel.data.readers import read_idx\n"
            "from nnmodel.errors import DataError\n"
            "try:\n    read_idx(sys.argv[1])\nexcept DataError as exc:\n    print(exc)\n"
            "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
            "print(int(peak.split()[1]) // 1024)")  # this process's own peak (ru_maxrss counts the forking parent's)
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


def test_server_stop_never_signals_a_process_that_is_not_ours(tmp_path):
    """A stale record whose pid now belongs to an unrelated process (here a `sleep` in its own
    session): stop leaves that process alone, clears the record and says so."""
    import json

    home = tmp_path / "home"
    home.mkdir()
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = {"pid": stranger.pid, "pid_started": 1, "command": ["python", "-m", "prefect", "server", "start"],
                  "port": 4999, "api": "http://127.0.0.1:4999/api", "ui": "http://127.0.0.1:4999", "log": "x"}
        (home / "digits-server.json").write_text(json.dumps(record))
        done = run_digits(["server", "stop"], env={"PREFECT_HOME": str(home)})
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == (f"the recorded Prefect server (pid {stranger.pid}) is not running; its pid "
                                       "now belongs to another process, left alone; cleared the stale record "
                                       f"{home / 'digits-server.json'}")
        assert stranger.poll() is None and not (home / "digits-server.json").exists()
        status = run_digits(["server", "status"], env={"PREFECT_HOME": str(home)})
        assert status.returncode == 1 and "no Prefect server is up" in status.stderr
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait(10)


def test_server_start_on_a_taken_port_names_what_holds_it(tmp_path):
    import socket
    import time

    from tests.helpers.processes import free_port

    port = free_port()
    code = (f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); "
            "time.sleep(300)")
    holder = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        started = time.monotonic()
        done = run_digits(["server", "start", "--port", str(port)], env={"PREFECT_HOME": str(tmp_path / "home")})
        assert done.returncode == 1 and time.monotonic() - started < 30
        line = done.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: --port {port}: taken by another program (pid {holder.pid}: ")
        assert "socket" in line and line.endswith("stop it or choose another port")
    finally:
        holder.kill()
        holder.wait(10)


def test_a_run_killed_after_registering_leaves_no_version_behind(tmp_path, trained_model):
    """Killed between registering its version and the decision: the next command records the run as
    crashed and removes that version (the current one stays)."""
    import shutil

    from nnmodel.model import modelfile
    from nnmodel.store import runs
    from nnmodel.store.layout import Layout
    from nnmodel.store.registry import Registry

    layout, registry = Layout(tmp_path / "art"), Registry(tmp_path / "art")
    with registry.new_version() as (staging, current):
        for f in trained_model.iterdir():
            shutil.copy(f, staging / f.name)
    registry.promote(current)
    code = ("import os, shutil, sys\n"
            "from nnmodel.model import modelfile\n"
            "from nnmodel.store import runs\n"
            "from nnmodel.store.layout import Layout\n"
            "from nnmodel.store.registry import Registry\n"
            "layout = Layout(sys.argv[1])\n"
            "assert runs.start_run(layout, 'run-x', {'preset': 'quick'})\n"
            "model, meta = modelfile.load_model(sys.argv[2])\n"
            "with Registry(layout).new_version() as (staging, version):\n"
            "    modelfile.save_model(model, staging, {**meta, 'run': 'run-x'})\n"
            "os.kill(os.getpid(), 9)  # killed right after the version appeared\n")
    done = subprocess.run([sys.executable, "-c", code, str(layout.root), str(trained_model)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    assert len(registry.versions()) == 2
    assert runs.record_crashed_runs(layout) == ["run-x"]
    assert registry.versions() == [current] and registry.current()["version"] == current
    [crashed] = [r for r in runs.read_runs(layout) if r["run"] == "run-x"]
    assert crashed["outcome"] == "crashed" and "removed the version it had registered" in crashed["reason"]
    assert modelfile.load_model(registry.path(current))


def test_a_report_killed_while_written_leaves_no_half_report(tmp_path, mnist_raw):
    """A report folder appears whole or not at all; what a killed writer left is gone at the next command."""
    import time

    code = ("import sys, numpy as np\n"
            "from PIL import Image\n"
            "from pathlib import Path\n"
            "from nnmodel.reports.render import write_report\n"
            "from nnmodel.reports.metrics import classification_report\n"
            "y = np.arange(100) % 10\n"
            "r = classification_report(y, y, 10)\n"
            "report = {'splits': {'test': r, 'train': r, 'validation': r}}\n"
            "noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1000, 1000, 3), np.uint8))\n"
            "images = {f'slow-{i}.png': noise for i in range(40)}  # seconds of PNG compression\n"
            "write_report(Path(sys.argv[1]), report, np.zeros((100, 28, 28), np.uint8), 'x', images)\n")
    target = tmp_path / "art" / "reports" / "train-x"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.endswith(".partial") and any(p.iterdir())
                                                  for p in target.parent.glob(".*")):
        time.sleep(0.05)
    proc.kill()
    proc.wait(30)
    assert not target.exists()  # nothing half-written is visible under the report's name
    leftovers = list(target.parent.glob(".*"))
    assert leftovers
    done = run_digits(["--artifacts", str(tmp_path / "art"), "runs"])
    assert done.returncode == 0 and not list(target.parent.glob(".*"))


def test_what_a_killed_feedback_add_left_is_removed_by_the_next_command(tmp_path):
    from nnmodel import atomic

    digit_folder = tmp_path / "art" / "feedback" / "7"
    digit_folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has ended
    stale = atomic.temp_path(digit_folder / "new")
    stale = stale.with_name(stale.name.replace(f".{os.getpid()}", f".{pid}", 1))
    stale.write_bytes(b"half a png")
    assert stale.exists()
    done = run_digits(["--artifacts", str(tmp_path / "art"), "feedback", "list"])
    assert done.returncode == 0 and not stale.exists()


def test_a_long_strip_of_digits_is_read_not_reduced_to_nothing(tmp_path, trained_model, mnist_raw):
    """20000x40 pixels holding 200 digits: reduced as a huge image used to be (to 512x1) it read as
    blank; its shorter side is kept, and the digits are read."""
    import numpy as np
    from PIL import Image

    from nnmodel.images.numbers import read_number
    from nnmodel.model.modelfile import load_model

    model, _ = load_model(trained_model)
    picks = np.arange(200)
    strip = Image.new("L", (20000, 40), 255)
    for k, i in enumerate(picks):
        digit = Image.fromarray(255 - mnist_raw.test_images[i]).resize((40, 40), Image.Resampling.LANCZOS)
        strip.paste(digit, (k * 100 + 30, 0))
    strip.save(tmp_path / "strip.png")
    read = read_number(tmp_path / "strip.png", model)
    truth = "".join(str(d) for d in mnist_raw.test_labels[picks])
    assert not read.blank and len(read.text) == 200
    assert sum(a == b for a, b in zip(read.text, truth)) >= 180


def png_with_a_huge_text_chunk(path) -> None:
    """A valid PNG of a digit-like blob with a 50 MB compressed text chunk (zTXt) before its pixels."""
    import numpy as np
    from PIL import Image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 12:16] = 255
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    text = chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b" " * (50 << 20), 9))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + text + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):
        Image.open(path)  # Pillow's own guard trips; digits must turn it into one line


def test_explain_names_the_file_or_the_option_in_one_line(tmp_path, registered_artifacts):
    art = ["--artifacts", str(registered_artifacts)]
    chunky = tmp_path / "chunky.png"
    png_with_a_huge_text_chunk(chunky)  # digits' own PNG reader skips text chunks without inflating them
    done = run_digits([*art, "explain", str(chunky), "--out", str(tmp_path / "why.png")])
    assert done.returncode == 0 and "read as 1" in done.stderr and (tmp_path / "why.png").stat().st_size > 0
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 3) + b"IHDRabc\0\0\0\0")
    done = run_digits([*art, "explain", str(broken), "--out", str(tmp_path / "why2.png")])
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line == f"error: {broken}: not an image Pillow can read (Truncated IHDR chunk)"
    assert not (tmp_path / "why2.png").exists()
    odd_tiff = tmp_path / "odd.tif"
    odd_tiff.write_bytes(b"II*\x00" + b"\xff" * 8)  # Pillow warns about its EXIF; only our line may show
    done = run_digits([*art, "explain", str(odd_tiff), "--out", str(tmp_path / "why3.png")])
    assert done.returncode == 1 and done.stderr.strip() == f"error: {odd_tiff}: not an image Pillow can read"
    (tmp_path / "pictures").mkdir()
    done = run_digits([*art, "explain", str(broken), "--out", str(tmp_path / "pictures")])
    assert done.returncode == 1 and done.stderr.strip() == (
        f"error: --out {tmp_path / 'pictures'}: is a folder; give the picture's file name "
        f"(e.g. {tmp_path / 'pictures' / 'why.png'})")
    assert list((tmp_path / "pictures").iterdir()) == []


@pytest.mark.slow  # trains through the real flow
def test_everything_written_follows_the_umask(tmp_path, server_env, link_prepared, mnist_raw):
    """A team sharing an artifacts folder through a group (umask 002) can read and write what any of
    them made: models, reports, runs, feedback, predictions."""
    from PIL import Image

    artifacts = tmp_path / "artifacts"
    before = os.umask(0o002)
    try:
        link_prepared(artifacts)
    finally:
        os.umask(before)
    linked = set(artifacts.rglob("*"))  # copies of the prepared layers, with their own modes
    shared = {"preexec_fn": lambda: os.umask(0o002)}
    art = ["--artifacts", str(artifacts)]
    done = run_digits([*art, "train", "--family", "logistic", "--maxiter", "3", "-q"], env=server_env, **shared)
    assert done.returncode == 0, done.stderr
    Image.fromarray(255 - mnist_raw.test_images[0]).save(tmp_path / "seven.png")
    done = run_digits([*art, "feedback", "add", str(mnist_raw.test_labels[0]), str(tmp_path / "seven.png")],
                      **shared)
    assert done.returncode == 0, done.stderr
    done = run_digits([*art, "predict", str(tmp_path / "seven.png"), "--out", str(tmp_path / "out.csv")],
                      env=server_env, **shared)
    assert done.returncode == 0, done.stderr
    made = [p for p in [*artifacts.rglob("*"), tmp_path / "out.csv"] if p not in linked]
    assert any(p.name == "model.npz" for p in made) and any("feedback" in p.parts for p in made)
    closed = [f"{p.relative_to(tmp_path)} {oct(p.stat().st_mode & 0o777)}" for p in made
              if p.stat().st_mode & 0o777 != (0o775 if p.is_dir() else 0o664)]
    assert closed == [], "\n".join(closed)


def session_processes(session: int) -> dict[int, str]:
    """{pid: command line} of the live processes in `session` (Linux /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != b"Z":
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    found[int(entry)] = fh.read().replace(b"\0", b" ").decode(errors="replace")[:400]
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_a_kill_9_of_the_command_alone_takes_its_children_with_it(tmp_path, registered_artifacts, mnist_raw):
    """The temporary Prefect server, the pool and its forkserver end with the command that started
    them, even when only that command is killed (not its group)."""
    import time

    from nnmodel.batch import parts
    from tests.helpers.data import write_digits
    from tests.helpers.processes import DIGITS, without_prefect_settings

    folder = tmp_path / "many"
    write_digits(folder, mnist_raw.test_images[:3000])
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([*DIGITS, "--artifacts", str(registered_artifacts), "predict", str(folder), "--out",
                             str(out), "--chunk-size", "50", "--workers", "2"],
                            env=without_prefect_settings(), stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(parts.parts_dir(out).glob("part-*.csv"))) < 3:
            time.sleep(0.05)
        time.sleep(1)  # the watcher looks every half second
        children = {pid: cmd for pid, cmd in session_processes(proc.pid).items() if pid != proc.pid}
        assert any("prefect.server" in cmd for cmd in children.values()), children
        assert any("forkserver" in cmd for cmd in children.values()), children
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and set(children) & set(session_processes(proc.pid)):
            time.sleep(0.2)
        left = {pid: cmd for pid, cmd in session_processes(proc.pid).items() if pid in children}
        assert left == {}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow  # waits for the server's zombie rule (90 s)
def test_a_command_whose_server_dies_ends_promptly_in_one_line(tmp_path, registered_artifacts, mnist_raw):
    """A server killed (kill -9) in the middle of a predict: the CSV is still whole, the command ends
    within seconds with one line saying the server went away (no traceback, no retries in the
    background), and no process of it is left. Once the server is back, the run it left RUNNING is
    marked Crashed (its heartbeats stopped)."""
    import csv
    import json
    import time

    from nnmodel.batch import parts
    from tests.helpers.data import write_digits
    from tests.helpers.processes import DIGITS, api_post, digits_server, wait_for

    folder = tmp_path / "many"
    write_digits(folder, mnist_raw.test_images[:8000])  # enough to outlive the first heartbeat on a fast run
    out = tmp_path / "out.csv"
    port = free_port()
    with digits_server(tmp_path / "home", port) as (api, env):
        env = {**env, "DIGITS_ZOMBIE_AFTER": "60"}  # this fresh server's rule: the shortest (2 heartbeats)
        server_pid = json.loads((tmp_path / "home" / "digits-server.json").read_text())["pid"]
        proc = subprocess.Popen([*DIGITS, "--artifacts", str(registered_artifacts), "predict", str(folder), "--out",
                                 str(out), "--chunk-size", "20", "--workers", "1"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(list(parts.parts_dir(out).glob("part-*.csv"))) < 2:
                time.sleep(0.05)
            heartbeats = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]}}}
            wait_for(lambda: api_post(api, "/events/filter", heartbeats)["total"], 30,
                     "the run's first heartbeat to reach the server (what the zombie rule counts from)", proc)
            os.killpg(os.getpgid(server_pid), signal.SIGKILL)
            killed = time.monotonic()
            _, stderr = proc.communicate(timeout=90)
            took = time.monotonic() - killed
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1 and took < 15, (took, stderr)
    said = [line for line in stderr.splitlines() if not line.startswith(("digits predict:", "  classified"))]
    kept = f"{out} is whole" if out.exists() else \
        f"the rows classified so far are kept: the same command with --resume finishes {out}"
    assert said == [f"error: the Prefect server at {api} went away during this command (stopped or killed?); "
                    f"{kept}; its run will show as crashed once a server is back (`digits server start`)"]
    time.sleep(1)  # the lifeline's last look
    assert session_processes(proc.pid) == {}

    with digits_server(tmp_path / "home", port):  # the same server (database) again
        def run_state():
            [run] = api_post(api, "/flow_runs/filter", {"flows": {"name": {"any_": ["digits-predict"]}},
                                                       "sort": "START_TIME_ASC"})[:1]
            return run["state"]["type"]
        assert run_state() == "RUNNING"
        if not out.exists():  # nothing lost: --resume finishes the CSV
            resumed = run_digits(["--artifacts", str(registered_artifacts), "predict", str(folder), "--out", str(out),
                                  "--chunk-size", "20", "--workers", "1", "--resume"], env=env, keep_prefect_env=True)
            assert resumed.returncode == 0, resumed.stderr
        with open(out, newline="") as fh:
            assert [r["path"] for r in csv.DictReader(fh)] == [f"digit-{i:05d}.png" for i in range(8000)]
        assert wait_for(lambda: run_state() == "CRASHED", 90, "the zombie rule to mark the run crashed")


@pytest.mark.slow  # eight commands at once on two cores
def test_eight_commands_at_once_against_one_server(tmp_path, registered_artifacts, mnist_raw):
    """Eight `digits predict` started together against one server (its SQLite database busy): each
    finishes whole, and the server keeps all eight runs, completed."""
    import csv

    from tests.helpers.data import write_digits
    from tests.helpers.processes import DIGITS, api_post, digits_server

    folders = [tmp_path / f"in{i}" for i in range(8)]
    for i, folder in enumerate(folders):
        write_digits(folder, mnist_raw.test_images[i * 30:(i + 1) * 30])
    with digits_server(tmp_path / "home") as (api, env):
        procs = [subprocess.Popen([*DIGITS, "--artifacts", str(registered_artifacts), "predict", str(folder),
                                   "--out", str(tmp_path / f"out{i}.csv"), "--workers", "1"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, folder in enumerate(folders)]
        results = [(p, *p.communicate(timeout=300)) for p in procs]
        for proc, _, stderr in results:
            assert proc.returncode == 0 and "Traceback" not in stderr, stderr
            assert not [line for line in stderr.splitlines() if line.startswith(("error", "warning"))], stderr
        runs = api_post(api, "/flow_runs/filter", {"flows": {"name": {"any_": ["digits-predict"]}}})
    for i in range(8):
        with open(tmp_path / f"out{i}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 30 and all(r["status"] in ("ok", "several_digits", "low_confidence") for r in rows)
    assert len(runs) == 8 and {r["state"]["type"] for r in runs} == {"COMPLETED"}
