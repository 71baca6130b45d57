"""Whole ingest runs: stable identity, idempotency, curated fields, failures, list, toc."""
import json
import shutil
import subprocess
import sys

import yaml

from ingest.article_file import ArticleFile
from ingest.cli import main as ingest_main
from ingest.store import load_articles
from ingest.sync import ingest
from tests.conftest import REPO, SAMPLE_FEEDS, snapshot, write_feed

LONG = "随机森林是一种利用CART决策树作为基学习器的Bagging集成学习算法,随机森林模型的构建过程如下:数据采样,作为一种Bagging集成算法"


def ingest_samples(root):
    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, root / "feeds" / f.name)
    return ingest(root, [root / "feeds"])


def test_sample_feeds_become_39_article_notebooks(project):
    report = ingest_samples(project)
    assert report.ok and len(report.created) == 39
    articles = load_articles(project)
    assert len(articles) == 39
    ddp = next(a for a in articles if "DDP" in a.text[:40])
    assert (ddp.category, ddp.date) == ("Python", "2026-01-11")
    assert [f["file"] for f in ddp.feeds] == ["000_2a5cacdba8bfe7b5.txt", "004_32b30477382017ad.txt"]
    meta = ArticleFile.read(project / ddp.path).meta
    assert meta["kernelspec"]["name"] == "python3" and meta["feed_hash"].startswith("sha256:")


def test_second_run_leaves_every_file_byte_identical(project):
    ingest_samples(project)
    before = snapshot(project)
    report = ingest(project, [project / "feeds"])
    assert report.ok and not report.created and not report.updated
    assert snapshot(project) == before


def test_reingest_keeps_slug_file_curated_fields_and_implementation(project):
    write_feed(project / "feeds" / "a.txt", LONG[:50] + "...")
    ingest(project, [project / "feeds"])
    (path,) = list((project / "articles").rglob("*.md"))
    af = ArticleFile.read(path)
    af.meta.update(title="随机森林", title_en="Random forests", tags=["ensemble"], topic="经典机器学习")
    af.implementation += "\n```{code-cell} ipython3\nassert 1 + 1 == 2  # mine\n```\n"
    path.write_text(af.render(), encoding="utf-8")
    curated_impl = af.implementation

    # The same article arrives again, cut longer, from another feed on another line.
    write_feed(project / "feeds" / "b.txt", "Python", LONG + "...")
    report = ingest(project, [project / "feeds"])
    assert report.ok and report.updated == [path] and not report.created
    after = ArticleFile.read(path)
    assert after.meta["slug"] == af.meta["slug"] and list((project / "articles").rglob("*.md")) == [path]
    assert (after.meta["title"], after.meta["title_en"], after.meta["tags"], after.meta["topic"]) == \
        ("随机森林", "Random forests", ["ensemble"], "经典机器学习")
    assert after.implementation == curated_impl
    assert after.meta["excerpt"] == LONG + "..."
    assert after.meta["feeds"] == [{"file": "a.txt", "line": 4}, {"file": "b.txt", "line": 5}]
    assert after.meta["category"] == "Python"


def test_shorter_cut_later_does_not_shrink_the_text(project):
    write_feed(project / "feeds" / "a.txt", LONG + "...")
    ingest(project, [project / "feeds"])
    before = snapshot(project)
    write_feed(project / "feeds" / "a.txt", LONG[:60] + "...")
    ingest(project, [project / "feeds"])
    assert snapshot(project) == before


def test_bad_feed_fails_the_run_but_good_feeds_are_ingested(project, capsys):
    write_feed(project / "feeds" / "good.txt", LONG + "...")
    (project / "feeds" / "empty.txt").write_bytes(b"")
    status = ingest_main(["--root", str(project)])
    err = capsys.readouterr().err
    assert status != 0
    assert "empty.txt" in err and "empty" in err
    assert len(load_articles(project)) == 1


def test_failed_run_leaves_existing_articles_untouched(project):
    ingest_samples(project)
    before = snapshot(project)
    (project / "feeds" / "000_2a5cacdba8bfe7b5.txt").write_bytes(bytes(range(256)))  # now binary
    report = ingest(project, [project / "feeds"])
    assert not report.ok and any("000_2a5cacdba8bfe7b5.txt" in e and "binary" in e for e in report.errors)
    assert snapshot(project) == before
    assert not list(project.rglob("*.tmp"))


def test_broken_article_file_stops_the_run_without_writing(project):
    ingest_samples(project)
    victim = next((project / "articles").rglob("*.md"))
    victim.write_text("no front matter here", encoding="utf-8")
    before = snapshot(project)
    write_feed(project / "feeds" / "new.txt", "一条全新的摘录文本，" + LONG + "...")
    report = ingest(project, [project / "feeds"])
    assert not report.ok and victim.name in report.errors[0]
    assert snapshot(project) == before


def test_list_json_has_the_documented_keys(project):
    ingest_samples(project)
    out = subprocess.run([sys.executable, "-m", "ingest", "list", "--json", "--root", str(project)],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    records = json.loads(out)
    assert len(records) == 39
    assert set(records[0]) == {"slug", "title", "title_en", "topic", "path", "date", "category", "feeds", "text"}
    ddp = next(r for r in records if r["text"].startswith("Quick Start"))
    assert (project / ddp["path"]).is_file() and ddp["date"] == "2026-01-11"


def test_toc_has_home_then_one_chapter_per_topic_sorted(project):
    ingest_samples(project)
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/index"
    chapters = toc["parts"][0]["chapters"]
    listed = [s["file"] for c in chapters for s in c["sections"]]
    assert len(listed) == len(set(listed)) == 39
    for c in chapters:
        assert (project / f"{c['file']}.md").is_file()
        slugs = [s["file"].rsplit("/", 1)[1] for s in c["sections"]]
        assert slugs == sorted(slugs)


def test_toc_follows_a_curated_topic_change(project):
    ingest_samples(project)
    path = next((project / "articles").rglob("*.md"))
    af = ArticleFile.read(path)
    af.meta["topic"] = "新的主题"
    path.write_text(af.render(), encoding="utf-8")
    ingest(project, [project / "feeds"])
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    chapters = toc["parts"][0]["chapters"]
    (chapter,) = [c for c in chapters if "新的主题" in (project / f"{c['file']}.md").read_text(encoding="utf-8")]
    assert chapters.index(chapter) == len(chapters) - 2  # after the known topics, before the uncategorised
    assert [s["file"] for s in chapter["sections"]] == [path.relative_to(project).with_suffix("").as_posix()]
