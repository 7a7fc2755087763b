"""compress(): ranks meet the budget, the input model is untouched, bad inputs are clear."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import tnkit.nn as tnn  # noqa: E402
from tnkit.nn import geometry  # noqa: E402


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 24, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(24, 24, 3, padding=1, groups=2),
        nn.Flatten(),
        nn.Linear(24 * 16, 10),
    )


X = torch.randn(4, 3, 8, 8)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["svd", "tucker", "tt"])
@pytest.mark.parametrize("budget", ["global", "per_layer"])
def test_ratio_budget_is_met_and_input_unchanged(method, budget):
    model = _model()
    before, text = _state(model), str(model)
    small, report = tnn.compress(model, method, ratio=0.25, budget=budget, calibration=X)
    assert str(model) == text
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert report.params_after <= 0.25 * report.params_before
    if budget == "per_layer":
        assert all(r.params_after <= 0.25 * r.params_before for r in report.layers)
    assert small(X).shape == (4, 10)
    assert any("groups=2" in note for note in report.notes)
    assert report.output_error is not None and report.macs_after < report.macs_before


def test_macs_target():
    small, report = tnn.compress(_model(), "tucker", ratio=0.3, target="macs", calibration=X)
    assert report.macs_after <= 0.3 * report.macs_before


def test_global_budget_favours_compressible_layers():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(40, 40), nn.Linear(40, 40))
    u, v = torch.randn(40, 3), torch.randn(3, 40)
    with torch.no_grad():
        model[0].weight.copy_(u @ v)  # exactly rank 3
    _, glob = tnn.compress(model, "svd", ratio=0.5, budget="global")
    _, per = tnn.compress(model, "svd", ratio=0.5, budget="per_layer")
    err = lambda rep: sum(r.weight_error**2 for r in rep.layers)  # noqa: E731
    assert glob.layers[0].ranks == (3,) and glob.layers[0].weight_error < 1e-6
    assert err(glob) < err(per)
    assert glob.params_after <= 0.5 * glob.params_before


def test_tol_keeps_error_below_tolerance():
    _, report = tnn.compress(_model(), "tucker", tol=0.2)
    assert all(r.weight_error <= 0.2 + 1e-9 for r in report.layers)


def _multiple_or_full(ranks, full, multiple):
    return all(r < multiple or r % multiple == 0 or r == f for r, f in zip(ranks, full))


@pytest.mark.parametrize("method", ["svd", "tucker", "cp", "tt"])
@pytest.mark.parametrize("budget", ["global", "per_layer"])
def test_rank_multiple_keeps_the_budget(method, budget):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(24, 48, 3, padding=1), nn.ReLU(), nn.Conv2d(48, 40, 3))
    kw = {"max_iter": 5} if method == "cp" else {}
    _, report = tnn.compress(model, method, ratio=0.3, budget=budget, rank_multiple=8, **kw)
    assert report.params_after <= 0.3 * report.params_before
    for row, layer in zip(report.layers, (model[0], model[2])):
        full = geometry.full_ranks(geometry.layer_info(layer), method)
        assert _multiple_or_full(row.ranks, full, 8)


def test_rank_multiple_rounds_tol_ranks_up():
    model = _model()
    _, plain = tnn.compress(model, "tucker", tol=0.3)
    _, rounded = tnn.compress(model, "tucker", tol=0.3, rank_multiple=8)
    for a, b in zip(plain.layers, rounded.layers):
        assert all(rb >= ra for ra, rb in zip(a.ranks, b.ranks))
        assert b.weight_error <= a.weight_error + 1e-12 and b.weight_error <= 0.3
    assert rounded.layers[1].ranks == (24, 16)  # (T, S) = (24, 16): 17..24 -> 24, 9..16 -> 16


def test_rank_multiple_capped_at_full_rank_is_exact():
    """A layer whose full ranks are below the multiple keeps them and is reproduced exactly."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(5, 6, 3))
    _, report = tnn.compress(model, "tucker", tol=1e-3, rank_multiple=16)
    assert report.layers[0].ranks == (6, 5) and report.layers[0].weight_error < 1e-6
    _, report = tnn.compress(model, "svd", ranks="evbmf", weakening=0.0, rank_multiple=4)
    assert report.layers[0].ranks == (6,) and report.layers[0].weight_error < 1e-6


def test_explicit_ranks_and_report_table():
    small, report = tnn.compress(_model(), "svd", ranks={"0": 2, "2": 4, "6": 3}, calibration=X)
    assert [r.ranks for r in report.layers] == [(2,), (4,), (3,)]
    text = str(report)
    assert "params" in text and "total" in text and "note:" in text
    assert report.to_dict()["layers"][0]["ranks"] == (2,)


def test_evbmf_finds_planted_rank():
    torch.manual_seed(0)
    lin = nn.Linear(60, 50)
    gen = np.random.default_rng(0)
    w = gen.standard_normal((50, 4)) @ gen.standard_normal((4, 60)) + 0.01 * gen.standard_normal(
        (50, 60)
    )
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    _, report = tnn.compress(nn.Sequential(lin), "svd", ranks="evbmf")
    assert report.layers[0].ranks == (4,)
    _, weak = tnn.compress(nn.Sequential(lin), "svd", ranks="evbmf", weakening=0.5)
    assert weak.layers[0].ranks == (27,)  # 50 - 0.5 * (50 - 4)


def test_layers_filter_and_names():
    model = _model()
    _, report = tnn.compress(model, "svd", ratio=0.5, layers=["2"])
    assert [r.name for r in report.layers] == ["2"]
    _, report = tnn.compress(model, "svd", ratio=0.5, layers=lambda n, m: isinstance(m, nn.Linear))
    assert [r.name for r in report.layers] == ["6"]
    _, report = tnn.compress(model, "svd", ratio=0.5, layers=["1", "6"])
    assert any("unsupported layer type ReLU" in n for n in report.notes)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(ratio=0), ValueError),
        (dict(ratio=1), ValueError),
        (dict(ratio=1.5), ValueError),
        (dict(ratio=0.5, tol=0.1), ValueError),
        (dict(), ValueError),
        (dict(tol=1.0), ValueError),
        (dict(ratio=0.5, method="pca"), ValueError),
        (dict(ratio=0.5, budget="all"), ValueError),
        (dict(ratio=0.5, target="macs"), ValueError),
        (dict(ratio=0.5, layers=["nope"]), KeyError),
        (dict(ratio=0.5, layers=["4"]), ValueError),
        (dict(ranks={"0": 0}, layers=["0"]), ValueError),
        (dict(ranks="vbmf"), ValueError),
    ],
)
def test_bad_inputs(kwargs, error):
    with pytest.raises(error):
        tnn.compress(_model(), **kwargs)


def test_not_a_module():
    with pytest.raises(TypeError, match="nn.Module"):
        tnn.compress(np.zeros(3), ratio=0.5)


def test_fine_tune_lowers_loss():
    torch.manual_seed(0)
    x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 10, (64,))
    loader = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    small, _ = tnn.compress(_model(), "tucker", ratio=0.3)
    losses = tnn.fine_tune(small, loader, epochs=5, lr=3e-3)
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert 0 <= tnn.evaluate(small, loader) <= 1
    with pytest.raises(ValueError, match="lr"):
        tnn.fine_tune(small, loader, epochs=1, lr=0)


def test_cp_compress_per_layer_and_global():
    model = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3))
    x = torch.randn(2, 4, 6, 6)
    for budget in ("per_layer", "global"):
        small, report = tnn.compress(
            model, "cp", ratio=0.3, budget=budget, max_iter=20, calibration=x
        )
        assert report.params_after <= 0.3 * report.params_before
        assert [r.method for r in report.layers] == ["cp", "cp"]
        assert small(x).shape == model(x).shape


def _mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(ranks=True), ValueError, "ranks for '0'"),
        (dict(ranks=2.5), ValueError, "ranks for '0'"),
        (dict(ranks=1000), ValueError, "exceeds the full ranks"),
        (dict(ranks=(2, 2)), ValueError, "must give 1 rank"),
        (dict(ratio=0.5, weakening="a"), ValueError, "weakening"),
        (dict(ratio=0.5, seed="a"), ValueError, "seed"),
        (dict(ratio=0.5, seed=-1), ValueError, "seed"),
        (dict(ratio=0.5, progress=5), TypeError, "progress"),
        (dict(ratio=0.5, max_iter=0), ValueError, "max_iter"),
        (dict(ratio=0.5, calibration=torch.randn(2, 7)), ValueError, "calibration"),
        (dict(ratio=0.5, calibration=torch.full((2, 8), float("nan"))), ValueError, "calibration"),
        (dict(ratio=0.5, calibration=[]), ValueError, "calibration"),
        (dict(ratio=0.5, calibration="a"), TypeError, "calibration"),
        (dict(ratio=0.5, rank_multiple=0), ValueError, "rank_multiple"),
        (dict(ratio=0.5, rank_multiple=2.0), ValueError, "rank_multiple"),
        (dict(ratio=0.5, rank_multiple=True), ValueError, "rank_multiple"),
    ],
)
def test_bad_compress_arguments_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tnn.compress(_mlp(), **kwargs)


def test_nan_weights_are_named():
    model = _mlp()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer '0' has NaN or Inf weights"):
        tnn.compress(model, ratio=0.5)
    with pytest.raises(ValueError, match="NaN or Inf weights"):
        tnn.factorize(model[0], "svd", 2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda m: tnn.factorize(5, "svd", 2), TypeError, "layer"),
        (lambda m: tnn.factorize(m[1], "svd", 2), TypeError, "layer"),
        (lambda m: tnn.factorize(m[0], "lu", 2), ValueError, "method"),
        (lambda m: tnn.factorize(m[0], "svd", 0), ValueError, "ranks"),
        (lambda m: tnn.factorize(m[0], "svd", 100), ValueError, "ranks"),
        (lambda m: tnn.factorize(m[0], "svd", "a"), ValueError, "ranks"),
        (lambda m: tnn.factorize(m[0], "svd", True), ValueError, "ranks"),
        (lambda m: tnn.count_params(5), TypeError, "module"),
        (lambda m: tnn.count_macs(5, torch.randn(1, 8)), TypeError, "module"),
        (lambda m: tnn.count_macs(m, "a"), TypeError, "x"),
        (lambda m: tnn.count_macs(m, torch.randn(1, 7)), ValueError, "x does not fit"),
    ],
)
def test_bad_factorize_and_report_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(_mlp())


def test_factorize_accepts_an_int_rank():
    new, err = tnn.factorize(_mlp()[0], "svd", 6)
    assert err < 1e-6 and isinstance(new, nn.Module)


def _cp_model():
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3))


def _counted_decompositions(monkeypatch, stop_at=None):
    """Record the decompositions compress runs; Ctrl-C at call number ``stop_at``."""
    from tnkit.nn import convert, factorizations

    calls, real = [], convert.decompose

    def counted(layer, method, ranks, **fit):
        if len(calls) + 1 == stop_at:
            raise KeyboardInterrupt
        calls.append((method, ranks))
        return real(layer, method, ranks, **fit)

    monkeypatch.setattr(factorizations, "decompose", counted)
    return calls


def test_an_interrupted_compression_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    path, x = tmp_path / "compress.pt", torch.randn(2, 4, 6, 6)
    opts = dict(method="cp", ratio=0.3, max_iter=20, calibration=x)
    calls = _counted_decompositions(monkeypatch)
    whole, _ = tnn.compress(_cp_model(), **opts)
    total = len(calls)  # the trial fits planning the global budget, then the final ones
    _counted_decompositions(monkeypatch, stop_at=7)  # Ctrl-C while planning
    with pytest.raises(KeyboardInterrupt):
        tnn.compress(_cp_model(), checkpoint=path, **opts)
    calls = _counted_decompositions(monkeypatch)
    small, report = tnn.compress(_cp_model(), checkpoint=path, resume=True, **opts)
    assert len(calls) == total - 6  # only what the first run had not done
    assert f"resumed: 6 factorization(s) read from {path}" in report.notes
    assert torch.equal(small(x), whole(x))
    calls.clear()  # the finished run's file: nothing left to fit
    again, _ = tnn.compress(_cp_model(), checkpoint=path, resume=True, **opts)
    assert calls == [] and torch.equal(again(x), whole(x))


def test_a_compress_checkpoint_of_other_options_or_weights(tmp_path, monkeypatch):
    path, model = tmp_path / "compress.pt", _cp_model()
    tnn.compress(model, "svd", ranks=2, checkpoint=path)
    with pytest.raises(ValueError, match="other fit options"):
        tnn.compress(model, "svd", ranks=2, checkpoint=path, resume=True, seed=1)
    with torch.no_grad():
        model[2].weight.mul_(2.0)  # its saved factorization no longer applies
    calls = _counted_decompositions(monkeypatch)
    _, report = tnn.compress(model, "svd", ranks=2, checkpoint=path, resume=True)
    assert calls == [("svd", (2,))] and "resumed: 1 factorization(s)" in report.notes[-1]
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a compress checkpoint"):
        tnn.compress(model, "svd", ranks=2, checkpoint=tmp_path / "other.pt", resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        tnn.compress(model, "svd", ranks=2, resume=True)


def test_cli_rank_multiple(tmp_path, capsys):
    from tnkit.cli import main

    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(24, 48, 3, padding=1)).eval()
    x = torch.randn(2, 24, 6, 6)
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    report = tmp_path / "r.json"
    args = ["compress", str(path), "--method", "cp", "--ratio", "0.3", "--report", str(report)]
    assert main([*args, "--rank-multiple", "16"]) == 0
    ranks = json.loads(report.read_text())["layers"][0]["ranks"]
    assert ranks == [32]  # rank 37 without the multiple
    assert main([*args, "--rank-multiple", "0"]) == 2
    assert "rank_multiple" in capsys.readouterr().err
