"""No function, method or class that nothing uses: vulture over every place that may use one.

Users of the product's code are the product itself, the tests, the benchmarks, the tools and the
articles' code cells (which call ``nbhelpers``); the cells are written to files for vulture to read.
Names that frameworks call by convention (Sphinx's ``setup``, ``forward``, HTTP handlers'
``do_GET``) are listed in ``USED_BY_FRAMEWORKS``.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ingest.notebook import code_cells, read_article_notebook
from tests.conftest import REPO

PRODUCT = ["kb", "embedding", "ingest", "runner", "search", "book", "nbhelpers"]
USED_BY_FRAMEWORKS = """
setup  # Sphinx extensions
forward  # torch.nn.Module
do_GET, do_HEAD, do_POST, log_message  # http.server handlers
pytest_collection_modifyitems  # pytest hooks
"""
KINDS = ("unused function", "unused method", "unused class")


def test_every_function_is_used_somewhere(tmp_path):
    pytest.importorskip("vulture")
    cells = tmp_path / "article_cells"
    cells.mkdir()
    for path in sorted((REPO / "articles").rglob("*.md")):
        for n, cell in enumerate(code_cells(read_article_notebook(path))):
            # IPython magics and shell lines are not Python (a ``%%writefile`` body is); vulture
            # only needs the names the cells use. One file per cell: one that does not parse
            # costs only itself.
            source = "\n".join(ln for ln in cell.source.splitlines() if not re.match(r"\s*[%!]", ln))
            (cells / f"{path.stem.replace('-', '_')}_{n}.py").write_text(source, encoding="utf-8")
    whitelist = tmp_path / "frameworks.py"
    whitelist.write_text("\n".join(f"{n.strip()}" for line in USED_BY_FRAMEWORKS.strip().splitlines()
                                   for n in line.split("#")[0].split(",")), encoding="utf-8")
    paths = [str(REPO / p) for p in PRODUCT + ["tests", "benchmarks", "tools"]] + [str(cells), str(whitelist)]
    proc = subprocess.run([sys.executable, "-m", "vulture", *paths, "--min-confidence", "60",
                           "--ignore-decorators", "@pytest.fixture"],
                          capture_output=True, text=True)
    dead = [ln for ln in proc.stdout.splitlines()
            if any(k in ln for k in KINDS) and not ln.startswith(str(tmp_path))]
    assert not dead, "\n".join(dead)
