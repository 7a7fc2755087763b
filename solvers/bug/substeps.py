"""Substep solvers: advance ``y' = f(t, y)`` over one step ``h`` for the K-, L- and S-steps.

* ``"rk4"`` — one classical Runge–Kutta step (as in the authors' codes).
* ``"expm"`` — for linear autonomous ``f(y) = A y``: ``y(h) = exp(hA) y0`` by an Arnoldi
  (Krylov) approximation with automatic sub-stepping (Saad 1992; Hochbruck & Lubich 1997).
  For skew-Hermitian ``A`` (Schrödinger problems) the projected matrix is skew-Hermitian, so
  the result has the norm of ``y0`` to round-off whatever the Krylov error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg

from tnkit import backend

SUBSTEPS = ("rk4", "expm")
_KRYLOV_DIM = 30
_KRYLOV_TOL = 1e-13


def rk4(f: Callable[[float, Any], Any], y0: Any, t0: float, h: float) -> Any:
    """One classical RK4 step."""
    k1 = f(t0, y0)
    k2 = f(t0 + h / 2, y0 + (h / 2) * k1)
    k3 = f(t0 + h / 2, y0 + (h / 2) * k2)
    k4 = f(t0 + h, y0 + h * k3)
    return y0 + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


def expm(f: Callable[[float, Any], Any], y0: Any, t0: float, h: float) -> Any:
    """``exp(h A) y0`` for linear ``f(t, y) = A y`` by Arnoldi with sub-stepping."""
    xp = backend.namespace(y0)
    if not backend.is_complex(y0) and backend.is_complex(f(t0, y0)):
        y0 = xp.astype(y0, xp.complex64 if backend.dtype_name(y0) == "float32" else xp.complex128)
    shape = y0.shape
    v = xp.reshape(y0, (-1,))
    beta = float(xp.linalg.vector_norm(v))
    if beta == 0.0:
        return y0
    m_max = min(_KRYLOV_DIM, int(v.shape[0]))
    remaining, tau = h, h
    while remaining > 0:
        tau = min(tau, remaining)
        w, err = _arnoldi_step(
            lambda z: xp.reshape(f(t0, xp.reshape(z, shape)), (-1,)), v, tau, m_max
        )
        if err > _KRYLOV_TOL * max(beta, 1.0) and tau > h * 1e-6:
            tau /= 2
            continue
        v, remaining = w, remaining - tau
    return xp.reshape(v, shape)


def _arnoldi_step(a: Callable[[Any], Any], v: Any, tau: float, m_max: int) -> tuple[Any, float]:
    """Krylov approximation of ``exp(tau A) v`` and an error estimate."""
    xp = backend.namespace(v)
    beta = float(xp.linalg.vector_norm(v))
    basis = [v / beta]
    hess = np.zeros((m_max + 1, m_max), dtype=complex)
    m = m_max
    for j in range(m_max):
        w = a(basis[j])
        for _ in range(2):  # classical Gram-Schmidt, twice
            for i in range(j + 1):
                c = complex(xp.vecdot(basis[i], w))
                hess[i, j] += c
                w = w - c * basis[i]
        nw = float(xp.linalg.vector_norm(w))
        hess[j + 1, j] = nw
        if nw <= 1e-14 * beta * max(1.0, float(np.abs(hess[: j + 2, : j + 1]).max())):
            m = j + 1  # happy breakdown: the Krylov space is invariant, the result is exact
            break
        basis.append(w / nw)
    e = scipy.linalg.expm(tau * hess[:m, :m])[:, 0]
    err = 0.0 if m < m_max or m == v.shape[0] else beta * abs(tau * hess[m, m - 1] * e[-1])
    coeffs = backend.asarray_like(beta * e, v) if backend.is_complex(v) else None
    if coeffs is None:
        coeffs = backend.asarray_like((beta * e).real, v)
    out = basis[0] * coeffs[0]
    for i in range(1, m):
        out = out + basis[i] * coeffs[i]
    return out, err


def solver(name: str) -> Callable[[Callable, Any, float, float], Any]:
    """The substep function called ``name``."""
    if name not in SUBSTEPS:
        raise ValueError(f"substep must be one of {SUBSTEPS}, got {name!r}")
    return rk4 if name == "rk4" else expm
