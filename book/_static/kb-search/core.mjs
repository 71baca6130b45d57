// The ranking steps of search.ranking / search.lexical / search.snippets, in JavaScript, for the
// in-browser engine. Constants come from the shipped meta.json (written by search.browser_export),
// so Python and the browser rank with the same numbers; tests run both on the same inputs.
// Nothing here touches the DOM: results are data, rendered by search.js with text nodes only.

import { stem } from "./stem.mjs";

const ENDS = new Set("。！？；!?;");
const ELLIPSIS = "…";

// search.lexical.stem: Snowball's stem, with the plural "s" it keeps ("gpus", "cnns") dropped.
function stemToken(word) {
  const out = stem(word);
  if (out === word && word.length > 3 && word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return out;
}

export function makeTokenizer(rule) {
  const pattern = new RegExp(rule.pattern, "gu");
  const stop = new Set(rule.stop);
  const latin = /^[a-z0-9]+$/;
  // The build names its stemmer (search.lexical.STEMMER); stem.mjs is that stemmer's port.
  const stemmed = Boolean(rule.stemmer);
  return function tokens(text) {
    const out = [];
    const norm = String(text).normalize("NFKC").toLowerCase();
    for (const m of norm.matchAll(pattern)) {
      let t = m[0];
      if (latin.test(t)) {
        if (stop.has(t)) continue;
        out.push(stemmed ? stemToken(t) : t);
      } else if (t.length === 1) {
        if (!stop.has(t)) out.push(t);
      } else {
        for (let i = 0; i + 1 < t.length; i++) {
          const b = t.slice(i, i + 2);
          if (!stop.has(b)) out.push(b);
        }
      }
    }
    return out;
  };
}

// [start, end) ranges of ``text`` where one of ``terms`` (tokens of the query) occurs: a whole
// Latin word that is a term or stems to one (so "train" marks "Training", and "accuraci" marks
// "accuracy", which no substring search would), a Chinese bigram anywhere. Merged, in order.
export function termRanges(text, terms) {
  const lower = String(text).toLowerCase();
  const wanted = new Set(terms);
  const ranges = [];
  for (const m of lower.matchAll(/[a-z0-9]+/g)) {
    if (wanted.has(m[0]) || wanted.has(stemToken(m[0]))) ranges.push([m.index, m.index + m[0].length]);
  }
  for (const t of wanted) {
    if (!t || /^[a-z0-9]+$/.test(t)) continue;
    for (let at = lower.indexOf(t); at !== -1; at = lower.indexOf(t, at + 1)) ranges.push([at, at + t.length]);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

// (offset, sentence) pieces: cut after 。！？；!?; and after a "." followed by whitespace.
function sentences(text) {
  const out = [];
  let start = 0;
  for (let i = 1; i < text.length; i++) {
    const prev = text[i - 1];
    if (ENDS.has(prev) || (prev === "." && /\s/u.test(text[i]))) {
      out.push([start, text.slice(start, i)]);
      start = i;
    }
  }
  if (start < text.length) out.push([start, text.slice(start)]);
  return out;
}

export function snippet(body, query, limit, tokens) {
  const text = String(body).replace(/\s+/gu, " ").trim();
  let start = 0;
  const wanted = new Set(query ? tokens(query) : []);
  if (wanted.size) {
    let best = 0;
    for (const [offset, sentence] of sentences(text)) {
      const have = new Set(tokens(sentence));
      let hits = 0;
      for (const t of wanted) if (have.has(t)) hits++;
      if (hits > best) { best = hits; start = offset; }
    }
  }
  while (start < text.length && text[start] === " ") start++;
  const head = start > 0 ? ELLIPSIS : "";
  const rest = Array.from(text.slice(start));
  if (rest.length <= limit) return head + rest.join("");
  return head + rest.slice(0, limit - 1).join("").trimEnd() + ELLIPSIS;
}

// What meta.json must hold besides the data: search.query's limits and ranking depth.
const META_NUMBERS = ["max_k", "max_query_chars", "chunks_per_result"];

// The index as the browser holds it: centred unit rows, kind penalties, BM25 postings.
export class BrowserIndex {
  constructor(meta, vectorBytes, postings, tokenRule) {
    for (const key of META_NUMBERS) {
      if (!Number.isInteger(meta[key])) throw new Error(`meta.json has no ${key}: run \`python -m search build\` again`);
    }
    this.meta = meta;
    const n = meta.count, d = meta.dimension, r = meta.ranking;
    if (vectorBytes.byteLength !== n * d + 4 * n) {
      throw new Error(`vectors.bin holds ${vectorBytes.byteLength} bytes; meta.json expects ${n * d + 4 * n}`);
    }
    const q = new Int8Array(vectorBytes, 0, n * d);
    const scales = new Float32Array(vectorBytes.slice(n * d));
    const mean = Float32Array.from(meta.mean);
    this.rows = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let norm = 0;
      for (let j = 0; j < d; j++) {
        const v = q[i * d + j] * scales[i] - r.centering * mean[j];
        this.rows[i * d + j] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm) || 1;
      for (let j = 0; j < d; j++) this.rows[i * d + j] /= norm;
    }
    this.mean = mean;
    this.penalty = Float32Array.from(meta.chunks, (c) => r.kind_penalty[c.kind] || 0);
    this.postings = postings;
    this.tokens = makeTokenizer(tokenRule);
  }

  // Both rankings are always taken this deep, as for the largest k (search.query.Searcher._pool).
  pool(k) { return Math.max(k, this.meta.max_k) * this.meta.chunks_per_result; }

  bestPerArticle(order, scores) {
    const best = new Map();
    for (const row of order) {
      const slug = this.meta.chunks[row].slug;
      if (!best.has(slug)) best.set(slug, [scores[row], row]);
    }
    return best;
  }

  topRows(scores, candidates, n) {
    // The n best, highest score first, ties by row (= chunk id order, as on the server). A
    // numeric sort of the scores finds the n-th best; only rows at or above it are ordered.
    if (candidates.length > 2 * n && n > 0) {
      const values = Float64Array.from(candidates, (r) => scores[r]).sort();
      const floor = values[values.length - n];
      candidates = candidates.filter((r) => scores[r] >= floor);
    }
    candidates.sort((a, b) => (scores[b] - scores[a]) || (a - b));
    return candidates.slice(0, n);
  }

  dense(vec, k) {
    const n = this.meta.count, d = this.meta.dimension, c = this.meta.ranking.centering;
    if (!n) return new Map();
    const qc = new Float32Array(d);
    let norm = 0;
    for (let j = 0; j < d; j++) { qc[j] = vec[j] - c * this.mean[j]; norm += qc[j] * qc[j]; }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < d; j++) qc[j] /= norm;
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const base = i * d;
      for (let j = 0; j < d; j++) s += this.rows[base + j] * qc[j];
      scores[i] = s - this.penalty[i];
    }
    const all = Array.from({ length: n }, (_, i) => i);
    return this.bestPerArticle(this.topRows(scores, all, Math.min(n, this.pool(k))), scores);
  }

  lexical(text, k) {
    // Whole thousandths added up exactly, divided once at the end: search.lexical.LexicalIndex.scores
    // does the same, so ties are the same ties on both sides.
    const n = this.meta.count;
    const scores = new Float64Array(n);
    for (const t of this.tokens(text)) {
      const post = this.postings[t];
      if (!post) continue;
      for (let p = 0; p < post.length; p += 2) scores[post[p]] += post[p + 1];
    }
    const hit = [];
    for (let i = 0; i < n; i++) {
      if (scores[i] !== 0) { scores[i] /= 1000; hit.push(i); }
    }
    return this.bestPerArticle(this.topRows(scores, hit, this.pool(k)), scores);
  }

  // vec: the query's embedding, or null for keyword-only results (model not loaded yet).
  search(text, vec, k) {
    return this.answer(text, vec, k).results;
  }

  // search(), and whether an article covers the query (search.query.Searcher.answer): covered and
  // relevance are null without the embedding or without search.scope's constants in meta.json.
  answer(text, vec, k) {
    const dense = vec ? this.dense(vec, k) : null;
    const judged = dense && dense.size ? this.scope(text, dense.values().next().value[0]) : null;
    return { results: this.rank(text, dense, k), covered: judged ? judged.covered : null,
      relevance: judged ? judged.relevance : null };
  }

  // search.scope.Scope.judge over search.lexical.LexicalIndex.coverage's features, same order of sums.
  scope(text, bestDense) {
    const s = this.meta.scope;
    if (!s) return null;
    const n = this.meta.count;
    const idf = (df) => Math.log(1 + (n - df + 0.5) / (df + 0.5));
    let total = 0, known = 0;
    const held = new Float64Array(n);
    for (const t of this.tokens(text)) {
      const post = this.postings[t];
      if (!post) { total += idf(0); continue; }
      const w = idf(post.length / 2);
      total += w;
      known += w;
      for (let p = 0; p < post.length; p += 2) held[post[p]] += w;
    }
    let best = 0;
    for (let i = 0; i < n; i++) if (held[i] > best) best = held[i];
    const features = { dense: bestDense, coverage: total ? best / total : 0, vocabulary: total ? known / total : 0 };
    const model = s.models[new RegExp(`[${s.cjk}]`, "u").test(text) ? "zh" : "en"];
    let z = model.bias;
    for (const f of s.features) z += model.weights[f] * features[f];
    const relevance = z > -700 ? 1 / (1 + Math.exp(-z)) : 0;
    return { relevance: Math.round(relevance * 1e4) / 1e4, covered: relevance >= model.cut };
  }

  rank(text, dense, k) {
    const r = this.meta.ranking;
    const lex = this.lexical(text, k);
    let ranked;
    if (!dense) {
      ranked = Array.from(lex, ([slug, [score, row]]) => [slug, score, row]).slice(0, k);
    } else {
      const fused = new Map();
      const add = (weight, ranking) => {
        let rank = 1;
        for (const slug of ranking.keys()) fused.set(slug, (fused.get(slug) || 0) + weight / (r.rrf_k + rank++));
      };
      add(r.dense_weight, dense);
      add(r.lexical_weight, lex);
      const order = Array.from(fused.keys()).sort((a, b) => (fused.get(b) - fused.get(a)) || (a < b ? -1 : a > b ? 1 : 0));
      ranked = order.slice(0, k).map((slug) => [slug, fused.get(slug), (dense.get(slug) || lex.get(slug))[1]]);
    }
    return ranked.map(([slug, score, row]) => this.result(slug, score, row, text));
  }

  result(slug, score, row, text) {
    const art = this.meta.articles[slug] || {};
    const shown = this.meta.chunks[row].kind === "title" && slug in this.meta.lead ? this.meta.lead[slug] : row;
    return {
      slug, title: art.title || slug, title_en: art.title_en || "", page: art.page || "",
      score: Math.round(score * 1e4) / 1e4,
      snippet: snippet(this.meta.chunks[shown].body, text, this.meta.snippet_chars, this.tokens),
    };
  }
}
