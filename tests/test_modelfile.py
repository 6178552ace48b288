"""Model files load without pickle and refuse tampering; the original's Theta files and predict()."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from bench import plain_reference
from nnmodel.errors import ModelFileError
from nnmodel.model import modelfile, original
from tests.helpers.models import trained_like


def edit_metadata(folder, change):
    meta = json.loads((folder / "model.json").read_text())
    change(meta)
    (folder / "model.json").write_text(json.dumps(meta))


def test_roundtrip_keeps_predictions_and_metadata(tmp_path):
    net = trained_like()
    modelfile.save_model(net, tmp_path, {"metrics": {"test": {"accuracy": 0.5}}})
    back, meta = modelfile.load_model(tmp_path)
    X = np.random.default_rng(1).random((50, 784)).astype(np.float32)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    assert meta["metrics"]["test"]["accuracy"] == 0.5 and meta["network"]["hidden_sizes"] == [7]


def test_tampered_weights_are_refused(tmp_path):
    modelfile.save_model(trained_like(), tmp_path)
    data = bytearray((tmp_path / "model.npz").read_bytes())
    data[-200] ^= 1
    (tmp_path / "model.npz").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"model.npz: SHA-256 does not match model.json"):
        modelfile.load_model(tmp_path)


def test_weights_that_do_not_match_the_metadata_are_refused(tmp_path):
    modelfile.save_model(trained_like(hidden=(7,)), tmp_path)
    edit_metadata(tmp_path, lambda meta: meta["network"].update(hidden_sizes=[8]))
    with pytest.raises(ModelFileError, match="layer 0 weights do not match the 784-8-10 network"):
        modelfile.load_model(tmp_path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    import hashlib

    modelfile.save_model(trained_like(), tmp_path)
    buffer = io.BytesIO()
    np.savez(buffer, W0=np.array([object()], dtype=object), b0=np.zeros(7), W1=np.zeros((10, 7)), b1=np.zeros(10))
    (tmp_path / "model.npz").write_bytes(buffer.getvalue())
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()  # a consistent but hostile pair
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="model.npz: unreadable weights"):
        modelfile.load_model(tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["network"].update(output="linear"), "bad network description .output must be one of"),
    (lambda m: m["network"].update(dtype="float16"), "bad network description .dtype must be one of"),
    (lambda m: m["network"].update(hidden_sizes="7"), "hidden_sizes must be a list"),
    (lambda m: m["network"].update(hidden_sizes=[10**9]), "hidden_sizes must be a list of whole numbers"),
    (lambda m: m["network"].update(lam="0.1"), "lam must be a finite number"),
    (lambda m: m["network"].update(rogue=1), "unknown network parameter 'rogue'"),
    (lambda m: m.update(network=[1, 2]), "'network' is not an object"),
    (lambda m: m.update(format="digits-model/9"), "format 'digits-model/9' is not one of"),
    (lambda m: m.update(npz_sha256=5), "'npz_sha256' is not a SHA-256"),
])
def test_tampered_metadata_is_refused_before_any_array_is_read(tmp_path, change, message):
    modelfile.save_model(trained_like(), tmp_path)
    edit_metadata(tmp_path, change)
    (tmp_path / "model.npz").write_bytes(b"never read")
    with pytest.raises(ModelFileError, match=f"model.json: .*{message}"):
        modelfile.load_model(tmp_path)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\x00\xff"])
def test_malformed_metadata_is_one_line(tmp_path, text):
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(ModelFileError, match="model.json: ") as caught:
        modelfile.load_model(tmp_path)
    assert "\n" not in str(caught.value)


def test_models_of_the_first_format_still_load(tmp_path):
    net = trained_like()
    modelfile.save_model(net, tmp_path)
    edit_metadata(tmp_path, lambda m: m.update(format="digits-model/1", network={
        "hidden_sizes": [7], "hidden": "sigmoid", "output": "softmax", "lam": 0.1, "dtype": "float32", "seed": 0,
        "init_scale": 0.05, "n_inputs": 784, "n_classes": 10}))
    back, _ = modelfile.load_model(tmp_path)
    X = np.random.default_rng(1).random((20, 784)).astype(np.float32)
    assert back.activation == "sigmoid"
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match=r"model.json: no model metadata"):
        modelfile.load_model(tmp_path)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_theta_export_import_and_original_predict(tmp_path, output):
    net = trained_like(hidden=(100,), output=output)
    original.save_thetas(net, tmp_path)
    Theta1, Theta2 = np.loadtxt(tmp_path / "Theta1.txt"), np.loadtxt(tmp_path / "Theta2.txt")
    assert Theta1.shape == (100, 785) and Theta2.shape == (10, 101)
    X = np.random.default_rng(2).random((300, 784))
    ours = net.predict(X.astype(np.float32))
    with np.errstate(over="ignore"):
        reference = plain_reference.predict(Theta1, Theta2, X)  # the original function, verbatim
    np.testing.assert_array_equal(original.predict(Theta1, Theta2, X), reference)
    assert np.mean(ours == reference) > 0.99  # float32 vs float64 may flip a near-tie
    back = original.load_thetas(tmp_path)
    np.testing.assert_array_equal(back.predict(X), reference)


def test_theta_files_with_wrong_shape_name_the_file(tmp_path):
    np.savetxt(tmp_path / "Theta1.txt", np.zeros((100, 784)))
    np.savetxt(tmp_path / "Theta2.txt", np.zeros((10, 101)))
    with pytest.raises(ModelFileError, match=r"Theta1.txt: shape \(100, 784\), expected \(hidden, 785\)"):
        original.load_thetas(tmp_path)
    (tmp_path / "Theta1.txt").write_text("not numbers\n")
    with pytest.raises(ModelFileError, match="Theta1.txt: not a numeric text matrix"):
        original.load_thetas(tmp_path)
