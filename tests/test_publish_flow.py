"""The publish workflow's jobs, run locally before GitHub runs them, through the same make targets
the workflow calls: two execution shards (``make shard``) in separate checkouts, one holding a
failing notebook; their ``_build/execution`` copied as the artifacts would be; then the build job
(``make publish-site``: merge, check, index, build, standalone notebooks) in a third checkout."""
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
    "ok-one": "x = 6 * 7\nassert x == 42\nprint('hello from one', x)",
    "ok-three": "y = 1 + 2\nassert y == 3\nprint('three', y)",
    "fails": "x = 1\nraise ValueError('boom: deliberate failure')",
}
# A shard's job runs its articles' mutants too: each article declares the three it needs.
MUTANTS = {"ok-one": ("6 * 7", ["6 * 8", "6 + 7", "7 * 7"]), "ok-three": ("1 + 2", ["1 + 1", "1 * 2", "2 + 2"]),
           "fails": ("x = 1", ["x = 2", "x = 3", "x = 0"])}


def declare_mutants(root) -> None:
    for a in load_articles(root):
        find, replacements = MUTANTS[a.slug]
        mutants = [{"find": find, "replace": r, "why": "a different value"} for r in replacements]
        (root / a.path).with_suffix(".mutants.yml").write_text(yaml.safe_dump(mutants), encoding="utf-8")


def job_runs(job: str) -> list[str]:
    """The shell lines of publish.yml's ``job``."""
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))["jobs"]
    return [s["run"] for s in jobs[job]["steps"] if "run" in s]


def make(target: str, root, **variables) -> subprocess.CompletedProcess:
    """``make target`` as the workflow runs it, against the project ``root``."""
    args = [f"{k}={v}" for k, v in {"PYTHON": sys.executable, "ROOT": root, **variables}.items()]
    return subprocess.run(["make", "--no-print-directory", target, *args], cwd=REPO, capture_output=True, text=True)


def records(root) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (layout.execution_dir(root) / "records").glob("*.json")}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    assert any(line.startswith("make shard ") for line in job_runs("execute"))
    base = make_notebook_project(tmp_path_factory.mktemp("publish") / "base", CELLS)
    declare_mutants(base)
    artifacts, exits = [], []
    for k in (1, 2):
        checkout = base.parent / f"shard-{k}"
        shutil.copytree(base, checkout)
        exits.append(make("shard", checkout, SHARD=f"{k}/2").returncode)
        artifact = base.parent / "artifacts" / f"execution-{k}"
        shutil.copytree(layout.execution_dir(checkout), artifact)
        artifacts.append(artifact)
    return base, artifacts, exits


@pytest.mark.slow
def test_published_site_shows_a_shards_failure_and_runs_no_notebook_twice(shards, tmp_path):
    base, artifacts, exits = shards
    in_shard = {a.slug: k for a in load_articles(base) for k in (1, 2) if engine.in_shard(a.slug, (k, 2))}
    assert exits == [2 * int(in_shard["fails"] == k) for k in (1, 2)]  # the shard holding the failure fails its job
    assert "make publish-site SHARD_RESULTS=shards" in job_runs("build")
    site = tmp_path / "build"
    shutil.copytree(base, site)
    notebooks_out = tmp_path / "notebooks-branch"
    proc = make("publish-site", site, SHARD_RESULTS=artifacts[0].parent, NOTEBOOKS_OUT=notebooks_out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]  # a recorded failure: build and deploy
    from_shards = {}
    for artifact in artifacts:
        for p in (artifact / "records").glob("*.json"):
            from_shards[p.stem] = json.loads(p.read_text())
    assert {s: r["started"] for s, r in records(site).items()} == {s: r["started"] for s, r in from_shards.items()}

    html = layout.html_dir(site)
    by_slug = {a.slug: a for a in load_articles(site)}
    page = BeautifulSoup((html / by_slug["fails"].path.with_suffix(".html")).read_text(encoding="utf-8"),
                         "html.parser")
    assert "execution failed" in page.select_one(".kb-badge.kb-badge-failed").get_text()
    status = BeautifulSoup((html / "book/status.html").read_text(encoding="utf-8"), "html.parser")
    assert "boom: deliberate failure" in status.select_one("section#failure-fails").get_text()
    assert "2 ok" in status.get_text()
    assert sorted(p.stem for p in notebooks_out.rglob("*.ipynb")) == sorted(CELLS)


@pytest.mark.slow
def test_an_article_no_shard_ran_stops_the_build(shards, tmp_path):
    base, artifacts, _ = shards
    site = tmp_path / "build"
    shutil.copytree(base, site)
    # One shard's results, as the download step lays out a single artifact: in the folder itself.
    proc = make("publish-site", site, SHARD_RESULTS=artifacts[0], NOTEBOOKS_OUT=tmp_path / "out")
    assert proc.returncode != 0 and "missing" in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
    assert not layout.html_dir(site).exists()  # nothing built, nothing to deploy
    assert book_cli(site, "execute", "--check").returncode == 2  # the check alone would stop it too


def test_the_plan_gives_the_shard_matrix_and_forces_only_the_weekly_run():
    assert "make plan" in job_runs("plan")[0]
    assert make("plan", REPO, SHARDS=3, EVENT="schedule").stdout.splitlines() == ["shards=[1,2,3]", "force=--force"]
    assert make("plan", REPO, SHARDS=2, EVENT="push").stdout.splitlines() == ["shards=[1,2]", "force="]
    bad = make("plan", REPO, SHARDS=5)
    assert bad.returncode != 0 and "SHARDS must be" in bad.stderr
