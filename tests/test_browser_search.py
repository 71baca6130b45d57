"""Semantic search answered in the reader's browser, on a static copy of the site.

The built site is served by a plain static file server under a sub-path (as on
``https://user.github.io/repo/``), every request that leaves it is blocked and counted, and the
page runs the exported model (4-bit weights) in a Web Worker (``book/_static/kb-search``).
"""
from __future__ import annotations

import re
import urllib.parse

import numpy as np
import pytest

from kb import layout
from search.evaluate import load_queries
from embedding import load_embedder
from search.query import Searcher
from tests.browser import serve_directory
from tests.conftest import REPO

pytestmark = pytest.mark.browser  # drives Chromium over the built site

SITE = layout.html_dir(REPO)
SUB = "kb-repo"  # the sub-path the site is published under
HARD = REPO / "search" / "eval_queries_hard.yaml"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    if not (SITE / "_static" / "kb-search" / "data" / "meta.json").exists():
        pytest.fail("no in-browser search data in the built site: run `make site` (search build, then book build)")
    top = tmp_path_factory.mktemp("pages")
    (top / SUB).symlink_to(SITE, target_is_directory=True)
    with serve_directory(top) as host:
        yield host, f"{host}/{SUB}"  # the server's origin (pages may load only from it), the site


@pytest.fixture(scope="module")
def search_page(published, chromium):
    """One page with the model loaded, shared by the tests that only call kbSearch."""
    host, site = published
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/book/semantic_search.html", wait_until="load")
        assert page.evaluate("() => window.kbSearch.ready") == "browser"
        page.evaluate("() => window.kbSearch.semanticReady")
        yield page, log


@pytest.fixture(scope="module")
def python_side():
    embedder = load_embedder(progress=False)
    return embedder, Searcher(REPO, embedder)


def test_the_workers_warm_up_model_is_one_identity_node():
    # worker.mjs makes onnxruntime compile its wasm on these bytes while the real model downloads.
    import onnx

    text = (REPO / "book" / "_static" / "kb-search" / "worker.mjs").read_text(encoding="utf-8")
    literal = re.search(r"const WARM_UP = new Uint8Array\(\[([\d,\s]+)\]\)", text).group(1)
    model = onnx.load_from_string(bytes(int(b) for b in literal.split(",")))
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Identity"]


def _for_each(page, js_function: str, items: list):
    """``js_function`` applied in the page to each item in turn (one round trip for all)."""
    return page.evaluate(f"async (items) => {{ const f = {js_function}; const out = [];"
                         f" for (const x of items) out.push(await f(x)); return out; }}", items)


def _queries():
    return [q["q"] for q in load_queries()] + [q["q"] for q in load_queries(HARD)]


@pytest.mark.parametrize("query", ["多卡分布式训练", "training on several GPUs"])
def test_the_static_page_puts_the_ddp_article_first(published, chromium, query):
    host, site = published
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/book/semantic_search.html?query={urllib.parse.quote(query)}", wait_until="load")
        assert page.evaluate("() => window.kbSearch.engine") in ("browser", "starting")
        page.evaluate("() => window.kbSearch.semanticReady")
        page.wait_for_function("() => document.querySelector('#kb-ss-status').textContent.includes('articles')"
                               " && !document.querySelector('#kb-ss-status').textContent.includes('keyword')")
        first = page.locator("#kb-ss-results li a").first
        assert first.get_attribute("href").startswith(f"{site}/articles/")
        assert "ddp-quick-start" in first.get_attribute("href")
        assert page.evaluate("() => window.kbSearch.engine") == "browser"
        assert page.locator("#kb-ss-results mark").count() > 0  # the query's terms are marked
        assert not log.external_requests and not log.failed_requests and not log.console_errors, log


def test_browser_vectors_match_python_for_every_eval_query(search_page, python_side):
    page, _ = search_page
    embedder, _ = python_side
    queries = _queries()
    got = _for_each(page, "q => window.kbSearch.embed(q)", queries)
    want_ids = embedder.token_ids([embedder.query_prefix + q for q in queries])
    assert [g["ids"] for g in got] == want_ids  # the same tokens: tokenizers.js reproduces tokenizers
    browser = np.array([g["vector"] for g in got], np.float32)
    python = embedder.embed_queries(queries)
    cos = (browser * python).sum(1) / np.linalg.norm(browser, axis=1) / np.linalg.norm(python, axis=1)
    assert cos.min() >= 0.999, [(q, float(c)) for q, c in zip(queries, cos) if c < 0.999][:5]


def test_browser_and_server_return_the_same_top_results(search_page, python_side):
    page, _ = search_page
    _, searcher = python_side
    # A third of the queries, end to end through the page: the vectors test above covers every
    # query's vector, and tests/test_browser_search_ranking.py every query's ranking.
    queries = _queries()[::3]
    browser = _for_each(page, "async q => (await window.kbSearch(q, {k: 5})).map(r => r.slug)", queries)
    server = [[r.slug for r in searcher.search(q, 5)] for q in queries]
    first_differs = [(q, b, s) for q, b, s in zip(queries, browser, server) if b[:1] != s[:1]]
    assert not first_differs, first_differs[:3]
    same_five = sum(b == s for b, s in zip(browser, server)) / len(queries)
    assert same_five >= 0.95, same_five


def test_results_carry_the_page_api_fields_and_urls_under_the_sub_path(search_page, published):
    _, site = published
    page, log = search_page
    results = page.evaluate("() => window.kbSearch('感受野怎么计算', {k: 3})")
    assert len(results) == 3 and results[0]["slug"] == "receptive-field"
    assert set(results[0]) == {"slug", "title", "title_en", "url", "score", "snippet"}
    assert results[0]["url"] == f"{site}/articles/vision/receptive-field.html"
    assert not log.external_requests


def test_a_hostile_query_is_shown_as_text(published, chromium):
    host, site = published
    hostile = "<img src=x onerror=alert(1)> {eval-rst} <script>alert(2)</script> 感受野"
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/book/semantic_search.html?query={urllib.parse.quote(hostile)}", wait_until="load")
        page.wait_for_selector("#kb-ss-results li a", timeout=30000)
        assert page.locator("#kb-ss-results img, #kb-ss-status img, main img[src='x']").count() == 0
        assert page.input_value("#kb-ss-query") == hostile
        assert not log.dialogs and not log.page_errors and not log.external_requests


def test_a_query_no_article_covers_says_so_then_lists_the_nearest_and_offers_a_request(published, chromium):
    host, site = published
    query = "how to bake sourdough bread at home"
    with chromium.page(host) as (page, log):
        # As book.search_assets writes it when _config.yml names a GitHub repository.
        page.route("**/kb-search/site.json", lambda r: r.fulfill(
            status=200, content_type="application/json", body='{"new_issue_url": "https://github.com/o/r/issues/new"}'))
        page.goto(f"{site}/book/semantic_search.html?query={urllib.parse.quote(query)}", wait_until="load")
        page.evaluate("() => window.kbSearch.semanticReady")
        page.wait_for_function("() => document.querySelector('#kb-ss-status').textContent.includes('No article covers')")
        assert page.locator("#kb-ss-results li a").count() == 10  # the nearest articles, still listed
        link = urllib.parse.urlsplit(page.locator("#kb-ss-status a.kb-ss-request").get_attribute("href"))
        assert (link.netloc, link.path) == ("github.com", "/o/r/issues/new")
        assert urllib.parse.parse_qs(link.query)["title"] == [f"Article request: {query}"]
        answer = page.evaluate("(q) => window.kbSearch.answer(q, {k: 3})", query)
        assert answer["covered"] is False and len(answer["results"]) == 3
        covered = page.evaluate("(q) => window.kbSearch.answer(q, {k: 3})", "感受野怎么计算")
        assert covered["covered"] is True and covered["results"][0]["slug"] == "receptive-field"
        assert not log.external_requests and not log.console_errors, log


def test_without_a_repository_the_uncovered_notice_has_no_request_link(published, chromium):
    host, site = published
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/book/semantic_search.html?query={urllib.parse.quote('红烧肉怎么做才好吃')}", wait_until="load")
        page.evaluate("() => window.kbSearch.semanticReady")
        page.wait_for_function("() => document.querySelector('#kb-ss-status').textContent.includes('No article covers')")
        assert page.locator("#kb-ss-status a").count() == 0
        assert not log.failed_requests, log  # site.json exists (empty) on every build


def test_an_over_long_query_gets_a_message_not_an_exception(published, chromium):
    host, site = published
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/book/semantic_search.html?query={'长' * 1200}", wait_until="load")
        page.wait_for_function("() => document.querySelector('#kb-ss-status').textContent.includes('limit')")
        assert "1200" in page.inner_text("#kb-ss-status")
        with pytest.raises(Exception, match="limit is 1000"):
            page.evaluate("() => window.kbSearch('x'.repeat(1001))")
        assert not log.page_errors


def test_without_the_model_files_the_page_says_so_and_keyword_results_answer(published, chromium):
    host, site = published
    with chromium.page(host) as (page, log):
        page.route("**/model/model.onnx", lambda r: r.fulfill(status=404, body="gone"))
        page.goto(f"{site}/book/semantic_search.html?query={urllib.parse.quote('多卡分布式训练')}", wait_until="load")
        with pytest.raises(Exception, match="model"):
            page.evaluate("() => window.kbSearch.semanticReady")
        page.wait_for_function("() => document.querySelector('#kb-ss-engine').textContent.includes('unavailable')")
        page.wait_for_selector("#kb-ss-results li a")
        assert "keyword" in page.inner_text("#kb-ss-status")
        assert "ddp-quick-start" in page.locator("#kb-ss-results li a").first.get_attribute("href")
        assert not log.external_requests


def test_the_header_search_box_leads_to_semantic_results(published, chromium):
    host, site = published
    with chromium.page(host) as (page, log):
        page.goto(f"{site}/articles/vision/receptive-field.html", wait_until="load")
        page.evaluate("""() => { const f = document.querySelector('form.bd-search');
                                 f.querySelector("input[name='q']").value = '训练时半精度梯度下溢';
                                 f.requestSubmit(); }""")
        page.wait_for_url("**/book/semantic_search.html?query=*")
        assert page.url.startswith(f"{site}/book/semantic_search.html")
        page.wait_for_selector("#kb-ss-results li a", timeout=30000)
        assert not log.external_requests


def test_a_copy_opened_from_disk_says_it_needs_http_and_hands_the_query_to_keyword_search(chromium):
    # file:// pages may not load module scripts, workers or fetch: the page must not sit blank.
    with chromium.page("file://") as (page, log):
        page.goto(f"{SITE.resolve().as_uri()}/book/semantic_search.html?query=DDP", wait_until="load")
        assert "file://" in page.inner_text("#kb-ss-status")
        link = page.locator("#kb-ss-status a")
        assert link.get_attribute("href").endswith("search.html?q=DDP")
        link.click()
        page.wait_for_selector("#search-results li a", timeout=30000)
        assert any("ddp-quick-start" in (a.get_attribute("href") or "")
                   for a in page.locator("#search-results li a").all())
        # (Sphinx's own search then fails to fetch page summaries from disk; that is its business.)
        assert not [e for e in log.console_errors + log.failed_requests if "kb-search" in e], log
        # The header box keeps Sphinx's keyword page here.
        page.goto(f"{SITE.resolve().as_uri()}/articles/vision/receptive-field.html", wait_until="load")
        page.evaluate("""() => { const f = document.querySelector('form.bd-search');
                                 f.querySelector("input[name='q']").value = 'DDP'; f.requestSubmit(); }""")
        page.wait_for_url("**/search.html?q=DDP*")
