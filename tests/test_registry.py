"""Registry: versions appear whole, promotion only when better (or forced), concurrency-safe."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from nnmodel.errors import ModelFileError, SetupError
from nnmodel.model import modelfile
from nnmodel.store.registry import Registry
from tests.helpers.models import trained_like


def add_version(registry: Registry, val_acc: float) -> str:
    with registry.new_version() as (staging, version):
        modelfile.save_model(trained_like(), staging, {"metrics": {"validation": {"accuracy": val_acc}}})
    return version


def test_promotes_only_better_models_unless_forced(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(SetupError, match="no trained model .* run `digits train` first"):
        registry.resolve()
    first = add_version(registry, 0.95)
    assert registry.promote(first)["reason"] == "no current model"
    worse = add_version(registry, 0.90)
    decision = registry.promote(worse)
    assert not decision["promoted"] and decision["current_val_accuracy"] == 0.95
    assert registry.current()["version"] == first
    better = add_version(registry, 0.97)
    assert registry.promote(better)["promoted"]
    assert registry.resolve() == tmp_path / "models" / better
    assert registry.promote(worse, force=True)["reason"] == "forced"
    assert registry.current()["version"] == worse
    log = [json.loads(line) for line in (tmp_path / "models" / "promotions.jsonl").read_text().splitlines()]
    assert [d["promoted"] for d in log] == [True, False, True, True]


def test_failed_write_leaves_no_version(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RuntimeError), registry.new_version() as (staging, _):
        (staging / "model.npz").write_bytes(b"half")
        raise RuntimeError("killed")
    assert registry.versions() == []
    assert [p.name for p in (tmp_path / "models").iterdir()] == []


def worker(root: str, accs: list[float]) -> None:
    registry = Registry(root)
    for acc in accs:
        registry.promote(add_version(registry, acc))


def test_concurrent_registrations_never_corrupt(tmp_path):
    accs = [[0.90 + i / 1000 for i in range(0, 20, 2)], [0.90 + i / 1000 for i in range(1, 20, 2)]]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(str(tmp_path), a)) for a in accs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    registry = Registry(tmp_path)
    assert len(registry.versions()) == 20
    current = registry.current()
    assert registry.metadata(current["version"])["metrics"]["validation"]["accuracy"] == pytest.approx(0.919)
    lines = (tmp_path / "models" / "promotions.jsonl").read_text().splitlines()
    assert len(lines) == 20 and all(json.loads(line) for line in lines)


@pytest.mark.parametrize("text", ["{", "[]", '{"version": 5}', '{"other": "x"}', ""])
def test_a_malformed_current_record_is_one_line_and_a_forced_promotion_repairs_it(tmp_path, text):
    registry = Registry(tmp_path)
    version = add_version(registry, 0.9)
    (tmp_path / "models" / "current.json").write_text(text)
    with pytest.raises(ModelFileError, match="current.json: ") as caught:
        registry.resolve()
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelFileError):
        registry.promote(version)
    assert registry.promote(version, force=True)["promoted"]
    assert registry.resolve() == tmp_path / "models" / version


@pytest.mark.parametrize("name", ["../models", ".hidden", "", "a/b"])
def test_version_names_cannot_leave_the_registry(tmp_path, name):
    with pytest.raises(SetupError, match="not a model version name"):
        Registry(tmp_path).path(name)
