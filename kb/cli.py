"""Conventions every command line follows (``python -m ingest|book|search``).

* real subcommands, each with ``--help``; ``--root`` (before the subcommand) defaults to the
  checkout these modules live in;
* exit status 0: done; 1: some of the work failed (a notebook, a feed); 2: bad usage or bad
  input, stopped before doing anything;
* bad input is one line on stderr, ``error: <file>: <problem>``, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from kb.layout import CHECKOUT

OK, FAILED, BAD_INPUT = 0, 1, 2


class InputError(Exception):
    """Input that stops a command: a broken file, a bad option value. The message says which and why."""

    def __init__(self, path: Path | str | None, problem: str):
        super().__init__(f"{path}: {problem}" if path is not None else problem)
        self.path = path
        self.problem = problem


def error(message: str) -> None:
    # One line, whatever the message: a parser's multi-line complaint (YAML) would read as several errors.
    print("error: " + " ".join(message.split()), file=sys.stderr)


ROOT_HELP = "project root holding articles/ and _build/ (default: this checkout)"


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--root", type=Path, default=CHECKOUT, help=ROOT_HELP)
    return p


def subcommand(sub, name: str, help: str, func: Callable) -> argparse.ArgumentParser:
    """A subcommand that also takes ``--root`` after its name (``list --root R`` as well as ``--root R list``)."""
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=ROOT_HELP)
    p.set_defaults(func=func)
    return p


def run(p: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[Exception], ...] = ()) -> int:
    """Parse, dispatch to the subcommand's ``func(args)``, and turn input errors into one line + exit 2.

    ``errors`` names further exception types that mean bad input (a stage's own, e.g. a corrupt
    index); ``InputError`` always does.
    """
    args = p.parse_args(argv)
    args.root = args.root.resolve()
    if not args.root.is_dir():
        error(f"{args.root}: no such project root (--root)")
        return BAD_INPUT
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (InputError, *errors) as exc:
        error(str(exc))
        return BAD_INPUT
