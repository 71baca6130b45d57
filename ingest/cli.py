"""``python -m ingest``: a thin command line over ``sync.ingest`` and ``store.load_articles``.

    python -m ingest [run] [FEED_OR_DIR ...]   ingest feeds (default: feeds/); ``run`` may be left out
    python -m ingest list [--json]             the articles, as a table or JSON
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from ingest.store import load_articles
from ingest.sync import ingest
from kb import cli, layout


def article_record(a) -> dict:
    return {"slug": a.slug, "title": a.title, "title_en": a.title_en, "topic": a.topic,
            "path": a.path.as_posix(), "date": a.date, "category": a.category,
            "feeds": a.feeds, "text": a.text}


def cmd_list(args) -> int:
    articles = load_articles(args.root)
    if args.json:
        json.dump([article_record(a) for a in articles], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for a in articles:
            print(f"{a.slug:40s} {a.topic:10s} {a.title} · {a.title_en}")
        print(f"{len(articles)} articles")
    return cli.OK


def embedding_topics(curated, texts):
    """Topics for new excerpts from the bundled model: the command line wires the model into
    ingest; the ingest library itself takes only an ``embed`` callable."""
    from embedding import ModelError, load_embedder
    from ingest.topic_suggestion import suggest_topics

    try:
        embedder = load_embedder(progress=False)
    except (OSError, ModelError) as exc:  # no model: the keyword guess still gives a topic
        print(f"note: topic suggestion unavailable ({exc}); new articles get the keyword guess", file=sys.stderr)
        return [None] * len(texts)
    return suggest_topics(functools.partial(embedder.embed_queries, progress=True, desc="suggesting topics"),
                          curated, texts)


def cmd_run(args) -> int:
    suggest = embedding_topics if args.topics == "embedding" else None
    report = ingest(args.root, args.sources or [args.root / layout.FEEDS], suggest_topics=suggest)
    for err in report.errors:
        cli.error(err)
    print(f"{report.excerpts} distinct excerpts: {len(report.created)} created, "
          f"{len(report.updated)} updated, {len(report.unchanged)} unchanged")
    return cli.OK if report.ok else cli.FAILED


def parser():
    p = cli.parser("python -m ingest", "Ingest transmission feeds into article notebooks under articles/. "
                   "Without a command, `run` is meant: `python -m ingest` ingests feeds/, "
                   "`python -m ingest FEED_OR_DIR ...` those feeds.",
                   default_command="run")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Set after add_subparsers, which builds the subcommands' "python -m ingest run" from the usage.
    p.usage = "python -m ingest [-h] [--root ROOT] [COMMAND ... | FEED_OR_DIR ...]"
    r = cli.subcommand(sub, "run", "ingest feeds into articles/ (the default command)", cmd_run)
    r.add_argument("sources", nargs="*", type=Path, metavar="FEED_OR_DIR",
                   help="feed files or directories of *.txt feeds (default: feeds/)")
    r.add_argument("--topics", choices=("embedding", "keyword"), default="embedding",
                   help="how new articles get a provisional topic: the bundled model compares them with the "
                        "topics and the curated articles (default), or keywords alone")
    ls = cli.subcommand(sub, "list", "list the articles", cmd_list)
    ls.add_argument("--json", action="store_true", help="print a JSON list (slug, title, ..., text)")
    return p


def main(argv: list[str] | None = None) -> int:
    return cli.run(parser(), argv)
