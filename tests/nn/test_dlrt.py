"""DLRT low-rank training: layers match their dense form, ranks adapt with tau."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import tnkit.nn as tnn  # noqa: E402


@torch.no_grad()
def _rel(a, b):
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_low_rank_conv_full_rank_matches_dense(dim):
    torch.manual_seed(0)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1](3, 4, 3, stride=2, padding=1, dilation=1)
    conv = conv.double()
    x = torch.randn(2, 3, *(6,) * dim, dtype=torch.float64)
    low = tnn.LowRankConv(conv, rank=4)
    assert _rel(low.train()(x), conv(x)) < 1e-10
    assert _rel(low.eval()(x), conv(x)) < 1e-10


def test_low_rank_linear_eval_equals_train_path():
    torch.manual_seed(0)
    layer = tnn.LowRankLinear(10, 7, rank=3).double()
    x = torch.randn(5, 10, dtype=torch.float64)
    assert _rel(layer.eval()(x), layer.train()(x)) < 1e-12
    assert layer.rank == 3


def _data():
    torch.manual_seed(0)
    x = torch.randn(256, 20)
    teacher = torch.randn(20, 3) @ torch.randn(3, 20)
    y = (x @ teacher).argmax(dim=1) % 4
    return [(x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)]


def _train(tau, epochs=15):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    model = tnn.to_low_rank(model, rank=0.5)
    opt = tnn.DLRT(model, lr=0.1, tau=tau)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        for x, y in _data():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return model, losses


def test_dlrt_trains_and_ranks_shrink_with_tau():
    ranks = []
    for tau in (0.05, 0.3, 0.6):
        model, losses = _train(tau)
        assert losses[-1] < losses[0]
        ranks.append(sum(tnn.low_rank_ranks(model).values()))
    assert ranks[0] >= ranks[1] >= ranks[2] and ranks[0] > ranks[2]


def test_dlrt_fixed_rank():
    model, losses = _train(None, epochs=3)
    assert tnn.low_rank_ranks(model) == {"0": 10, "2": 2}
    assert losses[-1] < losses[0]


def test_bad_dlrt_inputs():
    with pytest.raises(ValueError, match="low-rank"):
        tnn.DLRT(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="tau"):
        tnn.DLRT(tnn.to_low_rank(nn.Linear(3, 3)), tau=1.5)
    with pytest.raises(ValueError, match="groups"):
        tnn.LowRankConv(nn.Conv2d(4, 4, 3, groups=2), rank=2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda m: tnn.DLRT(5), TypeError, "model"),
        (lambda m: tnn.DLRT(tnn.to_low_rank(m, 2), lr="a"), ValueError, "lr"),
        (lambda m: tnn.DLRT(tnn.to_low_rank(m, 2), lr=float("nan")), ValueError, "lr"),
        (lambda m: tnn.DLRT(tnn.to_low_rank(m, 2), tau="a"), ValueError, "tau"),
        (lambda m: tnn.DLRT(tnn.to_low_rank(m, 2), momentum=True), ValueError, "momentum"),
        (lambda m: tnn.to_low_rank(5, 2), TypeError, "model"),
        (lambda m: tnn.to_low_rank(m, True), ValueError, "rank"),
        (lambda m: tnn.to_low_rank(m, "2"), ValueError, "rank"),
        (lambda m: tnn.to_low_rank(m, float("nan")), ValueError, "rank"),
        (lambda m: tnn.to_low_rank(m, 2, ["1"]), ValueError, "'1' is a ReLU"),
        (lambda m: tnn.to_low_rank(m, 2, "0"), TypeError, "layers"),
        (lambda m: tnn.low_rank_ranks(5), TypeError, "model"),
        (lambda m: tnn.LowRankLinear.from_dense(5, 2), TypeError, "linear"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))
    with pytest.raises(exc, match=match):
        call(model)
