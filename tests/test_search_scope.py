"""search.scope: the features that say whether an article covers a query, and the fitted model.

The quality figures on the labelled sets are in test_search_quality (they need the model); these
need no model.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from search import lexical, scope
from search.lexical import LexicalIndex


def _index(docs: list[str]) -> LexicalIndex:
    return LexicalIndex.from_tokens(list(range(len(docs))), [lexical.tokens(d) for d in docs])


DOCS = ["random forest bagging of decision trees", "gradient boosting trees shrinkage",
        "感受野的计算公式", "autograd computes gradients", "forest forest forest trees"]


def _brute_coverage(docs: list[str], query: str) -> tuple[float, float]:
    n = len(docs)
    sets = [set(lexical.tokens(d)) for d in docs]
    weight = {}
    for t in lexical.tokens(query):
        df = sum(t in s for s in sets)
        weight.setdefault(t, math.log(1 + (n - df + 0.5) / (df + 0.5)))
    toks = lexical.tokens(query)
    total = sum(weight[t] for t in toks)
    known = sum(weight[t] for t in toks if any(t in s for s in sets))
    best = max(sum(weight[t] for t in toks if t in s) for s in sets)
    return known / total, best / total


@pytest.mark.parametrize("query", ["random forest", "forest LoRA adapters", "感受野 计算", "trees trees gradients",
                                   "completely unknown words"])
def test_coverage_is_the_idf_share_held_by_the_corpus_and_by_the_best_chunk(query):
    got = _index(DOCS).coverage(query)
    assert got == pytest.approx(_brute_coverage(DOCS, query), abs=1e-12)


def test_a_query_without_terms_holds_nothing_and_an_unknown_term_weighs_most():
    idx = _index(DOCS)
    assert idx.coverage("the of 的") == (0.0, 0.0)
    assert idx.coverage("zzqx")[0] == 0.0
    # An unknown term weighs more than any known one, so it lowers the share more than a rare known term.
    assert lexical.idf(len(DOCS), 0) > idx.idf.max()
    assert idx.coverage("forest zzqx")[0] < idx.coverage("forest autograd")[0]


def test_the_language_is_chinese_when_any_cjk_character_is_there():
    assert scope.language("how do I train on several GPUs") == "en"
    assert scope.language("friedman_mse 准则") == "zh"
    assert scope.language("ＤＤＰ") == "en"


def test_relevance_rises_with_each_feature_and_the_cut_decides():
    model = scope.DEFAULT.models["en"]
    low = {"dense": 0.1, "coverage": 0.2, "vocabulary": 0.5}
    for f in scope.FEATURES:
        assert model.relevance({**low, f: low[f] + 0.3}) > model.relevance(low), f
    text = "an english query"
    relevance, covered = scope.DEFAULT.judge(text, low)
    assert covered == (model.relevance(low) >= model.cut) and relevance == round(model.relevance(low), 4)
    assert scope.Model({f: -1000.0 for f in scope.FEATURES}, 0.0, 0.5).relevance({f: 1.0 for f in scope.FEATURES}) == 0.0


def test_fit_separates_covered_from_uncovered_queries_and_leaves_the_stated_share_below_the_cut():
    rng = np.random.default_rng(0)
    rows = []
    for lang, text in (("en", "query"), ("zh", "查询")):
        for covered, centre in ((True, 0.6), (False, 0.2)):
            for x in rng.normal(centre, 0.08, size=(100, 3)):
                rows.append({"q": text, "covered": covered, **dict(zip(scope.FEATURES, x.tolist()))})
    models = scope.fit(rows, false_alarms=0.05)
    for lang, text in (("en", "query"), ("zh", "查询")):
        m = models[lang]
        assert all(w > 0 for w in m.weights.values())
        judged = [(r["covered"], m.relevance(r) >= m.cut) for r in rows if r["q"] == text]
        assert sum(c and not j for c, j in judged) == 5  # 5% of the 100 covered rows fall below the cut
        assert sum(not c and not j for c, j in judged) >= 95


def test_fit_needs_both_kinds_of_query_in_each_language():
    rows = [{"q": "query", "covered": True, "dense": 0.5, "coverage": 0.5, "vocabulary": 0.5}] * 3
    with pytest.raises(ValueError, match="en model needs covered and uncovered"):
        scope.fit(rows)


def test_the_site_gets_the_issue_form_of_a_github_repository_and_nothing_for_other_hosts(tmp_path):
    from book import search_assets
    from kb.files import read_json

    site = tmp_path / "site" / search_assets.SUBDIR / search_assets.SITE_FILE
    for url, want in (("https://github.com/o/r.git", "https://github.com/o/r/issues/new"),
                      ("https://git.example.org/o/r", ""), (None, "")):
        (tmp_path / "_config.yml").write_text(f"repository:\n  url: {url}\n" if url else "title: t\n")
        search_assets.install(tmp_path, tmp_path / "site")
        assert read_json(site) == {"new_issue_url": want}, url
