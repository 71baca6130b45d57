"""Sphinx extension for the knowledge base: article lists built from the articles' front matter.

Directives (used by the home page and the generated topic pages):

* ``{kb-topics}``: every topic with its article count, linking to its chapter page;
* ``{kb-newest} N``: the N newest articles by date (undated ones last);
* ``{kb-topic-articles} KEY``: the articles of one topic.

Titles come from front matter that may hold feed-derived text, so everything is built as
docutils nodes (plain text), never parsed as markup.
"""
from __future__ import annotations

import html
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.util.docutils import SphinxDirective

from ingest.store import Article, load_articles
from ingest.toc import TOPIC_PAGES_DIR, group_by_topic
from ingest.topics import topic_named


def _articles(env) -> list[Article]:
    cache = getattr(env, "_kb_articles", None)
    if cache is None:
        cache = env._kb_articles = load_articles(Path(env.srcdir))
    return cache


def _doc_link(docname: str, *children: nodes.Node) -> pending_xref:
    ref = pending_xref("", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=True)
    ref += children
    return ref


def _article_item(a: Article, show_date: bool = False) -> nodes.list_item:
    para = nodes.paragraph()
    para += _doc_link(a.docname, nodes.inline(text=a.title))
    if a.title_en:
        para += nodes.Text(" ")
        para += nodes.inline(text=a.title_en, classes=["kb-en"])
    if show_date:
        para += nodes.Text(" ")
        para += nodes.inline(text=a.date or "未注明日期 · undated", classes=["kb-date"])
    return nodes.list_item("", para)


def _bullets(items) -> nodes.bullet_list:
    lst = nodes.bullet_list(classes=["kb-article-list"])
    lst += items
    return lst


class TopicsDirective(SphinxDirective):
    def run(self):
        items = []
        for name, members in group_by_topic(_articles(self.env)).items():
            t = topic_named(name)
            para = nodes.paragraph()
            para += _doc_link(f"{TOPIC_PAGES_DIR}/{t.key}", nodes.inline(text=f"{t.name} · {t.name_en}"))
            para += nodes.Text(f"（{len(members)} 篇 · {len(members)} articles）")
            items.append(nodes.list_item("", para))
        return [_bullets(items)]


class NewestDirective(SphinxDirective):
    optional_arguments = 1

    def run(self):
        n = int(self.arguments[0]) if self.arguments else 8
        # Newest first; among equal dates (or none), the order of the table of contents.
        ordered = sorted(_articles(self.env), key=lambda a: (a.date or "", a.slug), reverse=True)
        return [_bullets([_article_item(a, show_date=True) for a in ordered[:n]])]


class TopicArticlesDirective(SphinxDirective):
    required_arguments = 1

    def run(self):
        key = self.arguments[0]
        members = [a for a in _articles(self.env) if topic_named(a.topic).key == key]
        for a in members:
            self.env.note_dependency(str(Path(self.env.srcdir) / a.path))
        return [_bullets([_article_item(a) for a in sorted(members, key=lambda a: a.slug)])]


def escape_theme_page_title(app, pagename, templatename, context, doctree):
    """sphinx-book-theme 1.3 puts ``title.astext()`` (unescaped text) into ``pagetitle`` and prints
    it raw in the print-only header, so a feed-derived title could inject markup. Escape it."""
    title = context.get("pagetitle")
    if isinstance(title, str) and not hasattr(title, "__html__"):
        context["pagetitle"] = html.escape(title)


def setup(app):
    app.connect("html-page-context", escape_theme_page_title, priority=900)  # after the theme's (500)
    app.add_directive("kb-topics", TopicsDirective)
    app.add_directive("kb-newest", NewestDirective)
    app.add_directive("kb-topic-articles", TopicArticlesDirective)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
