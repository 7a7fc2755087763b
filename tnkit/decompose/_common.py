"""Pieces shared by the decomposition algorithms: mode products, Gram matrices of unfoldings,
option validation, progress reporting and masked (EM) imputation."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, linalg


# ---------------------------------------------------------------------- multilinear algebra
def mode_product(x: Any, m: Any, mode: int) -> Any:
    """``x ×_mode m``: contract axis ``mode`` of ``x`` (size n) with the columns of ``m`` (p, n).

    Uses one batched matrix product on a free reshape ``(pre, n, post)`` of ``x`` — no
    transposed copy of ``x`` is made.
    """
    xp = backend.namespace(x)
    shape = tuple(int(d) for d in x.shape)
    pre, post = math.prod(shape[:mode]), math.prod(shape[mode + 1 :])
    p = int(m.shape[0])
    if pre == 1:
        y = m @ xp.reshape(x, (shape[mode], post))
    elif post == 1:
        y = xp.reshape(x, (pre, shape[mode])) @ m.T
    else:
        y = xp.matmul(m, xp.reshape(x, (pre, shape[mode], post)))
    return xp.reshape(y, (*shape[:mode], p, *shape[mode + 1 :]))


def mode_products(x: Any, mats: list[Any]) -> Any:
    """``x ×_0 mats[0] ×_1 mats[1] ⋯`` (one :func:`mode_product` per mode)."""
    for k, m in enumerate(mats):
        x = mode_product(x, m, k)
    return x


def mode_gram(x: Any, mode: int) -> Any:
    """``X_(mode) X_(mode)ᴴ`` (n × n), the Gram matrix of the mode-``mode`` unfolding."""
    return mode_cross(x, x, mode)


def mode_cross(a: Any, b: Any, mode: int) -> Any:
    """``A_(mode) B_(mode)ᴴ``: contract every axis but ``mode`` of ``a`` with ``conj(b)``.

    ``a`` and ``b`` agree on every axis but ``mode``; free reshapes ``(pre, n, post)`` and
    (batched) matrix products, no transposed copy unless the batch of products is large.
    """
    xp = backend.namespace(a, b)
    shape = tuple(int(d) for d in a.shape)
    pre, post = math.prod(shape[:mode]), math.prod(shape[mode + 1 :])
    n, m = shape[mode], int(b.shape[mode])
    bc = xp.conj(b) if backend.is_complex(b) else b
    if pre == 1:
        return xp.reshape(a, (n, post)) @ xp.reshape(bc, (m, post)).T
    if post == 1:
        return xp.reshape(a, (pre, n)).T @ xp.reshape(bc, (pre, m))
    a3, b3 = xp.reshape(a, (pre, n, post)), xp.reshape(bc, (pre, m, post))
    if pre * n * m <= 4 * pre * n * post:  # the batch of small products is cheap to store
        return xp.sum(xp.matmul(a3, xp.permute_dims(b3, (0, 2, 1))), axis=0)
    a2 = xp.reshape(xp.permute_dims(a3, (1, 0, 2)), (n, pre * post))
    b2 = xp.reshape(xp.permute_dims(b3, (1, 0, 2)), (m, pre * post))
    return a2 @ b2.T


def eigh_desc(g: Any) -> tuple[Any, Any]:
    """Eigen-pairs of a Hermitian PSD matrix, largest first, as (singular values, vectors)."""
    xp = backend.namespace(g)
    w, v = xp.linalg.eigh(g)
    w = xp.flip(w, axis=0)
    v = xp.flip(v, axis=1)
    return xp.sqrt(xp.clip(w, 0.0, None)), v


def unfold(x: Any, mode: int) -> Any:
    """Mode-``mode`` unfolding ``X_(mode)`` (n_mode × rest), a copy unless ``mode`` is 0."""
    xp = backend.namespace(x)
    n = int(x.shape[mode])
    return xp.reshape(xp.moveaxis(x, mode, 0), (n, -1))


def left_subspace(x: Any, mode: int, cap: int, max_err: float | None) -> tuple[Any, float]:
    """Orthonormal basis ``u`` (n × r) of the leading left singular subspace of ``X_(mode)``.

    ``r <= cap`` and, when ``max_err`` is given, the smallest rank whose discarded singular
    values have norm ``<= max_err`` (:func:`tnkit.linalg.rank_for_error`). Uses the eigen-
    decomposition of the Gram matrix (no copy of ``x``) when that is accurate enough, else a
    LAPACK SVD of the unfolding. The Gram route is exact up to a backward error
    ``~ n·eps·s0²`` in the eigenvalues: it perturbs the projection residual by at most that
    ``margin``, which is subtracted from ``max_err`` — and when ``max_err`` is too small for
    it, LAPACK is used. LAPACK is also used when the unfolding is tall (``n`` larger than the
    product of the other dimensions), where its SVD costs less than the ``n × n`` eigen-
    decomposition. Returns ``(u, norm of the discarded singular values)``.
    """
    n = int(x.shape[mode])
    if n * n > math.prod(int(d) for d in x.shape):
        return _lapack_left_subspace(x, mode, cap, max_err)
    s, v = eigh_desc(mode_gram(x, mode))
    s_np = backend.to_numpy(s).astype(np.float64)
    s0 = float(s_np[0])
    if s0 == 0.0:
        return v[:, :1], 0.0
    # Gram eigenvalues carry errors ~ n·eps·s0²: keep a margin so the true tail meets max_err
    margin = 10.0 * math.sqrt(int(x.shape[mode]) * backend.eps(x)) * s0
    r = min(cap, s_np.size)
    ok = True
    if max_err is not None:
        ok = max_err > 2 * margin
        r = min(r, linalg.rank_for_error(s_np, max_err - margin)) if ok else r
    if ok:
        return v[:, :r], float(np.sqrt(np.sum(s_np[r:] ** 2)))
    return _lapack_left_subspace(x, mode, cap, max_err)


def _lapack_left_subspace(x: Any, mode: int, cap: int, max_err: float | None) -> tuple[Any, float]:
    u, _, _, err = linalg.truncated_svd(
        unfold(x, mode), rank=cap, max_error=max_err, method="lapack"
    )
    return u, err


def ct(x: Any) -> Any:
    """Conjugate transpose of a matrix."""
    xp = backend.namespace(x)
    return xp.conj(x.T) if backend.is_complex(x) else x.T


def fro(x: Any) -> float:
    """Frobenius norm as a Python float (a dot product: no temporary copy of ``x``)."""
    xp = backend.namespace(x)
    v = xp.reshape(x, (-1,))
    return math.sqrt(max(float(xp.real(xp.vecdot(v, v))), 0.0))


# ---------------------------------------------------------------------- validation
def check_tol(tol: float | None, name: str = "tol") -> None:
    """``tol`` must be None or a number in (0, 1)."""
    if tol is None:
        return
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"{name} must be a relative error in (0, 1), got {tol!r}")


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


COMPLETION_SWEEPS = 300  # default max_iter of completion from listed entries (rank growth)


def default_sweeps(max_iter: Any, default: int, completion: bool) -> int:
    """``max_iter`` validated; None gives ``default``, or :data:`COMPLETION_SWEEPS` for the
    completion of a :class:`tnkit.sparse.SparseTensor`, which needs tens to hundreds."""
    if max_iter is None:
        return COMPLETION_SWEEPS if completion else default
    return check_positive_int(max_iter, "max_iter")


def tt_bond_bounds(shape: tuple[int, ...]) -> list[int]:
    """The largest rank of each TT bond of ``shape``: ``min(n_0⋯n_k, n_{k+1}⋯n_{N-1})``."""
    return [
        min(math.prod(shape[: k + 1]), math.prod(shape[k + 1 :])) for k in range(len(shape) - 1)
    ]


def check_ranks(rank: Any, bounds: list[int], what: str) -> list[int]:
    """``rank`` (one int or one per entry of ``bounds``) as a list, each in [1, bound].

    A single int is a cap for every entry (clamped to each bound); an entry of a sequence
    above its bound raises ``ValueError`` naming the bound.
    """
    if isinstance(rank, (int, np.integer)) and not isinstance(rank, bool):
        if rank < 1:
            raise ValueError(f"rank must be a positive integer, got {rank!r}")
        return [min(int(rank), b) for b in bounds]
    elif isinstance(rank, (list, tuple)):
        ranks = list(rank)
    else:
        raise TypeError(f"rank must be an int or a sequence of ints, got {type(rank).__name__}")
    if len(ranks) != len(bounds):
        raise ValueError(f"rank must give {len(bounds)} {what}, got {len(ranks)}: {rank!r}")
    for k, (r, b) in enumerate(zip(ranks, bounds)):
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
            raise ValueError(f"rank[{k}] must be a positive integer, got {r!r}")
        if r > b:
            raise ValueError(f"rank[{k}] = {r} exceeds the largest possible {what[:-1]}, {b}")
    return [int(r) for r in ranks]


def check_mask(mask: Any, x: Any) -> Any:
    """A boolean/0-1 mask of ``x``'s shape as an array of ``x``'s backend, device and real
    dtype (1 = observed); ``None`` stays ``None``.

    The values are checked on ``x``'s device (two scalar syncs, no host copy of the mask).
    """
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = np.asarray(mask)
    try:
        backend.backend_name(mask)
        mask.shape  # noqa: B018 - python scalars pass backend_name
    except (TypeError, AttributeError):
        raise TypeError(f"mask must be an array, got {type(mask).__name__}") from None
    if tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"mask has shape {tuple(mask.shape)} but x has {tuple(x.shape)}")
    if not backend.dtype_name(mask).startswith(("bool", "int", "uint", "float")):
        raise ValueError("mask must hold only booleans or 0/1 values")
    xp = backend.namespace(x)
    w = backend.asarray_like(mask, x, dtype=_real_dtype(x))
    if not bool(xp.all((w == 0) | (w == 1))):
        raise ValueError("mask must hold only booleans or 0/1 values")
    if not bool(xp.any(w)):
        raise ValueError("mask observes no entry")
    return w


def check_masked_data(x: Any, mask: Any, name: str = "x", min_ndim: int = 1) -> tuple[Any, Any]:
    """``(x, w)``: ``x`` validated by :func:`tnkit.backend.as_data_tensor` and ``w`` by
    :func:`check_mask`, except that NaN/Inf may sit at unobserved entries (they become 0).

    NaN or Inf at an observed entry raises ``ValueError`` naming ``name``. Without a mask this
    is ``as_data_tensor`` (which rejects every NaN/Inf) and ``w`` is ``None``.
    """
    if mask is None:
        return backend.as_data_tensor(x, name, min_ndim), None
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    try:
        xp = backend.namespace(x)
        finite = xp.isfinite(x)
    except TypeError:  # not an array of numbers: as_data_tensor names the problem
        return backend.as_data_tensor(x, name, min_ndim), None
    if not bool(xp.all(finite)):
        x = xp.where(finite, x, xp.zeros_like(x))
    x = backend.as_data_tensor(x, name, min_ndim)
    w = check_mask(mask, x)
    if not bool(xp.all(finite | (w == 0))):
        raise ValueError(f"{name} has NaN or Inf entries where mask is True (observed entries)")
    return x, w


def _real_dtype(x: Any) -> Any:
    xp = backend.namespace(x)
    return getattr(xp, backend.real_dtype_name(x))


def impute(x: Any, mask: Any, approx: Any) -> Any:
    """EM step for missing data: observed entries from ``x``, the rest from ``approx``."""
    return mask * x + (1 - mask) * approx


def masked_error(x: Any, mask: Any, approx: Any) -> float:
    """Relative error on the observed entries only."""
    return fro(mask * (x - approx)) / max(fro(mask * x), 1e-300)


# ---------------------------------------------------------------------- progress
class Progress:
    """Per-sweep progress: ``progress=True`` shows a tqdm bar (when tqdm is installed), a
    callable is called as ``progress(sweep, rel_error)``, ``False``/``None`` does nothing."""

    def __init__(self, progress: bool | Callable[[int, float], Any] | None, total: int, desc: str):
        self._call = progress if callable(progress) else None
        self._bar = None
        if progress is True:
            try:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=desc, leave=False)
            except ImportError:
                self._bar = None
        elif progress not in (None, False) and not callable(progress):
            raise TypeError(f"progress must be a bool or a callable, got {progress!r}")

    def update(self, sweep: int, error: float) -> None:
        if self._call is not None:
            self._call(sweep, error)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(error=f"{error:.3g}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Sweeps:
    """ALS sweeps with stopping rules, progress reporting and Ctrl-C handling.

    ``sweep(cores)`` returns the updated cores and the relative error; :meth:`run` sweeps until
    the error is at most ``tol``, a sweep lowers it by less than ``improvement_tol``, or
    ``max_iter`` sweeps, and sets :attr:`interrupted` on Ctrl-C (returning the cores of the
    last finished sweep). ``desc`` labels the progress bar.
    """

    def __init__(
        self,
        sweep: Callable[[list[Any]], tuple[list[Any], float]],
        max_iter: int,
        improvement_tol: float,
        tol: float | None,
        progress: bool | Callable[[int, float], Any],
        desc: str,
    ) -> None:
        self.sweep, self.max_iter = sweep, max_iter
        self.improvement_tol, self.tol = improvement_tol, tol if tol is not None else 0.0
        self.bar = Progress(progress, max_iter, desc)
        self.interrupted = False

    def run(self, cores: list[Any], sweeps: int | None = None) -> tuple[list[Any], list[float]]:
        """Sweep from ``cores`` (at most ``sweeps`` times when given, else ``max_iter``)."""
        history: list[float] = []
        try:
            for sweep in range(self.max_iter if sweeps is None else min(sweeps, self.max_iter)):
                cores, err = self.sweep(cores)
                history.append(err)
                self.bar.update(sweep + 1, err)
                if err <= self.tol:
                    break
                if sweep and history[-2] - err < self.improvement_tol:
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        return cores, history


def best_of_starts(
    run: Callable[[int], tuple[list[Any], list[float], bool]], restarts: int, tol: float | None
) -> tuple[list[Any], list[float], bool, int]:
    """Up to ``restarts`` fits ``run(0), run(1), ...`` (each returning cores, error history and
    whether Ctrl-C stopped it), stopping at the first interrupted one or the first whose last
    error is at most ``tol``. Returns the lowest-error fit's cores and history, whether the
    last fit was interrupted, and how many ran."""
    best: tuple[list[Any], list[float]] | None = None
    for start in range(restarts):
        cores, history, interrupted = run(start)
        if history and (best is None or history[-1] < best[1][-1]):
            best = (cores, history)
        if interrupted or (tol is not None and history and history[-1] <= tol):
            break
    cores, history = best if best is not None else (cores, history)
    return cores, history, interrupted, start + 1


def tucker_sweeps(
    norm: float,
    x: Any,
    mask: Any,
    data: Any,
    core: Any,
    factors: list[Any],
    sweep: Callable[[Any, Any, list[Any]], tuple[Any, list[Any], Any]],
    max_iter: int,
    stop_tol: float | None,
    progress: bool | Callable[[int, float], Any],
    desc: str,
    history: list[float],
) -> tuple[Any, list[Any]]:
    """The sweep loop of HOOI (dense and sparse) and nonnegative Tucker, with EM imputation
    for a ``mask``.

    ``norm`` is ``||x||`` (``x`` itself is read only with a mask). ``sweep(data, core,
    factors)`` returns the new core and factors and their squared residual
    against ``data`` (a 0-d array, read only without a mask: the sweep's one host sync). With a
    mask the error is that of the observed entries, and ``data`` is re-imputed from the model
    after each sweep. Appends each sweep's relative error to ``history``; stops after
    ``max_iter`` sweeps, when a sweep lowers the error by less than ``stop_tol``, or on Ctrl-C
    (returning the last finished sweep's model; ``core`` stays as given before the first).
    """
    bar = Progress(progress, max_iter, desc)
    try:
        for _ in range(max_iter):
            core, factors, err2 = sweep(data, core, factors)
            if mask is None:
                err = math.sqrt(max(float(err2), 0.0)) / norm
            else:
                approx = mode_products(core, factors)
                err = masked_error(x, mask, approx)
                data = impute(x, mask, approx)
            history.append(err)
            bar.update(len(history), err)
            if stop_tol is not None and len(history) > 1 and history[-2] - err < stop_tol:
                break
    except KeyboardInterrupt:
        pass
    finally:
        bar.close()
    return core, factors


def mean_filled(x: Any, w: Any) -> Any:
    """``x`` with its unobserved entries (``w == 0``) set to the mean of the observed ones."""
    xp = backend.namespace(x)
    mean = xp.sum(w * x) / xp.astype(xp.sum(w), x.dtype)
    return w * x + (1 - w) * mean
