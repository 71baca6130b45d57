"""Provisional titles and slugs for new articles (curators then refine titles in front matter).

Excerpts carry no title, and their first words are often a section heading of the source post
("动机", "背景", "Overview", "💡"). Those are dropped, and the title is taken from the subject
that follows: the first clause, cut to a readable length.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

from ingest.merge import normalize
from kb.text import CJK_CLASS

# Section headings that open many excerpts but say nothing about the subject.
LEADING_HEADINGS = (
    "引言与背景", "相关内容", "补充知识", "总结下", "相同点", "不同点", "基本思路", "从 NLP 入手", "基于文章",
    "动机", "背景", "简介", "概述", "引言", "摘要", "前言", "介绍",
    "Quick Start", "Overview", "Introduction", "Background", "Motivation", "Abstract", "TL;DR",
)
_NUMBERING_RE = re.compile(r"^(?:\d+(?:\.\d+)*[.、)]?\s*)+")
_CLAUSE_END_RE = re.compile(rf"[，。！？；：,!?;:]|\s{{2,}}| (?=[{CJK_CLASS}])")
MAX_TITLE_LEN = 30


def _strip_symbols(text: str) -> str:
    """Drop leading emoji / pictographs (So, Sk) and punctuation."""
    i = 0
    while i < len(text) and (unicodedata.category(text[i])[0] in "SPZ" or text[i] in "\ufe0f\u200d"):
        i += 1
    return text[i:]


def strip_leading_headings(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        stripped = _NUMBERING_RE.sub("", _strip_symbols(text)).strip()
        for heading in LEADING_HEADINGS:
            if stripped.startswith(heading) and len(stripped) > len(heading) + 4:
                stripped = stripped[len(heading):].lstrip(" :：,，")
                break
        if stripped != text:
            text, changed = stripped, True
    return text


def provisional_title(text: str) -> str:
    subject = strip_leading_headings(normalize(text))
    clause = _CLAUSE_END_RE.split(subject, maxsplit=1)[0].strip()
    if len(clause) < 4:  # a clause too short to name anything: take more of the sentence
        clause = subject
    if len(clause) > MAX_TITLE_LEN:
        cut = clause[:MAX_TITLE_LEN]
        # don't split a Latin word in two
        if re.match(r"[A-Za-z0-9]", clause[MAX_TITLE_LEN]) and len(cut.rsplit(" ", 1)[0]) >= MAX_TITLE_LEN // 2:
            cut = cut.rsplit(" ", 1)[0]
        clause = cut.rstrip() + "…"
    return clause or normalize(text)[:MAX_TITLE_LEN]


# An ASCII word of the subject: letters first, hyphenated parts kept together (k-means, t-SNE),
# not glued to a preceding digit (the x16 of 16x16).
_SLUG_WORD_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_SLUG_STOPWORDS = frozenset("a an and are as at be by for from how in is it of on or the to vs what why with".split())
MAX_SLUG_WORDS, MAX_SLUG_LEN = 3, 40
SLUG_WINDOW = 120  # characters of the subject whose words may name the article


def slug_base(text: str) -> str:
    """Up to three distinct ASCII words of the subject, or a content hash when there are none.

    Repeated words (and words inside a word already taken: batch after batchnorm), single letters
    (the z of a formula) and English stopwords are skipped, so an excerpt that names its subject
    twice ("MoCo 动量对比学习 MoCo 把...") still reads well.
    """
    subject = strip_leading_headings(normalize(text))
    words: list[str] = []
    for match in _SLUG_WORD_RE.finditer(subject):
        if match.start() >= SLUG_WINDOW:
            break
        w = match.group().lower()  # whole, even when it runs past the window: never "transf"
        if len(w) > 1 and w not in _SLUG_STOPWORDS and not any(w in chosen for chosen in words):
            candidate = "-".join(words + [w])
            if len(candidate) > MAX_SLUG_LEN:
                break
            words.append(w)
            if len(words) == MAX_SLUG_WORDS:
                break
    return "-".join(words) or "article-" + hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()[:8]


def make_slug(text: str, taken: set[str]) -> str:
    """``slug_base``, made unique among ``taken`` by the first free suffix -2, -3, ..."""
    return _first_free(slug_base(text), taken)[0]


def _first_free(base: str, taken: set[str], n: int = 2) -> tuple[str, int]:
    """``base`` if free, else the first free of base-n, base-(n+1), ...; and that suffix."""
    if base not in taken:
        return base, n
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}", n


class SlugAllocator:
    """``make_slug`` for many new articles in a row, each slug taken once handed out.

    Taken slugs only accumulate, so the search for a free suffix resumes where the last one for
    the same base stopped instead of retrying -2, -3, ... (quadratic when many share a base).
    """

    def __init__(self, taken: set[str]):
        self.taken = set(taken)
        self._next_suffix: dict[str, int] = {}

    def allocate(self, text: str) -> str:
        base = slug_base(text)
        slug, n = _first_free(base, self.taken, self._next_suffix.get(base, 2))
        if slug != base:
            self._next_suffix[base] = n + 1
        self.taken.add(slug)
        return slug
