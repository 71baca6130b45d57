"""Shared fixtures: a scratch project root holding the book configuration and chosen feeds."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FEEDS = REPO / "feeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEADER = "INCOMING TRANSMISSION\n\nLATEST UPDATES\n"

# The modules that take longest, longest first. `make test` runs pytest-xdist with --dist loadfile,
# which hands whole modules to the workers in collection order: starting the long ones first keeps
# every worker busy to the end instead of leaving one to finish a late long module alone. A module
# missing from this list only runs in its usual place.
LONGEST_FIRST = ("test_site_browser.py", "test_browser_search.py", "test_onnx_export.py",
                 "test_standalone_notebooks.py", "test_ray_engine.py", "test_execution.py", "test_book_build.py",
                 "test_publish_flow.py", "test_search_model.py", "test_kernel_start.py", "test_mutants.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a module is kept


def make_project(dest: Path) -> Path:
    """A project root with the book's configuration but no articles yet."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    shutil.copytree(REPO / "book", dest / "book",
                    ignore=shutil.ignore_patterns("__pycache__", "topics", "*.py"))
    shutil.copytree(REPO / "book" / "_ext", dest / "book" / "_ext", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "feeds").mkdir(exist_ok=True)
    return dest


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "kb")


def write_feed(path: Path, *lines: str, header: str = HEADER, newline: str = "\n", encoding: str = "utf-8") -> Path:
    text = header.replace("\n", newline) + newline.join(lines)
    path.write_bytes(text.encode(encoding))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file ingest may write, with its bytes."""
    files = list((root / "articles").rglob("*.md")) + list((root / "book" / "topics").glob("*.md"))
    files += [root / "_toc.yml"] if (root / "_toc.yml").exists() else []
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory) -> Path:
    """The sample feeds plus a hostile one, ingested, 'executed' and built strictly (one build per session)."""
    from runner import engine
    from book.site import build_site
    from ingest.sync import ingest

    root = make_project(tmp_path_factory.mktemp("book") / "kb")
    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, root / "feeds" / f.name)
    shutil.copy(FIXTURES / "hostile.txt", root / "feeds" / "hostile.txt")
    report = ingest(root, [root / "feeds"])
    assert report.ok, report.errors
    engine.run(root, progress=False)  # no code cells: records outputs without starting kernels
    status, _ = build_site(root, strict=True, quiet=True)
    assert status == 0, "jupyter-book build with -W -n --keep-going failed"
    return root


@pytest.fixture(scope="module")
def chromium():
    """A Playwright driver per browser test module (``tests.browser``); each page gets a context of its own.

    Not per session: the driver keeps an asyncio loop running in this thread, and later tests that
    run a notebook in-process (``asyncio.run``) must not find one.
    """
    from tests.browser import Chromium

    browser = Chromium()
    yield browser
    browser.close()
