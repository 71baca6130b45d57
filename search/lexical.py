"""BM25 over chunks: the lexical half of hybrid search (fused in ``search.ranking``).

Why it is on by default: e5-small blurs exact technical terms (DDP, GBDT, set_epoch, 显卡) that a
lexical match catches; ``python -m search eval`` prints dense alone and fused.

Tokens are lower-cased NFKC words of Latin letters and digits, stemmed by Snowball's English
(Porter2) stemmer, and overlapping character bigrams of Chinese runs (a lone Chinese character is
its own token): the usual segmentation for Chinese retrieval, and one the browser reproduces
exactly (``book/_static/kb-search/core.mjs`` carries the same rule and ``stem.mjs`` the same
stemmer; tests run both on the corpus and on 60k words), which a dictionary segmenter such as jieba
would not allow without shipping its dictionary.

Why stemming: paraphrased English questions inflect the article's words differently ("noising"
for "noise", "rescaled" for "scale"). Chosen on the dev half of the hard queries: hybrid MRR there
went from 0.962 to 0.974 (English; Chinese unchanged), where folding plurals only, or stripping
just -ing/-ed/-ly, gained nothing.

The BM25 weights are computed at build time and stored as a sparse matrix (``bm25.npz``) for the
server and as postings for the browser, so a query costs one column sum.
"""
from __future__ import annotations

import functools
import json
import re
import threading
import unicodedata
from importlib.metadata import version
from pathlib import Path

import numpy as np
import snowballstemmer

from kb.text import CJK_CLASS

K1, B = 1.5, 0.75


def idf(n: int, df):
    """BM25's inverse document frequency (never negative); a term no chunk holds (``df`` 0) gets
    the largest value, ``log(2n + 2)``."""
    return np.log(1 + (n - np.asarray(df, np.float64) + 0.5) / (np.asarray(df, np.float64) + 0.5))
LEXICAL_FILE = "bm25.npz"

TOKEN_PATTERN = f"[a-z0-9]+|[{CJK_CLASS}]+"
_TOKEN = re.compile(TOKEN_PATTERN)
STOP_WORDS = sorted(set(
    "a an the of to in on at for and or is are be do does did how what why which with by from i my it "
    "this that can should".split()
))
STOP_CJK = sorted(set(
    "的 了 是 在 和 与 及 或 把 被 为 对 从 到 用 中 上 下 这 那 个 吗 呢 "
    "怎么 怎样 什么 为什 如何 可以 一个 这个 那个 我们 是什 么是 时候".split()
))
_STOP = frozenset(STOP_WORDS) | frozenset(STOP_CJK)
# Named in the rule the browser receives; book/_static/kb-search/stem.mjs implements this version.
STEMMER = f"snowball-english-{version('snowballstemmer')}"
_stemmers = threading.local()


def snowball(word: str) -> str:
    # A Snowball stemmer keeps the word it works on in the instance, and the server answers
    # queries from several threads: one stemmer per thread (making one costs about a microsecond).
    english = getattr(_stemmers, "english", None)
    if english is None:
        english = _stemmers.english = snowballstemmer.stemmer("english")
    return english.stemWord(word)


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Snowball's stem, and the plural ``s`` it keeps dropped: it leaves "-us" ("virus") and
    plurals without a vowel before them ("cnns") alone, which in this corpus are mostly acronyms
    in the plural (GPUs, CPUs, CNNs) that must meet their singular."""
    out = snowball(word)
    if out == word and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return out


def tokens(text: str) -> list[str]:
    out = []
    for m in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
        t = m.group()
        if t.isascii():
            if t in _STOP:
                continue
            out.append(stem(t))
        elif len(t) == 1:
            if t not in _STOP:
                out.append(t)
        else:
            out.extend(b for b in (t[i:i + 2] for i in range(len(t) - 1)) if b not in _STOP)
    return out


def chunk_text(chunk: dict, article: dict) -> str:
    return f"{article.get('title', '')} {article.get('title_en', '')} {chunk['body']}"


class LexicalIndex:
    """BM25 weights, one row per chunk id (in ``ids`` order), one column per term."""

    def __init__(self, ids: np.ndarray, terms: list[str], matrix):
        self.ids = ids
        self.column = {t: j for j, t in enumerate(terms)}
        self.matrix = matrix.tocsc()
        # A term's document frequency is the length of its postings (zero weights included), which
        # is also what the browser counts.
        self.idf = idf(len(ids), np.diff(self.matrix.indptr))

    @classmethod
    def from_tokens(cls, ids: list[int], docs: list[list[str]]) -> "LexicalIndex":
        from scipy.sparse import csr_matrix

        column: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for r, doc in enumerate(docs):
            counts: dict[str, int] = {}
            for t in doc:
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                rows.append(r)
                cols.append(column.setdefault(t, len(column)))
                tfs.append(c)
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avg = lengths.mean() if n else 1.0
        rows_a, cols_a, tf = np.array(rows, int), np.array(cols, int), np.array(tfs, np.float64)
        df = np.bincount(cols_a, minlength=len(column)).astype(np.float64)
        norm = K1 * (1 - B + B * lengths[rows_a] / (avg or 1.0))
        # Rounded to 1/1000: the browser receives them as integers (search.browser_export), and
        # both engines then add up exactly the same numbers (``scores``).
        weights = np.round(idf(n, df)[cols_a] * tf * (K1 + 1) / (tf + norm), 3)
        matrix = csr_matrix((weights.astype(np.float32), (rows_a, cols_a)), shape=(n, len(column)))
        terms = sorted(column, key=column.get)
        return cls(np.asarray(ids, dtype=np.int64), terms, matrix)

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every row (a term the query repeats counts again), added up exactly: as the
        whole thousandths the weights are rounded to, divided by 1000 once at the end. The browser
        adds the same integers, so both engines see the same ties and break them alike (float sums,
        each engine adding in its own order, can make two rows tie on one side only)."""
        cols = [self.column[t] for t in tokens(query) if t in self.column]
        sub = self.matrix[:, cols]
        milli = np.rint(sub.data.astype(np.float64) * 1000)
        return np.bincount(sub.indices, weights=milli, minlength=len(self.ids)) / 1000

    def coverage(self, query: str) -> tuple[float, float]:
        """How much of the query the corpus holds, each as a share of the query's idf mass (a
        repeated term counts again; a term no chunk holds weighs ``idf(n, 0)``): the terms found
        anywhere (``vocabulary``), and the terms found together in the best single chunk
        (``best``). A query with no terms holds nothing: (0, 0). ``search.scope`` reads both."""
        unknown = float(idf(len(self.ids), 0))
        total = known = 0.0
        held = np.zeros(len(self.ids))
        for t in tokens(query):
            j = self.column.get(t)
            if j is None:
                total += unknown
                continue
            w = float(self.idf[j])
            total += w
            known += w
            held[self.matrix.indices[self.matrix.indptr[j]:self.matrix.indptr[j + 1]]] += w
        if total == 0:
            return 0.0, 0.0
        return known / total, (float(held.max()) if len(held) else 0.0) / total

    def save(self, directory: Path, write) -> None:
        m = self.matrix.tocsr()
        terms = sorted(self.column, key=self.column.get)

        def _save(path: Path) -> None:
            with open(path, "wb") as f:
                np.savez(f, ids=self.ids, data=m.data, indices=m.indices, indptr=m.indptr,
                         shape=np.array(m.shape), terms=np.array(json.dumps(terms, ensure_ascii=False)))

        write(Path(directory) / LEXICAL_FILE, _save)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex":
        from scipy.sparse import csr_matrix

        with np.load(Path(directory) / LEXICAL_FILE) as z:
            matrix = csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(z["ids"], json.loads(str(z["terms"])), matrix)
