import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import tnkit.nn as tnn  # noqa: E402


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))


GOOD = [(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(model=5), TypeError, "model"),
        (dict(loader=5), TypeError, "loader"),
        (dict(epochs="a"), ValueError, "epochs"),
        (dict(epochs=True), ValueError, "epochs"),
        (dict(epochs=1.5), ValueError, "epochs"),
        (dict(lr="a"), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(lr=float("inf")), ValueError, "lr"),
        (dict(progress=5), TypeError, "progress"),
        (dict(checkpoint=5), TypeError, "checkpoint"),
        (dict(loss_fn=5), TypeError, "loss_fn"),
        (dict(loader=[torch.randn(2, 8)]), ValueError, "loader"),
        (dict(loader=[(torch.randn(2, 7), torch.tensor([0, 1]))]), ValueError, "loader batch"),
        (dict(loader=[(torch.randn(2, 8), torch.randn(2))]), ValueError, "loader batch"),
    ],
)
def test_fine_tune_names_bad_arguments(kwargs, exc, match):
    args = {"model": _model(), "loader": GOOD, "epochs": 1, **kwargs}
    with pytest.raises(exc, match=match):
        tnn.fine_tune(args.pop("model"), args.pop("loader"), **args)


def test_evaluate_names_bad_arguments():
    with pytest.raises(TypeError, match="model"):
        tnn.evaluate(5, GOOD)
    with pytest.raises(ValueError, match="no samples"):
        tnn.evaluate(_model(), [])
    with pytest.raises(ValueError, match="loader batch"):
        tnn.evaluate(_model(), [(torch.randn(2, 7), torch.tensor([0, 1]))])
    assert 0.0 <= tnn.evaluate(_model(), GOOD) <= 1.0
