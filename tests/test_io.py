import numpy as np
import pytest

import tnkit as tk
from tnkit import io


def _net(dtype=np.float64):
    rng = np.random.default_rng(0)
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((2, 3, 4)).astype(dtype), ("i", "j", "b"))
    net.add_node("B", rng.standard_normal((4, 5)).astype(dtype), ("b", "k"))
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_round_trip_is_bit_exact(tmp_path, dtype):
    net = _net(dtype)
    path = tmp_path / "net.npz"
    net.save(path)
    back = tk.load(path)
    assert back.nodes == net.nodes
    for name in net.nodes:
        assert back.legs(name) == net.legs(name)
        assert back[name].dtype == net[name].dtype
        assert np.array_equal(back[name], net[name])


def test_torch_network_saves_as_numpy(tmp_path):
    pytest.importorskip("torch")
    net = _net().to("torch")
    tk.save(net, tmp_path / "t.npz")
    back = tk.load(tmp_path / "t.npz")
    assert back.backend == "numpy"
    np.testing.assert_array_equal(back["A"], net["A"].numpy())


def test_pickle_files_are_refused(tmp_path):
    obj = np.array([{"evil": 1}], dtype=object)
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        tk.load_tensor(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", structure=obj)
    with pytest.raises(ValueError, match="pickle"):
        tk.load(tmp_path / "obj.npz")


def test_non_network_npz_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="not a tnkit network"):
        tk.load(tmp_path / "x.npz")


def test_load_tensor_formats(tmp_path):
    x = np.arange(24.0).reshape(2, 3, 4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", data=x)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    from scipy.io import savemat

    savemat(tmp_path / "x.mat", {"data": x})
    assert np.array_equal(tk.load_tensor(tmp_path / "x.npy"), x)
    assert np.array_equal(tk.load_tensor(tmp_path / "x.npz"), x)
    assert np.array_equal(tk.load_tensor(tmp_path / "two.npz", key="b"), x)
    assert np.array_equal(tk.load_tensor(tmp_path / "x.mat"), x)
    with pytest.raises(ValueError, match="pass key="):
        tk.load_tensor(tmp_path / "two.npz")
    with pytest.raises(KeyError, match="no array 'c'"):
        tk.load_tensor(tmp_path / "two.npz", key="c")
    with pytest.raises(ValueError, match="unsupported file type"):
        (tmp_path / "x.csv").write_text("1,2")
        tk.load_tensor(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        tk.load_tensor(tmp_path / "missing.npy")


def test_load_h5_and_image(tmp_path):
    h5py = pytest.importorskip("h5py")
    image = pytest.importorskip("PIL.Image")
    x = np.arange(12.0).reshape(3, 4)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["group/data"] = x
    assert np.array_equal(tk.load_tensor(tmp_path / "x.h5"), x)
    pixels = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    image.fromarray(pixels).save(tmp_path / "img.png")
    np.testing.assert_allclose(tk.load_tensor(tmp_path / "img.png"), pixels / 255.0)


def _structure(**record):
    import json

    base = {"format": "tnkit.network", "version": 1, "class": "TensorNetwork", "nodes": []}
    return np.array(json.dumps({**base, **record}))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.write_bytes(b""), "not a tnkit network file"),
        (lambda p: p.write_bytes(b"not a zip"), "pickle|not a tnkit"),
        (lambda p: np.savez(p, structure=np.array("{not json")), "not a tnkit network file"),
        (lambda p: np.savez(p, structure=np.array("[1, 2]")), "not a tnkit network file"),
        (lambda p: np.savez(p, structure=np.arange(3)), "not a tnkit network file"),
        (lambda p: np.savez(p, structure=_structure(version=99)), "version 99"),
        (lambda p: np.savez(p, structure=_structure(nodes=None)), "malformed"),
        (
            lambda p: np.savez(p, structure=_structure(nodes=[{"name": "A", "legs": ["a"]}])),
            "no array for node 'A'",
        ),
        (
            lambda p: np.savez(
                p,
                structure=_structure(nodes=[{"name": "A", "legs": ["a"]}]),
                **{"node/A": np.array([np.nan, 1.0])},
            ),
            "NaN",
        ),
        (
            lambda p: np.savez(
                p,
                structure=_structure(**{"class": "TT"}, nodes=[{"name": "A", "legs": ["i0", "b"]}]),
                **{"node/A": np.ones((2, 2))},
            ),
            "not a valid tnkit network file",
        ),
    ],
)
def test_malformed_network_files_raise_value_errors(tmp_path, make, match):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(ValueError, match=match):
        tk.load(path)


def test_paths_are_checked(tmp_path):
    with pytest.raises(TypeError, match="path"):
        tk.load(5)
    with pytest.raises(TypeError, match="path"):
        tk.load_tensor(None)
    with pytest.raises(ValueError, match="is a directory"):
        tk.load(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        tk.load_tensor(tmp_path)
    with pytest.raises(TypeError, match="path"):
        _net().save(5)


def test_load_tensor_refuses_non_numeric_and_corrupt_files(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="not numbers"):
        tk.load_tensor(tmp_path / "s.npy")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a valid .npz file"):
        tk.load_tensor(tmp_path / "empty.npz")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        tk.load_tensor(tmp_path / "bad.png")
    np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.ones(3))
    with pytest.raises(KeyError, match="key='zz'"):
        tk.load_tensor(tmp_path / "two.npz", key="zz")
    with pytest.raises(TypeError, match="key"):
        tk.load_tensor(tmp_path / "two.npz", key=3)


def test_formats_keep_their_class_when_loaded_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "tt.npz"
    tk.tt(np.random.default_rng(0).standard_normal((3, 4, 5)), 2).save(path)
    code = f"import tnkit as tk; print(type(tk.load({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TT"


def test_save_record_round_trip_and_bad_arguments(tmp_path):
    path = tmp_path / "rec.npz"
    io.save_record(path, {"format": "x/1", "n": 3}, {"a": np.arange(4.0)})
    meta, arrays = io.load_record(path, "record")
    assert meta == {"format": "x/1", "n": 3} and np.array_equal(arrays["a"], np.arange(4.0))
    assert not (tmp_path / "rec.npz.tmp").exists()
    with pytest.raises(TypeError, match="meta and arrays must be dicts"):
        io.save_record(path, ["x"], {})
    np.save(tmp_path / "plain.npy", np.ones(3))
    with pytest.raises(ValueError, match="is not a record"):
        io.load_record(tmp_path / "plain.npy", "record")
    with pytest.raises(ValueError, match=r"other settings \(n: saved 3, now 4\)"):
        io.check_same_settings(meta, {"n": 4}, path)
