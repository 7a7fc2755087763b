"""GPU tests: each test takes a ``device`` ("cupy", "torch-cuda") and is skipped where that
library sees no CUDA GPU, so on a machine without one the whole folder is skipped cleanly.

``TNKIT_GPU_DRY_RUN=1`` runs the same tests on torch CPU tensors (device "torch-cpu") to check
the tests themselves on a machine without a GPU.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tnkit import backend

DRY_RUN = os.environ.get("TNKIT_GPU_DRY_RUN") == "1"
KINDS = ("torch-cpu",) if DRY_RUN else ("cupy", "torch-cuda")


class Device:
    """Where a test puts its arrays: a backend name and a device."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.backend = "cupy" if kind == "cupy" else "torch"
        self.device = None if kind == "cupy" else kind.split("-")[1]
        self.real_gpu = kind != "torch-cpu"

    def put(self, a: Any) -> Any:
        """A numpy array (or list of them) moved to this device."""
        if isinstance(a, (list, tuple)):
            return type(a)(self.put(b) for b in a)
        return backend.to_backend(np.ascontiguousarray(a), self.backend, self.device)

    def holds(self, arrays: Any) -> bool:
        """True when every array is of this backend and on this kind of device."""
        want = "cuda" if self.real_gpu else "cpu"
        return all(
            backend.backend_name(a) == self.backend and backend.device_of_kind(a) == want
            for a in arrays
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", KINDS, indirect=True)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> Device:
    kind = request.param
    if kind == "torch-cpu":
        pytest.importorskip("torch")
    elif not backend.cuda_available(kind.split("-")[0]):
        pytest.skip(f"{kind}: no CUDA GPU visible to {kind.split('-')[0]}")
    return Device(kind)


def _load_torch_paths() -> Any:
    """tests/test_torch_paths.py as a module: the GPU tests reuse its cases and helpers."""
    path = Path(__file__).resolve().parents[1] / "test_torch_paths.py"
    spec = importlib.util.spec_from_file_location("tnkit_tests_torch_paths", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cases() -> Any:
    """The algorithm cases of tests/test_torch_paths.py (needs torch for its imports)."""
    pytest.importorskip("torch")
    return _load_torch_paths()
