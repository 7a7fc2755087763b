"""The objective of a structure search and the two jobs that evaluate candidates.

Two objectives (both minimised) over a structure G with fitted relative error RSE:

* penalised (Li & Sun, TNGA, ICML 2020; TNLS 2022; TnALE 2023):
  ``f = n_params(G) / size(X) + lam * RSE^2``;
* constrained, fewest parameters with ``RSE <= eps``: ``f = n_params / size`` when the
  constraint holds, else ``1 + n_params / size + log(RSE / eps)`` (every infeasible structure
  is worse than every feasible one of fewer parameters than X has entries).

The jobs are plain functions of a JSON-like payload so that any executor (a local process
pool, Dask) can run them; they limit BLAS to one thread so that a result is bit-identical
wherever it runs.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tnkit.decompose.network import fit_network, reproducible_contract

from .structure import Structure


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

    def to_json(self) -> dict:
        return dict(self.__dict__)


def job_seed(seed: int, key: str) -> int:
    """A seed for one job from the search seed and the job's key (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63)


def aligned_payload(payload: dict) -> dict:
    """The payload with every array copied to 64-byte-aligned memory.

    BLAS kernels round differently depending on where an input starts in memory, and an
    array unpickled on a worker starts anywhere; aligned copies give the same bits in every
    process.
    """
    out = dict(payload)
    for key in ("x", "mask", "score_mask"):
        if out.get(key) is not None:
            out[key] = _aligned(out[key])
    if out.get("parent") is not None:
        arrays = {k: _aligned(v) for k, v in out["parent"]["arrays"].items()}
        out["parent"] = dict(out["parent"], arrays=arrays)
    return out


def _aligned(a: np.ndarray) -> np.ndarray:
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
    payload = aligned_payload(payload)
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
        "arrays": _arrays_of(best),
    }


def score_edge_job(payload: dict) -> dict:
    """Score adding one bond slice between two modes (Hashemizadeh et al., "rank_one").

    The current network ``T`` (``payload["parent"]``) gets one new slice along bond (a, b):
    ``T' = T + S`` where ``S`` is the network with that bond removed, the nodes of a and b
    new (noise-initialised) and all other nodes equal to T's. Only the two new nodes are
    fitted, by ``sweeps`` ALS sweeps on the residual ``X - T``. The score is the relative
    error of ``T'`` on ``score_mask`` (held-out entries) or on all observed entries.
    """
    started = time.perf_counter()
    payload = aligned_payload(payload)
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
            nodes=(f"n{a}", f"n{b}"),
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
        rse = float(np.linalg.norm(diff) / np.linalg.norm(ref))
    return {
        "rse": rse,
        "arrays": {f"n{a}": np.asarray(s[f"n{a}"]), f"n{b}": np.asarray(s[f"n{b}"])},
        "seconds": time.perf_counter() - started,
    }


def grow(parent: Any, structure: Structure, a: int, b: int, slices: dict, shape) -> Any:
    """The network of ``structure`` with bond (a, b) one larger: parent's nodes plus the slices."""
    child = structure.embed(parent, shape, 0, noise=0.0)
    arrays = {}
    bond = f"b{min(a, b)}_{max(a, b)}"
    for mode in (a, b):
        name = f"n{mode}"
        new = np.array(child[name])
        axis = child.legs(name).index(bond)
        index = [slice(None)] * new.ndim
        index[axis] = new.shape[axis] - 1
        new[tuple(index)] = slices[name]
        arrays[name] = new
    return child.with_arrays(arrays)


def shrink(net: Any, child: Structure, a: int, b: int, shape) -> dict[str, np.ndarray]:
    """Start arrays for ``child`` (bond (a, b) one smaller than in ``net``): the two nodes are
    merged over the bond and split again by a truncated SVD (the best local truncation)."""
    na, nb, bond = f"n{a}", f"n{b}", f"b{min(a, b)}_{max(a, b)}"
    rank = child.mode_ranks()[a, b]
    merged = net.contract_nodes(na, nb, name="merged")
    left = [g for g in net.legs(na) if g != bond]
    right = [g for g in net.legs(nb) if g != bond]
    split = merged.split_node("merged", left, right, rank=int(rank), bond=bond, names=(na, nb))
    target = child.to_network(shape, 0)
    arrays = {}
    for name in target.nodes:
        arr, legs = np.asarray(split[name]), list(split.legs(name))
        if bond in legs and bond not in target.legs(name):
            arr = arr.take(0, axis=legs.index(bond))
            legs.remove(bond)
        arrays[name] = np.transpose(arr, [legs.index(g) for g in target.legs(name)])
    return arrays


def _slice_network(parent, structure, a, b, shape, seed, noise):
    """The current network with bond (a, b) removed and fresh noise nodes at a and b."""
    removed = structure.with_rank(*_vertices(structure, a, b), 1)
    net = removed.embed(parent, shape, seed, noise=0.0)
    rng = np.random.default_rng(seed)
    arrays = {}
    for mode in (a, b):
        name = f"n{mode}"
        scale = math.sqrt(float(np.mean(np.asarray(net[name]) ** 2))) or 1.0
        arrays[name] = noise * scale * rng.standard_normal(net[name].shape)
    return net.with_arrays(arrays)


def _vertices(structure: Structure, a: int, b: int) -> tuple[int, int]:
    where = {m: v for v, m in enumerate(structure.perm)}
    return where[a], where[b]


def _as_network(record: dict) -> Any:
    """``{"structure": Structure, "arrays": {...}}`` -> the network (shapes from the arrays)."""
    structure: Structure = record["structure"]
    arrays = record["arrays"]
    shape = [arrays[f"n{m}"].shape[0] for m in range(structure.order)]
    return structure.to_network(shape, 0).with_arrays(arrays)


def _arrays_of(net: Any) -> dict[str, np.ndarray]:
    return {name: np.asarray(net[name]) for name in net.nodes}
