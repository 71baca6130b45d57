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

// meta.json first: the index files and the model's expected size are named there.
const metaReady = fetchOk(new URL("meta.json", data), "search metadata").then((r) => r.json());
const modulesReady = Promise.all([import("./vendor/tokenizers.min.mjs"), import("./vendor/ort.wasm.min.mjs")]);

// onnxruntime compiles its 14 MB of wasm on the first session it creates, which takes about as long
// as the model's download on a fast link: a 70-byte model (one Identity node, made with
// onnx.helper; tests/test_browser_search.py reads it back) starts that compile while
// the model downloads, instead of after.
const WARM_UP = new Uint8Array([8, 8, 18, 0, 58, 58, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110,
  116, 105, 116, 121, 18, 4, 119, 97, 114, 109, 90, 15, 10, 1, 120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98,
  15, 10, 1, 121, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 66, 4, 10, 0, 16, 13]);
const runtimeReady = modulesReady.then(async ([, ortModule]) => {
  ort = ortModule;
  // Single-threaded wasm: static hosts (GitHub Pages) cannot send the COOP/COEP headers threads need.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL("vendor/", here).href;
  await ort.InferenceSession.create(WARM_UP, { executionProviders: ["wasm"] });
});
runtimeReady.catch(() => {});  // loadModel reports it

// The index's small files now; its pieces (postings, vectors, snippets' texts) as queries need them.
async function loadIndex() {
  meta = await metaReady;
  const [rows, rule] = await Promise.all([
    fetchOk(new URL("rows.bin", data), "search rows").then((r) => r.arrayBuffer()),
    fetchOk(new URL("tokens.json", data), "tokenizer rule").then((r) => r.json()),
  ]);
  const load = (path, type) => fetchOk(new URL(path, data), "search index").then((r) => (type === "bin" ? r.arrayBuffer() : r.json()));
  index = new BrowserIndex(meta, rows, rule, load);
}

async function loadModel() {
  const { bytes } = await metaReady;
  const [[{ Tokenizer }], tokJson, tokConfig, model] = await Promise.all([
    modulesReady,
    fetchOk(new URL("model/tokenizer.json", data), "tokenizer").then((r) => r.json()),
    fetchOk(new URL("model/tokenizer_config.json", data), "tokenizer config").then((r) => r.json()),
    fetchWithProgress(new URL("model/model.onnx", data), "model", bytes["model/model.onnx"],
      (loaded, total) => post({ type: "progress", loaded, total })),
  ]);
  tokenizer = new Tokenizer(tokJson, tokConfig);
  await runtimeReady;
  // embedding.quantize.SESSION_CONFIG: fold the 4-bit weights into fp32 once, as the server does.
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all",
    extra: { session: { disable_quant_qdq: "1" } } });
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
// The model loads beside the index; "ready" once both are.
const modelLoaded = loadModel();
modelLoaded.catch(() => {});  // reported below, once the index is in (or not at all when it is not)
const modelReady = indexReady.then(() => modelLoaded).then(
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
    post({ type: "result", id: msg.id, ...(await index.answer(msg.text, vec, msg.k)), semantic });
  } catch (err) {
    post({ type: "error", id: msg.id, message: String(err && err.message || err) });
  }
};
