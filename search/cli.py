"""``python -m search``: build, query, eval, serve. Each command is a thin layer over the library."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from search.index import SearchIndexError
from search.model import DEFAULT_MODEL, MODEL_ENV, QUERY_ENGINE_ENV, QUERY_ENGINES


def _embedder(args):
    from search.model import load_embedder

    try:
        return load_embedder(args.model, query_engine=args.query_engine)
    except (OSError, ValueError) as e:
        raise SystemExit(
            f"error: could not load embedding model {args.model or 'configured'!r}: {e}\n"
            f"Use a local sentence-transformers folder, or unset {MODEL_ENV} for the bundled "
            f"default {DEFAULT_MODEL!r}."
        ) from e


def _articles(root: Path):
    from ingest.store import load_articles

    articles = load_articles(root)
    if not articles:
        raise SystemExit(f"error: no articles under {root / 'articles'}: run `python -m ingest` first.")
    return articles


def cmd_build(args) -> int:
    from search.index import build_index, index_dir

    report = build_index(args.root, _articles(args.root), _embedder(args), full=args.full)
    print(f"search index: {report.summary()} -> {index_dir(args.root)}")
    return 0


def cmd_query(args) -> int:
    from search.query import QueryError, Searcher

    searcher = Searcher(args.root, _embedder(args), hybrid=not args.dense_only)
    try:
        results = searcher.search(args.text, args.k)
    except QueryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        json.dump([r.to_json() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    for rank, r in enumerate(results, 1):
        print(f"{rank:2d}. {r.score:.3f}  {r.title}  ·  {r.title_en}\n    {r.path}\n    {r.snippet}")
    if not results:
        print("no results")
    return 0


def cmd_eval(args) -> int:
    from search.evaluate import evaluate, format_report, load_queries
    from search.query import Searcher

    searcher = Searcher(args.root, _embedder(args))
    queries = load_queries(args.queries)
    report = evaluate(searcher, queries)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


def cmd_serve(args) -> int:
    from search.query import Searcher
    from search.server import serve

    searcher = Searcher(args.root, _embedder(args), hybrid=not args.dense_only)
    serve(searcher, site_dir=args.root / "_build" / "html", host=args.host, port=args.port)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search", description="Bilingual semantic search over the articles.")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    p.add_argument("--model", default=None,
                   help=f"sentence-transformers model name or path (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
    p.add_argument("--query-engine", choices=QUERY_ENGINES, default=None,
                   help=f"what embeds queries: numpy (fast start; the bundled model), sentence-transformers, "
                        f"or auto, the first that can (default: ${QUERY_ENGINE_ENV} or auto)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build or update the index and related.json")
    b.add_argument("--full", action="store_true", help="re-embed everything")
    b.set_defaults(func=cmd_build)

    q = sub.add_parser("query", help="search the articles")
    q.add_argument("text")
    q.add_argument("-k", type=int, default=5, help="number of articles (1-50, default 5)")
    q.add_argument("--json", action="store_true", help="print JSON results")
    q.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")
    q.set_defaults(func=cmd_query)

    e = sub.add_parser("eval", help="Recall@1/5 and MRR per language on the labelled queries")
    e.add_argument("--queries", type=Path, default=None, help="labelled queries (default: search/eval_queries.yaml)")
    e.add_argument("--json", default=None, help="also write the figures to this file")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="serve the built site and the search API")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except SearchIndexError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
