"""The published site, read as static HTML: what needs no browser is checked here, page by page.

Runs against the real build in ``_build/html`` (``make site`` / ``make test`` produce it). What only
a browser can tell (scripts running, math typeset, images decoding, search answering) is in
``test_site_browser.py``.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

from ingest.store import load_articles
from ingest.topics import topic_named
from kb import layout
from kb.files import read_json
from runner.records import NO_CODE_LABEL, device_label, load_record
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # reads the built site (make site)

SITE = layout.html_dir(REPO)
ARTICLES = load_articles(REPO)
# What `book mutate` last reported (the build shows it); empty before the first run.
MUTANTS = {m["slug"]: m for m in read_json(layout.mutants_report(REPO)) or []}
RESOURCE_ATTRS = (("script", "src"), ("link", "href"), ("img", "src"), ("source", "src"), ("iframe", "src"))


@pytest.fixture(scope="module", autouse=True)
def built():
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make site` (or `make test`, which builds it first)")


@cache
def soup_of(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def article_page(article) -> Path:
    return SITE / article.path.with_suffix(".html")


def local_target(page: Path, url: str) -> Path | None:
    """The file a same-site URL points to, or None for a fragment-only link."""
    parts = urlsplit(url)
    if not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


def every_page() -> list[Path]:
    """The pages readers get; ``_static`` holds the theme's template fragments, not pages."""
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts)


def test_every_page_loads_only_files_of_the_site():
    """No CDN, no remote font or script: every resource a page names is a file in the build."""
    remote, missing = [], []
    for page in every_page():
        soup = soup_of(page)
        for tag, attr in RESOURCE_ATTRS:
            for el in soup.find_all(tag):
                url = el.get(attr)
                if not url or url.startswith("data:"):
                    continue
                if re.match(r"^([a-z]+:)?//", url, re.I):
                    remote.append(f"{page.relative_to(SITE)}: <{tag} {attr}={url}>")
                elif (target := local_target(page, url)) is not None and not target.is_file():
                    missing.append(f"{page.relative_to(SITE)}: {url}")
    assert not remote, remote[:10]
    assert not missing, missing[:10]


def test_every_internal_link_resolves():
    broken = []
    for page in every_page():
        for a in soup_of(page).find_all("a", href=True):
            href = a["href"]
            if re.match(r"^[a-z]+:", href, re.I):  # mailto:, https: (none expected), javascript: (never)
                assert not href.lower().startswith("javascript:"), f"{page}: {href}"
                continue
            target = local_target(page, href)
            if target is not None and not target.exists():
                broken.append(f"{page.relative_to(SITE)}: {href}")
    assert not broken, broken[:10]


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.slug)
def test_article_page_has_title_badge_outputs_and_related(article):
    soup = soup_of(article_page(article))
    main = soup.find("main")
    assert main.find("h1").get_text().startswith(article.title)
    record = load_record(REPO, article.slug)
    assert record is not None, f"{article.slug} was never executed"
    badge = main.select_one(".kb-badge").get_text(" ", strip=True)
    if record.status == "ok":
        assert badge.startswith(f"executed on {device_label(record.device)} · {record.seconds:.1f} s"), badge
    elif record.status == "no-code":
        assert badge == NO_CODE_LABEL
    else:
        assert "execution " + record.status in badge
    mutants = MUTANTS.get(article.slug)
    if mutants:  # the badge says how many of its mutants the checks killed, and links to them
        link = main.select_one(".kb-badge a[href*='#mutants-']")
        assert link.get_text(strip=True) == f"mutants killed {mutants['killed']}/{mutants['total']}"
        target, anchor = link["href"].split("#")
        status = soup_of(local_target(article_page(article), target))
        assert status.find(id=anchor) is not None and anchor == f"mutants-{article.slug}"
    nb = json.loads(layout.executed_notebook(REPO, article.path).read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert len(main.select(".cell_output img")) == images
    for img in main.select(".cell_output img"):
        assert local_target(article_page(article), img["src"]).stat().st_size > 0
    page = article_page(article)
    related = {local_target(page, a["href"]) for a in main.select("#related-articles a")}
    assert 1 <= len(related) <= 5 and page.resolve() not in related
    assert all(t.is_file() for t in related)


def test_most_articles_show_plots():
    with_plots = [a for a in ARTICLES if soup_of(article_page(a)).select(".cell_output img")]
    assert len(with_plots) >= 30


def test_home_page_lists_each_topic_with_its_count_and_the_newest_articles():
    main = soup_of(SITE / "book" / "index.html").find("main")
    text = " ".join(main.get_text(" ").split())
    counts: dict[str, int] = {}
    for a in ARTICLES:
        counts[a.topic] = counts.get(a.topic, 0) + 1
    for topic, n in counts.items():
        t = topic_named(topic)
        assert f"{t.name} · {t.name_en} （{n} 篇 · {n} articles）" in text, topic
    newest = sorted(ARTICLES, key=lambda a: (a.date or "", a.slug), reverse=True)[0]
    assert "最新文章 · Newest articles" in text and newest.title in text
    form = main.select_one("form.kb-home-search")  # ours, not the theme's search button
    assert form is not None and form["action"] == "semantic_search.html"
    assert form.select_one("input[name=query]") is not None


def test_status_page_has_one_row_per_article():
    status = soup_of(SITE / "book" / "status.html")
    rows = status.select("table.kb-status tbody tr")
    assert len(rows) == len(ARTICLES)
    for slug, m in MUTANTS.items():  # each article's mutants: its count in the table, then each mutant
        assert status.select_one(f"table.kb-status a[href='#mutants-{slug}']").get_text() == \
            f"{m['killed']}/{m['total']}"
        assert len(status.select(f"#mutants-{slug} table.kb-mutants tbody tr")) == m["total"]
    linked = {a["href"].rsplit("/", 1)[-1] for a in status.select("table.kb-status tbody tr a")}
    assert {a.path.with_suffix(".html").name for a in ARTICLES} <= linked
