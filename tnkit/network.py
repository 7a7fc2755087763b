"""``TensorNetwork``: named nodes whose axes carry leg labels; contraction is einsum over them.

A label carried once in the whole network is an **open leg** (an index of the represented
tensor); a label on exactly two nodes is a **bond**; on three or more a **hyper-bond** (CP's rank
index); twice on one node a **trace**. The network represents the tensor

    T[open legs] = sum over all other labels of  prod_nodes  A_node[legs of node]

and :meth:`TensorNetwork.contract` evaluates it with a cached opt_einsum plan.

Operations that keep the graph (``copy``, ``conj``, ``to``, ``with_arrays``, ``scale``) keep the
subclass (``TT``, ``CP`` ...); operations that change it (``contract_nodes``, ``split_node``,
``fuse_legs``, ``rename_legs``) return a plain ``TensorNetwork``.
"""

from __future__ import annotations

import copy as _copy
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import backend, contract, display


class TensorNetwork:
    """A tensor network with named nodes and named legs (see the module docstring).

    Examples
    --------
    >>> import numpy as np, tnkit as tk
    >>> net = tk.TensorNetwork()
    >>> net.add_node("A", np.ones((2, 3, 4)), legs=("i", "j", "b"))
    TensorNetwork(nodes=1, open=[i=2, j=3, b=4], bonds={}, n_params=24)
    >>> net.add_node("B", np.ones((4, 5)), legs=("b", "k"))
    TensorNetwork(nodes=2, open=[i=2, j=3, k=5], bonds={'b': 4}, n_params=44)
    >>> net.open_legs, net.contract().shape
    (('i', 'j', 'k'), (2, 3, 5))
    """

    def __init__(self) -> None:
        self._arrays: dict[str, Any] = {}
        self._legs: dict[str, tuple[str, ...]] = {}
        self._plans: dict[Any, Any] = {}

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, data: Any, legs: Iterable[str]) -> TensorNetwork:
        """Add node ``name`` holding array ``data`` whose axes carry ``legs`` (returns self)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"node name must be a non-empty string, got {name!r}")
        if name in self._arrays:
            raise ValueError(f"a node named {name!r} already exists")
        legs = label_tuple(legs, f"legs of node {name!r}")
        data = self._as_node(data, name)
        self._check_legs(name, data, legs)
        self._arrays[name] = data
        self._legs[name] = legs
        self._plans.clear()
        return self

    def _put_node(self, name: str, data: Any, legs: tuple[str, ...]) -> None:
        """:meth:`add_node` without its checks, for formats built by tnkit's own algorithms
        from arrays they made (consistent shapes, one library, finite entries)."""
        self._arrays[name] = data
        self._legs[name] = legs
        self._plans.clear()

    def _check_legs(
        self, name: str, data: Any, legs: tuple[str, ...], exclude: str | None = None
    ) -> None:
        if any(not isinstance(leg, str) or not leg for leg in legs):
            raise TypeError(f"legs of node {name!r} must be non-empty strings, got {legs!r}")
        if len(legs) != data.ndim:
            raise ValueError(
                f"node {name!r} has {data.ndim} axes but {len(legs)} legs were given: {legs!r}"
            )
        dims = self._dims_without(exclude)
        seen: dict[str, int] = {}
        for leg, d in zip(legs, data.shape):
            d = int(d)
            for other, want in ((dims.get(leg), "the network"), (seen.get(leg), "itself")):
                if other is not None and other != d:
                    raise ValueError(
                        f"leg {leg!r} of node {name!r} has dimension {d} but {other} in {want}"
                    )
            seen[leg] = d

    def remove_node(self, name: str) -> Any:
        """Remove node ``name`` and return its array."""
        self._require_node(name)
        self._plans.clear()
        del self._legs[name]
        return self._arrays.pop(name)

    def set_array(self, name: str, data: Any) -> None:
        """Replace the array of node ``name`` (same legs; bond dimensions must stay consistent)."""
        self._require_node(name)
        data = self._as_node(data, name)
        legs = self._legs[name]
        if tuple(data.shape) != tuple(self._arrays[name].shape):
            self._check_legs(name, data, legs, exclude=name)
            self._plans.clear()
        self._arrays[name] = data

    def _as_node(self, data: Any, name: str) -> Any:
        """``data`` validated as the array of node ``name`` (:func:`backend.as_node_array`),
        on the same array library as the nodes already in the network."""
        data = backend.as_node_array(data, f"node {name!r}")
        others = [a for n, a in self._arrays.items() if n != name]
        if others and backend.backend_name(data) != backend.backend_name(others[0]):
            raise TypeError(
                f"node {name!r} is a {backend.backend_name(data)} array but the network holds "
                f"{backend.backend_name(others[0])} arrays; move it with tnkit.backend.to_backend"
            )
        return data

    def _require_node(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"node names are strings, got {name!r}")
        if name not in self._arrays:
            raise KeyError(f"no node named {name!r}; nodes are {list(self._arrays)}")

    # ------------------------------------------------------------------ inspection
    def __getitem__(self, name: str) -> Any:
        self._require_node(name)
        return self._arrays[name]

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __len__(self) -> int:
        return len(self._arrays)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names in insertion order."""
        return tuple(self._arrays)

    def legs(self, name: str) -> tuple[str, ...]:
        """Leg labels of node ``name``."""
        self._require_node(name)
        return self._legs[name]

    @property
    def arrays(self) -> tuple[Any, ...]:
        """Node arrays in node order."""
        return tuple(self._arrays.values())

    @property
    def leg_dims(self) -> dict[str, int]:
        """Dimension of every label in the network."""
        return self._dims_without(None)

    def _dims_without(self, exclude: str | None) -> dict[str, int]:
        return {
            leg: int(d)
            for name, legs in self._legs.items()
            if name != exclude
            for leg, d in zip(legs, self._arrays[name].shape)
        }

    def _label_counts(self) -> tuple[Counter, Counter]:
        total = Counter(leg for legs in self._legs.values() for leg in legs)
        nodes = Counter(leg for legs in self._legs.values() for leg in set(legs))
        return total, nodes

    @property
    def open_legs(self) -> tuple[str, ...]:
        """Labels carried exactly once, in order of first appearance."""
        total, _ = self._label_counts()
        return tuple(
            dict.fromkeys(g for legs in self._legs.values() for g in legs if total[g] == 1)
        )

    @property
    def bonds(self) -> tuple[str, ...]:
        """Labels shared by exactly two nodes."""
        _, nodes = self._label_counts()
        return tuple(g for g in self._ordered_labels() if nodes[g] == 2)

    @property
    def hyper_bonds(self) -> tuple[str, ...]:
        """Labels shared by three or more nodes."""
        _, nodes = self._label_counts()
        return tuple(g for g in self._ordered_labels() if nodes[g] >= 3)

    @property
    def traces(self) -> tuple[str, ...]:
        """Labels that appear twice on a single node and nowhere else."""
        total, nodes = self._label_counts()
        return tuple(g for g in self._ordered_labels() if nodes[g] == 1 and total[g] >= 2)

    def _ordered_labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g for legs in self._legs.values() for g in legs))

    @property
    def bond_dims(self) -> dict[str, int]:
        """Dimension of every bond and hyper-bond."""
        dims = self.leg_dims
        return {g: dims[g] for g in self.bonds + self.hyper_bonds}

    @property
    def shape(self) -> tuple[int, ...]:
        """Dimensions of the open legs (the shape of :meth:`contract`)."""
        dims = self.leg_dims
        return tuple(dims[g] for g in self.open_legs)

    @property
    def size(self) -> int:
        """Number of entries of the represented dense tensor."""
        return int(np.prod(self.shape, dtype=np.float64))

    @property
    def n_params(self) -> int:
        """Total number of array entries over all nodes."""
        return int(sum(int(np.prod(a.shape)) for a in self._arrays.values()))

    @property
    def compression(self) -> float:
        """Dense size divided by :attr:`n_params`."""
        return self.size / max(self.n_params, 1)

    @property
    def backend(self) -> str:
        """Backend of the node arrays (``"numpy"``, ``"torch"`` or ``"cupy"``)."""
        return backend.backend_name(next(iter(self._arrays.values()))) if self._arrays else "numpy"

    @property
    def dtype(self) -> Any:
        """dtype of the first node (all nodes are expected to share it)."""
        if not self._arrays:
            raise ValueError("an empty network has no dtype")
        return next(iter(self._arrays.values())).dtype

    # ------------------------------------------------------------------ contraction
    def equation(self, output: Iterable[str] | None = None) -> str:
        """The einsum equation of the contraction (one symbol per label)."""
        output = self.open_legs if output is None else label_tuple(output, "output")
        labels = set(self._ordered_labels())
        unknown = [g for g in output if g not in labels]
        if unknown:
            raise ValueError(f"output legs {unknown} are not in the network")
        if len(set(output)) != len(output):
            raise ValueError(f"output must not repeat a leg, got {output}")
        return contract.equation_of(self._legs.values(), output)

    def contract(
        self,
        output: Iterable[str] | None = None,
        *,
        optimize: str = "auto",
        memory_limit: int | float | str | None = None,
    ) -> Any:
        """Contract to a dense array whose axes follow ``output`` (default: :attr:`open_legs`).

        The plan is cached per network structure, so repeated calls with new arrays of the same
        shapes (as in an ALS sweep) only pay for the arithmetic.
        """
        if not self._arrays:
            raise ValueError("cannot contract an empty network")
        contract.check_optimize(optimize)
        if memory_limit is not None:
            memory_limit = contract.parse_bytes(memory_limit)
        key = (None if output is None else label_tuple(output, "output"), optimize)
        if memory_limit is None:
            expr = self._plans.get(key)
            if expr is None:
                eq = self.equation(key[0])
                expr = contract.expression(eq, *self._shapes(), optimize=optimize)
                self._plans[key] = expr
            return expr(*self._arrays.values())
        eq = self.equation(key[0])
        return contract.einsum(
            eq, *self._arrays.values(), optimize=optimize, memory_limit=memory_limit
        )

    def _shapes(self) -> list[tuple[int, ...]]:
        return [tuple(a.shape) for a in self._arrays.values()]

    def path_info(self, output: Iterable[str] | None = None, optimize: str = "auto") -> Any:
        """opt_einsum ``PathInfo`` of the contraction (flops, largest intermediate)."""
        if not self._arrays:
            raise ValueError("an empty network has no contraction path")
        return contract.path_info(self.equation(output), *self._shapes(), optimize=optimize)

    def entries(self, indices: Any, *, memory_limit: int | float | str | None = None) -> Any:
        """Values of the represented tensor at listed multi-indices, without forming it.

        ``indices`` is an ``(m, N)`` integer array (one multi-index per row, over
        :attr:`open_legs`) or a tuple of ``N`` index arrays as in numpy's ``x[tuple]``; the
        result is a 1-D array of ``m`` values on the network's library and device. Entries
        are evaluated in chunks of at most ``memory_limit`` bytes (default
        ``tnkit.entries.DEFAULT_MEMORY``, 256 MiB); see :mod:`tnkit.entries`.

        Examples
        --------
        >>> import numpy as np, tnkit as tk
        >>> tt = tk.tt(np.arange(24.0).reshape(2, 3, 4), rank=3)
        >>> tt.entries([[0, 0, 1], [1, 2, 3]]).round(6)
        array([ 1., 23.])
        """
        from .entries import DEFAULT_MEMORY, entries

        return entries(self, indices, DEFAULT_MEMORY if memory_limit is None else memory_limit)

    # ------------------------------------------------------------------ copies
    def _clone(self, arrays: Mapping[str, Any] | None = None) -> TensorNetwork:
        new = _copy.copy(self)
        new._arrays = dict(self._arrays if arrays is None else arrays)
        new._legs = dict(self._legs)
        new._plans = dict(self._plans)
        return new

    def copy(self, deep: bool = False) -> TensorNetwork:
        """A copy of the graph; ``deep=True`` also copies the arrays."""
        if not isinstance(deep, (bool, np.bool_)):
            raise TypeError(f"deep must be True or False, got {deep!r}")
        if not deep:
            return self._clone()
        return self._clone({k: _copy_array(a) for k, a in self._arrays.items()})

    def with_arrays(self, arrays: Mapping[str, Any]) -> TensorNetwork:
        """Same graph and class with some node arrays replaced (shapes must be unchanged).

        A fast path for algorithms that update nodes every sweep (or move a whole network to
        another library): the arrays must be arrays of the same shapes, but their entries are
        not scanned (see :meth:`set_array`).
        """
        if not isinstance(arrays, Mapping):
            raise TypeError(f"arrays must map node names to arrays, got {type(arrays).__name__}")
        new = self._clone()
        for name, a in arrays.items():
            new._require_node(name)
            try:
                backend.backend_name(a)
            except TypeError:
                raise TypeError(
                    f"arrays[{name!r}] must be a numpy, torch or cupy array, got {type(a).__name__}"
                ) from None
            if tuple(a.shape) != tuple(new._arrays[name].shape):
                raise ValueError(
                    f"node {name!r} has shape {tuple(new._arrays[name].shape)}, "
                    f"got {tuple(a.shape)}"
                )
            new._arrays[name] = a
        return new

    def conj(self) -> TensorNetwork:
        """Complex conjugate of every node."""
        return self._clone({k: backend.namespace(a).conj(a) for k, a in self._arrays.items()})

    def to(self, name: str, device: str | None = None) -> TensorNetwork:
        """The same network with arrays moved to backend ``name`` (and ``device``)."""
        backend.native(name)  # validates the name and the installation
        return self._clone(
            {k: backend.to_backend(a, name, device) for k, a in self._arrays.items()}
        )

    def astype(self, dtype: str) -> TensorNetwork:
        """Cast every node to ``dtype`` (``"float32"``, ``"complex128"`` ..., or a numpy/torch
        dtype object of those)."""
        dtype = _dtype_name(dtype)
        if dtype not in backend.FLOAT_DTYPES:
            raise ValueError(f"dtype must be one of {backend.FLOAT_DTYPES}, got {dtype!r}")
        out = {}
        for k, a in self._arrays.items():
            xp = backend.namespace(a)
            out[k] = xp.astype(a, getattr(xp, dtype))
        return self._clone(out)

    # ------------------------------------------------------------------ algebra
    def inner(self, other: TensorNetwork) -> Any:
        """``<self, other> = sum conj(self) * other`` over the open legs (matched by label)."""
        if not isinstance(other, TensorNetwork):
            raise TypeError(f"other must be a TensorNetwork, got {type(other).__name__}")
        if len(self) and len(other) and self.backend != other.backend:
            raise TypeError(
                f"other holds {other.backend} arrays but this network {self.backend} arrays; "
                "move one with .to()"
            )
        mine, theirs = self.open_legs, other.open_legs
        if set(mine) != set(theirs):
            raise ValueError(f"open legs differ: {mine} vs {theirs}")
        d1, d2 = self.leg_dims, other.leg_dims
        bad = [g for g in mine if d1[g] != d2[g]]
        if bad:
            raise ValueError(f"open legs {bad} have different dimensions in the two networks")
        # one equation for both networks side by side: only the open legs are shared
        pair = (self.conj(), other)
        terms = [
            [g if g in mine else (side, g) for g in net.legs(name)]
            for side, net in enumerate(pair)
            for name in net.nodes
        ]
        ops = [a for net in pair for a in net.arrays]
        return contract.einsum(contract.equation_of(terms), *ops)

    def norm(self) -> float:
        """Frobenius norm of the represented tensor, without forming it."""
        value = self.inner(self)
        return float(np.sqrt(max(float(backend.to_numpy(value).real), 0.0)))

    def scale(self, factor: float | complex) -> TensorNetwork:
        """The network times a scalar (applied to the first node)."""
        if isinstance(factor, bool) or not isinstance(factor, (int, float, complex, np.number)):
            raise TypeError(f"factor must be a real or complex number, got {factor!r}")
        if not np.isfinite(factor):
            raise ValueError(f"factor must be finite, got {factor!r}")
        if not self._arrays:
            raise ValueError("cannot scale an empty network")
        first = self.nodes[0]
        return self.with_arrays({first: self._arrays[first] * factor})

    # ------------------------------------------------------------------ graph changes
    def rename_legs(self, mapping: Mapping[str, str]) -> TensorNetwork:
        """A plain network with labels renamed by ``mapping`` (unknown labels raise)."""
        from . import network_ops

        return network_ops.rename_legs(self, mapping)

    def contract_nodes(self, a: str, b: str, name: str | None = None) -> TensorNetwork:
        """A plain network where nodes ``a`` and ``b`` are replaced by their contraction
        (:func:`tnkit.network_ops.contract_nodes`)."""
        from . import network_ops

        return network_ops.contract_nodes(self, a, b, name)

    def split_node(
        self,
        name: str,
        left_legs: Iterable[str],
        right_legs: Iterable[str] | None = None,
        **options: Any,
    ) -> TensorNetwork | tuple[TensorNetwork, float]:
        """Split a node in two by a (truncated) SVD or a QR of its matricisation; ``options``
        are ``rank``, ``tol``, ``method``, ``absorb``, ``bond``, ``names`` and
        ``return_error`` (:func:`tnkit.network_ops.split_node`)."""
        from . import network_ops

        return network_ops.split_node(self, name, left_legs, right_legs, **options)

    def fuse_legs(self, legs: Iterable[str], new_label: str) -> TensorNetwork:
        """A plain network where the labels ``legs`` are merged into one label ``new_label``
        (:func:`tnkit.network_ops.fuse_legs`)."""
        from . import network_ops

        return network_ops.fuse_legs(self, legs, new_label)

    # ------------------------------------------------------------------ display and io
    def summary(self) -> str:
        """A table of nodes (legs and shapes), bonds and totals."""
        return display.summary_text(self)

    def _repr_html_(self) -> str:
        """The :meth:`summary` as an HTML table (shown by Jupyter)."""
        return display.summary_html(self)

    def __repr__(self) -> str:
        dims = self.leg_dims
        opened = ", ".join(f"{g}={dims[g]}" for g in self.open_legs)
        return (
            f"{type(self).__name__}(nodes={len(self)}, open=[{opened}], "
            f"bonds={self.bond_dims}, n_params={self.n_params})"
        )

    def save(self, path: str) -> None:
        """Save to ``path`` (.npz with the arrays + a JSON record of the structure)."""
        from . import io

        io.save(self, path)

    def draw(self, **kwargs: Any) -> Any:
        """Draw the network with matplotlib (see :func:`tnkit.plot.draw`)."""
        from . import plot

        return plot.draw(self, **kwargs)


def label_tuple(labels: Any, what: str) -> tuple[str, ...]:
    """``labels`` (an iterable of non-empty strings) as a tuple; ``TypeError`` naming ``what``."""
    try:
        out = tuple(labels)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of strings, got {labels!r}") from None
    if any(not isinstance(g, str) or not g for g in out):
        raise TypeError(f"{what} must be non-empty strings, got {out!r}")
    return out


def _dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``"float32"``, ``np.float32``, ``np.dtype("float32")`` or
    ``torch.float32``."""
    if isinstance(dtype, str):
        return dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def _copy_array(a: Any) -> Any:
    return a.clone() if backend.backend_name(a) == "torch" else a.copy()
