"""Model files load without pickle and refuse tampering; the original's Theta files and predict()."""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest

from bench import plain_reference
from nnmodel.errors import ModelFileError
from nnmodel.model import modelfile, original
from tests.helpers.models import trained_like
from tests.helpers.processes import run_digits


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
    assert meta["metrics"]["test"]["accuracy"] == 0.5 and meta["params"]["hidden_sizes"] == [7]
    assert meta["format"] == "digits-model/3" and meta["family"] == "mlp"
    modelfile.save_model(back, tmp_path / "again")
    assert (tmp_path / "again" / "model.npz").read_bytes() == (tmp_path / "model.npz").read_bytes()


def test_tampered_weights_are_refused(tmp_path):
    modelfile.save_model(trained_like(), tmp_path)
    data = bytearray((tmp_path / "model.npz").read_bytes())
    data[-200] ^= 1
    (tmp_path / "model.npz").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"model.npz: SHA-256 does not match model.json"):
        modelfile.load_model(tmp_path)


def test_weights_that_do_not_match_the_metadata_are_refused(tmp_path):
    modelfile.save_model(trained_like(hidden=(7,)), tmp_path)
    edit_metadata(tmp_path, lambda meta: meta["params"].update(hidden_sizes=[8]))
    with pytest.raises(ModelFileError, match=r"model.npz: array W0 is \(7, 784\), expected \(8, 784\)"):
        modelfile.load_model(tmp_path)


def test_a_header_claiming_a_huge_array_is_refused_before_it_is_read(tmp_path):
    """A model.npz whose W0 header says 100000x100000 float32 (37 GB), digest updated to match: refused
    from the header, without allocating."""
    import hashlib
    import zipfile

    modelfile.save_model(trained_like(), tmp_path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100_000, 100_000)})
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("W0.npy", header.getvalue() + b"\0" * 64)  # magic and header, no data
        for name, shape in (("b0", (7,)), ("W1", (10, 7)), ("b1", (10,))):
            one = io.BytesIO()
            np.save(one, np.zeros(shape, np.float32))
            archive.writestr(f"{name}.npy", one.getvalue())
    (tmp_path / "model.npz").write_bytes(npz.getvalue())
    edit_metadata(tmp_path, lambda m: m.update(npz_sha256=hashlib.sha256(npz.getvalue()).hexdigest()))
    with pytest.raises(ModelFileError, match=r"model.npz: array W0 is \(100000, 100000\), expected \(7, 784\)"):
        modelfile.load_model(tmp_path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    import hashlib

    modelfile.save_model(trained_like(), tmp_path)
    buffer = io.BytesIO()
    np.savez(buffer, W0=np.full((7, 784), object()), b0=np.zeros(7), W1=np.zeros((10, 7)), b1=np.zeros(10))
    (tmp_path / "model.npz").write_bytes(buffer.getvalue())
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["npz_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()  # a consistent but hostile pair
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="model.npz: array W0 is object, not floating point"):
        modelfile.load_model(tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["params"].update(output="linear"), "bad mlp description .output must be one of"),
    (lambda m: m["params"].update(dtype="float16"), "bad mlp description .dtype must be one of"),
    (lambda m: m["params"].update(hidden_sizes="7"), "hidden_sizes must be a list"),
    (lambda m: m["params"].update(hidden_sizes=[10**9]), "hidden_sizes must be a list of whole numbers"),
    (lambda m: m["params"].update(lam="0.1"), "lam must be a finite number"),
    (lambda m: m["params"].update(rogue=1), "the mlp family has no parameter 'rogue'"),
    (lambda m: m.update(params=[1, 2]), "'params' is not an object"),
    (lambda m: m.update(family="forest"), "unknown model family 'forest'"),
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


def old_format(meta: dict, version: int) -> dict:
    """model.json as digits-model/1 or /2 wrote it: the MLP's parameters as "network" (with the
    distortion settings /2 kept there; /1 named the activation "hidden"), no family."""
    network = {**meta.pop("params"), "copies": 1, "distortions": ["affine"]}
    if version == 1:
        network["hidden"] = network.pop("activation")
        del network["copies"], network["distortions"]
    del meta["family"]
    return {**meta, "format": f"digits-model/{version}", "network": network}


@pytest.mark.parametrize("version", [1, 2])
def test_models_of_older_formats_still_load(tmp_path, version):
    net = trained_like()
    modelfile.save_model(net, tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(old_format(meta, version)))
    back, record = modelfile.load_model(tmp_path)
    X = np.random.default_rng(1).random((20, 784)).astype(np.float32)
    assert back.activation == "sigmoid" and record["family"] == "mlp" and "copies" not in record["params"]
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


def test_theta_files_that_are_empty_folders_or_binary_name_the_file(tmp_path):
    (tmp_path / "Theta1.txt").write_text("")
    (tmp_path / "Theta2.txt").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning on the way
        with pytest.raises(ModelFileError, match=r"Theta1.txt: is empty \(expected the original project's Theta1"):
            original.load_thetas(tmp_path)
    (tmp_path / "Theta1.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelFileError, match="Theta1.txt: not a numeric text matrix"):
        original.load_thetas(tmp_path)
    (tmp_path / "Theta1.txt").unlink()
    (tmp_path / "Theta1.txt").mkdir()
    with pytest.raises(ModelFileError, match="Theta1.txt: is a folder, not the original project's Theta1.txt"):
        original.load_thetas(tmp_path)


def test_gui_with_bad_theta_files_stops_in_one_line_before_any_window(tmp_path):
    (tmp_path / "Theta1.txt").write_text("")
    (tmp_path / "Theta2.txt").write_text("")
    done = run_digits(["gui", "--theta", str(tmp_path)], env={"DISPLAY": ""})
    assert done.returncode == 1
    empty = tmp_path / "Theta1.txt"
    assert done.stderr.strip() == f"error: {empty}: is empty (expected the original project's Theta1.txt)"
