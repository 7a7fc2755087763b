"""Alternating least squares (ALS) for a tensor network of any topology, optionally masked.

The network ``net`` represents ``T = sum over bonds of prod_v A_v``; its open legs
``net.open_legs[k]`` correspond to the axes ``k`` of the data ``x``. ALS updates one node at
a time with all others fixed. Writing the node as a matrix ``A[o, b]`` (its open legs ``o``
against its bond legs ``b``) and the contraction of all other nodes as the environment
``E[r, b]`` (``r`` = the other open legs), ``T[o, r] = sum_b A[o, b] E[r, b]`` and the update
solves the normal equations

    A G = R,    G[b, b'] = sum_r E[r, b] conj(E[r, b']),    R[o, b'] = sum_r X[o, r] conj(E[r, b'])

with a small Tikhonov ridge on ``G`` (see e.g. Holtz, Rohwedder & Schneider, "The alternating
linear scheme for tensor format representations", SIAM J. Sci. Comput. 34, 2012, and
Hashemizadeh et al., "Adaptive learning of tensor network structures", 2020, whose greedy
search uses exactly this solver). The operator ``G`` is never larger than the squared node
size. For small environments (``rest x bond`` at most ``DENSE_MAX`` entries, the structure
search's regime) ``E`` is contracted once per update and ``G = E^T conj(E)``,
``R = X_(o) conj(E)`` are two matrix products; for larger ones ``G`` is contracted from two
layers of the other nodes (ket and conjugated bra) and ``R`` from ``x`` and the conjugated
other nodes, without forming ``E``. Contraction plans are built once per structure and
cached; they run in a fixed pairwise order (:mod:`tnkit.decompose._pairwise`) so that a fit
gives the same bits in every process, which structure search relies on.

Before every sweep each *leaf* (a node with one bond, updated together with its neighbour)
is moved into a QR gauge: ``A = Q R`` over (open legs | bond), ``A <- Q`` and ``R`` is
absorbed into the neighbour — the same tensor. A node between several leaves (a Tucker core)
has the Kronecker product of their Gram matrices as ``G``, whose condition number is the
product of theirs; with orthonormal leaves it is the identity. Without the gauge ALS on a
7^5 Tucker network went from 1.4e-4 after one sweep to 8.2e-3 after the next.

With a ``mask`` (tensor completion) only observed entries count. This module uses the exact
per-slice normal equations: with ``W`` the 0/1 mask,

    G[o, b, b'] = sum_r W[o, r] E[r, b] conj(E[r, b']),
    R[o, b'] = sum_r W[o, r] X[o, r] conj(E[r, b'])

and one small ``b x b`` system per value of ``o`` (a batched solve), with ``E`` contracted
densely. ``G[o]`` is formed from the rows of ``E`` at the observed entries of slice ``o``
only (their indices are found once per fit, on the device).

The error after each sweep comes for free from the last node's ``G`` and ``R``:
``||W(X - T)||^2 = ||W X||^2 - 2 Re <A, R> + <A G, A>``; the final history entry is recomputed
exactly from the contracted network. Ridge shifts are computed on the data's device, so that
error is the only value a sweep copies to the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import opt_einsum

from .. import backend, checks, linalg
from ..network import TensorNetwork
from . import _common as cm
from . import _pairwise

INITS = ("given", "random")
RIDGE = 1e-12  # relative Tikhonov regularisation of the normal equations
EXACT_BELOW = 1e-4  # below this estimated error, compute the error from the dense network
DENSE_MAX = 2**22  # largest environment matrix (entries) formed densely


def fit_network(
    x: Any,
    net: TensorNetwork,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    mask: Any = None,
    seed: int = 0,
    progress: bool | Callable[[int, float], Any] = False,
    init: str = "given",
    nodes: Iterable[str] | None = None,
    stall: float = 1e-7,
    ridge: float = RIDGE,
) -> TensorNetwork:
    """Fit the node arrays of ``net`` to ``x`` by alternating least squares.

    Parameters
    ----------
    x
        Data tensor; axis ``k`` matches ``net.open_legs[k]`` (same dimensions).
    net
        The network giving the topology, the bond dimensions and (``init="given"``) the start.
    max_iter
        Maximum number of sweeps (each sweep updates every node in ``nodes`` once).
    tol
        Stop when the relative error ``||W(x - T)||_F / ||W x||_F`` is at most ``tol``.
    mask
        Optional boolean/0-1 array of ``x``'s shape: only entries where it is true are fitted
        (tensor completion); ``x`` may hold NaN at the others.
    seed
        Seed of the random start (``init="random"``).
    progress
        ``True`` for a tqdm bar, or a callable ``progress(sweep, rel_error)``.
    init
        ``"given"`` starts from ``net``'s arrays; ``"random"`` from normal entries scaled so
        that the network's norm is about ``||x||``.
    nodes
        Names of the nodes to update (default: all); the others stay fixed.
    stall
        Stop when a sweep lowers the error by less than this fraction.
    ridge
        Relative Tikhonov regularisation (times the mean diagonal of ``G``).

    Returns
    -------
    TensorNetwork
        The fitted network (same class and graph as ``net``) with ``.history`` (relative error
        after each sweep) and ``.options``. Ctrl-C returns the network fitted so far.
    """
    if not isinstance(net, TensorNetwork):
        raise TypeError(f"net must be a TensorNetwork, got {type(net).__name__}")
    x, w = cm.check_masked_data(x, mask, "x")
    _check_structure(x, net)
    _check_options(max_iter, tol, init, stall, ridge)
    seed = checks.check_seed(seed)
    update = _check_nodes(net, nodes)
    als = NetworkALS(x, w, net, update, ridge)
    if als.xnorm2 == 0.0:
        raise ValueError("x is zero (on the observed entries): nothing to fit")
    arrays = als.arrays(net)
    if init == "random":
        arrays = _random_start(net, x, arrays, seed, math.sqrt(als.xnorm2))
    report = cm.Progress(progress, max_iter, "fit_network")
    history: list[float] = []
    try:
        for sweep in range(max_iter):
            history.append(als.sweep(arrays))
            report.update(sweep, history[-1])
            if history[-1] <= tol:
                break
            if len(history) > 1 and history[-2] - history[-1] < stall * history[-2]:
                break
    except KeyboardInterrupt:
        pass
    finally:
        report.close()
    if history:
        history[-1] = als.error(arrays)
    out = net.with_arrays(arrays)
    out.history = history
    out.options = {
        "max_iter": max_iter,
        "tol": tol,
        "init": init,
        "seed": seed,
        "stall": stall,
        "ridge": ridge,
        "masked": w is not None,
    }
    return out


# ---------------------------------------------------------------------------- validation
def _check_structure(x: Any, net: TensorNetwork) -> None:
    if len(net) == 0:
        raise ValueError("net has no nodes")
    if net.traces:
        raise ValueError(f"net has trace labels {net.traces}; fit_network needs none")
    dims = net.leg_dims
    opened = net.open_legs
    if len(opened) != x.ndim:
        raise ValueError(f"x has {x.ndim} modes but net has {len(opened)} open legs {opened}")
    want = tuple(dims[g] for g in opened)
    if tuple(int(n) for n in x.shape) != want:
        raise ValueError(f"x has shape {tuple(x.shape)} but net's open legs {opened} are {want}")


def _check_options(max_iter: int, tol: float, init: str, stall: float, ridge: float) -> None:
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not isinstance(tol, (int, float)) or not 0 <= tol < 1:
        raise ValueError(f"tol must be a number in [0, 1), got {tol!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    checks.check_real(stall, "stall", low=0)
    checks.check_real(ridge, "ridge", low=0)


def _check_nodes(net: TensorNetwork, nodes: Iterable[str] | None) -> tuple[str, ...]:
    if nodes is None:
        return net.nodes
    if isinstance(nodes, str):
        nodes = (nodes,)
    nodes = tuple(nodes)
    unknown = [n for n in nodes if n not in net]
    if unknown or not nodes:
        raise ValueError(f"nodes must be a non-empty subset of {net.nodes}, got {nodes}")
    return nodes


# ---------------------------------------------------------------------------- the solver
class NetworkALS:
    """One ALS problem: the data, the mask and the structure of a network, prepared once.

    It owns the plan of every node update, ``W x`` and ``||W x||^2``; :meth:`sweep` runs one
    sweep of :func:`fit_network` on given node arrays. Callers that sweep under their own
    stopping rules (the masked TR-ALS) build it once per structure instead of calling
    :func:`fit_network` once per sweep.

    Parameters
    ----------
    x
        Data tensor, validated and finite (its unobserved entries are ignored).
    w
        The 0/1 mask in ``x``'s real dtype, or ``None``.
    net
        The network; only its structure is used (its arrays are not).
    update
        Names of the nodes each sweep updates, in this order.
    ridge
        Relative Tikhonov regularisation of the normal equations.
    """

    def __init__(
        self, x: Any, w: Any, net: TensorNetwork, update: tuple[str, ...], ridge: float = RIDGE
    ) -> None:
        xp = backend.namespace(x)
        self.x, self.w, self.update, self.ridge = x, w, update, ridge
        self.xw = x if w is None else x * w
        self.xnorm2 = float(backend.to_numpy(xp.sum(xp.abs(self.xw) ** 2)))
        self.plan = _Plan(net, self.xw, w, update)
        self.leaves = _leaves(net, update)
        self.order = net.nodes
        self.dense = _dense_plan(net)

    def arrays(self, net: TensorNetwork) -> dict[str, Any]:
        """``net``'s node arrays by name, on ``x``'s backend and device and in its dtype."""
        xp = backend.namespace(self.x)
        arrays = {k: backend.asarray_like(a, self.x) for k, a in zip(net.nodes, net.arrays)}
        return {
            k: xp.astype(a, self.x.dtype) if a.dtype != self.x.dtype else a
            for k, a in arrays.items()
        }

    def sweep(self, arrays: dict[str, Any], exact: bool = False) -> float:
        """Gauge the leaves and update every node once, in ``arrays`` (in place); return the
        relative error ``||W(x - T)|| / ||W x||``: the estimate from the last update (exact
        below ``EXACT_BELOW``), or with ``exact`` the exact one. The error is the only value the
        sweep copies to the host (twice when the estimate falls below ``EXACT_BELOW``)."""
        _gauge_leaves(arrays, self.leaves)
        for name in self.update:
            arrays[name], fit = self.plan.update(name, arrays, self.xw, self.ridge)
        if exact:
            return self.error(arrays)
        err = math.sqrt(max(self.xnorm2 - float(fit), 0.0) / self.xnorm2)
        if err < EXACT_BELOW:  # the cheap estimate loses digits to cancellation here
            err = self.error(arrays)
        return err

    def error(self, arrays: dict[str, Any]) -> float:
        """The exact relative error of the network with node ``arrays``, from its dense
        contraction."""
        xp = backend.namespace(self.x)
        diff = self.dense(*(arrays[n] for n in self.order)) - self.x
        if self.w is not None:
            diff = diff * self.w
        total = math.sqrt(float(backend.to_numpy(xp.sum(xp.abs(diff) ** 2))))
        return total / math.sqrt(self.xnorm2)


class MaskedSweep:
    """Masked ALS sweeps of a format on fixed data: ``sweep(cores)`` returns ``(cores,
    relative error on the observed entries)``, the error computed exactly from the update.

    ``gauge(cores)`` builds the format's network (a TT or TR: anything with ``.cores``) from
    its cores in the gauge each sweep starts from (a QR sweep: ALS leaves bond gauges free to
    drift into ill-conditioned ones). The
    :class:`NetworkALS` is built once per set of core shapes and reused while they stay.
    ``x`` is finite (its unobserved entries are ignored) and ``w`` is the 0/1 mask in ``x``'s
    real dtype. Ctrl-C inside a sweep raises ``KeyboardInterrupt`` (the cores of the previous
    sweep stay valid).
    """

    def __init__(self, x: Any, w: Any, gauge: Callable[[list[Any]], TensorNetwork]) -> None:
        self.x, self.w, self.gauge = x, w, gauge
        self.als: NetworkALS | None = None
        self.shapes: tuple[tuple[int, ...], ...] = ()

    def __call__(self, cores: list[Any]) -> tuple[list[Any], float]:
        net = self.gauge(cores)
        shapes = tuple(tuple(int(d) for d in g.shape) for g in net.arrays)
        if self.als is None or shapes != self.shapes:
            self.als, self.shapes = NetworkALS(self.x, self.w, net, net.nodes), shapes
        arrays = self.als.arrays(net)
        err = self.als.sweep(arrays, exact=True)
        return net.with_arrays(arrays).cores, err


class _Plan:
    """The einsum equations of every node update, built once per network structure.

    Node ``k`` is solved from its environment matrix ``E`` (rest x bond), contracted densely
    when that matrix has at most ``DENSE_MAX`` entries (or with a mask), else from the
    two-layer contractions of ``G`` and ``R`` that never form ``E``.
    """

    def __init__(self, net: TensorNetwork, xw: Any, w: Any, update: tuple[str, ...]) -> None:
        xp = backend.namespace(xw)
        order = net.nodes
        node_legs = {n: net.legs(n) for n in order}
        dims = net.leg_dims
        opened = net.open_legs
        labels = list(dict.fromkeys(g for n in order for g in node_legs[n]))
        ket = {g: opt_einsum.get_symbol(i) for i, g in enumerate(labels)}
        bra = {
            g: (ket[g] if g in opened else opt_einsum.get_symbol(len(labels) + i))
            for i, g in enumerate(labels)
        }
        xterm = "".join(ket[g] for g in opened)
        sym_dims = {ket[g]: dims[g] for g in labels} | {bra[g]: dims[g] for g in labels}
        self.info: dict[str, dict] = {}
        for name in update:
            legs = node_legs[name]
            own_open = tuple(g for g in legs if g in opened)
            own_bond = tuple(g for g in legs if g not in opened)
            rest = tuple(g for g in opened if g not in own_open)
            others = [n for n in order if n != name]
            o_size = math.prod(dims[g] for g in own_open)
            b_size = math.prod(dims[g] for g in own_bond)
            r_size = math.prod(dims[g] for g in rest)
            perm = tuple(legs.index(g) for g in own_open + own_bond)
            kt = tuple("".join(ket[g] for g in node_legs[n]) for n in others)
            bond_ket = "".join(ket[g] for g in own_bond)
            info = {
                "others": others,
                "sizes": (o_size, b_size, r_size),
                "inv": tuple(int(i) for i in np.argsort(perm)),
                "shape_ob": tuple(dims[g] for g in own_open + own_bond),
            }
            dense = w is not None or r_size * b_size <= DENSE_MAX
            if dense:
                xaxes = tuple(opened.index(g) for g in own_open + rest)
                info["x"] = xp.reshape(xp.permute_dims(xw, xaxes), (o_size, r_size))
                if w is not None:
                    wm = xp.reshape(xp.permute_dims(w, xaxes), (o_size, r_size))
                    info["rows"] = [xp.nonzero(wm[i])[0] for i in range(o_size)]
                rterm = "".join(ket[g] for g in rest)
                info["env"] = _plan(kt, rterm + bond_ket, sym_dims) if others else None
            else:
                bt = tuple("".join(bra[g] for g in node_legs[n]) for n in others)
                bond_bra = "".join(bra[g] for g in own_bond)
                o_term = "".join(ket[g] for g in own_open)
                info["gram"] = _plan(kt + bt, bond_ket + bond_bra, sym_dims)
                info["rhs"] = _plan((xterm, *bt), o_term + bond_bra, sym_dims)
            self.info[name] = info

    def update(self, name: str, arrays: dict, xw: Any, ridge: float) -> tuple[Any, Any]:
        """Solve the normal equations for node ``name``; return it and the drop of the squared
        error below ``||W x||^2`` (a 0-d array on the device)."""
        info = self.info[name]
        o_size, b_size, r_size = info["sizes"]
        xp = backend.namespace(xw)
        cplx = backend.is_complex(xw)
        ops = [arrays[n] for n in info["others"]]
        if "env" in info:
            env = info["env"]
            e = xp.reshape(env(*ops), (r_size, b_size)) if env is not None else _ones(xw)
            ec = xp.conj(e) if cplx else e
            r = info["x"] @ ec
            if "rows" in info:
                g = _masked_grams(xp, e, ec, info["rows"])
                a = _solve_batched(xp, g, r, ridge)
            else:
                g = xp.matrix_transpose(e) @ ec
                a = _solve(xp, g, r, ridge)
        else:
            conj_ops = [xp.conj(op) for op in ops] if cplx else ops
            g = xp.reshape(info["gram"](*ops, *conj_ops), (b_size, b_size))
            r = xp.reshape(info["rhs"](xw, *conj_ops), (o_size, b_size))
            a = _solve(xp, g, r, ridge)
        fit = _quad(xp, a, g, r)
        return xp.permute_dims(xp.reshape(a, info["shape_ob"]), info["inv"]), fit


def _leaves(net: TensorNetwork, update: tuple[str, ...]) -> list[tuple[str, int, str, int]]:
    """``(leaf, its bond axis, neighbour, the neighbour's axis of that bond)`` for every node of
    one bond (and at least one open leg) that is updated together with its neighbour."""
    bonds = set(net.bonds)
    out = []
    for name in update:
        legs = net.legs(name)
        own = [g for g in legs if g in bonds]
        if len(own) != 1 or len(legs) < 2:
            continue
        (other,) = [n for n in net.nodes if n != name and own[0] in net.legs(n)]
        if other in update:
            out.append((name, legs.index(own[0]), other, net.legs(other).index(own[0])))
    return out


def _gauge_leaves(arrays: dict[str, Any], leaves: list[tuple[str, int, str, int]]) -> None:
    """Move each leaf into the QR gauge, in place (module docstring); a leaf whose matrix is
    wider than tall is left as it is."""
    for name, k, other, j in leaves:
        a = arrays[name]
        xp = backend.namespace(a)
        moved = xp.moveaxis(a, k, -1)
        mat = xp.reshape(moved, (-1, int(a.shape[k])))
        if mat.shape[0] < mat.shape[1]:
            continue
        q, r = linalg.qr(mat)
        arrays[name] = xp.moveaxis(xp.reshape(q, tuple(moved.shape)), -1, k)
        b = arrays[other]
        arrays[other] = xp.moveaxis(xp.tensordot(r, xp.moveaxis(b, j, 0), axes=1), 0, j)


def _ones(like: Any) -> Any:
    """The 1 x 1 environment of a network with a single node."""
    return backend.asarray_like(np.ones((1, 1)), like, dtype=like.dtype)


def _masked_grams(xp: Any, e: Any, ec: Any, rows: list[Any]) -> Any:
    """``G[o] = sum over the observed entries j of slice o of e[j]ᵀ conj(e[j])``: one product
    of the gathered environment rows per slice, so the work is proportional to the observed
    entries (3-4x less than weighting every entry at 30 % observed)."""
    return xp.stack(
        [xp.matrix_transpose(xp.take(e, i, axis=0)) @ xp.take(ec, i, axis=0) for i in rows]
    )


def _solve(xp: Any, g: Any, r: Any, ridge: float) -> Any:
    """``a`` with ``a g = r`` for Hermitian PSD ``g`` (ridge-regularised).

    The shift ``ridge * mean|diag g|`` stays on the device: computed in double precision and
    cast to ``g``'s dtype (the rounding a Python float gets from an array of that dtype), so
    the solve needs no host sync and gives the bits it gave with a host float.
    """
    n = int(g.shape[0])
    total = xp.astype(xp.sum(xp.abs(xp.linalg.diagonal(g))), xp.float64)
    shift = xp.astype(ridge * total / n + 1e-300, g.dtype)
    eye = xp.eye(n, dtype=g.dtype, **backend.device_kwargs(g))
    # a g = r  <=>  g^T a^T = r^T ; g^T = conj(g) for Hermitian g
    return xp.matrix_transpose(xp.linalg.solve(xp.conj(g) + shift * eye, xp.matrix_transpose(r)))


def _solve_batched(xp: Any, g: Any, r: Any, ridge: float) -> Any:
    n = int(g.shape[-1])
    diag = xp.sum(xp.abs(xp.linalg.diagonal(g)), axis=-1) / n
    floor = xp.astype(1e-14 * xp.astype(xp.max(diag), xp.float64), diag.dtype)  # as _solve
    shift = ridge * diag + floor + 1e-300
    eye = xp.eye(n, dtype=g.dtype, **backend.device_kwargs(g))
    lhs = xp.conj(g) + shift[:, None, None] * eye[None, :, :]
    return xp.linalg.solve(lhs, r[:, :, None])[:, :, 0]


def _quad(xp: Any, a: Any, g: Any, r: Any) -> Any:
    """``2 Re <a, r> - <a g, a>``: the drop of the squared error below ``||W x||^2`` (0-d, on
    the device)."""
    if g.ndim == 2:
        ag = a @ g
    else:
        ag = xp.sum(a[:, :, None] * g, axis=1)
    return xp.real(2 * xp.sum(xp.conj(a) * r) - xp.sum(ag * xp.conj(a)))


def _random_start(net, x, arrays, seed, xnorm):
    xp = backend.namespace(x)
    rng = np.random.default_rng(seed)
    out = {k: backend.random_normal(tuple(a.shape), x, rng) for k, a in arrays.items()}
    out = {k: xp.astype(a, x.dtype) for k, a in out.items()}
    dense = reproducible_contract(net.with_arrays(out))
    norm = math.sqrt(float(backend.to_numpy(xp.sum(xp.abs(dense) ** 2))))
    factor = (xnorm / norm) ** (1.0 / len(out)) if norm > 0 else 1.0
    return {k: a * factor for k, a in out.items()}


def reproducible_contract(net: TensorNetwork) -> Any:
    """``net.contract()`` with the same bits in every process (see :mod:`._pairwise`)."""
    return _dense_plan(net)(*net.arrays)


def _dense_plan(net: TensorNetwork) -> _pairwise.Pairwise:
    """The plan of :func:`reproducible_contract` for ``net``'s structure (operands in the
    order of ``net.nodes``)."""
    labels = list(dict.fromkeys(g for n in net.nodes for g in net.legs(n)))
    sym = {g: opt_einsum.get_symbol(i) for i, g in enumerate(labels)}
    dims = net.leg_dims
    terms = tuple("".join(sym[g] for g in net.legs(n)) for n in net.nodes)
    output = "".join(sym[g] for g in net.open_legs)
    return _plan(terms, output, {sym[g]: dims[g] for g in labels})


def _plan(terms: tuple[str, ...], output: str, dims: dict[str, int]) -> Any:
    used = set("".join(terms))
    return _pairwise.plan(
        terms, output, tuple(sorted((c, d) for c, d in dims.items() if c in used))
    )
