"""Articles as notebooks, read exactly the way the book's renderer (MyST-NB) reads them.

The execution cache, jupyter-cache and the book all agree on what "the same notebook" is only
if they parse the MyST file identically, so everything goes through MyST-NB's own reader.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from myst_nb.core.read import read_myst_markdown_notebook

# Things outside the notebook that change what it prints.
OUTPUT_INPUTS = ("requirements.txt", "nbhelpers")
RUNNER_VERSION = "1"  # bump when the runner changes how notebooks are executed


def read_article_notebook(path: Path) -> nbformat.NotebookNode:
    return read_myst_markdown_notebook(Path(path).read_text(encoding="utf-8"), path=str(path))


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def environment_digest(root: Path) -> str:
    """Digest of requirements and helper modules: computed once per run, shared by all notebooks."""
    h = hashlib.sha256()
    for name in OUTPUT_INPUTS:
        p = root / name
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def execution_key(nb, env_digest: str) -> str:
    """What determines a notebook's outputs: its code cells, kernel, and ``environment_digest``."""
    h = hashlib.sha256(RUNNER_VERSION.encode())
    h.update(str(nb.metadata.get("kernelspec", {}).get("name", "")).encode())
    for cell in code_cells(nb):
        h.update(b"\0cell\0" + cell.source.encode("utf-8"))
    h.update(env_digest.encode())
    return h.hexdigest()
