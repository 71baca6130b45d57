// Runs book/_static/kb-search/core.mjs on JSON from stdin, for tests that compare it with Python.
// stdin: {rule, texts: [...], snippets: [[body, query, limit], ...], ranges: [[text, terms], ...],
//         words: [...] (for the stemmer)}
import { readFileSync } from "node:fs";
import { makeTokenizer, snippet, termRanges } from "../../book/_static/kb-search/core.mjs";
import { stem } from "../../book/_static/kb-search/stem.mjs";

const input = JSON.parse(readFileSync(0, "utf8"));
const tokens = makeTokenizer(input.rule);
process.stdout.write(JSON.stringify({
  tokens: (input.texts || []).map((t) => tokens(t)),
  snippets: (input.snippets || []).map(([body, query, limit]) => snippet(body, query, limit, tokens)),
  ranges: (input.ranges || []).map(([text, terms]) => termRanges(text, terms)),
  stems: (input.words || []).map(stem),
}));
