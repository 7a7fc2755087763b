"""Compress a small CNN trained on scikit-learn's digits: tnkit vs TensorLy-Torch 0.5.

For each seed a CNN (conv 1→32, conv 32→64, max-pool, conv 64→64, fc 1024→128, fc 128→10) is
trained on the bundled 8×8 digits (Adam, 70/30 stratified split). Its two 32/64-channel 3×3
convolutions are compressed to 1/4, 1/8, 1/16 and 1/32 of their parameters by

* tnkit: truncated SVD per layer (the plain baseline), SVD with the global budget, Tucker-2
  (per layer and global), CP-3 and CP-4 with the stable norm correction, TT; and Tucker-2
  (global), CP-3 and CP-4 with ``rank_multiple=16`` (ranks of at least 16 are multiples of 16,
  the output-channel block of oneDNN's AVX-512 convolutions);
* TensorLy-Torch: ``FactorizedConv.from_conv(..., implementation="factorized")`` with Tucker
  (``fixed_rank_modes="spatial"``, i.e. Tucker-2) and CP, ``rank=ratio``;

then fine-tuned for 3 epochs (Adam 1e-3). TensorLy-Torch rounds its ranks up and keeps more
parameters than asked, so tnkit also fits the same factorizations at exactly TensorLy-Torch's
ranks (equal parameter counts). Reported (mean ± std over seeds): test accuracy before/after
fine-tuning, parameters and MACs of the two layers (FlopCounterMode), and CPU latency of the
convolution stack at batch 256 relative to the dense stack measured in the same run — eager
(NCHW and channels_last) and compiled by ``torch.compile`` (inductor, frozen weights; both
stacks compiled). Last, DLRT low-rank training (tnkit.nn.DLRT) at several τ: final ranks,
weights kept, accuracy.

Run: ``python examples/benchmarks/compression.py [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import operator
import statistics
import sys
import time
import types
import warnings
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import tnkit.nn as tnn

warnings.filterwarnings("ignore")
LAYERS = ["features.conv2", "features.conv3"]
CP_SWEEPS = 20  # CP-ALS sweeps (and correction sweeps) per layer; fine-tuning does the rest


def data(batch: int = 64):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    return (xtr, ytr), (xte, yte)


def batches(x, y, size, seed=None):
    order = (
        torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        if seed is not None
        else torch.arange(len(x))
    )
    return [(x[order[i : i + size]], y[order[i : i + size]]) for i in range(0, len(x), size)]


def cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 32, 3, padding=1),
            act1=nn.ReLU(),
            conv2=nn.Conv2d(32, 64, 3, padding=1),
            act2=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            conv3=nn.Conv2d(64, 64, 3, padding=1),
            act3=nn.ReLU(),
        )
    )
    head = nn.Sequential(nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(OrderedDict(features=features, head=head))


def train(model, train_set, epochs, seed, lr=1e-3):
    torch.manual_seed(seed)
    loader = [b for e in range(epochs) for b in batches(*train_set, 64, seed * 1000 + e)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model.eval()


def tltorch_compress(model, factorization, ratio):
    import tltorch

    small = copy.deepcopy(model)
    extra = {"fixed_rank_modes": "spatial"} if factorization == "tucker" else {}
    for name in LAYERS:
        parent, _, child = name.rpartition(".")
        conv = small.get_submodule(name)
        new = tltorch.FactorizedConv.from_conv(
            conv, rank=ratio, factorization=factorization, implementation="factorized", **extra
        )
        setattr(small.get_submodule(parent), child, new)
    return small


def tnkit_compress(model, method, ratio, budget, calib, ranks=None, multiple=1):
    """tnkit's compression (model, report) at ``ratio`` (``budget`` per layer or global,
    ``rank_multiple`` ``multiple``), or at ``ranks``."""
    extra = {"max_iter": CP_SWEEPS} if method in ("cp", "cp4") else {}
    size = (
        {"ratio": ratio, "budget": budget, "rank_multiple": multiple}
        if ranks is None
        else {"ranks": ranks}
    )
    return tnn.compress(model, method, layers=LAYERS, calibration=calib, **size, **extra)


def layer_cost(model, x):
    params = sum(tnn.count_params(model.get_submodule(n)) for n in LAYERS)
    return params, tnn.count_macs(model, x[:8])


def _medians(models, x, repeats):
    """Median time of each model on ``x``, calls interleaved so load changes hit them all."""
    times = [[] for _ in models]
    with torch.no_grad():
        for m in models:
            m(x)
        for _ in range(repeats):
            for m, ts in zip(models, times):
                t = time.perf_counter()
                m(x)
                ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def _median_ratio(a, b, x, repeats):
    """(median time of a, median time of b), calls interleaved."""
    return tuple(_medians([a, b], x, repeats))


def _own_code(module):
    """A function calling ``module`` whose code object is its own: dynamo caches compiled code
    per code object, so stacks compiled side by side neither share nor overflow one cache."""

    def call(x):
        return module(x)

    return types.FunctionType(
        call.__code__.replace(), call.__globals__, "call", None, call.__closure__
    )


def _compiled(module, x):
    """``torch.compile`` (inductor, with weight freezing — PyTorch's recipe for CPU inference)
    of ``module``, compiled and warmed up on ``x``. It compiles a call of ``module`` with a
    code object of its own (:func:`_own_code`): every model here shares
    ``nn.Sequential.forward``, and past its recompile limit dynamo would silently fall back to
    eager."""
    import torch._inductor.config

    torch._inductor.config.freezing = True
    compiled = torch.compile(_own_code(module), dynamic=False)
    with torch.no_grad():
        compiled(x)
    return compiled


def speedups(dense, small, x, repeats):
    """Latency ratios dense/compressed at batch ``len(x)``: the convolution stack (conv2 …
    act3, fed conv1's output) eager in NCHW and in channels_last memory format, the same stack
    compiled by ``torch.compile`` (channels_last), and the whole model eager in channels_last.
    Also returns the dense stack's eager channels_last time."""
    out = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        a, b = (copy.deepcopy(m).eval().to(memory_format=fmt) for m in (dense, small))
        with torch.no_grad():
            h = a.features[:2](x).contiguous(memory_format=fmt)
        ta, tb = _median_ratio(a.features[2:], b.features[2:], h, repeats)
        out.append(ta / tb)
    ca, cb = _compiled(a.features[2:], h), _compiled(b.features[2:], h)
    out.append(operator.truediv(*_median_ratio(ca, cb, h, repeats)))
    torch._dynamo.reset()
    ma, mb = _median_ratio(a, b, x.contiguous(memory_format=torch.channels_last), repeats)
    return (*out, ma / mb, ta)


METHODS = {  # label -> (library, method, budget, rank_multiple)
    "tnkit svd (plain truncated SVD)": ("tnkit", "svd", "per_layer", 1),
    "tnkit svd, global budget": ("tnkit", "svd", "global", 1),
    "tnkit tucker2": ("tnkit", "tucker", "per_layer", 1),
    "tnkit tucker2, global budget": ("tnkit", "tucker", "global", 1),
    "tnkit cp3 (stable)": ("tnkit", "cp", "per_layer", 1),
    "tnkit cp4 (stable)": ("tnkit", "cp4", "per_layer", 1),
    "tnkit tt": ("tnkit", "tt", "per_layer", 1),
    # ranks of at least 16 are multiples of 16: oneDNN's AVX-512 convolutions compute output
    # channels in blocks of 16
    "tnkit tucker2, global budget, rank_multiple=16": ("tnkit", "tucker", "global", 16),
    "tnkit cp3 (stable), rank_multiple=16": ("tnkit", "cp", "per_layer", 16),
    "tnkit cp4 (stable), rank_multiple=16": ("tnkit", "cp4", "per_layer", 16),
    "tltorch tucker (spatial fixed)": ("tltorch", "tucker", None, None),
    "tltorch cp": ("tltorch", "cp", None, None),
    # TensorLy-Torch rounds its ranks up and keeps more than the budget: the same
    # factorizations at exactly its ranks (hence its parameter count), fitted by tnkit.
    "tnkit tucker2 at tltorch's ranks": (
        "matched",
        "tucker",
        "tltorch tucker (spatial fixed)",
        None,
    ),
    "tnkit cp4 at tltorch's ranks": ("matched", "cp4", "tltorch cp", None),
}


def run_latency(args, train_set):
    """Latency of the conv2 … act3 stacks of every tnkit row at each budget, compressed from
    one trained model (seed 0) and measured side by side: all stacks and the dense one are
    called in turn in one loop, eager in NCHW and in channels_last and compiled (channels_last,
    each with its own dynamo cache); dense / compressed medians of ``args.repeats`` runs."""
    model = train(cnn(0), train_set, args.epochs, 0)
    x256 = train_set[0][:256]
    stacks, ranks = {"dense": model.features[2:]}, {}
    for ratio in args.ratios:
        for label, (lib, method, budget, multiple) in METHODS.items():
            if lib != "tnkit" or (args.only and not any(k in label for k in args.only)):
                continue
            small, report = tnkit_compress(model, method, ratio, budget, x256, multiple=multiple)
            stacks[(ratio, label)] = small.features[2:]
            ranks[(ratio, label)] = ", ".join(str(r.ranks) for r in report.layers)
    with torch.no_grad():
        h = model.features[:2](x256)
    columns = []
    for fmt, compile_ in (
        (torch.contiguous_format, False),
        (torch.channels_last, False),
        (torch.channels_last, True),
    ):
        hx = h.contiguous(memory_format=fmt)
        runs = [copy.deepcopy(m).eval().to(memory_format=fmt) for m in stacks.values()]
        if compile_:
            runs = [_compiled(m, hx) for m in runs]
        times = _medians(runs, hx, args.repeats)
        columns.append([times[0] / t for t in times[1:]])
        torch._dynamo.reset()
    print(
        f"\nconv2 … act3 stacks side by side (batch 256, {args.repeats} runs each); dense "
        f"compiled {times[0] * 1e3:.1f} ms\n"
        "| budget | method | ranks (conv2, conv3) | speed-up NCHW | channels_last | compiled |"
    )
    print("|---|---|---|---|---|---|")
    for (ratio, label), *speedups in zip(ranks, *columns):
        print(
            f"| 1/{round(1 / ratio)} | {label} | {ranks[(ratio, label)]} | "
            + " | ".join(f"{r:.2f}×" for r in speedups)
            + " |"
        )


def tltorch_ranks(small):
    """The ranks TensorLy-Torch chose for each compressed layer, in tnkit's convention
    (Tucker-2: (out, in); CP: the rank)."""
    ranks = {}
    for name in LAYERS:
        rank = small.get_submodule(name).rank
        ranks[name] = tuple(rank[:2]) if isinstance(rank, (tuple, list)) else int(rank)
    return ranks


def run_compression(args, train_set, test_set):
    """Train, compress with every method and budget, fine-tune, measure."""
    rows = defaultdict(list)  # (method, ratio) -> list of per-seed dicts
    dense = []
    xte, yte = test_set
    test = batches(xte, yte, 512)
    x256 = train_set[0][:256]
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        model = train(cnn(seed), train_set, args.epochs, seed)
        acc = tnn.evaluate(model, test)
        p0, m0 = layer_cost(model, x256)
        train_s = time.perf_counter() - t0
        reference = copy.deepcopy(model)  # the dense model trained 3 epochs more, like the others
        tnn.fine_tune(reference, batches(*train_set, 64, seed), epochs=3, lr=1e-3)
        acc_ft = tnn.evaluate(reference, test)
        dense.append({"acc": acc, "acc_ft": acc_ft, "params": p0, "macs": m0, "train_s": train_s})
        print(
            f"seed {seed}: dense acc {acc:.4f}, after 3 more epochs {acc_ft:.4f} "
            f"(trained in {train_s:.1f} s)"
        )
        for ratio in args.ratios:
            peer_ranks = {}  # label of a tltorch row -> its ranks per layer, for matched rows
            for label, (lib, method, budget, multiple) in METHODS.items():
                if args.only and not any(k in label for k in args.only):
                    continue
                if lib == "matched" and budget not in peer_ranks:
                    continue  # its TensorLy-Torch row did not run
                t = time.perf_counter()
                if lib == "tnkit":
                    small, _ = tnkit_compress(model, method, ratio, budget, x256, multiple=multiple)
                elif lib == "tltorch":
                    small = tltorch_compress(model, method, ratio)
                    peer_ranks[label] = tltorch_ranks(small)
                else:
                    small, _ = tnkit_compress(model, method, None, None, x256, peer_ranks[budget])
                t_fit = time.perf_counter() - t
                before = tnn.evaluate(small, test)
                p, m = layer_cost(small, x256)
                sp_nchw, sp_cl, sp_comp, sp_model, lat_d = speedups(
                    model, small, x256, args.repeats
                )
                loader = batches(*train_set, 64, seed)
                tnn.fine_tune(small, loader, epochs=3, lr=1e-3)
                after = tnn.evaluate(small, test)
                rows[(label, ratio)].append(
                    {
                        "before": before,
                        "after": after,
                        "params": p / p0,
                        "macs": m / m0,
                        "speedup": sp_nchw,
                        "speedup_cl": sp_cl,
                        "speedup_compiled": sp_comp,
                        "speedup_model": sp_model,
                        "fit_s": t_fit,
                        "dense": acc_ft,
                        "lat_dense_ms": lat_d * 1e3,
                    }
                )
                print(
                    f"  1/{round(1 / ratio)} {label:32s} acc {before:.3f} -> {after:.3f}  "
                    f"params {p / p0:.3f}  MACs {m / m0:.3f}  "
                    f"speed-up {sp_nchw:.2f}x / {sp_cl:.2f}x / compiled {sp_comp:.2f}x / "
                    f"model {sp_model:.2f}x  "
                    f"fit {t_fit:.1f}s",
                    flush=True,
                )
    return dense, rows


def ms(values, scale=100.0, digits=1):
    v = np.asarray(values) * scale
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def print_table(dense, rows):
    accs = [d["acc"] for d in dense]
    accs_ft = [d["acc_ft"] for d in dense]
    lat = [r["lat_dense_ms"] for rs in rows.values() for r in rs]
    print(
        f"\nDense: accuracy {ms(accs)} %, {ms(accs_ft)} % after 3 more epochs; "
        f"conv2+conv3 params {dense[0]['params']:,}, "
        f"model MACs/sample {dense[0]['macs']:,}, conv2..act3 stack (channels_last, batch 256) "
        f"{statistics.median(lat):.1f} ms"
    )
    print(
        "\n| budget | method | acc before FT % | acc after 3 ep FT % | Δ vs dense + 3 ep (pp) "
        "| params kept | MACs (model) | conv-stack speed-up NCHW | channels_last "
        "| compiled, channels_last | whole model |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (label, ratio), rs in rows.items():
        gap = [r["after"] - r["dense"] for r in rs]
        print(
            f"| 1/{round(1 / ratio)} | {label} | {ms([r['before'] for r in rs])} | "
            f"{ms([r['after'] for r in rs])} | {ms(gap)} | {ms([r['params'] for r in rs], 1, 3)} | "
            f"{ms([r['macs'] for r in rs], 1, 3)} | {ms([r['speedup'] for r in rs], 1, 2)}× | "
            f"{ms([r['speedup_cl'] for r in rs], 1, 2)}× | "
            f"{ms([r['speedup_compiled'] for r in rs], 1, 2)}× | "
            f"{ms([r['speedup_model'] for r in rs], 1, 2)}× |"
        )


def he_init(model):
    """Kaiming-normal weights, zero biases: plain SGD (the DLRT integrator) needs them."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def _set_lr(opt, lr):
    if isinstance(opt, torch.optim.Optimizer):
        for group in opt.param_groups:
            group["lr"] = lr
    else:
        opt.lr = lr


def sgd_epochs(model, opt, train_set, epochs, seed, lr=None, schedule="const", fixed_from=None):
    """``epochs`` of batch-32 training; ``schedule="cosine"`` anneals ``lr`` to 0 per step;
    from epoch ``fixed_from`` on a DLRT optimiser keeps its ranks (τ = None)."""
    loss_fn = nn.CrossEntropyLoss()
    steps = epochs * len(batches(*train_set, 32))
    step = 0
    for epoch in range(epochs):
        model.train()
        if fixed_from is not None and epoch >= fixed_from:
            opt.tau = None
        for x, y in batches(*train_set, 32, seed * 1000 + epoch):
            if lr is not None and schedule == "cosine":
                _set_lr(opt, 0.5 * lr * (1 + np.cos(np.pi * step / steps)))
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            step += 1
    return model.eval()


def dlrt_weights(model, names):
    """Weights of the eval-mode factors of the low-rank layers (biases excluded)."""
    return sum(model.get_submodule(n).n_params for n in names)


def _rank_text(values):
    return "/".join(f"{v:.1f}" for v in np.atleast_1d(values))


def run_dlrt(args, train_set, test_set):
    """DLRT from scratch at several τ against the same network trained densely with the same
    optimiser settings (SGD, momentum, schedule, epochs)."""
    mu, sd = train_set[0].mean(), train_set[0].std()
    train_set = ((train_set[0] - mu) / sd, train_set[1])
    test = batches((test_set[0] - mu) / sd, test_set[1], 512)
    names = [*LAYERS, "head.1", "head.3"]
    train = dict(lr=args.dlrt_lr, schedule=args.dlrt_schedule)
    dense_accs = []
    for seed in range(args.dlrt_seeds):
        model = he_init(cnn(seed))
        opt = torch.optim.SGD(model.parameters(), lr=args.dlrt_lr, momentum=args.dlrt_momentum)
        dense_accs.append(
            tnn.evaluate(sgd_epochs(model, opt, train_set, args.dlrt_epochs, seed, **train), test)
        )
    ft = args.dlrt_finetune
    print(
        f"\nDLRT low-rank training: conv2, conv3, fc1, fc2 low-rank from the start "
        f"(He init, initial rank {args.dlrt_rank0} of full, cap {args.dlrt_rank_max} of full, "
        f"SGD lr {args.dlrt_lr}, momentum {args.dlrt_momentum}, "
        f"{args.dlrt_schedule} schedule, {args.dlrt_epochs} epochs, the last {ft} at fixed rank). "
        f"Dense, same optimiser: {ms(dense_accs)} %"
    )
    print(
        "| convs | τ | final ranks (conv2, conv3, fc1, fc2) | weights kept | accuracy % | "
        "Δ vs dense (pp) |"
    )
    print("|---|---|---|---|---|---|")
    results = []
    for conv_format in args.conv_formats:
        for tau in args.taus:
            accs, kept, ranks_all = [], [], []
            for seed in range(args.dlrt_seeds):
                model = he_init(cnn(seed))
                dense_w = sum(model.get_submodule(n).weight.numel() for n in names)
                low = tnn.to_low_rank(
                    model, rank=args.dlrt_rank0, layers=names, conv_format=conv_format
                )
                opt = tnn.DLRT(
                    low,
                    lr=args.dlrt_lr,
                    tau=tau,
                    momentum=args.dlrt_momentum,
                    rank_max=args.dlrt_rank_max,
                )
                sgd_epochs(
                    low,
                    opt,
                    train_set,
                    args.dlrt_epochs,
                    seed,
                    **train,
                    fixed_from=args.dlrt_epochs - ft if ft else None,
                )
                ranks = tnn.low_rank_ranks(low)
                accs.append(tnn.evaluate(low, test))
                kept.append(dlrt_weights(low, names) / dense_w)
                ranks_all.append([ranks[n] for n in names])
            r = [np.mean([rs[i] for rs in ranks_all], axis=0) for i in range(len(names))]
            gap = [a - d for a, d in zip(accs, dense_accs)]
            results.append((conv_format, tau, r, kept, accs, gap))
            print(
                f"| {conv_format} | {tau} | {', '.join(_rank_text(v) for v in r)} | "
                f"{ms(kept, 100, 1)} % | {ms(accs)} | {ms(gap)} |",
                flush=True,
            )
    return dense_accs, results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one seed, 1/8 and 1/32, short training")
    p.add_argument("--only", nargs="*", help="substrings of the method labels to run")
    p.add_argument("--part", choices=("all", "compression", "latency", "dlrt"), default="all")
    p.add_argument("--seeds", type=int, help="override the number of seeds")
    p.add_argument("--ratios", help="override the budgets, e.g. 8,16,32 for 1/8, 1/16, 1/32")
    p.add_argument("--taus", help="override the DLRT tolerances, e.g. 0.2,0.3,0.4")
    p.add_argument("--dlrt-epochs", type=int, help="override the DLRT training epochs")
    p.add_argument("--dlrt-lr", type=float, default=0.01, help="DLRT and dense SGD step size")
    p.add_argument("--dlrt-momentum", type=float, default=0.9, help="heavy-ball momentum")
    p.add_argument("--dlrt-schedule", choices=("const", "cosine"), default="cosine")
    p.add_argument(
        "--dlrt-finetune", type=int, help="last epochs at fixed rank (default a quarter)"
    )
    p.add_argument("--dlrt-rank-max", type=float, default=0.5, help="rank cap, fraction of full")
    p.add_argument("--dlrt-rank0", type=float, default=0.5, help="initial rank, fraction of full")
    p.add_argument(
        "--conv-format", default="both", help="DLRT conv formats: tucker, matrix or both"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--repeats", type=int, help="timed runs per latency median (default 9)")
    args = p.parse_args(argv)
    args.epochs = 8 if args.quick else 15
    denominators = args.ratios or ("8,32" if args.quick else "4,8,16,32")
    args.ratios = [1 / int(d) for d in denominators.split(",")]
    args.repeats = args.repeats or (5 if args.quick else 9)
    taus = args.taus or ("0.3" if args.quick else "0.25,0.3,0.35")
    args.taus = [float(t) for t in taus.split(",")]
    args.dlrt_seeds = args.seeds = args.seeds or (1 if args.quick else 3)
    args.dlrt_epochs = args.dlrt_epochs or (4 if args.quick else 30)
    if args.dlrt_finetune is None:
        args.dlrt_finetune = round(args.dlrt_epochs / 4)
    both = ("tucker", "matrix")
    args.conv_formats = both if args.conv_format == "both" else (args.conv_format,)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    train_set, test_set = data()
    if args.part in ("all", "compression"):
        dense, rows = run_compression(args, train_set, test_set)
        print_table(dense, rows)
    if args.part == "latency":
        run_latency(args, train_set)
    if args.part in ("all", "dlrt"):
        run_dlrt(args, train_set, test_set)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
