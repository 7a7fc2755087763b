"""``tnkit search``: a short run, the comparison table, saved result, user errors."""

import numpy as np
import pytest

from solvers.search import SearchResult, Structure
from tnkit import backend
from tnkit.cli import main

CHAIN = Structure.from_bonds(4, {(0, 1): 2, (1, 2): 3, (2, 3): 2})


def test_search_command(tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, CHAIN.to_network((4, 4, 4, 4), 0).contract().reshape(16, 16))
    out = tmp_path / "r.npz"
    argv = ["search", str(data), "--reshape", "4,4,4,4", "--target-rse", "1e-6"]
    rc = main([*argv, "--budget", "60", "--quiet", "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "TT-SVD" in text and "Tucker" in text and "TR-SVD" in text
    res = SearchResult.load(out)
    assert res.structure == CHAIN and res.rse <= 1e-6


def test_search_command_user_errors(tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.ones((3, 3, 3)))
    assert main(["search", str(data), "--budget", "0", "--quiet"]) == 2
    assert main(["search", str(data), "--reshape", "5,5", "--quiet"]) == 2
    assert main(["search", str(tmp_path / "missing.npy"), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err


def test_search_command_device_gpu_without_a_gpu(tmp_path, capsys):
    if backend.cuda_available("cupy") or backend.cuda_available("torch"):
        pytest.skip("a GPU is visible: --device gpu is valid here")
    data = tmp_path / "x.npy"
    np.save(data, CHAIN.to_network((4, 4, 4, 4), 0).contract())
    assert main(["search", str(data), "--device", "gpu", "--budget", "5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device='gpu' needs a CUDA GPU" in err[0], err


def test_search_command_internal_nodes(tmp_path, capsys):
    truth = Structure.from_bonds(4, {(0, 4): 2, (1, 4): 3, (2, 4): 3, (3, 4): 2}, internal=1)
    data = tmp_path / "x.npy"
    np.save(data, truth.to_network((6, 6, 6, 6), 0).contract())
    out = tmp_path / "r.npz"
    argv = ["search", str(data), "--target-rse", "1e-6", "--internal-nodes", "--no-compare"]
    assert main([*argv, "--budget", "300", "--quiet", "-o", str(out)]) == 0
    assert "internal=1" in capsys.readouterr().out
    res = SearchResult.load(out)
    assert res.structure == truth and res.n_params == 96 and res.rse <= 1e-6
    assert "h0" in res.network.nodes
    assert main(["search", str(data), "--method", "tnale", "--internal-nodes", "--quiet"]) == 2
    assert "--internal-nodes needs --method greedy" in capsys.readouterr().err
