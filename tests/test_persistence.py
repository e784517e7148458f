"""model.save / gd.load: no pickle, bit-identical round trips, atomic writes, clear errors."""

import json
import zipfile

import numpy as np
import pytest

import gdlab as gd
from gdlab.io import persistence
from gdlab.io.persistence import FORMAT_VERSION, ModelFileError
from gdlab.io.preprocessing import Preprocessor
from gdlab.train.saving import load_saved


def trained(optimizer="adam", dtype="float64", loss="poisson", hidden=(5, 3)):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 4)).astype(dtype)
    e = rng.uniform(0.2, 1.0, 80)
    y = rng.poisson(e * np.exp(0.3 * X[:, 0]))
    layers = [gd.Dense(h, activation="tanh") for h in hidden]
    layers.append(gd.Dense(1, activation="exponential"))
    model = gd.Sequential(layers, input_dim=4, seed=0, dtype=dtype)
    model.compile(loss=loss, optimizer=optimizer)
    model.fit(X, y, exposure=e, batch_size=16, epochs=3, verbose=0, executor="numpy")
    return model, X, y, e


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_round_trip_is_bit_identical(tmp_path, optimizer):
    model, X, _, e = trained(optimizer)
    model.save(tmp_path / "m.npz")
    again = gd.load(tmp_path / "m.npz")
    assert again.theta.tobytes() == model.theta.tobytes()
    assert again.predict(X).tobytes() == model.predict(X).tobytes()
    assert again.predict(X, exposure=e).tobytes() == model.predict(X, exposure=e).tobytes()
    assert again.get_config() == model.get_config()
    assert again.param_names == model.param_names


def test_float32_and_tweedie_round_trip(tmp_path):
    model, X, _, _ = trained(dtype="float32", loss=gd.losses.get("tweedie", power=1.3))
    model.save(tmp_path / "m.npz")
    again = gd.load(tmp_path / "m.npz")
    assert again.theta.dtype == np.float32 and again.loss.power == 1.3
    assert again.predict(X).tobytes() == model.predict(X).tobytes()


def test_training_resumes_exactly(tmp_path):
    """Saved optimizer state and step count: continuing after a load = never stopping."""
    model, X, y, e = trained("adam")
    model.save(tmp_path / "m.npz")
    again = gd.load(tmp_path / "m.npz")
    assert again.step_count == model.step_count
    model.fit(X, y, exposure=e, batch_size=16, epochs=2, verbose=0, seed=5, executor="numpy")
    again.fit(X, y, exposure=e, batch_size=16, epochs=2, verbose=0, seed=5, executor="numpy")
    assert again.theta.tobytes() == model.theta.tobytes()


def test_history_and_preprocessing_are_kept(tmp_path):
    import pandas as pd

    model, _, _, _ = trained()
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": ["x", "y", "x"]})
    prep = Preprocessor.fit(frame, ["a", "b"])
    model.save(tmp_path / "m.npz", preprocessing=prep, metadata={"target": "t"})
    saved = load_saved(tmp_path / "m.npz")
    assert saved.metadata == {"target": "t"}
    assert saved.preprocessing.get_config() == prep.get_config()
    assert saved.model.history.history == model.history.history


def test_no_pickle_inside(tmp_path):
    model, _, _, _ = trained()
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        description = json.loads(archive["gdlab_model"].tobytes())
    assert description["format"] == "gdlab-model"
    assert description["format_version"] == FORMAT_VERSION


def test_run_folder_loads_its_model(tmp_path):
    model, X, _, _ = trained()
    model.save(tmp_path / "model.npz")
    assert gd.load(tmp_path).predict(X).tobytes() == model.predict(X).tobytes()


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    model, X, _, _ = trained()
    path = tmp_path / "m.npz"
    model.save(path)
    good = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def rewrite(path, target, change):
    """Copy the archive at ``path`` to ``target``, changing its description."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    description = json.loads(arrays["gdlab_model"].tobytes())
    change(description, arrays)
    arrays["gdlab_model"] = np.frombuffer(json.dumps(description).encode(), dtype=np.uint8)
    np.savez(target, **arrays)


@pytest.fixture
def saved_file(tmp_path):
    model, _, _, _ = trained()
    return model.save(tmp_path / "m.npz")


def test_truncated_file(saved_file, tmp_path):
    raw = saved_file.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 30):
        (tmp_path / "cut.npz").write_bytes(raw[:cut])
        with pytest.raises(ModelFileError, match="truncated or corrupted"):
            gd.load(tmp_path / "cut.npz")


def test_corrupted_theta_bytes(saved_file, tmp_path):
    raw = bytearray(saved_file.read_bytes())
    with zipfile.ZipFile(saved_file) as archive:
        info = archive.getinfo("theta.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[offset] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupted"):
        gd.load(tmp_path / "bad.npz")


def test_theta_not_matching_its_checksum(saved_file, tmp_path):
    def change(description, arrays):
        arrays["theta"] = arrays["theta"] + 1e-12

    rewrite(saved_file, tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError, match="checksum"):
        gd.load(tmp_path / "bad.npz")


def test_newer_version(saved_file, tmp_path):
    def change(description, arrays):
        description["format_version"] = FORMAT_VERSION + 1

    rewrite(saved_file, tmp_path / "new.npz", change)
    with pytest.raises(ModelFileError, match=f"newer gdlab \\(model format {FORMAT_VERSION + 1}"):
        gd.load(tmp_path / "new.npz")


@pytest.mark.parametrize("content", [b"", b"hello, I am text", b"\x93NUMPY binary"],
                         ids=["empty", "text", "npy"])
def test_non_gdlab_files(tmp_path, content):
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(ModelFileError, match="not a gdlab model file"):
        gd.load(tmp_path / "x.npz")


def test_other_npz_archive(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ModelFileError, match="not a gdlab model file"):
        gd.load(tmp_path / "other.npz")


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        gd.load(tmp_path / "absent.npz")


def test_unbuilt_model_cannot_be_saved(tmp_path):
    model = gd.Sequential([gd.Dense(1)])
    with pytest.raises(ValueError, match="no input dimension"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []
