"""Array backends: which library an array belongs to, its namespace, and moving arrays.

tnkit code never branches on the array library. It asks :func:`namespace` for the Array-API
namespace of its inputs (numpy, torch or cupy, wrapped by ``array-api-compat``) and calls
functions on that. This is the only module that names torch or cupy, and it imports them
lazily, so the numpy path never imports either.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import math
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NamedTuple

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

    ``device`` is ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (torch: default ``"cpu"`` from numpy and
    the array's own device from cupy; cupy: default its current device). Arrays already on the
    requested backend and device are returned unchanged. GPU to GPU moves (cupy <-> torch CUDA,
    torch between devices) go through DLPack or a device copy, never through host memory.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if device is not None and not isinstance(device, str):
        raise ValueError(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if name == "numpy" and device not in (None, "cpu"):
        raise ValueError(f"numpy arrays live on the CPU, got device={device!r}")
    src = backend_name(x)
    if src == name and (device is None or _same_device(x, device)):
        return x
    if name == "numpy":
        return to_numpy(x)
    lib = native(name)
    on_gpu = device_of_kind(x) == "cuda"
    if name == "torch":
        try:
            lib.device(device or "cpu")
        except RuntimeError:
            raise ValueError(
                f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}"
            ) from None
        if src == "torch":
            return x.to(device)
        if on_gpu:  # cupy -> torch without a host copy
            t = lib.from_dlpack(x)
            return t if device is None else t.to(device)
        return lib.from_numpy(np.ascontiguousarray(to_numpy(x))).to(device or "cpu")
    if device is not None and not device.startswith("cuda"):
        raise ValueError(f"cupy arrays live on a CUDA device, got device={device!r}")
    if src == "torch" and on_gpu:  # torch CUDA -> cupy without a host copy
        x, src = lib.from_dlpack(x.detach().resolve_conj().resolve_neg()), "cupy"
        if device is None or _same_device(x, device):
            return x
    with _cupy_device(lib, device):
        if src == "cupy":  # another GPU: a device-to-device copy
            return lib.array(x, copy=True)
        return lib.asarray(to_numpy(x))


def qr_r(a: Any) -> Any:
    """``R`` of the thin QR of the matrix ``a`` (``min(m, n) × n``) without forming ``Q``:
    LAPACK's ``geqrf`` alone, which the Array API's ``qr`` (always both factors) cannot ask."""
    name = backend_name(a)
    if name == "torch":
        return native("torch").linalg.qr(a, mode="r")[1]
    return (np if name == "numpy" else native("cupy")).linalg.qr(a, mode="r")


def device_kwargs(like: Any) -> dict[str, Any]:
    """``{"device": ...}`` for Array-API creation functions (``xp.eye``, ``xp.zeros``) so that
    they allocate on ``like``'s device; empty for numpy, whose functions take no device before
    numpy 2."""
    return {} if backend_name(like) == "numpy" else {"device": like.device}


def to_device(x: Any, device: str | None) -> Any:
    """``x`` placed by a user-facing ``device=`` option.

    ``None`` leaves ``x`` where it is; ``"cpu"`` gives a numpy array; ``"gpu"`` or ``"cuda"``
    (or ``"cuda:N"``) a CUDA array: ``x`` itself if it is on a GPU already (``"cuda:N"``: on
    that one), else cupy when cupy sees a GPU, else a torch CUDA tensor. Raises ``ValueError``
    naming ``device`` for other values, or when no GPU is visible.
    """
    if device is None:
        return x
    if device == "cpu":
        return to_backend(x, "numpy")
    if not isinstance(device, str) or (device != "gpu" and device.split(":")[0] != "cuda"):
        raise ValueError(f"device must be None, 'cpu', 'gpu' or 'cuda[:N]', got {device!r}")
    target = "cuda" if device == "gpu" else device
    if device_of_kind(x) == "cuda":
        return to_backend(x, backend_name(x), target)
    for name in ("cupy", "torch"):
        if cuda_available(name):
            return to_backend(x, name, target)
    raise ValueError(f"device={device!r} needs a CUDA GPU, but neither cupy nor torch sees one")


def frobenius_norm(x: Any) -> Any:
    """``||x||_F`` as a 0-d array on ``x``'s device (for numpy exactly ``np.linalg.norm``)."""
    if backend_name(x) == "numpy":
        return np.linalg.norm(x)
    return namespace(x).linalg.vector_norm(x)


def device_of_kind(x: Any) -> str:
    """``"cpu"`` or ``"cuda"``: the kind of device an array lives on."""
    return device(x).split(":", 1)[0]


def _cupy_device(cupy: ModuleType, dev: str | None) -> Any:
    """Context that makes ``dev`` (``"cuda"``/``"cuda:N"``/None) cupy's current device."""
    if dev is None or ":" not in dev:
        return contextlib.nullcontext()
    return cupy.cuda.Device(int(dev.split(":", 1)[1]))


def _same_device(x: Any, dev: str) -> bool:
    return device(x) == dev or (dev == "cuda" and device(x).startswith("cuda"))


def synchronize(x: Any = None) -> None:
    """Wait until the GPU work queued on ``x``'s device has finished (no-op on the CPU).

    Needed around timings: GPU kernels run asynchronously, so a clock read right after a call
    measures only the launch. ``x=None`` synchronises every library that is loaded.
    """
    if x is None:
        if is_loaded("cupy") and cuda_available("cupy"):
            native("cupy").cuda.Device().synchronize()
        if is_loaded("torch") and native("torch").cuda.is_available():
            native("torch").cuda.synchronize()
        return
    name = backend_name(x)
    if name == "cupy":
        native("cupy").cuda.Device(x.device.id).synchronize()
    elif name == "torch" and x.device.type == "cuda":
        native("torch").cuda.synchronize(x.device)


def cuda_available(name: str = "cupy") -> bool:
    """True when library ``name`` (``"cupy"`` or ``"torch"``) is installed and sees a CUDA GPU.

    Never raises and never imports a library that is not installed.
    """
    if name not in ("cupy", "torch"):
        raise ValueError(f"name must be 'cupy' or 'torch', got {name!r}")
    if importlib.util.find_spec(name) is None:
        return False
    try:
        lib = native(name)
        if name == "torch":
            return bool(lib.cuda.is_available())
        return lib.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - a missing driver or runtime means "no GPU"
        return False


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy (or view) of any supported array."""
    name = backend_name(x)
    if name == "numpy":
        return np.asarray(x)
    if name == "cupy":
        return x.get()
    return x.detach().cpu().resolve_conj().numpy()


def asarray_like(data: Any, like: Any, dtype: Any = None) -> Any:
    """``data`` as an array of ``like``'s backend, device and dtype.

    ``data`` may be python data, a numpy array, or a torch/cupy array: an array already of
    ``like``'s library is cast (and moved between devices) without passing through the host,
    and GPU arrays of the other library come over by DLPack.
    """
    name = backend_name(like)
    dtype = like.dtype if dtype is None else dtype
    try:
        src = backend_name(data)
    except TypeError:  # lists, tuples: host data
        src = "numpy"
    if src != "numpy":
        data = to_backend(data, name, device(like))
    if name == "numpy":
        return np.asarray(data, dtype=dtype)
    if name == "torch":
        if src == "numpy":
            data = native("torch").as_tensor(np.asarray(data), device=like.device)
        return data.to(dtype)
    cupy = native("cupy")
    if src == "numpy":
        with cupy.cuda.Device(like.device.id):
            return cupy.asarray(np.asarray(data), dtype=dtype)
    return data.astype(dtype, copy=False)


class RowSums:
    """Sums of the rows of ``(nnz, ...)`` arrays grouped by an index, prepared once per index:
    ``out[i] = Σ_{e: index[e] = i} h[e]`` for ``i < n_rows``.

    The scatter-add the array API lacks: a sparse ``(n_rows, nnz)`` 0/1 matrix times ``h`` on
    numpy (scipy) and cupy (cupyx), ``index_add_`` on torch. ``index`` is an integer array of
    the backend the summed arrays will have.
    """

    def __init__(self, index: Any, n_rows: int) -> None:
        self.name, self.n_rows, self.index = backend_name(index), int(n_rows), index
        nnz = int(index.shape[0])
        if self.name == "numpy":
            import scipy.sparse

            ones = np.ones(nnz)
            self.matrix = scipy.sparse.csr_matrix(
                (ones, (np.asarray(index), np.arange(nnz))), shape=(self.n_rows, nnz)
            )
        elif self.name == "cupy":
            cupy = native("cupy")
            import cupyx.scipy.sparse

            with cupy.cuda.Device(index.device.id):
                ones = cupy.ones(nnz)
                cols = cupy.arange(nnz)
                coo = cupyx.scipy.sparse.coo_matrix((ones, (index, cols)), shape=(self.n_rows, nnz))
                self.matrix = coo.tocsr()

    def __call__(self, h: Any) -> Any:
        shape = tuple(int(d) for d in h.shape)
        flat = h.reshape(shape[0], -1)
        if self.name == "torch":
            out = native("torch").zeros(
                (self.n_rows, flat.shape[1]), dtype=h.dtype, device=h.device
            )
            out.index_add_(0, self.index, flat)
        else:
            if self.matrix.dtype != h.dtype:  # cast once: the fits call this every sweep
                self.matrix = self.matrix.astype(h.dtype)
            out = self.matrix @ flat
        return out.reshape(self.n_rows, *shape[1:])


def dtype_name(x: Any) -> str:
    """The dtype of ``x`` as a plain string (``"float64"``, ``"complex64"`` ...)."""
    return _dtype_str(x.dtype)


@functools.lru_cache(maxsize=64)
def _dtype_str(dtype: Any) -> str:
    # str() of a numpy dtype costs microseconds; inner loops ask for it per call
    return str(dtype).rsplit(".", 1)[-1]


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
        try:
            x = np.asarray(x)
        except ValueError:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers") from None
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


def as_node_array(data: Any, name: str) -> Any:
    """Validate an array given as a network node (or format core) and return it.

    Lists and Python scalars become float64 numpy arrays (complex128 for complex data);
    integer and bool arrays are converted to float64. Raises ``TypeError`` naming ``name``
    for non-arrays and non-numeric dtypes, ``ValueError`` for an empty axis and — for numpy
    arrays, where the scan needs no device synchronisation — NaN/Inf entries.
    """
    if isinstance(data, (list, tuple, int, float, complex)) and not isinstance(data, bool):
        try:
            data = np.asarray(data)
        except ValueError:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers") from None
        if data.dtype.kind in "biu":
            data = data.astype(np.float64)
    try:
        bname = backend_name(data)
    except TypeError:
        raise TypeError(
            f"{name} must be a numpy, torch or cupy array, got {type(data).__name__}"
        ) from None
    if isinstance(data, np.generic):
        data = np.asarray(data)
    if dtype_name(data) not in FLOAT_DTYPES:
        if bname == "torch" and not data.is_floating_point() and not data.is_complex():
            data = data.to(native("torch").float64)
        elif bname != "torch" and data.dtype.kind in "biu":
            data = data.astype("float64")
        else:
            raise TypeError(f"{name} must have a float or complex dtype, got {data.dtype}")
    if any(int(d) == 0 for d in data.shape):
        raise ValueError(f"{name} has an empty axis: shape {tuple(data.shape)}")
    if bname == "numpy" and not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or Inf entries")
    return data


def describe_devices() -> list[str]:
    """One line per compute device tnkit can use (CPU always; CUDA GPUs via cupy or torch).

    A GPU line gives the device name, compute capability and free/total memory. Probing imports
    cupy/torch only if they are installed; it never fails.
    """
    import os

    lines = [f"cpu: numpy {np.__version__}, {os.cpu_count()} cores"]
    if importlib.util.find_spec("cupy") is None:
        lines.append("cupy: not installed (GPU arrays need `pip install tnkit[gpu]`)")
    else:
        try:
            cp = native("cupy")
            for i in range(cp.cuda.runtime.getDeviceCount()):
                props = cp.cuda.runtime.getDeviceProperties(i)
                with cp.cuda.Device(i):
                    free, total = cp.cuda.runtime.memGetInfo()
                lines.append(
                    f"cuda:{i} (cupy {cp.__version__}): {props['name'].decode()}, "
                    f"compute {props['major']}.{props['minor']}, "
                    f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free"
                )
        except Exception as err:  # noqa: BLE001 - a broken driver must not break `info`
            lines.append(f"cupy installed but no usable GPU ({type(err).__name__})")
    if importlib.util.find_spec("torch") is not None:
        torch = native("torch")
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                major, minor = torch.cuda.get_device_capability(i)
                lines.append(
                    f"cuda:{i} (torch {torch.__version__}): {torch.cuda.get_device_name(i)}, "
                    f"compute {major}.{minor}"
                )
        else:
            lines.append(f"torch {torch.__version__}: CPU only")
    return lines


# ---------------------------------------------------------------------------- transfer audit
class Transfer(NamedTuple):
    """One copy between host and device seen by :func:`watch_transfers`."""

    direction: str  # "d2h" (device to host) or "h2d" (host to device)
    call: str  # the library call, e.g. "Tensor.item", "ndarray.get", "cupy.asarray"
    shape: tuple[int, ...]
    site: str  # "file.py:line" of the innermost caller outside the array libraries


class TransferLog:
    """The transfers recorded inside one :func:`watch_transfers` block."""

    def __init__(self) -> None:
        self.events: list[Transfer] = []
        self.implicit = True  # False: np.asarray(tensor) raises, as on a GPU

    def d2h(self, *, scalars: bool | None = None) -> list[Transfer]:
        """Device-to-host copies; ``scalars=True`` only one-element ones, ``False`` the rest."""
        out = [e for e in self.events if e.direction == "d2h"]
        if scalars is None:
            return out
        return [e for e in out if (math.prod(e.shape) <= 1) == scalars]

    def h2d(self) -> list[Transfer]:
        """Host-to-device copies of host arrays."""
        return [e for e in self.events if e.direction == "h2d"]

    def summary(self) -> dict[str, int]:
        """Counts: ``d2h_scalars``, ``d2h_arrays`` and ``h2d``."""
        return {
            "d2h_scalars": len(self.d2h(scalars=True)),
            "d2h_arrays": len(self.d2h(scalars=False)),
            "h2d": len(self.h2d()),
        }


_D2H_METHODS = ("item", "tolist", "__float__", "__int__", "__bool__", "__complex__", "__index__")
_LIBRARY_MODULES = ("torch", "cupy", "cupyx", "cupy_backends", "numpy", "array_api_compat")
_WATCH = {"logs": [], "patches": []}
_DEPTH = threading.local()


@contextlib.contextmanager
def watch_transfers(*, implicit: bool = True) -> Iterator[TransferLog]:
    """Record every host <-> device copy of torch and cupy arrays made inside the block.

    Device to host: ``.item()``, ``.tolist()``, ``float()``/``int()``/``bool()``/``complex()``
    of an array, torch ``.numpy()``/``np.asarray(tensor)``, cupy ``.get()``/``cupy.asnumpy``
    (and so :func:`to_numpy`). Host to device: ``torch.as_tensor``/``asarray``/``tensor``/
    ``from_numpy`` and ``cupy.asarray``/``array``/``ndarray.set`` of numpy arrays or lists.
    Torch tensors on the CPU are counted as if they lived on a GPU, so a CPU-only test can
    prove that an algorithm keeps its arrays on the backend. Copies made by a library's own
    internals are counted once, at the outermost call.

    ``implicit=False`` makes ``np.asarray(tensor)`` (and so any numpy function applied to a
    torch tensor) raise ``TypeError`` as it does for CUDA tensors and cupy arrays: torch CPU
    tensors then also reveal the numpy calls that would fail on a GPU.

    A diagnostic: while a block is active the methods above are wrapped on the classes, for
    every thread. Libraries not yet imported are not watched.
    """
    log = TransferLog()
    log.implicit = implicit
    if not _WATCH["logs"]:
        _install_watch()
    _WATCH["logs"].append(log)
    try:
        yield log
    finally:
        _WATCH["logs"].remove(log)
        if not _WATCH["logs"]:
            for owner, attr, original in reversed(_WATCH["patches"]):
                if original is None:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, original)
            _WATCH["patches"].clear()


def _install_watch() -> None:
    targets = []  # (owner, attribute, direction, label)
    if is_loaded("torch"):
        torch = native("torch")
        for attr in (*_D2H_METHODS, "numpy", "__array__"):
            targets.append((torch.Tensor, attr, "d2h", f"Tensor.{attr}"))
        for attr in ("as_tensor", "asarray", "tensor", "from_numpy"):
            targets.append((torch, attr, "h2d", f"torch.{attr}"))
    if is_loaded("cupy"):
        cupy = native("cupy")
        for attr in (*_D2H_METHODS, "get"):
            targets.append((cupy.ndarray, attr, "d2h", f"ndarray.{attr}"))
        targets.append((cupy.ndarray, "set", "h2d", "ndarray.set"))
        targets.append((cupy, "asnumpy", "d2h", "cupy.asnumpy"))
        for attr in ("asarray", "array"):
            targets.append((cupy, attr, "h2d", f"cupy.{attr}"))
    for owner, attr, direction, label in targets:
        original = getattr(owner, attr)
        own = owner.__dict__.get(attr)  # None: inherited, restored by deleting the wrapper
        setattr(owner, attr, _watched(original, direction, label, isinstance(owner, type)))
        _WATCH["patches"].append((owner, attr, own))


def _watched(original: Any, direction: str, label: str, method: bool) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_DEPTH, "value", 0)
        if depth == 0 and label == "Tensor.__array__":
            if not all(log.implicit for log in _WATCH["logs"]):
                raise TypeError(
                    "implicit conversion of a tensor to numpy (np.asarray, a numpy function) "
                    f"at {_call_site()}: refused on GPUs; use tnkit.backend.to_numpy"
                )
        if depth == 0 and args:
            shape = _host_shape(args[0]) if direction == "h2d" and not method else None
            if method:
                shape = tuple(int(d) for d in args[0].shape)
            if shape is not None:
                event = Transfer(direction, label, shape, _call_site())
                for log in _WATCH["logs"]:
                    log.events.append(event)
        _DEPTH.value = depth + 1
        try:
            return original(*args, **kwargs)
        finally:
            _DEPTH.value = depth

    return wrapper


def _host_shape(data: Any) -> tuple[int, ...] | None:
    """Shape of host data being uploaded (None for device arrays and Python scalars)."""
    if isinstance(data, np.ndarray):
        return tuple(data.shape)
    if isinstance(data, (list, tuple)):
        return tuple(np.shape(data))
    return None


def _call_site() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != __name__ and module.split(".", 1)[0] not in _LIBRARY_MODULES:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"
