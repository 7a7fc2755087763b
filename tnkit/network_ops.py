"""Operations that change a network's graph: rename legs, contract two nodes into one, split
one node in two (SVD or QR), fuse legs. Each returns a new plain :class:`TensorNetwork`;
they are also its methods (``net.split_node(...)``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import backend, checks, linalg
from .network import TensorNetwork, label_tuple


def rename_legs(net: TensorNetwork, mapping: Mapping[str, str]) -> TensorNetwork:
    """A plain network with labels renamed by ``mapping`` (unknown labels raise)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a dict of old -> new labels, got {mapping!r}")
    label_tuple(mapping.values(), "mapping values")
    labels = set(tuple(net.leg_dims))
    unknown = [g for g in mapping if g not in labels]
    if unknown:
        raise KeyError(f"no legs named {unknown}; legs are {sorted(labels)}")
    out = TensorNetwork()
    for name, legs in _nodes(net):
        out.add_node(name, net[name], [mapping.get(g, g) for g in legs])
    return out


def contract_nodes(net: TensorNetwork, a: str, b: str, name: str | None = None) -> TensorNetwork:
    """A plain network where nodes ``a`` and ``b`` are replaced by their contraction.

    Labels shared only by ``a`` and ``b`` are summed; all others are kept. The merged node
    takes the position of ``a`` and the name ``name`` (default ``a``).
    """
    net._require_node(a)
    net._require_node(b)
    if a == b:
        raise ValueError("contract_nodes needs two different nodes")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        if name in net and name not in (a, b):
            raise ValueError(f"name {name!r} is already a node of the network")
    total, _ = net._label_counts()
    la, lb = net.legs(a), net.legs(b)
    pair = Counter(la) + Counter(lb)
    kept = tuple(g for g in dict.fromkeys(la + lb) if total[g] > pair[g] or pair[g] == 1)
    sub = TensorNetwork()
    sub.add_node(a, net[a], la)
    sub.add_node(b, net[b], lb)
    merged = sub.contract(output=kept)
    out = TensorNetwork()
    for n, legs in _nodes(net):
        if n == a:
            out.add_node(name or a, merged, kept)
        elif n != b:
            out.add_node(n, net[n], legs)
    return out


def split_node(
    net: TensorNetwork,
    name: str,
    left_legs: Iterable[str],
    right_legs: Iterable[str] | None = None,
    *,
    rank: int | None = None,
    tol: float | None = None,
    method: str = "svd",
    absorb: str | None = "both",
    bond: str | None = None,
    names: tuple[str, str] | None = None,
    return_error: bool = False,
) -> TensorNetwork | tuple[TensorNetwork, float]:
    """Split a node in two by a (truncated) SVD or a QR of its matricisation.

    The node ``A[left, right]`` is reshaped to a matrix and factored: with ``"svd"``,
    ``A ≈ U diag(s) Vᴴ`` truncated by ``rank``/``tol`` (:func:`tnkit.linalg.truncated_svd`),
    the singular values absorbed to the ``"left"``, ``"right"``, ``"both"`` (square roots)
    or kept as a separate diagonal node ``{name}_S`` (``absorb=None``); with ``"qr"``,
    ``A = Q R`` exactly. The new nodes are ``names`` (default ``{name}_L``, ``{name}_R``),
    joined by the new label ``bond``. With ``return_error=True`` also returns the Frobenius
    norm of the discarded singular values.
    """
    net._require_node(name)
    linalg.check_split(method, rank, tol, absorb)
    rank = checks.check_int(rank, "rank", 1, optional=True)
    tol = checks.check_real(tol, "tol", low=0, high=1, open_high=True, optional=True)
    return_error = checks.check_bool(return_error, "return_error")
    legs = net.legs(name)
    left = label_tuple(left_legs, "left_legs")
    right = (
        tuple(g for g in legs if g not in left)
        if right_legs is None
        else label_tuple(right_legs, "right_legs")
    )
    if sorted(left + right) != sorted(legs) or not left or not right:
        raise ValueError(
            f"left_legs {left} and right_legs {right} must partition the legs {legs} "
            f"of node {name!r} into two non-empty groups"
        )
    lname, rname = _split_names(net, name, names)
    if bond is None:
        bond = fresh_label(tuple(net.leg_dims), f"{name}_bond")
    elif not isinstance(bond, str) or not bond:
        raise TypeError(f"bond must be a non-empty string, got {bond!r}")
    elif bond in tuple(net.leg_dims):
        raise ValueError(f"bond {bond!r} is already a leg of the network")
    a = net[name]
    xp = backend.namespace(a)
    dims = dict(zip(legs, a.shape))
    perm = [legs.index(g) for g in left + right]
    lshape, rshape = [dims[g] for g in left], [dims[g] for g in right]
    mat = xp.reshape(xp.permute_dims(a, tuple(perm)), (int(np.prod(lshape)), int(np.prod(rshape))))
    lmat, rmat, middle, error = linalg.split_matrix(mat, method, rank, tol, absorb)
    k = int(lmat.shape[1])
    rbond = bond
    if middle is not None:
        rbond = fresh_label(tuple(net.leg_dims) + (bond,), f"{bond}_r")
    out = TensorNetwork()
    for n, lg in _nodes(net):
        if n != name:
            out.add_node(n, net[n], lg)
            continue
        out.add_node(lname, xp.reshape(lmat, (*lshape, k)), (*left, bond))
        if middle is not None:
            out.add_node(f"{name}_S", middle, (bond, rbond))
        out.add_node(rname, xp.reshape(rmat, (k, *rshape)), (rbond, *right))
    return (out, float(error)) if return_error else out


def _split_names(net: TensorNetwork, name: str, names: Any) -> tuple[str, str]:
    if names is None:
        return f"{name}_L", f"{name}_R"
    pair = label_tuple(names, "names")
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ValueError(f"names must be two different node names, got {names!r}")
    taken = [n for n in pair if n in net and n != name]
    if taken:
        raise ValueError(f"names {taken} are already nodes of the network")
    return pair


def fuse_legs(net: TensorNetwork, legs: Iterable[str], new_label: str) -> TensorNetwork:
    """A plain network where the labels ``legs`` are merged into one label ``new_label``.

    Every node carrying any of ``legs`` must carry all of them; on each such node the axes
    are moved together (in the given order) and reshaped into one of the product dimension.
    """
    legs = label_tuple(legs, "legs")
    if not legs or len(set(legs)) != len(legs):
        raise ValueError(f"legs must be one or more different labels, got {legs}")
    if not isinstance(new_label, str) or not new_label:
        raise TypeError(f"new_label must be a non-empty string, got {new_label!r}")
    labels = set(tuple(net.leg_dims))
    unknown = [g for g in legs if g not in labels]
    if unknown:
        raise KeyError(f"no legs named {unknown}")
    if new_label in labels and new_label not in legs:
        raise ValueError(f"new_label {new_label!r} is already used")
    out = TensorNetwork()
    for name, lg in _nodes(net):
        a = net[name]
        present = [g for g in legs if g in lg]
        if present and len(present) != len(legs):
            raise ValueError(f"node {name!r} carries only {present} of the legs {legs}")
        if not present:
            out.add_node(name, a, lg)
            continue
        xp = backend.namespace(a)
        rest = [g for g in lg if g not in legs]
        pos = lg.index(legs[0])
        order = [g for g in lg[:pos] if g in rest] + list(legs)
        order += [g for g in lg[pos:] if g in rest]
        moved = xp.permute_dims(a, tuple(lg.index(g) for g in order))
        i = order.index(legs[0])
        shape = list(moved.shape)
        fused = shape[:i] + [int(np.prod(shape[i : i + len(legs)]))] + shape[i + len(legs) :]
        new_legs = order[:i] + [new_label] + order[i + len(legs) :]
        out.add_node(name, xp.reshape(moved, tuple(fused)), new_legs)
    return out


def fresh_label(existing: Iterable[str], base: str) -> str:
    existing = set(existing)
    label, i = base, 0
    while label in existing:
        i += 1
        label = f"{base}{i}"
    return label


def _nodes(net: TensorNetwork) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, legs)`` of every node, in order."""
    return [(name, net.legs(name)) for name in net.nodes]
