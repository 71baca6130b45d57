"""Conventions every command line follows (``python -m ingest|book|search``).

* real subcommands, each with ``--help``; ``--root`` and the other options of the command line
  as a whole may come before or after the subcommand; ``--root`` defaults to the checkout these
  modules live in;
* exit status 0: done; 1: some of the work failed (a notebook, a feed); 2: bad usage or bad
  input, stopped before doing anything (an earlier stage that was not run counts as bad input);
* bad usage and bad input are one line on stderr, ``error: <file or command>: <problem>``, never
  a traceback or a usage screen;
* output cut short by the reader (``... | head``) ends the command quietly.
"""
from __future__ import annotations

import argparse
import math
import os
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


def not_run_yet(path: Path | str, what: str, command: str) -> InputError:
    """The error for an earlier stage's output that is missing: bad input (exit 2), naming the command."""
    return InputError(path, f"{what}; run `{command}` first")


ROOT_HELP = "project root holding articles/ and _build/ (default: this checkout)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's conventions; ``add_subparsers`` makes its subcommands of this class too.

    * A usage error is one line, ``error: <command>: <problem>``, exit status 2: argparse's own
      usage screen plus ``prog: error:`` read as several errors.
    * Options added with ``add_global`` are accepted after the subcommand as well (``subcommand``
      copies them), so ``search build --model M`` and ``search --model M build`` mean the same.
    * ``default_command``: when the first word is not a subcommand, this one is meant, so that
      ``python -m ingest feeds/a.txt`` reads as ``python -m ingest run feeds/a.txt``.
    """

    def __init__(self, *args, default_command: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.default_command = default_command
        self.global_options: list[tuple[tuple, dict]] = []

    def error(self, message: str):
        error(f"{self.prog}: {message} (see --help)")
        self.exit(BAD_INPUT)

    def add_global(self, *names: str, **kw) -> argparse.Action:
        self.global_options.append((names, kw))
        return self.add_argument(*names, **kw)

    def add_subparsers(self, **kw):
        action = super().add_subparsers(**kw)
        action.kb_parent = self  # read by ``subcommand``
        return action

    def parse_known_args(self, args=None, namespace=None):
        if self.default_command is not None:
            args = self._with_default_command(list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)

    def _with_default_command(self, args: list[str]) -> list[str]:
        commands = self._commands()
        takes_value = {s for a in self._actions for s in a.option_strings if a.nargs != 0}
        i = 0
        while i < len(args):  # skip the options of the command line as a whole
            word = args[i]
            if word in ("-h", "--help"):
                return args
            if word in takes_value:
                i += 2
            elif word.startswith("--") and word.partition("=")[0] in takes_value:
                i += 1
            else:
                break
        if i > len(args):  # an option without its value: argparse says so
            return args
        if i < len(args):
            word = args[i]
            if word in commands:
                return args
            # A bare word that names no file is a mistyped command, not a missing input file.
            if not word.startswith("-") and word.replace("-", "").isalpha() and not Path(word).exists():
                self.error(f"{word!r} is neither a command ({', '.join(commands)}) nor an existing file or folder")
        return args[:i] + [self.default_command] + args[i:]

    def _commands(self) -> list[str]:
        (action,) = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        return list(action.choices)


def parser(prog: str, description: str, **kw) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=description, **kw)
    p.add_global("--root", type=Path, default=CHECKOUT, help=ROOT_HELP)
    return p


def subcommand(sub, name: str, help: str, func: Callable) -> ArgumentParser:
    """A subcommand that also takes the global options after its name (``list --root R`` as well as
    ``--root R list``)."""
    p = sub.add_parser(name, help=help, description=help)
    for names, kw in sub.kb_parent.global_options:
        # SUPPRESS: when not given here, the value given before the subcommand (or its default) stands.
        p.add_argument(*names, **{**kw, "default": argparse.SUPPRESS})
    p.set_defaults(func=func)
    return p


# ------------------------------------------------------------------ option types
# argparse reports an ArgumentTypeError's text as "argument --jobs: <text>", one line via ``error``.
def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int option from ``low`` to ``high`` (no upper bound when None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"wants a whole number {bound}, not {text!r}")
        return value
    return parse


def positive_number(text: str) -> float:
    """A float option above 0 (a time limit of 0 would time out everything)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"wants a number above 0, not {text!r}")
    return value


PORT = int_range(0, 65535)


# ------------------------------------------------------------------ running
def _quiet_broken_pipe() -> None:
    # The reader went away (``| head``): point stdout at devnull so the interpreter's final
    # flush cannot raise again (the recipe in the Python docs' "Note on SIGPIPE").
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by something without a descriptor
        pass


def run(p: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[Exception], ...] = ()) -> int:
    """Parse, dispatch to the subcommand's ``func(args)``, and turn input errors into one line + exit 2.

    ``errors`` names further exception types that mean bad input (a stage's own, e.g. a corrupt
    index); ``InputError`` always does. A reader that stops reading (``| head``) ends the command
    with exit status 1 and no traceback.
    """
    try:
        try:
            return _dispatch(p, argv, errors)
        finally:  # also after --help: a closed pipe shows here, inside this handler, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
        return FAILED


def _dispatch(p: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[Exception], ...]) -> int:
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
