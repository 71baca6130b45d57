"""The lexical side of hybrid search: BM25 weights, bigram segmentation, weighted rank fusion, and turning it off.

Everything here runs on hand-made token lists or the fake embedder: no model.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from search import lexical
from search.index import IndexCorrupt, build_index, index_dir, load_index
from search.lexical import LexicalIndex, tokens
from search.query import Searcher
from search.ranking import DEFAULT, Ranking, fuse, fused_order
from tests.search_support import FakeEmbedder, make_article


def bm25_by_hand(docs: list[list[str]], term: str, k1: float = lexical.K1, b: float = lexical.B) -> list[float]:
    """Okapi BM25 of one term in every document, written out term by term (Lucene's idf, never negative)."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = sum(1 for d in docs if term in d)
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    out = []
    for d in docs:
        tf = d.count(term)
        out.append(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl)))
    return out


ROUNDED = 1.1e-3  # weights are stored to 1/1000 (both engines add the same numbers)


def near(values, tol=ROUNDED):
    return pytest.approx(values, abs=tol)


DOCS = [
    ["gpu", "gpu", "train"],                                   # length 3
    ["gpu", "model", "train", "data", "loss", "step"],         # length 6
    ["forest", "tree"],                                        # length 2
    ["gpu"],                                                   # length 1
]  # N = 4, average length 3


# ------------------------------------------------------------------ BM25
def test_bm25_scores_equal_a_hand_computation_on_a_tiny_corpus():
    lex = LexicalIndex.from_tokens([10, 11, 12, 13], DOCS)
    assert lex.ids.tolist() == [10, 11, 12, 13]  # rows follow the ids given
    # By hand, k1 = 1.5, b = 0.75: idf(gpu) = ln(1 + (4 - 3 + .5) / (3 + .5)) = 0.35667;
    # doc 0 (tf 2, length = average): 0.35667 * 2 * 2.5 / (2 + 1.5) = 0.50954;
    # doc 1 (tf 1, length 6): 0.35667 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 2)) = 0.24598.
    assert (lexical.K1, lexical.B) == (1.5, 0.75)
    gpu = lex.scores("gpu")
    assert gpu == near([0.50954, 0.24598, 0.0, 0.50954])
    assert gpu == near(bm25_by_hand(DOCS, "gpu"))
    assert (np.round(gpu * 1000) == gpu * 1000).all()  # exactly thousandths, as shipped to the browser
    # idf(forest) = ln(1 + 3.5 / 1.5) = 1.20397; doc 2 has length 2: 1.20397 * 2.5 / (1 + 1.5 * 0.75)
    assert lex.scores("forest") == near([0, 0, 1.41644, 0])


def test_bm25_of_several_query_terms_is_the_sum_of_their_scores():
    lex = LexicalIndex.from_tokens([0, 1, 2, 3], DOCS)
    expected = np.add(bm25_by_hand(DOCS, "gpu"), bm25_by_hand(DOCS, "train"))
    assert lex.scores("gpu train") == near(expected, 2 * ROUNDED)
    assert lex.scores("GPU Train") == near(expected, 2 * ROUNDED)  # case folded like the documents
    assert not lex.scores("transformer").any()  # a term no document has scores nothing


def test_bm25_idf_ranks_a_rare_term_above_a_common_one():
    docs = [["common", "rare"], ["common", "other"], ["common", "filler"], ["common", "noise"]]
    lex = LexicalIndex.from_tokens(list(range(4)), docs)
    assert lex.scores("rare")[0] > lex.scores("common")[0] > 0
    assert lex.scores("rare")[0] == near(math.log(1 + 3.5 / 1.5) * 2.5 / 2.5)
    assert lex.scores("common")[0] == near(math.log(1 + 0.5 / 4.5))


def test_bm25_term_frequency_saturates_with_k1():
    # Equal lengths, so only tf varies: score = idf * tf * (k1 + 1) / (tf + k1), bounded by idf * (k1 + 1).
    tfs = [1, 2, 4, 8, 16]
    docs = [["x"] * tf + ["pad"] * (16 - tf) for tf in tfs] + [["pad"] * 16] * 6  # x rare: a readable idf
    lex = LexicalIndex.from_tokens(list(range(len(docs))), docs)
    s = lex.scores("x")
    idf = math.log(1 + (11 - 5 + 0.5) / (5 + 0.5))
    assert s[:5] == near([idf * tf * 2.5 / (tf + 1.5) for tf in tfs])
    exact = np.array([idf * tf * 2.5 / (tf + 1.5) for tf in tfs])
    gains = np.diff(exact)
    assert (gains > 0).all() and (np.diff(gains / np.diff(tfs)) < 0).all()  # more, but ever less per occurrence
    assert s.max() < idf * (lexical.K1 + 1)


def test_bm25_normalises_by_document_length_with_b():
    # One occurrence of "x" in a short and in a long document.
    docs = [["x", "a"], ["x"] + ["b"] * 7, ["c"] * 3]
    lex = LexicalIndex.from_tokens([0, 1, 2], docs)
    short, long, _ = lex.scores("x")
    assert short > long > 0
    avgdl = (2 + 8 + 3) / 3
    ratio = (1 + 1.5 * (1 - 0.75 + 0.75 * 8 / avgdl)) / (1 + 1.5 * (1 - 0.75 + 0.75 * 2 / avgdl))
    assert short / long == pytest.approx(ratio, rel=5e-3)


def test_bm25_weights_survive_save_and_load(tmp_path):
    lex = LexicalIndex.from_tokens([7, 3, 9, 1], DOCS)
    lex.save(tmp_path, lambda path, write: write(path))  # the writer only has to call back
    back = LexicalIndex.load(tmp_path)
    assert back.ids.tolist() == [7, 3, 9, 1]
    for q in ("gpu", "forest tree", "train loss"):
        assert back.scores(q) == pytest.approx(lex.scores(q), rel=1e-7)


# ---------------------------------------------------------- segmentation
def test_chinese_runs_become_overlapping_bigrams_and_stop_bigrams_are_dropped():
    assert tokens("随机森林为什么要随机选特征") == ["随机", "机森", "森林", "林为", "么要", "要随", "随机", "机选", "选特", "特征"]
    assert tokens("的") == [] and tokens("卡") == ["卡"]  # a lone character is its own token, unless a stop word
    assert tokens("ＤＤＰ 训练") == ["ddp", "训练"]  # NFKC first: full-width letters are letters


def test_english_tokens_are_lower_cased_stemmed_and_stopwords_dropped():
    assert tokens("How do I train on several GPUs") == ["train", "sever", "gpu"]
    assert tokens("the loss of a class") == ["loss", "class"]  # "ss" is not a plural
    assert tokens("set_epoch(3) vs DistributedSampler") == ["set", "epoch", "3", "vs", "distributedsampl"]
    # Inflections meet: the reason for stemming (paraphrases inflect the article's words).
    assert tokens("noising noise noises") == ["nois"] * 3
    assert tokens("rescaled rescale rescaling") == ["rescal"] * 3
    # Plurals Snowball keeps ("-us", no vowel before the s) are acronyms here: they meet their singular.
    assert tokens("GPUs GPU CNNs CNN") == ["gpu", "gpu", "cnn", "cnn"]


def test_stemming_from_several_threads_gives_each_word_its_own_stem(monkeypatch):
    # The server tokenizes queries in many threads, and a Snowball stemmer keeps the word it works
    # on in the instance. A stand-in stemmer makes the race certain: each call stores its word,
    # waits until the other thread has stored its own, then returns what the instance holds, so a
    # stemmer shared by the two threads hands one of them the other's word.
    import threading

    from search import lexical

    both_stored = threading.Barrier(2, timeout=30)

    class Stemmer:
        def stemWord(self, word):
            self.current = word
            both_stored.wait()
            return self.current

    monkeypatch.setattr(lexical.snowballstemmer, "stemmer", lambda language: Stemmer())
    got = {}
    threads = [threading.Thread(target=lambda w=w: got.__setitem__(w, lexical.snowball(w))) for w in ("ab", "cd")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {"ab": "ab", "cd": "cd"}


def test_a_chinese_query_matches_documents_segmented_the_same_way():
    texts = ["自然语言处理的基本任务", "随机森林有放回采样", "多张显卡训练模型"]
    lex = LexicalIndex.from_tokens([0, 1, 2], [tokens(t) for t in texts])
    s = lex.scores("语言模型怎么训练")  # no spaces anywhere: whitespace splitting would match nothing
    assert s[0] > 0 and s[2] > 0 and s[1] == 0
    assert lex.scores("森林")[1] > 0 and lex.scores("森林")[[0, 2]].tolist() == [0, 0]
    assert lex.scores("多卡训练")[2] > 0  # 多卡 is not in the text, 训练 is: bigrams still meet


def test_the_build_indexes_chunks_with_the_same_tokenizer_as_queries(tmp_path):
    arts = [make_article("forest", "随机森林", "Random forests", "有放回采样并随机选择特征，训练很多棵决策树再投票。"),
            make_article("nlp", "自然语言处理", "NLP", "分词是中文自然语言处理的第一步。")]
    build_index(tmp_path, arts, FakeEmbedder())
    idx = load_index(tmp_path)
    lex = Searcher(tmp_path, FakeEmbedder()).lexical
    ids = sorted(idx.chunks)
    again = LexicalIndex.from_tokens(ids, [tokens(lexical.chunk_text(idx.chunks[i], idx.articles[idx.chunks[i]["slug"]]))
                                           for i in ids])
    assert lex.ids.tolist() == ids and lex.column == again.column
    assert (lex.matrix != again.matrix.tocsc()).nnz == 0
    hit = {idx.chunks[int(i)]["slug"] for i in lex.ids[np.flatnonzero(lex.scores("决策树"))]}
    assert hit == {"forest"}
    assert not (index_dir(tmp_path) / "tokens.json").exists()  # format 1's token cache is gone


# ------------------------------------------------------------------ fusion
def test_weighted_rrf_fuses_by_reciprocal_rank_as_computed_by_hand():
    plain = Ranking(rrf_k=60, lexical_weight=1.0)
    fused = fuse(["a", "b", "c"], ["c", "a", "d"], plain)
    # k = 60: a = 1/61 + 1/62, c = 1/63 + 1/61, b = 1/62, d = 1/63
    assert fused == pytest.approx({"a": 0.0325225, "c": 0.0322665, "b": 0.0161290, "d": 0.0158730}, abs=1e-7)
    assert fused_order(fused) == ["a", "c", "b", "d"]
    assert fuse(["x", "y"], [], plain) == pytest.approx({"x": 1 / 61, "y": 1 / 62})  # one ranking keeps its order
    # Weighted: BM25 counts twice, k = 5: a = 1/6 + 2/7, c = 1/8 + 2/6
    weighted = fuse(["a", "b", "c"], ["c", "a"], Ranking(rrf_k=5, lexical_weight=2.0))
    assert weighted == pytest.approx({"a": 1 / 6 + 2 / 7, "b": 1 / 7, "c": 1 / 8 + 2 / 6})
    assert fused_order(weighted) == ["c", "a", "b"]  # BM25's first overtakes the dense first
    assert fused_order({"b": 0.5, "a": 0.5}) == ["a", "b"]  # ties by slug: both engines break them alike


class DecoyEmbedder(FakeEmbedder):
    """The fake model, except that every query points at the decoy article's text.

    The dense ranking then always puts "decoy" first, whatever is asked; only
    BM25 can find an article by the words of the query.
    """

    DECOY = "混合精度训练 FP16 与 FP32 混合使用，需要损失缩放防止梯度下溢。"

    def embed_queries(self, texts):
        return np.stack([self._vec(self.DECOY) for _ in texts])


def decoy_corpus():
    return [
        make_article("decoy", "混合精度训练", "Mixed precision", DecoyEmbedder.DECOY),
        make_article("target", "随机森林", "Random forests", "袋外误差可以用来估计泛化误差，不必另留验证集。"),
        make_article("other", "感受野", "Receptive field", "感受野是一个输出单元看到的输入区域。"),
        make_article("fourth", "激活函数", "Activation functions", "从 ReLU 到 GELU 与 SwiGLU。"),
    ]


@pytest.fixture
def decoy_root(tmp_path):
    build_index(tmp_path, decoy_corpus(), DecoyEmbedder())
    return tmp_path


def test_hybrid_ranking_is_the_rrf_of_the_dense_and_bm25_rankings(decoy_root):
    q = "袋外误差 感受野 GELU"
    dense = [r.slug for r in Searcher(decoy_root, DecoyEmbedder(), hybrid=False).search(q, k=10)]
    hybrid = Searcher(decoy_root, DecoyEmbedder()).search(q, k=10)
    # The BM25 ranking of articles, from each article's best chunk:
    lex = LexicalIndex.load(index_dir(decoy_root))
    idx = load_index(decoy_root)
    best: dict[str, float] = {}
    for row, score in enumerate(lex.scores(q)):
        slug = idx.chunks[int(lex.ids[row])]["slug"]
        if score > 0:
            best[slug] = max(best.get(slug, 0.0), float(score))
    bm25 = sorted(best, key=lambda s: -best[s])
    assert dense[0] == "decoy" and set(bm25) == {"target", "other", "fourth"}
    weights = ((DEFAULT.dense_weight, dense), (DEFAULT.lexical_weight, bm25))
    expected = {s: sum(w / (DEFAULT.rrf_k + ranking.index(s) + 1) for w, ranking in weights if s in ranking)
                for s in dense + bm25}
    assert {r.slug: r.score for r in hybrid} == pytest.approx(expected, abs=1e-4)  # scores are rounded to 4 places
    assert len(hybrid) == len(expected) and [r.score for r in hybrid] == sorted((r.score for r in hybrid), reverse=True)
    assert hybrid[0].slug == max(expected, key=expected.get) != dense[0]  # fusion changed the winner


def test_hybrid_false_turns_the_lexical_side_off(decoy_root):
    q = "袋外误差"  # only the target's text has it; the dense side always prefers the decoy
    hybrid = [r.slug for r in Searcher(decoy_root, DecoyEmbedder()).search(q, k=4)]
    dense = Searcher(decoy_root, DecoyEmbedder(), hybrid=False)
    dense_slugs = [r.slug for r in dense.search(q, k=4)]
    assert hybrid[0] == "target"
    assert dense_slugs[0] == "decoy" and dense_slugs.index("target") > 0
    assert dense.lexical is None
    # Dense-only never touches the BM25 file; hybrid needs it.
    (index_dir(decoy_root) / lexical.LEXICAL_FILE).unlink()
    assert [r.slug for r in Searcher(decoy_root, DecoyEmbedder(), hybrid=False).search(q, k=4)] == dense_slugs
    with pytest.raises(IndexCorrupt, match="lexical index .* is missing"):
        Searcher(decoy_root, DecoyEmbedder())


def test_cli_dense_only_flag_turns_the_lexical_side_off(decoy_root, monkeypatch, capsys):
    import embedding
    import search.cli

    monkeypatch.setattr(embedding, "load_embedder", lambda *a, **kw: DecoyEmbedder())

    def query(*flags):
        rc = search.cli.main(["--root", str(decoy_root), "query", "袋外误差", "-k", "4", "--json", *flags])
        out = capsys.readouterr().out
        assert rc == 0, out
        return [r["slug"] for r in json.loads(out)]

    assert query()[0] == "target"
    assert query("--dense-only")[0] == "decoy"
