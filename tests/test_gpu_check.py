"""The GPU device check script: exits cleanly without a GPU; its dry run writes every figure."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tnkit import backend

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "benchmarks" / "gpu.py"


def test_device_check_exits_zero_without_a_gpu():
    if backend.cuda_available("cupy"):
        pytest.skip("a GPU is present: the check would run in full")
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA GPU visible to cupy" in proc.stdout


@pytest.mark.slow
def test_device_check_dry_run_on_torch_cpu(tmp_path):
    pytest.importorskip("torch")
    cmd = [sys.executable, str(SCRIPT), "--backend", "torch", "--device", "cpu", "--quick"]
    proc = subprocess.run([*cmd, "--no-tests", "--out", str(tmp_path)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    for key in ("contraction_float32", "decompose_tucker", "decompose_tt", "decompose_tr"):
        assert "error" not in report[key], report[key]
    assert report["contraction_float64"]["fraction_of_matmul"] > 0
    assert report["decompose_tt"]["gpu_rel_error"] < 0.05
    assert report["search"]["cpu_evaluations"] >= 1
