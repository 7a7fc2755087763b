"""relative_error and rmse: dense, masked and sparse data, checked against numpy."""

import numpy as np
import pytest

import tnkit as tk

rng = np.random.default_rng(3)
X = rng.standard_normal((6, 7, 8))
MODEL = tk.tt(X, rank=3)
DENSE = MODEL.to_tensor()
MASK = rng.random(X.shape) < 0.3


def _rel(diff, ref):
    return np.linalg.norm(diff) / np.linalg.norm(ref)


def test_dense_data_with_and_without_a_mask():
    assert tk.relative_error(MODEL, X) == pytest.approx(_rel(X - DENSE, X), rel=1e-12)
    assert tk.rmse(MODEL, X) == pytest.approx(np.sqrt(np.mean((X - DENSE) ** 2)), rel=1e-12)
    holey = np.where(MASK, X, np.nan)
    want = _rel((X - DENSE)[MASK], X[MASK])
    assert tk.relative_error(MODEL, holey, mask=MASK) == pytest.approx(want, rel=1e-12)
    assert tk.rmse(MODEL, holey, mask=MASK) == pytest.approx(
        np.sqrt(np.mean((X - DENSE)[MASK] ** 2)), rel=1e-12
    )
    # a dense array as the model gives the same numbers
    assert tk.relative_error(DENSE, X) == pytest.approx(tk.relative_error(MODEL, X), rel=1e-14)


def test_sparse_data_never_made_dense():
    seen = tk.SparseTensor.from_dense(X, mask=MASK)  # unlisted entries are missing
    assert tk.relative_error(MODEL, seen) == pytest.approx(
        _rel((X - DENSE)[MASK], X[MASK]), rel=1e-12
    )
    assert tk.rmse(MODEL, seen) == pytest.approx(np.sqrt(np.mean((X - DENSE)[MASK] ** 2)))
    zeros = np.where(MASK, X, 0.0)
    sparse = tk.SparseTensor.from_dense(zeros)  # unlisted entries are zero
    assert sparse.unlisted == "zero"
    assert tk.relative_error(MODEL, sparse) == pytest.approx(_rel(zeros - DENSE, zeros), rel=1e-10)
    assert tk.rmse(MODEL, sparse) == pytest.approx(np.sqrt(np.mean((zeros - DENSE) ** 2)))


def test_torch_data_and_model():
    torch = pytest.importorskip("torch")
    want = tk.relative_error(MODEL, X)
    assert tk.relative_error(MODEL.to("torch"), torch.tensor(X)) == pytest.approx(want, rel=1e-12)
    seen = tk.SparseTensor.from_dense(torch.tensor(X), mask=torch.tensor(MASK))
    assert tk.relative_error(MODEL, seen) == pytest.approx(
        tk.relative_error(MODEL, tk.SparseTensor.from_dense(X, mask=MASK)), rel=1e-12
    )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: tk.relative_error(MODEL, X[:5]), ValueError, "model has shape"),
        (lambda: tk.relative_error("model", X), TypeError, "model must be a TensorNetwork"),
        (lambda: tk.relative_error(MODEL, X, mask=MASK[:5]), ValueError, "mask has shape"),
        (lambda: tk.relative_error(MODEL, np.zeros_like(X)), ValueError, "undefined"),
        (lambda: tk.relative_error(MODEL, np.where(MASK, np.nan, X)), ValueError, "NaN"),
        (
            lambda: tk.relative_error(DENSE, tk.SparseTensor.from_dense(X)),
            TypeError,
            "TensorNetwork for sparse data",
        ),
        (
            lambda: tk.relative_error(MODEL, tk.SparseTensor.from_dense(X), mask=MASK),
            TypeError,
            "mask= is for dense data",
        ),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
