"""How chunk scores become an article ranking: the constants and the steps both engines share.

The server (``search.query.Searcher``) runs these functions; the browser runs the same steps in
``book/_static/kb-search/core.mjs`` with the constants that ``search.browser_export`` writes into
the shipped ``meta.json`` (``Ranking.to_json``), so the two cannot drift apart silently.

- Dense: cosine between the query and each chunk after removing ``centering`` times the corpus
  mean vector from both. e5's vectors share a large common direction, so a few generic chunks
  (English abstracts that all read "the notebook builds … and checks …") were near every English
  question; centring takes that direction out ("hubness" reduction).
- An article's score is its best chunk's, an implementation chunk handicapped by ``kind_penalty``
  (many per article: the max over many favours long articles).
- Fusion: weighted reciprocal ranks of the dense and BM25 article rankings.

The numbers were chosen on the dev half of ``eval_queries_hard.yaml`` (``python -m search eval
--tune`` prints the grid), the test half and the easy set kept out of the choice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class Ranking:
    centering: float = 0.5
    kind_penalty: dict = field(default_factory=lambda: {"impl": 0.02})
    rrf_k: float = 5
    dense_weight: float = 1.0
    lexical_weight: float = 2.0

    def to_json(self) -> dict:
        return asdict(self)


DEFAULT = Ranking()
# The grid ``python -m search eval --tune`` searches (on the dev split).
GRID = {"centering": (0.0, 0.25, 0.5, 0.75), "rrf_k": (5, 10, 30, 60), "lexical_weight": (0.5, 1.0, 1.5, 2.0, 3.0)}


def quantize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and their float32 scales (``row ≈ q * scale``): how the browser receives the
    vectors (``search.browser_export``). The server scores the same dequantized rows, so near-ties
    break the same way on both sides."""
    v = np.asarray(vectors, np.float32)
    scale = np.abs(v).max(axis=1) / 127.0 if len(v) else np.zeros(0, np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(v / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def centred(vectors: np.ndarray, mean: np.ndarray, centering: float = DEFAULT.centering) -> np.ndarray:
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


def fuse(dense: list[str], lexical: list[str], params: Ranking = DEFAULT) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of two article rankings (best first)."""
    score: dict[str, float] = {}
    for weight, ranking in ((params.dense_weight, dense), (params.lexical_weight, lexical)):
        for r, slug in enumerate(ranking, 1):
            score[slug] = score.get(slug, 0.0) + weight / (params.rrf_k + r)
    return score


def fused_order(fused: dict[str, float]) -> list[str]:
    """Highest fused score first; ties by slug, so both engines break them the same way."""
    return sorted(fused, key=lambda s: (-fused[s], s))
