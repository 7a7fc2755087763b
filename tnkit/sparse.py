"""Sparse data tensors: the listed entries of a tensor too large, or too empty, to store densely.

A :class:`SparseTensor` holds coordinates ``indices`` (nnz × N integers) and ``values`` (nnz,)
of a tensor of ``shape``. What the unlisted entries are is part of the data:

* ``unlisted="zero"`` — they are zeros (counts, co-occurrences, interaction tensors);
* ``unlisted="missing"`` — they are unknown (ratings, measurements: tensor completion).

:func:`tnkit.cp` fits either kind without ever forming the dense tensor
(:mod:`tnkit.decompose.cp_sparse`).
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any

import numpy as np

from . import backend, checks

UNLISTED = ("zero", "missing")


class SparseTensor:
    """A tensor given by its listed entries (coordinate format).

    Parameters
    ----------
    indices : (nnz, N) integer array (numpy, torch or cupy); row ``e`` is the index of entry
        ``e``. No index may repeat.
    values : (nnz,) float or complex array of the same backend: the entries' values (finite).
    shape : the tensor's shape (N positive integers).
    unlisted : ``"zero"`` (the other entries are 0) or ``"missing"`` (they are unknown).
    """

    def __init__(self, indices: Any, values: Any, shape: Any, unlisted: str = "zero") -> None:
        if unlisted not in UNLISTED:
            raise ValueError(f"unlisted must be one of {UNLISTED}, got {unlisted!r}")
        try:
            dims = tuple(int(checks.check_int(d, "each dimension of shape")) for d in shape)
        except TypeError:
            msg = f"shape must be a sequence of positive integers, got {shape!r}"
            raise TypeError(msg) from None
        if not dims:
            raise ValueError("shape must have at least one dimension")
        values = backend.as_node_array(values, "values")
        if values.ndim != 1:
            raise ValueError(f"values must be 1-D (nnz,), got shape {tuple(values.shape)}")
        name = backend.backend_name(values)
        try:
            index_lib = backend.backend_name(indices)
        except TypeError:
            msg = f"indices must be a numpy, torch or cupy array, got {type(indices).__name__}"
            raise TypeError(msg) from None
        if index_lib != name:
            raise TypeError("indices and values must be arrays of the same library")
        host = backend.to_numpy(indices)
        if host.ndim != 2 or host.shape != (int(values.shape[0]), len(dims)):
            raise ValueError(
                f"indices must have shape (nnz, N) = ({int(values.shape[0])}, {len(dims)}), "
                f"got {host.shape}"
            )
        if host.size and not np.issubdtype(host.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {host.dtype}")
        if host.size and ((host < 0).any() or (host >= np.asarray(dims)).any()):
            raise ValueError(f"indices must lie in [0, n_k) for shape {dims}")
        if host.size and np.unique(entry_ids(host, dims)).size != host.shape[0]:
            raise ValueError("indices repeat an entry; sum duplicates before building the tensor")
        self.indices = backend.to_backend(host.astype(np.int64), name, backend.device(values))
        self.values, self.shape, self.unlisted = values, dims, unlisted

    @classmethod
    def from_dense(cls, x: Any, mask: Any = None) -> SparseTensor:
        """The nonzero entries of ``x`` (``unlisted="zero"``), or with a boolean ``mask`` the
        entries where it is True (``unlisted="missing"``)."""
        x = backend.as_data_tensor(x, "x")
        if mask is None:
            keep = backend.to_numpy(x) != 0
        else:
            try:
                keep = np.asarray(backend.to_numpy(mask))
            except TypeError:
                raise TypeError(
                    f"mask must be a boolean array, got {type(mask).__name__}"
                ) from None
        if keep.shape != tuple(x.shape) or keep.dtype != bool:
            raise ValueError(f"mask must be a boolean array of shape {tuple(x.shape)}")
        name, dev = backend.backend_name(x), backend.device(x)
        idx = backend.to_backend(np.argwhere(keep), name, dev)  # row-major, as x[keep]
        values = x[backend.to_backend(keep, name, dev)]
        return cls(idx, values, tuple(x.shape), "zero" if mask is None else "missing")

    @property
    def nnz(self) -> int:
        """Number of listed entries."""
        return int(self.values.shape[0])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> Any:
        return self.values.dtype

    @property
    def density(self) -> float:
        """Listed entries as a fraction of all entries."""
        return self.nnz / math.prod(self.shape)

    def norm(self) -> float:
        """Frobenius norm of the listed values."""
        xp = backend.namespace(self.values)
        return float(xp.linalg.vector_norm(self.values))

    def to_dense(self) -> Any:
        """The dense tensor (unlisted entries 0; also for ``unlisted="missing"``)."""
        xp = backend.namespace(self.values)
        out = xp.zeros(self.shape, dtype=self.values.dtype, **backend.device_kwargs(self.values))
        out[tuple(self.indices[:, k] for k in range(self.ndim))] = self.values
        return out

    def to(self, name: str, device: str | None = None) -> SparseTensor:
        """The same tensor on another backend (``"numpy"``, ``"torch"``, ``"cupy"``)."""
        return SparseTensor(
            backend.to_backend(self.indices, name, device),
            backend.to_backend(self.values, name, device),
            self.shape,
            self.unlisted,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Save as ``.npz`` (arrays ``indices``, ``values``, ``shape`` and ``unlisted``; no
        pickle). :func:`load` reads it back, and ``tnkit decompose`` takes such files."""
        np.savez(
            path,
            indices=backend.to_numpy(self.indices),
            values=backend.to_numpy(self.values),
            shape=np.asarray(self.shape, dtype=np.int64),
            unlisted=np.asarray(self.unlisted),
        )

    def __repr__(self) -> str:
        return (
            f"SparseTensor(shape={self.shape}, nnz={self.nnz:,}, unlisted={self.unlisted!r}, "
            f"backend={backend.backend_name(self.values)})"
        )


FILE_KEYS = ("indices", "values", "shape", "unlisted")


def check_for_fit(x: SparseTensor, mask: Any) -> None:
    """What every decomposition asks of a SparseTensor: no ``mask=`` (its listing says which
    entries count) and at least 2 dimensions."""
    if mask is not None:
        raise TypeError(
            "mask= is for dense x; a SparseTensor lists its entries itself "
            "(unlisted='missing' for completion)"
        )
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions, got shape {x.shape}")


def entry_ids(indices: np.ndarray, dims: tuple[int, ...] | list[int]) -> np.ndarray:
    """One integer per row of ``indices`` (host, (nnz, K)), equal for equal rows: the linear
    index when ``prod(dims)`` fits in int64, else the rank among the distinct rows."""
    if math.prod(dims) < 2**62:
        return np.ravel_multi_index(tuple(indices.T), tuple(dims))
    return np.unique(indices, axis=0, return_inverse=True)[1].ravel()


def holds_sparse(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``.npz`` file written by :meth:`SparseTensor.save`."""
    if not str(path).lower().endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return set(FILE_KEYS) <= set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False  # not a readable .npz: the dense loader names the problem


def load(path: str | os.PathLike) -> SparseTensor:
    """Read a :class:`SparseTensor` saved by :meth:`SparseTensor.save` (numpy arrays)."""
    if not holds_sparse(path):
        raise ValueError(f"{path} is not a sparse tensor file (.npz with {', '.join(FILE_KEYS)})")
    with np.load(path, allow_pickle=False) as data:
        unlisted = str(data["unlisted"])
        return SparseTensor(data["indices"], data["values"], tuple(data["shape"]), unlisted)
