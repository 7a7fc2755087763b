import subprocess
import sys

import numpy as np
import pytest

from tnkit import backend, checks


def test_numpy_path_imports_neither_torch_nor_cupy():
    code = (
        "import sys, numpy as np, tnkit as tk\n"
        "net = tk.TensorNetwork().add_node('A', np.ones((2, 3)), ('i', 'j'))\n"
        "net.contract(); net.norm(); tk.linalg.truncated_svd(np.ones((5, 4)), rank=2)\n"
        "assert 'torch' not in sys.modules and 'cupy' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_names_and_moves():
    torch = pytest.importorskip("torch")
    x = np.arange(6.0).reshape(2, 3)
    t = backend.to_backend(x, "torch")
    assert backend.backend_name(t) == "torch" and backend.device(t) == "cpu"
    assert backend.backend_name(x) == "numpy" and backend.device(x) == "cpu"
    np.testing.assert_array_equal(backend.to_numpy(t), x)
    assert backend.to_backend(x, "numpy") is x
    like = backend.asarray_like([1, 2], t)
    assert isinstance(like, torch.Tensor) and like.dtype == torch.float64


def test_random_normal_is_backend_independent():
    torch = pytest.importorskip("torch")
    a = backend.random_normal((3, 2), np.zeros(1), np.random.default_rng(5))
    b = backend.random_normal((3, 2), torch.zeros(1, dtype=torch.float64), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b.numpy())
    c = backend.random_normal((3,), np.zeros(1, dtype=complex), np.random.default_rng(5))
    assert np.iscomplexobj(c)


def test_dtype_helpers():
    assert backend.real_dtype_name(np.zeros(1, np.complex64)) == "float32"
    assert backend.is_complex(np.zeros(1, np.complex128))
    assert backend.eps(np.zeros(1, np.float32)) == pytest.approx(np.finfo(np.float32).eps)


def test_as_data_tensor_validation():
    assert backend.as_data_tensor(np.arange(4)).dtype == np.float64
    assert backend.as_data_tensor([[1.0, 2.0]]).shape == (1, 2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        backend.as_data_tensor(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="at least 2 modes"):
        backend.as_data_tensor(np.ones(3), min_ndim=2)
    with pytest.raises(ValueError, match="empty mode"):
        backend.as_data_tensor(np.ones((0, 2)))
    with pytest.raises(TypeError, match="float or complex"):
        backend.as_data_tensor(np.array(["a"]))
    with pytest.raises(TypeError, match="x must be a numpy"):
        backend.as_data_tensor({"a": 1})
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.native("jax")


def test_describe_devices_lists_the_cpu():
    lines = backend.describe_devices()
    assert lines[0].startswith("cpu:")


def test_argument_checks_name_the_argument():
    assert checks.check_int(np.int64(3), "n") == 3
    assert checks.check_int(None, "n", optional=True) is None
    for bad in (True, "3", 2.5):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            checks.check_int(bad, "n")
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        checks.check_int(-1, "n", 0)
    assert checks.check_real(0.5, "tol", low=0, high=1, open_low=True, open_high=True) == 0.5
    for bad in (0, 1, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="tol"):
            checks.check_real(bad, "tol", low=0, high=1, open_low=True, open_high=True)
    assert checks.check_seed(np.int64(4)) == 4
    rng = np.random.default_rng(0)
    assert checks.check_seed(rng, generator=True) is rng
    for bad in (-1, "a", 1.5, True, None, [1, 2]):
        with pytest.raises(ValueError, match="seed"):
            checks.check_seed(bad)


def test_as_node_array_and_ragged_data():
    assert backend.as_node_array([[1, 2], [3, 4]], "node").dtype == np.float64
    with pytest.raises(ValueError, match="x must be a rectangular array"):
        backend.as_data_tensor([[1, 2], [3]])
    with pytest.raises(ValueError, match="node must be a rectangular array"):
        backend.as_node_array([[1, 2], [3]], "node")
    with pytest.raises(TypeError, match="node must have a float or complex dtype"):
        backend.as_node_array(np.ones(2, dtype=np.float16), "node")
    with pytest.raises(ValueError, match="device"):
        backend.to_backend(np.ones(2), "numpy", "cuda")
