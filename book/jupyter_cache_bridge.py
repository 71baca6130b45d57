"""Hand executed notebooks to Jupyter Book through jupyter-cache, and check nothing is missing.

With ``execute_notebooks: cache`` MyST-NB looks each notebook up in the cache by a hash of its
code cells and kernelspec. Every notebook ``python -m book execute`` ran is stored there, so the
book finds a match for each article; ``missing_outputs`` lets the build refuse to start when one
would not (MyST-NB would then execute it itself, which is the runner's job).
"""
from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

from book.notebook_io import read_article_notebook
from ingest.store import Article, load_articles

CACHE_DIR = Path("_build") / ".jupyter_cache"


def _cache(root: Path):
    return get_cache(str(root / CACHE_DIR))


def publish(root: Path, article: Article, nb, rec) -> None:
    cache = _cache(root)
    bundle = CacheBundleIn(nb, uri=str((root / article.path).resolve()),
                           data={"execution_seconds": rec.seconds, "status": rec.status})
    # A failed notebook is stored too (its page shows the error) but never counts as valid.
    cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def is_published(root: Path, nb) -> bool:
    """Whether the cache holds an executed notebook matching ``nb``'s code."""
    with suppress(KeyError):
        _cache(root).match_cache_notebook(nb)
        return True
    return False


def missing_outputs(root: Path) -> list[Article]:
    """Articles whose current code has no executed notebook in the cache."""
    return [a for a in load_articles(root) if not is_published(root, read_article_notebook(root / a.path))]
