"""Atomic writes: whole or nothing, never overwriting where asked, and the leftovers of killed
processes removed by the next command (only theirs: a live process keeps its work in progress)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nnmodel import atomic
from nnmodel.store.layout import Layout


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_folders_appear_whole_and_never_replace_when_asked_not_to(tmp_path):
    with atomic.atomic_dir(tmp_path / "v1") as tmp:
        (tmp / "f").write_text("x")
    with pytest.raises(FileExistsError), atomic.atomic_dir(tmp_path / "v1", replace=False) as tmp:
        (tmp / "g").write_text("y")
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == ["f"] and len(list(tmp_path.iterdir())) == 1


def test_new_files_never_overwrite(tmp_path):
    names = iter(["a", "a", "b"])
    first = atomic.write_new_file(tmp_path, lambda: next(names), b"1")
    second = atomic.write_new_file(tmp_path, lambda: next(names), b"2")
    assert (first.name, second.name) == ("a", "b") and first.read_bytes() == b"1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_owner_tokens_tell_live_processes_from_dead_ones():
    assert atomic.owner_alive(atomic.owner_token())
    assert not atomic.owner_alive(atomic.owner_token(dead_pid()))
    assert not atomic.owner_alive(f"{os.getpid()}-1")  # the same pid, started at another time: reused


def test_stale_leftovers_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    layout = Layout(tmp_path)
    dead = atomic.owner_token(dead_pid())
    leftovers = [layout.data / f".mnist-abc.{dead}.1a2b3c4d.partial", layout.models / f".20260101.{dead}.aa.partial",
                 layout.runs / "x" / f".run.json.{dead}.bb.partial", layout.reports / f".r.{dead}.cc.old"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if path.suffix == ".old" else path.write_text("half")
    live = layout.data / f".mnist-def.{atomic.owner_token()}.0a0b0c0d.partial"
    live.mkdir()
    old_style = layout.raw / ".mnist-123.abcdefgh.partial"  # no owner token (an older version), a day old
    old_style.parent.mkdir(parents=True, exist_ok=True)
    old_style.write_text("half")
    os.utime(old_style, (time.time() - 2 * 86400,) * 2)
    kept = layout.predictions / "results.csv"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("mine\n")
    removed = layout.remove_stale()
    assert sorted(removed) == sorted([*leftovers, old_style])
    assert live.exists() and kept.exists() and not any(p.exists() for p in leftovers)
