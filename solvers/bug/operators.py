"""Right-hand sides ``F(t, Y)`` for the BUG integrators, never formed densely unless asked.

* :class:`SumOfProducts` — a linear ``F(Y) = Σ_k c_k (⊗_l A_k^(l)) Y`` (identity on the sites a
  term does not name). The integrators apply it to tree tensor networks through per-term
  environment matrices (:mod:`solvers.bug.environments`).
* :class:`DenseOperator` — any callable ``F(t, Y)`` on dense arrays, for small problems and tests.
* :class:`FactorOperator` — for matrices ``Y = U S Vᴴ``: the three projected right-hand sides
  of the K-, L- and S-steps given directly as callables on factors (low-rank training drives
  the same steps this way).

Dense conventions: a state of ``N`` sites is an array of shape ``dims``; the dense operator
acts on its row-major vectorisation, so site 0 is the most significant (Kronecker order
``A^(0) ⊗ A^(1) ⊗ ...``). For a matrix state, the term ``A ⊗ B`` maps ``Y ↦ A Y Bᵀ``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import opt_einsum
import scipy.sparse as sp

from tnkit import backend, checks, contract


class Term(NamedTuple):
    """One product ``coef · ⊗_{l in sites} mats[l]`` (sites sorted, identity elsewhere)."""

    coef: complex
    sites: tuple[int, ...]
    mats: tuple[Any, ...]


class SumOfProducts:
    """``F(Y) = Σ_k c_k (⊗_l A_k^(l)) Y`` on ``len(dims)`` sites of sizes ``dims``.

    Parameters
    ----------
    dims : local dimensions ``n_l``.
    terms : iterable of ``(c_k, {site: (n_site, n_site) matrix})``.
    hamiltonian : optional Hermitian operator ``H`` with ``F = -iH`` (used for energies).
    """

    linear = True

    def __init__(
        self,
        dims: Iterable[int],
        terms: Iterable[tuple[complex, Mapping[int, Any]]],
        *,
        hamiltonian: SumOfProducts | None = None,
    ) -> None:
        self.dims = _check_dims(dims)
        self.terms: list[Term] = []
        for k, term in enumerate(terms):
            if not isinstance(term, (tuple, list)) or len(term) != 2:
                raise TypeError(f"term {k} must be (coef, {{site: matrix}}), got {term!r}")
            coef, factors = term
            if not isinstance(factors, Mapping) or not factors:
                raise TypeError(f"term {k} must be (coef, {{site: matrix}}) with >= 1 site")
            if isinstance(coef, bool) or not isinstance(coef, (int, float, complex, np.number)):
                raise TypeError(f"term {k}: coef must be a number, got {coef!r}")
            if not np.isfinite(coef):
                raise ValueError(f"term {k}: coef must be finite, got {coef!r}")
            sites = tuple(sorted(int(s) for s in factors))
            mats = []
            for s in sites:
                if not 0 <= s < len(self.dims):
                    raise ValueError(f"term {k} names site {s}; sites are 0..{len(self.dims) - 1}")
                m = backend.as_data_tensor(factors[s], f"term {k} site {s}", min_ndim=2)
                if tuple(m.shape) != (self.dims[s], self.dims[s]):
                    raise ValueError(
                        f"term {k} site {s}: expected a ({self.dims[s]}, {self.dims[s]}) matrix, "
                        f"got shape {tuple(m.shape)}"
                    )
                mats.append(m)
            self.terms.append(Term(complex(coef), sites, tuple(mats)))
        if not self.terms:
            raise ValueError("terms must not be empty")
        self.hamiltonian = hamiltonian

    @property
    def n_sites(self) -> int:
        return len(self.dims)

    def __repr__(self) -> str:
        return f"SumOfProducts(dims={self.dims}, {len(self.terms)} terms)"

    def scaled(self, factor: complex) -> SumOfProducts:
        """``factor · F`` (the Hamiltonian link is not carried over)."""
        return SumOfProducts(
            self.dims, [(t.coef * factor, dict(zip(t.sites, t.mats))) for t in self.terms]
        )

    def to_sparse(self) -> sp.csr_matrix:
        """The operator as a scipy sparse (D × D) matrix, ``D = prod(dims)``."""
        total = None
        for t in self.terms:
            m = sp.identity(1, dtype=complex, format="csr")
            for s, n in enumerate(self.dims):
                f = t.mats[t.sites.index(s)] if s in t.sites else None
                f = (
                    sp.identity(n, format="csr")
                    if f is None
                    else sp.csr_matrix(backend.to_numpy(f))
                )
                m = sp.kron(m, f, format="csr")
            total = t.coef * m if total is None else total + t.coef * m
        return total.tocsr()

    def to_dense(self) -> np.ndarray:
        """The operator as a dense (D × D) numpy matrix (small problems only)."""
        return self.to_sparse().toarray()

    def apply(self, y: Any) -> Any:
        """``F(Y)`` for a dense state of shape ``dims`` (term by term)."""
        if tuple(y.shape) != self.dims:
            raise ValueError(f"state must have shape {self.dims}, got {tuple(y.shape)}")
        out = None
        letters = [opt_einsum.get_symbol(i) for i in range(2 * self.n_sites)]
        for t in self.terms:
            src = "".join(letters[s] for s in range(self.n_sites))
            dst = "".join(
                letters[s + self.n_sites] if s in t.sites else letters[s]
                for s in range(self.n_sites)
            )
            ops = ",".join(letters[s + self.n_sites] + letters[s] for s in t.sites)
            mats = [backend.asarray_like(backend.to_numpy(m), y) for m in t.mats]
            v = contract.einsum(f"{ops},{src}->{dst}", *mats, y) * t.coef
            out = v if out is None else out + v
        return out

    def __call__(self, t: float, y: Any) -> Any:
        return self.apply(y)


class DenseOperator:
    """A right-hand side given as a callable ``F(t, Y)`` on dense arrays of shape ``dims``.

    ``linear=True`` promises ``F(t, Y) = A Y`` with a constant ``A`` (enables ``to_dense`` and
    the exponential substep).
    """

    def __init__(
        self,
        func: Callable[[float, Any], Any],
        dims: Iterable[int],
        *,
        linear: bool = False,
        hamiltonian: Any = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable F(t, Y), got {type(func).__name__}")
        self.func = func
        self.dims = _check_dims(dims)
        self.linear = bool(linear)
        self.hamiltonian = hamiltonian

    @property
    def n_sites(self) -> int:
        return len(self.dims)

    def __call__(self, t: float, y: Any) -> Any:
        return self.func(t, y)

    def apply(self, y: Any) -> Any:
        return self.func(0.0, y)

    def to_dense(self) -> np.ndarray:
        """The matrix of a linear operator, column by column (small problems only)."""
        if not self.linear:
            raise ValueError("to_dense needs a linear operator (DenseOperator(..., linear=True))")
        size = int(np.prod(self.dims))
        eye = np.eye(size, dtype=complex)
        cols = [np.asarray(self.func(0.0, eye[j].reshape(self.dims))).ravel() for j in range(size)]
        return np.stack(cols, axis=1)


class FactorOperator:
    """Matrix right-hand side given on factors (for ``Y = U S Vᴴ``).

    Parameters
    ----------
    k : ``k(t, K, V) -> F(t, K Vᴴ) V``.
    l : ``l(t, L, U) -> F(t, U Lᴴ)ᴴ U``.
    s : ``s(t, S, U, V) -> Uᴴ F(t, U S Vᴴ) V``.
    linear : the three maps are linear in ``K``, ``L`` and ``S`` (enables ``substep="expm"``).
    """

    def __init__(
        self,
        k: Callable[[float, Any, Any], Any],
        l: Callable[[float, Any, Any], Any],
        s: Callable[[float, Any, Any, Any], Any],
        *,
        linear: bool = False,
        hamiltonian: Any = None,
    ) -> None:
        for name, f in (("k", k), ("l", l), ("s", s)):
            if not callable(f):
                raise TypeError(f"{name} must be callable, got {type(f).__name__}")
        self.k, self.l, self.s = k, l, s
        self.linear = bool(linear)
        self.hamiltonian = hamiltonian
        self.dims = None
        self.n_sites = 2


def _check_dims(dims: Iterable[int]) -> tuple[int, ...]:
    """``dims`` as a non-empty tuple of positive ints; ``ValueError``/``TypeError`` naming it."""
    return checks.check_positive_ints(dims, "dims", "site dimension")
