"""An article as a notebook, read by MyST-NB's own MyST reader: the one parser of its cells.

The book renders what MyST-NB reads, and the runner keys and executes the same notebook, so
whatever else looks at an article's cells (the search index taking code comments, the CUDA check
picking articles by their imports) reads them through this module too, and never disagrees with
the book about what a code cell is (fences inside other blocks, ``+++`` breaks, cell options).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from myst_nb.core.read import read_myst_markdown_notebook

from ingest.article_file import END_MARK


def read_notebook(text: str, path: Path | str | None = None) -> nbformat.NotebookNode:
    """MyST text (a whole article, or a region of one) as a notebook; ``path`` resolves ``:load:``."""
    if not text.strip():  # MyST-NB's reader fails on an empty text instead of giving no cells
        return nbformat.v4.new_notebook()
    return read_myst_markdown_notebook(text, path=None if path is None else str(path))


def read_article_notebook(path: Path | str) -> nbformat.NotebookNode:
    """The article file at ``path`` as the notebook the book renders and the runner executes."""
    return read_notebook(Path(path).read_text(encoding="utf-8"), path)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def implementation_start(cells) -> int:
    """Index of the first cell of the implementation region: the one after the cell holding the
    feed region's end mark (0 when there is no feed region)."""
    return next((i for i, c in enumerate(cells) if END_MARK in c.source), -1) + 1


def cells_with_lines(path: Path | str) -> list[tuple[object, int]]:
    """Each cell of the article with the 1-based line of the file its source starts on, for
    messages that point into the file."""
    text = Path(path).read_text(encoding="utf-8")
    nb = read_myst_markdown_notebook(text, path=str(path), add_source_map=True)
    lines = text.splitlines()
    out = []
    for cell, start in zip(nb.cells, nb.metadata.get("source_map", [])):
        first = cell.source.splitlines()[0] if cell.source else ""
        # A code cell's map points at its first source line; a markdown cell's at the blank line
        # before it: its first line of source is the next one that matches.
        at = next((i for i in range(start, len(lines)) if lines[i] == first), start)
        out.append((cell, at + 1))
    return out
