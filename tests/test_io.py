import numpy as np
import pytest

import tnkit as tk


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
