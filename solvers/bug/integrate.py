"""``integrate``: time stepping of ``Ẏ = F(t, Y)`` with a BUG integrator, and its history.

Truncation tolerance ``tol`` (ϑ) is **relative and not scaled by h**: after every step of the
rank-adaptive and parallel BUG, each bond discards singular values whose Frobenius tail is at
most ``tol · ‖Y‖`` (for a matrix: ``‖Σ_dropped‖_F <= tol ‖S‖_F``). For normalised states
(Schrödinger problems) this equals the absolute ϑ of Ceruti, Kusch & Lubich (BIT 2022).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from tnkit import backend, checks
from tnkit.formats.ttn import TTN, orthonormalize, tree_info
from tnkit.lowrank import LowRank

from . import checkpoint as saved
from . import matrix, tree
from .environments import environments, expectation
from .operators import DenseOperator, FactorOperator, SumOfProducts
from .substeps import SUBSTEPS, solver

METHODS = ("fixed", "adaptive", "parallel")


class Evolution(NamedTuple):
    """Result of :func:`integrate`: the final state and the history (a JSON-able dict)."""

    state: Any
    history: dict[str, Any]


def integrate(
    operator: Any,
    y0: Any,
    t_final: float,
    *,
    dt: float,
    method: str = "adaptive",
    tol: float = 1e-8,
    rank_max: int | None = None,
    substep: str = "rk4",
    observables: Mapping[str, Any] | None = None,
    progress: bool | Callable[[int, int, float], None] = False,
    executor: Executor | None = None,
    workers: int = 1,
    max_rejections: int = 8,
    t0: float = 0.0,
    blas_threads: int | None = 1,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_seconds: float = 60.0,
    resume: bool = False,
) -> Evolution:
    """Integrate ``Ẏ = F(t, Y)`` from ``Y(t0) = y0`` to ``t_final`` with steps ``dt``.

    Parameters
    ----------
    operator : :class:`SumOfProducts`, :class:`DenseOperator` (callable on dense arrays), or for
        matrices :class:`FactorOperator`. Problems from :mod:`solvers.bug.problems` give
        ``F = -iH`` directly.
    y0 : a :class:`~tnkit.lowrank.LowRank` matrix ``(u, s, v)``, a :class:`tnkit.TTN`, or a
        Tucker tensor (integrated as the depth-one TTN and returned as Tucker).
    t_final, dt : final time and step size (> 0; the last step is shortened to hit ``t_final``).
    method : ``"fixed"`` (fixed-rank BUG; Ceruti & Lubich 2022), ``"adaptive"`` (rank-adaptive
        BUG; Ceruti, Kusch & Lubich 2022; Ceruti, Lubich & Sulz 2023) or ``"parallel"``
        (parallel BUG with step rejection; Ceruti, Kusch, Lubich & Sulz 2024).
    tol : relative truncation tolerance in (0, 1), not scaled by ``dt`` (see the module doc).
    rank_max : cap on every bond rank (>= the initial ranks).
    substep : ``"rk4"`` (one classical RK4 step per substep) or ``"expm"`` (Krylov exponential,
        linear operators; conserves the norm of unitary problems to round-off).
    observables : ``{name: operator}``; ``⟨Y, A Y⟩`` (real part) is recorded after each step.
    progress : True for a tqdm bar, or a callable ``progress(step, n_steps, t)``.
    executor, workers : run independent substeps concurrently on ``executor`` (or on a thread
        pool of ``workers`` threads). The parallel method runs every leaf and node step of a
        step concurrently; the others run siblings (matrix: K and L) concurrently.
    max_rejections : parallel method: at most this many rejected attempts per step.
    t0 : start time (resume an interrupted run from its last state and time).
    blas_threads : BLAS threads during the run (via threadpoolctl when installed). The default
        1 suits the many small products of a step (threaded BLAS only adds overhead there and
        thrashes on a busy machine); concurrency comes from ``workers``. ``None`` leaves BLAS
        as it is (large matrix problems on an idle machine).
    checkpoint : a ``.npz`` file (:mod:`solvers.bug.checkpoint`: the state's arrays and the
        history, no pickle) rewritten at most every ``checkpoint_seconds`` of wall time (0:
        after every step), on Ctrl-C and at the end, each time replaced atomically.
    resume : go on from ``checkpoint`` when it exists (start afresh when it does not). The run
        must have the same operator, tree, ``method``, ``dt``, ``tol``, ``rank_max``,
        ``substep`` and ``t0``; ``t_final`` may be larger. The resumed run reaches the same
        state, bit for bit, as one that was never interrupted, and its history covers both.

    Returns
    -------
    Evolution(state, history); ``history`` has lists ``time``, ``norm``, ``energy``
    (``⟨Y, HY⟩`` when the operator has ``.hamiltonian``), ``max_rank``, ``ranks`` (per bond),
    ``rejected`` (per step), ``seconds`` and ``cpu_seconds`` (wall and process time per
    step) and ``observables`` ({name: list}), plus
    ``interrupted`` (Ctrl-C stops the run and returns what was done).
    """
    _check_options(method, tol, substep, dt, t_final, t0, max_rejections, operator)
    _check_checkpoint(checkpoint, checkpoint_seconds, resume)
    state, kind = _as_state(y0, operator)
    if observables is not None and not isinstance(observables, Mapping):
        raise TypeError(f"observables must map names to operators, got {observables!r}")
    observables = dict(observables or {})
    workers = checks.check_int(workers, "workers")
    checks.check_progress(progress)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    _check_rank_max(rank_max, state, kind)
    for name, obs in {"operator": operator, **observables}.items():
        _check_sites(obs, state, kind, name)
    run = _Runner(operator, kind, method, tol, rank_max, solver(substep), max_rejections)
    n_steps = max(1, math.ceil((t_final - t0) / dt - 1e-9))
    settings = dict(
        method=method, dt=dt, tol=tol, rank_max=rank_max, substep=substep, t0=t0,
        operator=_describe(operator), observables=sorted(observables),
    )  # fmt: skip
    history, t, done = _new_history(observables), float(t0), 0
    if resume and os.path.exists(checkpoint):
        back = saved.load(checkpoint, kind, settings, _an_array(state), t_final)
        state, t, done, history = back.state, back.time, back.steps_done, back.history
    own_pool = ThreadPoolExecutor(workers) if executor is None and workers > 1 else None
    pool = executor or own_pool
    bar = _progress_bar(progress, n_steps)
    envs: dict = {}
    if done == 0:
        _record(history, state, kind, t, 0, (0.0, 0.0), operator, observables, envs)
    last = (done, t, state)  # the last finished step, replaced in one assignment
    saved_at = time.perf_counter()
    limits = _blas_limits(blas_threads)
    try:
        for n in range(done, n_steps):
            h = min(dt, t_final - t)
            start, cpu = time.perf_counter(), time.process_time()
            state, rejected = run.step(state, t, h, pool)
            t = t0 + (n + 1) * dt if n + 1 < n_steps else float(t_final)
            elapsed = (time.perf_counter() - start, time.process_time() - cpu)
            _record(history, state, kind, t, rejected, elapsed, operator, observables, envs)
            last = (n + 1, t, state)
            if checkpoint is not None and time.perf_counter() - saved_at >= checkpoint_seconds:
                saved.save(checkpoint, state, kind, settings, n + 1, t, history)
                saved_at = time.perf_counter()
            if bar is not None:
                bar(n + 1, n_steps, t)
    except KeyboardInterrupt:
        history["interrupted"] = True
        _trim_history(history, last[0] + 1)
    finally:
        limits.__exit__(None, None, None)
        if own_pool is not None:
            own_pool.shutdown()
        if hasattr(bar, "close"):
            bar.close()
    done, t, state = last
    if checkpoint is not None:
        saved.save(checkpoint, state, kind, settings, done, t, history)
    options = dict(method=method, dt=dt, tol=tol, rank_max=rank_max, substep=substep)
    return Evolution(_as_output(state, kind, y0, options), history)


def _blas_limits(threads: int | None) -> Any:
    """An entered context that limits BLAS to ``threads`` (no-op without threadpoolctl)."""
    ctx: Any = contextlib.nullcontext()
    if threads is not None:
        if int(threads) != threads or threads < 1:
            raise ValueError(f"blas_threads must be a positive integer or None, got {threads!r}")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            ctx = threadpool_limits(limits=int(threads), user_api="blas")
    ctx.__enter__()
    return ctx


# ---------------------------------------------------------------------------- stepping
class _Runner:
    def __init__(self, op, kind, method, tol, rank_max, solve, max_rejections) -> None:
        self.op, self.kind, self.method, self.tol = op, kind, method, tol
        self.rank_max, self.solve, self.max_rejections = rank_max, solve, max_rejections
        self.env = None
        if kind == "matrix":
            self.fop = None
        else:
            self.info = tree_info(kind)

    def step(self, state: Any, t: float, h: float, pool: Executor | None) -> tuple[Any, int]:
        if self.kind == "matrix":
            return self._matrix_step(state, t, h, pool)
        return self._tree_step(state, t, h, pool)

    def _matrix_step(self, y: LowRank, t: float, h: float, pool) -> tuple[LowRank, int]:
        if self.fop is None:
            self.fop = matrix.factor_operator(self.op, y.s)
        for attempt in range(self.max_rejections + 1):
            new, aug = matrix.step(
                self.fop,
                y,
                self.solve,
                t,
                h,
                method=self.method,
                tol=self.tol,
                rank_max=self.rank_max,
                executor=pool,
            )
            if aug is None or attempt == self.max_rejections:
                return new, attempt
            s = tree.pad_to(y.s, (aug.u.shape[1], aug.v.shape[1]))
            r_old, r_new = y.s.shape[0], new.s.shape[0]
            grow = self._rejects(r_old, aug.s.shape[0], r_new)
            if not grow and not self._neglects_too_much(t, h, y, LowRank(aug.u, s, aug.v)):
                return new, attempt
            y = LowRank(aug.u, s, aug.v)
        raise AssertionError("unreachable")

    def _rejects(self, r_old: int, r_aug: int, r_new: int) -> bool:
        """All new directions kept on a bond that could still grow: redo with the bigger basis."""
        cap = self.rank_max is None or r_aug < self.rank_max
        return r_aug > r_old and r_new == r_aug and cap

    def _neglects_too_much(self, t: float, h: float, y: LowRank, padded: LowRank) -> bool:
        """The η rule of the parallel BUG: reject when ``h ‖Ũᴴ F(Y0) Ṽ‖ > tol ‖Y0‖``.

        The new-new block that the parallel step sets to zero is ``≈ h Ũᴴ F(Y0) Ṽ``; it comes
        from one Galerkin right-hand side in the padded bases ``[U0, Ũ]``, ``[V0, Ṽ]``.
        """
        r, q = y.u.shape[1], y.v.shape[1]
        if padded.u.shape[1] == r or padded.v.shape[1] == q:
            return False
        if self.rank_max is not None and min(padded.u.shape[1], padded.v.shape[1]) >= self.rank_max:
            return False
        f = self.fop.s(t, padded.s, padded.u, padded.v)[r:, q:]
        xp = backend.namespace(f)
        eta = float(xp.linalg.matrix_norm(f))
        return h * eta > self.tol * float(xp.linalg.matrix_norm(y.s))

    def _tree_neglects(self, old: dict, padded: dict, t: float, h: float, norm: float) -> bool:
        """The η rule on a tree: reject when, at some node, ``h`` times the norm of ``F(Y0)``
        projected on the blocks with two or more new child directions (the blocks the parallel
        step sets to zero) exceeds ``tol ‖Y0‖``."""
        info = self.info
        prep = tree.Prepared(info, padded, self.env)
        for x in info.inner:
            kids = info.children[x]
            if sum(padded[c].shape[-1] > old[c].shape[-1] for c in kids) < 2:
                continue
            f = self.env.node_rhs(x, [prep.ups[c] for c in kids], prep.down[x])(t, prep.init[x])
            f = f * backend.asarray_like(tree.new_block_mask(old, padded, kids, f.shape), f)
            if h * float(backend.namespace(f).linalg.vector_norm(f)) > self.tol * norm:
                return True
        return False

    def _tree_step(self, arrays: dict, t: float, h: float, pool) -> tuple[dict, int]:
        info = self.info
        if self.env is None:
            self.env = environments(self.op, info, arrays[info.root])
        norm = _tree_norm(arrays, info)
        if self.method != "parallel":
            new = tree.sequential_step(
                info,
                arrays,
                self.env,
                self.solve,
                t,
                h,
                augment=self.method == "adaptive",
                executor=pool,
            )
            if self.method == "fixed":
                return new, 0
            return tree.truncate_tree(
                info, new, max_error=self.tol * norm, rank_max=self.rank_max
            ), 0
        for attempt in range(self.max_rejections + 1):
            aug, dims = tree.parallel_step(info, arrays, self.env, self.solve, t, h, executor=pool)
            new = tree.truncate_tree(info, aug, max_error=self.tol * norm, rank_max=self.rank_max)
            if attempt == self.max_rejections:
                return new, attempt
            padded = tree.padded_state(info, aug, arrays[info.root])
            grow = any(
                self._rejects(int(arrays[x].shape[-1]), dims[x], int(new[x].shape[-1]))
                for x in info.order[:-1]
            )
            capped = self.rank_max is not None and max(dims.values()) >= self.rank_max
            if not grow and (capped or not self._tree_neglects(arrays, padded, t, h, norm)):
                return new, attempt
            arrays = padded
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- state handling
def _as_state(y0: Any, operator: Any) -> tuple[Any, Any]:
    """(internal state, kind): kind is "matrix" or the tree of a TTN."""
    complex_op = _is_complex(operator)
    if isinstance(y0, LowRank) or (isinstance(y0, tuple) and len(y0) == 3):
        u, s, v = (backend.as_data_tensor(a, name, min_ndim=2) for a, name in zip(y0, "usv"))
        if s.ndim != 2 or u.shape[1] != s.shape[0] or v.shape[1] != s.shape[1]:
            raise ValueError(
                f"y0 = (u, s, v) needs u (m, r), s (r, q), v (n, q); got shapes "
                f"{tuple(u.shape)}, {tuple(s.shape)}, {tuple(v.shape)}"
            )
        if complex_op:
            u, s, v = (_to_complex(a) for a in (u, s, v))
        return LowRank(u, s, v), "matrix"
    if isinstance(y0, TTN):
        ttn = y0
    elif hasattr(y0, "core") and hasattr(y0, "factors"):
        ttn = TTN.from_tucker(y0.core, y0.factors)
    else:
        raise TypeError(
            f"y0 must be a LowRank (u, s, v), a TTN or a Tucker tensor, got {type(y0).__name__}"
        )
    arrays = ttn.node_arrays()
    if complex_op:
        arrays = {k: _to_complex(a) for k, a in arrays.items()}
    return orthonormalize(ttn.info, arrays), ttn.tree


def _as_output(state: Any, kind: Any, y0: Any, options: dict) -> Any:
    if kind == "matrix":
        return state
    ttn = TTN(kind, state, options=options)
    if isinstance(y0, TTN):
        return ttn
    from tnkit.formats.tucker import Tucker

    return Tucker(ttn[ttn.info.root], ttn.leaves, options=options)


def _is_complex(op: Any) -> bool:
    if isinstance(op, SumOfProducts):
        return any(t.coef.imag != 0 or any(backend.is_complex(m) for m in t.mats) for t in op.terms)
    return False


def _to_complex(a: Any) -> Any:
    if backend.is_complex(a):
        return a
    xp = backend.namespace(a)
    return xp.astype(a, xp.complex64 if backend.dtype_name(a) == "float32" else xp.complex128)


def _tree_norm(arrays: dict, info: Any) -> float:
    root = arrays[info.root]
    return float(backend.namespace(root).linalg.vector_norm(root))


def _ranks(state: Any, kind: Any) -> dict[str, int]:
    if kind == "matrix":
        return {"r": int(state.s.shape[0])}
    return {x: int(state[x].shape[-1]) for x in tree_info(kind).order[:-1]}


def _as_tree(state: Any, kind: Any) -> tuple[Any, dict]:
    """A matrix state as the two-leaf orthonormal TTN (for expectations)."""
    if kind != "matrix":
        return tree_info(kind), state
    xp = backend.namespace(state.s)
    return tree_info((0, 1)), {"leaf0": state.u, "leaf1": xp.conj(state.v), "node": state.s}


# ---------------------------------------------------------------------------- history
def _new_history(observables: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("time", "norm", "energy", "max_rank", "ranks", "rejected", "seconds", "cpu_seconds")
    hist: dict[str, Any] = {k: [] for k in keys}
    hist["observables"] = {name: [] for name in observables}
    hist["interrupted"] = False
    return hist


def _record(hist, state, kind, t, rejected, seconds, operator, observables, envs) -> None:
    info, arrays = _as_tree(state, kind)
    ranks = _ranks(state, kind)
    hist["time"].append(float(t))
    hist["norm"].append(_tree_norm(arrays, info))
    ham = getattr(operator, "hamiltonian", None)
    hist["energy"].append(None if ham is None else _expect(ham, info, arrays, envs))
    hist["ranks"].append(ranks)
    hist["max_rank"].append(max(ranks.values()))
    hist["rejected"].append(int(rejected))
    hist["seconds"].append(float(seconds[0]))
    hist["cpu_seconds"].append(float(seconds[1]))
    for name, obs in observables.items():
        hist["observables"][name].append(_expect(obs, info, arrays, envs))


def _expect(op: Any, info: Any, arrays: dict, envs: dict) -> float:
    """Real part of ``⟨Y, op Y⟩``; ``envs`` keeps each operator's environments for the run."""
    if id(op) not in envs:
        envs[id(op)] = environments(op, info, arrays[info.root])
    return expectation(op, info, arrays, envs[id(op)]).real


def _trim_history(hist: dict[str, Any], length: int) -> None:
    """Cut every per-step list to ``length`` records (a step interrupted while recorded)."""
    for value in hist.values():
        if isinstance(value, list):
            del value[length:]
    for values in hist["observables"].values():
        del values[length:]


def _describe(operator: Any) -> dict[str, Any]:
    """What a checkpoint records of the operator to recognise it on resume."""
    dims = getattr(operator, "dims", None)
    return {
        "type": type(operator).__name__,
        "dims": None if dims is None else [int(d) for d in dims],
        "terms": len(operator.terms) if isinstance(operator, SumOfProducts) else None,
    }


def _an_array(state: Any) -> Any:
    """One array of the state: its backend, device and dtype are the run's."""
    return state.s if isinstance(state, LowRank) else next(iter(state.values()))


def _progress_bar(progress: Any, n_steps: int) -> Any:
    if not progress:
        return None
    if callable(progress):
        return progress
    from tqdm.auto import tqdm

    bar = tqdm(total=n_steps, desc="BUG")

    def update(step: int, total: int, t: float) -> None:
        bar.update(1)
        bar.set_postfix(t=f"{t:.4g}")

    update.close = bar.close  # type: ignore[attr-defined]
    return update


# ---------------------------------------------------------------------------- validation
def _check_options(method, tol, substep, dt, t_final, t0, max_rejections, operator) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if substep not in SUBSTEPS:
        raise ValueError(f"substep must be one of {SUBSTEPS}, got {substep!r}")
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    for name, v in (("dt", dt), ("t_final", t_final), ("t0", t0)):
        if not isinstance(v, (int, float)) or not np.isfinite(v):
            raise TypeError(f"{name} must be a finite number, got {v!r}")
    if dt <= 0 or t_final <= t0:
        raise ValueError(
            f"need dt > 0 and t_final > t0; got dt={dt!r}, t0={t0!r}, t_final={t_final!r}"
        )
    if int(max_rejections) != max_rejections or max_rejections < 0:
        raise ValueError(f"max_rejections must be a non-negative integer, got {max_rejections!r}")
    if not isinstance(operator, (SumOfProducts, DenseOperator, FactorOperator)):
        raise TypeError(
            "operator must be a SumOfProducts, DenseOperator or FactorOperator, got "
            f"{type(operator).__name__}"
        )
    if substep == "expm" and not operator.linear:
        raise ValueError("substep='expm' needs a linear operator")


def _check_checkpoint(checkpoint: Any, seconds: Any, resume: Any) -> None:
    checks.check_checkpoint(checkpoint, resume)
    if not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ValueError(f"checkpoint_seconds must be a number >= 0, got {seconds!r}")


def _check_rank_max(rank_max: Any, state: Any, kind: Any) -> None:
    if rank_max is None:
        return
    if int(rank_max) != rank_max or rank_max < 1:
        raise ValueError(f"rank_max must be a positive integer, got {rank_max!r}")
    top = max(_ranks(state, kind).values())
    if rank_max < top:
        raise ValueError(f"rank_max={rank_max} is below the initial rank {top}")


def _check_sites(op: Any, state: Any, kind: Any, name: str) -> None:
    dims = getattr(op, "dims", None)
    if dims is None:
        if kind != "matrix":
            raise TypeError(f"{name}: a FactorOperator only drives matrix states")
        return
    shape = (
        (int(state.u.shape[0]), int(state.v.shape[0]))
        if kind == "matrix"
        else tuple(int(state[f"leaf{k}"].shape[0]) for k in range(tree_info(kind).n_modes))
    )
    if tuple(dims) != shape:
        raise ValueError(f"{name} acts on sites of dims {tuple(dims)} but the state has {shape}")
