"""tools/gpu_check.sh on a machine without CUDA (this one), and the articles it picks."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
TF_ARTICLES = {"tf-export-decorator", "tf-feature-column"}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_no_cuda_stops_before_installing_or_writing(tmp_path):
    # A copy in a bare tree: anything it created (venv, _build, OUTDIR) would show up here.
    (tmp_path / "tools").mkdir()
    shutil.copy(SCRIPT, tmp_path / "tools" / "gpu_check.sh")
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)}
    res = subprocess.run(["bash", str(tmp_path / "tools" / "gpu_check.sh"), str(out)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode != 0
    assert "no CUDA device found" in res.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["tools", "tools/gpu_check.sh"]


def test_list_skips_only_the_tensorflow_articles():
    res = subprocess.run(["bash", str(SCRIPT), "--list"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=60)
    assert res.returncode == 0, res.stderr
    slugs = res.stdout.split()
    assert slugs and not TF_ARTICLES & set(slugs)
    for slug in TF_ARTICLES:
        assert f"skip {slug}: imports" in res.stderr
    # In this (complete) environment nothing else is skipped: torch articles, sklearn ones, xgboost.
    assert {"rectified-flow", "efficientnet-compound-scaling", "adaboost", "ddp-quick-start"} <= set(slugs)
    skips = [line for line in res.stderr.splitlines() if line.startswith("skip ")]
    assert skips and all(line.endswith("(TensorFlow)") for line in skips), skips
