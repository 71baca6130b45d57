"""Retrieval quality on the labelled queries over the real sample articles: the easy set
(search/eval_queries.yaml) and the held-out hard set (search/eval_queries_hard.yaml).

Floors sit a little below the figures of the exported model at the time of writing, so a change
to chunking, ranking, fusion or the model that costs retrieval quality fails here, while the
wobble of a rounding change does not. ``python -m search eval [--hard --split test]`` prints the
figures with the misses (``benchmarks/browser_search_bench.py`` the browser's beside them).
"""
from __future__ import annotations

from collections import Counter

import pytest

from search import scope
from search.evaluate import (DEV_EXTRA_QUERIES, HARD_QUERIES, evaluate, hard_queries, load_queries, metrics, scope_report,
                             scope_rows)
from search.query import MAX_K, Searcher
from tests.search_support import sample_index_root, shared_embedder

pytestmark = pytest.mark.slow  # embeds every labelled query with the model

HYBRID = "hybrid (dense + BM25, RRF)"
FLOORS = {  # method -> metric -> minimum, for each language
    HYBRID: {"recall@1": 0.85, "recall@5": 0.95, "mrr": 0.90},
    "dense": {"recall@1": 0.75, "recall@5": 0.90, "mrr": 0.83},
}
LANGS = ("en", "zh")
# The hard set's held-out test half (hybrid) holds the targets: R@5 >= 0.95, MRR >= 0.85. It gave
# en 0.795 / 1.000 / 0.887, zh 0.974 / 1.000 / 0.987 (R@1 / R@5 / MRR) with the 4-bit model and
# 15k ASCII pieces (en 0.821 / 1.000 / 0.884, zh 0.923 / 1.000 / 0.957 with the earlier int8 one).
HARD_FLOORS = {"en": {"recall@5": 0.95, "mrr": 0.85}, "zh": {"recall@5": 0.95, "mrr": 0.90}}
# "No article covers this" on the test halves (search.scope): out-of-scope queries flagged at least
# this often (the target is 0.80; it gave en 0.84, zh 0.92), in-scope ones (hard test half and the
# easy set) at most this often (target 0.05; it gave 2 of 78 in each language).
SCOPE_FLAGGED_AT_LEAST, SCOPE_FALSE_ALARMS_AT_MOST = 0.80, 0.05


@pytest.fixture(scope="module")
def searcher():
    return Searcher(sample_index_root(), shared_embedder())


@pytest.fixture(scope="module")
def queries():
    return load_queries()


@pytest.fixture(scope="module")
def report(searcher, queries):
    return evaluate(searcher, queries)


def test_every_labelled_query_names_a_sample_article_in_both_languages(searcher, queries):
    # A typo in a slug would count as a miss for ever and quietly lower the figures.
    slugs = set(searcher.index.articles)
    assert {q["slug"] for q in queries} <= slugs
    assert {q["lang"] for q in queries} == set(LANGS)
    per_slug = Counter((q["slug"], q["lang"]) for q in queries)
    assert set(per_slug.values()) == {1} and len(per_slug) == 2 * len({q["slug"] for q in queries})
    assert len(queries) >= 60


@pytest.mark.parametrize("method", list(FLOORS))
@pytest.mark.parametrize("lang", LANGS)
def test_retrieval_quality_stays_above_its_floor(report, method, lang):
    m = report[method]["metrics"][lang]
    assert m["n"] >= 30
    below = {k: round(m[k], 3) for k, floor in FLOORS[method].items() if m[k] < floor}
    assert not below, f"{method}, {lang}: {below} under the floors {FLOORS[method]}; misses: {report[method]['misses']}"


@pytest.mark.parametrize("lang", LANGS + ("all",))
def test_fusing_bm25_lifts_hard_questions_and_keeps_easy_ones(report, hard_report, lang):
    hybrid, dense = hard_report[HYBRID]["metrics"][lang], hard_report["dense"]["metrics"][lang]
    assert hybrid["mrr"] >= dense["mrr"] + 0.05 and hybrid["recall@5"] >= dense["recall@5"], (hybrid, dense)
    hybrid, dense = report[HYBRID]["metrics"][lang], report["dense"]["metrics"][lang]
    assert hybrid["mrr"] >= dense["mrr"] - 0.01 and hybrid["recall@5"] >= dense["recall@5"], (hybrid, dense)


def test_the_evaluation_ranks_queries_as_search_does(report, searcher, queries):
    # evaluate() embeds all queries in one batch and ranks through search_vector;
    # what it measures must be what a reader gets from Searcher.search.
    wanted = {x["q"]: x["want"] for x in report[HYBRID]["misses"]}
    for q in queries:
        top = [r.slug for r in searcher.search(q["q"], k=5)]
        miss = q["q"] in wanted
        assert (top[0] != q["slug"]) == miss, (q, top)
    n_first = round(report[HYBRID]["metrics"]["all"]["recall@1"] * len(queries))
    assert len(report[HYBRID]["misses"]) == len(queries) - n_first


def test_fewer_results_are_the_first_of_more_results_on_the_sample_articles(searcher, queries):
    # The CLI asks for 5, the API for 10, the evaluation for every article: all must agree on the order.
    vecs = searcher.embedder.embed_queries([q["q"] for q in queries])
    for q, v in zip(queries, vecs):
        for text in (q["q"], None):  # hybrid, dense alone
            full = [r.slug for r in searcher.search_vector(v, MAX_K, text)]
            for k in (1, 5, 10):
                assert [r.slug for r in searcher.search_vector(v, k, text)] == full[:k], (q["q"], text, k)


@pytest.fixture(scope="module")
def hard_report(searcher):
    return evaluate(searcher, load_queries(HARD_QUERIES, split="test"))


@pytest.mark.parametrize("lang", LANGS)
def test_hard_held_out_questions_stay_above_their_floor(hard_report, lang):
    m = hard_report[HYBRID]["metrics"][lang]
    below = {k: round(m[k], 3) for k, floor in HARD_FLOORS[lang].items() if m[k] < floor}
    assert m["n"] >= 30 and not below, f"{lang}: {below} under {HARD_FLOORS[lang]}; misses: {hard_report[HYBRID]['misses']}"


def test_the_hard_set_is_one_dev_and_one_test_question_per_article_and_language(searcher):
    hard = load_queries(HARD_QUERIES)
    assert {q["slug"] for q in hard} == set(searcher.index.articles)
    per = Counter((q["slug"], q["lang"], q["split"]) for q in hard)
    assert set(per.values()) == {1} and len(per) == 4 * len(searcher.index.articles)
    assert {q["kind"] for q in hard} == {"paraphrase", "detail", "cross"}
    easy = {q["q"] for q in load_queries()}
    assert not easy & {q["q"] for q in hard}  # held out: none of the easy questions again


def test_the_extra_dev_queries_are_dev_only_cover_every_article_and_never_reach_the_test_half(searcher):
    extra = load_queries(DEV_EXTRA_QUERIES)
    assert {q["split"] for q in extra} == {"dev"} and {q["slug"] for q in extra} == set(searcher.index.articles)
    assert not {q["q"] for q in load_queries() + load_queries(HARD_QUERIES)} & {q["q"] for q in extra}
    assert hard_queries("test") == load_queries(HARD_QUERIES, split="test")
    assert hard_queries("dev") == load_queries(HARD_QUERIES, split="dev") + extra


@pytest.fixture(scope="module")
def scope_figures(searcher):
    return scope_rows(searcher)


@pytest.mark.parametrize("lang", LANGS)
def test_queries_no_article_covers_are_flagged_and_covered_ones_rarely(scope_figures, lang):
    rows = [r for r in scope_figures if r["lang"] == lang and r["split"] == "test"]
    flagged = {r["q"]: not scope.DEFAULT.judge(r["q"], r)[1] for r in rows}
    outside = [flagged[r["q"]] for r in rows if not r["covered"]]
    inside = [flagged[r["q"]] for r in rows if r["covered"]]
    assert len(outside) >= 20 and len(inside) >= 70
    assert sum(outside) / len(outside) >= SCOPE_FLAGGED_AT_LEAST, [r["q"] for r in rows if not r["covered"] and not flagged[r["q"]]]
    assert sum(inside) / len(inside) <= SCOPE_FALSE_ALARMS_AT_MOST, [r["q"] for r in rows if r["covered"] and flagged[r["q"]]]
    # The report counts the same thing.
    report = scope_report(scope_figures)["groups"]
    assert report[f"none/test/{lang}"]["flagged"] == round(sum(outside) / len(outside), 3)


def test_each_scope_query_is_labelled_with_the_language_its_model_reads(scope_figures):
    # search.scope picks the model by the query's script, so a mislabelled query would be judged by
    # the other language's constants in the figures and counted under the wrong language.
    assert all(scope.language(r["q"]) == r["lang"] for r in scope_figures if not r["covered"])


def test_metrics_match_a_hand_computation():
    m = metrics([1, 2, None, 5, 6])
    assert m["n"] == 5 and m["recall@1"] == pytest.approx(1 / 5) and m["recall@5"] == pytest.approx(3 / 5)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 0 + 1 / 5 + 1 / 6) / 5)
    assert metrics([]) == {"n": 0, "recall@1": 0, "recall@5": 0, "mrr": 0}


def test_labelled_queries_without_a_required_field_are_refused(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("- {lang: en, slug: clip, q: zero-shot}\n- {lang: zh, q: 没有 slug}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="entry 2 needs q, lang and slug"):
        load_queries(path)
