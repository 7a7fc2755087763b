"""Checkpoint and resume: low-rank models whose ranks changed, DLRT's momentum, fine-tuning."""

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import tnkit.nn as tnn  # noqa: E402


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Flatten(),
        nn.Linear(8 * 16, 12),
        nn.ReLU(),
        nn.Linear(12, 3),
    ).double()


def _batches(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(16, 2, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (16,)))
        for _ in range(n)
    ]


def _dlrt_steps(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("conv_format", ["tucker", "matrix"])
def test_dlrt_resumes_bit_for_bit_after_the_ranks_changed(tmp_path, conv_format):
    """Train 4 steps; or train 2, save model + optimizer, load into a FRESH low-rank model
    (initial ranks differ from the saved ones) and train 2 more: the same weights and ranks."""
    names = ["0", "2", "4"]
    batches = _batches()
    low = tnn.to_low_rank(_model(), rank=1.0, layers=names, conv_format=conv_format)
    ref = copy.deepcopy(low)
    opt_ref = tnn.DLRT(ref, lr=0.1, tau=0.3, momentum=0.9)
    _dlrt_steps(ref, opt_ref, batches)

    opt = tnn.DLRT(low, lr=0.1, tau=0.3, momentum=0.9)
    _dlrt_steps(low, opt, batches[:2])
    torch.save({"model": low.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.pt")
    start = tnn.to_low_rank(_model(), rank=1.0, layers=names, conv_format=conv_format)
    assert tnn.low_rank_ranks(start) != tnn.low_rank_ranks(low)  # shapes must be resized

    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    start.load_state_dict(state["model"])
    resumed = tnn.DLRT(start, lr=0.5, tau=0.0)  # settings come from the checkpoint
    resumed.load_state_dict(state["opt"])
    assert (resumed.lr, resumed.tau, resumed.momentum) == (0.1, 0.3, 0.9)
    _dlrt_steps(start, resumed, batches[2:])
    assert tnn.low_rank_ranks(start) == tnn.low_rank_ranks(ref)
    x = batches[0][0]
    torch.testing.assert_close(start.eval()(x), ref.eval()(x), rtol=1e-12, atol=1e-12)


def test_dlrt_state_dict_rejects_foreign_state():
    low = tnn.to_low_rank(_model(), rank=1.0, layers=["2"])
    opt = tnn.DLRT(low, momentum=0.9)
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict({"lr": 0.1})
    state = opt.state_dict()
    state["buffers"] = {"param:nope": torch.zeros(1)}
    with pytest.raises(ValueError, match="unknown names"):
        opt.load_state_dict(state)


def test_fine_tune_resume_equals_one_uninterrupted_run(tmp_path):
    batches = _batches(3, seed=2)
    whole = _model()
    full = tnn.fine_tune(whole, batches, epochs=3, lr=1e-2)

    part = _model()
    ck = tmp_path / "ft.pt"
    first = tnn.fine_tune(part, batches, epochs=2, lr=1e-2, checkpoint=ck)
    fresh = _model()  # a new process would rebuild the model and resume from the file
    rest = tnn.fine_tune(fresh, batches, epochs=3, lr=1e-2, checkpoint=ck, resume=True)
    assert first == full[:2] and rest == full
    x = batches[0][0]
    torch.testing.assert_close(fresh(x), whole(x), rtol=1e-12, atol=1e-12)
    # a finished run resumes to nothing more to do
    assert tnn.fine_tune(fresh, batches, epochs=3, lr=1e-2, checkpoint=ck, resume=True) == full


def test_fine_tune_resume_needs_a_checkpoint():
    with pytest.raises(ValueError, match="checkpoint"):
        tnn.fine_tune(_model(), _batches(1), epochs=1, resume=True)
