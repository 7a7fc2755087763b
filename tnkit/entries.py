"""Values of a network's tensor at listed multi-indices, without forming the tensor.

For multi-indices :math:`(i^{(e)}_1, \\dots, i^{(e)}_N)`, :math:`e = 1 \\dots m`, over the open
legs, every node that carries open legs is gathered at them, which turns those legs into one
shared **batch** label :math:`e`; the network is then contracted with :math:`e` kept:

.. math::

    T[i^{(e)}] = \\sum_{\\text{bonds}} \\prod_{\\text{nodes } v} A_v[i^{(e)}_{\\text{open}(v)},
    \\text{bonds}(v)], \\qquad e = 1 \\dots m .

The batch is a hyper-bond, so opt_einsum plans the order: on a tensor train it sweeps a
length-:math:`r` vector per entry along the chain, :math:`O(m N r^2)`; on CP it multiplies
the gathered factor rows, :math:`O(m N R)`. Entries are processed in chunks whose gathered
arrays and largest intermediate fit in ``memory_limit``; every chunk but the last has the
same shapes, so they share one cached plan.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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


class _BatchPlan:
    """The nodes of ``net`` with their open legs replaced by one batch label."""

    def __init__(self, net: TensorNetwork, legs: tuple[str, ...]) -> None:
        position = {g: k for k, g in enumerate(legs)}
        dims = net.leg_dims
        batch = fresh_label(dims, "entry")
        self.nodes = []  # (array, axes of open legs, their index columns)
        terms = []
        for name in net.nodes:
            node_legs = net.legs(name)
            opened = [a for a, g in enumerate(node_legs) if g in position]
            kept = [g for g in node_legs if g not in position]
            self.nodes.append((net[name], opened, [position[node_legs[a]] for a in opened]))
            terms.append(kept if not opened else [batch, *kept])
        self.eq = contract.equation_of(terms, [batch])
        self.rest = [
            math.prod(d for a, d in enumerate(arr.shape) if a not in opened) if opened else 0
            for arr, opened, _ in self.nodes
        ]

    def _shapes(self, m: int) -> list[tuple[int, ...]]:
        return [
            (m, *(d for a, d in enumerate(arr.shape) if a not in opened))
            if opened
            else tuple(arr.shape)
            for arr, opened, _ in self.nodes
        ]

    def chunk_size(self, m: int, limit: float, itemsize: int) -> int:
        """Entries per chunk so that the gathered nodes and the largest intermediate of a
        chunk (estimated per entry from a plan at ``min(m, 1024)`` entries) fit ``limit``."""
        probe = min(m, _PROBE)
        info = contract.path_info(self.eq, *self._shapes(probe))
        per_entry = (info.largest_intermediate / probe + sum(self.rest)) * itemsize
        return int(max(1, min(m, limit // per_entry)))

    def evaluate(self, cols: list[Any]) -> Any:
        """The values at one chunk of index columns."""
        operands = [
            _gather(arr, opened, [cols[k] for k in which]) for arr, opened, which in self.nodes
        ]
        expr = contract.expression(self.eq, *[tuple(op.shape) for op in operands])
        return expr(*operands)


def _gather(arr: Any, opened: list[int], cols: list[Any]) -> Any:
    """``arr`` with its axes ``opened`` replaced by one leading batch axis indexed by ``cols``.

    The (small) node is first laid out with the opened axes in front, so each gathered entry
    is one contiguous row copy."""
    if not opened:
        return arr
    xp = backend.namespace(arr)
    rest = [a for a in range(arr.ndim) if a not in opened]
    dims = [arr.shape[a] for a in opened]
    rows = xp.reshape(xp.permute_dims(arr, (*opened, *rest)), (math.prod(dims), -1))
    linear = cols[0]
    for col, d in zip(cols[1:], dims[1:]):
        linear = linear * d + col
    return xp.reshape(xp.take(rows, linear, axis=0), (-1, *(arr.shape[a] for a in rest)))


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
