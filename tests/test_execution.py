"""The execution runner: statuses, timeouts, dead kernels and workers, the cache key, the CLI, and
the book reusing its outputs.

One module fixture executes a small project once and is never modified; every test that changes
something works on its own copy, so the tests pass in any order.
"""
import importlib.metadata
import json
import os
import shutil
import stat
from urllib.parse import unquote

import nbformat
import pytest
from bs4 import BeautifulSoup
from jupyter_cache import get_cache

from book.notebooks import SETUP_TAG, requirements_in
from ingest.store import load_articles
from kb import layout
from runner import engine
from runner.jupyter_cache_bridge import missing_outputs
from runner.notebook_io import environment_digest
from tests.conftest import make_project
from tests.execution_support import (CELLS, HANG_LIMIT, KILL_WORKER, STREAM_LIMIT, book_cli, make_notebook_project,
                                     set_code, table_rows)

@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    root = make_notebook_project(tmp_path_factory.mktemp("exec") / "kb", CELLS)
    records = engine.run(root, jobs=2, progress=False)
    return root, {r.slug: r for r in records}


@pytest.fixture
def project_copy(executed, tmp_path):
    """A private copy of the executed project (articles, records, jupyter-cache) to change freely."""
    dest = tmp_path / "kb"
    shutil.copytree(executed[0], dest, symlinks=True)
    return dest


def run_one(root, slug, **kw):
    (record,) = engine.run(root, only=[slug], progress=False, **kw)
    return record


def test_statuses_of_passing_failing_hanging_and_dying_notebooks(executed):
    root, recs = executed
    assert {s: r.status for s, r in recs.items()} == {
        "ok-one": "ok", "ok-two": "ok", "fails": "failed", "hangs": "timeout", "dies": "failed", "chatty": "ok"}
    fail = recs["fails"]
    assert fail.failed_cell is not None and "raise ValueError" in fail.failed_source
    assert "boom: deliberate failure" in fail.traceback
    dead = recs["dies"]
    assert dead.failed_cell is not None and "os._exit(3)" in dead.failed_source
    assert "DeadKernelError" in dead.traceback


def test_hanging_notebook_is_killed_at_its_front_matter_limit(executed):
    _, recs = executed
    hang = recs["hangs"]
    assert hang.status == "timeout" and f"within {HANG_LIMIT} s" in hang.traceback
    # Killed, not waited for: the cell sleeps an hour; the bound leaves room for a slow kernel start.
    assert HANG_LIMIT <= hang.seconds < 600


def test_report_lists_every_article_and_is_readable_by_others(executed):
    root, _ = executed
    path = layout.report_file(root)
    report = json.loads(path.read_text(encoding="utf-8"))
    assert {r["slug"] for r in report} == set(CELLS)
    for r in report:
        assert {"slug", "status", "cached", "seconds", "device", "versions", "started", "key"} <= set(r)
    umask = os.umask(0o022)
    os.umask(umask)
    for written in (path, layout.record_file(root, "ok-one"),
                    layout.executed_notebook(root, next(a.path for a in load_articles(root) if a.slug == "ok-one"))):
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask, written


def test_the_probe_reports_what_the_kernel_imported_and_used(executed):
    _, recs = executed
    assert "torch" in recs["ok-two"].versions and "torch" not in recs["ok-one"].versions
    assert recs["ok-two"].device == "Fake GPU 9000"
    assert recs["ok-one"].device == "cpu"


def test_executed_notebook_holds_outputs(executed):
    root, _ = executed
    a = next(a for a in load_articles(root) if a.slug == "ok-one")
    nb = json.loads(layout.executed_notebook(root, a.path).read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("hello from one 42" in "".join(o.get("text", "")) for o in outputs)
    assert nb["metadata"]["kb_execution"]["status"] == "ok"


def test_a_runaway_print_keeps_its_head_and_tail_with_a_note(executed):
    root, _ = executed
    a = next(a for a in load_articles(root) if a.slug == "chatty")
    nb = json.loads(layout.executed_notebook(root, a.path).read_text(encoding="utf-8"))
    (out,) = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    text = "".join(out["text"])
    assert text.startswith("HEADxxx") and text.endswith("xxTAIL\n")
    assert f"{300_009 - STREAM_LIMIT:,} characters of output cut here" in text
    assert len(text) < STREAM_LIMIT + 100


def test_a_bad_stream_limit_is_bad_input(project_copy):
    set_code(project_copy, "chatty", CELLS["chatty"], stream_limit="lots")
    proc = book_cli(project_copy, "execute", "--only", "chatty")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("chatty.md: stream_limit must be a positive number, not 'lots'")


# Two notebooks running beside one that kills its worker: the broken pool takes them down with it,
# and each is run again. The crash marker tells a first attempt (wait to be taken down) from a
# retry, and a retry waits for the other's: only retries that run side by side meet.
BYSTANDER = """import time
from pathlib import Path
d = Path(r'{dir}')
with open(d / '{me}.attempts', 'a') as f:
    f.write('x')
deadline = time.time() + 120
if not (d / 'crashed').exists():
    while time.time() < deadline:  # the crash ends this attempt
        time.sleep(0.1)
(d / '{me}.retry').touch()
while not (d / '{other}.retry').exists() and time.time() < deadline:
    time.sleep(0.1)
print('met' if (d / '{other}.retry').exists() else 'alone')"""
CRASH = """from pathlib import Path
d = Path(r'{dir}')
with open(d / 'crash.attempts', 'a') as f:
    f.write('x')
(d / 'crashed').touch()
""" + KILL_WORKER


@pytest.mark.slow
def test_a_crashed_worker_fails_only_its_notebook_and_the_others_are_retried_side_by_side(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    cells = {"crash": CRASH.format(dir=marks), "by-a": BYSTANDER.format(dir=marks, me="a", other="b"),
             "by-b": BYSTANDER.format(dir=marks, me="b", other="a")}
    root = make_notebook_project(tmp_path / "kb", cells)
    recs = {r.slug: r for r in engine.run(root, jobs=3, progress=False)}
    assert recs["crash"].status == "failed" and "worker process" in recs["crash"].traceback
    assert (marks / "crash.attempts").read_text() == "xx"  # run, then once more alone
    for slug, me in (("by-a", "a"), ("by-b", "b")):
        assert recs[slug].status == "ok", recs[slug].traceback
        assert len((marks / f"{me}.attempts").read_text()) <= 2
        a = next(a for a in load_articles(root) if a.slug == slug)
        nb = json.loads(layout.executed_notebook(root, a.path).read_text(encoding="utf-8"))
        (out,) = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert "".join(out["text"]).strip() == "met"


def test_cli_exits_1_when_a_notebook_fails_and_prints_the_table(project_copy):
    proc = book_cli(project_copy, "execute", "--only", "fails", "ok-one")
    assert proc.returncode == 1
    rows = table_rows(proc.stdout)
    assert set(rows) == {"fails", "ok-one"}
    assert rows["fails"][:2] == ["failed", "no"] and rows["ok-one"][:2] == ["ok", "yes"]
    assert "boom: deliberate failure" in proc.stderr and "fails" in proc.stderr


def test_cli_unknown_slug_is_bad_input_and_runs_nothing(project_copy):
    before = layout.record_file(project_copy, "ok-one").read_bytes()
    proc = book_cli(project_copy, "execute", "--only", "ok-one", "no-such-article")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --only: unknown article slug(s): no-such-article"
    assert layout.record_file(project_copy, "ok-one").read_bytes() == before


def test_cli_shard_runs_exactly_its_slice(project_copy):
    for k in (1, 2):
        proc = book_cli(project_copy, "execute", "--shard", f"{k}/2", "--only", "ok-one", "ok-two")
        assert set(table_rows(proc.stdout)) == {s for s in ("ok-one", "ok-two") if engine.in_shard(s, (k, 2))}
        assert proc.returncode == 0
    bad = book_cli(project_copy, "execute", "--shard", "3/2")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    assert "--shard" in bad.stderr and "K must be between 1 and N" in bad.stderr


def test_cli_report_prints_every_record_and_fails_when_one_failed(executed, tmp_path):
    root, recs = executed
    proc = book_cli(root, "report")
    assert proc.returncode == 1
    assert {s: row[0] for s, row in table_rows(proc.stdout).items()} == {s: r.status for s, r in recs.items()}
    assert "6 notebooks: 3 ok, 0 without code yet, 3 failed/timed out" in proc.stdout
    empty = make_project(tmp_path / "empty")
    none = book_cli(empty, "report")
    assert none.returncode == 2 and "no articles" in none.stderr and "python -m ingest" in none.stderr


def test_broken_article_file_is_one_line_error_in_every_book_command(project_copy):
    victim = next((project_copy / "articles").rglob("ok-one.md"))
    victim.write_text("no front matter", encoding="utf-8")
    for command in ("execute", "build", "report"):
        proc = book_cli(project_copy, command)
        assert proc.returncode == 2, command
        assert proc.stderr.strip() == f"error: {victim}: no YAML front matter (the file must start with '---')"


def test_cache_hit_starts_no_kernel(project_copy):
    logs = layout.execution_dir(project_copy) / "logs"
    shutil.rmtree(logs)
    records = engine.run(project_copy, only=["ok-one", "ok-two"], progress=False)
    assert all(r.cached and r.status == "ok" for r in records)
    assert not logs.exists() or not list(logs.iterdir())  # a started kernel writes its log there


def test_report_says_what_the_latest_run_did(project_copy):
    def cached_in_report():
        return {r["slug"]: r["cached"] for r in json.loads(layout.report_file(project_copy).read_text("utf-8"))}

    assert cached_in_report()["ok-one"] is False  # the first run executed it
    engine.run(project_copy, only=["ok-one"], progress=False)
    assert cached_in_report()["ok-one"] is True
    engine.run(project_copy, only=["ok-one"], force=True, progress=False)
    assert cached_in_report()["ok-one"] is False


def test_cache_hit_restores_outputs_the_book_cache_lost(project_copy):
    shutil.rmtree(layout.jupyter_cache_dir(project_copy))
    assert run_one(project_copy, "ok-one").cached
    assert "ok-one" not in {a.slug for a in missing_outputs(project_copy)}


def test_changing_one_code_cell_reruns_only_that_article(project_copy):
    set_code(project_copy, "ok-two", CELLS["ok-two"] + "\nprint('changed')")
    records = {r.slug: r for r in engine.run(project_copy, only=["ok-one", "ok-two"], progress=False)}
    assert records["ok-one"].cached and not records["ok-two"].cached and records["ok-two"].status == "ok"


def test_helpers_or_requirements_changing_invalidate_the_cache(project_copy):
    digest = environment_digest(project_copy)
    (project_copy / "nbhelpers").mkdir()
    (project_copy / "nbhelpers" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    assert environment_digest(project_copy) != digest
    assert not run_one(project_copy, "ok-one").cached
    assert run_one(project_copy, "ok-one").cached
    (project_copy / "requirements.txt").write_text("numpy==0.0.1\n", encoding="utf-8")
    assert not run_one(project_copy, "ok-one").cached


def test_force_reruns_cached_articles(project_copy):
    assert not run_one(project_copy, "ok-one", force=True).cached


def test_shards_cover_every_article_exactly_once():
    slugs = [f"article-{i}" for i in range(200)]
    for n in (1, 2, 3, 7):
        shards = [[s for s in slugs if engine.in_shard(s, (k, n))] for k in range(1, n + 1)]
        assert sorted(sum(shards, [])) == sorted(slugs)
        assert all(shards)


def test_tagging_a_cell_reruns_it_and_the_book_builds_from_the_cache(project_copy):
    """A cell tag changes jupyter-cache's hash: the runner must follow it or the book finds nothing."""
    set_code(project_copy, "ok-one", CELLS["ok-one"], tags=["hide-input"])
    with open(project_copy / "_config.yml", "a", encoding="utf-8") as f:
        f.write("\nrepository:\n  url: https://github.com/example/kb\n")  # turns the launch links on
    assert not run_one(project_copy, "ok-one").cached
    assert missing_outputs(project_copy) == []
    cache = get_cache(str(layout.jupyter_cache_dir(project_copy)))
    before = sorted((r.pk, r.created) for r in cache.list_cache_records())
    proc = book_cli(project_copy, "build")  # no --force anywhere
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "Using cached notebook" in log and "Executing" not in log
    assert sorted((r.pk, r.created) for r in cache.list_cache_records()) == before  # the build cached nothing

    html = layout.html_dir(project_copy)
    by_slug = {a.slug: a for a in load_articles(project_copy)}

    def page(slug):
        return BeautifulSoup((html / by_slug[slug].path.with_suffix(".html")).read_text(encoding="utf-8"), "html.parser")

    one = page("ok-one")
    assert one.select_one(".cell.tag_hide-input") is not None and "hello from one 42" in one.get_text()
    two = page("ok-two")
    assert two.select(".cell_output img") and "two 3" in two.select_one(".cell_output").get_text()
    assert two.select_one(".kb-badge").get_text().startswith("executed on Fake GPU 9000 · ")
    assert one.select_one(".kb-badge").get_text().startswith("executed on CPU · ")
    download = two.select_one(".kb-badge a[download]")["href"]
    assert download.endswith("ok-two.ipynb")
    page_dir = (html / by_slug["ok-two"].path).parent
    offered = nbformat.read(page_dir / download, as_version=4)
    assert offered.cells[0].metadata["tags"] == [SETUP_TAG]  # the standalone notebook, not the executed one
    assert requirements_in(offered) == [f"matplotlib=={importlib.metadata.version('matplotlib')}",
                                        f"torch=={importlib.metadata.version('torch').split('+')[0]}"]
    launch = {a.get_text(): a["href"] for a in two.select(".kb-badge a.kb-launch")}
    assert set(launch) == {"在 Colab 运行 · run in Colab", "在 Binder 运行 · run in Binder"}
    in_branch = launch["在 Colab 运行 · run in Colab"].split("github/example/kb/blob/notebooks/")[1]
    out = project_copy.parent / "notebooks-branch"
    assert book_cli(project_copy, "notebooks", str(out)).returncode == 0
    assert (out / in_branch).exists() and in_branch.endswith("ok-two.ipynb")
    binder = launch["在 Binder 运行 · run in Binder"]
    assert binder.startswith("https://mybinder.org/v2/gh/example/kb/notebooks?labpath=")
    assert unquote(binder.split("labpath=")[1]) == in_branch

    failed_badge = page("fails").select_one(".kb-badge.kb-badge-failed")
    assert "execution failed" in failed_badge.get_text() and "status.html" in failed_badge.select_one("a")["href"]
    status = BeautifulSoup((html / "book/status.html").read_text(encoding="utf-8"), "html.parser")
    rows = status.select("table.kb-status tbody tr")
    assert len(rows) == len(CELLS)
    for slug, state in (("fails", "failed"), ("hangs", "timeout"), ("dies", "failed")):
        link = status.select_one(f"table.kb-status a[href='#failure-{slug}']")
        assert link is not None and link.get_text() == state
        section = status.select_one(f"section#failure-{slug}")
        assert section is not None and f"{slug}: {state}" in section.get_text()
    assert "boom: deliberate failure" in status.select_one("section#failure-fails").get_text()
    assert "raise ValueError" in status.select_one("section#failure-fails").get_text()
    assert "3 ok, 0 待实现 · needs an implementation, 3 failed / timed out" in status.get_text()


def test_build_refuses_when_outputs_are_missing(project_copy):
    set_code(project_copy, "ok-one", "print('edited but not executed')")
    proc = book_cli(project_copy, "build")
    assert proc.returncode == 2 and "ok-one" in proc.stderr and "python -m book execute" in proc.stderr


def test_check_runs_nothing_reports_current_failures_and_refuses_missing_results(project_copy):
    """What the publish job runs after merging: a failure a shard recorded is the result, not a retry."""
    before = {p.name: p.read_bytes() for p in (layout.execution_dir(project_copy) / "records").glob("*.json")}
    proc = book_cli(project_copy, "execute", "--check")
    assert proc.returncode == 1, proc.stderr
    rows = table_rows(proc.stdout)
    assert rows["fails"][0] == "failed" and rows["hangs"][0] == "timeout" and rows["ok-one"][0] == "ok"
    assert {p.name: p.read_bytes() for p in (layout.execution_dir(project_copy) / "records").glob("*.json")} == before
    assert book_cli(project_copy, "execute", "--check", "--only", "ok-one", "ok-two").returncode == 0
    set_code(project_copy, "ok-one", "print('changed')")
    proc = book_cli(project_copy, "execute", "--check")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "1 article(s) have no result for their current code (ok-one)" in proc.stderr
    assert "run `python -m book execute` first" in proc.stderr
