"""Reading data tensors and saving/loading networks — never with pickle.

A saved network is one ``.npz`` file: each node array under ``node/<name>`` plus the string
entry ``structure``, a JSON record ``{"format": "tnkit.network", "version": 1, "class": ...,
"nodes": [{"name": ..., "legs": [...]}, ...], "attrs": {...}}``. ``attrs`` holds the
JSON-serialisable extras of a format (history, options). Loading uses
``allow_pickle=False`` always, so a file that needs unpickling is refused.
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
from typing import Any

import numpy as np

from . import backend
from .network import TensorNetwork

FORMAT_TAG = "tnkit.network"
FORMAT_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_REGISTRY: dict[str, type] = {"TensorNetwork": TensorNetwork}
FORMAT_MODULES = {
    name: f"tnkit.formats.{name.lower()}" for name in ("CP", "Tucker", "TT", "TR", "TTN")
}


def register(cls: type) -> type:
    """Class decorator: let :func:`load` rebuild instances of a TensorNetwork subclass.

    The class may define ``_saved_attrs(self) -> dict`` (JSON-serialisable) and
    ``_restore_attrs(self, attrs: dict)``.
    """
    _REGISTRY[cls.__name__] = cls
    return cls


def _check_path(path: Any, must_exist: bool = True) -> str:
    """``path`` as a string; ``TypeError``/``FileNotFoundError``/``ValueError`` naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if must_exist and not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"path {path} is a directory, expected a file")
    return path


def _registered(name: str) -> type:
    """The class saved as ``name``; tnkit's own formats are imported on demand (they register
    themselves when their module is first imported), others fall back to TensorNetwork."""
    if name not in _REGISTRY and name in FORMAT_MODULES:
        importlib.import_module(FORMAT_MODULES[name])
    return _REGISTRY.get(name, TensorNetwork)


def save(net: TensorNetwork, path: str | os.PathLike) -> None:
    """Save ``net`` to ``path`` (``.npz`` is appended when missing)."""
    if not isinstance(net, TensorNetwork):
        raise TypeError(f"net must be a TensorNetwork, got {type(net).__name__}")
    path = _check_path(path, must_exist=False)
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
    """Load a network saved by :func:`save` (numpy arrays; use ``.to()`` to move them).

    Raises ``ValueError`` naming the file when it is not a valid tnkit network file (not an
    ``.npz``, needs pickle, a malformed or newer ``structure`` record, missing node arrays,
    arrays that do not form the recorded format).
    """
    path = _check_path(path)
    record, arrays = _read_network_file(path)
    cls = _registered(record["class"])
    net = cls.__new__(cls)
    TensorNetwork.__init__(net)
    try:
        for node in record["nodes"]:
            name = node["name"]
            if f"node/{name}" not in arrays:
                raise ValueError(f"no array for node {name!r}")
            net.add_node(name, arrays[f"node/{name}"], node["legs"])
        if hasattr(net, "_restore_attrs"):
            net._restore_attrs(record.get("attrs", {}))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise ValueError(f"{path} is not a valid tnkit network file: {msg}") from None
    return net


def _read_network_file(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON record and the node arrays of a network file (validated, never unpickled)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError(f"{path} is not a tnkit network file (not an .npz archive)")
            if "structure" not in data.files:
                raise ValueError(f"{path} is not a tnkit network file (no 'structure' entry)")
            text = data["structure"]
            arrays = {k: data[k] for k in data.files if k.startswith("node/")}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} needs pickle to load, which tnkit refuses") from err
        raise
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a tnkit network file ({err})") from None
    try:
        record = json.loads(str(text)) if text.dtype.kind == "U" and text.ndim == 0 else None
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT_TAG:
        raise ValueError(f"{path} is not a tnkit network file")
    version = record.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {version!r}; this tnkit reads up to {FORMAT_VERSION}"
        )
    nodes = record.get("nodes")
    ok = isinstance(nodes, list) and isinstance(record.get("class"), str)
    ok = ok and all(isinstance(n, dict) and {"name", "legs"} <= set(n) for n in nodes)
    if not ok:
        raise ValueError(f"{path} is not a valid tnkit network file (malformed structure)")
    return record, arrays


def load_tensor(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Read a data tensor from ``.npy``, ``.npz``, ``.mat``, ``.h5``/``.hdf5`` or an image.

    ``key`` names the array inside ``.npz``/``.mat``/``.h5`` files; it may be omitted when the
    file holds exactly one array. Images (PNG, JPEG, ...) need Pillow and are returned as
    float64 in [0, 1] with shape (height, width[, channels]).
    """
    path = _check_path(path)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a string, got {key!r}")
    return _numeric(path, _read_tensor(path, key))


def _numeric(path: str, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biufc":
        raise ValueError(f"{path} holds a {x.dtype} array, not numbers")
    return x


def _read_tensor(path: str, key: str | None) -> np.ndarray:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".npy", ".npz"):
        try:
            if suffix == ".npy":
                return np.load(path, allow_pickle=False)
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except ValueError as err:
            if "allow_pickle" in str(err) or "pickle" in str(err):
                msg = f"{path} holds objects that need pickle, which tnkit refuses"
                raise ValueError(msg) from err
            raise ValueError(f"{path} is not a valid {suffix} file: {err}") from None
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is not a valid {suffix} file ({err})") from None
        return _pick(path, arrays, key)
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
            if key is not None and key not in names:
                raise KeyError(f"key={key!r}: {path} has no dataset {key!r}; it has {names}")
            return np.asarray(f[key or names[0]])
    if suffix in IMAGE_SUFFIXES:
        try:
            from PIL import Image
        except ImportError as err:
            raise ImportError("reading images needs `pip install pillow`") from err
        try:
            with Image.open(path) as img:
                arr = np.asarray(img)
        except OSError as err:  # PIL.UnidentifiedImageError and truncated files
            raise ValueError(f"{path} is not a readable image ({err})") from None
        return arr.astype(np.float64) / (255.0 if arr.dtype == np.uint8 else 1.0)
    raise ValueError(
        f"unsupported file type {suffix!r} for {path}: expected .npy, .npz, .mat, .h5 or an image"
    )


def _pick(path: str, arrays: dict[str, Any], key: str | None) -> np.ndarray:
    if key is not None:
        if key not in arrays:
            raise KeyError(f"key={key!r}: {path} has no array {key!r}; it has {sorted(arrays)}")
        return np.asarray(arrays[key])
    if len(arrays) != 1:
        raise ValueError(f"{path} holds arrays {sorted(arrays)}: pass key=")
    return np.asarray(next(iter(arrays.values())))
