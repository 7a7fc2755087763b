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
    record, arrays = network_record(net)
    path = _check_path(path, must_exist=False)
    np.savez(os.fspath(path), structure=np.array(json.dumps(record)), **arrays)


def network_record(net: TensorNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What :func:`save` writes of ``net``: its JSON record and its node arrays (numpy, on
    the host) under the keys ``node/<name>``. :func:`network_from_record` inverts it."""
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
    return record, {f"node/{n}": backend.to_numpy(net[n]) for n in net.nodes}


def load(path: str | os.PathLike) -> TensorNetwork:
    """Load a network saved by :func:`save` (numpy arrays; use ``.to()`` to move them).

    Raises ``ValueError`` naming the file when it is not a valid tnkit network file (not an
    ``.npz``, needs pickle, a malformed or newer ``structure`` record, missing node arrays,
    arrays that do not form the recorded format).
    """
    path = _check_path(path)
    record, arrays = _read_network_file(path)
    return network_from_record(record, arrays, path)


def network_from_record(record: Any, arrays: dict[str, Any], where: str) -> TensorNetwork:
    """The network of a record and node arrays made by :func:`network_record`, validated;
    ``ValueError`` naming ``where`` (the file they came from) when they do not form one."""
    _check_record(record, where)
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
        raise ValueError(f"{where} is not a valid tnkit network file: {msg}") from None
    return net


def _read_network_file(path: str) -> tuple[Any, dict[str, np.ndarray]]:
    """The JSON record (None when unreadable) and the node arrays of a network file, read
    without unpickling."""
    try:
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):  # a .npy file: one bare array
            raise ValueError(f"{path} is not a tnkit network file (not an .npz archive)")
        with data:
            if "structure" not in data.files:
                raise ValueError(f"{path} is not a tnkit network file (no 'structure' entry)")
            text = data["structure"]
            arrays = {k: data[k] for k in data.files if k.startswith("node/")}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(_pickle_refusal(path, err)) from err
        raise
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a tnkit network file ({err})") from None
    try:
        record = json.loads(str(text)) if text.dtype.kind == "U" and text.ndim == 0 else None
    except json.JSONDecodeError:
        record = None
    return record, arrays


def _pickle_refusal(path: str, err: ValueError) -> str:
    """The message for a file that numpy could read only by unpickling (``err`` is numpy's)."""
    if "Object arrays" in str(err):
        return f"{path} holds objects that need pickle, which tnkit refuses"
    return f"{path} is neither an .npy nor an .npz file (numpy would unpickle it; tnkit refuses)"


def _check_record(record: Any, where: str) -> None:
    """``ValueError`` naming ``where`` unless ``record`` is a network record this tnkit reads."""
    if not isinstance(record, dict) or record.get("format") != FORMAT_TAG:
        raise ValueError(f"{where} is not a tnkit network file")
    version = record.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{where} has format version {version!r}; this tnkit reads up to {FORMAT_VERSION}"
        )
    nodes = record.get("nodes")
    ok = isinstance(nodes, list) and isinstance(record.get("class"), str)
    ok = ok and all(isinstance(n, dict) and {"name", "legs"} <= set(n) for n in nodes)
    if not ok:
        raise ValueError(f"{where} is not a valid tnkit network file (malformed structure)")


def save_record(path: str | os.PathLike, meta: dict[str, Any], arrays: dict[str, Any]) -> None:
    """Write a checkpoint-style ``.npz``: the JSON object ``meta`` (entry ``meta``) and
    ``arrays`` (moved to the host). It goes to a temporary file that then replaces ``path``,
    so an interruption never leaves half a file."""
    if not isinstance(meta, dict) or not isinstance(arrays, dict):
        raise TypeError("meta and arrays must be dicts (a JSON object, and name -> array)")
    path = _check_path(path, must_exist=False)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        host = {k: backend.to_numpy(a) for k, a in arrays.items()}
        np.savez(fh, meta=np.array(json.dumps(meta)), **host)
    os.replace(tmp, path)


def load_record(path: str | os.PathLike, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, arrays)`` of a file written by :func:`save_record`, read without unpickling;
    ``ValueError`` naming the file as not a ``what`` when it is not one."""
    path = _check_path(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):  # a .npy file: one bare array
            raise ValueError("not an .npz archive")
        with npz:
            meta = json.loads(str(npz["meta"]))
            arrays = {k: npz[k] for k in npz.files if k != "meta"}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a {what} ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a {what} (its meta entry is not a JSON object)")
    return meta, arrays


def check_same_settings(saved: Any, now: dict[str, Any], path: str | os.PathLike) -> None:
    """``ValueError`` naming every setting in which a checkpoint's ``saved`` settings differ
    from the run's ``now`` (compared as JSON values)."""
    if not isinstance(saved, dict):
        raise ValueError(f"checkpoint {os.fspath(path)} holds no settings")
    now = json.loads(json.dumps(now))
    changed = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"checkpoint {os.fspath(path)} was written by a run with other settings ({detail})"
        )


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
            if "pickle" in str(err):
                raise ValueError(_pickle_refusal(path, err)) from err
            raise ValueError(f"{path} is not a valid {suffix} file: {err}") from None
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is not a valid {suffix} file ({err})") from None
        return _pick(path, arrays, key)
    if suffix == ".mat":
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError

        try:
            data = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        except (OSError, ValueError, MatReadError) as err:
            raise ValueError(f"{path} is not a readable .mat file ({err})") from None
        return _pick(path, data, key)
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError as err:
            raise ImportError("reading .h5 files needs `pip install h5py`") from err
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise ValueError(f"{path} is not a readable HDF5 file ({err})") from None
        with f:
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
    if not arrays:
        raise ValueError(f"{path} holds no arrays")
    if len(arrays) != 1:
        raise ValueError(f"{path} holds arrays {sorted(arrays)}: pass key=")
    return np.asarray(next(iter(arrays.values())))
