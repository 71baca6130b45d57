"""Hand executed notebooks to Jupyter Book through jupyter-cache, and check nothing is missing.

With ``execute_notebooks: cache`` MyST-NB looks each notebook up in the cache by jupyter-cache's
hash of its code cells, their metadata and the kernelspec. Every notebook the runner ran is
stored there, so the book finds a match for each article; ``missing_outputs`` lets the build
refuse to start when one would not (MyST-NB would then execute it itself, which is the
runner's job).
"""
from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

from ingest.notebook import read_article_notebook
from ingest.store import Article, load_articles
from kb import layout


def _cache(root: Path):
    return get_cache(str(layout.jupyter_cache_dir(root)))


def publish(root: Path, article: Article, nb, seconds: float, status: str) -> None:
    bundle = CacheBundleIn(nb, uri=str((Path(root) / article.path).resolve()),
                           data={"execution_seconds": seconds, "status": status})
    # A failed notebook is stored too (its page shows the error) but never counts as valid.
    _cache(root).cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def is_published(root: Path, nb) -> bool:
    """Whether the cache holds an executed notebook matching ``nb``."""
    with suppress(KeyError):
        _cache(root).match_cache_notebook(nb)
        return True
    return False


def missing_outputs(root: Path, articles: list[Article] | None = None) -> list[Article]:
    """Articles whose current notebook has no executed counterpart in the cache."""
    articles = load_articles(root) if articles is None else articles
    return [a for a in articles if not is_published(root, read_article_notebook(Path(root) / a.path))]
