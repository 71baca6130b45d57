"""Sphinx extension for the knowledge base: article lists built from the articles' front matter.

Directives (used by the home page and the generated topic pages):

* ``{kb-topics}``: every topic with its article count, linking to its chapter page;
* ``{kb-newest} N``: the N newest articles by date (undated ones last);
* ``{kb-topic-articles} KEY``: the articles of one topic;
* ``{kb-execution-status}``: the execution report as a sortable table, failures with tracebacks,
  and each article's mutants (the bugs its checks must catch) with how many they killed;
* ``{kb-tags}``: every tag with its articles (the tag index page).

Every article page also gets, under its title, an execution badge (with its mutants killed,
linking to them on the status page), a download link for its executed notebook made to run
without this repository and, when ``_config.yml`` names a repository, Colab/Binder links to that
notebook (both written by ``python -m book build`` before Sphinx runs, see ``book.notebooks``),
and, at the end, its related articles from the search index.

Titles come from front matter that may hold feed-derived text, so everything is built as
docutils nodes (plain text), never parsed as markup.
"""
from __future__ import annotations

import hashlib
import html
from datetime import datetime
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import download_reference, pending_xref
from sphinx.util.docutils import SphinxDirective

from ingest.store import Article, load_articles
from ingest.toc import TOPIC_PAGES_DIR, group_by_topic
from ingest.topics import topic_named
from kb import layout
from kb.files import read_json
from runner.records import NO_CODE_LABEL, PASSED, device_label, failure_location


def _articles(env) -> list[Article]:
    cache = getattr(env, "_kb_articles", None)
    if cache is None:
        cache = env._kb_articles = load_articles(Path(env.srcdir))
    return cache


def _forget_articles(app, env, docnames):
    """The environment is pickled between builds: read the articles afresh every build."""
    for cache in ("_kb_articles", "_kb_index", "_kb_no_code"):
        env.__dict__.pop(cache, None)


def _depend_on_all_articles(env) -> None:
    """Lists of articles must be rebuilt when any article's front matter (or its execution status) changes."""
    for a in _articles(env):
        env.note_dependency(str(Path(env.srcdir) / a.path))
        env.note_dependency(str(layout.record_file(Path(env.srcdir), a.slug)))


def _no_code(env) -> set[str]:
    """Slugs of the articles whose latest record says they have no implementation yet."""
    cache = env.__dict__.get("_kb_no_code")
    if cache is None:
        srcdir = Path(env.srcdir)
        cache = env._kb_no_code = {a.slug for a in _articles(env)
                                   if (read_json(layout.record_file(srcdir, a.slug)) or {}).get("status") == "no-code"}
    return cache


def _article_by(env, key: str) -> dict[str, Article]:
    """Articles indexed by ``slug`` or ``docname``, built once per build."""
    cache = env.__dict__.setdefault("_kb_index", {})
    if key not in cache:
        cache[key] = {getattr(a, key): a for a in _articles(env)}
    return cache[key]


def _doc_link(docname: str, *children: nodes.Node) -> pending_xref:
    ref = pending_xref("", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=True)
    ref += children
    return ref


def _article_item(a: Article, show_date: bool = False, no_code: bool = False) -> nodes.list_item:
    para = nodes.paragraph()
    para += _doc_link(a.docname, nodes.inline(text=a.title))
    if a.title_en:
        para += nodes.Text(" ")
        para += nodes.inline(text=a.title_en, classes=["kb-en"])
    if no_code:
        para += nodes.Text(" ")
        para += nodes.inline(text=NO_CODE_LABEL, classes=["kb-no-code"])
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
        _depend_on_all_articles(self.env)
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
        _depend_on_all_articles(self.env)
        n = int(self.arguments[0]) if self.arguments else 8
        # Newest first; among equal dates (or none), the order of the table of contents.
        ordered = sorted(_articles(self.env), key=lambda a: (a.date or "", a.slug), reverse=True)
        no_code = _no_code(self.env)
        return [_bullets([_article_item(a, show_date=True, no_code=a.slug in no_code) for a in ordered[:n]])]


class TopicArticlesDirective(SphinxDirective):
    required_arguments = 1

    def run(self):
        _depend_on_all_articles(self.env)  # an article may move into this topic
        key = self.arguments[0]
        members = [a for a in _articles(self.env) if topic_named(a.topic).key == key]
        no_code = _no_code(self.env)
        return [_bullets([_article_item(a, no_code=a.slug in no_code) for a in sorted(members, key=lambda a: a.slug)])]


def tag_anchor(tag: str) -> str:
    return "tag-" + hashlib.sha1(tag.encode("utf-8")).hexdigest()[:10]


class TagsDirective(SphinxDirective):
    def run(self):
        _depend_on_all_articles(self.env)
        by_tag: dict[str, list[Article]] = {}
        for a in _articles(self.env):
            for tag in a.tags:
                by_tag.setdefault(tag, []).append(a)
        out = []
        for tag in sorted(by_tag, key=str.lower):
            sec = nodes.section(ids=[tag_anchor(tag)])
            sec += nodes.title(text=f"{tag}（{len(by_tag[tag])}）")
            sec += _bullets([_article_item(a) for a in sorted(by_tag[tag], key=lambda a: a.slug)])
            out.append(sec)
        return out


class ExecutionStatusDirective(SphinxDirective):
    """The execution report as a table; the sortable behaviour is kb-sortable.js."""

    def run(self):
        report_path = layout.report_file(Path(self.env.srcdir))
        self.env.note_dependency(str(report_path))
        self.env.note_dependency(str(layout.mutants_report(Path(self.env.srcdir))))
        records = read_json(report_path) or []
        mutants = _mutants(Path(self.env.srcdir))
        by_slug = _article_by(self.env, "slug")
        records = [r for r in records if r.get("slug") in by_slug]
        if not records:
            return [nodes.paragraph(text="尚无执行记录：运行 python -m book execute。 No execution report yet.")]
        ok = sum(r["status"] == "ok" for r in records)
        no_code = sum(r["status"] == "no-code" for r in records)
        failed = [r for r in records if r["status"] not in PASSED]
        out = [nodes.paragraph(text=f"{len(records)} 篇文章 · articles: {ok} ok, {no_code} {NO_CODE_LABEL}, "
                                    f"{len(failed)} failed / timed out.")]
        header = ["文章 · Article", "状态 · Status", "变异被捕获 · Mutants killed", "耗时 · Seconds",
                  "设备 · Device", "日期 · Date"]
        rows = []
        # Failures first, then articles without code yet, then the rest.
        for r in sorted(records, key=lambda r: (r["status"] in PASSED, r["status"] == "ok", r["slug"])):
            a = by_slug[r["slug"]]
            status: nodes.Node = nodes.Text(r["status"])
            if r["status"] == "no-code":
                status = nodes.inline(text=NO_CODE_LABEL, classes=["kb-no-code"])
            elif r["status"] not in PASSED:
                status = nodes.reference("", r["status"], refid=f"failure-{r['slug']}")
            m = mutants.get(r["slug"])
            killed = nodes.reference("", f"{m['killed']}/{m['total']}", refid=f"mutants-{r['slug']}") if m \
                else nodes.Text("—")
            rows.append([_doc_link(a.docname, nodes.inline(text=a.title)), status, killed,
                         nodes.Text(f"{r['seconds']:.1f}"), nodes.Text(device_label(r["device"])),
                         nodes.Text(r["started"][:10])])
        out.append(_table(header, rows, classes=["kb-status", "kb-sortable"]))
        for r in failed:
            sec = nodes.section(ids=[f"failure-{r['slug']}"])
            sec += nodes.title(text=f"{r['slug']}: {r['status']}")
            sec += nodes.paragraph(text=f"{by_slug[r['slug']].path.as_posix()} · {failure_location(r)}")
            if r.get("failed_source"):
                sec += nodes.literal_block(text=r["failed_source"], language="python")
            sec += nodes.literal_block(text=r.get("traceback") or "", language="text")
            out.append(sec)
        if mutants:
            out.append(_mutant_sections(mutants, by_slug))
        return out


def _mutants(srcdir: Path) -> dict[str, dict]:
    """``python -m book mutate``'s report by slug (empty before the first run)."""
    return {m["slug"]: m for m in read_json(layout.mutants_report(srcdir)) or []}


def _mutant_sections(mutants: dict[str, dict], by_slug: dict[str, Article]) -> nodes.section:
    """Per article, each mutant: the bug it plants and whether a check caught it."""
    top = nodes.section(ids=["mutants"])
    top += nodes.title(text="变异测试 · Mutants")
    top += nodes.paragraph(text="每篇文章都声明几个貌似合理的错误（变异）；python -m book mutate 逐个植入并执行，"
                                "检查必须失败。 Each article declares plausible bugs; each is planted and run, and "
                                "a check must fail.")
    for slug in sorted(s for s in mutants if s in by_slug):
        m = mutants[slug]
        sec = nodes.section(ids=[f"mutants-{slug}"])
        sec += nodes.title(text=f"{by_slug[slug].title} · {m['killed']}/{m['total']} killed")
        rows = [[nodes.Text(str(r["n"])), nodes.Text(r["why"]), nodes.literal(text=r["find"]),
                 nodes.literal(text=r["replace"]), nodes.Text(r["outcome"])] for r in m["mutants"]]
        sec += _table(["#", "错误 · Bug", "原代码 · Code", "改为 · Mutated to", "结果 · Outcome"], rows,
                      classes=["kb-mutants"])
        top += sec
    return top


def _table(header: list[str], rows: list[list[nodes.Node]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in header]
    thead = nodes.thead()
    thead += nodes.row("", *[nodes.entry("", nodes.paragraph(text=h)) for h in header])
    tbody = nodes.tbody()
    for row in rows:
        tbody += nodes.row("", *[nodes.entry("", nodes.paragraph("", "", cell)) for cell in row])
    group += [thead, tbody]
    return table


def add_article_extras(app, doctree):
    """Execution badge + .ipynb download under the title; related articles at the end."""
    env = app.env
    article = _article_by(env, "docname").get(env.docname)
    if article is None:
        return
    srcdir = Path(env.srcdir)
    record_file = layout.record_file(srcdir, article.slug)
    download = layout.downloaded_notebook(srcdir, article.path)
    env.note_dependency(str(record_file))
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        # Under the title block: title, English title, provenance line, then badge and tags.
        anchor = next((i for i, child in enumerate(section.children)
                       if any("kb-provenance" in n.get("classes", []) for n in child.findall(nodes.inline))),
                      section.index(next(iter(section.findall(nodes.title)))))
        env.note_dependency(str(layout.mutants_report(srcdir)))
        status_page = app.builder.get_relative_uri(env.docname, "book/status")
        env.note_dependency(str(layout.launch_links_file(srcdir)))
        launch = (read_json(layout.launch_links_file(srcdir)) or {}).get(article.slug) or []
        section.insert(anchor + 1, _badge(read_json(record_file), download, srcdir,
                                          _mutants(srcdir).get(article.slug), status_page, launch))
        if article.tags:
            section.insert(anchor + 2, _tag_links(article))
        related = _related_block(env, article, srcdir)
        if related is not None:
            section.append(related)


def _badge(record, download: Path, srcdir: Path, mutants: dict | None = None,
           status_page: str = "", launch: list = ()) -> nodes.paragraph:
    para = nodes.paragraph(classes=["kb-badge"])
    if not record:
        para["classes"].append("kb-badge-none")
        para += nodes.Text("尚未执行 · not executed yet")
        return para
    if record["status"] == "no-code":
        para["classes"].append("kb-badge-no-code")
        para += nodes.Text(NO_CODE_LABEL)
        return para  # nothing was executed: no notebook worth downloading
    if record["status"] == "ok":
        day = datetime.fromisoformat(record["started"]).date().isoformat()
        para += nodes.Text(f"executed on {device_label(record['device'])} · {record['seconds']:.1f} s · {day}")
    else:
        para["classes"].append("kb-badge-failed")
        para += _doc_link("book/status", nodes.inline(text=f"execution {record['status']} · see the status page"))
    if mutants:
        para += nodes.Text(" · ")
        para += nodes.reference("", f"mutants killed {mutants['killed']}/{mutants['total']}",
                                refuri=f"{status_page}#mutants-{record['slug']}")
    if download.exists():
        para += nodes.Text(" · ")
        ref = download_reference("", "", reftarget="/" + download.relative_to(srcdir).as_posix(), refexplicit=True)
        ref += nodes.literal(text="下载 .ipynb · download")
        para += ref
        for label, url in launch:  # the same notebook, opened where it can run
            para += nodes.Text(" · ")
            para += nodes.reference("", f"在 {label} 运行 · run in {label}", refuri=url, classes=["kb-launch"])
    return para


def _tag_links(article: Article) -> nodes.paragraph:
    para = nodes.paragraph(classes=["kb-tags"])
    para += nodes.Text("标签 · tags: ")
    for i, tag in enumerate(article.tags):
        if i:
            para += nodes.Text(" ")
        # A doc xref cannot carry an anchor, so link the tag's section on the index page directly.
        up = "../" * article.docname.count("/")
        para += nodes.reference("", "", nodes.inline(text=tag, classes=["kb-tag"]),
                                refuri=f"{up}book/tags.html#{tag_anchor(tag)}", internal=True)
    return para


def _related_block(env, article: Article, srcdir: Path):
    related_file = layout.related_file(srcdir)
    env.note_dependency(str(related_file))
    neighbours = (read_json(related_file) or {}).get(article.slug) or []
    by_slug = _article_by(env, "slug")
    items = [_article_item(by_slug[n["slug"]]) for n in neighbours if n.get("slug") in by_slug]
    if not items:
        return None
    sec = nodes.section(ids=["related-articles"], classes=["kb-related"])
    sec += nodes.rubric(text="相关文章 / Related articles")
    sec += _bullets(items)
    return sec


def escape_theme_page_title(app, pagename, templatename, context, doctree):
    """sphinx-book-theme 1.3 puts ``title.astext()`` (unescaped text) into ``pagetitle`` and prints
    it raw in the print-only header, so a feed-derived title could inject markup. Escape it."""
    title = context.get("pagetitle")
    if isinstance(title, str) and not hasattr(title, "__html__"):
        context["pagetitle"] = html.escape(title)


def drop_thebe_scripts(app, pagename, templatename, context, doctree):
    """Live code (thebe) is off, yet sphinx-thebe injects its config script twice on notebook pages,
    which is a JavaScript error ('THEBE_JS_URL has already been declared'), and it names a CDN."""
    def is_thebe(js) -> bool:
        name = str(getattr(js, "filename", "") or "")
        body = str(getattr(js, "attributes", {}).get("body", ""))
        return "thebe" in name or "THEBE_JS_URL" in body

    context["script_files"] = [js for js in context.get("script_files", []) if not is_thebe(js)]


def install_search_assets(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from book import search_assets

    for line in search_assets.install(Path(app.srcdir), Path(app.outdir)):
        print(f"kb-search: {line}")  # not a Sphinx warning: a site without them still works


def setup(app):
    app.connect("html-page-context", drop_thebe_scripts)
    app.connect("build-finished", install_search_assets)
    app.connect("env-before-read-docs", _forget_articles)
    app.connect("html-page-context", escape_theme_page_title, priority=900)  # after the theme's (500)
    app.add_directive("kb-topics", TopicsDirective)
    app.add_directive("kb-newest", NewestDirective)
    app.add_directive("kb-topic-articles", TopicArticlesDirective)
    app.add_directive("kb-execution-status", ExecutionStatusDirective)
    app.add_directive("kb-tags", TagsDirective)
    # Before Sphinx's own collectors (priority 500), so the download link gets its file registered.
    app.connect("doctree-read", add_article_extras, priority=400)
    # Bump env_version when this extension changes what it puts into doctrees: Sphinx then re-reads all.
    return {"version": "1.0", "env_version": 8, "parallel_read_safe": True, "parallel_write_safe": True}
