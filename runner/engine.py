"""Run every selected article notebook with nbclient, in parallel worker processes, with a cache.

Outputs, all under ``_build/execution/`` (see ``kb.layout``):

* ``notebooks/<article path>.ipynb``: the executed notebook (offered for download on the site);
* ``records/<slug>.json``: the last run of each article (``runner.records``);
* ``logs/<slug>.log``: the kernel's own stderr;
* ``report.json``: the records of every current article, for tools and the status page.

Executed notebooks are also put into the jupyter-cache that Jupyter Book reads, so the book
renders these outputs instead of executing anything itself.
"""
from __future__ import annotations

import hashlib
import math
import os
import socket
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from tqdm import tqdm

from ingest.store import Article, load_articles
from kb import layout
from kb.cli import InputError
from kb.files import atomic_write_text
from runner.jupyter_cache_bridge import is_published, publish
from runner.kernel import execute_notebook
from runner.outputs import DEFAULT_STREAM_LIMIT
from runner.notebook_io import code_cells, environment_digest, execution_key, read_article_notebook
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


def _front_matter_number(article: Article, key: str, default, kind=float):
    value = article.extra.get(key, default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or number <= 0:
        raise InputError(article.path, f"{key} must be a positive number, not {value!r}")
    return number


def notebook_timeout(article: Article, default: float) -> float:
    """Seconds the notebook may run: front matter ``execution_timeout``, else ``default``."""
    return _front_matter_number(article, "execution_timeout", default)


def stream_limit(article: Article) -> int:
    """Characters each cell's stdout and stderr keep: front matter ``stream_limit``, else the default."""
    return _front_matter_number(article, "stream_limit", DEFAULT_STREAM_LIMIT, int)


def notebook_resources(article: Article) -> dict[str, float]:
    """What the notebook needs of a Ray node: front matter ``resources`` (e.g. ``{gpus: 1}``), else nothing.

    Only the Ray engine schedules by it; the local engine checks it and otherwise ignores it.
    """
    value = article.extra.get("resources", {})
    if not isinstance(value, dict) or not all(
            isinstance(name, str) and name and isinstance(amount, (int, float)) and not isinstance(amount, bool)
            and math.isfinite(amount) and amount > 0 for name, amount in value.items()):
        raise InputError(article.path, f"resources must map resource names to positive numbers "
                                       f"(e.g. {{gpus: 1}}), not {value!r}")
    return dict(value)


def current_key(root: Path, article: Article, env_digest: str, nb=None) -> str:
    """The key a result of ``article`` must carry to count as current (see ``notebook_io``)."""
    nb = read_article_notebook(Path(root) / article.path) if nb is None else nb
    return execution_key(root, nb, env_digest, stream_limit=stream_limit(article))


def _run_job(job: dict) -> dict:
    """Worker-process entry point: plain dicts in and out (picklable)."""
    res = execute_notebook(job["nb_json"], job["cwd"], job["timeout"], job["threads"], job["pythonpath"],
                           kernel_log=job["kernel_log"], stream_limit=job["stream_limit"])
    return {**job, **asdict(res)}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(root: Path, *, force: bool = False, only: list[str] | None = None, shard=None, jobs: int | None = None,
        timeout: float = DEFAULT_TIMEOUT, progress: bool = True, ray: str | None = None) -> list[ExecutionRecord]:
    """Execute the selected articles; returns their records (cached ones included).

    ``ray``: run the notebooks as Ray tasks (``runner.ray_engine``) instead of in the local worker
    pool: ``"local"`` starts a Ray instance with ``jobs`` CPUs, an address (``auto``,
    ``ray://host:10001``) joins that cluster, where ``jobs`` (if given) caps the notebooks in flight.

    Raises ``InputError`` (before running anything) for an unknown slug, a bad shard or a
    broken article file, or a Ray cluster that cannot be reached.
    """
    root = Path(root).resolve()
    articles = load_articles(root)
    selected = select_articles(articles, only, shard)
    env_digest = environment_digest(root)
    requested_jobs = jobs
    jobs = max(1, jobs or os.cpu_count() or 1)
    engine_name, host = ("ray" if ray else "local"), socket.gethostname()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    records: dict[str, ExecutionRecord] = {}
    resources = {a.slug: notebook_resources(a) for a in selected}  # checked even when cached: nothing written yet
    todo = []
    for a in selected:
        nb = read_article_notebook(root / a.path)
        key = current_key(root, a, env_digest, nb)
        previous = load_record(root, a.slug)
        executed = layout.executed_notebook(root, a.path)
        if not force and previous and previous.key == key and not previous.failed and executed.exists():
            records[a.slug] = replace(previous, cached=True)
            save_record(root, records[a.slug])  # so report.json says what this run did
            if not is_published(root, nb):  # e.g. _build/.jupyter_cache was deleted: hand the outputs back
                publish(root, a, nbformat.read(executed, as_version=4), previous.seconds, previous.status)
            continue
        if not code_cells(nb):  # nothing to run: no kernel needed
            records[a.slug] = ExecutionRecord(a.slug, a.path.as_posix(), "no-code", False, 0.0, NO_CODE_DEVICE, _now(),
                                              key, engine=engine_name, host=host)
            _store(root, a, nb, records[a.slug])
            continue
        log = layout.kernel_log(root, a.slug)
        log.parent.mkdir(parents=True, exist_ok=True)
        todo.append({"slug": a.slug, "nb_json": nbformat.writes(nb), "cwd": str((root / a.path).parent),
                     "timeout": notebook_timeout(a, timeout), "stream_limit": stream_limit(a), "threads": threads,
                     "resources": resources[a.slug], "pythonpath": str(root),
                     "key": key, "started": _now(), "kernel_log": str(log)})
    by_slug = {a.slug: a for a in articles}
    if todo:
        cluster = None
        if ray:
            from runner.ray_engine import LOCAL, Cluster

            cluster = Cluster.connect(ray, num_cpus=jobs)
            results, desc = cluster.execute_all(todo, None if ray == LOCAL else requested_jobs), cluster.describe()
        else:
            results, desc = _execute_all(todo, jobs), f"{jobs} workers"
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


def _execute_all(todo: list[dict], jobs: int):
    """Yield each job's result as it finishes.

    A worker process that dies (killed, out of memory) breaks the whole pool, so every notebook
    still in it is tried again, each alone in a fresh worker: only the one that kills its worker
    again is reported as failed.
    """
    retry = yield from _in_pool(todo, jobs)
    for job in retry:
        again = yield from _in_pool([job], 1)
        if again:
            yield failed_result(job, "the worker process running this notebook died (killed or out of memory)")


def _in_pool(jobs_: list[dict], workers: int):
    """Run ``jobs_`` in one pool, yielding results; returns the jobs a broken pool lost."""
    lost = []
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs_))) as pool:
        futures = {pool.submit(_run_job, job): job for job in jobs_}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                lost.append(futures[fut])
                continue
            yield result
    return lost


def failed_result(job: dict, reason: str, host: str | None = None) -> dict:
    """The result of a notebook that never ran to its end for a reason outside its cells."""
    return {**job, "status": "failed", "seconds": 0.0, "device": "cpu", "versions": {}, "failed_cell": None,
            "failed_source": None, "traceback": reason, "host": host or socket.gethostname()}


def _store(root: Path, article: Article, nb, rec: ExecutionRecord) -> None:
    nb.metadata["kb_execution"] = {k: v for k, v in rec.to_json().items() if k not in ("traceback", "failed_source")}
    atomic_write_text(layout.executed_notebook(root, article.path), nbformat.writes(nb))
    save_record(root, rec)
    publish(root, article, nb, rec.seconds, rec.status)


def timed_run(root: Path, **kw) -> tuple[list[ExecutionRecord], float]:
    start = time.perf_counter()
    records = run(root, **kw)
    return records, time.perf_counter() - start
