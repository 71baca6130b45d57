"""The browser engine ranks exactly as the server on the shipped data.

``core.mjs`` runs under Node on the files ``python -m search build`` wrote into
``_build/search/browser/``, given the query vectors the server computes (so this checks the ranking,
not the model: ``test_browser_search`` compares the vectors the page computes), and must return the
server's articles in the server's order for every labelled query.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb import layout
from kb.files import read_json
import yaml

from search import browser_export, ranking, scope
from search.evaluate import HARD_QUERIES, SCOPE_QUERIES, load_queries
from search.index import build_index
from search.query import CHUNKS_PER_RESULT, MAX_K, MAX_QUERY_CHARS, Searcher, check_query
from tests.conftest import REPO
from tests.node_support import needs_node, run_core
from tests.search_support import FakeEmbedder, make_article, shared_embedder

pytestmark = needs_node
SHIPPED = layout.browser_search_dir(REPO)
KS = (5, 10)
# Shown scores are the fused reciprocal ranks, which both engines add up from the same ranks in the
# same order, so the unrounded doubles are equal. They are shown rounded to 4 decimals, by Python's
# round() (the exact binary value, halves to even) and by JavaScript's Math.round(score × 1e4) / 1e4
# (halves up, after a multiplication that can itself round), which may differ by one unit in that
# last place: a different rank would move a score by more (the order is compared exactly anyway).
SCORE_TOLERANCE = 1e-4 + 1e-9


@pytest.fixture(scope="module")
def shipped():
    if not (SHIPPED / "meta.json").exists():
        pytest.fail(f"no exported browser search data in {SHIPPED}: run `python -m search build`")
    return json.loads((SHIPPED / "meta.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def searcher(shipped):
    searcher = Searcher(REPO, shared_embedder())
    chunks = [searcher.index.chunks[i]["slug"] for i in sorted(searcher.ids.tolist())]
    if [c["slug"] for c in shipped["chunks"]] != chunks:
        pytest.fail(f"{SHIPPED} was exported from another index than {layout.search_dir(REPO)}: "
                    "run `python -m search build`")
    return searcher


@pytest.mark.slow  # the embedding model
def test_the_shipped_meta_carries_the_servers_limits(shipped):
    assert (shipped["max_k"], shipped["max_query_chars"], shipped["chunks_per_result"]) == (
        MAX_K, MAX_QUERY_CHARS, CHUNKS_PER_RESULT)


@pytest.mark.slow  # the embedding model
def test_the_browser_ranks_every_labelled_query_exactly_as_the_server(searcher):
    texts = [check_query(q["q"], max(KS)) for q in load_queries() + load_queries(HARD_QUERIES)]
    assert len(texts) > 200
    vectors = searcher.embedder.embed_queries(texts)
    server = {k: [[(r.slug, r.score) for r in searcher.search_vector(v, k, t)] for t, v in zip(texts, vectors)]
              for k in KS}
    searches = [[t, v.tolist(), k] for k in KS for t, v in zip(texts, vectors)]
    got = iter(run_core({"index": str(SHIPPED), "searches": searches})["results"])
    browser = {k: [[(r["slug"], r["score"]) for r in next(got)] for _ in texts] for k in KS}
    for k in KS:
        differ = [(t, [s for s, _ in want], [s for s, _ in have])
                  for t, want, have in zip(texts, server[k], browser[k]) if [s for s, _ in want] != [s for s, _ in have]]
        assert not differ, f"k={k}: {len(differ)} queries ranked differently, e.g. {differ[:3]}"
        far = [(t, want, have) for t, want, have in zip(texts, server[k], browser[k])
               if any(abs(a[1] - b[1]) > SCORE_TOLERANCE for a, b in zip(want, have))]
        assert not far, f"k={k}: scores differ, e.g. {far[:3]}"
    # Both rankings are taken at a fixed depth, so the first 5 of 10 are the 5.
    assert all(ten[:5] == five for five, ten in zip(browser[5], browser[10]))


@pytest.mark.slow  # the embedding model
def test_the_browser_judges_every_query_covered_or_not_as_the_server(searcher, shipped):
    assert shipped["scope"] == searcher.scope.to_json()
    labelled = load_queries() + load_queries(HARD_QUERIES)
    texts = [q["q"] for q in labelled + yaml.safe_load(SCOPE_QUERIES.read_text(encoding="utf-8"))]
    texts += ["", "的", "LoRA", "zzqx unknownword", "感受野"]  # no terms, a stop word, unknown terms
    texts = [t for t in texts if t] + ["   "]
    vectors = searcher.embedder.embed_queries(texts)
    server = [searcher.answer_vector(v, 5, t) for t, v in zip(texts, vectors)]
    browser = run_core({"index": str(SHIPPED), "answers": [[t, v.tolist(), 5] for t, v in zip(texts, vectors)]})["answers"]
    assert sum(a.covered is False for a in server) >= 50  # both outcomes are compared
    # The dense score comes from float32 products summed in another order, so a relevance may differ
    # in its last digits; a decision may differ only for a query sitting on the cut.
    for t, want, have in zip(texts, server, browser):
        assert abs(want.relevance - have["relevance"]) <= 2e-4, (t, want.relevance, have)
        cut = searcher.scope.models[scope.language(t)].cut
        assert want.covered == have["covered"] or abs(want.relevance - cut) < 1e-4, (t, want, have)


def test_the_export_ships_rows_in_chunk_id_order_and_replaces_the_whole_folder(tmp_path):
    arts = [make_article(f"a{i}", f"文章{i}", f"Article {i}", f"第{i}篇讲随机森林与梯度提升。Trees number {i}.")
            for i in range(4)]
    build_index(tmp_path, arts, FakeEmbedder())
    embedder = FakeEmbedder()
    embedder.folder, embedder.query_prefix, embedder.meta = tmp_path / "model", "query: ", {"output": "out"}
    for name in browser_export.MODEL_FILES:
        (embedder.folder / name).parent.mkdir(exist_ok=True)
        (embedder.folder / name).write_bytes(name.encode())
    searcher = Searcher(tmp_path, embedder)
    # The rows in another order than the ids: the export must not ship the storage order.
    back = np.arange(len(searcher.ids))[::-1]
    searcher.ids, searcher.rows = searcher.ids[back], tuple(a[back] for a in searcher.rows)
    stale = browser_export.browser_dir(tmp_path) / "stale.bin"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")

    out = browser_export.export(tmp_path, searcher)
    assert not stale.exists()
    meta = read_json(out / "meta.json")
    assert (meta["max_k"], meta["max_query_chars"], meta["chunks_per_result"]) == (
        MAX_K, MAX_QUERY_CHARS, CHUNKS_PER_RESULT)
    ids = sorted(searcher.ids.tolist())
    assert [c["body"] for c in meta["chunks"]] == [searcher.index.chunks[i]["body"] for i in ids]
    n, d = meta["count"], meta["dimension"]
    raw = (out / "vectors.bin").read_bytes()
    q = np.frombuffer(raw[: n * d], np.int8).reshape(n, d)
    _, vectors = searcher.index.all_vectors()
    assert (q == ranking.quantize_rows(vectors[np.argsort(searcher.index.all_vectors()[0])])[0]).all()
    model = out / "model" / browser_export.MODEL_FILES[0]
    assert model.stat().st_mtime_ns == (embedder.folder / model.name).stat().st_mtime_ns
    # core.mjs loads what was written.
    vec = embedder.embed_queries(["随机森林"])[0].tolist()
    assert run_core({"index": str(out), "searches": [["随机森林", vec, 3]]})["results"][0]
