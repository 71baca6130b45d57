"""The index's behaviour with a fake embedder: incremental builds, removals, model checks, bad files.

A fake embedder keeps these fast; the real model has its own tests
(test_search_model.py, test_search_api.py).
"""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from kb import layout
from search.chunks import article_chunks, implementation_text
from search.index import (
    INDEX_FILE, META_FILE, IndexCorrupt, IndexMissing, IndexModelMismatch, build_index,
    index_dir, load_index,
)
from search.query import QueryError, Searcher
from tests.search_support import FakeEmbedder, make_article

IMPL = """
## 动手实现 · Implementation: 一个小例子

先算梯度，再和解析解对比。

```{code-cell} ipython3
import torch
x = torch.ones(3, requires_grad=True)  # track operations on x
# the analytic derivative of sum(x**2) is 2x
(x ** 2).sum().backward()
```

### 验证 · Verification
"""


def corpus():
    return [
        make_article("alpha", "感受野的计算", "Computing the receptive field", "感受野是卷积网络中一个输出单元看到的输入区域。"
                     "逐层递推即可得到。", tags=["CNN"]),
        make_article("beta", "分布式数据并行", "Distributed data parallel", "多张显卡上各启动一个进程，梯度通过 all-reduce 同步。",
                     implementation=IMPL),
        make_article("gamma", "随机森林", "Random forests", "有放回采样并随机选择特征，训练很多棵决策树再投票。"),
        make_article("delta", "混合精度训练", "Mixed precision", "FP16 与 FP32 混合使用，需要损失缩放防止梯度下溢。"),
        make_article("epsilon", "激活函数", "Activation functions", "从 ReLU 到 GELU 与 SwiGLU。"),
        make_article("zeta", "对比损失", "Contrastive loss", "孪生网络上的带间隔的成对损失。"),
        make_article("eta", "自回归模型", "Autoregressive models", "把联合分布拆成条件概率的乘积。"),
    ]


def chunk_ids(root):
    idx = load_index(root)
    return {(c["slug"], c["hash"]): i for i, c in idx.chunks.items()}


def test_build_writes_vectors_sidecar_and_related(tmp_path):
    emb = FakeEmbedder()
    report = build_index(tmp_path, corpus(), emb)
    d = index_dir(tmp_path)
    meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
    assert meta["model"] == "fake-model" and meta["dimension"] == emb.dimension
    assert {c["slug"] for c in meta["chunks"]} == {a.slug for a in corpus()}
    assert all({"id", "slug", "kind", "n", "hash"} <= set(c) for c in meta["chunks"])
    vectors = faiss.read_index(str(d / INDEX_FILE))
    assert isinstance(vectors, faiss.IndexIDMap) and vectors.ntotal == len(meta["chunks"])
    assert report.full and report.embedded == len(meta["chunks"])
    assert meta["articles"]["alpha"]["path"] == "articles/测试/alpha.md"


def test_unchanged_rebuild_embeds_nothing_and_keeps_ids(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder())
    before = chunk_ids(tmp_path)
    emb = FakeEmbedder()
    report = build_index(tmp_path, corpus(), emb)
    assert emb.embedded == [] and not report.full
    assert chunk_ids(tmp_path) == before


def test_rebuild_after_one_article_changed_reembeds_only_that_articles_changed_chunks(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder())
    before = chunk_ids(tmp_path)
    articles = corpus()
    articles[2].text += " 袋外误差可以用来估计泛化误差。"  # gamma's text changes, its title does not
    emb = FakeEmbedder()
    report = build_index(tmp_path, articles, emb)

    changed = {c.text for c in article_chunks(articles[2]) if c.kind == "text"}
    assert set(emb.embedded) == changed and report.embedded == len(changed)
    after = chunk_ids(tmp_path)
    for key, i in before.items():  # every other chunk keeps its id
        if key[0] != "gamma" or key in after:
            assert after[key] == i
    assert not any(k[0] != "gamma" and k not in before for k in after)


def test_removed_article_leaves_the_index(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder())
    report = build_index(tmp_path, [a for a in corpus() if a.slug != "delta"], FakeEmbedder())
    idx = load_index(tmp_path)
    assert "delta" not in {c["slug"] for c in idx.chunks.values()} and "delta" not in idx.articles
    assert idx.vectors.ntotal == len(idx.chunks) and report.removed > 0
    related = json.loads(layout.related_file(tmp_path).read_text(encoding="utf-8"))
    assert "delta" not in related and all(n["slug"] != "delta" for ns in related.values() for n in ns)
    hits = Searcher(tmp_path, FakeEmbedder()).search("混合精度训练 FP16", k=10)
    assert "delta" not in [r.slug for r in hits]


def test_different_model_forces_a_full_rebuild(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder("model-a", 64))
    emb = FakeEmbedder("model-b", 48)
    report = build_index(tmp_path, corpus(), emb)
    idx = load_index(tmp_path)
    assert report.full and "model-a" in report.reason
    assert len(emb.embedded) == len(idx.chunks)
    assert idx.model == "model-b" and idx.dimension == 48 == idx.vectors.d


def test_querying_an_index_built_by_another_model_names_the_fix(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder("model-a"))
    with pytest.raises(IndexModelMismatch) as e:
        Searcher(tmp_path, FakeEmbedder("model-b"))
    msg = str(e.value)
    assert "model-a" in msg and "model-b" in msg and "python -m search build" in msg


def test_missing_index_names_the_build_command(tmp_path):
    with pytest.raises(IndexMissing, match="python -m search build"):
        Searcher(tmp_path, FakeEmbedder())


@pytest.mark.parametrize("damage", ["garbage", "truncate", "bad-json"])
def test_corrupted_index_file_gives_a_clear_error(tmp_path, damage):
    build_index(tmp_path, corpus(), FakeEmbedder())
    d = index_dir(tmp_path)
    if damage == "garbage":
        size = (d / INDEX_FILE).stat().st_size
        (d / INDEX_FILE).write_bytes(b"\0not a faiss index" + b"\0" * (size - 18))
    elif damage == "truncate":
        (d / INDEX_FILE).write_bytes((d / INDEX_FILE).read_bytes()[:100])
    else:
        (d / META_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt) as e:
        Searcher(tmp_path, FakeEmbedder())
    assert "python -m search build --full" in str(e.value)
    assert (INDEX_FILE in str(e.value)) or (META_FILE in str(e.value))
    report = build_index(tmp_path, corpus(), FakeEmbedder())  # and build repairs it
    assert report.full and Searcher(tmp_path, FakeEmbedder()).search("随机森林", k=1)


def test_related_json_lists_five_nearest_others_best_first(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder())
    related = json.loads(layout.related_file(tmp_path).read_text(encoding="utf-8"))
    slugs = {a.slug for a in corpus()}
    assert set(related) == slugs
    for slug, neighbours in related.items():
        assert len(neighbours) == 5
        assert slug not in [n["slug"] for n in neighbours]
        assert {n["slug"] for n in neighbours} <= slugs
        scores = [n["score"] for n in neighbours]
        assert scores == sorted(scores, reverse=True)


def test_results_are_grouped_per_article(tmp_path):
    build_index(tmp_path, corpus(), FakeEmbedder())
    results = Searcher(tmp_path, FakeEmbedder()).search("分布式数据并行 显卡 进程", k=10)
    slugs = [r.slug for r in results]
    assert len(slugs) == len(set(slugs)) and slugs[0] == "beta"
    top = results[0].to_json()
    assert set(top) == {"slug", "title", "title_en", "path", "score", "snippet"}


@pytest.mark.parametrize("q,k", [("", 5), ("   ", 5), ("x" * 1001, 5), ("ok", 0), ("ok", 51), ("ok", "3")])
def test_bad_queries_are_refused(tmp_path, q, k):
    build_index(tmp_path, corpus(), FakeEmbedder())
    with pytest.raises(QueryError):
        Searcher(tmp_path, FakeEmbedder()).search(q, k)


def test_implementation_indexes_narrative_and_comments_but_not_the_placeholder():
    text = implementation_text(IMPL)
    assert "先算梯度" in text and "track operations on x" in text and "analytic derivative" in text
    assert "requires_grad=True" not in text  # code itself is not prose
    placeholder = "## 动手实现 · Implementation\n\n尚无实现。这一部分由人维护：用 `{code-cell}` 写出实现。\n"
    assert implementation_text(placeholder) == ""


def synthetic_corpus(n: int = 60):
    """Many small articles over one shared vocabulary: more chunks than one query's pool used to hold."""
    import random

    rng = random.Random(5)
    words = ("梯度 显卡 进程 采样 特征 决策树 卷积 注意力 损失 精度 分布 概率 噪声 扩散 编码 解码 token batch "
             "learning rate gradient sampling kernel tensor layer").split()
    arts = []
    for i in range(n):
        sentences = ("".join(rng.choice(words) for _ in range(rng.randint(4, 9))) for _ in range(rng.randint(20, 40)))
        text = "。".join(sentences)
        arts.append(make_article(f"a{i:02d}", f"文章{i}", f"Article {i}", text, tags=[rng.choice(words)]))
    return arts


class UnrelatedQueryEmbedder(FakeEmbedder):
    """Fake passages, but each query gets a fixed random direction: a dense ranking unrelated to BM25's."""

    def embed_queries(self, texts):
        rngs = [np.random.default_rng(int.from_bytes(t.encode("utf-8")[:8], "little")) for t in texts]
        v = np.stack([r.standard_normal(self.dimension) for r in rngs]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_fewer_results_are_the_first_of_more_results(tmp_path):
    # Asking for 5 results must not change which 5 come first: both rankings
    # that RRF fuses are taken to the same depth whatever k is. (They used to
    # grow with k, so an article BM25 ranked first but the dense side ranked
    # deep got its dense share only when more results were asked for.)
    build_index(tmp_path, synthetic_corpus(), FakeEmbedder())
    assert len(load_index(tmp_path).chunks) > 2 * 64
    for hybrid in (True, False):
        s = Searcher(tmp_path, UnrelatedQueryEmbedder(), hybrid=hybrid)
        for q in ("显卡 进程 梯度", "卷积 kernel", "扩散 噪声 采样", "learning rate 损失", "注意力 token", "决策树"):
            full = [(r.slug, r.score) for r in s.search(q, k=50)]
            for k in (1, 3, 5, 10, 20):
                assert [(r.slug, r.score) for r in s.search(q, k=k)] == full[:k], (hybrid, q, k)
