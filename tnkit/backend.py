"""Array backends: which library an array belongs to, its namespace, and moving arrays.

tnkit code never branches on the array library. It asks :func:`namespace` for the Array-API
namespace of its inputs (numpy, torch or cupy, wrapped by ``array-api-compat``) and calls
functions on that. This is the only module that names torch or cupy, and it imports them
lazily, so the numpy path never imports either.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

BACKENDS = ("numpy", "torch", "cupy")
FLOAT_DTYPES = ("float32", "float64", "complex64", "complex128")


def backend_name(x: Any) -> str:
    """Return ``"numpy"``, ``"torch"`` or ``"cupy"`` for an array (numpy for scalars)."""
    if isinstance(x, (np.ndarray, np.generic, int, float, complex)):
        return "numpy"
    root = type(x).__module__.split(".", 1)[0]
    if root in ("torch", "cupy"):
        return root
    raise TypeError(f"expected a numpy, torch or cupy array, got {type(x).__name__}")


def namespace(*arrays: Any) -> ModuleType:
    """Array-API namespace shared by ``arrays`` (raises if they mix libraries)."""
    return array_api_compat.array_namespace(*arrays)


def native(name: str) -> ModuleType:
    """The library module itself (``numpy``, ``torch`` or ``cupy``), imported on demand."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "numpy":
        return np
    try:
        return importlib.import_module(name)
    except ImportError as err:
        extra = "torch" if name == "torch" else "gpu"
        raise ImportError(f"backend {name!r} needs `pip install tnkit[{extra}]`") from err


def is_loaded(name: str) -> bool:
    """True when the library ``name`` has already been imported by someone."""
    return name in sys.modules


def device(x: Any) -> str:
    """Where an array lives: ``"cpu"`` or ``"cuda:N"``."""
    name = backend_name(x)
    if name == "numpy":
        return "cpu"
    if name == "cupy":
        return f"cuda:{x.device.id}"
    return str(x.device)


def to_backend(x: Any, name: str, device: str | None = None) -> Any:
    """Move ``x`` to backend ``name`` (``"numpy"``, ``"torch"`` or ``"cupy"``).

    ``device`` is passed to torch (e.g. ``"cuda:0"``); cupy uses its current device.
    Arrays already on the requested backend and device are returned unchanged.
    """
    src = backend_name(x)
    if src == name and (device is None or _same_device(x, device)):
        return x
    host = to_numpy(x)
    if name == "numpy":
        return host
    lib = native(name)
    if name == "torch":
        return lib.from_numpy(np.ascontiguousarray(host)).to(device or "cpu")
    return lib.asarray(host)


def _same_device(x: Any, dev: str) -> bool:
    return device(x) == dev or (dev == "cuda" and device(x).startswith("cuda"))


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy (or view) of any supported array."""
    name = backend_name(x)
    if name == "numpy":
        return np.asarray(x)
    if name == "cupy":
        return x.get()
    return x.detach().cpu().resolve_conj().numpy()


def asarray_like(data: Any, like: Any, dtype: Any = None) -> Any:
    """``data`` (numpy or python) as an array of ``like``'s backend, device and dtype."""
    name = backend_name(like)
    dtype = like.dtype if dtype is None else dtype
    if name == "numpy":
        return np.asarray(data, dtype=dtype)
    if name == "torch":
        lib = native("torch")
        return lib.as_tensor(np.asarray(data), device=like.device).to(dtype)
    return native("cupy").asarray(np.asarray(data), dtype=dtype)


def dtype_name(x: Any) -> str:
    """The dtype of ``x`` as a plain string (``"float64"``, ``"complex64"`` ...)."""
    return str(x.dtype).rsplit(".", 1)[-1]


def is_complex(x: Any) -> bool:
    """True for complex arrays."""
    return dtype_name(x).startswith("complex")


def real_dtype_name(x: Any) -> str:
    """The real dtype that matches ``x`` (``complex128`` -> ``float64``)."""
    return {"complex64": "float32", "complex128": "float64"}.get(dtype_name(x), dtype_name(x))


def eps(x: Any) -> float:
    """Machine epsilon of ``x``'s (real) precision."""
    return float(np.finfo(real_dtype_name(x)).eps)


def random_normal(shape: tuple[int, ...], like: Any, rng: np.random.Generator) -> Any:
    """Standard normal samples (complex when ``like`` is) on ``like``'s backend and device.

    Drawn with numpy's generator so a seed gives the same numbers on every backend.
    """
    a = rng.standard_normal(shape)
    if is_complex(like):
        a = (a + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    return asarray_like(a, like)


def as_data_tensor(x: Any, name: str = "x", min_ndim: int = 1) -> Any:
    """Validate a data tensor given to a public function and return it as an array.

    Lists become float64 numpy arrays; integer and bool arrays are converted to float64
    (documented behaviour); NaN/Inf entries, too few modes and empty modes raise ``ValueError``.
    """
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        x = np.asarray(x)
    try:
        bname = backend_name(x)
    except TypeError:
        raise TypeError(
            f"{name} must be a numpy, torch or cupy array, got {type(x).__name__}"
        ) from None
    if dtype_name(x) not in FLOAT_DTYPES:
        if bname == "numpy" and x.dtype.kind in "biu":
            x = x.astype(np.float64)
        elif bname == "torch" and not x.is_floating_point() and not x.is_complex():
            x = x.to(native("torch").float64)
        elif bname == "cupy" and x.dtype.kind in "biu":
            x = x.astype("float64")
        else:
            raise TypeError(f"{name} must have a float or complex dtype, got {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} modes, got shape {tuple(x.shape)}")
    if any(int(n) == 0 for n in x.shape):
        raise ValueError(f"{name} has an empty mode: shape {tuple(x.shape)}")
    xp = namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or Inf entries")
    return x


def describe_devices() -> list[str]:
    """One line per compute device tnkit can use (CPU always; CUDA GPUs via cupy or torch).

    Probing imports cupy/torch only if they are installed; it never fails.
    """
    import importlib.util
    import os

    lines = [f"cpu: numpy {np.__version__}, {os.cpu_count()} cores"]
    if importlib.util.find_spec("cupy") is not None:
        try:
            cp = native("cupy")
            for i in range(cp.cuda.runtime.getDeviceCount()):
                props = cp.cuda.runtime.getDeviceProperties(i)
                mem = props["totalGlobalMem"] / 2**30
                lines.append(f"cuda:{i} (cupy): {props['name'].decode()} {mem:.0f} GiB")
        except Exception as err:  # noqa: BLE001 - a broken driver must not break `info`
            lines.append(f"cupy installed but no usable GPU ({type(err).__name__})")
    if importlib.util.find_spec("torch") is not None:
        torch = native("torch")
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                lines.append(f"cuda:{i} (torch): {torch.cuda.get_device_name(i)}")
        else:
            lines.append(f"torch {torch.__version__}: CPU only")
    return lines
