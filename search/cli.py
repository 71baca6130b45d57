"""``python -m search``: build, query, eval, serve. Each command is a thin layer over the library."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from kb import cli, layout
from kb.cli import InputError
from search.index import SearchIndexError
from search.model import DEFAULT_MODEL, MODEL_ENV, QUERY_ENGINE_ENV, QUERY_ENGINES


def _embedder(args):
    from search.model import load_embedder

    try:
        return load_embedder(args.model, query_engine=args.query_engine)
    except (OSError, ValueError) as e:
        raise InputError(args.model or "the configured model",
                         f"could not load the embedding model ({e}); use a local sentence-transformers folder, "
                         f"or unset {MODEL_ENV} for the bundled default {DEFAULT_MODEL!r}") from e


def _articles(root: Path):
    from ingest.store import load_articles

    articles = load_articles(root)
    if not articles:
        raise InputError(root / layout.ARTICLES, "no articles: run `python -m ingest` first")
    return articles


def cmd_build(args) -> int:
    from search.index import build_index, index_dir

    from search import browser_export
    from search.query import Searcher

    embedder = _embedder(args)
    report = build_index(args.root, _articles(args.root), embedder, full=args.full)
    print(f"search index: {report.summary()} -> {index_dir(args.root)}")
    exported = browser_export.export(args.root, Searcher(args.root, embedder))
    if exported is None:
        print(f"browser search: not exported ({embedder.name} is not an exported ONNX model); "
              f"the static site keeps keyword search")
    else:
        size = sum(p.stat().st_size for p in exported.rglob("*") if p.is_file())
        print(f"browser search: {size / 1e6:.1f} MB -> {exported}")
    return cli.OK


def cmd_query(args) -> int:
    from search.query import QueryError, Searcher

    searcher = Searcher(args.root, _embedder(args), hybrid=not args.dense_only)
    try:
        results = searcher.search(args.text, args.k)
    except QueryError as e:
        raise InputError("query", str(e)) from e
    if args.json:
        json.dump([r.to_json() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return cli.OK
    for rank, r in enumerate(results, 1):
        print(f"{rank:2d}. {r.score:.3f}  {r.title}  ·  {r.title_en}\n    {r.path}\n    {r.snippet}")
    if not results:
        print("no results")
    return cli.OK


def cmd_eval(args) -> int:
    from kb.files import write_json
    from search.evaluate import HARD_QUERIES, evaluate, format_report, format_tuning, load_queries, tune
    from search.query import Searcher

    import yaml

    path = HARD_QUERIES if args.hard and not args.queries else args.queries
    try:
        queries = load_queries(path, split=args.split)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise InputError(None, str(e)) from e
    searcher = Searcher(args.root, _embedder(args))
    if args.tune:
        rows = tune(searcher, queries)
        print(format_tuning(rows))
        if args.json:
            write_json(Path(args.json), rows, indent=2)
        return cli.OK
    report = evaluate(searcher, queries)
    print(format_report(report))
    if args.json:
        write_json(Path(args.json), report, indent=2)
    return cli.OK


def cmd_serve(args) -> int:
    from search.query import Searcher
    from search.server import serve

    searcher = Searcher(args.root, _embedder(args), hybrid=not args.dense_only)
    serve(searcher, site_dir=layout.html_dir(args.root), host=args.host, port=args.port)
    return cli.OK


def parser():
    p = cli.parser("python -m search", "Bilingual semantic search over the articles.")
    p.add_argument("--model", default=None,
                   help=f"sentence-transformers model name or path (default: ${MODEL_ENV} or {DEFAULT_MODEL})")
    p.add_argument("--query-engine", choices=QUERY_ENGINES, default=None,
                   help=f"what embeds: onnx (the exported 8-bit model, passages and queries, as in the "
                        f"browser), numpy or sentence-transformers (fp32 passages; queries in NumPy or torch), "
                        f"or auto: onnx when the model exports (default: ${QUERY_ENGINE_ENV} or auto)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = cli.subcommand(sub, "build", "build or update the index and related.json", cmd_build)
    b.add_argument("--full", action="store_true", help="re-embed everything")

    q = cli.subcommand(sub, "query", "search the articles", cmd_query)
    q.add_argument("text")
    q.add_argument("-k", type=int, default=5, help="number of articles (1-50, default 5)")
    q.add_argument("--json", action="store_true", help="print JSON results")
    q.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")

    e = cli.subcommand(sub, "eval", "Recall@1/5 and MRR per language on the labelled queries", cmd_eval)
    e.add_argument("--queries", type=Path, default=None, help="labelled queries (default: search/eval_queries.yaml)")
    e.add_argument("--hard", action="store_true", help="the held-out hard set, search/eval_queries_hard.yaml")
    e.add_argument("--split", choices=("dev", "test"), default=None, help="only this half of a split set")
    e.add_argument("--tune", action="store_true",
                   help="print hybrid figures for every combination of the ranking grid (search.ranking.GRID), "
                        "best first; choose on --hard --split dev")
    e.add_argument("--json", default=None, help="also write the figures to this file")

    s = cli.subcommand(sub, "serve", "serve the built site and the search API", cmd_serve)
    s.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port; default 8000)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")
    return p


def main(argv: list[str] | None = None) -> int:
    return cli.run(parser(), argv, errors=(SearchIndexError,))
