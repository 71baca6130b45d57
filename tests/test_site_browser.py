"""The published site as a reader uses it, in headless Chromium with the network closed.

Runs against the real build in ``_build/html`` (``make site`` / ``make test`` produce it) and
against a scratch build that ingested a hostile feed.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ingest.store import load_articles
from tests.browser import Chromium, serve_directory
from tests.conftest import REPO

SITE = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "screenshots"
ARTICLES = load_articles(REPO)


def url_of(article) -> str:
    return article.path.with_suffix(".html").as_posix()


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def site(chromium):
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make site` (or `make test`, which builds it first)")
    with serve_directory(SITE) as base, chromium.page(base) as (page, log):
        yield base, page, log


def visit(page, log, url, wait_for=None):
    log.clear()
    page.goto(url, wait_until="load")
    if wait_for:
        page.wait_for_selector(wait_for, state="attached", timeout=20000)
    page.wait_for_load_state("networkidle")


def assert_clean(log, where):
    assert not log.external_requests, f"{where}: requests leaving the site: {log.external_requests}"
    assert not log.failed_requests, f"{where}: failed requests: {log.failed_requests}"
    assert not log.console_errors and not log.page_errors, f"{where}: {log.console_errors + log.page_errors}"


def test_every_article_page_loads_cleanly_and_offline(site):
    base, page, log = site
    for a in ARTICLES:
        visit(page, log, f"{base}/{url_of(a)}")
        assert_clean(log, a.slug)
        assert page.locator("main h1").first.inner_text().startswith(a.title)


def test_home_page_shows_topics_newest_articles_and_search(site):
    base, page, log = site
    visit(page, log, f"{base}/index.html", wait_for="main")
    assert_clean(log, "home")
    main = page.locator("main").inner_text()
    assert "主题 · Topics" in main and "最新文章 · Newest articles" in main
    assert re.search(r"生成模型 · Generative models（\d+ 篇", main)
    assert page.locator("form.bd-search input, input[name=q]").count() >= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)


MATH_ARTICLES = [a for a in ARTICLES if "\\(" in a.text or "\\[" in a.text]


def test_math_is_typeset_and_no_raw_delimiters_remain(site):
    base, page, log = site
    assert len(MATH_ARTICLES) >= 5
    for a in MATH_ARTICLES:
        visit(page, log, f"{base}/{url_of(a)}", wait_for="mjx-container")
        page.wait_for_function("() => !document.querySelector('main .math:not(:has(mjx-container))')", timeout=20000)
        excerpt = page.locator("main blockquote").first.inner_text()
        assert "$$" not in excerpt and "\\(" not in excerpt and "\\[" not in excerpt, a.slug
        closed = re.findall(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", a.text)  # a formula the excerpt cut off is a placeholder
        assert page.locator("main blockquote mjx-container").count() >= len(closed), a.slug


def test_executed_outputs_and_plots_are_visible(site):
    base, page, log = site
    report = {r["slug"]: r for r in json.loads((REPO / "_build/execution/report.json").read_text(encoding="utf-8"))}
    with_plots = 0
    for a in ARTICLES:
        nb = json.loads((REPO / "_build/execution/notebooks" / a.path.with_suffix(".ipynb")).read_text(encoding="utf-8"))
        images = sum("image/png" in o.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
        if not images:
            continue
        with_plots += 1
        visit(page, log, f"{base}/{url_of(a)}", wait_for=".cell_output img")
        visible = page.locator(".cell_output img").evaluate_all(
            "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0).length")
        assert visible == images, a.slug
        assert page.locator(".cell_output").first.is_visible()
        badge = page.locator(".kb-badge").inner_text()
        assert badge.startswith("executed on") and f"{report[a.slug]['seconds']:.1f} s" in badge
    assert with_plots >= 30


def test_sphinx_chinese_search_finds_the_receptive_field_article(site):
    base, page, log = site
    visit(page, log, f"{base}/search.html?q=感受野", wait_for="#search-results ul.search li")
    first = page.locator("#search-results ul.search li a").first.get_attribute("href")
    assert "receptive-field" in first


def test_related_article_links_resolve(site):
    base, page, log = site
    checked = 0
    for a in ARTICLES:
        visit(page, log, f"{base}/{url_of(a)}")
        hrefs = page.locator("#related-articles a").evaluate_all("links => links.map(l => l.href)")
        for href in hrefs:
            with urllib.request.urlopen(href) as resp:  # the loopback server above
                assert resp.status == 200
            checked += 1
    assert checked >= len(ARTICLES)  # every article lists neighbours


def test_hostile_feed_text_is_shown_literally_and_runs_nothing(hostile_site, chromium):
    hostile = [a for a in load_articles(hostile_site) if a.feeds[0]["file"] == "hostile.txt"]
    assert len(hostile) == 3
    with serve_directory(hostile_site / "_build" / "html") as base, chromium.page(base) as (page, log):
        for a in hostile:
            visit(page, log, f"{base}/{url_of(a)}")
            assert not log.dialogs, f"a script ran on {a.slug}: {log.dialogs}"
            assert_clean(log, a.slug)
            if a.text.startswith("% a MyST comment"):
                assert "\\href{javascript:alert(1)}{click}" in page.locator("main blockquote").inner_text()
        xss = next(a for a in hostile if a.text.startswith("XSS"))
        visit(page, log, f"{base}/{url_of(xss)}")
        text = page.locator("main blockquote").inner_text()
        assert "<script>alert('xss-script')</script>" in text and "onerror=\"alert('xss-img')\"" in text
        page.wait_for_timeout(500)  # give an injected handler (e.g. img onerror) time to fire
        assert not log.dialogs and page.locator("main img[src='x']").count() == 0


@pytest.fixture(scope="module")
def search_server():
    """`python -m search serve` on a free loopback port: the whole site plus the search API."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "search", "serve", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"`python -m search serve` did not come up: {proc.stdout.read()[-2000:]}")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("query", ["多卡分布式训练", "training on several GPUs"])
def test_semantic_search_page_puts_the_ddp_article_first(search_server, chromium, query):
    with chromium.page(search_server) as (page, log):
        visit(page, log, f"{search_server}/book/semantic_search.html?query={urllib.parse.quote(query)}",
              wait_for="#kb-ss-results li a")
        first = page.locator("#kb-ss-results li a").first
        assert "ddp-quick-start" in first.get_attribute("href")
        assert_clean(log, f"semantic search for {query!r}")
        first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("articles/frameworks/ddp-quick-start.html")
        if query.isascii():
            page.go_back()
            page.wait_for_selector("#kb-ss-results li a")
            page.screenshot(path=str(SCREENSHOTS / "semantic-search.png"), full_page=True)


def test_home_search_box_leads_to_semantic_results(search_server, chromium):
    with chromium.page(search_server) as (page, log):
        visit(page, log, f"{search_server}/book/index.html")
        page.fill("form.kb-home-search input[name=query]", "感受野怎么计算")
        page.press("form.kb-home-search input[name=query]", "Enter")
        page.wait_for_selector("#kb-ss-results li a", timeout=20000)
        assert "receptive-field" in page.locator("#kb-ss-results li a").first.get_attribute("href")
        assert_clean(log, "home search")


def test_screenshot_of_an_article_for_review(site):
    base, page, log = site
    ddp = next(a for a in ARTICLES if a.slug == "ddp-quick-start")
    visit(page, log, f"{base}/{url_of(ddp)}", wait_for=".cell_output img")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "article-ddp.png"), full_page=False)
    assert (SCREENSHOTS / "article-ddp.png").stat().st_size > 10_000
