"""Every sub-command answers bad files and options with one line on stderr and exit code 2."""

import json

import numpy as np
import pytest

import tnkit as tk
from tnkit.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "good.npy", rng.standard_normal((4, 5, 6)))
    obj = np.empty((2, 2), dtype=object)
    obj[...] = 1.0
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    np.save(tmp_path / "nan.npy", np.full((3, 3, 3), np.nan))
    np.save(tmp_path / "one.npy", np.ones(5))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    bad = {"format": "tnkit.network", "version": 1, "class": "TensorNetwork"}
    np.savez(tmp_path / "nonodes.npz", structure=np.array(json.dumps(bad)))
    np.savez(tmp_path / "list.npz", structure=np.array("[1, 2]"))
    tk.tt(rng.standard_normal((4, 5, 6)), 2).save(tmp_path / "net.npz")
    return tmp_path


CASES = [
    ["decompose", "missing.npy", "--format", "cp", "--rank", "2"],
    ["decompose", "obj.npy", "--format", "cp", "--rank", "2"],
    ["decompose", "str.npy", "--format", "cp", "--rank", "2"],
    ["decompose", "garbage.npy", "--format", "cp", "--rank", "2"],
    ["decompose", "empty.npz", "--format", "cp", "--rank", "2"],
    ["decompose", ".", "--format", "cp", "--rank", "2"],
    ["decompose", "nan.npy", "--format", "cp", "--rank", "2"],
    ["decompose", "one.npy", "--format", "tt", "--rank", "2"],
    ["decompose", "good.npy", "--format", "cp", "--rank", "a"],
    ["decompose", "good.npy", "--format", "cp", "--rank", "0"],
    ["decompose", "good.npy", "--format", "tt", "--tol", "nan"],
    ["decompose", "good.npy", "--format", "cp", "--rank", "2", "--seed", "-1"],
    ["decompose", "good.npy", "--format", "cp", "--rank", "2", "-o", "no/such/dir/x.npz"],
    ["decompose", "good.npy", "--format", "bogus", "--rank", "2"],
    ["decompose", "good.npy", "--rank", "2"],
    ["info", "missing.npz"],
    ["info", "obj.npy"],
    ["info", "str.npy"],
    ["info", "empty.npz"],
    ["info", "nonodes.npz"],
    ["info", "list.npz"],
    ["info", "."],
    ["draw", "missing.npz"],
    ["draw", "good.npy"],
    ["draw", "nonodes.npz"],
    ["draw", "net.npz", "-o", "no/such/dir/x.png"],
    ["search", "obj.npy"],
    ["search", "one.npy"],
    ["search", "nan.npy"],
    ["search", "good.npy", "--budget", "0"],
    ["search", "good.npy", "--reshape", "a,b"],
    ["search", "good.npy", "--seed", "-1"],
    ["search", "good.npy", "--checkpoint", "no/such/dir/c.jsonl"],
    ["search", "good.npy", "--method", "bogus"],
    ["compress", "missing.pt", "--ratio", "0.5"],
    ["compress", "good.npy", "--ratio", "0.5"],
    ["compress", "good.npy"],
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(a) for a in CASES])
def test_one_line_and_exit_code_2(files, monkeypatch, capsys, argv):
    monkeypatch.chdir(files)
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2
    assert len(err) == 1, err
    assert err[0].startswith("tnkit")
