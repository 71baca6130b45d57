"""Run every selected article notebook with nbclient, in parallel worker processes, with a cache.

Outputs, all under ``_build/execution/`` (see ``kb.layout``):

* ``notebooks/<article path>.ipynb``: the executed notebook (the site offers a copy made to run on its own, ``book.notebooks``);
* ``records/<slug>.json``: the last run of each article (``runner.records``);
* ``logs/<slug>.log``: the kernel's own stderr;
* ``report.json``: the records of every current article, for tools and the status page.

Executed notebooks are also put into the jupyter-cache that Jupyter Book reads, so the book
renders these outputs instead of executing anything itself.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

import nbformat
from tqdm import tqdm

from ingest.notebook import code_cells, read_article_notebook
from ingest.store import Article, load_articles
from kb import layout
from kb.cli import InputError
from kb.files import atomic_write_text
from runner.jobs import (KeyInputs, current_key, failed_result, has_current_result, new_job, notebook_resources,
                         notebook_timeout, run_job, utc_now)
from runner.jupyter_cache_bridge import is_published, publish
from runner.records import NO_CODE_DEVICE, ExecutionRecord, load_record, save_record, write_report

DEFAULT_TIMEOUT = 600.0


def in_shard(slug: str, shard: tuple[int, int] | None) -> bool:
    """Deterministic 1/N split by a hash of the slug (stable when articles are added)."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha1(slug.encode()).hexdigest(), 16) % n == k - 1


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError("--shard", f"wants K/N, e.g. 1/4, not {text!r}") from None
    if not 1 <= k <= n:
        raise InputError("--shard", f"{text}: K must be between 1 and N")
    return k, n


def select_articles(articles: list[Article], only: list[str] | None, shard) -> list[Article]:
    if only:
        unknown = sorted(set(only) - {a.slug for a in articles})
        if unknown:
            raise InputError("--only", f"unknown article slug(s): {', '.join(unknown)}")
        articles = [a for a in articles if a.slug in set(only)]
    return [a for a in articles if in_shard(a.slug, shard)]


def run(root: Path, *, force: bool = False, only: list[str] | None = None, shard=None, jobs: int | None = None,
        timeout: float = DEFAULT_TIMEOUT, progress: bool = True, ray: str | None = None) -> list[ExecutionRecord]:
    """Execute the selected articles; returns their records (cached ones included).

    ``ray``: run the notebooks as Ray tasks (``runner.ray_engine``) instead of in the local worker
    pool: ``"local"`` starts a Ray instance with ``jobs`` CPUs, an address (``auto``,
    ``ray://host:10001``) joins that cluster, where ``jobs`` (if given) caps the notebooks in flight.

    Raises ``InputError`` (before running or writing anything) for an unknown slug, a bad shard, a
    broken article file or front matter, or a Ray cluster that cannot be reached.
    """
    root = Path(root).resolve()
    articles = load_articles(root)
    selected = select_articles(articles, only, shard)
    inputs = KeyInputs.of(root, articles)
    requested_jobs = jobs
    jobs = max(1, jobs or os.cpu_count() or 1)
    engine_name, host = ("ray" if ray else "local"), socket.gethostname()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    records: dict[str, ExecutionRecord] = {}
    # Every article's front matter is checked, cached or not, before anything is written.
    prepared = []
    for a in selected:
        nb = read_article_notebook(root / a.path)
        prepared.append((a, nb, current_key(root, a, inputs, nb), notebook_timeout(a, timeout), notebook_resources(a)))
    todo = []
    for a, nb, key, limit, resources in prepared:
        previous = load_record(root, a.slug)
        executed = layout.executed_notebook(root, a.path)
        if not force and has_current_result(root, a, previous, key) and not previous.failed:
            records[a.slug] = replace(previous, cached=True)
            save_record(root, records[a.slug])  # so report.json says what this run did
            if not is_published(root, nb):  # e.g. _build/.jupyter_cache was deleted: hand the outputs back
                publish(root, a, nbformat.read(executed, as_version=4), previous.seconds, previous.status)
            continue
        if not code_cells(nb):  # nothing to run: no kernel needed
            records[a.slug] = ExecutionRecord(a.slug, a.path.as_posix(), "no-code", False, 0.0, NO_CODE_DEVICE,
                                              utc_now(), key, engine=engine_name, host=host)
            _store(root, a, nb, records[a.slug])
            continue
        job = new_job(root, a, nb, key, timeout=limit, threads=threads, resources=resources)
        Path(job["kernel_log"]).parent.mkdir(parents=True, exist_ok=True)
        todo.append(job)
    by_slug = {a.slug: a for a in articles}
    if todo:
        cluster = None
        if ray:
            from runner.ray_engine import LOCAL, Cluster

            cluster = Cluster.connect(ray, num_cpus=jobs)
            results, desc = cluster.execute_all(todo, None if ray == LOCAL else requested_jobs), cluster.describe()
        else:
            results, desc = execute_all(todo, jobs), f"{jobs} workers"
        try:
            bar = tqdm(total=len(todo), desc=f"executing ({desc})", unit="nb", disable=not progress, file=sys.stderr)
            for out in results:
                a = by_slug[out["slug"]]
                rec = ExecutionRecord(
                    slug=a.slug, path=a.path.as_posix(), status=out["status"], cached=False,
                    seconds=round(out["seconds"], 2), device=out["device"], started=out["started"], key=out["key"],
                    versions=out["versions"], failed_cell=out["failed_cell"], failed_source=out["failed_source"],
                    traceback=out["traceback"], engine=engine_name, host=out.get("host", host))
                records[a.slug] = rec
                _store(root, a, nbformat.reads(out["nb_json"], as_version=4), rec)
                bar.set_postfix_str(f"{a.slug}: {rec.status} {rec.seconds:.0f}s")
                bar.update()
            bar.close()
        finally:
            if cluster is not None:
                cluster.close()
    write_report(root, [a.slug for a in articles])
    return [records[a.slug] for a in selected]


def check(root: Path, *, only: list[str] | None = None, shard=None) -> tuple[list[ExecutionRecord], list[Article]]:
    """Run nothing: the selected articles' current records, and the articles that have none.

    A record is current when its key is the article's key now and its executed notebook is there;
    a failed record counts as current (its failure is the result for that code). This is what a
    publish job checks after merging the shards: it must not re-run what a shard ran and failed.
    """
    root = Path(root).resolve()
    articles = load_articles(root)
    inputs = KeyInputs.of(root, articles)
    current, missing = [], []
    for a in select_articles(articles, only, shard):
        rec = load_record(root, a.slug)
        if has_current_result(root, a, rec, current_key(root, a, inputs)):
            current.append(rec)
        else:
            missing.append(a)
    return current, missing


WORKER_DIED = "the worker process running this notebook died (killed or out of memory), also when run again alone"


def execute_all(todo: list[dict], workers: int):
    """Run the jobs, at most ``workers`` at a time; yield each one's result as it finishes.

    A worker process that dies (killed, out of memory) breaks its whole pool and takes down every
    notebook running in it, not only its own. Each of those is run once more, alone in a pool of
    its own, beside the others: a notebook that kills its lone worker again is reported as
    failed, and takes no other notebook down with it. The notebooks not started yet go on in a
    fresh shared pool. Only as many jobs as there are workers are handed to a pool, so a broken
    pool loses only notebooks that had started.
    """
    fresh, retries = deque(todo), deque()
    shared: ProcessPoolExecutor | None = None
    running: dict = {}  # future → (job, its pool, whether it runs alone)
    try:
        while fresh or retries or running:
            while len(running) < workers and (retries or fresh):
                if retries:
                    job, pool, alone = retries.popleft(), ProcessPoolExecutor(max_workers=1), True
                else:
                    if shared is None:
                        shared = ProcessPoolExecutor(max_workers=min(workers, len(fresh)))
                    job, pool, alone = fresh.popleft(), shared, False
                running[pool.submit(run_job, job)] = (job, pool, alone)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job, pool, alone = running.pop(fut)
                if alone:
                    pool.shutdown()
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    if alone:
                        yield failed_result(job, WORKER_DIED)
                        continue
                    retries.append(job)
                    if pool is shared:  # a broken pool takes no more jobs; it cleans up in the background
                        shared.shutdown(wait=False)
                        shared = None
                    continue
                yield result
    finally:
        for pool in {pool for _, pool, _ in running.values()} | ({shared} if shared else set()):
            pool.shutdown(cancel_futures=True)


def _store(root: Path, article: Article, nb, rec: ExecutionRecord) -> None:
    nb.metadata["kb_execution"] = {k: v for k, v in rec.to_json().items() if k not in ("traceback", "failed_source")}
    atomic_write_text(layout.executed_notebook(root, article.path), nbformat.writes(nb))
    save_record(root, rec)
    publish(root, article, nb, rec.seconds, rec.status)


def timed_run(root: Path, **kw) -> tuple[list[ExecutionRecord], float]:
    start = time.perf_counter()
    records = run(root, **kw)
    return records, time.perf_counter() - start
