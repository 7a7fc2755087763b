"""``tnkit decompose``: every format, output file, and user errors as exit code 2."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.cli import main


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    fs = [rng.standard_normal((n, 2)) for n in (6, 7, 5)]
    x = np.einsum("ir,jr,kr->ijk", *fs)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path, x


@pytest.mark.parametrize(
    "fmt,size",
    [("cp", ["--rank", "2"]), ("tucker", ["--rank", "2,2,2"]), ("tt", ["--tol", "1e-6"])],
)
def test_decompose_prints_and_saves(data, tmp_path, capsys, fmt, size):
    path, x = data
    out = tmp_path / "r.npz"
    assert main(["decompose", str(path), "--format", fmt, *size, "--quiet", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    err = float(text.split("relative error")[1].split()[0])
    assert err <= 1e-6 and "compression" in text and "time" in text and "parameters" in text
    back = tk.load(out)
    np.testing.assert_allclose(back.to_tensor(), x, atol=1e-5 * np.linalg.norm(x))


def test_decompose_tr(data, capsys):
    path, _ = data
    assert main(["decompose", str(path), "--format", "tr", "--rank", "2", "--quiet"]) == 0
    assert "tr of" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--format", "cp", "--tol", "0.1"], "needs one integer --rank"),
        (["--format", "tt", "--rank", "x"], "--rank must be"),
        (["--format", "tucker", "--rank", "9,2,2"], "exceeds"),
        (["--format", "tt", "--tol", "1.5"], "tol"),
        (["--format", "cp", "--rank", "2", "--method", "hooi"], "--method"),
    ],
)
def test_user_errors_exit_2(data, capsys, args, msg):
    path, _ = data
    assert main(["decompose", str(path), *args, "--quiet"]) == 2
    assert msg in capsys.readouterr().err


def test_missing_file(capsys):
    assert main(["decompose", "nope.npy", "--format", "tt", "--rank", "2"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "fmt,rank", [("cp", "2"), ("tucker", "2,2,2"), ("tt", "2,2"), ("tr", "1,2,2")]
)
def test_nan_missing_completes_every_format(data, tmp_path, capsys, fmt, rank):
    _, x = data
    rng = np.random.default_rng(1)
    holes = np.where(rng.random(x.shape) < 0.4, np.nan, x)
    path, out = tmp_path / "holes.npy", tmp_path / "r.npz"
    np.save(path, holes)
    args = ["decompose", str(path), "--format", fmt, "--rank", rank, "--nan-missing"]
    assert main([*args, "--max-iter", "500", "--quiet", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(on the observed entries)" in text and "observed        6" in text
    back = tk.load(out).to_tensor()
    assert np.linalg.norm(back - x) <= 1e-4 * np.linalg.norm(x)  # the holes are filled too


def test_nan_missing_needs_a_rank(data, tmp_path, capsys):
    path, _ = data
    assert main(["decompose", str(path), "--format", "tt", "--tol", "0.1", "--nan-missing"]) == 2
    assert "--nan-missing needs --rank" in capsys.readouterr().err


@pytest.mark.parametrize("fmt,rank", [("cp", "2"), ("tucker", "2,2,2")])
def test_nonnegative_fits_have_no_negative_entry(tmp_path, capsys, fmt, rank):
    rng = np.random.default_rng(2)
    x = np.einsum("ir,jr,kr->ijk", *[rng.random((n, 2)) for n in (6, 7, 5)])
    path, out = tmp_path / "pos.npy", tmp_path / "r.npz"
    np.save(path, x)
    args = ["decompose", str(path), "--format", fmt, "--rank", rank, "--nonnegative"]
    assert main([*args, "--max-iter", "300", "--quiet", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert float(text.split("smallest entry")[1].split()[0]) >= 0.0
    assert float(text.split("relative error")[1].split()[0]) <= 1e-3
    assert all((a >= 0).all() for a in tk.load(out).arrays)


def test_nonnegative_applies_to_cp_and_tucker_only(data, capsys):
    path, _ = data
    args = ["decompose", str(path), "--format", "tt", "--rank", "2,2", "--nonnegative"]
    assert main(args) == 2
    assert "--nonnegative applies to cp and tucker" in capsys.readouterr().err


def test_a_sparse_file_completes_as_a_tensor_ring(tmp_path, capsys):
    rng = np.random.default_rng(100)
    shape = (8, 8, 8, 8, 8)
    x = tk.TR([rng.standard_normal((2, 8, 2)) for _ in shape]).to_tensor()
    linear = rng.choice(x.size, size=x.size // 10, replace=False)
    idx = np.stack(np.unravel_index(linear, shape), axis=1)
    path, out = tmp_path / "seen.npz", tmp_path / "tr.npz"
    tk.SparseTensor(idx, x[tuple(idx.T)], shape, unlisted="missing").save(path)
    args = ["decompose", str(path), "--format", "tr", "--rank", "2", "--max-iter", "300"]
    assert main([*args, "--quiet", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tr of" in text and "rank (2, 2, 2, 2, 2)" in text and "unlisted = missing" in text
    assert float(text.split("relative error")[1].split()[0]) <= 1e-7
    assert np.linalg.norm(tk.load(out).to_tensor() - x) <= 1e-6 * np.linalg.norm(x)
    assert main([*args, "--nonnegative"]) == 2
    assert "--nonnegative applies to cp and tucker, not tr" in capsys.readouterr().err
    two = main([*args, "--quiet", "--restarts", "2", "--max-iter", "20", "-o", str(out)])
    assert two == 0 and tk.load(out).options["starts"] == 2  # no tol: both starts run
    capsys.readouterr()
    assert main([*args, "--restarts", "2", "--format", "cp", "--rank", "2"]) == 2
    assert "--restarts applies to tt and tr, not cp" in capsys.readouterr().err
    np.save(tmp_path / "dense.npy", x)
    dense = ["decompose", str(tmp_path / "dense.npy"), "--format", "tt", "--rank", "2"]
    assert main([*dense, "--restarts", "2"]) == 2
    assert "--restarts applies to tt and tr of a sparse tensor file" in capsys.readouterr().err


@pytest.fixture
def saved_sum(tmp_path):
    """``a + a`` of a 12-core ring of ranks 3 (ranks 6), saved: 4^12 entries, never formed."""
    rng = np.random.default_rng(3)
    a = tk.TR([rng.standard_normal((3, 4, 3)) for _ in range(12)])
    path = tmp_path / "sum.npz"
    (a + a).save(path)
    return path, a


def test_a_saved_ring_is_refitted_without_its_tensor(saved_sum, tmp_path, capsys):
    path, a = saved_sum
    out = tmp_path / "small.npz"
    assert main(["decompose", str(path), "--format", "tr", "--rank", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(TR, rank (6, 6," in text and "against the saved model" in text
    assert float(text.split("relative error")[1].split()[0]) < 1e-6
    back = tk.load(out)
    assert back.rank == (3,) * 12
    assert float((back - 2.0 * a).norm() / (2.0 * a).norm()) < 1e-6


def test_a_saved_ring_is_tt_rounded(saved_sum, capsys):
    path, a = saved_sum
    assert main(["decompose", str(path), "--format", "tt", "--tol", "1e-8", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "rank (4, 9, 9," in text  # 2a's exact TT: ranks r_closing * r_k = 9
    assert float(text.split("relative error")[1].split()[0]) < 1e-6


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--format", "cp", "--rank", "2"], "--format of a saved model applies to tt and tr"),
        (["--format", "tt", "--rank", "2", "--max-iter", "3"], "--max-iter does not apply"),
        (["--format", "tr", "--rank", "2", "--nan-missing"], "--nan-missing does not apply"),
        (["--format", "tr", "--tol", "0.1", "--restarts", "2"], "restarts"),
        (["--format", "tr", "--rank", "3000"], "too large"),
    ],
)
def test_bad_options_for_a_saved_model_exit_2(saved_sum, capsys, args, msg):
    path, _ = saved_sum
    assert main(["decompose", str(path), *args, "--quiet"]) == 2
    assert msg in capsys.readouterr().err


def test_a_saved_model_of_another_format_is_refused(tmp_path, capsys):
    path = tmp_path / "cp.npz"
    tk.cp(np.random.default_rng(0).standard_normal((4, 5, 6)), 2).save(path)
    assert main(["decompose", str(path), "--format", "tr", "--rank", "2"]) == 2
    assert "holds a CP" in capsys.readouterr().err
