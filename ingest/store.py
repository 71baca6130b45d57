"""The articles as data: what the book, search and notebooks read (never the feeds directly)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.article_file import CURATED_FIELDS, INGEST_FIELDS, NOTEBOOK_HEADER, ArticleFile
from kb.layout import ARTICLES

# Front-matter keys with an Article attribute of their own; any other key goes to ``extra``.
KNOWN_FIELDS = frozenset(CURATED_FIELDS + INGEST_FIELDS + tuple(NOTEBOOK_HEADER))


@dataclass
class Article:
    slug: str
    title: str
    title_en: str
    topic: str
    tags: list[str]
    date: str | None
    category: str | None
    feeds: list[dict]
    text: str  # the plain feed text, as in the feed
    path: Path  # relative to the repository root
    implementation: str = ""  # raw MyST of the implementation region
    feed_hash: str = ""
    extra: dict = field(default_factory=dict)  # other front-matter keys (e.g. execution timeout)
    abstract: str = ""  # people-written summaries (front matter), shown under the title
    abstract_en: str = ""

    @property
    def docname(self) -> str:
        """The Sphinx document name: the path without its suffix."""
        return self.path.with_suffix("").as_posix()


def article_paths(root: Path) -> list[Path]:
    return sorted((root / ARTICLES).rglob("*.md"))


def to_article(root: Path, path: Path, af: ArticleFile) -> Article:
    m = af.meta
    return Article(
        slug=str(m["slug"]), title=str(m.get("title") or m["slug"]), title_en=str(m.get("title_en") or ""),
        topic=str(m.get("topic") or "未分类"), tags=[str(t) for t in m.get("tags") or []],
        date=str(m["date"]) if m.get("date") else None, category=m.get("category"),
        feeds=list(m.get("feeds") or []), text=str(m["excerpt"]), path=path.relative_to(root),
        implementation=af.implementation, feed_hash=str(m.get("feed_hash") or ""),
        extra={k: v for k, v in m.items() if k not in KNOWN_FIELDS},
        abstract=str(m.get("abstract") or ""), abstract_en=str(m.get("abstract_en") or ""),
    )


def load_articles(root: Path) -> list[Article]:
    """Every article under ``root/articles``, sorted by path; raises ArticleFileError on a broken file."""
    root = Path(root)
    return [to_article(root, p, ArticleFile.read(p)) for p in article_paths(root)]
