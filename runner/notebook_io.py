"""Articles as notebooks, read and keyed exactly the way the book (MyST-NB + jupyter-cache) does.

The runner's cache and the book's lookup agree on what "the same notebook" is only if both
parse the MyST file with MyST-NB's own reader and hash it with jupyter-cache's own hash (code
cells, their metadata such as tags, and the kernelspec). The execution key is that hash plus a
digest of what outside the notebook changes its outputs.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from jupyter_cache.cache.main import JupyterCacheBase
from myst_nb.core.read import read_myst_markdown_notebook

from kb import layout

# Things outside the notebook that change what it prints.
OUTPUT_INPUTS = ("requirements.txt", "nbhelpers")
RUNNER_VERSION = "2"  # bump when the runner changes how notebooks are executed


def read_article_notebook(path: Path) -> nbformat.NotebookNode:
    return read_myst_markdown_notebook(Path(path).read_text(encoding="utf-8"), path=str(path))


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def environment_digest(root: Path) -> str:
    """Digest of requirements and helper modules: computed once per run, shared by all notebooks."""
    h = hashlib.sha256()
    for name in OUTPUT_INPUTS:
        p = Path(root) / name
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def notebook_hash(root: Path, nb) -> str:
    """jupyter-cache's hash of ``nb``: the one Jupyter Book looks executed outputs up by."""
    # The base class only hashes here; it opens no database.
    return JupyterCacheBase(layout.jupyter_cache_dir(root)).create_hashed_notebook(nb)[1]


def execution_key(root: Path, nb, env_digest: str, stream_limit: int) -> str:
    """What determines a notebook's stored outputs: the book's notebook hash, ``environment_digest``
    and how much of its printed output is kept."""
    parts = (RUNNER_VERSION, notebook_hash(root, nb), env_digest, str(stream_limit))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
