"""Retrieval quality on the labelled bilingual queries: Recall@1, Recall@5, MRR per language.

Two sets: ``eval_queries.yaml`` (the first, easy set) and ``eval_queries_hard.yaml`` (held out:
paraphrases, implementation details, cross-language questions; a ``dev`` half to choose the
ranking constants on with ``--tune``, a ``test`` half that no choice looked at), whose dev half
``eval_queries_dev_extra.yaml`` adds to.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import yaml

from search import ranking, scope

DEFAULT_QUERIES = Path(__file__).with_name("eval_queries.yaml")
HARD_QUERIES = Path(__file__).with_name("eval_queries_hard.yaml")
SCOPE_QUERIES = Path(__file__).with_name("eval_queries_scope.yaml")
# More dev-only queries of the hard kinds, written later from the articles alone: the hard set's dev
# half had become too small to choose constants on (78 queries, every one near rank 1).
DEV_EXTRA_QUERIES = Path(__file__).with_name("eval_queries_dev_extra.yaml")
DEPTH = 50  # ranks beyond this count as a miss for MRR


def load_queries(path: Path | None = None, split: str | None = None) -> list[dict]:
    path = Path(path or DEFAULT_QUERIES)
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    for n, it in enumerate(items, 1):
        if not {"q", "lang", "slug"} <= set(it):
            raise ValueError(f"{path}: entry {n} needs q, lang and slug")
    if split is not None:
        items = [it for it in items if it.get("split") == split]
        if not items:
            raise ValueError(f"{path}: no queries in split {split!r}")
    return items


def hard_queries(split: str | None = None) -> list[dict]:
    """The hard set (its ``split`` half if given) and, but for the test half, the dev-only extra set."""
    queries = load_queries(HARD_QUERIES, split=split)
    if split != "test":
        extra = load_queries(DEV_EXTRA_QUERIES)
        if any(q.get("split") != "dev" for q in extra):
            raise ValueError(f"{DEV_EXTRA_QUERIES}: every query there must be split: dev")
        queries += extra
    return queries


def _ranks(searcher, queries, vecs, hybrid: bool) -> list[int | None]:
    k = min(DEPTH, max(1, len(searcher.index.articles)))
    return [_rank([r.slug for r in searcher.search_vector(v, k, q["q"] if hybrid else None)], q["slug"])
            for q, v in zip(queries, vecs)]


def tune(searcher, queries: list[dict], grid: dict = ranking.GRID) -> list[dict]:
    """Hybrid metrics for every combination of ``grid``, best first (mean MRR over languages)."""
    vecs = searcher.embedder.embed_queries([q["q"] for q in queries])
    langs = sorted({q["lang"] for q in queries})
    rows = []
    before = searcher.params
    try:
        for values in itertools.product(*grid.values()):
            params = replace(ranking.DEFAULT, **dict(zip(grid, values)))
            searcher.set_ranking(params)
            ranks = _ranks(searcher, queries, vecs, hybrid=True)
            by_lang = {lang: metrics([r for r, q in zip(ranks, queries) if q["lang"] == lang]) for lang in langs}
            rows.append({"params": dict(zip(grid, values)), "default": params == ranking.DEFAULT,
                         "metrics": by_lang, "objective": sum(m["mrr"] for m in by_lang.values()) / len(langs)})
    finally:
        searcher.set_ranking(before)
    rows.sort(key=lambda r: -r["objective"])
    return rows


def format_tuning(rows: list[dict], top: int = 10) -> str:
    lines = [f"{'params':<48} " + "  ".join(f"{lang} R@1/R@5/MRR" for lang in rows[0]["metrics"])]
    shown = rows[:top] + [r for r in rows[top:] if r["default"]]
    for r in shown:
        name = ", ".join(f"{k}={v:g}" for k, v in r["params"].items()) + ("  (default)" if r["default"] else "")
        cells = "  ".join(f"{m['recall@1']:.3f}/{m['recall@5']:.3f}/{m['mrr']:.3f}" for m in r["metrics"].values())
        lines.append(f"{name:<48} {cells}")
    return "\n".join(lines)


def metrics(ranks: list[int | None]) -> dict:
    n = len(ranks) or 1
    return {
        "n": len(ranks),
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def _rank(slugs: list[str], target: str) -> int | None:
    return slugs.index(target) + 1 if target in slugs else None


def evaluate(searcher, queries: list[dict]) -> dict:
    """Figures per method (dense alone, and fused with BM25 when the searcher
    has it) and language, plus the misses: what to look at next."""
    vecs = searcher.embedder.embed_queries([q["q"] for q in queries])
    k = min(DEPTH, max(1, len(searcher.index.articles)))
    rankings = {"dense": [[r.slug for r in searcher.search_vector(v, k)] for v in vecs]}
    if searcher.lexical is not None:
        rankings["hybrid (dense + BM25, RRF)"] = [
            [r.slug for r in searcher.search_vector(v, k, q["q"])] for q, v in zip(queries, vecs)
        ]
    report = {}
    for method, ranked in rankings.items():
        ranks = [_rank(r, q["slug"]) for q, r in zip(queries, ranked)]
        by_lang = {}
        for lang in sorted({q["lang"] for q in queries}):
            by_lang[lang] = metrics([r for r, q in zip(ranks, queries) if q["lang"] == lang])
        by_lang["all"] = metrics(ranks)
        misses = [{"q": q["q"], "want": q["slug"], "rank": r, "got": ranked_list[0] if ranked_list else None}
                  for q, r, ranked_list in zip(queries, ranks, ranked) if r != 1]
        report[method] = {"metrics": by_lang, "misses": misses}
    return report


def scope_rows(searcher) -> list[dict]:
    """Every labelled query with its ``search.scope`` features: in scope (the hard set's dev and
    test halves, the easy set as test) and out of scope (``eval_queries_scope.yaml``)."""
    queries = [dict(q, set="hard", covered=True) for q in load_queries(HARD_QUERIES)]
    queries += [dict(q, set="easy", split="test", covered=True) for q in load_queries(DEFAULT_QUERIES)]
    for n, q in enumerate(yaml.safe_load(SCOPE_QUERIES.read_text(encoding="utf-8")) or [], 1):
        if not {"q", "lang", "split"} <= set(q):
            raise ValueError(f"{SCOPE_QUERIES}: entry {n} needs q, lang and split")
        queries.append(dict(q, set="none", covered=False))
    vecs = searcher.embedder.embed_queries([q["q"] for q in queries])
    rows = []
    for q, v in zip(queries, vecs):
        features = searcher.scope_features(v, q["q"])
        if features is None:
            raise ValueError("telling covered queries apart needs the BM25 side (no --dense-only)")
        rows.append(dict(q, **features))
    return rows


def scope_report(rows: list[dict], model: scope.Scope = scope.DEFAULT) -> dict:
    """Share of queries judged not covered, per set, split and language (out of scope: the more
    the better; in scope: the false alarms), and the test queries judged wrongly."""
    groups: dict[str, dict] = {}
    wrong = []
    for r in rows:
        relevance, covered = model.judge(r["q"], r)
        g = groups.setdefault(f"{r['set']}/{r['split']}/{r['lang']}", {"n": 0, "flagged": 0})
        g["n"] += 1
        g["flagged"] += not covered
        if covered != r["covered"] and r["split"] == "test":
            wrong.append({"q": r["q"], "covered": r["covered"], "relevance": relevance})
    for g in groups.values():
        g["flagged"] = round(g["flagged"] / g["n"], 3)
    return {"groups": dict(sorted(groups.items())), "wrong": wrong}


def format_scope(report: dict) -> str:
    names = {"none": "out of scope (flagged: the more the better)", "hard": "in scope, hard set (false alarms)",
             "easy": "in scope, easy set (false alarms)"}
    lines = [f"  {'set':<46} {'split':<5} {'lang':<4} {'n':>3}  flagged"]
    for key, g in report["groups"].items():
        name, split, lang = key.split("/")
        lines.append(f"  {names[name]:<46} {split:<5} {lang:<4} {g['n']:>3}  {g['flagged']:.3f}")
    if report["wrong"]:
        lines.append("  judged wrongly (test):")
        for w in report["wrong"]:
            lines.append(f"    {'in scope, flagged' if w['covered'] else 'out of scope, not flagged'} "
                         f"(relevance {w['relevance']:.3f}): {w['q']!r}")
    return "No article covers this (search.scope):\n" + "\n".join(lines)


def format_report(report: dict) -> str:
    lines = []
    for method, body in report.items():
        lines.append(f"{method}:")
        lines.append(f"  {'lang':<5} {'n':>3}  {'R@1':>5}  {'R@5':>5}  {'MRR':>5}")
        for lang, m in body["metrics"].items():
            lines.append(f"  {lang:<5} {m['n']:>3}  {m['recall@1']:.3f}  {m['recall@5']:.3f}  {m['mrr']:.3f}")
        if body["misses"]:
            lines.append("  not first:")
            for x in body["misses"]:
                lines.append(f"    rank {x['rank']}: {x['q']!r} -> want {x['want']}, got {x['got']}")
    return "\n".join(lines)
