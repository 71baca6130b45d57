"""`book merge`: shard results from other runs land in the cache a later run and the book use."""
import json
import shutil

import pytest

from ingest.store import load_articles
from kb import layout
from kb.cli import InputError
from runner import engine
from runner.jupyter_cache_bridge import missing_outputs
from runner.merge import merge
from tests.execution_support import book_cli, make_notebook_project, set_code

CELLS = {f"art-{i}": f"print('article {i}', {i} * 11)" for i in range(4)}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """One project, executed as two shards in two separate checkouts; and a third checkout with no results."""
    base = make_notebook_project(tmp_path_factory.mktemp("merge") / "base", CELLS)
    checkouts = {}
    for k in (1, 2):
        checkouts[k] = tmp_path_factory.mktemp(f"shard{k}") / "kb"
        shutil.copytree(base, checkouts[k])
        engine.run(checkouts[k], shard=(k, 2), progress=False)
    assert {s for k in (1, 2) for s in CELLS if engine.in_shard(s, (k, 2))} == set(CELLS)
    return base, checkouts


@pytest.fixture
def fresh(shards, tmp_path):
    dest = tmp_path / "kb"
    shutil.copytree(shards[0], dest)
    return dest


def execution(checkout):
    return layout.execution_dir(checkout)


def test_merged_shards_are_served_from_the_cache_without_a_kernel(shards, fresh):
    _, checkouts = shards
    report = merge(fresh, [execution(checkouts[1]), execution(checkouts[2])])
    assert report.ok and sorted(report.merged) == sorted(CELLS) and not report.stale
    assert missing_outputs(fresh) == []
    records = engine.run(fresh, progress=False)
    assert all(r.cached and r.status == "ok" for r in records)
    logs = layout.execution_dir(fresh) / "logs"
    kernel_logs_after_merge = sorted(p.name for p in logs.iterdir())
    assert kernel_logs_after_merge == sorted(f"{s}.log" for s in CELLS)  # copied from the shards, none new
    report_json = json.loads(layout.report_file(fresh).read_text(encoding="utf-8"))
    assert {r["slug"] for r in report_json} == set(CELLS)


def test_merged_outputs_are_the_shards_outputs(shards, fresh):
    _, checkouts = shards
    merge(fresh, [execution(checkouts[1]), execution(checkouts[2])])
    for a in load_articles(fresh):
        k = 1 if engine.in_shard(a.slug, (1, 2)) else 2
        theirs = layout.executed_notebook(checkouts[k], a.path).read_text(encoding="utf-8")
        assert layout.executed_notebook(fresh, a.path).read_text(encoding="utf-8") == theirs


def test_a_record_for_changed_code_is_stale_and_the_article_stays_missing(shards, fresh):
    _, checkouts = shards
    set_code(fresh, "art-0", "print('changed here, after the shards ran')")
    report = merge(fresh, [execution(checkouts[1]), execution(checkouts[2])])
    assert any(s.startswith("art-0 (") for s in report.stale)
    assert report.missing == ["art-0"] and not report.ok and "art-0" not in report.merged
    (rec,) = engine.run(fresh, only=["art-0"], progress=False)
    assert not rec.cached  # it really runs now


def test_two_different_results_for_one_article_are_a_conflict(shards, fresh, tmp_path):
    _, checkouts = shards
    other = tmp_path / "other"
    shutil.copytree(execution(checkouts[1]), other)
    slug = next(s for s in CELLS if engine.in_shard(s, (1, 2)))
    a = next(a for a in load_articles(fresh) if a.slug == slug)
    nb_path = other / "notebooks" / a.path.with_suffix(".ipynb")
    nb_path.write_text(nb_path.read_text(encoding="utf-8").replace(f"article {slug[-1]}", "something else"),
                       encoding="utf-8")
    report = merge(fresh, [execution(checkouts[1]), other])
    assert [c.split(":")[0] for c in report.conflicts] == [slug]
    assert slug in report.missing and slug not in report.merged
    same = merge(fresh, [execution(checkouts[1]), execution(checkouts[1])])  # the same result twice is no conflict
    assert not same.conflicts


def test_cli_merge_reports_and_exits_by_outcome(shards, fresh, tmp_path):
    _, checkouts = shards
    partial = book_cli(fresh, "merge", str(execution(checkouts[1])))
    assert partial.returncode == 1 and "still without a current result" in partial.stdout
    assert all(f"missing: {s}" in partial.stdout for s in CELLS if not engine.in_shard(s, (1, 2)))
    done = book_cli(fresh, "merge", str(execution(checkouts[2])))
    assert done.returncode == 0 and "missing:" not in done.stdout
    bad = book_cli(fresh, "merge", str(tmp_path))
    assert bad.returncode == 2 and bad.stderr.startswith(f"error: {tmp_path}: not an execution folder")


def test_merge_needs_an_execution_folder(fresh, tmp_path):
    with pytest.raises(InputError):
        merge(fresh, [tmp_path / "nowhere"])
