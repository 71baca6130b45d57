"""The on-disk index: FAISS vectors, a JSON sidecar, and incremental rebuilds.

Layout under ``<root>/_build/search/``:

- ``index.faiss``: ``IndexIDMap`` over an exact inner-product ``IndexFlatIP``.
  Vectors are unit length, so inner product is cosine. Flat is exact and fast
  far beyond our size, and unlike HNSW it can remove ids, which incremental
  rebuilds need.
- ``meta.json``: the model and dimension that built the vectors, and for every
  int64 id which article and chunk it holds and the chunk's content hash.
- ``related.json``: each article's five nearest articles, for the static site.
- ``bm25.npz``: the lexical side of hybrid search (see ``search.lexical``).

Ids are never reused: an unchanged chunk keeps its id across rebuilds, a new
or edited one gets a fresh id.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb import layout
from kb.files import atomic_write, write_json
from search.chunks import Chunk, article_chunks

INDEX_FILE = "index.faiss"
META_FILE = "meta.json"
FORMAT = 1
RELATED_PER_ARTICLE = 5
BUILD_COMMAND = "python -m search build"


class SearchIndexError(RuntimeError):
    """A bad index state; the message names the file and the command that fixes it."""


class IndexMissing(SearchIndexError):
    pass


class IndexCorrupt(SearchIndexError):
    pass


class IndexModelMismatch(SearchIndexError):
    def __init__(self, message: str, built_with: str, wanted: str):
        super().__init__(message)
        self.built_with, self.wanted = built_with, wanted


def index_dir(root: Path) -> Path:
    return layout.search_dir(root)


@dataclass
class SearchIndex:
    model: str
    dimension: int
    vectors: object  # faiss.IndexIDMap
    chunks: dict[int, dict] = field(default_factory=dict)  # id -> {slug, kind, n, hash, body}
    articles: dict[str, dict] = field(default_factory=dict)  # slug -> {title, title_en, path, topic}
    next_id: int = 0

    @classmethod
    def empty(cls, model: str, dimension: int) -> "SearchIndex":
        import faiss

        return cls(model, dimension, faiss.IndexIDMap(faiss.IndexFlatIP(dimension)))

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        ids = np.arange(self.next_id, self.next_id + len(chunks), dtype=np.int64)
        if len(chunks):
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for i, c in zip(ids.tolist(), chunks):
            self.chunks[i] = {"slug": c.slug, "kind": c.kind, "n": c.n, "hash": c.hash, "body": c.body}
        self.next_id += len(chunks)

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))
        for i in ids:
            del self.chunks[i]

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) in storage order; flat storage makes this a copy, not a search."""
        import faiss

        n = self.vectors.ntotal
        ids = faiss.vector_to_array(self.vectors.id_map).astype(np.int64)
        if n == 0:
            return ids, np.zeros((0, self.dimension), np.float32)
        return ids, faiss.downcast_index(self.vectors.index).reconstruct_n(0, n)


# ------------------------------------------------------------------ disk
def save_index(root: Path, idx: SearchIndex) -> None:
    import faiss

    from search import lexical

    d = index_dir(root)
    atomic_write(d / INDEX_FILE, lambda p: faiss.write_index(idx.vectors, str(p)))
    ids = sorted(idx.chunks)
    docs = [lexical.tokens(lexical.chunk_text(idx.chunks[i], idx.articles.get(idx.chunks[i]["slug"], {}))) for i in ids]
    lexical.LexicalIndex.from_tokens(ids, docs).save(d, atomic_write)
    # The sidecar goes last and records what it expects of the vector file, so
    # a crash between the two renames is detected rather than trusted.
    meta = {
        "format": FORMAT,
        "model": idx.model,
        "dimension": idx.dimension,
        "count": int(idx.vectors.ntotal),
        "faiss_bytes": (d / INDEX_FILE).stat().st_size,
        "next_id": idx.next_id,
        "articles": idx.articles,
        "chunks": [{"id": i, **c} for i, c in sorted(idx.chunks.items())],
    }
    write_json(d / META_FILE, meta, indent=None)


def load_index(root: Path, expected_model: str | None = None) -> SearchIndex:
    import faiss

    d = index_dir(root)
    meta_path, faiss_path = d / META_FILE, d / INDEX_FILE
    if not meta_path.exists() or not faiss_path.exists():
        raise IndexMissing(f"No search index at {d}: run `{BUILD_COMMAND}` first.")
    corrupt = f"run `{BUILD_COMMAND} --full` to rebuild it."
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        model, dim = str(meta["model"]), int(meta["dimension"])
    except (ValueError, KeyError, TypeError) as e:
        raise IndexCorrupt(f"The search index metadata {meta_path} is unreadable ({e}); {corrupt}") from e
    if expected_model is not None:
        check_model(root, model, expected_model)
    if faiss_path.stat().st_size != meta.get("faiss_bytes"):
        raise IndexCorrupt(f"The search index {faiss_path} does not match {meta_path} "
                           f"(interrupted write or edited file); {corrupt}")
    try:
        vectors = faiss.read_index(str(faiss_path))
    except RuntimeError as e:
        raise IndexCorrupt(f"The search index {faiss_path} is corrupted; {corrupt}") from e
    chunks = {int(c.pop("id")): c for c in meta.get("chunks", [])}
    ok = (isinstance(vectors, faiss.IndexIDMap) and vectors.d == dim and vectors.ntotal == len(chunks)
          and set(faiss.vector_to_array(vectors.id_map).tolist()) == set(chunks))
    if not ok:
        raise IndexCorrupt(f"The search index {faiss_path} does not match {meta_path}; {corrupt}")
    return SearchIndex(model, dim, vectors, chunks, dict(meta.get("articles", {})), int(meta["next_id"]))


def check_model(root: Path, built_with: str, expected_model: str) -> None:
    """Raise ``IndexModelMismatch`` unless the index was built with ``expected_model``.

    Apart from ``load_index`` so that a command can load the index (cheap, and where a missing or
    corrupt index shows) before the model (slow), and compare the two afterwards.
    """
    if built_with != expected_model:
        raise IndexModelMismatch(
            f"The search index {index_dir(root) / INDEX_FILE} was built with model {built_with!r}, but the "
            f"configured model is {expected_model!r}. Run `{BUILD_COMMAND}` to rebuild it with "
            f"{expected_model!r} (or set KB_SEARCH_MODEL={built_with} to use the index as it is).",
            built_with, expected_model,
        )


# ----------------------------------------------------------------- build
@dataclass
class BuildReport:
    articles: int = 0
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    full: bool = False
    reason: str = ""
    seconds: float = 0.0

    def summary(self) -> str:
        how = f"full rebuild ({self.reason})" if self.full else "incremental"
        return (f"{self.articles} articles: {self.embedded} chunks embedded, {self.reused} reused, "
                f"{self.removed} removed; {how}; {self.seconds:.1f} s")


def article_record(article) -> dict:
    return {"title": article.title, "title_en": article.title_en,
            "path": Path(article.path).as_posix(), "topic": article.topic}


def _previous(root: Path, model: str, full: bool) -> tuple[SearchIndex | None, str]:
    if full:
        return None, "asked for"
    try:
        return load_index(root, expected_model=model), ""
    except IndexMissing:
        return None, "no index yet"
    except IndexModelMismatch as e:
        return None, f"index was built with {e.built_with!r}, now {e.wanted!r}"
    except IndexCorrupt:
        return None, "previous index unreadable"


def build_index(root: Path, articles: list, embedder, full: bool = False) -> BuildReport:
    """Bring the index in line with ``articles``, embedding only what changed.

    A chunk is reused when the same article still has a chunk with the same
    content hash, so editing one article re-embeds that article's changed
    chunks only; articles that disappeared leave the index; another model
    invalidates every vector.
    """
    start = time.perf_counter()
    root = Path(root)
    idx, reason = _previous(root, embedder.name, full)
    report = BuildReport(articles=len(articles), full=idx is None, reason=reason)
    if idx is None or idx.dimension != embedder.dimension:
        idx = SearchIndex.empty(embedder.name, embedder.dimension)

    wanted = {a.slug: article_chunks(a) for a in articles}
    # (slug, hash) -> existing ids; a chunk that appears twice in one article keeps both.
    have: dict[tuple[str, str], list[int]] = {}
    for i, c in sorted(idx.chunks.items()):
        have.setdefault((c["slug"], c["hash"]), []).append(i)

    keep, todo = set(), []
    for slug, chunks in wanted.items():
        for ch in chunks:
            ids = have.get((slug, ch.hash))
            if ids:
                i = ids.pop(0)
                keep.add(i)
                idx.chunks[i]["n"] = ch.n  # position may shift when a chunk before it changed
            else:
                todo.append(ch)
    stale = [i for i in idx.chunks if i not in keep]
    idx.remove(stale)
    idx.add(todo, embedder.embed_passages([c.text for c in todo]))
    idx.articles = {a.slug: article_record(a) for a in articles}
    idx.model, idx.dimension = embedder.name, embedder.dimension

    save_index(root, idx)
    write_json(layout.related_file(root), related_articles(idx), indent=None)
    report.embedded, report.reused, report.removed = len(todo), len(keep), len(stale)
    report.seconds = time.perf_counter() - start
    return report


def related_articles(idx: SearchIndex, per_article: int = RELATED_PER_ARTICLE) -> dict:
    """Each article's nearest articles by the cosine of their mean chunk vectors."""
    ids, vecs = idx.all_vectors()
    slugs = sorted(idx.articles)
    if not slugs or len(ids) == 0:
        return {s: [] for s in slugs}
    row_of = {s: r for r, s in enumerate(slugs)}
    centroids = np.zeros((len(slugs), idx.dimension), np.float32)
    for i, v in zip(ids.tolist(), vecs):
        centroids[row_of[idx.chunks[i]["slug"]]] += v
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids /= np.where(norms > 0, norms, 1)
    # A flat FAISS search over the centroids rather than a full similarity
    # matrix: 25k articles would need a 2.5 GB matrix, the search a few MB.
    import faiss

    flat = faiss.IndexFlatIP(idx.dimension)
    flat.add(centroids)
    want = min(per_article + 1, len(slugs))
    sims, nbrs = flat.search(centroids, want)
    out = {}
    for r, slug in enumerate(slugs):
        picks = [(float(s), int(j)) for s, j in zip(sims[r], nbrs[r]) if j >= 0 and j != r][:per_article]
        out[slug] = [{"slug": slugs[j], "score": round(s, 4)} for s, j in picks]
    return out
