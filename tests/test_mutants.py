"""Mutants: each declared bug is planted in a copy of the notebook and run; its outcome is what the
checks made of it, cached on the article's key and the mutant's text."""
import json

import pytest

from book.cli import main as book_main
from ingest.store import load_articles
from kb import layout
from kb.cli import InputError
from runner import mutants
from tests.execution_support import make_notebook_project

# One implementation line, one check: every mutant below changes the line, not the check.
CODE = "def mean(xs):\n    return sum(xs) / len(xs)\n\nassert mean([1, 2, 3, 6]) == 3\nprint('ok')"
MUTANTS = [
    {"find": "sum(xs) / len(xs)", "replace": "sum(xs) / (len(xs) - 1)", "why": "divides by n - 1"},
    {"find": "sum(xs) / len(xs)", "replace": "sum(xs) / len(ys)", "why": "a name that does not exist"},
    {"find": "sum(xs) / len(xs)", "replace": "sum(xs) / len(xs) * 1", "why": "changes nothing"},
]


def write_mutants(root, slug, items):
    article = next(a for a in load_articles(root) if a.slug == slug)
    path = mutants.mutants_file(root, article)
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture
def project(tmp_path):
    from ingest.article_file import NEW_IMPLEMENTATION, ArticleFile

    root = make_notebook_project(tmp_path / "kb", {"mean": CODE, "empty": "pass"})
    path = next((root / "articles").rglob("empty.md"))
    af = ArticleFile.read(path)
    af.implementation = NEW_IMPLEMENTATION  # what a new article has: no code yet
    path.write_text(af.render(), encoding="utf-8")
    write_mutants(root, "mean", MUTANTS)
    return root


@pytest.mark.slow
def test_each_mutant_is_killed_crashed_or_survives_and_the_cache_keeps_them(project, capsys):
    assert book_main(["--root", str(project), "mutate", "--jobs", "2"]) == 1  # one survived, one crashed
    out = capsys.readouterr().out
    report = json.loads(layout.mutants_report(project).read_text(encoding="utf-8"))
    (mean,) = [m for m in report if m["slug"] == "mean"]
    assert [r["outcome"] for r in mean["mutants"]] == ["killed", "crashed", "survived"]
    assert mean["killed"] == 1 and mean["total"] == 3
    assert "NameError" in mean["mutants"][1]["error"] and "AssertionError" in mean["mutants"][0]["error"]
    assert "3 mutants: 1 killed, 1 crashed, 1 survived, 0 timeout" in out
    # Again: nothing runs, every result comes from the cache; a changed mutant runs alone.
    results = mutants.run(project, progress=False)
    assert all(r.cached for r in results)
    write_mutants(project, "mean", MUTANTS[:2] + [{**MUTANTS[2], "replace": "sum(xs) / len(xs) + 1"}])
    results = mutants.run(project, progress=False)
    assert [(r.outcome, r.cached) for r in results] == [("killed", True), ("crashed", True), ("killed", False)]


def test_a_find_that_is_missing_or_not_unique_stops_everything_before_anything_runs(project, capsys):
    path = write_mutants(project, "mean", MUTANTS[:2] + [{"find": "xs", "replace": "ys", "why": "x"}])
    assert book_main(["--root", str(project), "mutate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: mutant 3: find 'xs' occurs 3 times") and len(err.splitlines()) == 1
    write_mutants(project, "mean", [{"find": "len(ys)", "replace": "len(xs)", "why": "x"}])
    with pytest.raises(InputError, match="mutant 1: find 'len\\(ys\\)' is not in"):
        mutants.run(project, progress=False)
    assert not layout.mutants_dir(project).exists()  # nothing ran


@pytest.mark.parametrize("content,problem", [
    ("find: x", "must be a YAML list"),
    ("- {find: a, replace: b}", "mutant 1: needs exactly the text fields"),
    ("- {find: a, replace: a, why: same}", "mutant 1: find must be non-empty and differ"),
    ("- [unclosed", "not readable YAML"),
])
def test_a_malformed_mutants_file_is_one_clear_error(project, content, problem):
    article = next(a for a in load_articles(project) if a.slug == "mean")
    mutants.mutants_file(project, article).write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=problem):
        mutants.load_mutants(project, article)


def test_the_mutant_changes_only_the_implementation_and_only_in_the_copy(project):
    from ingest.notebook import read_article_notebook

    article = next(a for a in load_articles(project) if a.slug == "mean")
    nb = read_article_notebook(project / article.path)
    (m,) = mutants.load_mutants(project, article)[:1]
    copy = mutants.mutated(nb, m, mutants.mutants_file(project, article))
    changed = [(a.source, b.source) for a, b in zip(nb.cells, copy.cells) if a.source != b.source]
    assert changed == [(changed[0][0], changed[0][0].replace(m.find, m.replace))]


def test_an_article_with_code_and_too_few_mutants_fails_and_one_without_code_needs_none(project):
    write_mutants(project, "mean", [])
    plans = mutants.plan(project, load_articles(project), load_articles(project), force=False, threads=1,
                         timeout=60)
    assert [p.article.slug for p in plans] == ["mean"]  # "empty" has no code: nothing to break
    results = mutants.run(project, progress=False)
    assert mutants.failed(results) and "declares 0 mutant(s)" in mutants.format_table(results)


@pytest.mark.slow
def test_merge_takes_another_runs_mutant_results_for_the_current_code(project, tmp_path):
    import shutil

    from runner import engine
    from runner.merge import merge

    engine.run(project, progress=False)
    mutants.run(project, progress=False)
    here = tmp_path / "here"
    shutil.copytree(project, here, ignore=shutil.ignore_patterns("_build"))
    merge(here, [layout.execution_dir(project)])
    report = json.loads(layout.mutants_report(here).read_text(encoding="utf-8"))
    assert [(m["slug"], m["killed"], m["total"]) for m in report] == [("mean", 1, 3)]
    assert all(r.cached for r in mutants.run(here, progress=False))  # nothing left to run
