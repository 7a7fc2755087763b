import numpy as np

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
