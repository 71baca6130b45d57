"""The command lines behave alike: every command answers --help, is documented in the README or docs/ and
in pyproject's console scripts, takes its global options before or after its name, reports bad
usage and bad input as one line with exit status 2 (an earlier stage not run included), checks
its inputs before it loads the embedding model, and ends quietly when its reader goes away.

The commands are called in-process (``main([...])``); a subprocess only where the process itself
is the point: ``python -m`` wiring and a closed stdout."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.request
from collections import defaultdict

import pytest

from kb import cli, layout
from tests.conftest import REPO, SAMPLE_FEEDS, make_project, write_feed
from tests.search_support import FakeEmbedder

CLIS = {"ingest": "ingest.cli", "book": "book.cli", "search": "search.cli"}
README = (REPO / "README.md").read_text(encoding="utf-8")
# The README and the documents it leads to; not docs/cli.md, generated from the parsers themselves.
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in
                 [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))] if p.name != "cli.md")
EXCERPT = "一条足够长的测试摘录，讲的是随机森林与 Bagging 的关系，不会被当作分类行 ..."


def subparsers(parser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def subcommands(module: str) -> list[str]:
    return sorted(subparsers(importlib.import_module(module).parser()))


COMMANDS = [(prog, sub) for prog, module in CLIS.items() for sub in subcommands(module)]


def call(capsys, prog: str, *args) -> tuple[int, str, str]:
    """``python -m <prog> <args>`` in-process: (exit status, stdout, stderr)."""
    main = importlib.import_module(CLIS[prog]).main
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


class ModelLoaded(Exception):
    pass


@pytest.fixture
def no_model(monkeypatch):
    """Loading the embedding model fails loudly: an input error must be reported before it."""
    import search.cli

    def fail(args):
        raise ModelLoaded("the embedding model was loaded before the input was checked")

    monkeypatch.setattr(search.cli, "_embedder", fail)


@pytest.fixture
def fake_model(monkeypatch):
    import search.cli

    asked = []

    def fake(args):
        asked.append(args.model)
        return FakeEmbedder()

    monkeypatch.setattr(search.cli, "_embedder", fake)
    return asked


@pytest.fixture
def ingested(project):
    from ingest.sync import ingest

    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, project / "feeds" / f.name)
    assert ingest(project, [project / "feeds"]).ok
    return project


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """The sample articles, indexed with the fake model (shared: tests copy it before changing it)."""
    from ingest.sync import ingest
    from search.index import build_index

    root = make_project(tmp_path_factory.mktemp("indexed") / "kb")
    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, root / "feeds" / f.name)
    assert ingest(root, [root / "feeds"]).ok
    from ingest.store import load_articles

    build_index(root, load_articles(root), FakeEmbedder())
    return root


@pytest.fixture
def index_copy(indexed, tmp_path):
    dest = tmp_path / "kb"
    shutil.copytree(indexed, dest)
    return dest


# ------------------------------------------------------------------ documented, alike
@pytest.mark.parametrize("prog,sub", COMMANDS, ids=lambda x: x)
def test_every_command_answers_help_and_is_documented(prog, sub, capsys):
    status, out, _ = call(capsys, prog, sub, "--help")
    assert status == 0 and out.startswith(f"usage: python -m {prog} {sub}")
    assert f"python -m {prog} {sub}" in DOCS, f"`python -m {prog} {sub}` is in neither the README nor docs/"


def test_every_cli_is_a_console_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert {target.split(":")[0] for target in scripts.values()} == set(CLIS.values())
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
        assert f"`{name}`" in README, f"console script {name} is not in the README"


@pytest.mark.parametrize("prog", CLIS)
def test_python_dash_m_runs_each_command_line(prog):
    proc = subprocess.run([sys.executable, "-m", prog, "--help"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: python -m {prog}"), proc.stderr


def test_root_is_accepted_before_and_after_the_command(project, capsys):
    write_feed(project / "feeds" / "a.txt", EXCERPT)
    assert call(capsys, "ingest", "--root", project)[0] == 0
    before = call(capsys, "ingest", "--root", project, "list", "--json")
    after = call(capsys, "ingest", "list", "--json", "--root", project)
    assert before[0] == after[0] == 0 and before[1] == after[1]
    assert '"slug"' in before[1]


def test_global_options_are_accepted_after_the_command(index_copy, fake_model, capsys):
    # Documented as `python -m search build --model M`: it used to be "unrecognized arguments".
    assert call(capsys, "search", "--root", index_copy, "build", "--model", "after")[0] == 0
    assert call(capsys, "search", "--root", index_copy, "--model", "before", "build")[0] == 0
    assert call(capsys, "search", "--root", index_copy, "--model", "before", "build", "--model", "wins")[0] == 0
    assert fake_model == ["after", "before", "wins"]


def test_each_option_name_means_one_kind_of_thing():
    # A flag in one command and a value in another (`--json` was a FILE in `search eval`) reads wrong.
    kinds = defaultdict(set)
    for prog, module in CLIS.items():
        top = importlib.import_module(module).parser()
        for p in (top, *subparsers(top).values()):
            for action in p._actions:
                for name in action.option_strings:
                    kinds[name].add("flag" if action.nargs == 0 else "value")
    assert {name: k for name, k in kinds.items() if len(k) > 1} == {}


# ------------------------------------------------------------------ bad usage: one line, exit 2
@pytest.mark.parametrize("args", [
    ("ingest", "no-such-command"), ("ingest", "list", "--nope"), ("book",), ("book", "execute", "--jobs", "many"),
    ("search", "query"), ("search", "build", "--nope"), ("search", "eval", "--split", "train"),
], ids=" ".join)
def test_usage_errors_are_one_line_exit_2(args, capsys):
    status, _, err = call(capsys, *args)
    assert status == 2
    assert one_error_line(err).startswith(f"error: python -m {args[0]}")


@pytest.mark.parametrize("args,option", [
    (("book", "execute", "--jobs", "0"), "--jobs"),
    (("book", "execute", "--jobs", "0", "--ray"), "--jobs"),
    (("book", "execute", "--jobs", "-2"), "--jobs"),
    (("book", "execute", "--timeout", "0"), "--timeout"),
    (("book", "execute", "--timeout", "-5"), "--timeout"),
    (("book", "execute", "--timeout", "nan"), "--timeout"),
    (("book", "execute", "--shard", "3/2"), "--shard"),
    (("book", "execute", "--shard", "0/2"), "--shard"),
    (("book", "execute", "--shard", "1/2/3"), "--shard"),
    (("book", "execute", "--shard", "half"), "--shard"),
    (("search", "query", "x", "-k", "0"), "-k"),
    (("search", "query", "x", "-k", "51"), "-k"),
    (("search", "serve", "--port", "-1"), "--port"),
    (("search", "serve", "--port", "65536"), "--port"),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else x)
def test_bad_numbers_are_one_line_exit_2_before_anything_runs(args, option, capsys, monkeypatch, no_model):
    from runner import engine

    def must_not_run(*a, **kw):
        raise AssertionError("the notebooks were run with a bad option")

    monkeypatch.setattr(engine, "timed_run", must_not_run)
    status, _, err = call(capsys, *args)
    assert status == 2
    assert f"argument {option}" in one_error_line(err)


def test_missing_root_is_one_line_bad_input(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    for prog in CLIS:
        status, _, err = call(capsys, prog, "--root", missing, "list" if prog == "ingest" else "build")
        assert status == 2, prog
        assert err.strip() == f"error: {missing}: no such project root (--root)"


def test_broken_article_file_is_one_line_bad_input_everywhere(project, capsys, no_model):
    write_feed(project / "feeds" / "a.txt", EXCERPT)
    assert call(capsys, "ingest", "--root", project)[0] == 0
    victim = next((project / "articles").rglob("*.md"))
    victim.write_text("---\nslug: [unclosed\n---\n", encoding="utf-8")
    for args in (("ingest", "list"), ("ingest", "run"), ("book", "report"), ("book", "build"), ("search", "build")):
        status, _, err = call(capsys, args[0], "--root", project, *args[1:])
        assert status == 2, (args, err)
        assert one_error_line(err).startswith(f"error: {victim}: the front matter is not valid YAML"), args


def test_input_error_message_names_the_file_and_the_problem():
    assert str(cli.InputError("feeds/a.txt", "the file is empty")) == "feeds/a.txt: the file is empty"
    assert str(cli.InputError(None, "no articles")) == "no articles"


# ------------------------------------------------------------------ an earlier stage not run: exit 2
@pytest.mark.parametrize("args,first", [
    (("book", "execute"), "python -m ingest"),
    (("book", "build"), "python -m ingest"),
    (("book", "report"), "python -m ingest"),
    (("book", "merge", "elsewhere"), "python -m ingest"),
    (("search", "build"), "python -m ingest"),
    (("search", "query", "感受野"), "python -m search build"),
    (("search", "eval"), "python -m search build"),
    (("search", "serve", "--port", "0"), "python -m search build"),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_an_empty_project_names_the_stage_to_run_first(project, args, first, capsys, no_model):
    status, _, err = call(capsys, args[0], "--root", project, *args[1:])
    assert status == 2
    assert f"`{first}`" in one_error_line(err)


@pytest.mark.parametrize("command", ["build", "report"])
def test_book_without_executed_notebooks_names_book_execute(ingested, command, capsys):
    status, _, err = call(capsys, "book", "--root", ingested, command)
    assert status == 2
    assert "run `python -m book execute` first" in one_error_line(err)


# ------------------------------------------------------------------ inputs checked before the model loads
def break_vectors(root):
    (layout.search_dir(root) / "index.faiss").write_bytes(b"not a faiss index")


def drop_lexical(root):
    (layout.search_dir(root) / "bm25.npz").unlink()


@pytest.mark.parametrize("damage", [break_vectors, drop_lexical])
@pytest.mark.parametrize("args", [("query", "感受野"), ("eval",), ("serve", "--port", "0")], ids=" ".join)
def test_a_corrupt_index_is_reported_before_the_model_loads(index_copy, damage, args, capsys, no_model):
    damage(index_copy)
    status, _, err = call(capsys, "search", "--root", index_copy, *args)
    assert status == 2
    assert "python -m search build --full" in one_error_line(err)


def test_an_index_of_another_model_is_still_refused(index_copy, capsys, monkeypatch):
    import search.cli

    monkeypatch.setattr(search.cli, "_embedder", lambda args: FakeEmbedder("other-model"))
    status, _, err = call(capsys, "search", "--root", index_copy, "query", "感受野")
    assert status == 2
    assert "was built with model 'fake-model'" in one_error_line(err)


def test_query_and_eval_answer_with_a_checked_index(index_copy, fake_model, capsys, tmp_path):
    status, out, _ = call(capsys, "search", "--root", index_copy, "query", "感受野", "-k", "3", "--json")
    assert status == 0 and len(json.loads(out)) == 3
    queries = tmp_path / "queries.yaml"
    queries.write_text("- {lang: zh, slug: receptive-field, q: 感受野怎么计算}\n", encoding="utf-8")
    status, out, _ = call(capsys, "search", "--root", index_copy, "eval", "--queries", queries)
    assert status == 0 and "MRR" in out
    # --json is a flag printing JSON, like `query --json`; --output FILE writes the same figures.
    report = tmp_path / "report.json"
    status, out, _ = call(capsys, "search", "--root", index_copy, "eval", "--queries", queries, "--json",
                          "--output", report)
    assert status == 0 and json.loads(out) == json.loads(report.read_text(encoding="utf-8"))


def test_serve_listens_once_the_model_is_loaded(index_copy, fake_model, capsys, monkeypatch):
    from search import server

    answers = {}

    def one_request(srv):
        port = srv.server_address[1]
        url = f"http://127.0.0.1:{port}/healthz"
        client = threading.Thread(target=lambda: answers.update(json.load(urllib.request.urlopen(url, timeout=30))))
        client.start()
        srv.handle_request()
        client.join(timeout=30)

    monkeypatch.setattr(server.Server, "serve_forever", one_request)
    status, out, _ = call(capsys, "search", "--root", index_copy, "serve", "--port", "0")
    assert status == 0 and out.startswith("Serving http://127.0.0.1:")
    assert answers["status"] == "ok" and answers["model"] == "fake-model"


def test_a_busy_port_is_one_line_before_the_model_loads(index_copy, capsys, no_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _, err = call(capsys, "search", "--root", index_copy, "serve", "--port", port)
    assert status == 2
    assert one_error_line(err).startswith(f"error: port {port} on 127.0.0.1 is in use")


def test_build_checks_for_articles_before_the_model_loads(project, capsys, no_model):
    status, _, err = call(capsys, "search", "--root", project, "build", "--model", "m")
    assert status == 2 and "no articles" in one_error_line(err)


# ------------------------------------------------------------------ ingest: feeds without `run`
def test_bare_feed_paths_are_ingested_as_run_would(project, capsys):
    (project / "elsewhere").mkdir()
    a = write_feed(project / "elsewhere" / "a.txt", EXCERPT)
    b = write_feed(project / "elsewhere" / "b.txt", "另一条足够长的测试摘录，讲的是梯度提升树如何拟合负梯度，不会被当作分类行 ...")
    status, out, err = call(capsys, "ingest", "--root", project, a)
    assert status == 0 and "1 created" in out, err
    status, out, err = call(capsys, "ingest", "--root", project, "--topics", "keyword", a, b)
    assert status == 0 and "1 created, 0 updated, 1 unchanged" in out, err
    shutil.copy(a, project / "feeds" / "a.txt")
    status, out, err = call(capsys, "ingest", a.parent, "--root", project)  # a directory
    assert status == 0 and "2 unchanged" in out, err
    status, out, err = call(capsys, "ingest", "--root", project)  # bare: feeds/
    assert status == 0 and "1 unchanged" in out, err


def test_a_mistyped_ingest_command_is_not_taken_for_a_feed(project, capsys):
    status, _, err = call(capsys, "ingest", "--root", project, "lsit")
    assert status == 2
    assert "'lsit' is neither a command (run, list)" in one_error_line(err)


# ------------------------------------------------------------------ a reader that goes away
def test_a_closed_stdout_ends_quietly():
    # `python -m ingest list --json | head -1`: the reader is gone before anything is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "ingest", "list", "--json"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=REPO)
    finally:
        os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 1
