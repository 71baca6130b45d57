"""Run a downloaded notebook as a reader would: a fresh virtual environment holding only the packages
its setup cell names, the notebook alone in an empty folder, no checkout of this repository in sight.

Used by ``tests/test_standalone_notebooks.py`` (three articles) and ``benchmarks/standalone_bench.py``
(all of them).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from book.notebooks import requirements_in

KERNEL = "kb-reader"


def reader_venv(requirements: list[str], cache: Path) -> Path:
    """A virtual environment with ``requirements`` and a kernel (what a reader's Jupyter has), reused per set."""
    packages = [*requirements, f"ipykernel=={importlib.metadata.version('ipykernel')}"]
    name = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    venv = Path(cache) / name
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # --no-compile: bytecode for the few modules a notebook imports is written as it imports them,
    # instead of for every file of TensorFlow and PyTorch up front.
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--no-compile", *packages], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    (venv / ".complete").write_text("")
    return venv


def _kernel_dir(venv: Path) -> Path:
    """A Jupyter data folder whose only kernel runs in ``venv``, with nothing of this checkout on its path."""
    data = venv / "jupyter-data"
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reader", "language": "python",
        "env": {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"},
    }))
    return data


def run_as_reader(notebook: Path, workdir: Path, cache: Path, timeout: float = 600) -> dict:
    """Run ``notebook`` from an empty ``workdir`` in a fresh environment built from its setup cell.

    Returns ``{"ok", "seconds", "install_seconds", "requirements", "error"}``; the kernel is this
    environment's, with the notebook's folder as its working directory.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    assert not any(workdir.iterdir()), f"{workdir} is not empty"
    copy = workdir / notebook.name
    shutil.copy(notebook, copy)
    nb = nbformat.read(copy, as_version=4)
    requirements = requirements_in(nb)
    start = time.perf_counter()
    venv = reader_venv(requirements, cache)
    installed = time.perf_counter() - start
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(_kernel_dir(venv))
    error = None
    start = time.perf_counter()
    try:
        NotebookClient(nb, kernel_name=KERNEL, timeout=timeout,
                       resources={"metadata": {"path": str(workdir)}}).execute()
    except CellExecutionError as e:
        error = str(e)[-3000:]
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
    return {"ok": error is None, "seconds": time.perf_counter() - start, "install_seconds": installed,
            "requirements": requirements, "error": error}
