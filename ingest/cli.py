"""``python -m ingest``: a thin command line over ``sync.ingest`` and ``store.load_articles``.

    python -m ingest [FEED_OR_DIR ...]     ingest feeds (default: feeds/)
    python -m ingest list [--json]         the articles, as a table or JSON
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ingest.article_file import ArticleFileError
from ingest.store import load_articles
from ingest.sync import ingest

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def article_record(a) -> dict:
    return {"slug": a.slug, "title": a.title, "title_en": a.title_en, "topic": a.topic,
            "path": a.path.as_posix(), "date": a.date, "category": a.category,
            "feeds": a.feeds, "text": a.text}


def cmd_list(root: Path, as_json: bool) -> int:
    try:
        articles = load_articles(root)
    except ArticleFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if as_json:
        json.dump([article_record(a) for a in articles], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for a in articles:
            print(f"{a.slug:40s} {a.topic:10s} {a.title} · {a.title_en}")
        print(f"{len(articles)} articles")
    return 0


def cmd_ingest(root: Path, sources: list[Path]) -> int:
    report = ingest(root, sources or [root / "feeds"])
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    print(f"{report.excerpts} distinct excerpts: {len(report.created)} created, "
          f"{len(report.updated)} updated, {len(report.unchanged)} unchanged")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="project root (default: this checkout)")
    if argv and argv[0] == "list":
        p = argparse.ArgumentParser(prog="python -m ingest list", parents=[common], description="List the articles.")
        p.add_argument("--json", action="store_true", help="print a JSON list (slug, title, ..., text)")
        args = p.parse_args(argv[1:])
        return cmd_list(args.root, args.json)
    p = argparse.ArgumentParser(prog="python -m ingest", parents=[common],
                                description="Ingest transmission feeds into article notebooks under articles/.",
                                epilog="Also: 'python -m ingest list [--json]'.")
    p.add_argument("sources", nargs="*", type=Path, metavar="FEED_OR_DIR", help="feed files or directories (default: feeds/)")
    args = p.parse_args(argv)
    return cmd_ingest(args.root, args.sources)
