/* Semantic search page: asks `python -m search serve`'s /api/search, and falls back to
 * Sphinx's own (jieba) search page when that API is not there (static hosting).
 * Result text is only ever set with textContent: titles and snippets come from feeds. */
(function () {
  "use strict";

  var MAX_QUERY = 1000;
  // Not "q": Sphinx's searchtools.js runs its own search on any page whose URL carries ?q=.
  var PARAM = "query";

  function siteRoot() {
    // Sphinx >= 7.2 writes the relative way to the site root on <html>; resolve it to a URL.
    var rel = document.documentElement.getAttribute("data-content_root");
    if (rel === null) {
      var me = document.querySelector('script[src$="_static/semantic-search.js"]');
      if (me) return me.src.replace(/_static\/semantic-search\.js.*$/, "");
      rel = "../";
    }
    return new URL(rel, window.location.href).href;
  }

  var root = siteRoot();

  function articleHref(path) {
    // "articles/vision/x.md" -> <root>articles/vision/x.html
    return new URL(String(path).replace(/\.(md|ipynb)$/, ".html"), root).href;
  }

  function fallBack(q) {
    window.location.href = new URL("search.html", root).href + "?q=" + encodeURIComponent(q);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(results, list, status, q) {
    while (list.firstChild) list.removeChild(list.firstChild);
    if (!results.length) {
      status.textContent = "没有找到相关文章 · No matching articles for “" + q + "”.";
      return;
    }
    status.textContent = results.length + " 篇相关文章 · " + results.length + " articles";
    results.forEach(function (r) {
      var item = el("li", "kb-ss-result");
      var link = el("a", "kb-ss-title", r.title || r.slug);
      link.href = articleHref(r.path);
      item.appendChild(link);
      if (r.title_en) item.appendChild(el("span", "kb-ss-title-en", " · " + r.title_en));
      if (r.snippet) item.appendChild(el("p", "kb-ss-snippet", r.snippet));
      list.appendChild(item);
    });
  }

  function search(q, list, status) {
    status.textContent = "搜索中… · Searching…";
    var url = new URL("api/search", root);
    url.searchParams.set("q", q);
    url.searchParams.set("k", "10");
    return fetch(url.href, { headers: { Accept: "application/json" } })
      .then(function (resp) {
        var type = resp.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") !== 0) throw new Error("no search API here");
        return resp.json().then(function (body) {
          if (!resp.ok) {
            status.textContent = "错误 · Error: " + (body && body.error ? body.error : resp.status);
            return;
          }
          render(body, list, status, q);
        });
      })
      .catch(function () { fallBack(q); });
  }

  function start() {
    var form = document.getElementById("kb-semantic-search");
    if (!form) return;
    var input = document.getElementById("kb-ss-query");
    var list = document.getElementById("kb-ss-results");
    var status = document.getElementById("kb-ss-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var q = input.value.trim().slice(0, MAX_QUERY);
      if (!q) return;
      var page = new URL(window.location.href);
      page.searchParams.set(PARAM, q);
      window.history.replaceState(null, "", page.href);  // a result page can be linked
      search(q, list, status);
    });
    var initial = new URL(window.location.href).searchParams.get(PARAM);
    if (initial && initial.trim()) {
      input.value = initial;
      search(initial.trim().slice(0, MAX_QUERY), list, status);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
