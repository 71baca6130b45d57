"""The documentation of the command lines matches the parsers: docs/cli.md is what
``tools/cli_reference.py`` writes now, and every ``python -m ingest|book|search`` line in the code
blocks of the README and docs/ is accepted by argparse (parsed only: nothing runs)."""
from __future__ import annotations

import importlib
import importlib.util
import re
import shlex

import pytest

from tests.conftest import REPO

TOOL = REPO / "tools" / "cli_reference.py"
# Written by people (docs/cli.md is generated from the parsers, so it cannot disagree with them).
DOCUMENTS = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "cli.md")]
# What a synopsis placeholder stands for when the line is parsed.
SAMPLES = {"K/N": "1/2", "N": "2", "S": "60", "SLUG": "some-article", "ADDRESS": "auto", "DIR": "shards/a",
           "FEED_OR_DIR": "feeds/a.txt", "NAME_OR_PATH": "some-model", "FILE": "out.json"}


def load_tool():
    spec = importlib.util.spec_from_file_location("cli_reference", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_current():
    tool = load_tool()
    written = tool.OUTPUT.read_text(encoding="utf-8") if tool.OUTPUT.exists() else ""
    assert written == tool.reference(), f"docs/cli.md is stale: run `{tool.COMMAND}`"


def test_reference_does_not_depend_on_the_terminal_width(monkeypatch):
    tool = load_tool()
    monkeypatch.setenv("COLUMNS", "40")
    narrow = tool.reference()
    monkeypatch.setenv("COLUMNS", "200")
    assert tool.reference() == narrow


def documented_lines() -> list[str]:
    lines = []
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCUMENTS)
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.splitlines():
            line = re.split(r"\s+#\s", line.strip())[0]  # a trailing comment explains, it is not an argument
            if re.match(r"python -m (ingest|book|search)\b", line):
                lines.append(line)
    return lines


def synopsis_tree(line: str) -> list:
    """``a [b [c]] d ...`` as ``["a", ["b", ["c"]], "d"]`` (optional groups as lists, ``...`` dropped)."""
    tokens = [t for word in shlex.split(line) for t in re.findall(r"\[|\]|[^\[\]]+", word) if t != "..."]
    stack: list[list] = [[]]
    for t in tokens:
        if t == "[":
            stack.append([])
        elif t == "]":
            group = stack.pop()
            stack[-1].append(group)
        else:
            stack[-1].append(t)
    assert len(stack) == 1, f"unbalanced brackets in {line!r}"
    return stack[0]


def render(tree: list, keep) -> list[str]:
    out = []
    for item in tree:
        if isinstance(item, list):
            if keep(item):
                out += render(item, lambda _: True)
        else:
            word = item.split("|")[0]  # dev|test: one of them
            out.append(SAMPLES.get(word, "x" if re.fullmatch(r"[A-Z][A-Z0-9_]*", word) else word))
    return out


def variants(line: str) -> list[list[str]]:
    """The line with no optional group, with each one alone, and with all of them."""
    tree = synopsis_tree(line)
    groups = [item for item in tree if isinstance(item, list)]
    forms = [render(tree, lambda _: False), render(tree, lambda _: True)]
    forms += [render(tree, lambda g, chosen=g: g is chosen) for g in groups]
    return forms


def test_the_documents_hold_command_lines():
    assert len(documented_lines()) >= 10


@pytest.mark.parametrize("line", documented_lines())
def test_every_documented_command_line_parses(line):
    for argv in variants(line):
        prog, args = argv[2], argv[3:]
        parser = importlib.import_module(f"{prog}.cli").parser()
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"documented line `{line}` as `{shlex.join(argv)}`: argparse rejects it (exit {exc.code})")


def test_synopsis_expansion():
    assert variants("python -m book execute [--only SLUG ...] [--ray [ADDRESS]]") == [
        ["python", "-m", "book", "execute"],
        ["python", "-m", "book", "execute", "--only", "some-article", "--ray", "auto"],
        ["python", "-m", "book", "execute", "--only", "some-article"],
        ["python", "-m", "book", "execute", "--ray", "auto"],
    ]
