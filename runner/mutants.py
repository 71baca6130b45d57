"""Mutants: plausible bugs an article's checks must catch, each run on a copy of its notebook.

An article declares them beside itself, in ``<slug>.mutants.yml`` next to ``<slug>.md``::

    - find: "x.mean(dim=0)"          # occurs exactly once in the implementation's code cells
      replace: "x.mean(dim=1)"
      why: "normalises over the wrong axis"

A file of its own rather than front matter: a mutant quotes code, and YAML-quoted code above the
feed text would bury the article's header; and ingest rewrites front matter, which must never
touch the mutants.

Each mutant is applied to the notebook the runner would execute and run by the same engine (the
same kernel, isolation and time limit; execution stops at the first failing cell). Its outcome:

- ``killed``: a check failed (``AssertionError``: ``assert``, ``numpy.testing``, ``torch.testing``);
- ``crashed``: another exception: the mutant is not a plausible bug but a broken program;
- ``survived``: the notebook ran to its end: no check noticed the bug;
- ``timeout``: it ran past the article's time limit.

Results are cached per article on its execution key and each mutant's text, so a run re-executes
only mutants whose article code or text changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import yaml

from ingest.notebook import code_cells, implementation_start, read_article_notebook
from ingest.store import Article, load_articles
from kb import layout
from kb.cli import InputError
from kb.files import read_json, write_json
from runner.jobs import KeyInputs, current_key, new_job, notebook_resources, notebook_timeout

SUFFIX = ".mutants.yml"
MIN_MUTANTS = 3
KILLING_ERRORS = ("AssertionError",)  # numpy.testing and torch.testing raise it too
OUTCOMES = ("killed", "crashed", "survived", "timeout")


@dataclass(frozen=True)
class Mutant:
    n: int  # 1-based, in file order
    find: str
    replace: str
    why: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.find, self.replace]).encode("utf-8")).hexdigest()[:16]


@dataclass
class MutantResult:
    slug: str
    n: int
    find: str
    replace: str
    why: str
    outcome: str  # one of OUTCOMES
    error: str  # the exception's type and message where it failed ("" for survived)
    cell: int | None  # the code cell it failed in
    seconds: float
    cached: bool = False


def mutants_path(article: Article) -> Path:
    """The article's mutants file, relative to the project root."""
    return article.path.with_name(article.path.stem + SUFFIX)


def mutants_file(root: Path, article: Article) -> Path:
    return Path(root) / mutants_path(article)


def cache_file(root: Path, slug: str) -> Path:
    return layout.mutants_dir(root) / f"{slug}.json"


def load_mutants(root: Path, article: Article) -> list[Mutant]:
    """The article's declared mutants (none when it has no file); ``InputError`` naming the file
    and the mutant for anything malformed."""
    path = mutants_file(root, article)
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, f"not readable YAML: {exc}") from exc
    if not isinstance(data, list):
        raise InputError(path, "must be a YAML list of mutants (find, replace, why)")
    out = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict) or set(item) != {"find", "replace", "why"} or \
                not all(isinstance(v, str) for v in item.values()):
            raise InputError(path, f"mutant {n}: needs exactly the text fields find, replace and why")
        if not item["find"] or item["find"] == item["replace"] or not item["why"].strip():
            raise InputError(path, f"mutant {n}: find must be non-empty and differ from replace, and why must say "
                                   f"what bug it is")
        out.append(Mutant(n, item["find"], item["replace"], item["why"].strip()))
    return out


def implementation_cells(nb) -> list[int]:
    """Indices of the code cells below the feed region: the article's own implementation."""
    return [i for i in range(implementation_start(nb.cells), len(nb.cells)) if nb.cells[i].cell_type == "code"]


def mutated(nb, mutant: Mutant, path: Path):
    """A copy of ``nb`` with ``mutant`` applied; ``InputError`` unless its ``find`` occurs exactly
    once in the implementation's code cells."""
    hits = {i: nb.cells[i].source.count(mutant.find) for i in implementation_cells(nb)}
    count = sum(hits.values())
    if count != 1:
        where = "is not in" if count == 0 else f"occurs {count} times in"
        raise InputError(path, f"mutant {mutant.n}: find {mutant.find!r} {where} the implementation's code cells "
                               f"(it must occur exactly once)")
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))
    i = next(i for i, k in hits.items() if k)
    copy.cells[i].source = copy.cells[i].source.replace(mutant.find, mutant.replace)
    return copy


def classify(result: dict) -> tuple[str, str, int | None]:
    """(outcome, error, failing code cell) of a finished mutant job."""
    if result["status"] == "ok":
        return "survived", "", None
    if result["status"] == "timeout":
        return "timeout", f"ran past {result['timeout']:.0f} s", result.get("failed_cell")
    nb = nbformat.reads(result["nb_json"], as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                error = f"{out.get('ename')}: {out.get('evalue', '')}".strip()[:300]
                outcome = "killed" if out.get("ename") in KILLING_ERRORS else "crashed"
                return outcome, error, result.get("failed_cell")
    return "crashed", (result.get("traceback") or "no error output").strip().splitlines()[-1][:300], None


@dataclass
class Plan:
    article: Article
    key: str
    mutants: list[Mutant]
    jobs: list[dict]
    cached: list[MutantResult]


def plan(root: Path, articles: list[Article], selected: list[Article], *, force: bool, threads: int,
         timeout: float, inputs: KeyInputs | None = None) -> list[Plan]:
    """Every selected article with code: its mutants checked and applied (``InputError`` before
    anything runs), the cached results reused and the rest turned into runner jobs."""
    inputs = inputs or KeyInputs.of(root, articles)
    plans = []
    for a in selected:
        nb = read_article_notebook(root / a.path)
        if not code_cells(nb):
            continue  # nothing implemented yet, nothing to break
        mutants = load_mutants(root, a)
        key = current_key(root, a, inputs, nb)
        copies = [mutated(nb, m, mutants_file(root, a)) for m in mutants]  # all checked before any runs
        cache = read_json(cache_file(root, a.slug), {}) if not force else {}
        known = cache.get("results", {}) if cache.get("key") == key else {}
        p = Plan(a, key, mutants, [], [])
        for m, copy in zip(mutants, copies):
            if m.digest in known:
                p.cached.append(MutantResult(**{**known[m.digest], "n": m.n, "why": m.why, "cached": True}))
                continue
            job = new_job(root, a, copy, key, timeout=notebook_timeout(a, timeout), threads=threads,
                          resources=notebook_resources(a))
            job.update(mutant=asdict(m), digest=m.digest,
                       kernel_log=str(layout.mutants_dir(root) / "logs" / f"{a.slug}-{m.n}.log"))
            Path(job["kernel_log"]).parent.mkdir(parents=True, exist_ok=True)
            p.jobs.append(job)
        plans.append(p)
    return plans


def run(root: Path, *, only: list[str] | None = None, shard=None, jobs: int | None = None, force: bool = False,
        timeout: float | None = None, progress: bool = True) -> list[MutantResult | tuple[Article, int]]:
    """Run the selected articles' mutants; returns every result, and ``(article, declared)`` for an
    article with code that declares fewer than ``MIN_MUTANTS``."""
    from tqdm import tqdm

    from runner.engine import DEFAULT_TIMEOUT, execute_all, select_articles

    root = Path(root).resolve()
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    articles = load_articles(root)
    selected = select_articles(articles, only, shard)
    workers = max(1, jobs or os.cpu_count() or 1)
    inputs = KeyInputs.of(root, articles)
    plans = plan(root, articles, selected, force=force, threads=max(1, (os.cpu_count() or 1) // workers),
                 timeout=timeout, inputs=inputs)
    todo = [job for p in plans for job in p.jobs]
    fresh: dict[str, list[MutantResult]] = {p.article.slug: [] for p in plans}
    if todo:
        bar = tqdm(total=len(todo), desc=f"mutants ({workers} workers)", unit="mutant", disable=not progress,
                   file=sys.stderr)
        for out in execute_all(todo, workers):
            outcome, error, cell = classify(out)
            m = out["mutant"]
            fresh[out["slug"]].append(MutantResult(out["slug"], m["n"], m["find"], m["replace"], m["why"], outcome,
                                                   error, cell, round(out["seconds"], 2)))
            bar.set_postfix_str(f"{out['slug']} #{m['n']}: {outcome}")
            bar.update()
        bar.close()
    results: list = []
    for p in plans:
        mine = sorted(p.cached + fresh[p.article.slug], key=lambda r: r.n)
        digest = {m.n: m.digest for m in p.mutants}
        write_json(cache_file(root, p.article.slug), {"key": p.key, "results": {
            digest[r.n]: {k: v for k, v in asdict(r).items() if k != "cached"} for r in mine}})
        results += mine
        if len(p.mutants) < MIN_MUTANTS:
            results.append((p.article, len(p.mutants)))
    planned = {p.article.slug: p.key for p in plans}
    write_summary(root, articles, {a.slug: planned.get(a.slug) or current_key(root, a, inputs) for a in articles})
    return results


def write_summary(root: Path, articles: list[Article], keys: dict[str, str]) -> None:
    """``mutants.json``: per article whose declared mutants all have results for its current code
    (``keys``: each article's current execution key), those results and how many its checks
    killed (what the status page shows)."""
    out = []
    for a in articles:
        cache = read_json(cache_file(root, a.slug), {})
        if not cache or cache.get("key") != keys[a.slug]:
            continue
        try:
            declared = load_mutants(root, a)
        except InputError:
            continue  # a broken file has no results to show; `book mutate` names the problem
        results = cache.get("results", {})
        if not declared or any(m.digest not in results for m in declared):
            continue
        rows = [{**results[m.digest], "n": m.n, "why": m.why} for m in declared]
        out.append({"slug": a.slug, "killed": sum(r["outcome"] == "killed" for r in rows), "total": len(rows),
                    "mutants": rows})
    write_json(layout.mutants_report(root), out)


def failed(results) -> bool:
    return any(isinstance(r, tuple) or r.outcome in ("survived", "crashed") for r in results)


def format_table(results) -> str:
    lines = [f"{'article':32s} {'#':>2s}  {'outcome':8s} {'s':>6s}  why / error"]
    for r in results:
        if isinstance(r, tuple):
            article, declared = r
            lines.append(f"{article.slug:32s}     {'missing':8s} {'':>6s}  declares {declared} mutant(s) in "
                         f"{mutants_path(article).as_posix()}; needs {MIN_MUTANTS}")
            continue
        detail = r.why if r.outcome == "killed" else f"{r.why} -> {r.error or 'ran to its end'}"
        lines.append(f"{r.slug:32s} {r.n:2d}  {r.outcome:8s} {r.seconds:6.1f}  {detail}"
                     + ("  (cached)" if r.cached else ""))
    rows = [r for r in results if not isinstance(r, tuple)]
    counts = {o: sum(r.outcome == o for r in rows) for o in OUTCOMES}
    lines.append(f"{len(rows)} mutants: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)
