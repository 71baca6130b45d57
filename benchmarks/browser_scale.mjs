// Query time of the in-browser engine (core.mjs) at larger corpora, in Node's V8 (Chromium's
// engine): synthetic int8 vectors and BM25 postings shaped like the sample's. Prints JSON.
// node benchmarks/browser_scale.mjs 10000 100000   (after `python -m search build`: the limits,
// ranking constants and token rule are the shipped ones)
import { readFileSync } from "node:fs";
import { BrowserIndex } from "../book/_static/kb-search/core.mjs";

const D = 384;
const shipped = (name) => JSON.parse(readFileSync(new URL(`../_build/search/browser/${name}`, import.meta.url)));
const { max_k, max_query_chars, chunks_per_result, ranking } = shipped("meta.json");
const rule = { ...shipped("tokens.json"), stop: [] };
function rng(seed) { let s = seed >>> 0; return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32); }

function build(n, termsPerChunk = 60, vocab = 20000) {
  const r = rng(n);
  const bytes = new ArrayBuffer(n * D + 4 * n);
  const q = new Int8Array(bytes, 0, n * D);
  for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 255) - 127;
  new Float32Array(bytes, n * D, n).fill(1 / 127 / Math.sqrt(D));
  const postings = {};
  for (let row = 0; row < n; row++) {
    for (let t = 0; t < termsPerChunk; t++) {
      const term = "t" + Math.floor(r() ** 2 * vocab);
      (postings[term] ||= []).push(row, 1000 + Math.floor(r() * 3000));
    }
  }
  const chunks = Array.from({ length: n }, (_, i) => ({ slug: "a" + Math.floor(i / 10), kind: "text", body: "x" }));
  const meta = { count: n, dimension: D, mean: new Array(D).fill(0), chunks, articles: {}, lead: {},
    snippet_chars: 160, ranking, max_k, max_query_chars, chunks_per_result };
  return new BrowserIndex(meta, bytes, postings, rule);
}

const out = {};
for (const n of process.argv.slice(2).map(Number)) {
  const t0 = performance.now();
  const index = build(n);
  const load = performance.now() - t0;
  const vec = Float32Array.from({ length: D }, (_, j) => Math.sin(j));
  const times = [];
  for (let i = 0; i < 15; i++) {
    const t = performance.now();
    index.search(`t${i} t${i * 7} t${i * 13} t5 t9`, vec, 10);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  out[n] = { load_ms: Math.round(load), query_p50_ms: +times[7].toFixed(1), query_max_ms: +times[14].toFixed(1) };
}
console.log(JSON.stringify(out));
