"""``python -m book``: execute the article notebooks (with ``runner``), build the site, report.

    python -m book execute [--force|--check] [--only SLUG ...] [--shard K/N] [--jobs N] [--timeout S] [--ray [ADDRESS]]
    python -m book build [--no-strict]
    python -m book report
    python -m book mutate [--force] [--only SLUG ...] [--shard K/N] [--jobs N]
    python -m book lint
    python -m book merge DIR [DIR ...]
    python -m book notebooks OUT
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.store import article_paths, load_articles
from kb import cli, layout


def _require_articles(root: Path) -> None:
    # A glob, not load_articles: the stage that runs next parses every article itself.
    if not article_paths(root):
        raise cli.not_run_yet(root / layout.ARTICLES, "no articles", "python -m ingest")


def cmd_execute(args) -> int:
    from runner import engine, report

    _require_articles(args.root)
    if args.check:
        return _check_execution(args)
    records, wall = engine.timed_run(args.root, force=args.force, only=args.only, shard=args.shard,
                                     jobs=args.jobs, timeout=args.timeout, ray=args.ray)
    print(report.format_table(records))
    print(report.summary(records, wall))
    print(f"report: {layout.report_file(args.root)}")
    failures = report.failures_text(records)
    if failures:
        print(failures, file=sys.stderr)
        return cli.FAILED
    return cli.OK


def _some_slugs(articles, shown: int = 8) -> str:
    return ", ".join(a.slug for a in articles[:shown]) + (" ..." if len(articles) > shown else "")


def _check_execution(args) -> int:
    from runner import engine, report

    current, missing = engine.check(args.root, only=args.only, shard=args.shard)
    if missing:
        raise cli.not_run_yet(layout.execution_dir(args.root),
                              f"{len(missing)} article(s) have no result for their current code "
                              f"({_some_slugs(missing)})", "python -m book execute")
    print(report.format_table(current))
    print(report.summary(current))
    return cli.FAILED if any(r.failed for r in current) else cli.OK


def cmd_build(args) -> int:
    from book.notebooks import write_downloads
    from book.site import build_site
    from runner.jupyter_cache_bridge import missing_outputs

    _require_articles(args.root)
    articles = load_articles(args.root)
    missing = missing_outputs(args.root, articles)
    if missing:
        raise cli.not_run_yet(layout.execution_dir(args.root),
                              f"{len(missing)} article(s) have no executed outputs for their current code "
                              f"({_some_slugs(missing)})", "python -m book execute")
    # The download links offer notebooks that run without this repository (book.notebooks).
    write_downloads(args.root, articles)
    status, seconds = build_site(args.root, strict=not args.no_strict)
    if status != 0:
        cli.error(f"the book build failed (exit {status}); see the messages above")
        return cli.FAILED
    print(f"site built in {seconds:.1f} s: {layout.html_dir(args.root) / 'index.html'}")
    return cli.OK


def cmd_report(args) -> int:
    from runner.records import load_record
    from runner.report import format_table, summary

    _require_articles(args.root)
    records = [r for a in load_articles(args.root) if (r := load_record(args.root, a.slug))]
    if not records:
        raise cli.not_run_yet(layout.report_file(args.root), "no execution records yet", "python -m book execute")
    print(format_table(records))
    print(summary(records))
    return cli.FAILED if any(r.failed for r in records) else cli.OK


def cmd_mutate(args) -> int:
    from runner import mutants

    _require_articles(args.root)
    results = mutants.run(args.root, only=args.only, shard=args.shard, jobs=args.jobs, force=args.force)
    print(mutants.format_table(results))
    print(f"mutants: {layout.mutants_report(args.root)}")
    return cli.FAILED if mutants.failed(results) else cli.OK


def cmd_lint(args) -> int:
    from book.lint import lint

    _require_articles(args.root)
    findings = lint(args.root, load_articles(args.root))
    for f in findings:
        print(f)
    print(f"{len(findings)} finding(s) in the articles' implementations")
    return cli.FAILED if findings else cli.OK


def cmd_notebooks(args) -> int:
    from book.notebooks import write_notebooks

    _require_articles(args.root)
    notebooks = write_notebooks(args.root, load_articles(args.root), args.out)
    print(f"{len(notebooks)} standalone notebooks and a Binder environment in {args.out}")
    return cli.OK


def cmd_merge(args) -> int:
    from runner.merge import format_report, merge

    _require_articles(args.root)
    report = merge(args.root, args.sources)
    print(format_report(report))
    return cli.OK if report.ok else cli.FAILED


def _shard(text: str) -> tuple[int, int]:
    from runner.engine import parse_shard

    try:
        return parse_shard(text)
    except cli.InputError as e:  # checked while parsing: one usage line, before any article is read
        raise argparse.ArgumentTypeError(e.problem) from None


def parser():
    from runner.engine import DEFAULT_TIMEOUT

    p = cli.parser("python -m book", "Execute the article notebooks; build the site; report.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    e = cli.subcommand(sub, "execute", "execute every article notebook (cached), write _build/execution/report.json",
                       cmd_execute)
    how = e.add_mutually_exclusive_group()
    how.add_argument("--force", action="store_true", help="re-run every notebook, ignoring the cache")
    how.add_argument("--check", action="store_true",
                   help="run nothing: exit 2 when an article has no result for its current code, 1 when a "
                        "current result failed (what a publish job checks after merging the shards)")
    e.add_argument("--only", nargs="+", metavar="SLUG", help="run only these articles")
    e.add_argument("--shard", type=_shard, metavar="K/N", help="run the K-th of N deterministic slices of the articles")
    e.add_argument("--jobs", type=cli.int_range(1), default=None, metavar="N",
                   help="worker processes (default: one per core); with --ray: the local Ray instance's CPUs, "
                        "or on a cluster the most notebooks in flight")
    e.add_argument("--timeout", type=cli.positive_number, default=DEFAULT_TIMEOUT, metavar="S",
                   help="seconds per notebook (default 600; front matter `execution_timeout` overrides)")
    e.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run each notebook as a Ray task: alone, start a local Ray instance; `auto` or "
                        "ray://HOST:10001 joins that cluster (front matter `resources: {gpus: 1}` picks nodes)")
    mu = cli.subcommand(sub, "mutate", "run each article's declared mutants (plausible bugs): every one must make a "
                                       "check fail (exit 1 if one survives or crashes)", cmd_mutate)
    mu.add_argument("--force", action="store_true", help="re-run every mutant, ignoring the cache")
    mu.add_argument("--only", nargs="+", metavar="SLUG", help="only these articles' mutants")
    mu.add_argument("--shard", type=_shard, metavar="K/N", help="the K-th of N deterministic slices of the articles")
    mu.add_argument("--jobs", type=cli.int_range(1), default=None, metavar="N",
                    help="worker processes (default: one per core)")
    cli.subcommand(sub, "lint", "check the articles' implementations against the rules a program can check "
                                "(random draws on the device, gradcheck without nondet_tol, one run's figure "
                                "stated as fact); exit 1 on a finding", cmd_lint)
    b = cli.subcommand(sub, "build", "build _build/html with Jupyter Book, warnings as errors", cmd_build)
    b.add_argument("--no-strict", action="store_true", help="don't turn warnings into errors")
    cli.subcommand(sub, "report", "print the last execution records as a table (exit 1 if any failed)", cmd_report)
    nbk = cli.subcommand(sub, "notebooks", "write every executed article as a notebook that runs without this "
                                           "repository (helpers inlined, packages pinned), plus a Binder "
                                           "environment: what the notebooks branch holds", cmd_notebooks)
    nbk.add_argument("out", type=Path, metavar="OUT",
                     help="folder to write (new, empty, or written by this command before: it is replaced whole)")
    m = cli.subcommand(sub, "merge", "take executed results from other runs (shards, machines) into this checkout",
                       cmd_merge)
    m.add_argument("sources", nargs="+", type=Path, metavar="DIR", help="an _build/execution folder of another run")
    return p


def main(argv: list[str] | None = None) -> int:
    return cli.run(parser(), argv)
