"""What the static site's in-browser search loads: the exported model, the vectors, BM25 postings.

Written by ``python -m search build`` into ``_build/search/browser/`` (the book copies it into
``_static/kb-search/data/``):

- ``model/``: ``model.onnx`` (int8), ``tokenizer.json``, ``tokenizer_config.json``: the very files
  that embedded the passages (``search.onnx_export``).
- ``vectors.bin``: little-endian; ``count × dimension`` int8 (each row scaled to its own largest
  absolute value = 127), then ``count`` float32 scales. A quarter of float32, and a cosine changes
  by about 1e-3 at most, far below the gaps between articles.
- ``lexical.json``: BM25 postings ``{term: [row, weight×1000, row, weight×1000, …]}`` over the
  same tokens as the server; ``tokens.json``: that tokenizer's rule (``search.lexical.tokens``),
  which the browser reproduces, also to highlight the query's terms.
- ``meta.json``: rows' slug / kind / snippet text, the articles (title, title_en, page path), the
  corpus mean for centring, the ranking constants (``search.ranking``), the tokenizer rule, and
  the byte sizes above so a half-copied folder is detected.

A model that could not be exported (``search.model.load_embedder`` fell back to
sentence-transformers) leaves no browser folder: the site then says so and keeps keyword search.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from kb import layout
from kb.files import atomic_write, write_json
from search import lexical
from search.onnx_export import MODEL_FILE

FORMAT = 1
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
    idx = searcher.index
    ids, (q, scales) = searcher.ids, searcher.rows
    row_of = {int(i): r for r, i in enumerate(ids.tolist())}
    model_dir = dest / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        src, dst = Path(folder) / name, model_dir / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size or dst.stat().st_mtime < src.stat().st_mtime:
            atomic_write(dst, lambda p, s=src: shutil.copyfile(s, p))

    def _vectors(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(q.astype("<i1").tobytes())
            f.write(scales.astype("<f4").tobytes())

    atomic_write(dest / "vectors.bin", _vectors)
    lex = searcher.lexical
    postings: dict[str, list[int]] = {}
    if lex is not None:
        csc = lex.matrix.tocsc()
        for term, col in lex.column.items():
            start, end = csc.indptr[col], csc.indptr[col + 1]
            flat: list[int] = []
            for r, w in zip(csc.indices[start:end].tolist(), csc.data[start:end].tolist()):
                flat += [row_of[int(lex.ids[r])], int(round(w * 1000))]
            postings[term] = flat
    write_json(dest / "lexical.json", postings, indent=None)
    write_json(dest / "tokens.json", token_rule(), indent=None)
    chunks = [idx.chunks[i] for i in ids.tolist()]
    meta = {
        "format": FORMAT,
        "model": searcher.embedder.name,
        "dimension": idx.dimension,
        "count": len(ids),
        "query_prefix": searcher.embedder.query_prefix,
        "max_tokens": int(searcher.embedder.meta.get("max_tokens", 512)),
        "output": searcher.embedder.meta["output"],
        "ranking": searcher.params.to_json(),
        "mean": [round(float(x), 7) for x in searcher.mean.tolist()],
        "snippet_chars": searcher.snippet_chars,
        "lead": {slug: row_of[i] for slug, i in searcher.lead.items()},
        "chunks": [{"slug": c["slug"], "kind": c["kind"], "body": c["body"]} for c in chunks],
        "articles": {slug: {"title": a.get("title", slug), "title_en": a.get("title_en", ""),
                            "page": _page_path(a.get("path", ""))} for slug, a in sorted(idx.articles.items())},
        "bytes": {name: (dest / name).stat().st_size for name in ("vectors.bin", "lexical.json", "tokens.json")}
                 | {f"model/{n}": (model_dir / n).stat().st_size for n in MODEL_FILES},
    }
    write_json(dest / "meta.json", meta, indent=None)  # last: it vouches for the files above
    return dest


def read_meta(root: Path) -> dict | None:
    try:
        return json.loads((browser_dir(root) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
