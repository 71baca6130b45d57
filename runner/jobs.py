"""One notebook job: its settings from the article's front matter, its key, running it, failing it.

Both engines run jobs with ``run_job`` (the local pool in ``engine``, Ray tasks in
``ray_engine``), and ``merge`` accepts other runs' results by ``current_key``. A job and its
result are plain dicts, picklable for a worker process or a Ray task:

* job: ``slug``, ``nb_json`` (the notebook to run), ``cwd``, ``timeout``, ``stream_limit``,
  ``threads``, ``resources``, ``pythonpath``, ``key``, ``kernel_log``;
* result: the job plus ``started`` (stamped by the worker as it starts the job), ``status``,
  ``seconds``, ``device``, ``versions``, ``failed_cell``, ``failed_source``, ``traceback``, the
  executed ``nb_json``, and ``host`` where it ran elsewhere or failed outside its cells.

nbclient is imported only when a job runs: keying articles (``book merge``) needs none of it.
"""
from __future__ import annotations

import math
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from ingest.notebook import read_article_notebook
from ingest.store import Article
from kb import layout
from kb.cli import InputError
from runner.notebook_io import environment_digest, execution_key, texts_digest
from runner.outputs import DEFAULT_STREAM_LIMIT

# What a notebook may declare, in front matter ``reads``, that it reads besides its own cells and
# the environment: outputs computed from it go stale when it changes, so its digest joins the key.
KNOWLEDGE_BASE_TEXT = "knowledge-base-text"
READABLE = {KNOWLEDGE_BASE_TEXT: "every article's feed text, as nbhelpers.data.knowledge_base_texts() returns it"}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def declared_reads(article: Article) -> list[str]:
    """Front matter ``reads``: one name of ``READABLE``, or a list of them; none by default."""
    value = article.extra.get("reads", [])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n in READABLE for n in names):
        raise InputError(article.path, f"reads must name what the notebook reads besides its own cells, "
                                       f"one or a list of: {', '.join(READABLE)}; not {value!r}")
    return names


@dataclass(frozen=True)
class KeyInputs:
    """What outside the notebooks their keys cover: computed once per run, shared by every article."""
    environment: str  # ``notebook_io.environment_digest``
    data: dict[str, str]  # each name of ``READABLE`` → a digest of what a notebook declaring it reads

    @classmethod
    def of(cls, root: Path, articles: list[Article]) -> "KeyInputs":
        """``articles``: every article of the knowledge base, in ``load_articles`` order."""
        return cls(environment_digest(root), {KNOWLEDGE_BASE_TEXT: texts_digest([a.text for a in articles])})


def current_key(root: Path, article: Article, inputs: KeyInputs, nb=None) -> str:
    """The key a result of ``article`` must carry to count as current (see ``notebook_io``)."""
    nb = read_article_notebook(Path(root) / article.path) if nb is None else nb
    reads = {name: inputs.data[name] for name in declared_reads(article)}
    return execution_key(root, nb, inputs.environment, stream_limit=stream_limit(article), reads=reads)


def has_current_result(root: Path, article: Article, record, key: str) -> bool:
    """``record`` (or None) is the result of ``article`` as its code is now: its key and its executed notebook.

    A failed record counts: its failure is that code's result (the cache re-runs it; a check does not).
    """
    return record is not None and record.key == key and layout.executed_notebook(root, article.path).exists()


def new_job(root: Path, article: Article, nb, key: str, *, timeout: float, threads: int,
            resources: dict[str, float]) -> dict:
    root = Path(root)
    return {"slug": article.slug, "nb_json": nbformat.writes(nb), "cwd": str((root / article.path).parent),
            "timeout": timeout, "stream_limit": stream_limit(article), "threads": threads, "resources": resources,
            "pythonpath": str(root), "key": key, "kernel_log": str(layout.kernel_log(root, article.slug))}


def run_job(job: dict) -> dict:
    """Run ``job`` in this process (a pool worker, a Ray task); the result as described above."""
    from runner.kernel import execute_notebook  # nbclient and jupyter_client: only where notebooks run

    started = utc_now()
    res = execute_notebook(job["nb_json"], job["cwd"], job["timeout"], job["threads"], job["pythonpath"],
                           kernel_log=job["kernel_log"], stream_limit=job["stream_limit"])
    return {**job, "started": started, **asdict(res)}


def failed_result(job: dict, reason: str, host: str | None = None) -> dict:
    """The result of a notebook that never ran to its end for a reason outside its cells.

    ``started`` is when the driver gave up on it: a worker that died took its own stamp along.
    """
    return {**job, "started": utc_now(), "status": "failed", "seconds": 0.0, "device": "cpu", "versions": {},
            "failed_cell": None, "failed_source": None, "traceback": reason, "host": host or socket.gethostname()}
