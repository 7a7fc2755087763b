"""JSON-lines checkpoints of a search: one line per finished evaluation, replayed on resume.

The first line is a header with the search's settings; each further line is one evaluation
record (its key, results, and the fitted arrays as base64 of the raw little-endian bytes, so a
replayed warm start is bit-identical). Resuming replays the records in order: a search is a
deterministic function of its evaluation results, so it retraces the interrupted run exactly
and goes on fitting where the log ends. No pickle is involved.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np

from tnkit import backend


def encode_arrays(arrays: dict[str, Any]) -> dict[str, Any]:
    """``{name: array}`` -> JSON-able ``{name: [shape, dtype, base64]}`` (exact bits).

    Device arrays (cupy, torch) are copied to the host here, when the record is written.
    """
    out = {}
    for name, a in arrays.items():
        a = np.ascontiguousarray(backend.to_numpy(a))
        dt = a.dtype.newbyteorder("<")
        out[name] = [list(a.shape), dt.str, base64.b64encode(a.astype(dt).tobytes()).decode()]
    return out


def decode_arrays(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_arrays`."""
    out = {}
    for name, (shape, dtype, data) in record.items():
        out[name] = np.frombuffer(base64.b64decode(data), dtype=np.dtype(dtype)).reshape(shape)
        out[name] = out[name].copy()
    return out


class Log:
    """Append-only JSON-lines log at ``path``; ``resume=True`` loads what is there first."""

    def __init__(self, path: str | os.PathLike, header: dict, resume: bool) -> None:
        self.path = os.fspath(path)
        self.replay: dict[str, dict] = {}
        if resume and os.path.exists(self.path):
            self._load(header)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        else:
            if resume:
                raise FileNotFoundError(f"resume=True but no checkpoint at {self.path}")
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            self._write({"header": header})

    def _load(self, header: dict) -> None:
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if not lines:
            raise ValueError(f"checkpoint {self.path} is empty")
        saved = json.loads(lines[0]).get("header")
        if saved != json.loads(json.dumps(header)):
            raise ValueError(
                f"checkpoint {self.path} was written by a search with other settings: "
                f"{saved} vs {header}"
            )
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the interruption
                break
            self.replay[record["key"]] = record

    def append(self, record: dict) -> None:
        """Write one evaluation record (flushed, so a kill loses at most this line)."""
        self._write(record)

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
