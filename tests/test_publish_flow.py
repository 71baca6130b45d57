"""The publish workflow's order, run locally before GitHub runs it: two execution shards in
separate checkouts (one holding a failing notebook), their ``_build/execution`` copied as the
artifacts would be, merged into a third checkout, checked with the workflow's own shell line,
indexed and built."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from bs4 import BeautifulSoup

from ingest.store import load_articles
from kb import layout
from runner import engine
from tests.conftest import REPO
from tests.execution_support import book_cli, make_notebook_project

CELLS = {
    "ok-one": "print('hello from one', 6 * 7)",
    "ok-three": "print('three', 1 + 2)",
    "fails": "x = 1\nraise ValueError('boom: deliberate failure')",
}


def build_step(name_part: str) -> str:
    """The shell line of publish.yml's build job whose step name contains ``name_part``."""
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))["jobs"]
    return next(s["run"] for s in jobs["build"]["steps"] if name_part in s.get("name", ""))


def run_step(line: str, root) -> int:
    """Run a workflow shell line against ``root`` (its ``python -m book|search`` gets ``--root``)."""
    script = f'python() {{ command "{sys.executable}" "$@" --root "{root}"; }}\n{line}'
    return subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True).returncode


def records(root) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (layout.execution_dir(root) / "records").glob("*.json")}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    base = make_notebook_project(tmp_path_factory.mktemp("publish") / "base", CELLS)
    artifacts, exits = [], []
    for k in (1, 2):
        checkout = base.parent / f"shard-{k}"
        shutil.copytree(base, checkout)
        exits.append(book_cli(checkout, "execute", "--shard", f"{k}/2").returncode)
        artifact = base.parent / "artifacts" / f"execution-{k}"
        shutil.copytree(layout.execution_dir(checkout), artifact)
        artifacts.append(artifact)
    return base, artifacts, exits


@pytest.mark.slow
def test_published_site_shows_a_shards_failure_and_runs_no_notebook_twice(shards, tmp_path):
    base, artifacts, exits = shards
    in_shard = {a.slug: k for a in load_articles(base) for k in (1, 2) if engine.in_shard(a.slug, (k, 2))}
    assert exits == [int(in_shard["fails"] == k) for k in (1, 2)]  # the shard holding the failure fails its job
    site = tmp_path / "build"
    shutil.copytree(base, site)
    assert book_cli(site, "merge", *map(str, artifacts)).returncode == 0
    assert run_step(build_step("result for its current code"), site) == 0  # a recorded failure: go on
    from_shards = {}
    for artifact in artifacts:
        for p in (artifact / "records").glob("*.json"):
            from_shards[p.stem] = json.loads(p.read_text())
    assert {s: r["started"] for s, r in records(site).items()} == {s: r["started"] for s, r in from_shards.items()}
    proc = subprocess.run([sys.executable, "-m", "search", "--root", str(site), "build"], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = book_cli(site, "build")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {s: r["started"] for s, r in records(site).items()} == {s: r["started"] for s, r in from_shards.items()}

    html = layout.html_dir(site)
    by_slug = {a.slug: a for a in load_articles(site)}
    page = BeautifulSoup((html / by_slug["fails"].path.with_suffix(".html")).read_text(encoding="utf-8"),
                         "html.parser")
    assert "execution failed" in page.select_one(".kb-badge.kb-badge-failed").get_text()
    status = BeautifulSoup((html / "book/status.html").read_text(encoding="utf-8"), "html.parser")
    assert "boom: deliberate failure" in status.select_one("section#failure-fails").get_text()
    assert "2 ok" in status.get_text()


@pytest.mark.slow
def test_an_article_no_shard_ran_stops_the_build(shards, tmp_path):
    base, artifacts, _ = shards
    site = tmp_path / "build"
    shutil.copytree(base, site)
    assert book_cli(site, "merge", str(artifacts[0])).returncode == 1  # the other shard's articles are missing
    assert book_cli(site, "execute", "--check").returncode == 2
    assert run_step(build_step("result for its current code"), site) != 0  # the step fails: no build, no deploy
