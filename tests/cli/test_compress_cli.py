"""`tnkit compress`: export archives, state dict + factory, never unpickling."""

import json
import textwrap

import pytest

torch = pytest.importorskip("torch")

from tnkit.cli import main  # noqa: E402

FACTORY = textwrap.dedent(
    """
    from torch import nn

    def build():
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)
        )
    """
)


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "tiny_arch.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import tiny_arch

    return tiny_arch.build


def test_state_dict_with_factory(tmp_path, factory, capsys):
    path = tmp_path / "w.pt"
    torch.save(factory().state_dict(), path)
    out = tmp_path / "small.pt2"
    rc = main(
        [
            "compress",
            str(path),
            "--factory",
            "tiny_arch:build",
            "--method",
            "tucker",
            "--ratio",
            "0.5",
            "--input-shape",
            "2,1,6,6",
            "-o",
            str(out),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "tucker" in text and "total" in text
    program = torch.export.load(str(out))
    assert program.module()(torch.randn(2, 1, 6, 6)).shape == (2, 10)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["params_after"] <= 0.5 * report["params_before"]


def test_export_archive_roundtrip(tmp_path, factory, capsys):
    model = factory().eval()
    x = torch.randn(2, 1, 6, 6)
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    out = tmp_path / "small.ts"
    assert main(["compress", str(path), "--method", "svd", "--tol", "0.999", "-o", str(out)]) == 0
    assert "Conv2d" in capsys.readouterr().out
    assert torch.jit.load(str(out))(x).shape == (2, 10)


def test_pickled_module_is_refused(tmp_path, factory, capsys):
    path = tmp_path / "whole.pt"
    torch.save(factory(), path)  # a pickled nn.Module: loading it would run pickle
    rc = main(["compress", str(path), "--factory", "tiny_arch:build", "--ratio", "0.5"])
    assert rc == 2
    assert "unpickling" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        ([], "--factory"),
        (["--factory", "nocolon"], "package.module:function"),
    ],
)
def test_user_errors(tmp_path, factory, capsys, extra, message):
    path = tmp_path / "w.pt"
    torch.save(factory().state_dict(), path)
    assert main(["compress", str(path), "--ratio", "0.5", *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_and_non_zip_files(tmp_path, capsys):
    assert main(["compress", str(tmp_path / "none.pt"), "--ratio", "0.5"]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    assert main(["compress", str(bad), "--ratio", "0.5"]) == 2
    assert "not a zip archive" in capsys.readouterr().err


def test_torchscript_weights_with_factory(tmp_path, factory, capsys):
    model = factory()
    path = tmp_path / "m.ts"
    torch.jit.script(model).save(str(path))
    rc = main(["compress", str(path), "--factory", "tiny_arch:build", "--ratio", "0.5"])
    assert rc == 0
    assert "svd" in capsys.readouterr().out


def test_input_shape_and_output_folder_are_checked(tmp_path, factory, capsys):
    path = tmp_path / "sd.pt"
    torch.save(factory().state_dict(), path)
    base = ["compress", str(path), "--ratio", "0.5", "--factory", "tiny_arch:build"]
    for extra, message in [
        (["--input-shape", "0,1,6,6"], "--input-shape must be positive"),
        (["--input-shape", "1,1,5,5"], "calibration does not fit the model"),
        (["-o", str(tmp_path / "no" / "m.pt2"), "--input-shape", "1,1,6,6"], "does not exist"),
        (["--seed", "-1"], "seed"),
    ]:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_checkpoint_and_resume(tmp_path, factory, capsys):
    path, saved = tmp_path / "w.pt", tmp_path / "fits.pt"
    torch.save(factory().state_dict(), path)
    args = ["compress", str(path), "--factory", "tiny_arch:build", "--ratio", "0.5"]
    assert main([*args, "--checkpoint", str(saved)]) == 0
    first = capsys.readouterr().out
    assert saved.exists() and "resumed" not in first
    assert main([*args, "--checkpoint", str(saved), "--resume"]) == 0
    again = capsys.readouterr().out
    assert f"resumed: 2 factorization(s) read from {saved}" in again
    assert main([*args, "--checkpoint", str(tmp_path / "no" / "f.pt")]) == 2
    assert "the folder" in capsys.readouterr().err
