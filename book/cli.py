"""``python -m book``: execute the article notebooks and build the site.

    python -m book execute [--force] [--only SLUG ...] [--shard K/N] [--jobs N] [--timeout S]
    python -m book build [--no-strict]
    python -m book report            the last execution report as a table
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from book import execute
from book.jupyter_cache_bridge import missing_outputs
from book.site import build_site, site_index

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def cmd_execute(args) -> int:
    try:
        shard = execute.parse_shard(args.shard) if args.shard else None
        records, wall = execute.timed_run(args.root, force=args.force, only=args.only, shard=shard,
                                          jobs=args.jobs, timeout=args.timeout)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(execute.format_table(records))
    print(execute.summary(records, wall))
    print(f"report: {execute.execution_dir(args.root) / 'report.json'}")
    failures = execute.failures_text(records)
    if failures:
        print(failures, file=sys.stderr)
        return 1
    return 0


def cmd_build(args) -> int:
    missing = missing_outputs(args.root)
    if missing:
        names = ", ".join(a.slug for a in missing[:8]) + (" ..." if len(missing) > 8 else "")
        print(f"error: {len(missing)} article(s) have no executed outputs for their current code ({names}); "
              f"run `python -m book execute` first (or `make site`)", file=sys.stderr)
        return 1
    status, seconds = build_site(args.root, strict=not args.no_strict)
    if status == 0:
        print(f"site built in {seconds:.1f} s: {site_index(args.root)}")
    else:
        print(f"error: the book build failed (exit {status}); see the messages above", file=sys.stderr)
    return status


def cmd_report(args) -> int:
    from ingest.store import load_articles

    records = [r for a in load_articles(args.root) if (r := execute.load_record(args.root, a.slug))]
    if not records:
        print("error: no execution report yet; run `python -m book execute`", file=sys.stderr)
        return 1
    print(execute.format_table(records))
    failed = sum(r.status != "ok" for r in records)
    print(f"notebooks: {len(records) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m book", description="Execute the article notebooks; build the site.")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="project root (default: this checkout)")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("execute", help="execute every article notebook (cached), write _build/execution/report.json")
    e.add_argument("--force", action="store_true", help="re-run every notebook, ignoring the cache")
    e.add_argument("--only", nargs="+", metavar="SLUG", help="run only these articles")
    e.add_argument("--shard", metavar="K/N", help="run the K-th of N deterministic slices of the articles")
    e.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    e.add_argument("--timeout", type=float, default=execute.DEFAULT_TIMEOUT,
                   help="seconds per notebook (default 600; front matter `execution_timeout` overrides)")
    b = sub.add_parser("build", help="build _build/html with Jupyter Book, warnings as errors")
    b.add_argument("--no-strict", action="store_true", help="don't turn warnings into errors")
    sub.add_parser("report", help="print the last execution report as a table")
    args = p.parse_args(argv)
    args.root = args.root.resolve()
    return {"execute": cmd_execute, "build": cmd_build, "report": cmd_report}[args.command](args)
