"""`tnkit evolve` writes a history and a plot."""

import json

from tnkit.cli import main


def test_evolve_ising(tmp_path):
    out, png = tmp_path / "h.json", tmp_path / "h.png"
    rc = main(
        [
            "evolve",
            "ising",
            "--sites",
            "4",
            "--t-final",
            "0.25",
            "--dt",
            "0.0625",
            "-o",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert rc == 0 and png.stat().st_size > 1000
    hist = json.loads(out.read_text())
    assert len(hist["time"]) == 5 and abs(hist["observables"]["magnetization_z"][0] - 1) < 1e-12


def test_evolve_bad_options(capsys):
    assert main(["evolve", "matrix-schrodinger", "--tol", "2", "--plot", ""]) == 2
    assert "tol" in capsys.readouterr().err
