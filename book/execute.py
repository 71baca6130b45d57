"""``python -m book execute``: run every article notebook with nbclient, in parallel, with a cache.

Outputs, all under ``_build/execution/``:

* ``notebooks/<article path>.ipynb``: the executed notebook (offered for download on the site);
* ``records/<slug>.json``: the last run of each article (status, seconds, device, ...);
* ``report.json``: the records of every current article, for tools and the status page.

Executed notebooks are also put into the jupyter-cache that Jupyter Book reads, so the book
renders these outputs instead of executing anything itself.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from tqdm import tqdm

from book.jupyter_cache_bridge import is_published, publish
from book.kernel_run import execute_notebook
from book.notebook_io import code_cells, environment_digest, execution_key, read_article_notebook
from ingest.fsutil import atomic_write_text
from ingest.store import Article, load_articles

EXECUTION_DIR = Path("_build") / "execution"
DEFAULT_TIMEOUT = 600.0


@dataclass
class ExecutionRecord:
    slug: str
    path: str
    status: str  # ok | failed | timeout
    cached: bool
    seconds: float
    device: str
    started: str
    key: str
    versions: dict = field(default_factory=dict)
    failed_cell: int | None = None
    failed_source: str | None = None
    traceback: str | None = None
    python: str = platform.python_version()


def execution_dir(root: Path) -> Path:
    return root / EXECUTION_DIR


def executed_notebook_path(root: Path, article: Article) -> Path:
    return execution_dir(root) / "notebooks" / article.path.with_suffix(".ipynb")


def record_path(root: Path, slug: str) -> Path:
    return execution_dir(root) / "records" / f"{slug}.json"


def _log_path(root: Path, slug: str) -> Path:
    path = execution_dir(root) / "logs" / f"{slug}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def load_record(root: Path, slug: str) -> ExecutionRecord | None:
    try:
        return ExecutionRecord(**json.loads(record_path(root, slug).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


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
        raise ValueError(f"--shard wants K/N, e.g. 1/4, not {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def select_articles(articles: list[Article], only: list[str] | None, shard) -> list[Article]:
    if only:
        known = {a.slug for a in articles}
        unknown = sorted(set(only) - known)
        if unknown:
            raise ValueError(f"unknown article slug(s): {', '.join(unknown)}")
        articles = [a for a in articles if a.slug in set(only)]
    return [a for a in articles if in_shard(a.slug, shard)]


def notebook_timeout(article: Article, default: float) -> float:
    return float(article.extra.get("execution_timeout", default))


def _run_job(job: dict) -> dict:
    """Worker-process entry point: plain dicts in and out (picklable)."""
    res = execute_notebook(job["nb_json"], job["cwd"], job["timeout"], job["threads"], job["pythonpath"],
                           kernel_log=job["kernel_log"])
    return {**job, **asdict(res)}


def run(root: Path, *, force: bool = False, only: list[str] | None = None, shard=None, jobs: int | None = None,
        timeout: float = DEFAULT_TIMEOUT, progress: bool = True) -> list[ExecutionRecord]:
    """Execute the selected articles; returns their records (cached ones included)."""
    root = Path(root).resolve()
    articles = load_articles(root)
    selected = select_articles(articles, only, shard)
    env_digest = environment_digest(root)
    jobs = max(1, jobs or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    records: dict[str, ExecutionRecord] = {}
    todo = []
    for a in selected:
        nb = read_article_notebook(root / a.path)
        key = execution_key(nb, env_digest)
        previous = load_record(root, a.slug)
        executed = executed_notebook_path(root, a)
        if not force and previous and previous.key == key and previous.status == "ok" and executed.exists():
            records[a.slug] = ExecutionRecord(**{**asdict(previous), "cached": True})
            if not is_published(root, nb):  # e.g. _build/.jupyter_cache was deleted: hand the outputs back
                publish(root, a, nbformat.read(executed, as_version=4), previous)
            continue
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if not code_cells(nb):  # nothing to run: no kernel needed
            records[a.slug] = ExecutionRecord(a.slug, a.path.as_posix(), "ok", False, 0.0, "none", started, key)
            _store(root, a, nb, records[a.slug])
            continue
        todo.append({"slug": a.slug, "nb_json": nbformat.writes(nb), "cwd": str((root / a.path).parent),
                     "timeout": notebook_timeout(a, timeout), "threads": threads, "pythonpath": str(root),
                     "key": key, "started": started, "kernel_log": str(_log_path(root, a.slug))})
    by_slug = {a.slug: a for a in articles}
    if todo:
        bar = tqdm(total=len(todo), desc=f"executing ({jobs} workers)", unit="nb", disable=not progress, file=sys.stderr)
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            futures = [pool.submit(_run_job, job) for job in todo]
            for fut in as_completed(futures):
                out = fut.result()
                a = by_slug[out["slug"]]
                rec = ExecutionRecord(
                    slug=a.slug, path=a.path.as_posix(), status=out["status"], cached=False,
                    seconds=round(out["seconds"], 2), device=out["device"], started=out["started"], key=out["key"],
                    versions=out["versions"], failed_cell=out["failed_cell"], failed_source=out["failed_source"],
                    traceback=out["traceback"])
                records[a.slug] = rec
                _store(root, a, nbformat.reads(out["nb_json"], as_version=4), rec)
                bar.set_postfix_str(f"{a.slug}: {rec.status} {rec.seconds:.0f}s")
                bar.update()
        bar.close()
    write_report(root, articles)
    return [records[a.slug] for a in selected]


def _store(root: Path, article: Article, nb, rec: ExecutionRecord) -> None:
    nb.metadata["kb_execution"] = {k: v for k, v in asdict(rec).items() if k not in ("traceback", "failed_source")}
    atomic_write_text(executed_notebook_path(root, article), nbformat.writes(nb))
    _write_json(record_path(root, article.slug), asdict(rec))
    publish(root, article, nb, rec)


def write_report(root: Path, articles: list[Article]) -> Path:
    """report.json: the latest record of every current article (articles never run are absent)."""
    report = [asdict(r) for a in articles if (r := load_record(root, a.slug)) is not None]
    path = execution_dir(root) / "report.json"
    _write_json(path, report)
    return path


def format_table(records: list[ExecutionRecord]) -> str:
    rows = [("article", "status", "cached", "seconds", "device")]
    rows += [(r.slug, r.status, "yes" if r.cached else "no", f"{r.seconds:.1f}", r.device) for r in records]
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(records: list[ExecutionRecord], wall: float) -> str:
    n_ok = sum(r.status == "ok" for r in records)
    n_cached = sum(r.cached for r in records)
    return (f"{len(records)} notebooks: {n_ok} ok, {len(records) - n_ok} failed/timed out, "
            f"{n_cached} from cache; {wall:.1f} s wall")


def failures_text(records: list[ExecutionRecord]) -> str:
    parts = []
    for r in records:
        if r.status != "ok":
            where = f"cell {r.failed_cell}" if r.failed_cell is not None else "kernel"
            parts.append(f"--- {r.slug} ({r.path}): {r.status} at {where}\n{(r.traceback or '')[-1500:]}")
    return "\n".join(parts)


def timed_run(root: Path, **kw) -> tuple[list[ExecutionRecord], float]:
    start = time.perf_counter()
    records = run(root, **kw)
    return records, time.perf_counter() - start
