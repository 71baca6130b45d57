// Runs book/_static/kb-search/core.mjs on JSON from stdin, for tests that compare it with Python.
// stdin: {rule, texts: [...], snippets: [[body, query, limit], ...], ranges: [[text, terms], ...],
//         words: [...] (for the stemmer), matches: [pattern, text] (every match, as RegExp finds it),
//         index: "<folder search.browser_export wrote>", searches: [[text, vector, k], ...],
//         answers: [[text, vector, k], ...] (only whether an article covers each query)}
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BrowserIndex, makeTokenizer, snippet, termRanges } from "../../book/_static/kb-search/core.mjs";
import { stem } from "../../book/_static/kb-search/stem.mjs";

const input = JSON.parse(readFileSync(0, "utf8"));
const tokens = makeTokenizer(input.rule || { pattern: "", stop: [] });

// The shipped folder, read as worker.mjs reads it over HTTP.
function loadIndex(dir) {
  const json = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
  const bytes = readFileSync(join(dir, "vectors.bin"));
  const vectors = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return new BrowserIndex(json("meta.json"), vectors, json("lexical.json"), json("tokens.json"));
}

const index = input.index ? loadIndex(input.index) : null;
process.stdout.write(JSON.stringify({
  tokens: (input.texts || []).map((t) => tokens(t)),
  snippets: (input.snippets || []).map(([body, query, limit]) => snippet(body, query, limit, tokens)),
  ranges: (input.ranges || []).map(([text, terms]) => termRanges(text, terms)),
  stems: (input.words || []).map(stem),
  matches: input.matches ? Array.from(input.matches[1].matchAll(new RegExp(input.matches[0], "gu")), (m) => m[0]) : [],
  // The query vector as the worker hands it over: onnxruntime's Float32Array.
  results: (input.searches || []).map(([text, vec, k]) => index.search(text, vec && Float32Array.from(vec), k)),
  answers: (input.answers || []).map(([text, vec, k]) => {
    const { covered, relevance } = index.answer(text, vec && Float32Array.from(vec), k);
    return { covered, relevance };
  }),
}));
