"""Answering a query: embed it, search the chunks, and group hits per article."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from search import ranking, scope
from search.snippets import SNIPPET_CHARS, snippet
from search.index import BUILD_COMMAND, IndexCorrupt, SearchIndex, index_dir, load_index

MAX_QUERY_CHARS = 1000
MAX_K = 50
# Chunks fetched per wanted article: an article usually owns several of the
# best chunks, so grouping needs more hits than k. Both rankings are always
# taken this deep, as for the largest k: with a pool that grew with k, RRF
# fused different rankings for different k, and k=5 and k=10 could disagree
# on the first result.
CHUNKS_PER_RESULT = 8


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


@dataclass
class Answer:
    """Results and whether an article covers the query (``search.scope``): ``covered`` and
    ``relevance`` are None when it cannot be told (no BM25 side, or an empty index)."""
    results: list[Result]
    covered: bool | None
    relevance: float | None

    def to_json(self) -> dict:
        return {"results": [r.to_json() for r in self.results], "covered": self.covered,
                "relevance": self.relevance}


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


def load_lexical(root: Path, index: SearchIndex):
    """The BM25 side of ``index``; ``IndexCorrupt`` when it is missing, unreadable or from another build.

    A function of its own so that a command can check the whole index before it loads the model.
    """
    from search import lexical

    d = index_dir(root)
    fix = f"run `{BUILD_COMMAND} --full` to rebuild it."
    try:
        lex = lexical.LexicalIndex.load(d)
    except FileNotFoundError as e:
        raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} is missing; {fix}") from e
    except (OSError, ValueError, KeyError) as e:
        raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} is unreadable; {fix}") from e
    if set(lex.ids.tolist()) != set(index.chunks):
        raise IndexCorrupt(f"The lexical index {d / lexical.LEXICAL_FILE} does not match the vectors; {fix}")
    return lex


class Searcher:
    """The model and index, loaded once; ``search`` is safe to call from many threads.

    Ranking: the dense (embedding) ranking of articles, fused with a BM25
    ranking by weighted reciprocal rank when ``hybrid``; ``search.ranking``
    holds the steps and constants, shared with the browser engine.
    """

    def __init__(self, root: Path, embedder, index: SearchIndex | None = None, hybrid: bool = True,
                 params: ranking.Ranking = ranking.DEFAULT, lexical=None, scope_model: scope.Scope = scope.DEFAULT):
        self.root = Path(root)
        self.embedder = embedder
        self.index = index or load_index(self.root, expected_model=embedder.name)
        self.lexical = (lexical or load_lexical(self.root, self.index)) if hybrid else None
        ids, vectors = self.index.all_vectors()
        # The mean of the exact vectors (shipped to the browser as is); scores from the int8 rows
        # the browser holds (``rows``: what search.browser_export ships), so both engines break
        # near-ties alike.
        self.mean = vectors.mean(axis=0) if len(ids) else np.zeros(self.index.dimension, np.float32)
        self.ids, self.rows = ids, ranking.quantize_rows(vectors)
        self.set_ranking(params)
        self.scope = scope_model
        # A title chunk makes a poor snippet (it repeats the title): show the
        # article's first passage of text instead.
        self.snippet_chars = SNIPPET_CHARS
        self.lead: dict[str, int] = {}
        for i, c in sorted(self.index.chunks.items(), key=lambda kv: kv[1]["n"]):
            if c["kind"] != "title":
                self.lead.setdefault(c["slug"], i)

    def set_ranking(self, params: ranking.Ranking) -> None:
        """Index the rows for ``params``: FAISS ``IndexFlatIP`` over the centred rows, each with one
        more coordinate holding minus its kind's penalty (the query's is 1), so that one exact
        inner-product search gives cosine minus penalty. Flat because the browser scores every row
        exactly and the two must rank alike (an IVF or HNSW index would drop some near rows); at
        100k chunks a flat search takes milliseconds (``benchmarks/search_bench.py``)."""
        import faiss

        self.params = params
        q, scale = self.rows
        centred = ranking.centred(q.astype(np.float32) * scale[:, None], self.mean, params.centering)
        penalty = np.array([params.kind_penalty.get(self.index.chunks[i]["kind"], 0.0)
                            for i in self.ids.tolist()], np.float32)
        self._flat = faiss.IndexFlatIP(self.index.dimension + 1)
        if len(penalty):
            self._flat.add(np.ascontiguousarray(np.hstack([centred, -penalty[:, None]])))

    def search(self, text: str, k: int = 10) -> list[Result]:
        text = check_query(text, k)
        vec = self.embedder.embed_queries([text])
        return self.search_vector(vec[0], k, text)

    def answer(self, text: str, k: int = 10) -> Answer:
        """``search``'s results, and whether an article covers the query at all."""
        text = check_query(text, k)
        return self.answer_vector(self.embedder.embed_queries([text])[0], k, text)

    def search_vector(self, vec: np.ndarray, k: int, text: str | None = None) -> list[Result]:
        return self._ranked(vec, k, text)[0]

    def answer_vector(self, vec: np.ndarray, k: int, text: str) -> Answer:
        results, dense = self._ranked(vec, k, text)
        features = self._scope_features(text, dense)
        if features is None:
            return Answer(results, None, None)
        relevance, covered = self.scope.judge(text, features)
        return Answer(results, covered, relevance)

    def scope_features(self, vec: np.ndarray, text: str) -> dict | None:
        """``search.scope.FEATURES`` of a query (None without the BM25 side or any chunk)."""
        return self._scope_features(text, self._dense(vec, 1))

    def _scope_features(self, text: str, dense: dict) -> dict | None:
        if self.lexical is None or not dense:
            return None
        vocabulary, coverage = self.lexical.coverage(text)
        return {"dense": next(iter(dense.values()))[0], "coverage": coverage, "vocabulary": vocabulary}

    def _ranked(self, vec: np.ndarray, k: int, text: str | None) -> tuple[list[Result], dict]:
        dense = self._dense(vec, k)
        if self.lexical is None or text is None:
            ranked = [(slug, score, i) for slug, (score, i) in dense.items()][:k]
        else:
            lex = self._lexical(text, k)
            fused = ranking.fuse(list(dense), list(lex), self.params)
            order = ranking.fused_order(fused)[:k]
            ranked = [(slug, fused[slug], (dense.get(slug) or lex[slug])[1]) for slug in order]
        return [self._result(slug, score, i, text) for slug, score, i in ranked], dense

    def _pool(self, k: int) -> int:
        return max(k, MAX_K) * CHUNKS_PER_RESULT

    def _dense(self, vec: np.ndarray, k: int) -> dict[str, tuple[float, int]]:
        """Articles in dense order: slug -> (best chunk score, that chunk's id)."""
        if not len(self.ids):
            return {}
        q = ranking.centred(np.asarray(vec, np.float32).reshape(1, -1), self.mean, self.params.centering)
        scores, rows = self._flat.search(np.hstack([q, np.ones((1, 1), np.float32)]), min(len(self.ids), self._pool(k)))
        scores, rows = scores[0], rows[0]
        order = np.lexsort((self.ids[rows], -scores))  # equal scores: the lower id first, as the browser does
        return self._best_per_article((float(scores[r]), int(self.ids[rows[r]])) for r in order)

    def _lexical(self, text: str, k: int) -> dict[str, tuple[float, int]]:
        scores = self.lexical.scores(text)
        hit = np.flatnonzero(scores)
        # Equal scores at the pool's edge: the lower ids stay, as in the browser.
        hit = hit[np.lexsort((self.lexical.ids[hit], -scores[hit]))][: self._pool(k)]
        return self._best_per_article((float(scores[r]), int(self.lexical.ids[r])) for r in hit)

    def _best_per_article(self, hits) -> dict[str, tuple[float, int]]:
        return ranking.best_per_article(hits, lambda i: self.index.chunks[i]["slug"])

    def _result(self, slug: str, score: float, chunk_id: int, text: str | None = None) -> Result:
        art = self.index.articles.get(slug, {})
        return Result(slug=slug, title=art.get("title", slug), title_en=art.get("title_en", ""),
                      path=art.get("path", ""), score=round(float(score), 4),
                      snippet=snippet(self.index.chunks[self._snippet_chunk(slug, chunk_id)]["body"], text,
                                      self.snippet_chars))

    def _snippet_chunk(self, slug: str, chunk_id: int) -> int:
        if self.index.chunks[chunk_id]["kind"] == "title":
            return self.lead.get(slug, chunk_id)
        return chunk_id
