"""How well a model fits data: relative error and RMSE, on dense or sparse data.

For a model :math:`\\hat X` (any network or format, or a dense array) and data :math:`X`,

.. math::

    \\varepsilon = \\frac{\\lVert X - \\hat X\\rVert_\\Omega}{\\lVert X\\rVert_\\Omega},
    \\qquad \\mathrm{RMSE} = \\frac{\\lVert X - \\hat X\\rVert_\\Omega}{\\sqrt{|\\Omega|}},

where :math:`\\Omega` is the set of entries the data hold: every entry of a dense array, the
``True`` entries of a ``mask``, the listed entries of a :class:`~tnkit.sparse.SparseTensor`
whose unlisted entries are missing, and every entry of one whose unlisted entries are zero.
A sparse tensor is never made dense: the model is evaluated at its listed entries
(:meth:`~tnkit.network.TensorNetwork.entries`), and with unlisted zeros the rest of the
residual is :math:`\\lVert\\hat X\\rVert^2 - \\sum_{\\text{listed}} \\hat x_e^2`, from the
network's norm.
"""

from __future__ import annotations

import math
from typing import Any

from . import backend
from .network import TensorNetwork
from .sparse import SparseTensor


def relative_error(model: Any, data: Any, mask: Any = None) -> float:
    """``||data - model|| / ||data||`` over the entries the data hold (module docstring).

    Parameters
    ----------
    model : a TensorNetwork (any format) or a dense array of the data's shape.
    data : a dense array (numpy, torch or cupy) or a :class:`~tnkit.sparse.SparseTensor`.
    mask : for dense data, a boolean array of its shape, True where an entry is observed
        (NaN may stand at the others).
    """
    res2, ref2, _ = _residual(model, data, mask)
    if ref2 == 0.0:
        raise ValueError("data are zero on every entry they hold: the relative error is undefined")
    return math.sqrt(res2 / ref2)


def rmse(model: Any, data: Any, mask: Any = None) -> float:
    """Root-mean-square error over the entries the data hold; arguments as in
    :func:`relative_error`."""
    res2, _, count = _residual(model, data, mask)
    if count == 0:
        raise ValueError("data hold no entries: the RMSE is undefined")
    return math.sqrt(res2 / count)


def _residual(model: Any, data: Any, mask: Any) -> tuple[float, float, int]:
    """``(||data - model||², ||data||², number of entries)`` over the entries held."""
    from .decompose._common import check_masked_data

    if isinstance(data, SparseTensor):
        if mask is not None:
            raise TypeError("mask= is for dense data; a SparseTensor lists its entries")
        return _sparse_residual(model, data)
    x, w = check_masked_data(data, mask, "data")
    shape = tuple(model.shape) if _is_model(model) else None
    if shape != tuple(x.shape):
        raise ValueError(f"model has shape {shape}, data {tuple(x.shape)}: they must match")
    approx = model.to_tensor() if isinstance(model, TensorNetwork) else model
    diff = x - backend.asarray_like(approx, x)
    if w is None:
        return _sum2(diff), _sum2(x), math.prod(x.shape)
    return _sum2(w * diff), _sum2(w * x), round(float(backend.namespace(w).sum(w)))


def _sparse_residual(model: Any, data: SparseTensor) -> tuple[float, float, int]:
    if not isinstance(model, TensorNetwork):
        raise TypeError(
            f"model must be a TensorNetwork for sparse data, got {type(model).__name__}"
        )
    if tuple(model.shape) != tuple(data.shape):
        raise ValueError(f"model has shape {model.shape}, data {data.shape}: they must match")
    values = backend.asarray_like(model.entries(data.indices), data.values)
    listed = _sum2(data.values - values)
    ref2 = _sum2(data.values)
    if data.unlisted == "missing":
        return listed, ref2, data.nnz
    rest = max(model.norm() ** 2 - _sum2(values), 0.0)  # the model at the unlisted zeros
    return listed + rest, ref2, math.prod(data.shape)


def _sum2(a: Any) -> float:
    xp = backend.namespace(a)
    return float(xp.sum(xp.abs(a) ** 2))


def _is_model(model: Any) -> bool:
    if isinstance(model, TensorNetwork):
        return True
    try:
        backend.backend_name(model)
    except TypeError:
        raise TypeError(
            f"model must be a TensorNetwork or an array, got {type(model).__name__}"
        ) from None
    return hasattr(model, "shape")
