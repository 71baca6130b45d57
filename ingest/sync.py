"""One ingest run: feeds in, article files created or updated, table of contents regenerated.

Identity is the excerpt itself: an incoming excerpt belongs to the first existing article (in
path order) whose excerpt it extends or is cut from (``merge.PrefixIndex``), so slugs and files
never move. Excerpts of one run that are cuts of one another were folded into one by
``merge.merge_entries`` before, so they never match articles created in the same run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingest.article_file import NEW_IMPLEMENTATION, ArticleFile, ArticleFileError, feed_hash
from ingest.feed import FeedEntry, FeedError, read_feed
from kb.files import write_if_changed
from ingest.merge import Excerpt, PrefixIndex, merge_entries, normalize
from ingest.store import Article, article_paths, to_article
from kb.layout import ARTICLES
from ingest.titles import SlugAllocator, provisional_title
from ingest.toc import write_toc
from ingest.topics import guess_topic, topic_named


@dataclass
class IngestReport:
    created: list[Path] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    excerpts: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def expand_sources(sources: list[Path]) -> tuple[list[Path], list[str]]:
    """Feed files named directly, plus every ``*.txt`` in named directories."""
    files, errors = [], []
    for src in sources:
        if src.is_dir():
            found = sorted(p for p in src.glob("*.txt") if p.is_file())
            if not found:
                errors.append(f"{src}: the directory holds no *.txt feeds")
            files.extend(found)
        elif src.is_file():
            files.append(src)
        else:
            errors.append(f"{src}: no such feed file or directory")
    return files, errors


def read_feeds(files: list[Path]) -> tuple[list[FeedEntry], set[str], list[str]]:
    entries, read_ok, errors = [], set(), []
    for path in files:
        try:
            entries.extend(read_feed(path))
            read_ok.add(path.name)
        except FeedError as exc:
            errors.append(str(exc))
    return entries, read_ok, errors


def updated_meta(meta: dict, ex: Excerpt, fed_files: set[str]) -> dict:
    """Ingest-owned fields after this run; curated fields are carried over untouched."""
    old_text = str(meta["excerpt"])
    text = ex.text if len(ex.normalized) > len(normalize(old_text)) else old_text
    # Provenance from feeds read this run is replaced (lines may have moved); other feeds' stays.
    kept = [f for f in meta.get("feeds") or [] if f.get("file") not in fed_files]
    feeds = sorted(kept + [{"file": f, "line": n} for f, n in ex.occurrences], key=lambda f: (f["file"], f["line"]))
    new = dict(meta)
    new.update(date=ex.date or meta.get("date"), category=ex.category or meta.get("category"),
               feeds=feeds, feed_hash=feed_hash(text), excerpt=text)
    return new


def new_meta(ex: Excerpt, slugs: SlugAllocator, topic: str | None = None) -> dict:
    title = provisional_title(ex.text)
    return {
        "slug": slugs.allocate(ex.text), "title": title, "title_en": "",
        "topic": topic or guess_topic(ex.text).name, "tags": [],
        "date": ex.date, "category": ex.category,
        "feeds": [{"file": f, "line": n} for f, n in ex.occurrences],
        "feed_hash": feed_hash(ex.text), "excerpt": ex.text,
    }


# Given the curated articles and the texts of new excerpts, a topic name (or None) for each.
TopicSuggester = Callable[[list[Article], list[str]], list[str | None]]


def ingest(root: Path, sources: list[Path], suggest_topics: TopicSuggester | None = None) -> IngestReport:
    """Ingest ``sources``; a bad feed is reported and skipped, the others still land.

    A new article's topic is ``suggest_topics``'s answer when it has one (the command line passes
    the embedding suggester of ``ingest.topic_suggestion``), else a keyword guess.

    Raises ``ArticleFileError`` before writing anything when an existing article file is broken:
    matching against a partial set of articles could duplicate one.
    """
    root = Path(root)
    try:
        existing = [(p, ArticleFile.read(p)) for p in article_paths(root)]
    except ArticleFileError as exc:
        raise ArticleFileError(exc.path, f"{exc.problem} (fix or remove it; nothing was ingested)") from None
    report = IngestReport()
    files, report.errors = expand_sources(sources)
    entries, fed_files, feed_errors = read_feeds(files)
    report.errors += feed_errors

    excerpts = merge_entries(entries)
    report.excerpts = len(excerpts)
    # Item i of the index is existing[i]'s excerpt, normalized; both grow together. The distinct
    # excerpts of one run are never cuts of each other (merge_entries folded those), so new
    # articles need no place in it: an excerpt can only ever extend an article that existed before.
    index = PrefixIndex()
    for _, af in existing:
        index.add(normalize(str(af.meta["excerpt"])))
    on_disk = dict(existing)  # what each file now holds, for the table of contents
    new: list[Excerpt] = []
    for ex in excerpts:
        at = index.first_related(ex.normalized)
        if at is None:
            new.append(ex)  # written below, once its topic (hence its folder) is known
            continue
        path, af = existing[at]
        meta = updated_meta(af.meta, ex, fed_files)
        if not af.needs_rewrite(meta):
            report.unchanged.append(path)
            continue
        af.meta = meta
        index.replace(at, normalize(str(meta["excerpt"])))
        report.updated.append(path)
        write_if_changed(path, af.render())
        on_disk[path] = af

    suggested = []
    if new and suggest_topics and existing:  # compared with the articles that existed, as updated above
        suggested = suggest_topics([to_article(root, path, af) for path, af in existing], [ex.text for ex in new])
    slugs = SlugAllocator({str(af.meta["slug"]) for _, af in existing})
    for n, ex in enumerate(new):
        meta = new_meta(ex, slugs, suggested[n] if n < len(suggested) else None)
        path = root / ARTICLES / topic_named(meta["topic"]).key / f"{meta['slug']}.md"
        af = ArticleFile(meta, NEW_IMPLEMENTATION)
        write_if_changed(path, af.render())
        on_disk[path] = af
        report.created.append(path)
    # The articles as load_articles would read them back, without reading every file again.
    write_toc(root, [to_article(root, path, on_disk[path]) for path in sorted(on_disk)])
    return report
