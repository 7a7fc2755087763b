"""Checkpoint files of BUG integrations: an interrupted run resumes to the same bits."""

import json

import numpy as np
import pytest

from solvers import bug
from solvers.bug import problems
from tnkit import backend

H = 1 / 32
TREE4 = problems.binary_tree(4)
OP4 = problems.transverse_field_ising(4)
Y4 = problems.all_up(TREE4, rank=2)
MZ4 = {"mz": problems.magnetization(4, "z")}
OPM = problems.matrix_schrodinger(40)
YM = problems.matrix_initial(40, rank=3, seed=1)


def _same_history(a, b):
    for key in ("time", "norm", "energy", "max_rank", "ranks", "rejected", "observables"):
        assert a[key] == b[key], key


def _assert_same_tree(a, b):
    arrays_a, arrays_b = a.node_arrays(), b.node_arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name])


@pytest.mark.parametrize("method", ["adaptive", "parallel"])
def test_tree_run_resumes_bit_for_bit(tmp_path, method):
    path = tmp_path / "run.npz"
    kw = dict(dt=H, method=method, tol=1e-8, observables=MZ4)
    whole, hist = bug.integrate(OP4, Y4, 12 * H, **kw)
    _, first = bug.integrate(OP4, Y4, 5 * H, checkpoint=path, **kw)
    assert len(first["time"]) == 6
    resumed, rest = bug.integrate(OP4, Y4, 12 * H, checkpoint=path, resume=True, **kw)
    _assert_same_tree(resumed, whole)
    _same_history(rest, hist)
    assert max(hist["max_rank"]) > 2  # the ranks moved, so the resumed state had other shapes


def test_ctrl_c_saves_the_last_finished_step(tmp_path):
    path = tmp_path / "run.npz"
    kw = dict(dt=H, method="adaptive", tol=1e-8, checkpoint=path, checkpoint_seconds=3600)

    def interrupt_at_7(step, total, t):
        if step == 7:
            raise KeyboardInterrupt

    _, cut = bug.integrate(OP4, Y4, 12 * H, progress=interrupt_at_7, **kw)
    assert cut["interrupted"] and len(cut["time"]) == 8
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
    assert meta["steps_done"] == 7 and meta["time"] == pytest.approx(7 * H, rel=1e-15)
    assert len(meta["history"]["time"]) == 8
    whole, hist = bug.integrate(OP4, Y4, 12 * H, dt=H, method="adaptive", tol=1e-8)
    resumed, rest = bug.integrate(OP4, Y4, 12 * H, resume=True, **kw)
    _assert_same_tree(resumed, whole)
    _same_history(rest, hist)
    assert not rest["interrupted"]


def test_matrix_run_resumes_bit_for_bit(tmp_path):
    path = tmp_path / "m.npz"
    kw = dict(dt=0.01, method="adaptive", tol=1e-6)
    whole, hist = bug.integrate(OPM, YM, 0.1, **kw)
    bug.integrate(OPM, YM, 0.04, checkpoint=path, checkpoint_seconds=0, **kw)
    resumed, rest = bug.integrate(OPM, YM, 0.1, checkpoint=path, resume=True, **kw)
    for a, b in zip(resumed, whole):
        np.testing.assert_array_equal(a, b)
    _same_history(rest, hist)


def test_resume_of_a_finished_run_returns_its_state(tmp_path):
    path = tmp_path / "run.npz"
    kw = dict(dt=H, method="fixed", checkpoint=path)
    done, hist = bug.integrate(OP4, Y4, 4 * H, **kw)
    again, hist2 = bug.integrate(OP4, Y4, 4 * H, resume=True, **kw)
    _assert_same_tree(again, done)
    _same_history(hist2, hist)


def test_resume_without_a_file_starts_afresh(tmp_path):
    path = tmp_path / "new.npz"
    y, hist = bug.integrate(OP4, Y4, 2 * H, dt=H, checkpoint=path, resume=True)
    assert path.exists() and len(hist["time"]) == 3


def test_resume_refuses_other_settings_and_files(tmp_path):
    path = tmp_path / "run.npz"
    bug.integrate(OP4, Y4, 2 * H, dt=H, tol=1e-8, checkpoint=path)
    with pytest.raises(ValueError, match="other settings.*tol"):
        bug.integrate(OP4, Y4, 4 * H, dt=H, tol=1e-6, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="other settings.*dt"):
        bug.integrate(OP4, Y4, 4 * H, dt=H / 2, tol=1e-8, checkpoint=path, resume=True)
    chain = problems.all_up(((0, 1), 2, 3), rank=2)
    with pytest.raises(ValueError, match="holds a state on"):
        bug.integrate(OP4, chain, 4 * H, dt=H, tol=1e-8, checkpoint=path, resume=True)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a BUG checkpoint"):
        bug.integrate(OP4, Y4, 4 * H, dt=H, checkpoint=other, resume=True)


def test_resume_after_a_shortened_last_step_is_refused(tmp_path):
    path = tmp_path / "run.npz"
    bug.integrate(OP4, Y4, 2.5 * H, dt=H, checkpoint=path)
    with pytest.raises(ValueError, match="shortened last step"):
        bug.integrate(OP4, Y4, 4 * H, dt=H, checkpoint=path, resume=True)


def test_checkpoint_options_are_validated(tmp_path):
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        bug.integrate(OP4, Y4, H, dt=H, resume=True)
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        bug.integrate(OP4, Y4, H, dt=H, checkpoint=tmp_path / "c.npz", checkpoint_seconds=-1)
    with pytest.raises(TypeError, match="checkpoint"):
        bug.integrate(OP4, Y4, H, dt=H, checkpoint=3)


def test_torch_state_resumes_on_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from tnkit.lowrank import LowRank

    path = tmp_path / "t.npz"
    y0 = LowRank(*(torch.as_tensor(np.asarray(a)) for a in YM))
    kw = dict(dt=0.01, method="adaptive", tol=1e-6, checkpoint=path)
    whole, _ = bug.integrate(OPM, YM, 0.06, dt=0.01, method="adaptive", tol=1e-6)
    bug.integrate(OPM, y0, 0.03, **kw)
    resumed, _ = bug.integrate(OPM, y0, 0.06, resume=True, **kw)
    assert all(isinstance(a, torch.Tensor) for a in resumed)
    for a, b in zip(resumed, whole):
        np.testing.assert_allclose(backend.to_numpy(a), b, atol=1e-10)


def test_cli_evolve_resumes_from_its_checkpoint(tmp_path):
    from tnkit.cli import main

    ck = tmp_path / "c.npz"
    base = ["evolve", "ising", "--sites", "4", "--dt", "0.0625", "--plot", ""]
    files = [tmp_path / f"{k}.json" for k in "abc"]
    assert main([*base, "--t-final", "0.25", "--checkpoint", str(ck), "-o", str(files[0])]) == 0
    resume = ["--t-final", "0.5", "--checkpoint", str(ck), "--resume", "-o", str(files[1])]
    assert main([*base, *resume]) == 0
    assert main([*base, "--t-final", "0.5", "-o", str(files[2])]) == 0
    first, resumed, whole = (json.loads(f.read_text()) for f in files)
    assert len(first["time"]) == 5 and len(resumed["time"]) == 9
    _same_history(resumed, whole)
