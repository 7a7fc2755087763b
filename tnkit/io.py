"""Reading data tensors and saving/loading networks — never with pickle.

A saved network is one ``.npz`` file: each node array under ``node/<name>`` plus the string
entry ``structure``, a JSON record ``{"format": "tnkit.network", "version": 1, "class": ...,
"nodes": [{"name": ..., "legs": [...]}, ...], "attrs": {...}}``. ``attrs`` holds the
JSON-serialisable extras of a format (history, options). Loading uses
``allow_pickle=False`` always, so a file that needs unpickling is refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import backend
from .network import TensorNetwork

FORMAT_TAG = "tnkit.network"
FORMAT_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_REGISTRY: dict[str, type] = {"TensorNetwork": TensorNetwork}


def register(cls: type) -> type:
    """Class decorator: let :func:`load` rebuild instances of a TensorNetwork subclass.

    The class may define ``_saved_attrs(self) -> dict`` (JSON-serialisable) and
    ``_restore_attrs(self, attrs: dict)``.
    """
    _REGISTRY[cls.__name__] = cls
    return cls


def save(net: TensorNetwork, path: str | os.PathLike) -> None:
    """Save ``net`` to ``path`` (``.npz`` is appended when missing)."""
    if not isinstance(net, TensorNetwork):
        raise TypeError(f"net must be a TensorNetwork, got {type(net).__name__}")
    attrs = net._saved_attrs() if hasattr(net, "_saved_attrs") else {}
    record = {
        "format": FORMAT_TAG,
        "version": FORMAT_VERSION,
        "class": type(net).__name__,
        "nodes": [{"name": n, "legs": list(net.legs(n))} for n in net.nodes],
        "attrs": attrs,
    }
    arrays = {f"node/{n}": backend.to_numpy(net[n]) for n in net.nodes}
    np.savez(os.fspath(path), structure=np.array(json.dumps(record)), **arrays)


def load(path: str | os.PathLike) -> TensorNetwork:
    """Load a network saved by :func:`save` (numpy arrays; use ``.to()`` to move them)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "structure" not in data.files:
                raise ValueError(f"{path} is not a tnkit network file (no 'structure' entry)")
            record = json.loads(str(data["structure"]))
            arrays = {k: data[k] for k in data.files if k.startswith("node/")}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} needs pickle to load, which tnkit refuses") from err
        raise
    if record.get("format") != FORMAT_TAG:
        raise ValueError(f"{path} is not a tnkit network file")
    cls = _REGISTRY.get(record["class"], TensorNetwork)
    net = cls.__new__(cls)
    TensorNetwork.__init__(net)
    for node in record["nodes"]:
        net.add_node(node["name"], arrays[f"node/{node['name']}"], node["legs"])
    if hasattr(net, "_restore_attrs"):
        net._restore_attrs(record.get("attrs", {}))
    return net


def load_tensor(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Read a data tensor from ``.npy``, ``.npz``, ``.mat``, ``.h5``/``.hdf5`` or an image.

    ``key`` names the array inside ``.npz``/``.mat``/``.h5`` files; it may be omitted when the
    file holds exactly one array. Images (PNG, JPEG, ...) need Pillow and are returned as
    float64 in [0, 1] with shape (height, width[, channels]).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path} holds objects that need pickle, which tnkit refuses") from err
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return _pick(path, {k: data[k] for k in data.files}, key)
    if suffix == ".mat":
        from scipy.io import loadmat

        data = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        return _pick(path, data, key)
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError as err:
            raise ImportError("reading .h5 files needs `pip install h5py`") from err
        with h5py.File(path, "r") as f:
            names: list[str] = []
            f.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
            if key is None and len(names) != 1:
                raise ValueError(f"{path} holds datasets {names}: pass key=")
            return np.asarray(f[key or names[0]])
    if suffix in IMAGE_SUFFIXES:
        try:
            from PIL import Image
        except ImportError as err:
            raise ImportError("reading images needs `pip install pillow`") from err
        with Image.open(path) as img:
            arr = np.asarray(img)
        return arr.astype(np.float64) / (255.0 if arr.dtype == np.uint8 else 1.0)
    raise ValueError(
        f"unsupported file type {suffix!r} for {path}: expected .npy, .npz, .mat, .h5 or an image"
    )


def _pick(path: str, arrays: dict[str, Any], key: str | None) -> np.ndarray:
    if key is not None:
        if key not in arrays:
            raise KeyError(f"{path} has no array {key!r}; it has {sorted(arrays)}")
        return np.asarray(arrays[key])
    if len(arrays) != 1:
        raise ValueError(f"{path} holds arrays {sorted(arrays)}: pass key=")
    return np.asarray(next(iter(arrays.values())))
