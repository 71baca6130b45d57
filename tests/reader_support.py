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


def pip_sources() -> list[str]:
    """pip's index settings (its config files and ``PIP_*`` variables) as uv options, so that the
    reader's environment comes from the package index ``pip install`` would use on this machine."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values: dict[str, list[str]] = {}
    for line in sorted(listed.splitlines(), key=lambda line: not line.startswith(":env:")):  # variables first
        where, _, value = line.partition("=")
        key = where.rpartition(".")[2]
        if key in ("index-url", "extra-index-url", "find-links"):
            values.setdefault(key, []).extend(value.strip("'\"").split())
    options = []
    if values.get("index-url"):
        options += ["--index-url", values["index-url"][0]]
    for url in dict.fromkeys(values.get("extra-index-url", [])):
        options += ["--extra-index-url", url]
    for place in dict.fromkeys(values.get("find-links", [])):
        options += ["--find-links", place]
    # pip takes the best version any index offers (a CPU build of torch over PyPI's): so does uv then.
    return [*options, "--index-strategy", "unsafe-best-match"]


def reader_venv(requirements: list[str], cache: Path) -> Path:
    """A virtual environment with ``requirements`` and a kernel (what a reader's Jupyter has), reused per set.

    Built with uv (a dev requirement: it writes the locks) rather than pip: the same packages from the
    same index, in a third of the time, which is most of what these tests cost.
    """
    packages = [*requirements, f"ipykernel=={importlib.metadata.version('ipykernel')}"]
    name = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    venv = Path(cache) / name
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    env = {**os.environ, "UV_CACHE_DIR": str(Path(cache) / "uv-cache")}  # nothing written outside ``cache``
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env)
    proc = subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                           *pip_sources(), *packages], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"installing {' '.join(requirements)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
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
