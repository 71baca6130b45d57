"""In-browser search benchmark (a script, not a timed test): ``python benchmarks/browser_search_bench.py``.

Prints, in one run, side by side where it can:
- passages embedded per second by the exported ONNX model (4-bit weights folded into onnxruntime
  fp32 products, as the build, the server and the browser run it) and by the fp32
  sentence-transformers model, on the same sample chunks, and their ratio;
- retrieval quality (R@1 / R@5 / MRR per language) on the easy set and the hard set's test and
  dev halves, answered by the browser (headless Chromium, the static site under a sub-path) and
  by the server's code (``search.query.Searcher``);
- browser figures: first answer on a cold visit, warm query p50 / p95, bytes the search
  downloaded (model, wasm, data), requests that left the site;
- then, for larger sites, ``benchmarks/browser_scale.py``'s figures (synthetic indexes of 10k
  and 100k chunks in pieces, in headless Chromium).

Needs a built site (``make site``). The machine is shared and noisy: compare ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.store import load_articles  # noqa: E402
from kb import layout  # noqa: E402
from search.chunks import article_chunks  # noqa: E402
from search.evaluate import HARD_QUERIES, load_queries, metrics  # noqa: E402
from embedding import load_embedder  # noqa: E402
from search.query import Searcher  # noqa: E402
from tests.browser import Chromium, serve_directory  # noqa: E402
from benchmarks import browser_scale  # noqa: E402
from tests.search_support import sentence_transformer  # noqa: E402

SUB = "repo"
BASELINE = "sentence-transformers fp32"


def embedding_rates(n: int, rounds: int = 5) -> dict:
    """Passages per second, each engine's median of ``rounds`` runs taken in turn, and its median
    per-round ratio to sentence-transformers (the machine is shared: interleaving keeps a slow
    spell from landing on one engine only, and a round's ratio compares runs seconds apart)."""
    texts = [c.text for a in load_articles(REPO) for c in article_chunks(a)][:n]
    onnx = load_embedder(progress=False)
    st = sentence_transformer()
    engines = {
        BASELINE: lambda t: st.encode(t, prompt=onnx.passage_prefix, batch_size=32, normalize_embeddings=True),
        "onnxruntime, fp32 products of the 4-bit file (the build, the server, the browser)": onnx.embed_passages,
    }
    runs = {name: [] for name in engines}
    for name, embed in engines.items():
        embed(texts[:4])  # load and warm up
    for _ in range(rounds):
        for name, embed in engines.items():
            start = time.perf_counter()
            embed(texts)
            runs[name].append(len(texts) / (time.perf_counter() - start))
    return {name: {"rate": statistics.median(r), "ratios": [x / b for x, b in zip(r, runs[BASELINE])]}
            for name, r in runs.items()}


def quality(ranked: list[list[str]], queries: list[dict]) -> dict:
    ranks = [r.index(q["slug"]) + 1 if q["slug"] in r else None for r, q in zip(ranked, queries)]
    return {lang: metrics([r for r, q in zip(ranks, queries) if q["lang"] == lang]) for lang in ("en", "zh")}


def browser_run(sets: dict) -> dict:
    site = layout.html_dir(REPO)
    with tempfile.TemporaryDirectory() as top:
        (Path(top) / SUB).symlink_to(site, target_is_directory=True)
        chromium = Chromium()
        try:
            with serve_directory(Path(top)) as host, chromium.page(host) as (page, log):
                sizes = []
                page.on("response", lambda r: sizes.append((r.url, int(r.headers.get("content-length") or 0))))
                start = time.perf_counter()
                page.goto(f"{host}/{SUB}/book/semantic_search.html?query=多卡分布式训练", wait_until="load")
                page.wait_for_function("() => window.kbSearch && window.kbSearch.engine === 'browser'")
                page.evaluate("() => window.kbSearch.semanticReady")
                page.wait_for_function("() => !document.querySelector('#kb-ss-status').textContent.includes('keyword')"
                                       " && document.querySelector('#kb-ss-results li')")
                cold = time.perf_counter() - start
                ranked = {}
                times = []
                for name, queries in sets.items():
                    got = page.evaluate("""async (qs) => { const out = [];
                        for (const q of qs) { const t = performance.now();
                          const r = await window.kbSearch(q, {k: 50}); out.push([performance.now() - t, r.map(x => x.slug)]); }
                        return out; }""", [q["q"] for q in queries])
                    times += [t for t, _ in got]
                    ranked[name] = [r for _, r in got]
                search_bytes = sum(s for u, s in sizes if "/_static/kb-search/" in u)
                return {"cold_first_answer_s": cold, "warm_p50_ms": statistics.median(times),
                        "warm_p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
                        "search_bytes": search_bytes,
                        "model_bytes": sum(s for u, s in sizes if u.endswith("model.onnx")),
                        "external_requests": len(log.external_requests), "ranked": ranked}
        finally:
            chromium.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=96, help="sample chunks for the embedding rates")
    args = ap.parse_args()
    rates = embedding_rates(args.chunks)
    print(f"passages embedded per second ({args.chunks} sample chunks, medians of 5 interleaved rounds;"
          f" ratio: the median round's, and the range):")
    for name, r in rates.items():
        q = r["ratios"]
        print(f"  {name:<46} {r['rate']:5.1f}/s   {statistics.median(q):.2f}x {BASELINE}"
              f" ({min(q):.2f}-{max(q):.2f})")

    sets = {"easy": load_queries(), "hard test": load_queries(HARD_QUERIES, "test"),
            "hard dev": load_queries(HARD_QUERIES, "dev")}
    searcher = Searcher(REPO, load_embedder(progress=False))
    server, server_ms = {}, []
    for name, qs in sets.items():
        server[name] = []
        for q in qs:
            start = time.perf_counter()
            server[name].append([r.slug for r in searcher.search(q["q"], 50)])
            server_ms.append((time.perf_counter() - start) * 1000)
    b = browser_run(sets)
    print("retrieval quality, R@1 / R@5 / MRR (browser | server):")
    for name, qs in sets.items():
        for lang in ("en", "zh"):
            mb, ms = quality(b["ranked"][name], qs)[lang], quality(server[name], qs)[lang]
            cell = lambda m: f"{m['recall@1']:.3f} / {m['recall@5']:.3f} / {m['mrr']:.3f}"  # noqa: E731
            print(f"  {name:<9} {lang}  n={mb['n']:<3} {cell(mb)}  |  {cell(ms)}")
    same = sum(x[:5] == y[:5] for n in sets for x, y in zip(b["ranked"][n], server[n]))
    total = sum(len(qs) for qs in sets.values())
    print(f"  browser and server agree on the top 5 for {same}/{total} queries")
    print("browser (headless Chromium, static server, site under a sub-path):")
    print(f"  cold visit to first semantic answer {b['cold_first_answer_s']:.2f} s; warm query p50 "
          f"{b['warm_p50_ms']:.0f} ms, p95 {b['warm_p95_ms']:.0f} ms")
    print(f"  server (python -m search serve's code, one query at a time): p50 {statistics.median(server_ms):.0f} ms")
    print(f"  search downloaded {b['search_bytes'] / 1e6:.1f} MB (model {b['model_bytes'] / 1e6:.1f} MB); "
          f"requests leaving the site: {b['external_requests']}")
    browser_scale.main([])


if __name__ == "__main__":
    main()
