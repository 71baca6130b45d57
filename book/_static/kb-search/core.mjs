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
const utf8 = new TextEncoder();

// search.browser_export.bucket_of: the postings file of a term (32-bit FNV-1a of its UTF-8 bytes).
export function bucketOf(term, buckets) {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(term)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h % buckets;
}

// The index as the browser holds it (search.browser_export writes the files): meta.json and
// rows.bin at once, the rest in pieces that load(path, "json" | "bin") fetches when a query needs
// them (kept for the visit). Postings files and snippets' texts are fetched per query; vectors are
// centred unit rows, one list of all rows on a small site, the nearest lists on a large one.
export class BrowserIndex {
  constructor(meta, rowBytes, tokenRule, load) {
    for (const key of META_NUMBERS) {
      if (!Number.isInteger(meta[key])) throw new Error(`meta.json has no ${key}: run \`python -m search build\` again`);
    }
    this.meta = meta;
    const n = meta.count;
    if (rowBytes.byteLength !== 5 * n) {
      throw new Error(`rows.bin holds ${rowBytes.byteLength} bytes; meta.json expects ${5 * n}`);
    }
    this.rowArticle = new Uint32Array(rowBytes.slice(0, 4 * n));
    this.rowKind = new Uint8Array(rowBytes.slice(4 * n));
    const penalties = meta.kinds.map((kind) => meta.ranking.kind_penalty[kind] || 0);
    this.penalty = Float32Array.from(this.rowKind, (k) => penalties[k]);
    this.titleKind = meta.kinds.indexOf("title");
    this.mean = Float32Array.from(meta.mean);
    this.tokens = makeTokenizer(tokenRule);
    this.load = load;
    this.pieces = new Map();
  }

  // A piece, fetched once (a failed fetch is forgotten, so the next query tries again).
  piece(path, type, parse = (x) => x) {
    if (!this.pieces.has(path)) {
      const p = this.load(path, type).then(parse);
      this.pieces.set(path, p);
      p.catch(() => this.pieces.delete(path));
    }
    return this.pieces.get(path);
  }

  slugOf(row) { return this.meta.articles[this.rowArticle[row]].slug; }

  // Both rankings are always taken this deep, as for the largest k (search.query.Searcher._pool).
  pool(k) { return Math.max(k, this.meta.max_k) * this.meta.chunks_per_result; }

  bestPerArticle(order, scores) {
    const best = new Map();
    for (const row of order) {
      const slug = this.slugOf(row);
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

  // {term: postings} for the query's terms (absent terms left out): one file per bucket.
  async postings(terms) {
    const buckets = this.meta.pieces.postings;
    const wanted = [...new Set(terms)];
    const files = await Promise.all(wanted.map((t) => this.piece(`postings/${bucketOf(t, buckets)}.json`, "json")));
    const out = new Map();
    // Object.hasOwn: a query word such as "constructor" is not a key of every object.
    wanted.forEach((t, i) => { if (Object.hasOwn(files[i], t)) out.set(t, files[i][t]); });
    return out;
  }

  // List l of vectors/: its row numbers and centred unit rows.
  list(l) {
    const d = this.meta.dimension, c = this.meta.ranking.centering, mean = this.mean;
    return this.piece(`vectors/${l}.bin`, "bin", (bytes) => {
      const m = bytes.byteLength / (d + 8);
      if (!Number.isInteger(m)) throw new Error(`vectors/${l}.bin holds ${bytes.byteLength} bytes, not rows of ${d}`);
      const q = new Int8Array(bytes, 0, m * d);
      const scales = new Float32Array(bytes.slice(m * d, m * d + 4 * m));
      const rows = new Int32Array(bytes.slice(m * d + 4 * m));
      const unit = new Float32Array(m * d);
      for (let i = 0; i < m; i++) {
        let norm = 0;
        for (let j = 0; j < d; j++) {
          const v = q[i * d + j] * scales[i] - c * mean[j];
          unit[i * d + j] = v;
          norm += v * v;
        }
        norm = Math.sqrt(norm) || 1;
        for (let j = 0; j < d; j++) unit[i * d + j] /= norm;
      }
      return { rows, unit };
    });
  }

  // The lists to score: all of them when there is one, else the nprobe nearest centroids.
  async probed(qc) {
    const { lists, nprobe } = this.meta.pieces;
    if (lists === 1) return [0];
    const d = this.meta.dimension;
    const centroids = new Float32Array(await this.piece("vectors/centroids.bin", "bin"));
    const near = Array.from({ length: lists }, (_, l) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += centroids[l * d + j] * qc[j];
      return [s, l];
    });
    near.sort((a, b) => (b[0] - a[0]) || (a[1] - b[1]));
    return near.slice(0, nprobe).map(([, l]) => l);
  }

  async dense(vec, k) {
    const n = this.meta.count, d = this.meta.dimension, c = this.meta.ranking.centering;
    if (!n) return new Map();
    const qc = new Float32Array(d);
    let norm = 0;
    for (let j = 0; j < d; j++) { qc[j] = vec[j] - c * this.mean[j]; norm += qc[j] * qc[j]; }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < d; j++) qc[j] /= norm;
    const lists = await Promise.all((await this.probed(qc)).map((l) => this.list(l)));
    const scores = new Float32Array(n);
    const candidates = [];
    for (const { rows, unit } of lists) {
      for (let i = 0; i < rows.length; i++) {
        let s = 0;
        const base = i * d;
        for (let j = 0; j < d; j++) s += unit[base + j] * qc[j];
        scores[rows[i]] = s - this.penalty[rows[i]];
        candidates.push(rows[i]);
      }
    }
    return this.bestPerArticle(this.topRows(scores, candidates, Math.min(candidates.length, this.pool(k))), scores);
  }

  lexical(terms, postings, k) {
    // Whole thousandths added up exactly, divided once at the end: search.lexical.LexicalIndex.scores
    // does the same, so ties are the same ties on both sides.
    const n = this.meta.count;
    const scores = new Float64Array(n);
    for (const t of terms) {
      const post = postings.get(t);
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
  async search(text, vec, k) {
    return (await this.answer(text, vec, k)).results;
  }

  // search(), and whether an article covers the query (search.query.Searcher.answer): covered and
  // relevance are null without the embedding or without search.scope's constants in meta.json.
  async answer(text, vec, k) {
    const terms = this.tokens(text);
    const [postings, dense] = await Promise.all([this.postings(terms), vec ? this.dense(vec, k) : null]);
    const judged = dense && dense.size ? this.scope(terms, postings, dense.values().next().value[0], text) : null;
    return { results: await this.rank(text, terms, postings, dense, k), covered: judged ? judged.covered : null,
      relevance: judged ? judged.relevance : null };
  }

  // search.scope.Scope.judge over search.lexical.LexicalIndex.coverage's features, same order of sums.
  scope(terms, postings, bestDense, text) {
    const s = this.meta.scope;
    if (!s) return null;
    const n = this.meta.count;
    const idf = (df) => Math.log(1 + (n - df + 0.5) / (df + 0.5));
    let total = 0, known = 0;
    const held = new Float64Array(n);
    for (const t of terms) {
      const post = postings.get(t);
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

  async rank(text, terms, postings, dense, k) {
    const r = this.meta.ranking;
    const lex = this.lexical(terms, postings, k);
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
    return Promise.all(ranked.map(([slug, score, row]) => this.result(slug, score, row, text)));
  }

  async result(slug, score, row, text) {
    const a = this.rowArticle[row];
    const art = this.meta.articles[a];
    const shown = this.rowKind[row] === this.titleKind && art.lead >= 0 ? art.lead : row;
    const bodies = await this.piece(`bodies/${a}.json`, "json");
    return {
      slug, title: art.title || slug, title_en: art.title_en || "", page: art.page || "",
      score: Math.round(score * 1e4) / 1e4,
      snippet: snippet(bodies[String(shown)], text, this.meta.snippet_chars, this.tokens),
    };
  }
}
