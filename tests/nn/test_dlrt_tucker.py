"""Tucker-format DLRT (TDLRT): the Tucker BUG step, Tucker conv layers, momentum, validation."""

import numpy as np
import pytest

from tnkit import lowrank

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import tnkit.nn as tnn  # noqa: E402


@torch.no_grad()
def _rel(a, b):
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def _moving_tucker(t, seed=0):
    """A(t) = C(t) ×₀ U₀(t) ×₁ U₁(t), ranks (2, 3), third mode (size 3) full."""
    rng = np.random.default_rng(seed)
    b0 = [rng.standard_normal((n, r)) for n, r in ((6, 2), (7, 3))]
    b1 = [rng.standard_normal((n, r)) for n, r in ((6, 2), (7, 3))]
    core = np.sin(np.arange(18.0).reshape(2, 3, 3) + t) + 1
    factors = [np.linalg.qr(a + t * b)[0] for a, b in zip(b0, b1)]
    return lowrank.tucker_to_dense(lowrank.TuckerLowRank(core, (*factors, None)))


@pytest.mark.parametrize("augment", [False, True])
def test_tucker_bug_step_is_exact_for_fixed_rank_motion(augment):
    # F = A(h) - A(0) constant: the Tucker BUG step reproduces A(h), ranks kept.
    a0, a1 = _moving_tucker(0.0), _moving_tucker(0.1)
    f = a1 - a0
    y0 = lowrank.tucker_truncate(
        lowrank.TuckerLowRank(a0, (np.eye(6), np.eye(7), None)), max_error=1e-12
    )
    assert y0.core.shape == (2, 3, 3) and y0.factors[2] is None

    def s_step(c0, bases):
        return c0 + lowrank.tucker_to_dense(
            lowrank.TuckerLowRank(f, tuple(b.T for b in bases[:2]) + (None,))
        )

    y1 = lowrank.tucker_bug_step(
        y0.core,
        y0.factors,
        k_step=lambda i, k0, v0: k0 + lowrank.unfold(f, i) @ v0,
        s_step=s_step,
        augment=augment,
        max_error=1e-12,
    )
    assert np.linalg.norm(lowrank.tucker_to_dense(y1) - a1) < 1e-12
    assert y1.core.shape == (2, 3, 3)


def test_tucker_truncate_rank_per_mode():
    rng = np.random.default_rng(2)
    core = np.zeros((4, 4, 2))
    core[0, 0] = [1.0, 0.5]
    core[1, 1] = [1e-3, 0.0]
    core[2, 2] = [1e-6, 0.0]
    q = [np.linalg.qr(rng.standard_normal((n, 4)))[0] for n in (9, 8)]
    y = lowrank.TuckerLowRank(core, (*q, None))
    assert lowrank.tucker_truncate(y, tol=1e-4).core.shape == (2, 2, 2)
    assert lowrank.tucker_truncate(y, tol=1e-2).core.shape == (1, 1, 2)
    assert lowrank.tucker_truncate(y, tol=1e-8, rank_max=(3, 1)).core.shape == (3, 1, 2)
    t = lowrank.tucker_truncate(y, tol=1e-4)
    err = np.linalg.norm(lowrank.tucker_to_dense(t) - lowrank.tucker_to_dense(y))
    assert err == pytest.approx(1e-6, rel=1e-6)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_tucker_conv_full_rank_matches_dense(dim):
    torch.manual_seed(0)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1](3, 5, 3, stride=2, padding=1).double()
    x = torch.randn(2, 3, *(7,) * dim, dtype=torch.float64)
    low = tnn.LowRankTuckerConv(conv, rank=(5, 3))
    assert low.rank == (5, 3)
    assert _rel(low.train()(x), conv(x)) < 1e-10
    assert _rel(low.eval()(x), conv(x)) < 1e-10


def test_tucker_conv_train_and_eval_agree_at_low_rank():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 8, 3, padding=2, dilation=2).double()
    low = tnn.LowRankTuckerConv(conv, rank=(3, 2))
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    assert _rel(low.eval()(x), low.train()(x)) < 1e-12
    assert low.n_params == 8 * 3 + 6 * 2 + 3 * 2 * 9


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 9, 4),
    ).double()


def _step(model, opt, x):
    model.train()
    opt.zero_grad()
    model(x).square().mean().backward()
    opt.step()


@pytest.mark.parametrize("conv_format", ["tucker", "matrix"])
def test_dlrt_step_with_zero_lr_and_tau_keeps_the_weights(conv_format):
    low = tnn.to_low_rank(_cnn(), rank=0.5, conv_format=conv_format)
    layers = [m for m in low.modules() if hasattr(m, "tucker")]
    before = [m.weight().detach().clone() for m in layers]
    ranks = tnn.low_rank_ranks(low)
    _step(low, tnn.DLRT(low, lr=0.0, tau=0.0), torch.randn(4, 3, 6, 6, dtype=torch.float64))
    assert tnn.low_rank_ranks(low) == ranks
    for m, w in zip(layers, before):
        assert _rel(m.weight(), w) < 1e-12


@pytest.mark.parametrize("conv_format", ["tucker", "matrix"])
def test_full_rank_dlrt_with_momentum_is_dense_sgd(conv_format):
    # At full rank the augmented bases span everything: DLRT = SGD with heavy-ball momentum.
    dense = _cnn()
    low = tnn.to_low_rank(dense, rank=1.0, conv_format=conv_format)
    opt = tnn.DLRT(low, lr=0.1, tau=0.0, rank_max=1.0, momentum=0.9)
    sgd = torch.optim.SGD(dense.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64)
    for _ in range(3):
        _step(low, opt, x)
        _step(dense, sgd, x)
    assert _rel(low.eval()(x), dense.eval()(x)) < 1e-10


def _data():
    torch.manual_seed(1)
    x = torch.randn(128, 3, 6, 6)
    y = (x[:, 0].flatten(1) @ torch.randn(36, 4)).argmax(dim=1)
    return [(x[i : i + 32], y[i : i + 32]) for i in range(0, 128, 32)]


def test_tucker_ranks_shrink_with_tau():
    data, ranks = _data(), {}
    for tau in (0.02, 0.4, 0.6):
        low = tnn.to_low_rank(_cnn().float(), rank=1.0)
        opt = tnn.DLRT(low, lr=0.05, tau=tau, momentum=0.5, rank_max=1.0)
        for _ in range(3):
            for x, y in data:
                low.train()
                opt.zero_grad()
                nn.functional.cross_entropy(low(x), y).backward()
                opt.step()
        ranks[tau] = tnn.low_rank_ranks(low)
    assert ranks == {
        0.02: {"0": (8, 3), "2": (6, 8), "5": 4},
        0.4: {"0": (7, 3), "2": (6, 7), "5": 4},
        0.6: {"0": (4, 3), "2": (4, 4), "5": 2},
    }


def test_bad_tucker_inputs():
    low = tnn.to_low_rank(_cnn())
    with pytest.raises(ValueError, match="tau"):
        tnn.DLRT(low, tau=-0.1)
    with pytest.raises(ValueError, match="tau"):
        tnn.DLRT(low, tau=1.0)
    with pytest.raises(ValueError, match="momentum"):
        tnn.DLRT(low, momentum=1.0)
    with pytest.raises(ValueError, match="rank_max"):
        tnn.DLRT(low, rank_max=0)
    with pytest.raises(ValueError, match="conv_format"):
        tnn.to_low_rank(_cnn(), conv_format="cp")
    with pytest.raises(ValueError, match="rank"):
        tnn.to_low_rank(_cnn(), rank=0)
    with pytest.raises(ValueError, match="rank"):
        tnn.LowRankTuckerConv(nn.Conv2d(4, 4, 3), rank=(2, 0))
    with pytest.raises(ValueError, match="rank"):
        tnn.LowRankTuckerConv(nn.Conv2d(4, 4, 3), rank=(2, 2, 2))
    with pytest.raises(ValueError, match="groups"):
        tnn.LowRankTuckerConv(nn.Conv2d(4, 4, 3, groups=2), rank=2)
    with pytest.raises(ValueError, match="factors"):
        lowrank.tucker_bug_step(
            np.ones((2, 2, 3)), (np.eye(2),), k_step=lambda *a: None, s_step=lambda *a: None
        )
