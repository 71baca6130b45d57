"""Suggest a topic for a new excerpt from an embedding space (the bundled multilingual model's).

Each known topic is scored by three kinds of evidence, strongest first:

* the cosine between the excerpt's opening and the topic's bilingual description (what belongs
  in that chapter: ``ingest.topics``);
* the cosines of the curated articles nearest to the excerpt, summed per topic (the articles
  vote for their own chapter);
* the topic's keywords found in the opening (a few, capped: a tie-breaker, not a classifier).

Why not the nearest articles alone: with the bundled 4-bit e5-small and 39 curated articles,
nearest-article votes put 3 or 4 of 6 held-out excerpts (normalisation layers, ViT, k-means, VAE,
ZeRO, MoCo) in the right chapter and 24-29 of the 39 articles (each left out in turn); comparing
with the descriptions does markedly better (``tests/test_topic_suggestion.py`` holds the figures).

When the excerpt is close to no description (a subject the knowledge base has no chapter for),
there is no suggestion and the caller falls back to its keyword guess.

The model is the slow part (tens of excerpts a second on two cores), so it is asked only where
the keywords are unsure: an excerpt whose opening holds at least ``KEYWORD_MARGIN`` more keyword
hits for one topic than for any other is filed there directly. On the 39 curated articles and the
six held-out excerpts, every one of the 35 excerpts that clear that margin was filed right by it
(a margin of 1 was right on 37 of 37, kept in reserve); the others, the held-out subjects among
them, go to the model. Sample-like feeds clear it about nine times in ten.

``embed(texts)`` gives unit vectors; the command line passes the model's ``embed_queries``, since
e5 wants ``query: `` on both sides of a symmetric comparison (text against text). Taking a callable
keeps the ingest library free of the model and its runtimes.
"""
from __future__ import annotations

import numpy as np

from ingest.topics import TOPICS, keyword_hits

# The opening of an excerpt names its subject; the rest drifts into details. 200 characters filed
# 5 of the 6 held-out excerpts and 39 of 39 curated articles (each left out) right, against 5 and
# 37 for 250 and 4 and 38 for 128, and costs a fifth less model time than 250.
HEAD_CHARS = 200
KEYWORD_MARGIN = 2
NEIGHBOURS = 5
NEIGHBOUR_WEIGHT = 0.01  # per neighbour cosine (about 0.9 each): it tips close calls
KEYWORD_WEIGHT = 0.02  # per keyword hit, at most MAX_KEYWORD_HITS of them
MAX_KEYWORD_HITS = 3
# e5 cosines crowd into 0.7-0.9 even for unrelated texts: below this best description
# similarity an excerpt belongs to no chapter the knowledge base has.
MIN_DESCRIPTION_SIMILARITY = 0.84


def article_text(title: str, title_en: str, excerpt: str) -> str:
    """How a curated article is compared: its titles and the opening of its excerpt."""
    return " · ".join(t for t in (title, title_en) if t) + "\n" + excerpt[:HEAD_CHARS]


def topic_scores(embed, articles: list, texts: list[str]) -> list[tuple[dict[str, float], float]]:
    """For each text: its score per topic key (see the module docstring), and its best cosine to
    a description. ``articles``: the curated ones (anything with title, title_en, text, topic)."""
    if not texts:
        return []
    keys = [t.key for t in TOPICS]
    descriptions = embed([t.description for t in TOPICS])
    heads = embed([t[:HEAD_CHARS] for t in texts])
    by_name = {t.name: t.key for t in TOPICS}
    ref_keys = [by_name.get(a.topic) for a in articles]
    refs = embed([article_text(a.title, a.title_en, a.text) for a in articles]) if articles else None
    out = []
    for text, vec in zip(texts, heads):
        cosines = descriptions @ vec
        scores = dict(zip(keys, cosines.astype(float)))
        if refs is not None:
            sims = refs @ vec
            for j in np.argsort(-sims)[:NEIGHBOURS]:
                if ref_keys[j] in scores:
                    scores[ref_keys[j]] += NEIGHBOUR_WEIGHT * float(sims[j])
        for key, hits in keyword_hits(text).items():
            scores[key] += KEYWORD_WEIGHT * min(hits, MAX_KEYWORD_HITS)
        out.append((scores, float(cosines.max())))
    return out


def keyword_topic(text: str) -> str | None:
    """The topic key the keywords name without doubt (``KEYWORD_MARGIN`` more hits than any
    other), else None."""
    hits = sorted(keyword_hits(text).items(), key=lambda kv: -kv[1])
    if hits[0][1] - (hits[1][1] if len(hits) > 1 else 0) >= KEYWORD_MARGIN:
        return hits[0][0]
    return None


def suggest_topics(embed, articles: list, texts: list[str]) -> list[str | None]:
    """The topic name suggested for each of ``texts``, or None when no chapter is close: from the
    keywords where they are sure, else from the model (see the module docstring)."""
    names = {t.key: t.name for t in TOPICS}
    out = [names[k] if (k := keyword_topic(t)) else None for t in texts]
    unsure = [i for i, t in enumerate(texts) if out[i] is None]
    scored = topic_scores(embed, articles, [texts[i] for i in unsure])
    for i, (scores, closest) in zip(unsure, scored):
        out[i] = names[max(scores, key=scores.get)] if closest >= MIN_DESCRIPTION_SIMILARITY else None
    return out
