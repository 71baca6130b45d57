"""The browser's twin of the tokenizer and snippets (core.mjs) gives what Python gives.

The browser reproduces ``search.lexical.tokens`` for queries (so BM25 matches the terms the build
indexed) and ``search.snippets.snippet``; run both on the corpus' own chunks and on awkward text.
"""
import itertools
import json
import re

import pytest

from ingest.store import load_articles
from kb.text import CJK_CLASS
from search import lexical
from search.browser_export import token_rule
from search.chunks import article_chunks
from search.evaluate import load_queries
from embedding.runtime import model_folder
from embedding.source import DEFAULT_MODEL
from search.snippets import readable_math, snippet
from tests.conftest import REPO
from tests.node_support import needs_node, run_core

pytestmark = needs_node
AWKWARD = ["ＤＤＰ　训练（全角）", "GPUs gpus Gpu's", "x", "的", "多卡分布式训练", "set_epoch() 为什么重复",
           "naïve café Σ σ", "🙂 emoji 字", "1e-3 与 3.14", "abc.def. Next", "ß straße", "İstanbul", ""]


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


def test_the_browser_finds_tokens_in_the_characters_python_does():
    # The browser has no CJK ranges of its own: kb.text's reach it inside the shipped token rule.
    rule = token_rule()
    assert f"[{CJK_CLASS}]" in rule["pattern"]
    text = " ".join([chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF]
                    + ["\U00020000", "\U0002A6D6", "\U0001F642", "ab12", "训练", "多卡分布式"])
    assert run_core({"matches": [rule["pattern"], text]})["matches"] == re.findall(rule["pattern"], text)


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


def test_whole_words_that_stem_to_a_term_are_marked_and_bigrams_anywhere():
    terms = lexical.tokens("training GPUs accuracy")
    assert terms == ["train", "gpu", "accuraci"]
    out = run_core({"rule": token_rule(), "ranges": [["Training on GPUs; ungpu, accuracy", terms],
                                                     ["多卡分布式训练", ["分布", "布式", "训练"]]]})
    # "Training", "GPUs", "accuracy"; not the "gpu" inside "ungpu"
    assert out["ranges"][0] == [[0, 8], [12, 16], [25, 33]]
    assert out["ranges"][1] == [[2, 7]]


def _stem_vocabulary() -> list[str]:
    """Real words (the corpus, the tokenizer's ASCII pieces) and made ones that walk every suffix
    rule and exception of the stemmer."""
    words = set()
    for a in load_articles(REPO):
        words.update(re.findall(r"[a-z0-9]+", a.text.lower()))
    source = model_folder(DEFAULT_MODEL) / "tokenizer.json"
    for piece, _ in json.loads(source.read_text(encoding="utf-8"))["model"]["vocab"]:
        if re.fullmatch(r"[a-z0-9]+", piece.lstrip("\u2581").lower()):
            words.add(piece.lstrip("\u2581").lower())
    stems = ["", "a", "y", "ab", "by", "hop", "hope", "fall", "gener", "commun", "past", "univers", "arsen",
             "emerg", "inter", "later", "organ", "succ", "proc", "exc", "even", "inn", "out", "sk", "d", "ly",
             "play", "cry", "sing", "relat", "cat", "gas", "happ", "fe", "nat", "x9", "fp16", "e5", "w", "ow"]
    suffixes = ["", "s", "es", "ies", "ied", "ed", "eed", "ing", "ingly", "edly", "eedly", "ly", "y", "e", "l",
                "ll", "al", "ational", "tional", "ation", "ization", "izer", "ator", "enci", "anci", "abli",
                "alli", "entli", "ousli", "fulli", "lessli", "li", "bli", "ogi", "aliti", "iviti", "biliti",
                "alism", "iveness", "fulness", "ousness", "ogist", "icate", "ative", "alize", "iciti", "ical",
                "ful", "ness", "ic", "ance", "ence", "able", "ible", "ate", "ive", "ize", "iti", "ism", "ion",
                "sion", "tion", "er", "ous", "ant", "ent", "ment", "ement", "ss", "sses", "us", "bb", "dd",
                "tt", "bl", "at", "iz"]
    words.update(s + x + y for s, x, y in itertools.product(stems, suffixes, suffixes[:24]))
    words.update("skis skies dying lying tying idly gently ugly early only singly sky news howe atlas cosmos "
                 "bias andes inning outing canning herring earring proceed exceed succeed".split())
    words.discard("")
    return sorted(words)


@pytest.mark.slow  # reads the model's vocabulary (materialised on first use)
def test_the_browser_stemmer_equals_snowball_on_real_and_made_words():
    assert lexical.STEMMER == "snowball-english-3.1.1", "stem.mjs ports 3.1.1: port the new version"
    words = _stem_vocabulary()
    assert len(words) > 60_000
    got = run_core({"rule": token_rule(), "words": words})["stems"]
    mismatched = [(w, lexical.snowball(w), j) for w, j in zip(words, got) if lexical.snowball(w) != j]
    assert not mismatched, mismatched[:10]


def test_tex_reads_as_text_in_snippets():
    assert readable_math(r"用 $1\times1$ 卷积把 $\sigma_t^2$ 变小") == "用 1×1 卷积把 σₜ² 变小"
    assert readable_math(r"$$\frac{a}{b}$$ and $\mathbf{x}$") == "(a)/(b) and x"
