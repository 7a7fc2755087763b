"""CP (canonical polyadic) format: a sum of ``R`` rank-one tensors.

.. math::  X[i_0, ..., i_{N-1}] = \\sum_{r<R} w_r \\prod_k A_k[i_k, r]

(Hitchcock 1927; Kolda & Bader, SIAM Review 2009). As a network: node ``"weights"`` (R,) and
nodes ``"factor{k}"`` (n_k, R), all sharing the hyper-bond ``"r"``.
"""

from __future__ import annotations

from typing import Any

from .. import backend, io
from ._base import Format, as_arrays, check_arrays


@io.register
class CP(Format):
    """CP tensor ``sum_r weights[r] * factors[0][:, r] ∘ ... ∘ factors[N-1][:, r]``.

    Parameters
    ----------
    weights : (R,) array or None (ones).
    factors : list of N >= 1 arrays of shape (n_k, R).
    """

    def __init__(
        self,
        weights: Any,
        factors: list[Any],
        *,
        history: list[float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        factors = as_arrays(factors, "factors")
        if not factors:
            raise ValueError("factors must hold at least one matrix")
        check_arrays(factors, "factors")
        if any(f.ndim != 2 for f in factors):
            raise ValueError(f"factors must be 2-D (n_k, R), got shapes {_shapes(factors)}")
        rank = int(factors[0].shape[1])
        if any(int(f.shape[1]) != rank for f in factors):
            raise ValueError(f"factors must share the rank (columns), got {_shapes(factors)}")
        if weights is None:
            xp = backend.namespace(factors[0])
            weights = xp.ones((rank,), dtype=factors[0].dtype, **backend.device_kwargs(factors[0]))
        weights = backend.as_node_array(weights, "weights")
        check_arrays([weights, *factors], "weights and factors")
        if tuple(weights.shape) != (rank,):
            raise ValueError(f"weights must have shape ({rank},), got {tuple(weights.shape)}")
        self.add_node("weights", weights, ("r",))
        for k, f in enumerate(factors):
            self.add_node(f"factor{k}", f, (f"i{k}", "r"))
        self._init_extras(history, options)

    def _rebuild(self) -> CP:
        return CP(self.weights, self.factors)

    @property
    def weights(self) -> Any:
        """The (R,) weights."""
        return self["weights"]

    @property
    def factors(self) -> list[Any]:
        """The factor matrices, (n_k, R) each, in mode order."""
        return [self[f"factor{k}"] for k in range(len(self) - 1)]

    @property
    def rank(self) -> int:
        """The number R of rank-one terms."""
        return int(self["weights"].shape[0])

    @property
    def diagnostics(self) -> dict[str, float]:
        """Degeneracy diagnostics recorded by :func:`tnkit.cp` (empty when not fitted)."""
        return dict(self.options.get("diagnostics", {}))

    def to_tensorly(self) -> Any:
        """TensorLy ``CPTensor`` (needs tensorly; arrays are shared)."""
        from tensorly.cp_tensor import CPTensor

        return CPTensor((self.weights, self.factors))

    @classmethod
    def from_tensorly(cls, cp_tensor: Any) -> CP:
        """Build from a TensorLy ``CPTensor`` or a ``(weights, factors)`` pair."""
        try:
            weights, factors = cp_tensor
        except (TypeError, ValueError):
            msg = f"cp_tensor must be a (weights, factors) pair, got {type(cp_tensor).__name__}"
            raise TypeError(msg) from None
        return cls(weights, list(factors))


def _shapes(arrays: list[Any]) -> list[tuple[int, ...]]:
    return [tuple(a.shape) for a in arrays]
