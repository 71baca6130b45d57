"""``python -m book``: build the site (and, from the execution issue on, execute the notebooks).

    python -m book build [--root DIR] [--no-strict]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from book.site import build_site, site_index

DEFAULT_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m book", description="Build the knowledge-base site.")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="project root (default: this checkout)")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build _build/html with Jupyter Book, warnings as errors")
    b.add_argument("--no-strict", action="store_true", help="don't turn warnings into errors")
    args = p.parse_args(argv)
    if args.command == "build":
        status, seconds = build_site(args.root, strict=not args.no_strict)
        if status == 0:
            print(f"site built in {seconds:.1f} s: {site_index(args.root)}")
        else:
            print(f"error: the book build failed (exit {status}); see the messages above", file=sys.stderr)
        return status
    return 2
