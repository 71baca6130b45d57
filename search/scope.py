"""Does any article cover the query? A relevance signal that does not depend on rank.

Ranking always returns the nearest articles, even for a question the book does not cover (LoRA,
CTC loss, SVM kernels): fused ranks say which article is nearest, not whether it is near. Three
features of the query say how near:

- ``dense``: the best chunk's dense score (the centred cosine of ``search.ranking``, minus its kind
  penalty): how close the nearest passage is in meaning;
- ``coverage``: the share of the query's terms (weighted by BM25's idf) that the best single chunk
  holds together (``search.lexical.LexicalIndex.coverage``);
- ``vocabulary``: the share that occurs anywhere in the corpus: a question naming a subject the book
  never mentions (a rare, unknown term carries the largest idf) holds little of it.

A logistic model per language (Chinese when the query has a CJK character, else English: the
features sit at different levels in the two) turns them into ``relevance``, the probability that an
article covers the query, and the query counts as covered when ``relevance >= cut``. The cut keeps
about 3% of the in-scope dev queries below it, so that on unseen queries the false alarms stay
under 5%.

The constants were fitted by ``python -m search eval --scope --tune`` on the dev halves of
``eval_queries_hard.yaml`` (in scope) and ``eval_queries_scope.yaml`` (out of scope); the test
halves and ``eval_queries.yaml`` were kept out. The browser computes the same features from the
shipped postings and vectors and reads these constants from ``meta.json`` (``core.mjs``).
A site whose articles change a lot should run the tuning again: the features are shares and
cosines, so they move little as articles are added, but the fit saw this corpus only.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from kb.text import CJK_CLASS

FEATURES = ("dense", "coverage", "vocabulary")
# What the page and `python -m search query` say before the nearest articles.
NOT_COVERED = "没有文章专门讲这个 · No article covers this yet"
# The share of in-scope dev queries allowed below the cut when tuning (the target on unseen
# queries is 5%; the dev half is small, so the cut keeps a margin).
DEV_FALSE_ALARMS = 0.03
_CJK = re.compile(f"[{CJK_CLASS}]")


def language(text: str) -> str:
    """"zh" when ``text`` has a CJK character (code-switched queries included), else "en"."""
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class Model:
    """relevance = sigmoid(bias + Σ weights·features); covered when relevance >= cut."""
    weights: dict
    bias: float
    cut: float

    def relevance(self, features: dict) -> float:
        z = self.bias
        for f in FEATURES:  # in this order, as core.mjs adds them
            z += self.weights[f] * features[f]
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


@dataclass(frozen=True)
class Scope:
    models: dict = field(default_factory=lambda: dict(DEFAULT_MODELS))

    def judge(self, text: str, features: dict) -> tuple[float, bool]:
        """(relevance rounded to 1e-4, covered) for a query and its ``features``."""
        model = self.models[language(text)]
        r = model.relevance(features)
        return round(r, 4), r >= model.cut

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "cjk": CJK_CLASS,
                "models": {lang: asdict(m) for lang, m in self.models.items()}}


# Printed by `python -m search eval --scope --tune` (the dev halves); see the module docstring.
DEFAULT_MODELS = {
    "en": Model(weights={"dense": 34.3673, "coverage": 6.4347, "vocabulary": 5.135}, bias=-27.2196, cut=0.368622),
    "zh": Model(weights={"dense": 57.7446, "coverage": 5.6845, "vocabulary": 5.2089}, bias=-43.2401, cut=0.343592),
}
DEFAULT = Scope()


def fit(rows: list[dict], false_alarms: float = DEV_FALSE_ALARMS) -> dict[str, Model]:
    """One model per language from ``rows`` ({"q", "covered": bool, and the FEATURES}): logistic
    regression on standardised features (L2, C = 1), weights given back in the raw units, and the
    cut that leaves the share ``false_alarms`` of the covered rows (rounded down) below it."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    models = {}
    for lang in ("en", "zh"):
        sub = [r for r in rows if language(r["q"]) == lang]
        y = np.array([bool(r["covered"]) for r in sub])
        if len(set(y.tolist())) < 2:
            raise ValueError(f"fitting the {lang} model needs covered and uncovered queries")
        x = np.array([[r[f] for f in FEATURES] for r in sub], np.float64)
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        clf = LogisticRegression(C=1.0, max_iter=10_000).fit((x - mu) / sd, y)
        w = clf.coef_[0] / sd
        b = float(clf.intercept_[0] - (w * mu).sum())
        model = Model(weights={f: round(float(v), 4) for f, v in zip(FEATURES, w)}, bias=round(b, 4), cut=0.5)
        covered = sorted(model.relevance(dict(zip(FEATURES, row))) for row, c in zip(x.tolist(), y) if c)
        # That many covered queries fall below the cut, which sits just under the next one, so that
        # no labelled query sits on it (the browser's float sums may differ in the last digits).
        k = int(false_alarms * len(covered))
        cut = covered[k] - min(1e-4, (covered[k] - covered[k - 1]) / 2 if k else covered[0] / 2)
        models[lang] = Model(weights=model.weights, bias=model.bias, cut=round(float(cut), 6))
    return models
