"""``compress(model, ...)``: replace a model's Linear/Conv layers by factorized ones."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import checks
from . import ranks as rk
from ._checks import check_module, check_progress, check_tensor, user_data
from .convert import check_layer_ranks, dense_weight, effective_method
from .factorizations import Factorizations
from .geometry import LayerInfo, layer_info
from .report import CompressionReport, LayerReport, count_macs, count_params

SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BUDGETS = ("global", "per_layer")
TARGETS = ("params", "macs")
CP_CURVE_POINTS = 6  # CP fits per layer when a global budget needs CP error curves


def compress(
    model: nn.Module,
    method: str = "svd",
    *,
    ratio: float | None = None,
    tol: float | None = None,
    ranks: int | tuple | dict | str | None = None,
    layers: Callable[[str, nn.Module], bool] | Iterable[str] | None = None,
    budget: str = "global",
    target: str = "params",
    calibration: Any = None,
    weakening: float = 1.0,
    rank_multiple: int = 1,
    stable: bool = True,
    max_iter: int | None = None,
    seed: int = 0,
    progress: bool | Callable[[int, int, str], None] = False,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> tuple[nn.Module, CompressionReport]:
    """Compress the Linear and ConvNd layers of ``model`` by low-rank factorization.

    Parameters
    ----------
    model : the trained ``nn.Module``; it is deep-copied and never modified.
    method : ``"svd"``, ``"tucker"`` (Tucker-2), ``"cp"`` (CP-3), ``"cp4"`` (CP-(2+d),
        Lebedev et al.) or ``"tt"`` for k×k convolutions. Linear layers and 1×1 convolutions
        use SVD (``"tt"`` gives Linear layers the TT-matrix form).
    ratio : fraction (0 < ratio < 1) of the selected layers' parameters (``target="macs"``:
        MACs) that is kept.
    tol : relative weight-error tolerance per layer, 0 < tol < 1.
    ranks : explicit ranks: an int or tuple for every layer, a dict ``{name: ranks}``, or
        ``"evbmf"`` (EVBMF per unfolding, Nakajima et al. 2013, weakened by ``weakening``).
        Exactly one of ``ratio``, ``tol`` and ``ranks`` is given.
    layers : which layers: a predicate ``(name, module) -> bool`` or a list of names
        (default: every Linear and ConvNd).
    budget : with ``ratio``: ``"global"`` spends one budget on the whole selection, split
        between layers to minimise the summed relative squared weight error;
        ``"per_layer"`` keeps ``ratio`` of every layer.
    target : ``"params"`` or ``"macs"`` — what ``ratio`` counts (MACs need ``calibration``).
    calibration : an input batch (tensor) or an iterable of batches (tensors or
        ``(inputs, targets)`` pairs; the first batch is used) to measure MACs and the output
        errors of each layer and of the whole model.
    weakening : EVBMF weakening factor in [0, 1] (1 = plain EVBMF, 0 = full rank).
    rank_multiple : with ``ratio``, ``tol`` or ``ranks="evbmf"``: every rank of at least
        ``rank_multiple`` is a multiple of it or the full rank of its mode (smaller ranks are
        kept); ``tol`` and EVBMF round ranks up, a budget picks among such ranks. oneDNN's CPU
        convolutions compute output channels in blocks of 16 (AVX-512), so ``16`` avoids ranks
        such as 17 or 33 that cost nearly a whole extra block of time. Explicit ``ranks`` are
        used as given.
    stable : CP with the error-preserving norm correction (Phan et al., ECCV 2020).
    max_iter : sweeps of the CP fits (default: :func:`tnkit.cp`'s).
    seed : seed of the randomized parts of the decompositions.
    progress : ``True`` for a progress bar, or a callable ``(i, n, name)``.
    checkpoint : file that every factorization (the final ones and the trial fits that plan
        a global budget or a CP tolerance) is written to as soon as it is done
        (:mod:`tnkit.nn.factorizations`; no pickled objects).
    resume : take the factorizations in ``checkpoint`` from it instead of fitting them again
        (a missing file starts afresh): the same call then ends with the model an
        uninterrupted run gives. A file written with other ``stable``/``seed``/``max_iter``
        is refused; entries of layers whose weights changed are not used.

    Returns
    -------
    (compressed model, :class:`~tnkit.nn.report.CompressionReport`). Ctrl-C stops between
    layers; the layers done so far are kept and a note says so.
    """
    _check(method, ratio, tol, ranks, budget, target, weakening)
    multiple = checks.check_int(rank_multiple, "rank_multiple", 1)
    check_module(model)
    seed = checks.check_seed(seed)
    max_iter = checks.check_int(max_iter, "max_iter", 1, optional=True)
    check_progress(progress)
    checks.check_checkpoint(checkpoint, resume)
    work = copy.deepcopy(model)
    report = CompressionReport()
    chosen = _select(work, layers, report.notes)
    x = _first_batch(calibration)
    if target == "macs" and x is None:
        raise ValueError("target='macs' needs calibration= (an example input batch)")
    with user_data("calibration"):
        inputs, reference = _capture(work, [m for _, m in chosen], x)
    infos = [layer_info(m, None if x is None else tuple(inputs[m].shape)) for _, m in chosen]
    methods = [effective_method(m, method) for _, m in chosen]
    fits = Factorizations(
        {"stable": stable, "seed": seed, "max_iter": max_iter}, checkpoint, resume
    )
    try:  # the checkpoint takes every finished factorization, whatever ends the run
        plan = _plan(
            chosen, infos, methods, ratio, tol, ranks, budget, target, weakening, multiple, fits
        )
        tick = _ticker(progress, len(chosen))
        try:
            for i, ((name, layer), meth, r) in enumerate(zip(chosen, methods, plan)):
                tick(i, name)
                new, err = fits.module(name, layer, meth, r)
                report.layers.append(_row(name, layer, new, meth, r, err, inputs.get(layer)))
                work = new if not name else _replace(work, name, new)
        except KeyboardInterrupt:
            left = len(chosen) - len(report.layers)
            report.notes.append(f"interrupted: {left} layer(s) left dense")
    finally:
        fits.flush()
    if fits.reused:
        report.notes.append(f"resumed: {len(fits.reused)} factorization(s) read from {checkpoint}")
    if x is not None:
        report.output_error = _rel_error(reference, _forward(work, x))
    return work, report


def _check(method, ratio, tol, ranks, budget, target, weakening) -> None:
    if method not in rk.METHODS:
        raise ValueError(f"method must be one of {rk.METHODS}, got {method!r}")
    if sum(v is not None for v in (ratio, tol, ranks)) != 1:
        raise ValueError("give exactly one of ratio=, tol= or ranks=")
    if ratio is not None and not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise ValueError(f"ratio must be a number with 0 < ratio < 1, got {ratio!r}")
    if tol is not None and not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol must be a number with 0 < tol < 1, got {tol!r}")
    if isinstance(ranks, str) and ranks != "evbmf":
        raise ValueError(f"ranks must be an int, a tuple, a dict or 'evbmf', got {ranks!r}")
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    checks.check_real(weakening, "weakening", low=0, high=1)


def _unsupported(module: nn.Module) -> str | None:
    if not isinstance(module, SUPPORTED):
        return f"unsupported layer type {type(module).__name__}"
    if getattr(module, "groups", 1) != 1:
        return f"grouped convolution (groups={module.groups}) is not supported"
    if module.weight.is_complex():
        return "complex weights are not supported"
    return None


def _select(model: nn.Module, layers, notes: list[str]) -> list[tuple[str, nn.Module]]:
    named = dict(model.named_modules())
    if layers is None:
        names = [n for n, m in named.items() if isinstance(m, SUPPORTED)]
    elif callable(layers):
        names = [n for n, m in named.items() if n and layers(n, m)]
    elif isinstance(layers, Iterable) and not isinstance(layers, str):
        names = list(layers)
        missing = [n for n in names if n not in named]
        if missing:
            raise KeyError(f"layers: no module named {missing} in the model")
    else:
        raise TypeError("layers must be a predicate (name, module) -> bool or a list of names")
    chosen = []
    for name in names:
        reason = _unsupported(named[name])
        if reason:
            notes.append(f"{name}: skipped, {reason}")
        elif not bool(torch.isfinite(named[name].weight).all()):
            raise ValueError(f"layer {name!r} has NaN or Inf weights")
        else:
            chosen.append((name, named[name]))
    if not chosen:
        raise ValueError("no supported layer (Linear, Conv1d/2d/3d with groups=1) was selected")
    return chosen


def _first_batch(calibration: Any) -> torch.Tensor | None:
    if calibration is None:
        return None
    if isinstance(calibration, torch.Tensor):
        return check_tensor(calibration, "calibration")
    if not isinstance(calibration, Iterable) or isinstance(calibration, (str, bytes)):
        raise TypeError("calibration must be a tensor or an iterable of batches")
    batch = next(iter(calibration), None)
    if batch is None:
        raise ValueError("calibration holds no batch")
    batch = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if not isinstance(batch, torch.Tensor):
        raise TypeError(f"calibration batches must be tensors, got {type(batch).__name__}")
    return check_tensor(batch, "calibration")


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mode = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(mode)


def _capture(model: nn.Module, modules: list[nn.Module], x: torch.Tensor | None):
    """Each module's input on ``x`` and the model's output (empty / None without ``x``)."""
    if x is None:
        return {}, None
    inputs: dict[nn.Module, torch.Tensor] = {}

    def hook(module, args):
        inputs.setdefault(module, args[0].detach())

    handles = [m.register_forward_pre_hook(hook) for m in modules]
    try:
        out = _forward(model, x)
    finally:
        for h in handles:
            h.remove()
    return inputs, out


def _layer_ranks(ranks, name: str, info: LayerInfo, method: str) -> tuple[int, ...]:
    value = ranks.get(name) if isinstance(ranks, dict) else ranks
    if value is None:
        raise KeyError(f"ranks: no entry for layer {name!r}")
    return check_layer_ranks(value, info, method, f"ranks for {name!r}")


def _plan(chosen, infos, methods, ratio, tol, ranks, budget, target, weakening, multiple, fits):
    """The ranks of every selected layer."""
    if ranks is not None and ranks != "evbmf":
        return [_layer_ranks(ranks, n, info, m) for (n, _), info, m in zip(chosen, infos, methods)]
    weights = [dense_weight(m) for _, m in chosen]
    if ranks == "evbmf":
        return [
            rk.evbmf_ranks(w, i, m, weakening, multiple) for w, i, m in zip(weights, infos, methods)
        ]
    if tol is not None:
        return [
            _cp_tol(fits, name, layer, m, info, tol, multiple)
            if m in ("cp", "cp4")
            else rk.tol_ranks(w, info, m, tol, multiple)
            for (name, layer), w, info, m in zip(chosen, weights, infos, methods)
        ]
    if budget == "per_layer":
        return [
            rk.fraction_ranks(info, m, ratio, target, multiple) for info, m in zip(infos, methods)
        ]
    rungs, curves = [], []
    for (name, layer), w, info, m in zip(chosen, weights, infos, methods):
        ladder = rk.ladder(info, m, target, multiple)
        if m in ("cp", "cp4"):
            # fits at a few spread rungs and at the per-layer share, so the global plan is
            # never worse than the per-layer one in the summed error it minimises
            share = rk.fraction_ranks(info, m, ratio, target, multiple)
            ladder = sorted(
                {*_spread(ladder, CP_CURVE_POINTS), share},
                key=lambda r: rk.cost(info, m, r, target),
            )
            errors = np.array([fits.error(name, layer, m, r) ** 2 for r in ladder])
        else:
            errors = rk.error_curve(w, info, m, ladder)
        costs = np.array([rk.cost(info, m, r, target) for r in ladder], dtype=float)
        rungs.append(ladder)
        curves.append((costs, errors))
    total = sum(rk.cost(info, "dense", (), target) for info in infos)
    picks = rk.allocate(curves, ratio * total)
    return [ladder[p] for ladder, p in zip(rungs, picks)]


def _spread(ladder: list, n: int) -> list:
    """``n`` rungs spread geometrically over ``ladder`` (always the first and last)."""
    idx = np.unique(np.round(np.geomspace(1, len(ladder), min(n, len(ladder)))).astype(int) - 1)
    return [ladder[i] for i in idx]


def _cp_tol(
    fits: Factorizations, name: str, layer, method: str, info: LayerInfo, tol: float, multiple: int
):
    """Smallest CP rank on the ladder whose fit meets ``tol`` (bisection on the ladder)."""
    ladder = rk.ladder(info, method, multiple=multiple)
    lo, hi = 0, len(ladder) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if fits.error(name, layer, method, ladder[mid]) <= tol:
            hi = mid
        else:
            lo = mid + 1
    return ladder[lo]


def _row(name, layer, new, method, ranks, err, x) -> LayerReport:
    row = LayerReport(
        name,
        type(layer).__name__,
        method,
        tuple(int(r) for r in ranks),
        count_params(layer),
        count_params(new),
        weight_error=err,
    )
    if x is not None:
        row.macs_before, row.macs_after = count_macs(layer, x), count_macs(new, x)
        row.output_error = _rel_error(_forward(layer, x), _forward(new, x))
    return row


def _rel_error(ref: torch.Tensor, out: torch.Tensor) -> float:
    ref, out = ref.detach().double(), out.detach().double()
    return float(torch.linalg.vector_norm(out - ref) / max(torch.linalg.vector_norm(ref), 1e-300))


def _replace(root: nn.Module, name: str, new: nn.Module) -> nn.Module:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)
    return root


def _ticker(progress, n: int):
    if callable(progress):
        return lambda i, name: progress(i, n, name)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="compress")
        return lambda i, name: (bar.set_postfix_str(name), bar.update(1))
    return lambda i, name: None
