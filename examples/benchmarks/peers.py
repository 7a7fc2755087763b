"""tnkit against quimb 1.15 and tntorch 1.1 on the same work, in one run.

The brief asks tnkit to be faster than TensorLy, quimb and tntorch on the same work;
``decompositions.py`` covers TensorLy. This script times the operations quimb and tntorch
offer on dense data and on tensor trains (matrix product states), at equal error:

1. TT-SVD of an 8⁸ tensor (TT ranks 10 plus 1 % noise) at rank 10: ``tk.tt(x, rank=10)``,
   ``tntorch.Tensor(x, ranks_tt=10)``, ``quimb MatrixProductState.from_dense(x, max_bond=10)``.
2. Tucker by ST-HOSVD, 200³ at rank 20: ``tk.tucker(x, rank=20, method="sthosvd")`` and
   ``tntorch.Tensor(x, ranks_tucker=20)`` (quimb has no Tucker).
3. CP-ALS, 150³ at rank 10 (1 % noise): ``tk.cp(x, 10, tol=0.0105)`` and
   ``tntorch.Tensor(x, ranks_cp=10)`` with its defaults (quimb has no CP).
4. TT rounding: the sum of a random TT (40 sites, mode size 4, ranks 32) and a TT whose cores
   differ from its cores by 1 % noise, rounded back to rank 32: ``(a + b).round(rank=32)``,
   quimb ``(a + b).compress(max_bond=32, cutoff=0)``, tntorch ``(a + b).round_tt(rmax=32)``.
   The error of each result against the exact sum is computed in one way for all (TT inner
   products in float64). tnkit runs on numpy arrays and, in one more row, on torch tensors:
   torch's bundled LAPACK factors these 128-256 x 64 blocks faster than numpy's OpenBLAS.
5. Inner product of two TTs (40 sites, mode size 4, ranks 64): ``a.dot(b)``, quimb
   ``a.H @ b``, ``tntorch.dot(a, b)``.
6. Entries of a TT at 10⁵ random multi-indices (30 sites of mode size 10, ranks 8; 10 sites
   of mode size 10, ranks 30): ``tt.entries(rows)`` against tntorch's ``t[rows]`` (quimb has
   no batched evaluation); tnkit on numpy and, in one more row, on torch.
7. Contraction of a closed 6 x 6 grid of random tensors (bond dimension 4) to a scalar, warm:
   ``net.contract()`` and quimb ``tn.contract(all, optimize="auto-hq")`` (3x the repeats: a
   millisecond each).

Times are medians of ``--repeats`` interleaved runs after one untimed warm-up call each, one
BLAS/torch thread. Errors must agree within 5 % (the "same" column).
Run: ``python examples/benchmarks/peers.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from collections.abc import Callable
from typing import Any

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads its BLAS
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import numpy as np  # noqa: E402
from decompositions import CP_TARGET, cp_input, rel, timed, tt_input, tucker_input  # noqa: E402

import tnkit as tk  # noqa: E402

PEERS = ("tntorch", "quimb")


def _peers() -> tuple[Any, Any, Any]:
    warnings.filterwarnings("ignore")  # tntorch and quimb warn about deprecated numpy/torch use
    import quimb.tensor as qtn
    import tntorch
    import torch

    torch.set_num_threads(1)
    return torch, tntorch, qtn


def warm_timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """:func:`timed` after one untimed call of each function (quimb compiles with numba on
    its first call; tnkit caches contraction plans)."""
    for fn in fns.values():
        fn()
    return timed(fns, repeats)


def _rows(
    case: str,
    res: dict[str, tuple[float, Any]],
    errors: dict[str, float],
    us: str = "tnkit",
    peers: tuple[str, ...] = PEERS,
) -> list[dict]:
    """One row per peer: the peer's median time over ``us``'s, errors side by side."""
    ours = res[us][0]
    rows = []
    for peer in peers:
        if peer not in res:
            continue
        e_ours, e_peer = errors[us], errors[peer]
        rows.append(
            dict(
                case=case,
                peer=peer,
                tnkit_s=ours,
                peer_s=res[peer][0],
                speedup=res[peer][0] / ours,
                err_tnkit=e_ours,
                err_peer=e_peer,
                same=abs(e_ours - e_peer) <= 0.05 * max(abs(e_ours), abs(e_peer), 1e-300),
            )
        )
    return rows


# ---------------------------------------------------------------------- dense data
def bench_tt_svd(n: int, d: int, r: int, repeats: int) -> list[dict]:
    torch, tntorch, qtn = _peers()
    x = tt_input(n, d, r, np.random.default_rng(1))
    xt = torch.from_numpy(x)
    fns: dict[str, Callable[[], Any]] = {
        "tnkit": lambda: tk.tt(x, rank=r),
        "tntorch": lambda: tntorch.Tensor(xt, ranks_tt=r),
        "quimb": lambda: qtn.MatrixProductState.from_dense(x, dims=[n] * d, max_bond=r, cutoff=0),
    }
    res = warm_timed(fns, repeats)
    errors = {
        "tnkit": rel(x, res["tnkit"][1].to_tensor()),
        "tntorch": rel(x, res["tntorch"][1].torch().numpy()),
        "quimb": rel(x, res["quimb"][1].to_dense().reshape(x.shape)),
    }
    return _rows(f"TT-SVD {n}^{d} r{r}", res, errors)


def bench_tucker(n: int, r: int, repeats: int) -> list[dict]:
    torch, tntorch, _ = _peers()
    x = tucker_input(n, r, np.random.default_rng(0))
    xt = torch.from_numpy(x)
    fns = {
        "tnkit": lambda: tk.tucker(x, rank=r, method="sthosvd"),
        "tntorch": lambda: tntorch.Tensor(xt, ranks_tucker=r),
    }
    res = warm_timed(fns, repeats)
    errors = {
        "tnkit": rel(x, res["tnkit"][1].to_tensor()),
        "tntorch": rel(x, res["tntorch"][1].torch().numpy()),
    }
    return _rows(f"Tucker ST-HOSVD {n}^3 r{r}", res, errors)


def bench_cp(n: int, r: int, repeats: int) -> list[dict]:
    torch, tntorch, _ = _peers()
    x = cp_input(n, r, np.random.default_rng(2))
    xt = torch.from_numpy(x)

    def peer() -> Any:
        torch.manual_seed(0)
        return tntorch.Tensor(xt, ranks_cp=r)

    res = warm_timed({"tnkit": lambda: tk.cp(x, r, tol=CP_TARGET), "tntorch": peer}, repeats)
    errors = {
        "tnkit": rel(x, res["tnkit"][1].to_tensor()),
        "tntorch": rel(x, res["tntorch"][1].torch().numpy()),
    }
    return _rows(f"CP-ALS {n}^3 r{r} (tnkit to err<={CP_TARGET})", res, errors)


# ---------------------------------------------------------------------- tensor trains
def random_tt_cores(sites: int, n: int, r: int, seed: int) -> list[np.ndarray]:
    """Cores of a random TT with bond ranks ``r``, scaled so that its norm is O(1)."""
    rng = np.random.default_rng(seed)
    ranks = [1] + [r] * (sites - 1) + [1]
    return [
        rng.standard_normal((ranks[k], n, ranks[k + 1])) / np.sqrt(ranks[k] * n)
        for k in range(sites)
    ]


def quimb_mps(qtn: Any, cores: list[np.ndarray]) -> Any:
    last = len(cores) - 1
    arrays = [c[0] if k == 0 else c[:, :, 0] if k == last else c for k, c in enumerate(cores)]
    return qtn.MatrixProductState(arrays, shape="lpr")


def quimb_cores(mps: Any) -> list[np.ndarray]:
    """The (left, physical, right) cores of a quimb MPS, as a TT's cores."""
    cores = []
    for k in range(mps.L):
        t = mps[k]
        bonds = [mps.bond(k - 1, k)] if k > 0 else []
        right = [mps.bond(k, k + 1)] if k < mps.L - 1 else []
        data = t.transpose(*bonds, mps.site_ind(k), *right).data
        cores.append(data.reshape((1,) * (k == 0) + data.shape + (1,) * (k == mps.L - 1)))
    return cores


def tt_distance(a: tk.TT, b: tk.TT) -> float:
    """``||a - b|| / ||a||`` from TT inner products (float64)."""
    aa, bb, ab = float(a.dot(a)), float(b.dot(b)), float(a.dot(b))
    return float(np.sqrt(max(aa - 2 * ab + bb, 0.0) / aa))


def bench_rounding(sites: int, n: int, r: int, repeats: int) -> list[dict]:
    torch, tntorch, qtn = _peers()
    ca = random_tt_cores(sites, n, r, 0)
    noise = random_tt_cores(sites, n, r, 1)
    cb = [c + 0.01 * e for c, e in zip(ca, noise)]  # a nearby TT: the sum is nearly rank r
    ta, tb = tk.TT(ca), tk.TT(cb)
    qa, qb = quimb_mps(qtn, ca), quimb_mps(qtn, cb)
    na = tntorch.Tensor([torch.from_numpy(c) for c in ca])
    nb = tntorch.Tensor([torch.from_numpy(c) for c in cb])

    def quimb_round() -> Any:
        s = qa + qb
        s.compress(max_bond=r, cutoff=0)
        return s

    def tntorch_round() -> Any:
        s = na + nb
        s.round_tt(eps=1e-14, rmax=r)
        return s

    xa, xb = ta.to("torch"), tb.to("torch")
    fns = {
        "tnkit": lambda: (ta + tb).round(rank=r),
        "tnkit on torch": lambda: (xa + xb).round(rank=r),
        "tntorch": tntorch_round,
        "quimb": quimb_round,
    }
    res = warm_timed(fns, repeats)
    exact = ta + tb
    results = {
        "tnkit": res["tnkit"][1],
        "tnkit on torch": res["tnkit on torch"][1].to("numpy"),
        "tntorch": tk.TT([c.numpy() for c in res["tntorch"][1].cores]),
        "quimb": tk.TT(quimb_cores(res["quimb"][1])),
    }
    errors = {k: tt_distance(exact, v) for k, v in results.items()}
    case = f"TT rounding {sites} sites n{n}: 2x r{r} -> r{r}"
    same_lapack = _rows(f"{case}, both on torch", res, errors, "tnkit on torch", ("tntorch",))
    return _rows(case, res, errors) + same_lapack


def bench_dot(sites: int, n: int, r: int, repeats: int) -> list[dict]:
    torch, tntorch, qtn = _peers()
    ca, cb = random_tt_cores(sites, n, r, 2), random_tt_cores(sites, n, r, 3)
    ta, tb = tk.TT(ca), tk.TT(cb)
    qa, qb = quimb_mps(qtn, ca), quimb_mps(qtn, cb)
    na = tntorch.Tensor([torch.from_numpy(c) for c in ca])
    nb = tntorch.Tensor([torch.from_numpy(c) for c in cb])
    fns = {
        "tnkit": lambda: float(ta.dot(tb)),
        "tntorch": lambda: float(tntorch.dot(na, nb)),
        "quimb": lambda: float(qa.H @ qb),
    }
    res = warm_timed(fns, repeats)
    ref = res["tnkit"][1]
    # the "error" of an inner product: its distance from tnkit's value, relative
    errors = {k: abs(v[1] - ref) / abs(ref) for k, v in res.items()}
    errors["tnkit"] = 0.0
    rows = _rows(f"TT inner product {sites} sites n{n} r{r}", res, errors)
    for row in rows:
        row["same"] = row["err_peer"] <= 1e-10
    return rows


def bench_entries(sites: int, n: int, r: int, m: int, repeats: int) -> list[dict]:
    """Values of a random TT at ``m`` random multi-indices; the "error" is the largest
    distance from the dense tensor's values (from tnkit's values when the TT is too large to
    form), relative to their largest magnitude."""
    torch, tntorch, _ = _peers()
    cores = random_tt_cores(sites, n, r, 5)
    tt, on_torch = tk.TT(cores), tk.TT([torch.from_numpy(c) for c in cores])
    peer = tntorch.Tensor([torch.from_numpy(c) for c in cores])
    rows = np.random.default_rng(6).integers(0, n, size=(m, sites))
    rows_t = torch.from_numpy(rows)
    fns = {
        "tnkit": lambda: tt.entries(rows),
        "tnkit on torch": lambda: on_torch.entries(rows_t).numpy(),
        "tntorch": lambda: peer[rows_t].numpy(),
    }
    res = warm_timed(fns, repeats)
    ref = tt.to_tensor()[tuple(rows.T)] if n**sites <= 10**7 else res["tnkit"][1]
    scale = float(np.abs(ref).max())
    errors = {k: float(np.abs(v[1] - ref).max()) / scale for k, v in res.items()}
    case = f"TT entries {sites} sites n{n} r{r}, {m:,} entries"
    out = _rows(case, res, errors, peers=("tntorch",))
    out += _rows(f"{case}, both on torch", res, errors, "tnkit on torch", ("tntorch",))
    for row in out:
        row["same"] = max(row["err_tnkit"], row["err_peer"]) <= 1e-10
    return out


def grid_network(qtn: Any, side: int, bond: int) -> tuple[tk.TensorNetwork, Any]:
    """The same closed ``side`` x ``side`` grid network (random tensors, bond dimension
    ``bond``) as a tnkit and as a quimb network."""
    rng = np.random.default_rng(4)
    net, tensors = tk.TensorNetwork(), []
    for i in range(side):
        for j in range(side):
            near = [(i + di, j + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
            legs = [
                "b{}_{}_{}_{}".format(*min((i, j), p), *max((i, j), p))
                for p in near
                if 0 <= p[0] < side and 0 <= p[1] < side
            ]
            a = rng.standard_normal([bond] * len(legs)) / bond
            net.add_node(f"t{i}_{j}", a, legs)
            tensors.append(qtn.Tensor(a, inds=legs))
    return net, qtn.TensorNetwork(tensors)


def bench_grid(side: int, bond: int, repeats: int) -> list[dict]:
    """Contraction of a closed grid to a scalar, warm (plans cached after the warm-up call):
    ``net.contract()`` against quimb ``tn.contract(all, optimize="auto-hq")``."""
    _, _, qtn = _peers()
    net, qnet = grid_network(qtn, side, bond)
    fns = {
        "tnkit": lambda: float(net.contract()),
        "quimb": lambda: float(qnet.contract(all, optimize="auto-hq")),
    }
    res = warm_timed(fns, repeats)
    ref = res["tnkit"][1]
    errors = {"tnkit": 0.0, "quimb": abs(res["quimb"][1] - ref) / abs(ref)}
    rows = _rows(f"grid {side}x{side} bond {bond} contraction", res, errors, peers=("quimb",))
    for row in rows:
        row["same"] = row["err_peer"] <= 1e-10
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch, _, _ = _peers()
    from importlib.metadata import version

    q = args.quick
    repeats = 1 if q else args.repeats
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"torch {torch.__version__}, tntorch {version('tntorch')}, quimb {version('quimb')}; "
        "one thread"
    )
    rows = bench_tt_svd(*((6, 6, 6) if q else (8, 8, 10)), repeats)
    rows += bench_tucker(*((60, 6) if q else (200, 20)), repeats)
    rows += bench_cp(*((50, 5) if q else (150, 10)), repeats)
    rows += bench_rounding(*((10, 4, 8) if q else (40, 4, 32)), repeats)
    rows += bench_dot(*((10, 4, 8) if q else (40, 4, 64)), repeats)
    rows += bench_entries(*((8, 10, 6, 10**4) if q else (30, 10, 8, 10**5)), repeats)
    rows += bench_entries(*((6, 10, 10, 10**4) if q else (10, 10, 30, 10**5)), repeats)
    rows += bench_grid(*((4, 3) if q else (6, 4)), repeats if q else 3 * repeats)
    print("\n| case | peer | tnkit s | peer s | speed-up | error tnkit | error peer | same |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['peer']} | {r['tnkit_s']:.4f} | {r['peer_s']:.4f} | "
            f"{r['speedup']:.1f}x | {r['err_tnkit']:.3g} | {r['err_peer']:.3g} | "
            f"{'yes' if r['same'] else 'NO'} |"
        )


if __name__ == "__main__":
    main()
