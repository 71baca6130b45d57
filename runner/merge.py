"""Take executed results from other runs (CI shards, other machines) into this checkout.

Each source is an ``_build/execution`` folder another run wrote. A record is accepted only when
its key equals the key the article has here and now (same notebook, same environment, same
output limit, same data it declares it reads): anything else is a stale result and is left out.
Two sources with different results for one article are a conflict, and neither is taken. Accepted results are written
exactly as the engine writes its own (executed notebook, record, kernel log, the jupyter-cache
Jupyter Book reads), so ``book execute`` afterwards serves them from the cache and
``book build`` renders them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ingest.store import Article, load_articles
from kb import layout
from kb.cli import InputError
from kb.files import atomic_write_text, read_json, write_json
from runner.jobs import KeyInputs, current_key, has_current_result
from runner.jupyter_cache_bridge import publish
from runner.mutants import cache_file as mutant_cache
from runner.mutants import write_summary
from runner.records import ExecutionRecord, load_record, save_record, write_report


@dataclass
class Candidate:
    source: Path
    record: ExecutionRecord
    notebook: str  # the executed notebook's JSON text

    def result(self) -> tuple:
        """What two runs must share to be the same result: status and every cell's outputs."""
        nb = nbformat.reads(self.notebook, as_version=4)
        outputs = [json.dumps(c.get("outputs", []), sort_keys=True) for c in nb.cells if c.cell_type == "code"]
        return self.record.status, tuple(outputs)


@dataclass
class MergeReport:
    merged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # "slug (source)": a key that no longer matches
    unknown: list[str] = field(default_factory=list)  # "slug (source)": no such article here
    conflicts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # articles with no current result after the merge

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.missing


def _check_source(path: Path) -> Path:
    path = Path(path)
    if not (path / "records").is_dir():
        raise InputError(path, "not an execution folder (no records/ inside; expected a copy of _build/execution)")
    return path


def _candidates(source: Path, articles: dict[str, Article], keys: dict[str, str], report: MergeReport):
    for record_file in sorted((source / "records").glob("*.json")):
        try:
            rec = ExecutionRecord.from_json(json.loads(record_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(record_file, f"unreadable execution record ({exc})") from None
        where = f"{rec.slug} ({source})"
        if rec.slug not in articles:
            report.unknown.append(where)
            continue
        if rec.key != keys[rec.slug]:
            report.stale.append(where)
            continue
        executed = source / "notebooks" / articles[rec.slug].path.with_suffix(".ipynb")
        try:
            notebook = executed.read_text(encoding="utf-8")
        except OSError:
            raise InputError(executed, f"the executed notebook for {rec.slug} is missing beside its record") from None
        yield Candidate(source, rec, notebook)


def merge(root: Path, sources: list[Path]) -> MergeReport:
    """Merge ``sources`` (``_build/execution`` folders) into ``root``; see the module docstring."""
    root = Path(root).resolve()
    sources = [_check_source(s) for s in sources]
    if not sources:
        raise InputError("merge", "name at least one execution folder to merge")
    articles = {a.slug: a for a in load_articles(root)}
    inputs = KeyInputs.of(root, list(articles.values()))
    keys = {s: current_key(root, a, inputs) for s, a in articles.items()}
    report = MergeReport()
    chosen: dict[str, list[Candidate]] = {}
    for source in sources:
        for cand in _candidates(source, articles, keys, report):
            chosen.setdefault(cand.record.slug, []).append(cand)
    for slug, cands in sorted(chosen.items()):
        if len({c.result() for c in cands}) > 1:
            report.conflicts.append(f"{slug}: different results in {', '.join(str(c.source) for c in cands)}")
            continue
        _accept(root, articles[slug], cands[0])
        report.merged.append(slug)
    for slug, a in articles.items():
        if not has_current_result(root, a, load_record(root, slug), keys[slug]):
            report.missing.append(slug)
    write_report(root, list(articles))
    merge_mutants(root, sources, keys)
    write_summary(root, list(articles.values()), keys)
    return report


def merge_mutants(root: Path, sources: list[Path], keys: dict[str, str]) -> None:
    """Take the mutant results other runs computed for the current code of an article (same key),
    next to those already here: a mutant is a function of the article's key and its own text."""
    for source in sources:
        for path in sorted((source / "mutants").glob("*.json")):
            theirs = read_json(path, {})
            slug = path.stem
            if slug not in keys or theirs.get("key") != keys[slug]:
                continue
            ours = read_json(mutant_cache(root, slug), {})
            results = {**(ours.get("results", {}) if ours.get("key") == keys[slug] else {}),
                       **theirs.get("results", {})}
            write_json(mutant_cache(root, slug), {"key": keys[slug], "results": results})


def _accept(root: Path, article: Article, cand: Candidate) -> None:
    atomic_write_text(layout.executed_notebook(root, article.path), cand.notebook)
    log = cand.source / "logs" / f"{article.slug}.log"
    if log.is_file():
        atomic_write_text(layout.kernel_log(root, article.slug), log.read_text(encoding="utf-8", errors="replace"))
    save_record(root, cand.record)
    publish(root, article, nbformat.reads(cand.notebook, as_version=4), cand.record.seconds, cand.record.status)


def format_report(report: MergeReport) -> str:
    lines = [f"merged {len(report.merged)} article(s); {len(report.stale)} stale record(s) left out; "
             f"{len(report.conflicts)} conflict(s); {len(report.missing)} article(s) still without a current result"]
    lines += [f"stale: {s}" for s in report.stale]
    lines += [f"not an article here: {s}" for s in report.unknown]
    lines += [f"conflict: {s}" for s in report.conflicts]
    lines += [f"missing: {s}" for s in report.missing]
    return "\n".join(lines)
