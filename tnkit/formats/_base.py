"""What every format shares: open legs ``i0..i{N-1}``, ``to_tensor``, ``history``/``options``."""

from __future__ import annotations

import json
from typing import Any

from ..network import TensorNetwork


def mode_legs(n: int) -> tuple[str, ...]:
    """The open-leg labels of an ``n``-mode format: ``("i0", ..., "i{n-1}")``."""
    return tuple(f"i{k}" for k in range(n))


class Format(TensorNetwork):
    """Base class of the fixed-topology formats (CP, Tucker, TT, TR).

    Subclasses build their nodes in ``__init__`` and call :meth:`_init_extras`. ``history`` is
    the relative error after each sweep of the algorithm that produced the object ([] when it
    was built from arrays) and ``options`` the options that algorithm used; both are saved.
    """

    history: list[float]
    options: dict[str, Any]

    def _init_extras(
        self, history: list[float] | None = None, options: dict[str, Any] | None = None
    ) -> None:
        if history is not None and (
            isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__")
        ):
            raise TypeError(f"history must be a list of errors, got {type(history).__name__}")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict, got {type(options).__name__}")
        try:
            self.history = [float(h) for h in history or []]
        except (TypeError, ValueError):
            raise TypeError(f"history must hold real numbers, got {list(history)!r}") from None
        self.options = dict(options or {})

    @property
    def ndim(self) -> int:
        """Number of modes of the represented tensor."""
        return len(self.open_legs)

    def to_tensor(self) -> Any:
        """The dense tensor, axes in mode order."""
        return self.contract(output=mode_legs(self.ndim))

    def _saved_attrs(self) -> dict[str, Any]:
        options = json.loads(json.dumps(self.options, default=_plain))
        return {"history": [float(h) for h in self.history], "options": options}

    def _restore_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs, dict):
            raise ValueError(f"attrs must be a JSON object, got {type(attrs).__name__}")
        self._rebuild()  # a loaded file must hold a valid instance of the class
        self._init_extras(attrs.get("history"), attrs.get("options"))

    def _rebuild(self) -> Format:
        """The same format built again by its constructor from its nodes, which validates
        them (used by :func:`tnkit.io.load`)."""
        return self


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays in ``options``; anything else as a string."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def as_arrays(arrays: Any, what: str) -> list[Any]:
    """``arrays`` (a list or tuple) with every entry validated as a node array
    (:func:`tnkit.backend.as_node_array`, named ``what[k]``), all of one library."""
    from .. import backend

    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{what} must be a list of arrays, got {type(arrays).__name__}")
    out = [backend.as_node_array(a, f"{what}[{k}]") for k, a in enumerate(arrays)]
    if out:
        check_arrays(out, what)
    return out


def check_arrays(arrays: list[Any], what: str) -> None:
    """All ``arrays`` must be arrays of one backend (raises TypeError naming ``what``)."""
    from .. import backend

    try:
        backend.namespace(*arrays)
    except TypeError as err:
        raise TypeError(f"{what} must be numpy, torch or cupy arrays of one library") from err
