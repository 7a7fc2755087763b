"""Values of a network's tensor at listed multi-indices, without forming the tensor.

For multi-indices :math:`(i^{(e)}_1, \\dots, i^{(e)}_N)`, :math:`e = 1 \\dots m`, over the open
legs, every node that carries open legs is gathered at them, which turns those legs into one
shared **batch** label :math:`e`; the network is then contracted with :math:`e` kept:

.. math::

    T[i^{(e)}] = \\sum_{\\text{bonds}} \\prod_{\\text{nodes } v} A_v[i^{(e)}_{\\text{open}(v)},
    \\text{bonds}(v)], \\qquad e = 1 \\dots m .

The batch is a hyper-bond, so opt_einsum plans the order: on a tensor train it sweeps a
length-:math:`r` vector per entry along the chain, :math:`O(m N r^2)`; on CP it multiplies
the gathered factor rows, :math:`O(m N R)`. Gathering is lazy: a node meeting a tensor
without the batch label (a Tucker core) is contracted before it is gathered, and on numpy a
node meeting a batched intermediate (the vectors of the chain) is contracted with it by one
BLAS product per distinct index value, so the gathered node — as large per entry as the node
is per index value — is never formed. Entries are processed in chunks whose gathered arrays
and largest intermediate fit in ``memory_limit``; every chunk but the last has the same
shapes, so they share one cached plan.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import backend, contract
from .network_ops import fresh_label

if TYPE_CHECKING:
    from .network import TensorNetwork

DEFAULT_MEMORY = 2**28  # bytes for one chunk's gathered nodes and largest intermediate
_PROBE = 1024  # entries in the plan that sizes the chunks


def entries(
    net: TensorNetwork, indices: Any, memory_limit: int | float | str = DEFAULT_MEMORY
) -> Any:
    """Values of ``net``'s tensor at the rows of ``indices``; see the module docstring.

    Parameters
    ----------
    net : the network (any format); its open legs, in :attr:`~TensorNetwork.open_legs` order,
        are the index positions.
    indices : an integer array of shape ``(m, N)`` with one multi-index per row (numpy or the
        network's library; nested lists too), or a tuple of ``N`` integer arrays of length
        ``m``, one per open leg, as numpy's ``x[tuple]`` and :func:`numpy.nonzero` use.
        Entries must lie in ``0 .. dim - 1``.
    memory_limit : bytes (or a size like ``"1GiB"``) for one chunk of entries.

    Returns
    -------
    A 1-D array of ``m`` values in the network's library, on its device.
    """
    if not net.nodes:
        raise ValueError("an empty network has no entries")
    legs = net.open_legs
    if not legs:
        raise ValueError("the network has no open legs: contract() gives its only value")
    limit = contract.parse_bytes(memory_limit)
    like = net[net.nodes[0]]
    xp = backend.namespace(like)
    cols = _index_columns(indices, net.shape, like)
    m = int(cols[0].shape[0])
    if m == 0:
        return xp.zeros((0,), dtype=like.dtype, **backend.device_kwargs(like))
    plan = _BatchPlan(net, legs)
    chunk = plan.chunk_size(m, limit, contract.itemsize(like))
    parts = [plan.evaluate([c[s : s + chunk] for c in cols]) for s in range(0, m, chunk)]
    return parts[0] if len(parts) == 1 else xp.concat(parts)


class _Rows(NamedTuple):
    """A node gathered lazily: entry ``e`` of the gathered array is ``rows[index[e]]`` (the
    node's open legs fused into axis 0 of ``rows``)."""

    rows: Any
    index: Any

    def gather(self) -> Any:
        return backend.namespace(self.rows).take(self.rows, self.index, axis=0)


class _BatchPlan:
    """The nodes of ``net`` with their open legs fused into one batch label, and the
    contraction that keeps it."""

    def __init__(self, net: TensorNetwork, legs: tuple[str, ...]) -> None:
        position = {g: k for k, g in enumerate(legs)}
        batch = fresh_label(net.leg_dims, "entry")
        self.nodes = []  # (array, its index columns, their strides); rows first if opened
        terms = []
        for name in net.nodes:
            arr, node_legs = net[name], net.legs(name)
            opened = [a for a, g in enumerate(node_legs) if g in position]
            kept = [g for g in node_legs if g not in position]
            dims = [arr.shape[a] for a in opened]
            strides = [math.prod(dims[k + 1 :]) for k in range(len(dims))]
            which = [position[node_legs[a]] for a in opened]
            self.nodes.append((_as_rows(arr, opened) if opened else arr, which, strides))
            terms.append([batch, *kept] if opened else kept)
        self.eq = contract.equation_of(terms, [batch])
        self.terms = self.eq.split("->")[0].split(",")
        self.batch = self.eq[-1]

    def _shapes(self, m: int) -> list[tuple[int, ...]]:
        return [(m, *arr.shape[1:]) if which else tuple(arr.shape) for arr, which, _ in self.nodes]

    def chunk_size(self, m: int, limit: float, itemsize: int) -> int:
        """Entries per chunk so that the largest intermediate of a chunk (estimated per entry
        from a plan at ``min(m, 1024)`` entries) and two gathered nodes fit ``limit``."""
        probe = min(m, _PROBE)
        info = contract.path_info(self.eq, *self._shapes(probe))
        gathered = max(math.prod(arr.shape[1:]) for arr, which, _ in self.nodes if which)
        per_entry = (info.largest_intermediate / probe + 2 * gathered) * itemsize
        return int(max(1, min(m, limit // per_entry)))

    def evaluate(self, cols: list[Any]) -> Any:
        """The values at one chunk of index columns, contracted along the planned path."""
        ops: list[tuple[Any, str]] = []
        for (arr, which, strides), term in zip(self.nodes, self.terms):
            if which:
                arr = _Rows(arr, sum(cols[k] * st for k, st in zip(which, strides)))
            ops.append((arr, term))
        info = contract.path_info(self.eq, *self._shapes(int(cols[0].shape[0])))
        for inds, _, step, _, _ in info.contraction_list:
            picked = [ops.pop(i) for i in inds]
            out = step.split("->")[1]
            if self.batch in out:  # batched results keep the batch axis first
                out = self.batch + out.replace(self.batch, "")
            ops.append((self._step(picked, out), out))
        ((value, _),) = ops
        return value.gather() if isinstance(value, _Rows) else value

    def _step(self, picked: list[tuple[Any, str]], out: str) -> Any:
        """One contraction of the path, gathering a node only when it must."""
        if len(picked) == 2:
            # the node with more numbers per row stays lazy; the other is gathered
            (a, ta), (b, tb) = sorted(picked, key=lambda p: -_row_size(p[0]))
            if isinstance(a, _Rows) and self.batch not in tb:  # contract a's rows, gather later
                return _Rows(contract.einsum(f"{ta},{tb}->{out}", a.rows, b), a.index)
            if isinstance(a, _Rows):
                grouped = _grouped(a, ta, b.gather() if isinstance(b, _Rows) else b, tb, out)
                if grouped is not None:
                    return grouped
        arrays = [p.gather() if isinstance(p, _Rows) else p for p, _ in picked]
        return contract.einsum(",".join(t for _, t in picked) + "->" + out, *arrays)


def _row_size(op: Any) -> int:
    """Numbers per index value of a lazily gathered node; -1 for any other operand."""
    return math.prod(op.rows.shape[1:]) if isinstance(op, _Rows) else -1


def _as_rows(arr: Any, opened: list[int]) -> Any:
    """``arr`` with its axes ``opened`` fused into axis 0 (C order), the others after it."""
    xp = backend.namespace(arr)
    rest = [a for a in range(arr.ndim) if a not in opened]
    moved = xp.permute_dims(arr, (*opened, *rest))
    fused = math.prod(arr.shape[a] for a in opened)
    return xp.reshape(moved, (fused, *(arr.shape[a] for a in rest)))


def _grouped(a: _Rows, ta: str, x: Any, tx: str, out: str) -> Any:
    """The gathered ``a`` contracted with the batched ``x`` (batch axis first in both) by one
    BLAS product per distinct index value, each with all the entries that share it. Only on
    the CPU (a GPU would launch a kernel per value and read the values back), for a step
    that is a plain tensordot once the batch is set aside, and when an index value is shared
    by 8 entries on average; None otherwise."""
    node = ta[1:]
    plain = len(set(node)) == len(node) and all((c in tx) != (c in out) for c in node)
    if backend.device_of_kind(x) != "cpu" or not plain or any(c not in out + node for c in tx):
        return None
    xp = backend.namespace(x)
    index = a.index
    order = xp.argsort(index, stable=True)
    ranked = backend.to_numpy(xp.take(index, order))  # on the CPU already
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    if 8 * len(starts) > len(ranked):
        return None
    summed = [c for c in node if c in tx]
    axes = ([tx.index(c) for c in summed], [node.index(c) for c in summed])
    made = tx[0] + "".join(c for c in tx[1:] + node if c not in summed)
    xs = xp.take(x, order, axis=0)
    parts = [
        xp.tensordot(xs[s:e], a.rows[int(ranked[s])], axes=axes)
        for s, e in zip(starts, [*starts[1:], len(ranked)])
    ]
    unsorted = xp.argsort(order)  # the inverse permutation
    result = xp.take(xp.concat(parts), unsorted, axis=0)
    return xp.permute_dims(result, tuple(made.index(c) for c in out))


def _index_columns(indices: Any, shape: tuple[int, ...], like: Any) -> list[Any]:
    """One int64 index array per open leg, in ``like``'s library and device, range-checked."""
    n = len(shape)
    if isinstance(indices, tuple):
        if len(indices) != n:
            raise ValueError(
                f"indices must hold {n} index arrays (one per open leg), got {len(indices)}"
            )
        cols = [_as_index_array(c, f"indices[{k}]", like) for k, c in enumerate(indices)]
        if any(c.ndim != 1 for c in cols) or len({int(c.shape[0]) for c in cols}) > 1:
            shapes = [tuple(c.shape) for c in cols]
            raise ValueError(f"indices must be 1-D arrays of one length, got shapes {shapes}")
    else:
        rows = _as_index_array(indices, "indices", like)
        if rows.ndim != 2 or int(rows.shape[1]) != n:
            raise ValueError(
                f"indices must have shape (m, {n}) (one multi-index per row over the open legs), "
                f"got shape {tuple(rows.shape)}"
            )
        cols = [rows[:, k] for k in range(n)]
    xp = backend.namespace(like)
    for k, (col, d) in enumerate(zip(cols, shape)):
        if int(col.shape[0]) and not (0 <= int(xp.min(col)) and int(xp.max(col)) < d):
            raise ValueError(
                f"indices of open leg {k} must lie in 0..{d - 1}, "
                f"got {int(xp.min(col))}..{int(xp.max(col))}"
            )
    return cols


def _as_index_array(values: Any, name: str, like: Any) -> Any:
    """``values`` as an int64 array of ``like``'s library and device."""
    if isinstance(values, (list, tuple, range)):
        values = np.asarray(values)
    try:
        kind = backend.backend_name(values)
    except TypeError:
        raise TypeError(f"{name} must be an integer array, got {type(values).__name__}") from None
    dtype = backend.dtype_name(values if kind != "numpy" else np.asarray(values))
    if not dtype.startswith(("int", "uint")):
        raise TypeError(f"{name} must hold integers, got dtype {dtype}")
    xp = backend.namespace(like)
    return backend.asarray_like(values, like, xp.int64)
