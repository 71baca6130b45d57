"""Build the static site with Jupyter Book (v1), warnings as errors."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def build_site(root: Path, strict: bool = True, quiet: bool = False) -> tuple[int, float]:
    """Run ``jupyter-book build`` on ``root``; returns (exit status, seconds).

    The build runs from the project root so relative paths in ``_config.yml`` (the jieba
    dictionary, static files) resolve the same way for every caller.
    """
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
           "--path-output", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, text=True, capture_output=quiet)
    if quiet and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-20000:] + proc.stderr[-20000:])
    return proc.returncode, time.perf_counter() - start
