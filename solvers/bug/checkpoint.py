"""Checkpoint files of a BUG integration: the state and the history of a run in one ``.npz``.

The file holds the state's arrays (a matrix ``U S Vᴴ`` as ``state.u``, ``state.s``,
``state.v``; a tree as ``state.<node name>``) with their exact bits, and one JSON string
``meta``: the run's settings, its tree, the number of finished steps, the time reached and the
history so far. It is written to a temporary file that then replaces the old one, so an
interruption never leaves half a file, and it is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.formats.ttn import normalize_tree
from tnkit.lowrank import LowRank

FORMAT = "tnkit.bug.checkpoint/1"


class Resumed:
    """What a checkpoint restores: the state (on the device of the run), steps done, time,
    history."""

    def __init__(self, state: Any, steps_done: int, time: float, history: dict) -> None:
        self.state, self.steps_done, self.time, self.history = state, steps_done, time, history


def save(
    path: str | os.PathLike,
    state: Any,
    kind: Any,
    settings: dict[str, Any],
    steps_done: int,
    time: float,
    history: dict[str, Any],
) -> None:
    """Write the checkpoint of a run that finished ``steps_done`` steps and reached ``time``."""
    arrays = dict(zip("usv", state)) if kind == "matrix" else dict(state)
    meta = {
        "format": FORMAT,
        "kind": kind,
        "settings": settings,
        "steps_done": int(steps_done),
        "time": float(time),
        "history": history,
    }
    io.save_record(path, meta, {f"state.{k}": a for k, a in arrays.items()})


def load(
    path: str | os.PathLike, kind: Any, settings: dict[str, Any], like: Any, t_final: float
) -> Resumed:
    """Read the checkpoint at ``path`` for a run with ``kind`` and ``settings``.

    The state comes back on the backend, device and dtype of ``like`` (an array of the run's
    initial state). Raises ``ValueError`` when the file was written by a run with other
    settings, another tree, or ends off the time grid of a longer run.
    """
    path = os.fspath(path)
    meta, saved = io.load_record(path, "BUG checkpoint")
    arrays = {k.split(".", 1)[1]: a for k, a in saved.items() if k.startswith("state.")}
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}, not {FORMAT!r}")
    saved_kind = meta["kind"] if meta["kind"] == "matrix" else normalize_tree(meta["kind"])
    if saved_kind != kind:
        raise ValueError(f"checkpoint {path} holds a state on {saved_kind!r}, not on {kind!r}")
    io.check_same_settings(meta.get("settings"), settings, path)
    steps, t = int(meta["steps_done"]), float(meta["time"])
    on_grid = math.isclose(t, settings["t0"] + steps * settings["dt"], rel_tol=1e-12, abs_tol=0)
    if t < t_final and not on_grid:
        raise ValueError(
            f"checkpoint {path} ends at t = {t!r} after a shortened last step; to go on to "
            f"t_final = {t_final!r}, start a new run from its state with t0={t!r}"
        )
    if on_grid:  # the very float an uninterrupted run would hold
        t = settings["t0"] + steps * settings["dt"]
    moved = {k: backend.asarray_like(a, like, _dtype_like(a, like)) for k, a in arrays.items()}
    state = LowRank(moved["u"], moved["s"], moved["v"]) if kind == "matrix" else moved
    history = meta["history"]
    history["interrupted"] = False
    return Resumed(state, steps, t, history)


def _dtype_like(a: np.ndarray, like: Any) -> Any:
    """The dtype of ``like``'s library with ``a``'s name (complex states of a real start)."""
    return getattr(backend.namespace(like), a.dtype.name)
