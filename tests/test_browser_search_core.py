"""The browser's twin of the tokenizer and snippets (core.mjs) gives what Python gives.

The browser reproduces ``search.lexical.tokens`` for queries (so BM25 matches the terms the build
indexed) and ``search.snippets.snippet``; run both on the corpus' own chunks and on awkward text.
"""
import json
import shutil
import subprocess

import pytest

from ingest.store import load_articles
from search import lexical
from search.browser_export import token_rule
from search.chunks import article_chunks
from search.evaluate import load_queries
from search.snippets import readable_math, snippet
from tests.conftest import REPO

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")
AWKWARD = ["ＤＤＰ　训练（全角）", "GPUs gpus Gpu's", "x", "的", "多卡分布式训练", "set_epoch() 为什么重复",
           "naïve café Σ σ", "🙂 emoji 字", "1e-3 与 3.14", "abc.def. Next", "ß straße", "İstanbul", ""]


def run_core(payload: dict) -> dict:
    proc = subprocess.run([NODE, str(REPO / "tests/js/core_cli.mjs")], input=json.dumps(payload), text=True,
                          capture_output=True, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def corpus_texts():
    chunks = [c for a in load_articles(REPO) for c in article_chunks(a)]
    return [c.body for c in chunks], [q["q"] for q in load_queries()]


def test_browser_tokens_equal_python_tokens_on_the_corpus_and_queries(corpus_texts):
    bodies, queries = corpus_texts
    texts = bodies + queries + AWKWARD
    out = run_core({"rule": token_rule(), "texts": texts})
    mismatched = [(t, p, j) for t, p, j in zip(texts, (lexical.tokens(t) for t in texts), out["tokens"]) if p != j]
    assert not mismatched, mismatched[:3]


def test_browser_snippets_equal_python_snippets(corpus_texts):
    bodies, queries = corpus_texts
    cases = [[b, q, 160] for b, q in zip(bodies, queries * (len(bodies) // len(queries) + 1))]
    cases += [["短。" * 200, "短", 20], ["a. b. c", None, 3], ["", "x", 10], ["  lead space。next", "next", 160]]
    out = run_core({"rule": token_rule(), "snippets": cases})
    assert out["snippets"] == [snippet(b, q, n) for b, q, n in cases]


def test_the_snippet_starts_at_the_sentence_that_meets_the_query():
    body = "第一句讲别的。第二句讲 set_epoch 与 DistributedSampler 的洗牌。第三句。"
    assert snippet(body, "why does set_epoch matter", 160).startswith("…第二句讲 set_epoch")
    assert snippet(body, None, 160) == body
    assert snippet("x" * 300, None, 10) == "x" * 9 + "…"


def test_terms_are_marked_at_word_starts_and_bigrams_anywhere():
    out = run_core({"rule": token_rule(), "ranges": [["Training on GPUs; ungpu", ["gpu", "train"]],
                                                     ["多卡分布式训练", ["分布", "布式", "训练"]]]})
    assert out["ranges"][0] == [[0, 5], [12, 15]]  # "Train", "GPU"; not the "gpu" inside "ungpu"
    assert out["ranges"][1] == [[2, 7]]


def test_tex_reads_as_text_in_snippets():
    assert readable_math(r"用 $1\times1$ 卷积把 $\sigma_t^2$ 变小") == "用 1×1 卷积把 σₜ² 变小"
    assert readable_math(r"$$\frac{a}{b}$$ and $\mathbf{x}$") == "(a)/(b) and x"
