"""Cutting an article into the pieces of text that get embedded.

An article yields one title chunk (zh + en titles, topic, tags), one chunk per
abstract (the people-written summaries of the front matter, one per language),
chunks of its feed text, and chunks of its implementation's narrative and code
comments, cut section by section. Each body chunk carries the article's titles
in front, and an implementation chunk also its section's heading: a chunk about
"公式一" means little on its own, and titles and headings are what most
readers' questions name.
"""
from __future__ import annotations

import hashlib
import io
import re
import tokenize
from dataclasses import dataclass

from ingest.notebook import code_cells, read_notebook
from search.snippets import readable_math

MAX_CHARS = 400  # well under e5's 512 tokens even for dense Chinese text

_FENCE = re.compile(r"^(```|~~~)[^\n]*$", re.MULTILINE)
# Sentence ends in Chinese and English; the lookbehind keeps the punctuation.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)(?=\s)|\n+")


@dataclass(frozen=True)
class Chunk:
    slug: str
    kind: str  # "title" | "abstract" | "text" | "impl"
    n: int  # position among the article's chunks
    body: str  # what a reader sees in a snippet
    text: str  # what the model embeds

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.text}".encode("utf-8")).hexdigest()[:20]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def pack(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Greedy packing of whole sentences; a sentence longer than a chunk is cut."""
    out, cur = [], ""
    for sentence in split_sentences(text):
        while len(sentence) > max_chars:
            if cur:
                out.append(cur)
                cur = ""
            out.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        joiner = "" if not cur or _is_cjk(cur[-1]) else " "
        if len(cur) + len(joiner) + len(sentence) > max_chars:
            out.append(cur)
            cur = sentence
        else:
            cur = cur + joiner + sentence if cur else sentence
    if cur:
        out.append(cur)
    return out


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def code_comments(code: str) -> str:
    """The comments of a code cell: the why that the code itself does not say."""
    comments = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                comments.append(tok.string.lstrip("#").strip())
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Not valid Python (a magic, a half-written cell): take whole-line comments.
        comments = [ln.strip().lstrip("#").strip() for ln in code.splitlines() if ln.strip().startswith("#")]
    return "\n".join(c for c in comments if c)


_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def implementation_text(myst: str) -> str:
    """Narrative plus code comments of an implementation region, markup removed.

    A region without any code cell is the placeholder every new article starts
    with; indexing it would make all such articles look alike.
    """
    return "\n".join(f"{h}\n{t}" if h else t for h, t in implementation_sections(myst))


def implementation_sections(myst: str) -> list[tuple[str, str]]:
    """(heading, narrative + code comments) for each section of an implementation region."""
    nb = read_notebook(myst)  # the cells as the book reads them; a cell's options are not its code
    if not code_cells(nb):
        return []
    # Headings inside code cells are comments, not sections: cut only the text between cells.
    pieces = [("code", code_comments(c.source)) if c.cell_type == "code" else ("md", c.source) for c in nb.cells]
    sections: list[list] = [["", []]]
    for kind, text in pieces:
        if kind == "code":
            sections[-1][1].append(("code", text))
            continue
        last = 0
        for h in _HEADING.finditer(text):
            sections[-1][1].append(("md", _narrative(text[last : h.start()])))
            sections.append([_strip_inline(h.group(1)), []])
            last = h.end()
        sections[-1][1].append(("md", _narrative(text[last:])))
    out = []
    for heading, (prose, comments) in ((h, _split_parts(parts)) for h, parts in sections):
        # Prose first: it is what a snippet should open with; code comments follow it.
        body = "\n".join(p for p in prose + comments if p)
        if body:
            out.append((heading, body))
    return out


def _split_parts(parts: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [t for k, t in parts if k == "md"], [t for k, t in parts if k == "code"]


def _strip_inline(text: str) -> str:
    return re.sub(r"[`*_]|\{[^}]*\}", "", text).strip()


def _narrative(md: str) -> str:
    md = _FENCE.sub("", md)
    lines = []
    for line in md.splitlines():
        s = line.strip()
        if not s or s == "+++" or s.startswith("%") or re.fullmatch(r"\(.+\)=", s) or s == "---":
            continue
        lines.append(s.lstrip("#").strip())
    return readable_math("\n".join(lines))


def title_block(article) -> str:
    return " / ".join(t for t in (article.title, article.title_en) if t)


def article_chunks(article) -> list[Chunk]:
    slug = article.slug
    head = title_block(article)
    title_body = "\n".join(x for x in (head, article.topic or "", "、".join(article.tags or [])) if x)
    chunks = [Chunk(slug, "title", 0, title_body, title_body)]
    for summary in (getattr(article, "abstract", ""), getattr(article, "abstract_en", "")):
        if summary:
            chunks.append(Chunk(slug, "abstract", len(chunks), summary, f"{head}\n{summary}"))
    for piece in pack(article.text or ""):
        chunks.append(Chunk(slug, "text", len(chunks), piece, f"{head}\n{piece}"))
    for heading, section in implementation_sections(article.implementation or ""):
        for piece in pack(section):
            prefix = f"{head}\n{heading}" if heading else head
            chunks.append(Chunk(slug, "impl", len(chunks), piece, f"{prefix}\n{piece}"))
    return chunks
