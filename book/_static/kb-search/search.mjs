// window.kbSearch(query, {k}) → Promise of [{slug, title, title_en, url, score, snippet}];
// kbSearch.answer(query, {k}) → Promise of {results, covered, relevance, semantic}: whether an
// article covers the query at all (search.scope; null until the model is ready), and
// kbSearch.engine: "server" when the site is served by `python -m search serve` (its /api/search
// answers), else "browser": the exported model runs here, in a Web Worker (worker.mjs).
// kbSearch.ready resolves once an engine can answer (keyword results at first in the browser);
// kbSearch.semanticReady once the browser's model is loaded (rejects, with the reason, if it
// cannot be). Result text is only ever put into the page as text nodes: it comes from feeds.
import { makeTokenizer, termRanges } from "./core.mjs";

const PARAM = "query";  // not "q": Sphinx's searchtools.js runs its own search on any ?q= page
const here = new URL(".", import.meta.url);  // …/_static/kb-search/
const root = new URL("../../", here);       // the site root, wherever the site is hosted

class QueryError extends Error {}

// search.query.check_query, with its limits from meta.json (the worker passes them on once the
// index is loaded). The server engine gets none: the server checks, with the same messages.
let limits = null;

function checkQuery(query, k) {
  if (typeof query !== "string" || !query.trim()) throw new QueryError("the query is empty");
  if (!limits) return query.trim();
  if (query.length > limits.max_query_chars) {
    throw new QueryError(`the query is ${query.length} characters long; the limit is ${limits.max_query_chars}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > limits.max_k) {
    throw new QueryError(`k must be an integer from 1 to ${limits.max_k}`);
  }
  return query.trim();
}

// The static build ships engine.json saying "browser"; `python -m search serve` answers that same
// path with "server". One request that exists on every host: no 404 in the console.
async function isServer() {
  try {
    const resp = await fetch(new URL("engine.json", here), { headers: { Accept: "application/json" } });
    return resp.ok && (await resp.json()).engine === "server";
  } catch (err) {
    return false;
  }
}

function serverEngine() {
  const run = async (query, k) => {
    const url = new URL("api/answer", root);
    url.searchParams.set("q", query);
    url.searchParams.set("k", String(k));
    const resp = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await resp.json();
    if (!resp.ok) throw new QueryError(body && body.error ? body.error : `HTTP ${resp.status}`);
    return { semantic: true, covered: body.covered, relevance: body.relevance, results: body.results.map((r) => ({
      slug: r.slug, title: r.title, title_en: r.title_en, score: r.score, snippet: r.snippet,
      url: new URL(String(r.path).replace(/\.(md|ipynb)$/, ".html"), root).href,
    })) };
  };
  run.modelReady = Promise.resolve();  // the server's model is loaded before it listens
  return run;
}

function browserEngine(events) {
  const worker = new Worker(new URL("worker.mjs", here), { type: "module" });
  const waiting = new Map();
  let next = 0;
  let indexOk, indexFail, modelOk, modelFail;
  const indexReady = new Promise((res, rej) => { indexOk = res; indexFail = rej; });
  const modelReady = new Promise((res, rej) => { modelOk = res; modelFail = rej; });
  modelReady.catch(() => {});
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === "progress") events.dispatchEvent(new CustomEvent("progress", { detail: m }));
    else if (m.type === "index") indexOk(m);
    else if (m.type === "index-error") { indexFail(new Error(m.message)); modelFail(new Error(m.message)); }
    else if (m.type === "ready") modelOk();
    else if (m.type === "model-error") modelFail(new Error(m.message));
    else if (waiting.has(m.id)) {
      const { resolve, reject } = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.type === "error") reject(new Error(m.message)); else resolve(m);
    }
  };
  worker.onerror = (ev) => {
    const err = new Error(`the search worker failed: ${ev.message || "could not start"}`);
    indexFail(err); modelFail(err);
  };
  const ask = (msg) => new Promise((resolve, reject) => {
    const id = ++next;
    waiting.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id });
  });
  const run = async (query, k) => {
    await indexReady;
    const m = await ask({ type: "search", text: query, k });
    return { semantic: m.semantic, covered: m.covered, relevance: m.relevance,
      results: m.results.map(({ page, ...r }) => ({ ...r, url: new URL(page, root).href })) };
  };
  run.indexReady = indexReady;
  run.modelReady = modelReady;
  run.embed = async (text) => { await modelReady; return ask({ type: "embed", text }); };
  return run;
}

const events = new EventTarget();
let engineRun = null;
let tokenize = () => [];
let site = {};  // book.search_assets' site.json: the repository's issue form, when there is one

async function start() {
  if (await isServer()) {
    kbSearch.engine = "server";
    engineRun = serverEngine();
  } else {
    kbSearch.engine = "browser";
    engineRun = browserEngine(events);
    kbSearch.embed = engineRun.embed;
    ({ limits } = await engineRun.indexReady);
  }
  try {
    const rule = await (await fetch(new URL("data/tokens.json", here))).json();
    tokenize = makeTokenizer(rule);
  } catch (err) { /* no highlighting without the rule */ }
  try {
    site = await (await fetch(new URL("site.json", here))).json();
  } catch (err) { /* no "request an article" link */ }
  return kbSearch.engine;
}

async function kbSearchDetailed(query, opts = {}) {
  const k = opts.k === undefined ? 10 : opts.k;
  checkQuery(query, k);  // an empty query fails at once, before any engine is ready
  await kbSearch.ready;
  return engineRun(checkQuery(query, k), k);
}

export function kbSearch(query, opts = {}) {
  return kbSearchDetailed(query, opts).then((r) => r.results);
}
kbSearch.answer = kbSearchDetailed;
kbSearch.engine = "starting";
kbSearch.ready = start();
kbSearch.semanticReady = kbSearch.ready.then(() => engineRun.modelReady);
kbSearch.semanticReady.catch(() => {});  // the page reports it; no "uncaught" in the console
window.kbSearch = kbSearch;

// ---------------------------------------------------------------- the search page
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function highlighted(text, terms) {
  const p = el("p", "kb-ss-snippet");
  let pos = 0;
  for (const [a, b] of termRanges(text, terms)) {
    if (a > pos) p.appendChild(document.createTextNode(text.slice(pos, a)));
    p.appendChild(el("mark", "kb-ss-hit", text.slice(a, b)));
    pos = b;
  }
  if (pos < text.length) p.appendChild(document.createTextNode(text.slice(pos)));
  return p;
}

function render(list, results, query) {
  list.replaceChildren();
  const terms = tokenize(query);
  for (const r of results) {
    const item = el("li", "kb-ss-result");
    const link = el("a", "kb-ss-title", r.title || r.slug);
    link.href = r.url;
    item.appendChild(link);
    if (r.title_en) item.appendChild(el("span", "kb-ss-title-en", " · " + r.title_en));
    if (r.snippet) item.appendChild(highlighted(r.snippet, terms));
    list.appendChild(item);
  }
}

// A prefilled issue asking for an article on ``query`` (the text goes into URL parameters only).
function requestLink(query) {
  if (!site.new_issue_url) return null;
  const url = new URL(site.new_issue_url);
  url.searchParams.set("title", `Article request: ${query}`.slice(0, 200));
  url.searchParams.set("body", `No article covers this search yet:\n\n> ${query}\n\nWhat I hoped to find:\n`);
  const a = el("a", "kb-ss-request", "请求一篇文章 · Request an article");
  a.href = url.href;
  a.rel = "noopener";
  return a;
}

function keywordPage(query) {
  return new URL("search.html", root).href + "?q=" + encodeURIComponent(query);
}

function page() {
  const form = document.getElementById("kb-semantic-search");
  if (!form) return;
  const input = document.getElementById("kb-ss-query");
  const list = document.getElementById("kb-ss-results");
  const status = document.getElementById("kb-ss-status");
  const note = document.getElementById("kb-ss-engine");
  const bar = el("progress", "kb-ss-progress");
  bar.hidden = true;
  status.after(bar);
  let current = null;
  let modelState = "loading";
  const say = (text) => { status.textContent = text; status.classList.remove("kb-ss-uncovered"); };

  events.addEventListener("progress", (ev) => {
    const { loaded, total } = ev.detail;
    bar.hidden = false;
    bar.max = total || 1;
    bar.value = loaded;
    const pct = total ? Math.round((100 * loaded) / total) : 0;
    note.textContent = `正在下载语义模型 · Downloading the semantic model: ${pct}% (${(loaded / 1e6).toFixed(1)} MB)`;
  });

  async function run(query) {
    current = query;
    say("搜索中… · Searching…");
    let out;
    try {
      out = await kbSearchDetailed(query, { k: 10 });
    } catch (err) {
      list.replaceChildren();
      if (err instanceof QueryError) { say("无法搜索 · Cannot search: " + err.message); return; }
      say("搜索不可用 · Search is unavailable here (" + err.message + "); ");
      const a = el("a", null, "用关键词搜索 · use keyword search");
      a.href = keywordPage(query);
      status.appendChild(a);
      return;
    }
    if (query !== current) return;
    render(list, out.results, query);
    list.classList.toggle("kb-ss-nearest", out.covered === false);
    const what = out.semantic ? ""
      : modelState === "failed" ? "（仅关键词结果 · keyword results only）"
        : "（关键词结果，语义模型加载中 · keyword results while the semantic model loads）";
    if (out.covered === false && out.results.length) {
      // search.scope judged that no article is about this: say so, then show the nearest ones.
      say("没有文章专门讲这个 · No article covers this yet. 最接近的文章 · The nearest articles: ");
      const a = requestLink(query);
      if (a) status.appendChild(a);
      status.classList.add("kb-ss-uncovered");
      return;
    }
    say(out.results.length
      ? `${out.results.length} 篇相关文章 · ${out.results.length} articles ${what}`
      : `没有找到相关文章 · No matching articles for “${query}”.`);
  }

  kbSearch.ready.then((engine) => {
    note.textContent = engine === "server"
      ? "由 python -m search serve 回答 · answered by the search server"
      : "正在加载语义模型 · Loading the semantic model…";
    kbSearch.semanticReady.then(() => {
      modelState = "ready";
      bar.hidden = true;
      note.textContent = engine === "server" ? note.textContent
        : "语义搜索在你的浏览器中运行 · Semantic search runs in your browser";
      if (current) run(current);  // replace the keyword results
    }, (err) => {
      modelState = "failed";
      bar.hidden = true;
      note.textContent = "语义模型不可用，仅关键词结果 · The semantic model is unavailable (" + err.message
        + "): keyword results only";
      if (current) run(current);
    });
  }, (err) => {
    note.textContent = "本站没有语义索引 · This copy of the site has no semantic index (" + err.message + ")";
  });

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const url = new URL(window.location.href);
    url.searchParams.set(PARAM, limits ? q.slice(0, limits.max_query_chars) : q);
    window.history.replaceState(null, "", url.href);  // a result page can be linked
    run(q);
  });
  const initial = new URL(window.location.href).searchParams.get(PARAM);
  if (initial && initial.trim()) {
    input.value = initial;
    run(initial.trim());
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", page);
else page();
