/* The theme's header search box asks the semantic search page (which also answers keyword
 * matches) instead of Sphinx's keyword-only page; that page links back to keyword search. */
(function () {
  "use strict";
  // Opened from disk (file://) the semantic page cannot run: keep Sphinx's keyword search.
  if (window.location.protocol === "file:") return;
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || !form.matches || !form.matches("form.bd-search, form[action$='search.html']")) return;
    var input = form.querySelector("input[name='q']");
    if (!input || !input.value.trim()) return;
    var rel = document.documentElement.getAttribute("data-content_root") || "./";
    var url = new URL(rel + "book/semantic_search.html", window.location.href);
    url.searchParams.set("query", input.value.trim().slice(0, 1000));
    ev.preventDefault();
    window.location.href = url.href;
  }, true);
})();
