"""The layer factorizations of one :func:`tnkit.nn.compress` run, kept in a checkpoint file.

Compression spends its time in decompositions: the final one of every layer and, to plan a
global budget or a CP tolerance, trial fits at other ranks. :class:`Factorizations` computes
each ``(layer, method, ranks)`` once and, given a ``checkpoint`` path, writes every result to
it as it comes (factor arrays as tensors, the weight error, the layer's name, shape and
weight norm; ``torch.save`` of plain containers, read back with ``weights_only=True``).
A resumed run replays the same plan and takes every factorization it finds in the file
instead of fitting it again, so it ends with the model an uninterrupted run gives.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .convert import build, decompose, dense_weight

FORMAT = "tnkit.nn.compress.checkpoint/1"


class Factorizations:
    """Memo of ``decompose(layer, method, ranks, **fit)`` by layer name, optionally saved.

    ``fit`` holds the options of the decompositions (``stable``, ``seed``, ``max_iter``); a
    checkpoint written with other options is refused. A saved entry is used only for a layer
    of the same weight shape and norm. The file is rewritten at most every ``SAVE_SECONDS``
    (a large model's many trial fits would otherwise rewrite it for each) and by
    :meth:`flush`, which :func:`tnkit.nn.compress` calls when it ends or is interrupted.
    """

    SAVE_SECONDS = 10.0

    def __init__(self, fit: dict[str, Any], checkpoint: Any = None, resume: bool = False) -> None:
        self.fit, self.path = dict(fit), checkpoint
        self.done: dict[tuple, tuple[list[np.ndarray], float]] = {}
        self.reused: set[tuple] = set()
        if resume and os.path.exists(checkpoint):
            self._load()
        self.loaded = set(self.done)
        self.unsaved, self.saved_at = False, time.monotonic()

    def error(self, name: str, layer: nn.Module, method: str, ranks: tuple[int, ...]) -> float:
        """The relative weight error of the factorization."""
        return self._get(name, layer, method, ranks)[1]

    def module(
        self, name: str, layer: nn.Module, method: str, ranks: tuple[int, ...]
    ) -> tuple[nn.Module, float]:
        """The factorized module and its relative weight error."""
        arrays, err = self._get(name, layer, method, ranks)
        return build(layer, method, arrays), err

    def _get(self, name: str, layer: nn.Module, method: str, ranks: Any) -> tuple:
        key = (name, method, tuple(int(r) for r in np.atleast_1d(ranks)), _fingerprint(layer))
        if key in self.done:
            if key in self.loaded:
                self.reused.add(key)
            return self.done[key]
        self.done[key] = decompose(layer, method, ranks, **self.fit)
        self.unsaved = self.path is not None
        if time.monotonic() - self.saved_at >= self.SAVE_SECONDS:
            self.flush()
        return self.done[key]

    def flush(self) -> None:
        """Write the checkpoint if it lacks factorizations done since the last write."""
        if self.unsaved:
            self._save()
            self.unsaved, self.saved_at = False, time.monotonic()

    def _save(self) -> None:
        entries = [
            {
                "name": name,
                "method": method,
                "ranks": list(ranks),
                "shape": list(shape),
                "norm": norm,
                "error": err,
                "arrays": [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays],
            }
            for (name, method, ranks, (shape, norm)), (arrays, err) in self.done.items()
        ]
        state = {"format": FORMAT, "fit": self.fit, "entries": entries}
        tmp = f"{os.fspath(self.path)}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # never half a file, even on Ctrl-C

    def _load(self) -> None:
        where = os.fspath(self.path)
        state = read_checkpoint(where)
        if state.get("fit") != self.fit:
            raise ValueError(
                f"checkpoint {where} was written with other fit options "
                f"(saved {state.get('fit')}, now {self.fit})"
            )
        try:
            for e in state["entries"]:
                fingerprint = (tuple(int(d) for d in e["shape"]), float(e["norm"]))
                key = (str(e["name"]), str(e["method"]), tuple(int(r) for r in e["ranks"]))
                arrays = [t.numpy() for t in e["arrays"]]
                self.done[(*key, fingerprint)] = (arrays, float(e["error"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"{where} is not a valid compress checkpoint ({err})") from None


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a compress checkpoint (``torch.load(..., weights_only=True)``);
    ``ValueError`` naming the file when it is not one."""
    where = os.fspath(path)
    try:
        state = torch.load(where, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is refused the same way
        raise ValueError(f"{where} is not a compress checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{where} is not a compress checkpoint")
    return state


def _fingerprint(layer: nn.Module) -> tuple[tuple[int, ...], float]:
    """The weight's shape and Frobenius norm: a saved factorization must match both."""
    w = dense_weight(layer)
    return tuple(int(d) for d in w.shape), float(np.linalg.norm(w))
