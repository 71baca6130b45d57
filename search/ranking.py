"""How chunk scores become an article ranking: the constants and the steps both engines share.

The server (``search.query.Searcher``) runs these functions; the browser runs the same steps in
``book/_static/kb-search/core.mjs`` with the constants that ``search.browser_export`` writes into
the shipped ``meta.json`` (``browser_ranking()``), so the two cannot drift apart silently.

- Dense: cosine between the query and each chunk after removing ``CENTERING`` times the corpus
  mean vector from both. e5's vectors share a large common direction, so a few generic chunks
  (English abstracts that all read "the notebook builds … and checks …") were near every English
  question; centring takes that direction out ("hubness" reduction).
- An article's score is its best chunk's, an implementation chunk handicapped by ``KIND_PENALTY``
  (many per article: the max over many favours long articles).
- Fusion: weighted reciprocal ranks of the dense and BM25 article rankings.

The numbers were chosen on the dev half of ``eval_queries_hard.yaml`` (``python -m search eval
--tune`` prints the grid), the test half and the easy set kept out of the choice.
"""
from __future__ import annotations

import numpy as np

CENTERING = 0.5
KIND_PENALTY = {"impl": 0.02}
RRF_K = 10
DENSE_WEIGHT, LEXICAL_WEIGHT = 1.0, 2.0


def centred(vectors: np.ndarray, mean: np.ndarray, centering: float = CENTERING) -> np.ndarray:
    """Rows minus ``centering`` × ``mean``, normalised again (a zero row stays zero)."""
    out = np.asarray(vectors, np.float32) - np.float32(centering) * np.asarray(mean, np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.where(norms > 0, norms, 1)


def best_per_article(hits, slug_of) -> dict[str, tuple[float, int]]:
    """``hits`` (score, chunk id), best first → {slug: (its best score, that chunk)} in that order."""
    best: dict[str, tuple[float, int]] = {}
    for s, i in hits:
        if i >= 0:
            best.setdefault(slug_of(i), (s, i))
    return best


def fuse(dense: list[str], lexical: list[str], dense_weight: float = DENSE_WEIGHT,
         lexical_weight: float = LEXICAL_WEIGHT, k: float = RRF_K) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of two article rankings (best first)."""
    score: dict[str, float] = {}
    for weight, ranking in ((dense_weight, dense), (lexical_weight, lexical)):
        for r, slug in enumerate(ranking, 1):
            score[slug] = score.get(slug, 0.0) + weight / (k + r)
    return score


def fused_order(fused: dict[str, float]) -> list[str]:
    """Highest fused score first; ties by slug, so both engines break them the same way."""
    return sorted(fused, key=lambda s: (-fused[s], s))


def browser_ranking() -> dict:
    return {"centering": CENTERING, "kind_penalty": KIND_PENALTY, "rrf_k": RRF_K,
            "dense_weight": DENSE_WEIGHT, "lexical_weight": LEXICAL_WEIGHT}
