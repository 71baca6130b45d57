"""What the static site's in-browser search loads: small files with the page, the rest in pieces
fetched as a query needs them (as Pagefind splits its index), so a large site's first query does not
download the whole index.

Written by ``python -m search build`` into ``_build/search/browser/`` (the book copies it into
``_static/kb-search/data/``). Rows are the chunks in chunk-id order: both engines break score ties
by it (the server by id, the browser by row).

Loaded with the page:

- ``meta.json``: the model's facts (query prefix, token limit, output name), the corpus mean for
  centring, the ranking constants (``search.ranking``), the constants of "no article covers this"
  (``search.scope``), the query limits and ranking depth of ``search.query`` (``max_k``,
  ``max_query_chars``, ``chunks_per_result``), the articles in slug order (slug, titles, page,
  ``lead``: the row whose text stands in for a title chunk's, or -1), the chunk ``kinds``, how the
  pieces are cut (``pieces``), and the byte sizes of the files below so a half-copied site is
  detected.
- ``rows.bin``: little-endian, per row its article's index (uint32), then per row its kind's
  index (uint8).
- ``tokens.json``: the rule of ``search.lexical.tokens``, which the browser reproduces (also to
  highlight the query's terms).
- ``model/``: ``model.onnx`` (4-bit weights, ``embedding.quantize``), ``tokenizer.json``,
  ``tokenizer_config.json``: the very files that embedded the passages.

Fetched when a query needs them, then kept for the visit:

- ``postings/<b>.json``: BM25 postings ``{term: [row, weight×1000, row, weight×1000, …]}`` of the
  terms whose ``bucket_of`` is b; the bucket count keeps a file near ``POSTINGS_PIECE_BYTES``. A
  query fetches one file per bucket its terms fall in.
- ``vectors/<l>.bin``: list l of rows: ``m × dimension`` int8 (each row scaled to its own largest
  absolute value = 127), then ``m`` float32 scales, then ``m`` int32 row numbers. Up to
  ``EXACT_ROWS`` rows there is one list holding every row, and the browser scores all of them as
  the server does. Above it the rows are split by k-means over the centred rows into lists of
  about ``ROWS_PER_LIST`` (an IVF index), the centroids in ``vectors/centroids.bin`` (float32,
  lists × dimension), and a query scores the ``NPROBE`` lists whose centroids are nearest: at 100k
  chunks a tenth of the vectors, at the price of exactness (the server still scores every row).
- ``bodies/<a>.json``: article a's chunk texts ``{row: body}``, for the snippets of the results
  shown.

The folder is replaced as a whole (``kb.files.atomic_folder``): a reader never mixes the files of
two builds.

An embedder that is not an exported model (no ``folder``: the tests' fake ones) leaves no browser
folder: the site then says so and keeps keyword search.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb import layout
from kb.files import atomic_copy, atomic_folder, write_json
from search import lexical, ranking
from embedding.onnx_export import MODEL_FILE
from search.query import CHUNKS_PER_RESULT, MAX_K, MAX_QUERY_CHARS

FORMAT = 3
MODEL_FILES = (MODEL_FILE, "tokenizer.json", "tokenizer_config.json")
EXACT_ROWS = 16_384  # 6.4 MB of int8 rows: below it every query scores every row
ROWS_PER_LIST = 1_024
NPROBE = 8
POSTINGS_PIECE_BYTES = 64_000


def browser_dir(root: Path) -> Path:
    return layout.browser_search_dir(root)


def token_rule() -> dict:
    """``search.lexical.tokens`` as data, for the browser's twin of it (``core.mjs``)."""
    return {"pattern": lexical.TOKEN_PATTERN, "stop": sorted(lexical.STOP_WORDS + lexical.STOP_CJK),
            "stemmer": lexical.STEMMER}


def bucket_of(term: str, buckets: int) -> int:
    """The postings file of ``term``: 32-bit FNV-1a of its UTF-8 bytes, modulo ``buckets`` (the
    browser's ``bucketOf`` computes the same)."""
    h = 0x811C9DC5
    for byte in term.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % buckets


@dataclass
class BrowserData:
    """Everything the browser reads, by row (chunk-id order)."""

    facts: dict  # meta.json's scalars and constants (model, ranking, scope, limits, mean, …)
    articles: list[dict]  # slug order: slug, title, title_en, page, lead
    row_article: np.ndarray  # per row: index into ``articles``
    kinds: list[str]  # the chunk kinds (``search.chunks``)
    row_kind: np.ndarray  # per row: index into ``kinds``
    q: np.ndarray  # int8 rows
    scales: np.ndarray  # float32, per row
    bodies: list[str]
    postings: dict[str, list[int]]  # term → [row, weight×1000, …]


def _page_path(article_path: str) -> str:
    return str(Path(article_path).with_suffix(".html").as_posix())


def browser_data(searcher) -> BrowserData:
    """``searcher``'s index (a ``search.query.Searcher``) in the browser's row order."""
    order = np.argsort(searcher.ids, kind="stable")
    ids = searcher.ids[order]
    q, scales = (a[order] for a in searcher.rows)
    row_of = {int(i): r for r, i in enumerate(ids.tolist())}
    chunks = [searcher.index.chunks[i] for i in ids.tolist()]
    slugs = sorted(set(searcher.index.articles) | {c["slug"] for c in chunks})
    article_of = {slug: a for a, slug in enumerate(slugs)}
    articles = []
    for slug in slugs:
        a = searcher.index.articles.get(slug, {})
        lead = searcher.lead.get(slug)
        articles.append({"slug": slug, "title": a.get("title", slug), "title_en": a.get("title_en", ""),
                         "page": _page_path(a.get("path", "")), "lead": row_of[lead] if lead is not None else -1})
    facts = {
        "model": searcher.embedder.name,
        "dimension": searcher.index.dimension,
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
    }
    kinds = sorted({c["kind"] for c in chunks})
    return BrowserData(facts=facts, articles=articles,
                       row_article=np.array([article_of[c["slug"]] for c in chunks], np.uint32),
                       kinds=kinds, row_kind=np.array([kinds.index(c["kind"]) for c in chunks], np.uint8),
                       q=q, scales=scales, bodies=[c["body"] for c in chunks],
                       postings=_postings(searcher.lexical, row_of))


def export(root: Path, searcher) -> Path | None:
    """Write the browser folder for ``searcher`` (a ``search.query.Searcher``); None when its
    embedder is not an exported ONNX model (the folder is then removed)."""
    dest = browser_dir(root)
    folder = getattr(searcher.embedder, "folder", None)
    if folder is None:
        shutil.rmtree(dest, ignore_errors=True)
        return None
    data = browser_data(searcher)

    def fill(tmp: Path) -> None:
        for name in MODEL_FILES:
            atomic_copy(Path(folder) / name, tmp / "model" / name)
        write(tmp, data)

    return atomic_folder(dest, fill)


def write(folder: Path, data: BrowserData, exact_rows: int = EXACT_ROWS, rows_per_list: int = ROWS_PER_LIST,
          nprobe: int = NPROBE, postings_piece_bytes: int = POSTINGS_PIECE_BYTES) -> None:
    """Write ``data``'s files into ``folder`` (new and empty but for ``model/``)."""
    folder = Path(folder)
    n = len(data.bodies)
    with open(folder / "rows.bin", "wb") as f:
        f.write(data.row_article.astype("<u4").tobytes())
        f.write(data.row_kind.astype("u1").tobytes())
    write_json(folder / "tokens.json", token_rule(), indent=None)
    buckets = _write_postings(folder / "postings", data.postings, postings_piece_bytes)
    lists = _write_vectors(folder / "vectors", data, exact_rows, rows_per_list)
    _write_bodies(folder / "bodies", data)
    sizes = {sub: sum(p.stat().st_size for p in (folder / sub).iterdir()) for sub in ("postings", "vectors", "bodies")}
    meta = {"format": FORMAT, "count": n, **data.facts, "kinds": data.kinds, "articles": data.articles,
            "pieces": {"postings": buckets, "lists": lists, "nprobe": min(nprobe, lists), "bytes": sizes}}
    # The sizes let the page detect a half-copied site (the book copies file by file).
    meta["bytes"] = {name: (folder / name).stat().st_size for name in ("rows.bin", "tokens.json")}
    meta["bytes"] |= {f"model/{p.name}": p.stat().st_size for p in sorted((folder / "model").glob("*"))}
    write_json(folder / "meta.json", meta, indent=None)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _write_postings(folder: Path, postings: dict[str, list[int]], piece_bytes: int) -> int:
    # Each term's entry is serialised once: its length sizes the buckets, then it is written as is.
    entries = {term: f"{_dumps(term)}:{_dumps(post)}" for term, post in postings.items()}
    buckets = max(1, math.ceil(sum(len(e) + 1 for e in entries.values()) / piece_bytes))
    pieces: list[list[str]] = [[] for _ in range(buckets)]
    for term, entry in entries.items():
        pieces[bucket_of(term, buckets)].append(entry)
    folder.mkdir()
    for b, piece in enumerate(pieces):
        (folder / f"{b}.json").write_text("{" + ",".join(piece) + "}", encoding="utf-8")
    return buckets


def _write_vectors(folder: Path, data: BrowserData, exact_rows: int, rows_per_list: int) -> int:
    n, d = data.q.shape if data.q.ndim == 2 else (0, data.facts["dimension"])
    folder.mkdir()
    if n <= exact_rows:
        members = [np.arange(n)]
    else:
        import faiss

        r = data.facts["ranking"]
        unit = ranking.centred(data.q.astype(np.float32) * data.scales[:, None],
                               np.asarray(data.facts["mean"], np.float32), r["centering"])
        lists = math.ceil(n / rows_per_list)
        kmeans = faiss.Kmeans(d, lists, niter=20, seed=1, spherical=True, verbose=False)
        kmeans.train(np.ascontiguousarray(unit))
        _, assigned = kmeans.index.search(np.ascontiguousarray(unit), 1)
        members = [np.flatnonzero(assigned[:, 0] == l) for l in range(lists)]
        (folder / "centroids.bin").write_bytes(kmeans.centroids.astype("<f4").tobytes())
    for l, rows in enumerate(members):
        with open(folder / f"{l}.bin", "wb") as f:
            f.write(data.q[rows].astype("<i1").tobytes())
            f.write(data.scales[rows].astype("<f4").tobytes())
            f.write(rows.astype("<i4").tobytes())
    return len(members)


def _write_bodies(folder: Path, data: BrowserData) -> None:
    folder.mkdir()
    by_article: dict[int, dict[str, str]] = {}
    for row, (a, body) in enumerate(zip(data.row_article.tolist(), data.bodies)):
        by_article.setdefault(a, {})[str(row)] = body
    for a, bodies in by_article.items():
        (folder / f"{a}.json").write_text(_dumps(bodies), encoding="utf-8")


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
