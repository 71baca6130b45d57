"""The in-browser search on large synthetic sites (a script, not a timed test):
``python benchmarks/browser_scale.py [--counts 10000 100000]``.

For each count, writes a synthetic index with ``search.browser_export.write`` (the build's own
writer: clustered int8 vectors, Zipf-distributed BM25 terms, 10 chunks per article, 300-character
texts), serves the built site with that index in place of the sample's (the real model), and
prints, in headless Chromium: bytes of the index (everything under ``data/`` but the model) loaded
with the page and by the first query, the first answer's time after the model is ready, and the
warm p50 of further queries. Needs a built site (``make site``). The machine is shared: compare
the counts with each other, not with another run's.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import layout  # noqa: E402
from kb.files import read_json  # noqa: E402
from search import browser_export, ranking  # noqa: E402
from tests.browser import Chromium, serve_directory  # noqa: E402

DIMENSION = 384
VOCABULARY = 20_000
TERMS_PER_CHUNK = 60
QUERIES = ["t5 t9 t123 t4567", "t17 t300", "t2 t77 t1999 t8000 t15000", "t31 t64 t128", "t400 t401 t402", "t11 t12"]


def synthetic(count: int, shipped: dict, seed: int = 0) -> browser_export.BrowserData:
    """``count`` rows shaped like the sample's: vectors near one of count/100 topics, terms drawn
    with a Zipf-like law (term i with probability about 1/sqrt(i)), weights 1-4 (×1000)."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((max(1, count // 100), DIMENSION)).astype(np.float32)
    vectors = topics[rng.integers(0, len(topics), count)] + 0.6 * rng.standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    q, scales = ranking.quantize_rows(vectors)
    terms = (rng.random((count, TERMS_PER_CHUNK)) ** 2 * VOCABULARY).astype(np.int64)
    weights = rng.integers(1000, 4000, (count, TERMS_PER_CHUNK))
    order = np.argsort(terms.ravel(), kind="stable")
    rows = np.repeat(np.arange(count), TERMS_PER_CHUNK)[order]
    sorted_terms, sorted_weights = terms.ravel()[order], weights.ravel()[order]
    bounds = np.flatnonzero(np.diff(sorted_terms)) + 1
    postings = {}
    for start, end in tqdm(zip(np.r_[0, bounds], np.r_[bounds, len(order)]), total=len(bounds) + 1,
                           desc=f"postings of {count:,} rows", leave=False):
        flat = np.empty(2 * (end - start), np.int64)
        flat[0::2], flat[1::2] = rows[start:end], sorted_weights[start:end]
        postings[f"t{sorted_terms[start]}"] = flat.tolist()
    articles = math.ceil(count / 10)
    row_article = (np.arange(count) // 10).astype(np.uint32)
    facts = {k: shipped[k] for k in ("model", "query_prefix", "max_tokens", "output", "max_k", "max_query_chars",
                                     "chunks_per_result", "ranking", "scope", "snippet_chars")}
    facts |= {"dimension": DIMENSION, "mean": [0.0] * DIMENSION}
    return browser_export.BrowserData(
        facts=facts,
        articles=[{"slug": f"a{a}", "title": f"Article {a}", "title_en": "", "page": f"articles/a{a}.html",
                   "lead": a * 10 + 1 if a * 10 + 1 < count else -1} for a in range(articles)],
        row_article=row_article, kinds=["text", "title"], row_kind=(np.arange(count) % 10 == 0).astype(np.uint8),
        q=q, scales=scales, bodies=[f"Chunk {i}: " + "synthetic text " * 19 for i in range(count)],
        postings=postings)


def site_with(data_dir: Path, top: Path) -> Path:
    """A copy of the built site made of links in ``top/repo``, its search data replaced by ``data_dir``."""
    site = layout.html_dir(REPO)
    out = top / "repo"
    for path in (Path(), Path("_static"), Path("_static/kb-search")):
        (out / path).mkdir(parents=True, exist_ok=True)
        for entry in (site / path).iterdir():
            rel = path / entry.name
            if rel in (Path("_static"), Path("_static/kb-search"), Path("_static/kb-search/data")):
                continue
            (out / rel).symlink_to(entry)
    (out / "_static/kb-search/data").symlink_to(data_dir)
    return out


def measure(top: Path) -> dict:
    chromium = Chromium()
    try:
        with serve_directory(top) as host, chromium.page(host) as (page, log):
            sizes = []
            page.on("response", lambda r: sizes.append((r.url, int(r.headers.get("content-length") or 0))))

            def index_bytes():
                return sum(s for u, s in sizes if "/kb-search/data/" in u and "/data/model/" not in u)

            page.goto(f"{host}/repo/book/semantic_search.html", wait_until="load")
            page.wait_for_function("() => window.kbSearch && window.kbSearch.engine === 'browser'")
            page.evaluate("() => window.kbSearch.semanticReady")
            with_page = index_bytes()
            times = []
            for text in QUERIES:
                start = time.perf_counter()
                results = page.evaluate("async (q) => (await window.kbSearch.answer(q, {k: 10})).results.length", text)
                times.append(time.perf_counter() - start)
                assert results, text
                if len(times) == 1:
                    first_bytes = index_bytes()
            return {"with_page_mb": with_page / 1e6, "first_query_mb": first_bytes / 1e6, "first_s": times[0],
                    "warm_p50_ms": 1000 * statistics.median(times[1:]), "external": len(log.external_requests)}
    finally:
        chromium.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args(argv)
    shipped_dir = layout.browser_search_dir(REPO)
    shipped = read_json(shipped_dir / "meta.json")
    if not shipped:
        sys.exit(f"error: {shipped_dir}: no exported search data; run `make site` first")
    print("synthetic sites in headless Chromium (index bytes exclude the model; times after the model is ready):")
    for count in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "data"
            (data_dir / "model").mkdir(parents=True)
            for name in browser_export.MODEL_FILES:
                (data_dir / "model" / name).symlink_to(shipped_dir / "model" / name)
            start = time.perf_counter()
            browser_export.write(data_dir, synthetic(count, shipped))
            written = time.perf_counter() - start
            meta = read_json(data_dir / "meta.json")
            total = sum(meta["pieces"]["bytes"].values()) + (data_dir / "meta.json").stat().st_size
            site_with(data_dir, Path(tmp))
            f = measure(Path(tmp))
            print(f"  {count:>7,} chunks: index {total / 1e6:.1f} MB in {meta['pieces']['lists']} vector lists and "
                  f"{meta['pieces']['postings']} postings files (written in {written:.0f} s); with the page "
                  f"{f['with_page_mb']:.2f} MB, by the first answer {f['first_query_mb']:.2f} MB; first answer "
                  f"{f['first_s']:.2f} s after the model is ready, then p50 {f['warm_p50_ms']:.0f} ms; "
                  f"requests leaving the site: {f['external']}")


if __name__ == "__main__":
    main()
