import numpy as np
import pytest

import tnkit as tk
from tnkit.cli import main


def _saved(tmp_path):
    net = tk.TensorNetwork()
    net.add_node("A", np.ones((2, 3)), ("i", "b"))
    net.add_node("B", np.ones((3, 4)), ("b", "j"))
    path = tmp_path / "net.npz"
    net.save(path)
    return path


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert tk.__version__ in capsys.readouterr().out


def test_info_network_and_tensor(tmp_path, capsys):
    assert main(["info", str(_saved(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "bonds: b=3" in out and "parameters: 18" in out
    np.save(tmp_path / "x.npy", np.arange(8.0).reshape(2, 4))
    assert main(["info", str(tmp_path / "x.npy")]) == 0
    assert "shape (2, 4)" in capsys.readouterr().out


def test_info_devices(capsys):
    assert main(["info", "--devices"]) == 0
    assert capsys.readouterr().out.startswith("cpu:")


def test_draw_writes_png(tmp_path):
    out = tmp_path / "n.png"
    assert main(["draw", str(_saved(tmp_path)), "-o", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tnkit info: error:") and err.count("\n") == 1
    assert main(["info"]) == 2
    assert "give a FILE" in capsys.readouterr().err


def test_inspect_decomposition_shows_its_fit(tmp_path, capsys):
    x = np.random.default_rng(0).random((5, 6, 7))
    path = tmp_path / "tt.npz"
    tk.tt(x, rank=2).save(path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TT from") and "bonds: b1=2, b2=2" in out
    assert "options: " in out and "rank=" in out


def test_inspect_search_result_and_log(tmp_path, capsys):
    from solvers import search

    x = np.random.default_rng(0).random((4, 4, 4))
    log = tmp_path / "s.jsonl"
    res = search.greedy(x, target_rse=0.5, budget=6, checkpoint=str(log))
    res.save(tmp_path / "r.npz")
    assert main(["inspect", str(tmp_path / "r.npz")]) == 0
    out = capsys.readouterr().out
    assert f"search: greedy, {res.n_evaluations} evaluations" in out
    assert f"rse {res.rse:.4g}" in out
    assert main(["inspect", str(log)]) == 0
    out = capsys.readouterr().out
    assert "search checkpoint" in out and "greedy, data shape (4, 4, 4)" in out
    assert "best so far: #" in out
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert main(["inspect", str(tmp_path / "bad.jsonl")]) == 2
    assert "not a tnkit search checkpoint" in capsys.readouterr().err


def test_inspect_bug_checkpoint(tmp_path, capsys):
    from solvers import bug
    from solvers.bug import problems

    path = tmp_path / "run.npz"
    op, y0 = problems.transverse_field_ising(4), problems.all_up(problems.binary_tree(4), 2)
    _, hist = bug.integrate(op, y0, 0.125, dt=0.0625, checkpoint=path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "BUG checkpoint" in out and "tree [[0, 1], [2, 3]]" in out
    assert "steps done: 2, t = 0.125" in out and f"max rank {hist['max_rank'][-1]}" in out


def test_inspect_sparse_tensor_file(tmp_path, capsys):
    from tnkit.sparse import SparseTensor

    idx = np.array([[0, 1, 2], [3, 0, 1], [1, 1, 1]])
    SparseTensor(idx, np.array([1.0, -2.0, 3.0]), (4, 5, 6), "missing").save(tmp_path / "s.npz")
    assert main(["inspect", str(tmp_path / "s.npz")]) == 0
    text = capsys.readouterr().out
    assert "sparse tensor" in text and "listed entries 3 of 120 (2.500%)" in text
    assert "missing" in text and "min -2" in text


def test_inspect_rank_scan_cross_and_compress_checkpoints(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = tk.CP(None, [rng.standard_normal((n, 2)) for n in (8, 9, 10)]).to_tensor()
    tk.cp_rank_scan(x, range(1, 4), restarts=1, checkpoint=tmp_path / "scan.npz")
    assert main(["inspect", str(tmp_path / "scan.npz")]) == 0
    text = capsys.readouterr().out
    assert "CP rank scan checkpoint" in text and "| 2 (suggested) |" in text
    assert "data shape (8, 9, 10)" in text and "restarts=1" in text

    f = lambda i: 1.0 + np.sin(i.sum(axis=1) / 3.0)  # noqa: E731
    t = tk.tt_cross(f, (6,) * 5, tol=1e-8, checkpoint=tmp_path / "cross.npz")
    assert main(["inspect", str(tmp_path / "cross.npz")]) == 0
    text = capsys.readouterr().out
    assert "TT-cross checkpoint" in text and "grid shape (6, 6, 6, 6, 6)" in text
    assert f"entries evaluated: {t.options['n_evaluations']:,} of 7.78e+03" in text

    torch = pytest.importorskip("torch")
    import tnkit.nn as tnn

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
    tnn.compress(model, "svd", ranks=2, checkpoint=tmp_path / "fits.pt")
    assert main(["inspect", str(tmp_path / "fits.pt")]) == 0
    text = capsys.readouterr().out
    assert "compress checkpoint" in text and "2 factorization(s)" in text
    assert "  0: svd ranks 2, weight error" in text and "  2: svd ranks 2" in text
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    assert main(["inspect", str(tmp_path / "weights.pt")]) == 2
    assert "is not a compress checkpoint" in capsys.readouterr().err


def test_inspect_measures_a_saved_network_against_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 8))
    mask = rng.random(x.shape) < 0.3
    model = tk.tt(x, rank=3)
    model.save(tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "holey.npy", np.where(mask, x, np.nan))
    tk.SparseTensor.from_dense(x, mask=mask).save(tmp_path / "seen.npz")
    dense = model.to_tensor()
    whole = np.linalg.norm(x - dense) / np.linalg.norm(x)
    observed = np.linalg.norm((x - dense)[mask]) / np.linalg.norm(x[mask])
    for data, error, where in (
        ("x.npy", whole, "every entry"),
        ("holey.npy", observed, f"{mask.sum()} non-NaN entries"),
        ("seen.npz", observed, f"{mask.sum()} listed entries"),
    ):
        assert main(["inspect", str(tmp_path / "m.npz"), "--data", str(tmp_path / data)]) == 0
        out = capsys.readouterr().out
        assert f"({where}): relative error {error:.6g}" in out
    assert main(["inspect", str(tmp_path / "x.npy"), "--data", str(tmp_path / "x.npy")]) == 2
    assert "--data measures a saved network" in capsys.readouterr().err
