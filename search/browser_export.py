"""What the static site's in-browser search loads: the exported model, the vectors, BM25 postings.

Written by ``python -m search build`` into ``_build/search/browser/`` (the book copies it into
``_static/kb-search/data/``):

- ``model/``: ``model.onnx`` (4-bit weights, ``embedding.quantize``), ``tokenizer.json``, ``tokenizer_config.json``: the very files
  that embedded the passages (``embedding.onnx_export``).
- ``vectors.bin``: little-endian; ``count × dimension`` int8 (each row scaled to its own largest
  absolute value = 127), then ``count`` float32 scales. A quarter of float32, and a cosine changes
  by about 1e-3 at most, far below the gaps between articles.
- ``lexical.json``: BM25 postings ``{term: [row, weight×1000, row, weight×1000, …]}`` over the
  same tokens as the server; ``tokens.json``: that tokenizer's rule (``search.lexical.tokens``),
  which the browser reproduces, also to highlight the query's terms.
- ``meta.json``: rows' slug / kind / snippet text (rows in chunk-id order), the articles (title,
  title_en, page path), the corpus mean for centring, the ranking constants (``search.ranking``),
  the constants of "no article covers this" (``search.scope``), the query limits and ranking depth of ``search.query`` (``max_k``, ``max_query_chars``,
  ``chunks_per_result``), and the byte sizes above so a half-copied site is detected.

The folder is replaced as a whole (``kb.files.atomic_folder``): a reader never mixes the files of
two builds.

An embedder that is not an exported model (no ``folder``: the tests' fake ones) leaves no browser
folder: the site then says so and keeps keyword search.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from kb import layout
from kb.files import atomic_copy, atomic_folder, write_json
from search import lexical
from embedding.onnx_export import MODEL_FILE
from search.query import CHUNKS_PER_RESULT, MAX_K, MAX_QUERY_CHARS

FORMAT = 2
MODEL_FILES = (MODEL_FILE, "tokenizer.json", "tokenizer_config.json")


def browser_dir(root: Path) -> Path:
    return layout.browser_search_dir(root)


def token_rule() -> dict:
    """``search.lexical.tokens`` as data, for the browser's twin of it (``core.mjs``)."""
    return {"pattern": lexical.TOKEN_PATTERN, "stop": sorted(lexical.STOP_WORDS + lexical.STOP_CJK),
            "stemmer": lexical.STEMMER}


def _page_path(article_path: str) -> str:
    return str(Path(article_path).with_suffix(".html").as_posix())


def export(root: Path, searcher) -> Path | None:
    """Write the browser folder for ``searcher`` (a ``search.query.Searcher``); None when its
    embedder is not an exported ONNX model (the folder is then removed)."""
    dest = browser_dir(root)
    folder = getattr(searcher.embedder, "folder", None)
    if folder is None:
        shutil.rmtree(dest, ignore_errors=True)
        return None
    # Rows in chunk-id order: both engines break score ties by it (the server by id, the browser
    # by row), so the rows must not keep the storage order of an incremental build.
    order = np.argsort(searcher.ids, kind="stable")
    ids = searcher.ids[order]
    q, scales = (a[order] for a in searcher.rows)
    row_of = {int(i): r for r, i in enumerate(ids.tolist())}
    postings = _postings(searcher.lexical, row_of)
    meta = {
        "format": FORMAT,
        "model": searcher.embedder.name,
        "dimension": searcher.index.dimension,
        "count": len(ids),
        "query_prefix": searcher.embedder.query_prefix,
        "max_tokens": int(searcher.embedder.meta.get("max_tokens", 512)),
        "output": searcher.embedder.meta["output"],
        # search.query's limits and depth, which the page and core.mjs read from here.
        "max_k": MAX_K,
        "max_query_chars": MAX_QUERY_CHARS,
        "chunks_per_result": CHUNKS_PER_RESULT,
        "ranking": searcher.params.to_json(),
        "scope": searcher.scope.to_json(),
        "mean": [round(float(x), 7) for x in searcher.mean.tolist()],
        "snippet_chars": searcher.snippet_chars,
        "lead": {slug: row_of[i] for slug, i in searcher.lead.items()},
        "chunks": [{"slug": c["slug"], "kind": c["kind"], "body": c["body"]}
                   for c in (searcher.index.chunks[i] for i in ids.tolist())],
        "articles": {slug: {"title": a.get("title", slug), "title_en": a.get("title_en", ""),
                            "page": _page_path(a.get("path", ""))}
                     for slug, a in sorted(searcher.index.articles.items())},
    }

    def fill(tmp: Path) -> None:
        for name in MODEL_FILES:
            atomic_copy(Path(folder) / name, tmp / "model" / name)
        with open(tmp / "vectors.bin", "wb") as f:
            f.write(q.astype("<i1").tobytes())
            f.write(scales.astype("<f4").tobytes())
        write_json(tmp / "lexical.json", postings, indent=None)
        write_json(tmp / "tokens.json", token_rule(), indent=None)
        # The sizes let the page detect a half-copied site (the book copies file by file).
        meta["bytes"] = {name: (tmp / name).stat().st_size for name in ("vectors.bin", "lexical.json", "tokens.json")}
        meta["bytes"] |= {f"model/{n}": (tmp / "model" / n).stat().st_size for n in MODEL_FILES}
        write_json(tmp / "meta.json", meta, indent=None)

    return atomic_folder(dest, fill)


def _postings(lex, row_of: dict[int, int]) -> dict[str, list[int]]:
    """BM25 postings by browser row: ``{term: [row, weight×1000, …]}`` (empty without BM25)."""
    postings: dict[str, list[int]] = {}
    if lex is None:
        return postings
    csc = lex.matrix.tocsc()
    for term, col in lex.column.items():
        start, end = csc.indptr[col], csc.indptr[col + 1]
        flat: list[int] = []
        for r, w in zip(csc.indices[start:end].tolist(), csc.data[start:end].tolist()):
            flat += [row_of[int(lex.ids[r])], int(round(w * 1000))]
        postings[term] = flat
    return postings
