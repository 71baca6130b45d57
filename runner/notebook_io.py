"""The parts of an execution key, hashed exactly the way the book (MyST-NB + jupyter-cache) does.

The runner's cache and the book's lookup agree on what "the same notebook" is only if both read
the MyST file with MyST-NB's own reader (``ingest.notebook``) and hash it with jupyter-cache's own
hash (code cells, their metadata such as tags, and the kernelspec). The execution key is that hash
plus a digest of what outside the notebook changes its outputs.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from jupyter_cache.cache.main import JupyterCacheBase

from kb import layout

# Things outside the notebook that change what it prints.
OUTPUT_INPUTS = ("requirements.txt", "nbhelpers")
RUNNER_VERSION = "2"  # bump when the runner changes how notebooks are executed


def environment_digest(root: Path) -> str:
    """Digest of requirements and helper modules: computed once per run, shared by all notebooks."""
    h = hashlib.sha256()
    for name in OUTPUT_INPUTS:
        p = Path(root) / name
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def texts_digest(texts: list[str]) -> str:
    """Digest of a list of texts, order and boundaries included."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8") + b"\0")
    return h.hexdigest()


def notebook_hash(root: Path, nb) -> str:
    """jupyter-cache's hash of ``nb``: the one Jupyter Book looks executed outputs up by."""
    # Hashing needs only the base class: it opens no database.
    return JupyterCacheBase(layout.jupyter_cache_dir(root)).create_hashed_notebook(nb)[1]


def execution_key(root: Path, nb, env_digest: str, stream_limit: int, reads: dict[str, str] | None = None) -> str:
    """What determines a notebook's stored outputs: the book's notebook hash, ``environment_digest``,
    how much of its printed output is kept, and a digest of each declared data dependency
    (``reads``: name → digest). A notebook that declares none keys exactly as before the
    declaration existed, so its cached outputs stay valid."""
    parts = [RUNNER_VERSION, notebook_hash(root, nb), env_digest, str(stream_limit)]
    parts += [f"reads {name} {digest}" for name, digest in sorted((reads or {}).items())]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
