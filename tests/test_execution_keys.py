"""What an execution key covers, and what computing one costs.

Keys decide whether a stored result is current (``book execute``'s cache, ``book merge``). An
article that reads other articles' text declares it (front matter ``reads``), and its key follows
that text; every other key stays exactly what it was.
"""
import subprocess
import sys

import pytest

from ingest.article_file import ArticleFile
from ingest.notebook import code_cells, read_article_notebook
from ingest.store import load_articles
from ingest.sync import ingest
from kb.cli import InputError
from nbhelpers.data import knowledge_base_texts
from runner import engine, jobs
from runner.notebook_io import environment_digest, execution_key, texts_digest
from tests.conftest import REPO, snapshot, write_feed
from tests.execution_support import book_cli, make_notebook_project, set_code

CELLS = {"reader": "print('trains on the knowledge base')", "plain": "print('reads nothing else')",
         "other": "print('its feed text changes')"}


def article_path(root, slug):
    return next((root / "articles").rglob(f"{slug}.md"))


def keys(root):
    articles = load_articles(root)
    inputs = jobs.KeyInputs.of(root, articles)
    return {a.slug: jobs.current_key(root, a, inputs) for a in articles}


@pytest.fixture
def project(tmp_path):
    root = make_notebook_project(tmp_path / "kb", CELLS)
    set_code(root, "reader", CELLS["reader"], reads=jobs.KNOWLEDGE_BASE_TEXT)
    return root


def extend_feed_text(root, slug):
    """Ingest a longer cut of ``slug``'s excerpt, as a new feed would bring it."""
    old = next(a for a in load_articles(root) if a.slug == slug).text
    write_feed(root / "feeds" / "later.txt", old.removesuffix("...") + "，后来的一条更长的摘录补上了结尾。")
    report = ingest(root, [root / "feeds"])
    assert report.ok and report.updated == [article_path(root, slug)]


def test_importing_merge_loads_neither_nbclient_nor_tqdm():
    code = "import sys, runner.merge; print(sorted({'nbclient', 'tqdm'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == "[]"


def test_a_declared_read_follows_other_articles_text_and_other_keys_do_not(project):
    before = keys(project)
    extend_feed_text(project, "other")
    after = keys(project)
    assert after["reader"] != before["reader"]
    assert after["plain"] == before["plain"]
    assert after["other"] == before["other"]  # its own excerpt is markdown: no cell of it reads that


def test_the_digest_is_of_exactly_what_knowledge_base_texts_returns(project):
    inputs = jobs.KeyInputs.of(project, load_articles(project))
    assert inputs.data[jobs.KNOWLEDGE_BASE_TEXT] == texts_digest(knowledge_base_texts(project))


def test_an_article_without_the_declaration_keys_as_it_always_did(project):
    articles = {a.slug: a for a in load_articles(project)}
    inputs = jobs.KeyInputs.of(project, list(articles.values()))
    plain = articles["plain"]
    nb = read_article_notebook(project / plain.path)
    assert jobs.current_key(project, plain, inputs) == execution_key(
        project, nb, environment_digest(project), jobs.stream_limit(plain))
    reader = articles["reader"]
    assert jobs.current_key(project, reader, inputs) != execution_key(
        project, read_article_notebook(project / reader.path), environment_digest(project), jobs.stream_limit(reader))


@pytest.mark.parametrize("value", ["everything", ["knowledge-base-text", "the-web"], 3, {"text": True}])
def test_an_unknown_read_is_bad_input_naming_the_file(project, value):
    set_code(project, "reader", CELLS["reader"], reads=value)
    with pytest.raises(InputError, match=r"reader\.md: reads must name what the notebook reads"):
        keys(project)


def test_cli_reports_an_unknown_read_in_one_line_before_running_anything(project):
    set_code(project, "reader", CELLS["reader"], reads="everything")
    proc = book_cli(project, "execute", "--only", "plain", "reader")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {article_path(project, 'reader').relative_to(project)}: reads must name what the notebook "
                                   f"reads besides its own cells, one or a list of: knowledge-base-text; "
                                   f"not 'everything'")
    assert not (project / "_build" / "execution" / "records").exists()


def test_ingest_keeps_the_declaration_where_people_put_it(project):
    path = article_path(project, "reader")
    extend_feed_text(project, "reader")  # a rewrite of the ingest-owned fields
    text = path.read_text(encoding="utf-8")
    assert ArticleFile.read(path).meta["reads"] == jobs.KNOWLEDGE_BASE_TEXT
    assert "\nreads: knowledge-base-text\n" in text
    before = snapshot(project)
    report = ingest(project, [project / "feeds"])
    assert report.ok and not report.updated and snapshot(project) == before


def test_articles_that_read_the_knowledge_base_say_so():
    readers = {"ngram-language-model", "medusa-decoding"}
    for a in load_articles(REPO):
        code = "\n".join(c.source for c in code_cells(read_article_notebook(REPO / a.path)))
        declared = jobs.declared_reads(a)
        assert ("knowledge_base_texts" in code) == (jobs.KNOWLEDGE_BASE_TEXT in declared), a.path
        assert (a.slug in readers) == bool(declared), a.slug


def test_started_is_stamped_by_the_worker_as_the_job_starts(project, monkeypatch):
    import runner.kernel
    from runner.kernel import KernelResult

    clock = iter(["2030-01-01T00:00:00+00:00", "2030-01-01T00:05:00+00:00"])
    monkeypatch.setattr(jobs, "utc_now", lambda: next(clock))
    calls = []

    def fake_execute(nb_json, *args, **kw):
        calls.append(next(clock))  # the kernel runs after the job's start was stamped
        return KernelResult(nb_json, "ok", 300.0)

    monkeypatch.setattr(runner.kernel, "execute_notebook", fake_execute)
    a = next(a for a in load_articles(project) if a.slug == "plain")
    inputs = jobs.KeyInputs.of(project, load_articles(project))
    nb = read_article_notebook(project / a.path)
    job = jobs.new_job(project, a, nb, jobs.current_key(project, a, inputs, nb), timeout=60, threads=1, resources={})
    assert "started" not in job  # a queued job has not started
    result = jobs.run_job(job)
    assert result["started"] == "2030-01-01T00:00:00+00:00" and calls == ["2030-01-01T00:05:00+00:00"]
    assert result["status"] == "ok" and result["key"] == job["key"]


@pytest.mark.slow
def test_a_notebook_queued_behind_another_starts_when_that_one_ends(tmp_path):
    from datetime import datetime

    root = make_notebook_project(tmp_path / "kb", {"first": "import time\ntime.sleep(3)", "second": "print(2)"})
    recs = sorted(engine.run(root, jobs=1, progress=False), key=lambda r: r.started)
    assert [r.status for r in recs] == ["ok", "ok"]
    earlier, later = recs
    gap = (datetime.fromisoformat(later.started) - datetime.fromisoformat(earlier.started)).total_seconds()
    assert earlier.seconds >= 3 and gap >= int(earlier.seconds)  # one worker: no overlap, stamped at the start
