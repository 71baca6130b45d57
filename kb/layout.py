"""Where each stage reads and writes, relative to a project root.

The data flow is one-way::

    feeds/ ─ingest─▶ articles/ ─runner─▶ _build/execution/ + _build/.jupyter_cache/
                                  └─search─▶ _build/search/ ─book─▶ _build/html/

Every path below is spelled once, here; stages import this module, never each other's
machinery, to find what an earlier stage wrote.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

CHECKOUT = Path(__file__).resolve().parent.parent  # the default --root of every command

FEEDS = "feeds"
ARTICLES = "articles"
BUILD = "_build"

# runner: executed notebooks, one record per article, kernel logs, the report
EXECUTION = PurePosixPath(BUILD, "execution")
JUPYTER_CACHE = PurePosixPath(BUILD, ".jupyter_cache")  # what Jupyter Book reads (_config.yml names it too)
# search: FAISS index, sidecar, lexical index, related articles
SEARCH = PurePosixPath(BUILD, "search")
RELATED_FILE = "related.json"
BROWSER_SEARCH = "browser"  # under SEARCH: what the static site's in-browser search loads
# book: the site, and the standalone notebooks its download links offer
HTML = PurePosixPath(BUILD, "html")
DOWNLOADS = PurePosixPath(BUILD, "downloads")
LAUNCH_LINKS_FILE = "launch.json"  # under DOWNLOADS: each article's Colab/Binder/JupyterHub links


def execution_dir(root: Path) -> Path:
    return Path(root) / EXECUTION


def executed_notebook(root: Path, article_path: Path) -> Path:
    """The executed ``.ipynb`` of the article at ``article_path`` (relative to the root)."""
    return execution_dir(root) / "notebooks" / Path(article_path).with_suffix(".ipynb")


def record_file(root: Path, slug: str) -> Path:
    return execution_dir(root) / "records" / f"{slug}.json"


def kernel_log(root: Path, slug: str) -> Path:
    return execution_dir(root) / "logs" / f"{slug}.log"


def report_file(root: Path) -> Path:
    return execution_dir(root) / "report.json"


def mutants_dir(root: Path) -> Path:
    """Per article, its mutants' cached results and kernel logs (``runner.mutants``)."""
    return execution_dir(root) / "mutants"


def mutants_report(root: Path) -> Path:
    """Every article's mutants and how many its checks killed: what the status page shows."""
    return execution_dir(root) / "mutants.json"


def jupyter_cache_dir(root: Path) -> Path:
    return Path(root) / JUPYTER_CACHE


def search_dir(root: Path) -> Path:
    return Path(root) / SEARCH


def browser_search_dir(root: Path) -> Path:
    return search_dir(root) / BROWSER_SEARCH


def related_file(root: Path) -> Path:
    return search_dir(root) / RELATED_FILE


def downloads_dir(root: Path) -> Path:
    """The notebooks a reader downloads from the site: each runs without this repository (``book.notebooks``)."""
    return Path(root) / DOWNLOADS


def downloaded_notebook(root: Path, article_path: Path) -> Path:
    """The standalone ``.ipynb`` of the article at ``article_path`` (relative to the root)."""
    return downloads_dir(root) / Path(article_path).relative_to(ARTICLES).with_suffix(".ipynb")


def launch_links_file(root: Path) -> Path:
    return downloads_dir(root) / LAUNCH_LINKS_FILE


def html_dir(root: Path) -> Path:
    return Path(root) / HTML
