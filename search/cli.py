"""``python -m search``: build, query, eval, serve. Each command is a thin layer over the library."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from kb import cli, layout
from kb.cli import InputError
from search.index import SearchIndexError
from embedding.source import DEFAULT_MODEL, MODEL_ENV


def _embedder(args):
    from embedding import ModelError, load_embedder

    try:
        return load_embedder(args.model)
    except (OSError, ModelError) as e:
        raise InputError(args.model or "the configured model", f"could not load the embedding model ({e})") from e


def _articles(root: Path):
    from ingest.store import load_articles

    articles = load_articles(root)
    if not articles:
        raise cli.not_run_yet(root / layout.ARTICLES, "no articles", "python -m ingest")
    return articles


def _index(args, hybrid: bool = True):
    """The index and its BM25 side, loaded and checked before the model: a missing or corrupt index
    is reported at once, not after the minutes a first model load takes."""
    from search.index import load_index
    from search.query import load_lexical

    index = load_index(args.root)
    return index, load_lexical(args.root, index) if hybrid else None


def _searcher(args, index, lexical, hybrid: bool = True):
    from search.index import check_model
    from search.query import Searcher

    embedder = _embedder(args)
    check_model(args.root, index.model, embedder.name)
    return Searcher(args.root, embedder, index=index, hybrid=hybrid, lexical=lexical)


def cmd_build(args) -> int:
    articles = _articles(args.root)  # before the model (and its imports): no articles is reported at once

    from search.index import build_index, index_dir

    from search import browser_export
    from search.query import Searcher

    embedder = _embedder(args)
    report = build_index(args.root, articles, embedder, full=args.full)
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
    from search import scope
    from search.query import QueryError

    index, lexical = _index(args, hybrid=not args.dense_only)
    searcher = _searcher(args, index, lexical, hybrid=not args.dense_only)
    try:
        answer = searcher.answer(args.text, args.k)
    except QueryError as e:
        raise InputError("query", str(e)) from e
    results = answer.results
    if args.json:
        json.dump([r.to_json() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return cli.OK
    if answer.covered is False and results:
        print(f"{scope.NOT_COVERED} (relevance {answer.relevance:.2f}); the nearest articles:")
    for rank, r in enumerate(results, 1):
        print(f"{rank:2d}. {r.score:.3f}  {r.title}  ·  {r.title_en}\n    {r.path}\n    {r.snippet}")
    if not results:
        print("no results")
    return cli.OK


def cmd_eval(args) -> int:
    from kb.files import json_text, write_json
    from search.evaluate import evaluate, format_report, format_tuning, hard_queries, load_queries, tune

    import yaml

    if args.scope:
        return _eval_scope(args)
    try:
        queries = hard_queries(args.split) if args.hard and not args.queries else load_queries(args.queries, args.split)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise InputError(None, str(e)) from e
    if args.output is not None and not args.output.parent.is_dir():
        raise InputError(args.output, "no such folder for --output")
    searcher = _searcher(args, *_index(args))
    if args.tune:
        figures = tune(searcher, queries)
        text = format_tuning(figures)
    else:
        figures = evaluate(searcher, queries)
        text = format_report(figures)
    # --json: the figures instead of the table, as `query --json` and `ingest list --json` do.
    sys.stdout.write(json_text(figures, indent=2) if args.json else text + "\n")
    if args.output is not None:
        write_json(args.output, figures, indent=2)
    return cli.OK


def _eval_scope(args) -> int:
    """``eval --scope``: how often "no article covers this" is said, per set; ``--tune`` fits the
    constants of ``search.scope`` on the dev halves and reports with them."""
    from kb.files import json_text, write_json
    from search import scope
    from search.evaluate import format_scope, scope_report, scope_rows

    if args.queries or args.hard or args.split:
        raise InputError(None, "--scope uses its own sets (search/eval_queries_scope.yaml and both labelled "
                               "sets); drop --queries, --hard and --split")
    if args.output is not None and not args.output.parent.is_dir():
        raise InputError(args.output, "no such folder for --output")
    rows = scope_rows(_searcher(args, *_index(args)))
    model = scope.DEFAULT
    text = ""
    if args.tune:
        model = scope.Scope(scope.fit([r for r in rows if r["split"] == "dev"]))
        text = "Fitted on the dev halves (paste into search/scope.py's DEFAULT_MODELS):\n" + "\n".join(
            f"    {lang!r}: {m!r}," for lang, m in model.models.items()) + "\n"
    figures = {"models": model.to_json()["models"], **scope_report(rows, model)}
    sys.stdout.write(json_text(figures, indent=2) if args.json else text + format_scope(figures) + "\n")
    if args.output is not None:
        write_json(args.output, figures, indent=2)
    return cli.OK


def cmd_serve(args) -> int:
    from search.server import AddressError, make_server, serve

    index, lexical = _index(args, hybrid=not args.dense_only)
    site = layout.html_dir(args.root)
    try:  # bound before the model loads, so a busy port is reported at once
        server = make_server(None, site, host=args.host, port=args.port, listen=False)
    except AddressError as e:
        raise InputError(None, str(e)) from None
    try:
        server.searcher = _searcher(args, index, lexical, hybrid=not args.dense_only)
    except BaseException:
        server.server_close()
        raise
    serve(server, site)
    return cli.OK


def parser():
    from search.query import MAX_K

    p = cli.parser("python -m search", "Bilingual semantic search over the articles.")
    # add_global: accepted after the subcommand too (`search build --model M`), as --root is.
    p.add_global("--model", default=None,
                 help=f"a local sentence-transformers folder (BERT family), exported to ONNX on first use "
                      f"(default: ${MODEL_ENV} or the bundled {DEFAULT_MODEL})")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = cli.subcommand(sub, "build", "build or update the index and related.json", cmd_build)
    b.add_argument("--full", action="store_true", help="re-embed everything")

    q = cli.subcommand(sub, "query", "search the articles", cmd_query)
    q.add_argument("text")
    q.add_argument("-k", type=cli.int_range(1, MAX_K), default=5, metavar="N",
                   help=f"number of articles (1-{MAX_K}, default 5)")
    q.add_argument("--json", action="store_true", help="print JSON results")
    q.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")

    e = cli.subcommand(sub, "eval", "Recall@1/5 and MRR per language on the labelled queries", cmd_eval)
    e.add_argument("--queries", type=Path, default=None, help="labelled queries (default: search/eval_queries.yaml)")
    e.add_argument("--hard", action="store_true", help="the held-out hard set, search/eval_queries_hard.yaml "
                                                           "(its dev half with search/eval_queries_dev_extra.yaml)")
    e.add_argument("--split", choices=("dev", "test"), default=None, help="only this half of a split set")
    e.add_argument("--tune", action="store_true",
                   help="print hybrid figures for every combination of the ranking grid (search.ranking.GRID), "
                        "best first; choose on --hard --split dev")
    e.add_argument("--scope", action="store_true",
                   help="how often each set is judged \"no article covers this\" (search.scope); with --tune, "
                        "fit its constants on the dev halves")
    e.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    e.add_argument("--output", type=Path, default=None, metavar="FILE", help="also write the figures to FILE as JSON")

    s = cli.subcommand(sub, "serve", "serve the built site and the search API", cmd_serve)
    s.add_argument("--port", type=cli.PORT, default=8000, help="TCP port (0: any free port; default 8000)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--dense-only", action="store_true", help="embeddings alone, without BM25 fusion")
    return p


def main(argv: list[str] | None = None) -> int:
    return cli.run(parser(), argv, errors=(SearchIndexError,))
