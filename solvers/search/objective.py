"""The objective of a structure search and the two jobs that evaluate candidates.

Two objectives (both minimised) over a structure G with fitted relative error RSE:

* penalised (Li & Sun, TNGA, ICML 2020; TNLS 2022; TnALE 2023):
  ``f = n_params(G) / size(X) + lam * RSE^2``;
* constrained, fewest parameters with ``RSE <= eps``: ``f = n_params / size`` when the
  constraint holds, else ``1 + n_params / size + log(RSE / eps)`` (every infeasible structure
  is worse than every feasible one of fewer parameters than X has entries).

The jobs are plain functions of a JSON-like payload so that any executor (a local process
pool, Dask) can run them; they limit BLAS to one thread so that a result is bit-identical
wherever it runs. They compute on the backend and device of the payload's arrays (numpy, cupy,
torch), and only scalars (the error, timings) reach the host. For jobs that run in other
processes the evaluator ships numpy arrays with ``payload["device"] = (backend, device)``: the
job moves them there (:func:`prepared_payload`) and returns its arrays as numpy.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tnkit import backend, checks
from tnkit.decompose.network import fit_network, reproducible_contract

from .structure import Structure, rms

ARRAY_KEYS = ("x", "mask", "score_mask")


@dataclass(frozen=True)
class Objective:
    """``f(rse, n_params)`` for data of ``size`` entries (see the module docstring)."""

    size: int
    lam: float | None = None
    target_rse: float | None = None

    def __call__(self, rse: float, n_params: int) -> float:
        s = n_params / self.size
        if self.target_rse is None:
            return s + float(self.lam) * rse**2
        if rse <= self.target_rse:
            return s
        return 1.0 + s + math.log(rse / self.target_rse)

    def to_json(self) -> dict:
        return {"size": self.size, "lam": self.lam, "target_rse": self.target_rse}


@dataclass(frozen=True)
class FitOptions:
    """How one candidate is fitted: ALS sweeps, restarts, stopping rules."""

    max_iter: int = 60
    restarts: int = 2
    tol: float | None = None
    stall: float = 1e-4
    noise: float = 1e-2

    def __post_init__(self) -> None:
        checks.check_int(self.max_iter, "max_iter", 1)
        checks.check_int(self.restarts, "restarts", 1)
        checks.check_real(self.tol, "tol", low=0, high=1, open_high=True, optional=True)
        checks.check_real(self.stall, "stall", low=0)
        checks.check_real(self.noise, "noise", low=0)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def job_seed(seed: int, key: str) -> int:
    """A seed for one job from the search seed and the job's key (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63)


def prepared_payload(payload: dict) -> dict:
    """The payload with its arrays where the job computes.

    With ``payload["device"] = (backend, device)`` (numpy arrays shipped to a worker process)
    every array is moved there. Otherwise numpy arrays are copied to 64-byte-aligned memory:
    BLAS kernels round differently depending on where an input starts in memory, and an array
    unpickled on a worker starts anywhere, so aligned copies give the same bits in every
    process. Device arrays are used as they are.
    """
    place = payload.get("device")

    def move(a: Any) -> Any:
        return _aligned(a) if place is None else backend.to_backend(a, *place)

    out = dict(payload)
    for key in ARRAY_KEYS:
        if out.get(key) is not None:
            out[key] = move(out[key])
    if out.get("parent") is not None:
        arrays = {k: move(v) for k, v in out["parent"]["arrays"].items()}
        out["parent"] = dict(out["parent"], arrays=arrays)
    return out


def _returned(arrays: dict[str, Any], payload: dict) -> dict[str, Any]:
    """A job's result arrays: numpy for a shipped payload (they go back to the host process),
    else as computed (on the payload's device)."""
    if payload.get("device") is None:
        return arrays
    return {k: backend.to_numpy(a) for k, a in arrays.items()}


def _aligned(a: Any) -> Any:
    if backend.backend_name(a) != "numpy":
        return a
    a = np.asarray(a)
    buf = np.empty(a.nbytes + 64, dtype=np.uint8)
    offset = (-buf.ctypes.data) % 64
    out = buf[offset : offset + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def fit_job(payload: dict) -> dict:
    """Fit ``payload["structure"]`` to ``x`` by ALS.

    With ``parent`` arrays (warm start: the parent's nodes padded with noise) one run; without,
    the best of ``restarts`` runs from random normal nodes. Returns rse (on the observed
    entries), the arrays of the best run and the seconds spent.
    """
    started = time.perf_counter()
    payload = prepared_payload(payload)
    x, mask, opts = payload["x"], payload["mask"], payload["options"]
    structure = payload["structure"]
    seed = payload["seed"]
    best = None
    with threadpool_limits(1):
        warm = payload.get("parent") is not None
        for k in range(1 if warm else opts.restarts):
            rng_seed = seed + k
            if warm:
                start = structure.embed(
                    _as_network(payload["parent"]), x.shape, rng_seed, opts.noise
                )
            else:
                start = structure.to_network(x.shape, rng_seed)
            if structure.internal:
                fitted = fit_internal(x, start, structure, mask, opts)
            else:
                fitted = fit_network(
                    x, start, max_iter=opts.max_iter, tol=opts.tol, mask=mask, stall=opts.stall
                )
            if best is None or fitted.history[-1] < best.history[-1]:
                best = fitted
            if best.history[-1] <= opts.tol:
                break
    return {
        "rse": float(best.history[-1]),
        "n_params": structure.n_params(x.shape),
        "sweeps": len(best.history),
        "seconds": time.perf_counter() - started,
        "arrays": _returned(dict(zip(best.nodes, best.arrays)), payload),
    }


def fit_internal(x: Any, start: Any, structure: Structure, mask: Any, opts: FitOptions) -> Any:
    """ALS for a structure with internal vertices, updating the internal nodes first.

    An internal node's normal equations have the Kronecker product of its neighbours' Gram
    matrices as operator (a Tucker core's: of the factors'); :func:`tnkit.fit_network` keeps
    the leaves in a QR gauge, which makes that operator well conditioned, and solving the
    internal nodes first lets each sweep start from a core fitted to the current leaves.
    """
    inner = [structure.node_name(h) for h in range(structure.order, structure.n_vertices)]
    order = inner + [n for n in start.nodes if n not in inner]
    return fit_network(
        x, start, max_iter=opts.max_iter, tol=opts.tol, mask=mask, stall=opts.stall, nodes=order
    )


def score_edge_job(payload: dict) -> dict:
    """Score adding one bond slice between two modes (Hashemizadeh et al., "rank_one").

    The current network ``T`` (``payload["parent"]``) gets one new slice along bond (a, b):
    ``T' = T + S`` where ``S`` is the network with that bond removed, the nodes of a and b
    new (noise-initialised) and all other nodes equal to T's. Only the two new nodes are
    fitted, by ``sweeps`` ALS sweeps on the residual ``X - T``. The score is the relative
    error of ``T'`` on ``score_mask`` (held-out entries) or on all observed entries.
    """
    started = time.perf_counter()
    payload = prepared_payload(payload)
    x, mask, opts = payload["x"], payload["mask"], payload["options"]
    parent = _as_network(payload["parent"])
    structure: Structure = payload["structure"]
    a, b = payload["edge"]
    with threadpool_limits(1):
        dense = reproducible_contract(parent)
        slice_net = _slice_network(parent, structure, a, b, x.shape, payload["seed"], opts.noise)
        residual = x - dense
        s = fit_network(
            residual,
            slice_net,
            max_iter=payload["sweeps"],
            mask=mask,
            nodes=(structure.node_name(a), structure.node_name(b)),
            stall=0.0,
        )
        diff = residual - reproducible_contract(s)
        score_mask = payload.get("score_mask")
        if score_mask is None:
            score_mask = mask
        if score_mask is not None:
            diff, ref = diff * score_mask, x * score_mask
        else:
            ref = x
        rse = float(backend.frobenius_norm(diff) / backend.frobenius_norm(ref))
    return {
        "rse": rse,
        "arrays": _returned(
            {structure.node_name(m): s[structure.node_name(m)] for m in (a, b)}, payload
        ),
        "seconds": time.perf_counter() - started,
    }


def grow(parent: Any, structure: Structure, a: int, b: int, slices: dict, shape) -> Any:
    """The network of ``structure`` with bond (a, b) one larger: parent's nodes plus the slices
    (on the parent's backend and device)."""
    child = structure.embed(parent, shape, 0, noise=0.0)
    arrays = {}
    bond = structure.bond_label(a, b)
    for mode in (a, b):
        name = structure.node_name(mode)
        new = backend.namespace(child[name]).asarray(child[name], copy=True)
        axis = child.legs(name).index(bond)
        index = [slice(None)] * new.ndim
        index[axis] = new.shape[axis] - 1
        new[tuple(index)] = slices[name]
        arrays[name] = new
    return child.with_arrays(arrays)


def shrink(net: Any, child: Structure, a: int, b: int, shape) -> dict[str, Any]:
    """Start arrays for ``child`` (bond (a, b) one smaller than in ``net``): the two nodes are
    merged over the bond and split again by a truncated SVD (the best local truncation), on
    ``net``'s backend and device. A bond above the merged matrix's rank (possible next to an
    internal vertex whose other bonds were lowered) is padded with zeros."""
    na, nb, bond = child.node_name(a), child.node_name(b), child.bond_label(a, b)
    rank = child.mode_ranks()[a, b]
    merged = net.contract_nodes(na, nb, name="merged")
    left = [g for g in net.legs(na) if g != bond]
    right = [g for g in net.legs(nb) if g != bond]
    split = merged.split_node("merged", left, right, rank=int(rank), bond=bond, names=(na, nb))
    target = child.to_network(shape, 0)
    arrays = {}
    for name in target.nodes:
        arr, legs = split[name], list(split.legs(name))
        if bond in legs and bond not in target.legs(name):
            arr = arr[tuple(0 if g == bond else slice(None) for g in legs)]
            legs.remove(bond)
        order = tuple(legs.index(g) for g in target.legs(name))
        xp = backend.namespace(arr)
        arr = xp.permute_dims(arr, order)
        want = tuple(target[name].shape)
        if tuple(arr.shape) != want:
            padded = xp.zeros(want, dtype=arr.dtype, **backend.device_kwargs(arr))
            padded[tuple(slice(0, d) for d in arr.shape)] = arr
            arr = padded
        arrays[name] = arr
    return arrays


def _slice_network(parent, structure, a, b, shape, seed, noise):
    """The current network with bond (a, b) removed and fresh noise nodes at a and b."""
    removed = structure.with_rank(*_vertices(structure, a, b), 1)
    net = removed.embed(parent, shape, seed, noise=0.0)
    rng = np.random.default_rng(seed)
    arrays = {}
    for mode in (a, b):
        name = structure.node_name(mode)
        node = net[name]
        draw = backend.random_normal(tuple(node.shape), node, rng)
        arrays[name] = noise * rms(node) * draw
    return net.with_arrays(arrays)


def _vertices(structure: Structure, a: int, b: int) -> tuple[int, int]:
    """Vertex indices of modes (or internal vertices ``N + j``) ``a`` and ``b``."""
    where = {m: v for v, m in enumerate(structure.perm)}
    return where.get(a, a), where.get(b, b)


def _as_network(record: dict) -> Any:
    """``{"structure": Structure, "arrays": {...}}`` -> the network (shapes from the arrays)."""
    structure: Structure = record["structure"]
    arrays = record["arrays"]
    shape = [arrays[f"n{m}"].shape[0] for m in range(structure.order)]
    return structure.to_network(shape, 0).with_arrays(arrays)
