// Runs book/_static/kb-search/core.mjs on JSON from stdin, for tests that compare it with Python.
// stdin: {rule, texts: [...], snippets: [[body, query, limit], ...], ranges: [[text, terms], ...],
//         words: [...] (for the stemmer), matches: [pattern, text] (every match, as RegExp finds it),
//         index: "<folder search.browser_export wrote>", searches: [[text, vector, k], ...],
//         buckets: [[term, count], ...] (the postings file of each). Out: the same keys, and
//         loaded: the index's pieces that were fetched.
//         answers: [[text, vector, k], ...] (only whether an article covers each query)}
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BrowserIndex, bucketOf, makeTokenizer, snippet, termRanges } from "../../book/_static/kb-search/core.mjs";
import { stem } from "../../book/_static/kb-search/stem.mjs";

const input = JSON.parse(readFileSync(0, "utf8"));
const tokens = makeTokenizer(input.rule || { pattern: "", stop: [] });

const loaded = [];  // the pieces the index fetched, in order
// The shipped folder, read as worker.mjs reads it over HTTP (pieces on demand).
function loadIndex(dir) {
  const json = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
  const bin = (name) => { const b = readFileSync(join(dir, name)); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
  const load = async (path, type) => { loaded.push(path); return type === "bin" ? bin(path) : json(path); };
  return new BrowserIndex(json("meta.json"), bin("rows.bin"), json("tokens.json"), load);
}

const index = input.index ? loadIndex(input.index) : null;
// The query vector as the worker hands it over: onnxruntime's Float32Array.
const results = [], answers = [];
for (const [text, vec, k] of input.searches || []) results.push(await index.search(text, vec && Float32Array.from(vec), k));
for (const [text, vec, k] of input.answers || []) {
  const { covered, relevance } = await index.answer(text, vec && Float32Array.from(vec), k);
  answers.push({ covered, relevance });
}
process.stdout.write(JSON.stringify({
  tokens: (input.texts || []).map((t) => tokens(t)),
  snippets: (input.snippets || []).map(([body, query, limit]) => snippet(body, query, limit, tokens)),
  ranges: (input.ranges || []).map(([text, terms]) => termRanges(text, terms)),
  stems: (input.words || []).map(stem),
  matches: input.matches ? Array.from(input.matches[1].matchAll(new RegExp(input.matches[0], "gu")), (m) => m[0]) : [],
  buckets: (input.buckets || []).map(([term, count]) => bucketOf(term, count)),
  results,
  answers,
  loaded,
}));
