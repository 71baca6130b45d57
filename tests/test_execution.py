"""The execution runner: failures, timeouts, cache, sharding, and the book reusing its outputs."""
import json
import shutil
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup
from jupyter_cache import get_cache

from book import execute
from book.jupyter_cache_bridge import missing_outputs
from book.site import build_site
from ingest.article_file import ArticleFile
from ingest.store import load_articles
from ingest.sync import ingest
from tests.conftest import REPO, make_project, write_feed

CELLS = {
    "ok-one": "print('hello from one', 6 * 7)",
    "ok-two": "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()\nprint('two')",
    "fails": "x = 1\nraise ValueError('boom: deliberate failure')",
    "hangs": "import time\ntime.sleep(120)",
}


def set_code(root, slug, code, **front):
    path = next(p for p in (root / "articles").rglob(f"{slug}.md"))
    af = ArticleFile.read(path)
    af.meta.update(front)
    af.implementation = f"\n+++\n\n## 实现\n\n```{{code-cell}} ipython3\n{code}\n```\n"
    path.write_text(af.render(), encoding="utf-8")


def make_notebook_project(root):
    make_project(root)
    lines = [f"测试文章 {name} 的摘录文本，足够长以便被当作一条条目，而不是分类行 ..." for name in CELLS]
    write_feed(root / "feeds" / "t.txt", *lines)
    assert ingest(root, [root / "feeds"]).ok
    for a in load_articles(root):
        name = next(n for n in CELLS if n in a.text)
        path = root / a.path
        af = ArticleFile.read(path)
        af.meta["slug"] = name
        path.unlink()
        (path.parent / f"{name}.md").write_text(af.render(), encoding="utf-8")
    for name, code in CELLS.items():
        set_code(root, name, code, **({"execution_timeout": 8} if name == "hangs" else {}))
    ingest(root, [root / "feeds"])  # refresh the toc after the renames
    return root


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = make_notebook_project(tmp_path_factory.mktemp("exec") / "kb")
    records, wall = execute.timed_run(root, jobs=2, progress=False)
    return root, {r.slug: r for r in records}, wall


def test_every_notebook_runs_and_failures_are_reported(first_run):
    root, recs, _ = first_run
    assert {s: r.status for s, r in recs.items()} == {"ok-one": "ok", "ok-two": "ok", "fails": "failed", "hangs": "timeout"}
    fail = recs["fails"]
    assert fail.failed_cell is not None and "raise ValueError" in fail.failed_source
    assert "boom: deliberate failure" in fail.traceback
    report = json.loads((root / "_build/execution/report.json").read_text(encoding="utf-8"))
    assert {r["slug"] for r in report} == set(CELLS)
    for r in report:
        assert {"slug", "status", "cached", "seconds", "device", "versions", "started"} <= set(r)
    assert recs["ok-one"].device == "cpu"


def test_hanging_notebook_is_killed_at_its_front_matter_timeout(first_run):
    _, recs, wall = first_run
    hang = recs["hangs"]
    assert hang.status == "timeout" and 8 <= hang.seconds < 30
    assert wall < 100  # it did not wait for the sleep(120)


def test_executed_notebook_holds_outputs(first_run):
    root, _, _ = first_run
    a = next(a for a in load_articles(root) if a.slug == "ok-one")
    nb = json.loads(execute.executed_notebook_path(root, a).read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("hello from one 42" in "".join(o.get("text", "")) for o in outputs)


def test_cli_exits_non_zero_when_a_notebook_fails_and_prints_the_table(first_run):
    root, _, _ = first_run
    proc = subprocess.run([sys.executable, "-m", "book", "--root", str(root), "execute", "--only", "fails", "ok-one"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert "fails" in proc.stdout and "failed" in proc.stdout and "ok-one" in proc.stdout
    assert "boom: deliberate failure" in proc.stderr


def test_cache_hit_starts_no_kernel(first_run):
    root, _, _ = first_run
    logs = root / "_build/execution/logs"
    shutil.rmtree(logs)
    records = execute.run(root, only=["ok-one", "ok-two"], progress=False)
    assert all(r.cached and r.status == "ok" for r in records)
    assert not logs.exists() or not list(logs.iterdir())  # a started kernel writes its log there


def test_cache_hit_restores_outputs_the_book_cache_lost(first_run):
    root, _, _ = first_run
    shutil.rmtree(root / "_build/.jupyter_cache")
    (record,) = execute.run(root, only=["ok-one"], progress=False)
    assert record.cached
    assert "ok-one" not in {a.slug for a in missing_outputs(root)}


def test_changing_one_code_cell_reruns_only_that_article(first_run):
    root, _, _ = first_run
    set_code(root, "ok-two", CELLS["ok-two"] + "\nprint('changed')")
    records = {r.slug: r for r in execute.run(root, only=["ok-one", "ok-two"], progress=False)}
    assert records["ok-one"].cached and not records["ok-two"].cached and records["ok-two"].status == "ok"


def test_force_reruns_cached_articles(first_run):
    root, _, _ = first_run
    (r,) = execute.run(root, only=["ok-one"], force=True, progress=False)
    assert not r.cached and r.status == "ok"


def test_shards_cover_every_article_exactly_once():
    slugs = [f"article-{i}" for i in range(200)]
    for n in (1, 2, 3, 7):
        shards = [[s for s in slugs if execute.in_shard(s, (k, n))] for k in range(1, n + 1)]
        assert sorted(sum(shards, [])) == sorted(slugs)
        assert all(shards) or n > len(slugs)
    with pytest.raises(ValueError):
        execute.parse_shard("3/2")


def test_book_renders_executed_outputs_without_starting_a_kernel(first_run):
    root, _, _ = first_run
    execute.run(root, only=["ok-one", "ok-two"], progress=False)
    set_code(root, "fails", "print('fixed now')")
    set_code(root, "hangs", "print('no longer hangs')")
    execute.run(root, only=["fails", "hangs"], progress=False)
    assert missing_outputs(root) == []
    cache = get_cache(str(root / "_build/.jupyter_cache"))
    before = sorted((r.pk, r.created) for r in cache.list_cache_records())
    proc = subprocess.run([sys.executable, "-m", "book", "--root", str(root), "build"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "Using cached notebook" in log and "Executing" not in log
    # nothing was executed and cached by the build itself
    assert sorted((r.pk, r.created) for r in cache.list_cache_records()) == before
    a = next(a for a in load_articles(root) if a.slug == "ok-two")
    soup = BeautifulSoup((root / "_build/html" / a.path.with_suffix(".html")).read_text(encoding="utf-8"), "html.parser")
    assert soup.select(".cell_output img") and "two" in soup.select_one(".cell_output").get_text()
    assert soup.select_one(".kb-badge").get_text().startswith("executed on CPU")
    assert soup.select_one(".kb-badge a[download]")["href"].endswith("ok-two.ipynb")
    status = BeautifulSoup((root / "_build/html/book/status.html").read_text(encoding="utf-8"), "html.parser")
    assert len(status.select("table.kb-status tbody tr")) == 4


def test_build_refuses_when_outputs_are_missing(first_run):
    root, _, _ = first_run
    set_code(root, "ok-one", "print('edited but not executed')")
    proc = subprocess.run([sys.executable, "-m", "book", "--root", str(root), "build"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and "ok-one" in proc.stderr and "python -m book execute" in proc.stderr
