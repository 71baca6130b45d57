"""Answering a query: embed it, search the chunks, and group hits per article."""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from search.index import BUILD_COMMAND, IndexCorrupt, SearchIndex, index_dir, load_index

MAX_QUERY_CHARS = 1000
MAX_K = 50
SNIPPET_CHARS = 160
# Chunks fetched per wanted article: an article usually owns several of the
# best chunks, so grouping needs more hits than k. Both rankings are always
# taken this deep, as for the largest k: with a pool that grew with k, RRF
# fused different rankings for different k, and k=5 and k=10 could disagree
# on the first result.
CHUNKS_PER_RESULT = 8
# Implementation chunks (narrative, code comments) are many per article once
# an article is implemented, and taking the max over many chunks favours long
# articles; a small handicap keeps them useful for implementation questions
# without letting them outrank the article whose subject the reader asked about.
KIND_PENALTY = {"impl": 0.02}


@dataclass
class Result:
    slug: str
    title: str
    title_en: str
    path: str
    score: float
    snippet: str

    def to_json(self) -> dict:
        return asdict(self)


class QueryError(ValueError):
    """A query that cannot be answered as asked (empty, too long, bad k)."""


def check_query(text: str, k: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}")
    return text.strip()


def snippet(body: str, limit: int = SNIPPET_CHARS) -> str:
    text = re.sub(r"\s+", " ", body).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@contextmanager
def _one_faiss_thread():
    """Scan for one query on one OpenMP thread.

    A single-query scan is memory-bound, so a second thread gains nothing
    (100k chunks: 11 ms on one thread, 14 ms on two), and right after a NumPy
    query embedding it fights OpenBLAS threads that are still spin-waiting
    (43 ms). The setting is per calling thread in libgomp, and restored, so
    batch searches elsewhere (related articles) keep every core.
    """
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class Searcher:
    """The model and index, loaded once; ``search`` is safe to call from many threads.

    Ranking: the dense (embedding) ranking of articles, fused with a BM25
    ranking by reciprocal rank when ``hybrid`` (see ``search.lexical``). An
    article's dense score is its best chunk's cosine.
    """

    def __init__(self, root: Path, embedder, index: SearchIndex | None = None, hybrid: bool = True):
        self.root = Path(root)
        self.embedder = embedder
        self.index = index or load_index(self.root, expected_model=embedder.name)
        self.lexical = self._load_lexical() if hybrid else None
        # A title chunk makes a poor snippet (it repeats the title): show the
        # article's first passage of text instead.
        self._lead: dict[str, int] = {}
        for i, c in sorted(self.index.chunks.items(), key=lambda kv: kv[1]["n"]):
            if c["kind"] != "title":
                self._lead.setdefault(c["slug"], i)

    def _load_lexical(self):
        from search import lexical

        d = index_dir(self.root)
        fix = f"run `{BUILD_COMMAND} --full` to rebuild it."
        try:
            lex = lexical.LexicalIndex.load(d)
        except FileNotFoundError as e:
            raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} is missing; {fix}") from e
        except (OSError, ValueError, KeyError) as e:
            raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} is unreadable; {fix}") from e
        if set(lex.ids.tolist()) != set(self.index.chunks):
            raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} does not match the vectors; {fix}")
        lexical.tokens("预热")  # load jieba's dictionary now, not during the first query
        return lex

    def search(self, text: str, k: int = 10) -> list[Result]:
        text = check_query(text, k)
        vec = self.embedder.embed_queries([text])
        return self.search_vector(vec[0], k, text)

    def search_vector(self, vec: np.ndarray, k: int, text: str | None = None) -> list[Result]:
        dense = self._dense(vec, k)
        if self.lexical is None or text is None:
            ranked = [(slug, score, i) for slug, (score, i) in dense.items()][:k]
        else:
            from search.lexical import rrf

            lex = self._lexical(text, k)
            fused = rrf(list(dense), list(lex))
            order = sorted(fused, key=lambda s: -fused[s])[:k]
            ranked = [(slug, fused[slug], (dense.get(slug) or lex[slug])[1]) for slug in order]
        return [self._result(slug, score, i) for slug, score, i in ranked]

    def _pool(self, k: int) -> int:
        return max(k, MAX_K) * CHUNKS_PER_RESULT

    def _dense(self, vec: np.ndarray, k: int) -> dict[str, tuple[float, int]]:
        """Articles in dense order: slug -> (best chunk cosine, that chunk's id)."""
        idx = self.index
        if idx.vectors.ntotal == 0:
            return {}
        n = min(idx.vectors.ntotal, self._pool(k))
        with _one_faiss_thread():
            scores, ids = idx.vectors.search(np.asarray(vec, np.float32).reshape(1, -1), n)
        hits = [(s - KIND_PENALTY.get(idx.chunks[i]["kind"], 0.0), i) for s, i in zip(scores[0].tolist(), ids[0].tolist()) if i >= 0]
        hits.sort(key=lambda h: -h[0])
        return self._best_per_article(hits)

    def _lexical(self, text: str, k: int) -> dict[str, tuple[float, int]]:
        scores = self.lexical.scores(text)
        hit = np.flatnonzero(scores)
        if len(hit) > self._pool(k):
            hit = hit[np.argpartition(-scores[hit], self._pool(k))[: self._pool(k)]]
        hit = hit[np.argsort(-scores[hit], kind="stable")]
        return self._best_per_article((float(scores[r]), int(self.lexical.ids[r])) for r in hit)

    def _best_per_article(self, hits) -> dict[str, tuple[float, int]]:
        best: dict[str, tuple[float, int]] = {}
        for s, i in hits:  # best first: an article's first hit is its score
            if i >= 0:
                best.setdefault(self.index.chunks[i]["slug"], (s, i))
        return best

    def _result(self, slug: str, score: float, chunk_id: int) -> Result:
        art = self.index.articles.get(slug, {})
        return Result(slug=slug, title=art.get("title", slug), title_en=art.get("title_en", ""),
                      path=art.get("path", ""), score=round(float(score), 4),
                      snippet=snippet(self.index.chunks[self._snippet_chunk(slug, chunk_id)]["body"]))

    def _snippet_chunk(self, slug: str, chunk_id: int) -> int:
        if self.index.chunks[chunk_id]["kind"] == "title":
            return self._lead.get(slug, chunk_id)
        return chunk_id
