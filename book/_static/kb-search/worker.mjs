// The in-browser search engine, in a Web Worker so the page stays responsive while the model
// downloads and runs. Everything is fetched from this site (vendor/ and data/ beside this file):
// no request leaves it. It starts loading at once and posts "index" with the query limits from
// meta.json (keyword search ready) or "index-error", "progress"… while the model downloads, then
// "ready" (semantic search ready) or "model-error". {type:"search", id, text, k} →
// {type:"result", id, results, semantic}, {type:"embed", id, text} → {type:"result", id, vector,
// ids}, or {type:"error", id, message}.
import { BrowserIndex } from "./core.mjs";

const here = new URL(".", import.meta.url);
const data = new URL("data/", here);
let index = null, session = null, tokenizer = null, ort = null, meta = null;

function post(msg) { self.postMessage(msg); }

async function fetchOk(url, what) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${what}: HTTP ${resp.status} for ${url.pathname || url}`);
  return resp;
}

async function fetchWithProgress(url, what, expected, onBytes) {
  const resp = await fetchOk(url, what);
  const total = Number(resp.headers.get("Content-Length")) || expected || 0;
  if (!resp.body || !resp.body.getReader) return new Uint8Array(await resp.arrayBuffer());
  const reader = resp.body.getReader();
  const parts = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    onBytes(got, total);
  }
  const out = new Uint8Array(got);
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

async function loadIndex() {
  meta = await (await fetchOk(new URL("meta.json", data), "search metadata")).json();
  const [vectors, postings, rule] = await Promise.all([
    fetchOk(new URL("vectors.bin", data), "vectors").then((r) => r.arrayBuffer()),
    fetchOk(new URL("lexical.json", data), "keyword index").then((r) => r.json()),
    fetchOk(new URL("tokens.json", data), "tokenizer rule").then((r) => r.json()),
  ]);
  index = new BrowserIndex(meta, vectors, postings, rule);
}

async function loadModel() {
  const [{ Tokenizer }, ortModule] = await Promise.all([
    import("./vendor/tokenizers.min.mjs"),
    import("./vendor/ort.wasm.min.mjs"),
  ]);
  ort = ortModule;
  // Single-threaded wasm: static hosts (GitHub Pages) cannot send the COOP/COEP headers threads need.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL("vendor/", here).href;
  const [tokJson, tokConfig] = await Promise.all([
    fetchOk(new URL("model/tokenizer.json", data), "tokenizer").then((r) => r.json()),
    fetchOk(new URL("model/tokenizer_config.json", data), "tokenizer config").then((r) => r.json()),
  ]);
  tokenizer = new Tokenizer(tokJson, tokConfig);
  const expected = meta.bytes["model/model.onnx"];
  const model = await fetchWithProgress(new URL("model/model.onnx", data), "model", expected,
    (loaded, total) => post({ type: "progress", loaded, total }));
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

async function embed(text) {
  let ids = tokenizer.encode(meta.query_prefix + text).ids;
  if (ids.length > meta.max_tokens) ids = ids.slice(0, meta.max_tokens - 1).concat(ids[ids.length - 1]);
  const shape = [1, ids.length];
  const feeds = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
  };
  const out = await session.run(feeds);
  return { vec: out[meta.output].data, ids };
}

const indexReady = loadIndex().then(
  () => post({ type: "index", limits: { max_k: meta.max_k, max_query_chars: meta.max_query_chars } }),
  (err) => { post({ type: "index-error", message: String(err && err.message || err) }); throw err; });
const modelReady = indexReady.then(loadModel).then(
  () => post({ type: "ready" }),
  (err) => { if (index) post({ type: "model-error", message: String(err && err.message || err) }); throw err; });
modelReady.catch(() => {});

self.onmessage = async (ev) => {
  const msg = ev.data || {};
  if (msg.type !== "search" && msg.type !== "embed") return;
  try {
    await indexReady;
    if (msg.type === "embed") {  // for tests: the query vector and token ids, to compare with Python
      await modelReady;
      const { vec, ids } = await embed(msg.text);
      post({ type: "result", id: msg.id, vector: Array.from(vec), ids });
      return;
    }
    // Until the model is ready, keyword (BM25) results answer.
    const semantic = session !== null;
    const vec = semantic ? (await embed(msg.text)).vec : null;
    post({ type: "result", id: msg.id, ...index.answer(msg.text, vec, msg.k), semantic });
  } catch (err) {
    post({ type: "error", id: msg.id, message: String(err && err.message || err) });
  }
};
