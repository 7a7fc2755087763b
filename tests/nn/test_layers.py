"""Factorized layers at full rank reproduce the dense layer; counts match the formulas."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tnkit.nn import count_macs, count_params, factorize, layers  # noqa: E402
from tnkit.nn.geometry import full_ranks, layer_info, macs, params  # noqa: E402

GEOMETRIES = [
    (1, dict(stride=2, padding=1, dilation=1)),
    (2, dict(stride=2, padding=1, dilation=1)),
    (2, dict(stride=1, padding=2, dilation=2)),
    (2, dict(stride=(2, 1), padding=(1, 2), dilation=1, padding_mode="reflect")),
    (2, dict(stride=1, padding="same", dilation=1, padding_mode="circular")),
    (3, dict(stride=2, padding=1, dilation=1)),
]


def _conv(dim, bias=True, **kw):
    torch.manual_seed(0)
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1]
    return cls(4, 5, 3, bias=bias, **kw).double()


def _input(dim, batch=2):
    return torch.randn(batch, 4, *(7,) * dim, dtype=torch.float64)


@torch.no_grad()
def _rel(a, b):
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


@pytest.mark.parametrize("dim,kw", GEOMETRIES)
@pytest.mark.parametrize("method", ["svd", "tucker", "tt"])
def test_full_rank_conv_reproduces_dense(dim, kw, method):
    conv = _conv(dim, **kw)
    x = _input(dim)
    info = layer_info(conv)
    new, err = factorize(conv, method, full_ranks(info, method))
    assert err < 1e-10
    assert _rel(new(x), conv(x)) < 1e-10


def _cp_factors(conv, rank, separable, seed=1):
    rng = np.random.default_rng(seed)
    t, s, *k = conv.weight.shape
    spatial = (
        [rng.standard_normal((kj, rank)) for kj in k]
        if separable
        else [rng.standard_normal((int(np.prod(k)), rank))]
    )
    return (
        rng.random(rank) + 0.5,
        rng.standard_normal((t, rank)),
        rng.standard_normal((s, rank)),
        spatial,
    )


@pytest.mark.parametrize("dim,kw", GEOMETRIES)
@pytest.mark.parametrize("separable", [False, True])
def test_cp_layers_match_dense_kernel(dim, kw, separable):
    conv = _conv(dim, **kw)
    lam, f_out, f_in, spatial = _cp_factors(conv, 3, separable)
    w = np.einsum("r,tr,sr->tsr", lam, f_out, f_in)
    if separable:
        for f in spatial:
            w = np.einsum("ts...r,kr->ts...kr", w, f)
    else:
        w = np.einsum("tsr,kr->tskr", w, spatial[0])
    w = w.sum(-1).reshape(conv.weight.shape)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
    new = layers.conv_cp(conv, lam, f_out, f_in, spatial)
    x = _input(dim)
    assert _rel(new(x), conv(x)) < 1e-10
    assert isinstance(new, nn.Sequential)
    assert new[-1].bias is not None and all(m.bias is None for m in new[:-1])


@pytest.mark.parametrize("method", ["svd", "ttm"])
def test_full_rank_linear_reproduces_dense(method):
    torch.manual_seed(0)
    lin = nn.Linear(12, 8).double()
    x = torch.randn(3, 5, 12, dtype=torch.float64)
    new, err = factorize(lin, method, full_ranks(layer_info(lin), method))
    assert err < 1e-10
    assert _rel(new(x), lin(x)) < 1e-10


def test_spatial_arguments_only_on_spatial_layers():
    conv = _conv(2, stride=2, padding=1, dilation=2)
    new, _ = factorize(conv, "tucker", (3, 2))
    first, mid, last = new
    assert first.stride == (1, 1) and first.padding == (0, 0) and first.bias is None
    assert mid.stride == (2, 2) and mid.padding == (1, 1) and mid.dilation == (2, 2)
    assert last.bias is not None and last.stride == (1, 1)


@pytest.mark.parametrize(
    "method,ranks",
    [("svd", (3,)), ("tucker", (3, 2)), ("tt", (2, 3, 4, 3)), ("dense", ())],
)
@pytest.mark.parametrize("dim,kw", [GEOMETRIES[0], GEOMETRIES[1], GEOMETRIES[3], GEOMETRIES[5]])
def test_counts_match_formulas(method, ranks, dim, kw):
    conv = _conv(dim, **kw)
    x = _input(dim, batch=3)
    info = layer_info(conv, tuple(x.shape[1:]))
    ranks = ranks[: dim + 1] if method == "tt" else ranks
    new = conv if method == "dense" else factorize(conv, method, ranks)[0]
    assert count_params(new) == params(info, method, ranks)
    assert count_macs(new, x) == macs(info, method, ranks)


@pytest.mark.parametrize("separable", [False, True])
def test_cp_counts_match_formulas(separable):
    conv = _conv(2, stride=2, padding=1)
    lam, f_out, f_in, spatial = _cp_factors(conv, 4, separable)
    new = layers.conv_cp(conv, lam, f_out, f_in, spatial)
    x = _input(2, batch=2)
    info = layer_info(conv, tuple(x.shape[1:]))
    method = "cp4" if separable else "cp"
    assert count_params(new) == params(info, method, (4,))
    assert count_macs(new, x) == macs(info, method, (4,))


def test_linear_counts_match_formulas():
    lin = nn.Linear(12, 8).double()
    x = torch.randn(4, 12, dtype=torch.float64)
    info = layer_info(lin, tuple(x.shape[1:]))
    for method, ranks in [("svd", (3,)), ("ttm", (2, 3))]:
        new = factorize(lin, method, ranks)[0]
        assert count_params(new) == params(info, method, ranks)
        assert count_macs(new, x) == macs(info, method, ranks)


def test_float32_layers_keep_dtype():
    conv = nn.Conv2d(4, 6, 3, padding=1)
    new, err = factorize(conv, "svd", (2,))
    assert all(p.dtype == torch.float32 for p in new.parameters())
    assert 0 < err < 1


@pytest.mark.parametrize("method,separable", [("cp", False), ("cp4", True)])
def test_cp_conversion_recovers_exact_cp_kernel(method, separable):
    conv = _conv(2, stride=2, padding=1)
    lam, f_out, f_in, spatial = _cp_factors(conv, 2, separable, seed=3)
    full = np.einsum("r,tr,sr->tsr", lam, f_out, f_in)
    if separable:
        full = np.einsum("tsr,ar,br->tsabr", full, *spatial).sum(-1)
    else:
        full = np.einsum("tsr,kr->tskr", full, spatial[0]).sum(-1).reshape(conv.weight.shape)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(full))
    new, err = factorize(conv, method, (2,), stable=True, max_iter=300)
    x = _input(2)
    assert err < 1e-6
    assert _rel(new(x), conv(x)) < 1e-6


def test_bad_layer_arguments_are_named():
    import tnkit.nn as _tnn

    with pytest.raises(ValueError, match="in_features"):
        _tnn.LowRankLinear("a", 3, 2)
    with pytest.raises(TypeError, match="cores"):
        _tnn.TTLinear(5)
    with pytest.raises(ValueError, match=r"cores\[0\]"):
        _tnn.TTLinear([torch.ones(1, 2, 2)])
    with pytest.raises(ValueError, match="chain"):
        _tnn.TTLinear([torch.ones(1, 2, 2, 3), torch.ones(2, 2, 2, 1)])
