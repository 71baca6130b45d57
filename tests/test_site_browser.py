"""The published site as a reader's browser runs it: headless Chromium, the network closed.

Each article page is visited once; that one visit gathers everything only a browser can tell
(console errors, failed or outside requests, math typeset by MathJax, images decoded and shown),
and the tests below read the gathered facts. What the static HTML already says is checked in
``test_site_html.py`` without a browser.
"""
from __future__ import annotations

import http.server
import os
import re
import selectors
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from ingest.store import load_articles
from kb import layout
from tests.browser import serve, serve_directory
from tests.conftest import REPO

pytestmark = pytest.mark.browser  # drives Chromium over the built site

SITE = layout.html_dir(REPO)
ARTICLES = load_articles(REPO)
MATH_ARTICLES = [a for a in ARTICLES if "\\(" in a.text or "\\[" in a.text]

# Runs in the page once it has loaded: waits for MathJax (when the page has math), images and
# fonts, then reports.
PAGE_FACTS = """async () => {
  if (document.querySelector('main .math') && window.MathJax && MathJax.startup) {
    await MathJax.startup.promise;
  }
  const imgs = [...document.querySelectorAll('main .cell_output img')];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  await document.fonts.ready;  // MathJax's fonts: leaving earlier would abort their requests
  const quote = document.querySelector('main blockquote');
  const first = document.querySelector('main .cell_output');
  return {
    h1: document.querySelector('main h1')?.innerText ?? '',
    excerpt: quote ? quote.innerText : '',
    typeset: quote ? quote.querySelectorAll('mjx-container').length : 0,
    untypeset: document.querySelectorAll('main .math:not(:has(mjx-container))').length,
    images: imgs.length,
    shown: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0).length,
    output_visible: first ? first.getBoundingClientRect().height > 0 : null,
  };
}"""


@dataclass
class Visit:
    facts: dict
    console_errors: list
    failed_requests: list
    external_requests: list
    dialogs: list


def url_of(article) -> str:
    return article.path.with_suffix(".html").as_posix()


@pytest.fixture(scope="module")
def site(chromium):
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make site` (or `make test`, which builds it first)")
    with serve_directory(SITE) as base, chromium.page(base) as (page, log):
        yield base, page, log


def visit(page, log, url: str) -> Visit:
    log.clear()
    page.goto(url, wait_until="load")
    facts = page.evaluate(PAGE_FACTS)
    return Visit(facts, log.console_errors + log.page_errors, list(log.failed_requests),
                 list(log.external_requests), list(log.dialogs))


@pytest.fixture(scope="module")
def article_visits(site) -> dict[str, Visit]:
    """One browser visit per article page."""
    base, page, log = site
    return {a.slug: visit(page, log, f"{base}/{url_of(a)}") for a in ARTICLES}


def assert_clean(v: Visit, where: str) -> None:
    assert not v.external_requests, f"{where}: requests leaving the site: {v.external_requests}"
    assert not v.failed_requests, f"{where}: failed requests: {v.failed_requests}"
    assert not v.console_errors, f"{where}: {v.console_errors}"
    assert not v.dialogs, f"{where}: a script opened a dialog: {v.dialogs}"


def test_every_article_page_runs_cleanly_offline(article_visits):
    for a in ARTICLES:
        v = article_visits[a.slug]
        assert_clean(v, a.slug)
        assert v.facts["h1"].startswith(a.title), a.slug


def test_a_request_leaving_the_site_is_logged_and_never_reaches_its_server(chromium, tmp_path):
    # What every check above relies on. The "outside" server is real and listening, its name resolves
    # to it, and still it must get nothing: only the site's own address is let through.
    reached = []

    class Outside(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            reached.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    with serve(Outside) as outside_url:
        port = outside_url.rsplit(":", 1)[1]
        (tmp_path / "index.html").write_text(
            f"<img src='http://outside.test:{port}/pixel.png'>"
            f"<script>fetch('http://outside.test:{port}/data').then(() => document.title = 'answered', () => {{}});</script>")
        with serve_directory(tmp_path) as base, \
                chromium.page(base, args=("--host-resolver-rules=MAP outside.test 127.0.0.1",)) as (page, log):
            visit(page, log, f"{base}/index.html")
            page.wait_for_function("performance.getEntriesByType('resource').length >= 2")
            assert page.title() != "answered"
    urls = {f"http://outside.test:{port}/pixel.png", f"http://outside.test:{port}/data"}
    assert urls <= set(log.external_requests), log.external_requests
    assert all(any(f.startswith(u) for f in log.failed_requests) for u in urls), log.failed_requests
    assert not reached, reached


def test_math_is_typeset_and_no_raw_delimiters_remain(article_visits):
    assert len(MATH_ARTICLES) >= 5
    for a in MATH_ARTICLES:
        f = article_visits[a.slug].facts
        assert f["untypeset"] == 0, a.slug
        assert "$$" not in f["excerpt"] and "\\(" not in f["excerpt"] and "\\[" not in f["excerpt"], a.slug
        closed = re.findall(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", a.text)  # a formula the excerpt cut off is a placeholder
        assert f["typeset"] >= len(closed), a.slug


def test_every_plot_decodes_and_is_shown(article_visits):
    with_plots = 0
    for a in ARTICLES:
        f = article_visits[a.slug].facts
        if f["images"]:
            with_plots += 1
            assert f["shown"] == f["images"], a.slug
            assert f["output_visible"], a.slug
    assert with_plots >= 30


def assert_not_blank(png) -> None:
    """A rendered page, not an empty or single-colour canvas."""
    with Image.open(png) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, f"{png} looks blank ({len(colours)} colours)"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """Where review screenshots go: ``$KB_SCREENSHOTS`` when set, else a temporary folder."""
    folder = Path(os.environ["KB_SCREENSHOTS"]) if os.environ.get("KB_SCREENSHOTS") else \
        tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_home_page_runs_cleanly_and_is_screenshotted(site, screenshots):
    base, page, log = site
    v = visit(page, log, f"{base}/book/index.html")
    assert_clean(v, "home")
    assert page.locator("form.kb-home-search input[name=query]").is_visible()
    page.screenshot(path=str(screenshots / "home.png"), full_page=True)
    assert_not_blank(screenshots / "home.png")


def test_screenshot_of_an_article_for_review(site, screenshots):
    base, page, log = site
    ddp = next(a for a in ARTICLES if a.slug == "ddp-quick-start")
    v = visit(page, log, f"{base}/{url_of(ddp)}")
    assert v.facts["shown"] >= 1
    page.screenshot(path=str(screenshots / "article-ddp.png"), full_page=False)
    assert_not_blank(screenshots / "article-ddp.png")


def test_sphinx_chinese_search_finds_the_receptive_field_article(site):
    base, page, log = site
    log.clear()
    page.goto(f"{base}/search.html?q=感受野", wait_until="load")
    page.wait_for_selector("#search-results ul.search li", timeout=20000)
    first = page.locator("#search-results ul.search li a").first.get_attribute("href")
    assert "receptive-field" in first


def test_hostile_feed_text_is_shown_literally_and_runs_nothing(hostile_site, chromium):
    hostile = [a for a in load_articles(hostile_site) if a.feeds[0]["file"] == "hostile.txt"]
    assert len(hostile) == 3
    with serve_directory(layout.html_dir(hostile_site)) as base, chromium.page(base) as (page, log):
        for a in hostile:
            # Image error handlers fire before the load event, so a handler a feed smuggled in has run by now.
            v = visit(page, log, f"{base}/{url_of(a)}")
            assert_clean(v, a.slug)
            if a.text.startswith("% a MyST comment"):
                assert "\\href{javascript:alert(1)}{click}" in v.facts["excerpt"]
            if a.text.startswith("XSS"):
                assert "<script>alert('xss-script')</script>" in v.facts["excerpt"]
                assert "onerror=\"alert('xss-img')\"" in v.facts["excerpt"]
                assert page.locator("main img[src='x']").count() == 0


@pytest.fixture(scope="module")
def search_server():
    """`python -m search serve --port 0`: the server binds a free port itself and prints its URL."""
    from embedding.source import CACHE_ENV
    from tests.search_support import model_cache

    # The tests' model cache: a model not yet converted is converted into a temporary folder.
    env = {**os.environ, CACHE_ENV: str(model_cache())}
    proc = subprocess.Popen([sys.executable, "-m", "search", "--root", str(REPO), "serve", "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        base = _wait_for_url(proc, timeout=180)
        # Keep reading its request log, so a full pipe never blocks the server.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        with urllib.request.urlopen(base + "/healthz", timeout=30) as r:
            assert r.status == 200
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for_url(proc, timeout: float) -> str:
    """The URL from the server's first line ('Serving http://host:port/ ...'), printed once it listens."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"Serving (http://[\d.]+:\d+)/", line)
            if m:
                return m.group(1)
    pytest.fail(f"`python -m search serve` did not come up: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("query", ["多卡分布式训练", "training on several GPUs"])
def test_semantic_search_page_puts_the_ddp_article_first(search_server, chromium, query, screenshots):
    with chromium.page(search_server) as (page, log):
        page.goto(f"{search_server}/book/semantic_search.html?query={urllib.parse.quote(query)}", wait_until="load")
        page.wait_for_selector("#kb-ss-results li a", timeout=20000)
        assert page.evaluate("() => window.kbSearch.engine") == "server"  # the page asks the API here
        first = page.locator("#kb-ss-results li a").first
        assert "ddp-quick-start" in first.get_attribute("href")
        assert not log.external_requests and not log.failed_requests and not log.console_errors
        first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("articles/frameworks/ddp-quick-start.html")
        if query.isascii():
            page.go_back()
            page.wait_for_selector("#kb-ss-results li a")
            page.screenshot(path=str(screenshots / "semantic-search.png"), full_page=True)
            assert_not_blank(screenshots / "semantic-search.png")


def test_the_served_page_says_when_no_article_covers_the_query(search_server, chromium):
    with chromium.page(search_server) as (page, log):
        page.goto(f"{search_server}/book/semantic_search.html?query={urllib.parse.quote('红烧肉怎么做才好吃')}",
                  wait_until="load")
        page.wait_for_function("() => document.querySelector('#kb-ss-status').textContent.includes('No article covers')")
        assert page.evaluate("() => window.kbSearch.engine") == "server"
        assert page.locator("#kb-ss-results li a").count() == 10
        assert not log.external_requests and not log.failed_requests and not log.console_errors


def test_home_search_box_leads_to_semantic_results(search_server, chromium):
    with chromium.page(search_server) as (page, log):
        page.goto(f"{search_server}/book/index.html", wait_until="load")
        page.fill("form.kb-home-search input[name=query]", "感受野怎么计算")
        page.press("form.kb-home-search input[name=query]", "Enter")
        page.wait_for_selector("#kb-ss-results li a", timeout=20000)
        assert "receptive-field" in page.locator("#kb-ss-results li a").first.get_attribute("href")
        assert not log.external_requests and not log.failed_requests and not log.console_errors
