"""Tucker format: a core tensor multiplied by one factor matrix per mode.

.. math::  X[i_0, ..., i_{N-1}] = \\sum_{r} G[r_0, ..., r_{N-1}] \\prod_k U_k[i_k, r_k]

(Tucker 1966; De Lathauwer, De Moor & Vandewalle 2000). As a network: node ``"core"`` with
legs ``r0..r{N-1}`` and nodes ``"factor{k}"`` (n_k, r_k) with legs ``(i{k}, r{k})``.
"""

from __future__ import annotations

from typing import Any

from .. import backend, io
from ._base import Format, as_arrays, check_arrays


@io.register
class Tucker(Format):
    """Tucker tensor ``core ×_0 factors[0] ×_1 ... ×_{N-1} factors[N-1]``.

    Parameters
    ----------
    core : N-way array (r_0, ..., r_{N-1}).
    factors : list of N arrays (n_k, r_k).
    """

    def __init__(
        self,
        core: Any,
        factors: list[Any],
        *,
        history: list[float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        factors = as_arrays(factors, "factors")
        core = backend.as_node_array(core, "core")
        check_arrays([core, *factors], "core and factors")
        if core.ndim != len(factors) or not factors:
            raise ValueError(f"core has {core.ndim} modes but {len(factors)} factors were given")
        for k, f in enumerate(factors):
            if f.ndim != 2 or int(f.shape[1]) != int(core.shape[k]):
                raise ValueError(
                    f"factors[{k}] must have shape (n_{k}, {int(core.shape[k])}), "
                    f"got {tuple(f.shape)}"
                )
        n = len(factors)
        self.add_node("core", core, tuple(f"r{k}" for k in range(n)))
        for k, f in enumerate(factors):
            self.add_node(f"factor{k}", f, (f"i{k}", f"r{k}"))
        self._init_extras(history, options)

    def _rebuild(self) -> Tucker:
        return Tucker(self.core, self.factors)

    @property
    def core(self) -> Any:
        """The core tensor (r_0, ..., r_{N-1})."""
        return self["core"]

    @property
    def factors(self) -> list[Any]:
        """The factor matrices (n_k, r_k) in mode order."""
        return [self[f"factor{k}"] for k in range(len(self) - 1)]

    @property
    def rank(self) -> tuple[int, ...]:
        """The multilinear rank (r_0, ..., r_{N-1})."""
        return tuple(int(d) for d in self["core"].shape)

    def to_tensorly(self) -> Any:
        """TensorLy ``TuckerTensor`` (needs tensorly; arrays are shared)."""
        from tensorly.tucker_tensor import TuckerTensor

        return TuckerTensor((self.core, self.factors))

    @classmethod
    def from_tensorly(cls, tucker_tensor: Any) -> Tucker:
        """Build from a TensorLy ``TuckerTensor`` or a ``(core, factors)`` pair."""
        try:
            core, factors = tucker_tensor
        except (TypeError, ValueError):
            msg = (
                f"tucker_tensor must be a (core, factors) pair, got {type(tucker_tensor).__name__}"
            )
            raise TypeError(msg) from None
        return cls(core, list(factors))
