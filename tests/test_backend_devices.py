"""Device helpers of tnkit.backend: moves, synchronisation, GPU probing, the transfer audit."""

import numpy as np
import pytest

from tnkit import backend

torch = pytest.importorskip("torch")


def test_watch_transfers_counts_each_kind_once_with_its_site():
    t = torch.arange(6.0).reshape(2, 3)
    with backend.watch_transfers() as log:
        float(t.sum())
        t[0, 0].item()
        bool(t.sum() > 0)
        backend.to_numpy(t)  # .cpu().numpy() inside: one copy
        np.asarray(t)  # __array__ -> numpy(): one copy
        backend.asarray_like(np.ones(4), t)
        torch.from_numpy(np.zeros((2, 2)))
        t + 1  # no transfer
    assert log.summary() == {"d2h_scalars": 3, "d2h_arrays": 2, "h2d": 2}
    assert [e.shape for e in log.d2h(scalars=False)] == [(2, 3), (2, 3)]
    assert [e.call for e in log.h2d()] == ["torch.as_tensor", "torch.from_numpy"]
    assert all(e.site.startswith(__file__) for e in log.events), log.events


def test_watch_transfers_restores_the_classes_and_nests():
    before = dict(torch.Tensor.__dict__)
    t = torch.ones(3)
    with backend.watch_transfers() as outer:
        with backend.watch_transfers() as inner:
            t.sum().item()
        t.tolist()
    assert len(inner.events) == 1 and len(outer.events) == 2
    assert dict(torch.Tensor.__dict__) == before
    assert float(t.sum()) == 3.0 and t.numpy().tolist() == [1.0, 1.0, 1.0]


def test_moves_between_backends_and_devices():
    x = np.arange(6.0).reshape(2, 3)
    t = backend.to_backend(x, "torch", device="cpu")
    assert isinstance(t, torch.Tensor) and backend.device(t) == "cpu"
    assert backend.to_backend(t, "torch") is t
    assert backend.to_backend(t, "torch", device="cpu") is t
    np.testing.assert_array_equal(backend.to_backend(t, "numpy"), x)
    assert backend.device_of_kind(t) == "cpu" and backend.device_of_kind(x) == "cpu"


def test_gpu_probing_and_synchronize_without_a_gpu():
    if backend.cuda_available("torch"):
        pytest.skip("a CUDA device is present")
    backend.synchronize(torch.ones(2))  # CPU tensors: nothing to wait for
    backend.synchronize(np.ones(2))
    backend.synchronize()
    with pytest.raises(ValueError, match="'cupy' or 'torch'"):
        backend.cuda_available("jax")
    lines = backend.describe_devices()
    assert lines[0].startswith("cpu:") and any(line.startswith("torch") for line in lines)


def test_asarray_like_takes_arrays_of_the_target_library_without_the_host():
    like = torch.zeros(2, dtype=torch.float32)
    with backend.watch_transfers() as log:
        out = backend.asarray_like(torch.ones((2, 2), dtype=torch.float64), like)
    assert out.dtype == torch.float32 and log.events == []
    assert backend.asarray_like(torch.ones(3), np.zeros(1)).dtype == np.float64
    np.testing.assert_array_equal(backend.asarray_like([1, 2], like).numpy(), [1.0, 2.0])


def test_implicit_numpy_conversion_can_be_refused_as_on_a_gpu():
    t = torch.ones(3)
    with backend.watch_transfers(implicit=False):
        with pytest.raises(TypeError, match="refused on GPUs"):
            np.linalg.norm(t)
        assert backend.to_numpy(t).sum() == 3.0  # the explicit way is fine
    assert np.linalg.norm(t) == pytest.approx(3**0.5)
