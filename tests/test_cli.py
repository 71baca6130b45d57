"""The command lines behave alike: every command answers --help, is documented in the README and
in pyproject's console scripts, takes --root before or after its name, and reports bad input as
one line with exit status 2."""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tomllib

import pytest

from kb import cli
from tests.conftest import REPO, write_feed

CLIS = {"ingest": "ingest.cli", "book": "book.cli", "search": "search.cli"}
README = (REPO / "README.md").read_text(encoding="utf-8")


def subcommands(module: str) -> list[str]:
    parser = importlib.import_module(module).parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


COMMANDS = [(prog, sub) for prog, module in CLIS.items() for sub in subcommands(module)]


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("prog,sub", COMMANDS, ids=lambda x: x)
def test_every_command_answers_help_and_is_documented(prog, sub):
    main = importlib.import_module(CLIS[prog]).main
    with pytest.raises(SystemExit) as exit_:
        main([sub, "--help"])
    assert exit_.value.code == 0
    assert f"python -m {prog} {sub}" in README, f"`python -m {prog} {sub}` is not in the README"


def test_every_cli_is_a_console_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert {target.split(":")[0] for target in scripts.values()} == set(CLIS.values())
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
        assert f"`{name}`" in README, f"console script {name} is not in the README"


def test_root_is_accepted_before_and_after_the_command(project):
    write_feed(project / "feeds" / "a.txt", "一条足够长的测试摘录，讲的是随机森林与 Bagging 的关系，不会被当作分类行 ...")
    assert run("ingest", "--root", str(project)).returncode == 0
    before = run("ingest", "--root", str(project), "list", "--json")
    after = run("ingest", "list", "--json", "--root", str(project))
    assert before.returncode == after.returncode == 0 and before.stdout == after.stdout
    assert '"slug"' in before.stdout


def test_usage_errors_exit_2():
    for args in (("ingest", "no-such-command"), ("book",), ("book", "execute", "--jobs", "many"),
                 ("search", "query")):
        proc = run(*args)
        assert proc.returncode == 2, args
        assert "usage:" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_root_is_one_line_bad_input(tmp_path):
    missing = tmp_path / "nowhere"
    for prog in CLIS:
        proc = run(prog, "--root", str(missing), "list" if prog == "ingest" else "build")
        assert proc.returncode == 2, prog
        assert proc.stderr.strip() == f"error: {missing}: no such project root (--root)"


def test_broken_article_file_is_one_line_bad_input_everywhere(project):
    write_feed(project / "feeds" / "a.txt", "一条足够长的测试摘录，讲的是随机森林与 Bagging 的关系，不会被当作分类行 ...")
    assert run("ingest", "--root", str(project)).returncode == 0
    victim = next((project / "articles").rglob("*.md"))
    victim.write_text("---\nslug: [unclosed\n---\n", encoding="utf-8")
    for args in (("ingest", "list"), ("ingest", "run"), ("book", "report"), ("book", "build"), ("search", "build")):
        proc = run(args[0], "--root", str(project), *args[1:])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"error: {victim}: the front matter is not valid YAML"), args


def test_input_error_message_names_the_file_and_the_problem():
    assert str(cli.InputError("feeds/a.txt", "the file is empty")) == "feeds/a.txt: the file is empty"
    assert str(cli.InputError(None, "no articles")) == "no articles"
