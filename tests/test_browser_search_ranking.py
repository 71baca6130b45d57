"""The browser engine ranks exactly as the server on the shipped data.

``core.mjs`` runs under Node on the files ``python -m search build`` wrote into
``_build/search/browser/``, given the query vectors the server computes (so this checks the ranking,
not the model: ``test_browser_search`` compares the vectors the page computes), and must return the
server's articles in the server's order for every labelled query.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kb import layout
from kb.files import read_json
import yaml

from search import browser_export, lexical, ranking, scope
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
    if _shipped_slugs(SHIPPED, shipped) != chunks:
        pytest.fail(f"{SHIPPED} was exported from another index than {layout.search_dir(REPO)}: "
                    "run `python -m search build`")
    return searcher


def _shipped_slugs(folder, meta) -> list[str]:
    """Each row's article slug, from rows.bin."""
    rows = np.frombuffer((folder / "rows.bin").read_bytes()[: 4 * meta["count"]], "<u4")
    return [meta["articles"][a]["slug"] for a in rows.tolist()]


@pytest.mark.slow  # the embedding model
def test_the_shipped_meta_carries_the_servers_limits(shipped):
    assert (shipped["max_k"], shipped["max_query_chars"], shipped["chunks_per_result"]) == (
        MAX_K, MAX_QUERY_CHARS, CHUNKS_PER_RESULT)


@pytest.mark.slow  # the embedding model
def test_the_browser_ranks_every_labelled_query_exactly_as_the_server(searcher):
    texts = [check_query(q["q"], max(KS)) for q in load_queries() + load_queries(HARD_QUERIES)]
    assert len(texts) > 200
    # Words that name properties of every JavaScript object: not postings of the shipped files.
    texts += ["constructor toString", "__proto__ hasOwnProperty valueOf"]
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


def _export_fixture(tmp_path, articles: int = 4):
    arts = [make_article(f"a{i}", f"文章{i}", f"Article {i}",
                         f"第{i}篇讲随机森林与梯度提升。Trees number {i}. " + f"深度学习的第{i}个例子。" * (i % 3))
            for i in range(articles)]
    build_index(tmp_path, arts, FakeEmbedder())
    embedder = FakeEmbedder()
    embedder.folder, embedder.query_prefix, embedder.meta = tmp_path / "model", "query: ", {"output": "out"}
    for name in browser_export.MODEL_FILES:
        (embedder.folder / name).parent.mkdir(exist_ok=True)
        (embedder.folder / name).write_bytes(name.encode())
    return embedder, Searcher(tmp_path, embedder)


def _vector_lists(folder, meta) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(int8 rows, scales, row numbers) of each list in vectors/."""
    d, out = meta["dimension"], []
    for l in range(meta["pieces"]["lists"]):
        raw = (folder / "vectors" / f"{l}.bin").read_bytes()
        m = len(raw) // (d + 8)
        out.append((np.frombuffer(raw[: m * d], np.int8).reshape(m, d), np.frombuffer(raw[m * d: m * d + 4 * m], "<f4"),
                    np.frombuffer(raw[m * d + 4 * m:], "<i4")))
    return out


def test_the_export_ships_rows_in_chunk_id_order_and_replaces_the_whole_folder(tmp_path):
    embedder, searcher = _export_fixture(tmp_path)
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
    assert _shipped_slugs(out, meta) == [searcher.index.chunks[i]["slug"] for i in ids]
    bodies = {}
    for a in range(len(meta["articles"])):
        bodies |= {int(r): b for r, b in read_json(out / "bodies" / f"{a}.json").items()}
    assert [bodies[r] for r in range(meta["count"])] == [searcher.index.chunks[i]["body"] for i in ids]
    # A small index: one list, every row in row order, as the server scores them.
    [(q, _, rows)] = _vector_lists(out, meta)
    assert rows.tolist() == list(range(meta["count"]))
    _, vectors = searcher.index.all_vectors()
    assert (q == ranking.quantize_rows(vectors[np.argsort(searcher.index.all_vectors()[0])])[0]).all()
    model = out / "model" / browser_export.MODEL_FILES[0]
    assert model.stat().st_mtime_ns == (embedder.folder / model.name).stat().st_mtime_ns
    assert set(meta["bytes"]) == {"rows.bin", "tokens.json"} | {f"model/{n}" for n in browser_export.MODEL_FILES}
    # core.mjs loads what was written.
    vec = embedder.embed_queries(["随机森林"])[0].tolist()
    assert run_core({"index": str(out), "searches": [["随机森林", vec, 3]]})["results"][0]


def test_a_large_index_ships_lists_of_vectors_and_buckets_of_postings_fetched_only_when_a_query_needs_them(tmp_path):
    embedder, searcher = _export_fixture(tmp_path, articles=12)
    data = browser_export.browser_data(searcher)
    n = len(data.bodies)
    out = tmp_path / "pieces"
    (out / "model").mkdir(parents=True)

    def write(nprobe: int) -> dict:
        for sub in ("postings", "vectors", "bodies"):
            shutil.rmtree(out / sub, ignore_errors=True)
        browser_export.write(out, data, exact_rows=8, rows_per_list=6, nprobe=nprobe, postings_piece_bytes=300)
        return read_json(out / "meta.json")

    meta = write(nprobe=1)
    lists = meta["pieces"]["lists"]
    assert lists == -(-n // 6) and meta["pieces"]["nprobe"] == 1
    parts = _vector_lists(out, meta)
    assert sorted(np.concatenate([rows for _, _, rows in parts]).tolist()) == list(range(n))  # each row once
    q, scales = ranking.quantize_rows(searcher.index.all_vectors()[1][np.argsort(searcher.ids)])
    assert all((part == q[rows]).all() and (s == scales[rows]).all() for part, s, rows in parts)
    buckets = meta["pieces"]["postings"]
    assert buckets > 3
    shipped = {}
    for b in range(buckets):
        piece = read_json(out / "postings" / f"{b}.json")
        assert all(browser_export.bucket_of(t, buckets) == b for t in piece)
        shipped |= piece
    assert shipped == data.postings

    # One query fetches its terms' buckets, the centroids, one list and the shown articles' texts.
    text = "随机森林 trees"
    vec = embedder.embed_queries([text])[0].tolist()
    got = run_core({"index": str(out), "searches": [[text, vec, 3]]})
    wanted_buckets = {f"postings/{browser_export.bucket_of(t, buckets)}.json" for t in lexical.tokens(text)}
    assert {p for p in got["loaded"] if p.startswith("postings/")} == wanted_buckets
    assert sorted(p for p in got["loaded"] if p.startswith("vectors/"))[-1] == "vectors/centroids.bin"
    assert len([p for p in got["loaded"] if p.startswith("vectors/")]) == 2
    assert len([p for p in got["loaded"] if p.startswith("bodies/")]) == len(got["results"][0]) == 3

    # Probing every list scores every row: the server's ranking.
    meta = write(nprobe=lists)
    texts = ["随机森林", "梯度提升 trees", "深度学习的例子", "Article 7"]
    vectors = embedder.embed_queries(texts)
    server = [[r.slug for r in searcher.search_vector(v, 5, t)] for t, v in zip(texts, vectors)]
    browser = run_core({"index": str(out), "searches": [[t, v.tolist(), 5] for t, v in zip(texts, vectors)]})
    assert [[r["slug"] for r in rs] for rs in browser["results"]] == server


def test_browser_and_python_put_a_term_in_the_same_postings_file():
    terms = ["多卡", "训练", "ddp", "constructor", "naïve", "🙂", "a", ""]
    for count in (1, 7, 1000):
        assert run_core({"buckets": [[t, count] for t in terms]})["buckets"] == [
            browser_export.bucket_of(t, count) for t in terms]


def test_the_book_copies_the_latest_pieces_and_drops_those_of_an_earlier_build(tmp_path):
    from book import search_assets

    data, site = layout.browser_search_dir(tmp_path), tmp_path / "site"
    (tmp_path / "_config.yml").write_text("title: t\n")
    copied = site / search_assets.SUBDIR / "data"
    for build, files in enumerate((["meta.json", "postings/0.json", "postings/1.json"], ["meta.json", "postings/0.json"])):
        shutil.rmtree(data, ignore_errors=True)
        for name in files:
            (data / name).parent.mkdir(parents=True, exist_ok=True)
            (data / name).write_text(f"{build} {name}")
        search_assets.install(tmp_path, site)
        assert sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file()) == sorted(files)
        assert (copied / "postings/0.json").read_text() == f"{build} postings/0.json"
